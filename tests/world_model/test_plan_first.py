"""The ``plan-first`` baseline (Think2V): layout, training, rollout, benchmarks."""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tv2tv.benchmarks import fidelity
from tv2tv.benchmarks.models import Branch, Script, WorldModelPredictor, load_predictor
from tv2tv.recorders.store import EpisodeStore
from tv2tv.world_model.checkpoint import export_world_model, load_world_model
from tv2tv.world_model.codec import make_codec
from tv2tv.world_model.data import WindowEncoder, resolve_config
from tv2tv.world_model.generate import CHUNK, Generator
from tv2tv.world_model.interventions import TranscriptEntry, parse_script
from tv2tv.world_model.rollout_model import SamplingConfig
from tv2tv.world_model.sequence import IGNORE, VIDEO, build_sequence, plan_ids
from tv2tv.world_model.synthetic import random_model
from tv2tv.world_model.tokenizer import BOF, BOS, EOF, ByteTokenizer
from tv2tv.world_model.train import LaunchConfig, train
from tv2tv.world_model.variants import variant_of

SEP = [59, 32]                                   # "; "
TOK = ByteTokenizer()


# -- layout ---------------------------------------------------------------------------------------
@st.composite
def windows(draw: st.DrawFn) -> tuple[list[list[int]], int, int, int, bool]:
    k = draw(st.integers(1, 4))
    texts = [draw(st.lists(st.integers(0, 255), max_size=4)) for _ in range(k)]
    return (texts, draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(0, k - 1)),
            draw(st.booleans()))


@settings(max_examples=60, deadline=None)
@given(windows())
def test_plan_first_is_the_interleaved_layout_with_all_text_before_chunk_0(w: tuple) -> None:
    texts, tpf, fpc, ctx, last_clean = w
    video = torch.randn(len(texts), tpf * fpc, 3)
    kw = {"context_chunks": ctx, "with_last_clean": last_clean}
    plan = build_sequence(texts, video, tpf, layout="plan-first", separator=SEP, **kw)
    # Every field (copies, positions, anchors, flow loss, text targets) equals the interleaved
    # layout of the same window whose first chunk carries the whole plan and the others none.
    moved = build_sequence([plan_ids(texts, SEP)] + [[]] * (len(texts) - 1), video, tpf, **kw)
    for name in ("tokens", "modality", "chunk_id", "is_noisy", "position", "frame_index", "patch_index",
                 "text_target", "flow_loss_mask", "video", "anchor", "valid"):
        assert torch.equal(getattr(plan, name), getattr(moved, name)), name
    # The prefix is BOS, the non-empty texts joined in order, BOF; then only EOF, BOF between chunks.
    first_video = int((plan.modality == VIDEO).nonzero()[0])
    joined = [t for ids in texts if ids for t in [*SEP, *ids]][len(SEP):] if any(texts) else []
    assert plan.tokens[:first_video].tolist() == [BOS, *joined, BOF]
    between = plan.tokens[first_video:][plan.modality[first_video:] != VIDEO].tolist()
    assert between == [EOF, BOF] * (len(texts) - 1) + ([EOF] if last_clean else [])
    # Text loss: every plan byte, its BOF and the BOF after each EOF; nothing else.
    targets = plan.text_target[plan.text_target != IGNORE].tolist()
    assert targets == [*joined, BOF] + [BOF] * (len(texts) - 1)
    # A plan is one text, not a chunk's: no chunk text summary (model.text_cond) reads it.
    assert bool((plan.text_chunk == -1).all())
    # A noisy chunk's anchor is the previous chunk's last frame (context chunks have no noisy copy).
    for k in range(max(1, ctx), len(texts)):
        anchor = plan.anchor[plan.chunk_positions(k, noisy=True)]
        assert torch.equal(anchor[-tpf:], video[k - 1][-tpf:])


def test_plan_first_example_and_bad_layout() -> None:
    seq = build_sequence([[104], [], [105]], torch.zeros(3, 2, 1), 1, layout="plan-first", separator=[59])
    assert seq.tokens[seq.modality != VIDEO].tolist() == [BOS, 104, 59, 105, BOF, EOF, BOF, EOF, BOF]
    assert seq.text_target[seq.text_target != IGNORE].tolist() == [104, 59, 105, BOF, BOF, BOF]
    with pytest.raises(ValueError, match="layout"):
        build_sequence([[104]], torch.zeros(1, 2, 1), 1, layout="think-first")  # type: ignore[arg-type]


def test_window_encoder_puts_the_window_text_up_front(make_cfg, synthetic_store: Path) -> None:
    store = EpisodeStore.open(synthetic_store)
    cfg = resolve_config(make_cfg(synthetic_store, "variant=plan-first"), store.meta)
    assert variant_of(cfg).layout == "plan-first"
    enc = WindowEncoder(cfg, make_codec(cfg.sequence.patch, store.meta.frame_shape), TOK)
    ep = store.load(0)
    seq = enc.encode(ep, 3)
    k = cfg.sequence.chunks_per_window
    plan = plan_ids([enc.chunk_text(ep, 3, c) for c in range(k)], TOK.encode(cfg.sequence.text_separator))
    first_video = int((seq.modality == VIDEO).nonzero()[0])
    assert len(plan) > 0 and seq.tokens[:first_video].tolist() == [BOS, *plan, BOF]
    assert int((seq.text_target != IGNORE).sum()) == len(plan) + k          # plan bytes, BOF, k - 1 BOFs
    dropped = enc.encode(ep, 3, drop_text=True)                              # the CFG branch
    assert (dropped.tokens[:3].tolist() == [BOS, BOF, dropped.tokens[2].item()]
            and (dropped.text_target == IGNORE).all())


# -- training ------------------------------------------------------------------------------------
def test_two_step_training_run_records_the_variant(make_cfg, synthetic_store: Path, tmp_path: Path) -> None:
    cfg = make_cfg(synthetic_store, "variant=plan-first", "max_steps=2", "sequence.window_frames=4",
                   "data.batch_size=2", "val_every_steps=2", "ckpt_every_steps=2")
    run = train(cfg, tmp_path / "run", LaunchConfig(accelerator="cpu", progress=False))
    model, got = load_world_model(run, expect_variant="plan-first")
    assert got.variant == "plan-first" and got.model.vocab_size > 0
    assert json.loads((run / "config.json").read_text())["config"]["variant"] == "plan-first"
    with pytest.raises(ValueError, match="plan-first"):
        load_world_model(run, expect_variant="text")
    rows = [r for p in (run / "logs").glob("version_*/metrics.csv") for r in csv.DictReader(p.open())]
    text_losses = [float(r["train/text_loss"]) for r in rows if r.get("train/text_loss")]
    assert len(text_losses) == 2 and min(text_losses) > 0                   # the plan carries a text loss
    gen = Generator.from_run(run, SamplingConfig(ode_steps=1, max_text_tokens=2))
    assert gen.variant.plan_first
    assert gen.generate(np.zeros((32, 32, 3), np.uint8), 2).frames.shape == (1, 2, 32, 32, 3)


# -- rollout -------------------------------------------------------------------------------------
@pytest.fixture
def parts(make_cfg, synthetic_store):
    store = EpisodeStore.open(synthetic_store)
    cfg = resolve_config(make_cfg(synthetic_store, "variant=plan-first"), store.meta)
    return random_model(cfg.model, zero_init_std=0.05), cfg, store.meta, store.load(0)


def make_gen(parts, **sampling) -> Generator:
    model, cfg, meta, _ = parts
    return Generator(model, cfg, meta.frame_shape, SamplingConfig(**{"max_text_tokens": 4, "ode_steps": 2,
                                                                     **sampling}), meta)


def _context(ep):
    return replace(ep, frames=ep.frames[:3], actions=ep.actions[:2], rewards=ep.rewards[:2],
                   text_events=tuple(e for e in ep.text_events if e.frame < 3))


def test_interventions_go_in_the_plan_of_their_window(parts) -> None:
    gen = make_gen(parts, max_text_tokens=0)
    out = gen.generate(_context(parts[3]), 8, parse_script("2: move up; 6: wait"), seed=0)
    toks, sep = out.tokens[0], TOK.encode("; ")
    ctx_text = TOK.encode([e.text for e in out.transcripts[0] if e.source == "context"][0])
    # Window 1 (training window of 3 chunks): the context chunk and generated chunks 0, 1.
    first = [BOS, *ctx_text, *sep, *TOK.encode("move up"), BOF]
    assert toks[:len(first)] == first
    # Then no text between chunks: each chunk is followed by EOF, BOF.
    rest = toks[len(first):]
    assert rest[:9] == [CHUNK, EOF, BOF] * 3
    # The window slides after 2 generated chunks: its plan holds the kept chunk's text ("move
    # up", generated chunk 1) and the text of the chunks it will generate ("wait" at frame 6).
    second = [BOS, *TOK.encode("move up"), *sep, *TOK.encode("wait"), BOF]
    assert rest[9:9 + len(second)] == second
    assert rest[9 + len(second):] == [CHUNK, EOF, BOF] * 2
    assert rest.count(BOS) == 1 and toks.count(CHUNK) == 5
    tr = out.transcripts[0]
    assert TranscriptEntry(2, "move up", "user") in tr and TranscriptEntry(6, "wait", "user") in tr
    assert not any(e.source == "model" for e in tr)                          # max_text_tokens=0


@pytest.mark.parametrize("cfg_scale,window", [(1.0, -1), (2.5, -1), (1.0, 0)])
def test_cached_equals_uncached(parts, cfg_scale: float, window: int) -> None:
    outs = [make_gen(parts, use_cache=c, cfg_scale=cfg_scale, context_chunks=window)
            .generate(_context(parts[3]), 8, parse_script("2: move up; 6: wait"), seed=3, batch=2)
            for c in (True, False)]
    cached, full = outs
    assert cached.frames.shape == (2, 8, 32, 32, 3)
    assert cached.tokens == full.tokens and cached.transcripts == full.transcripts
    assert np.abs(cached.frames.astype(int) - full.frames.astype(int)).max() <= 1
    assert any(e.source == "model" for e in cached.transcripts[0])            # it wrote plan text of its own
    # Without a window the whole rollout's plan is one prefix, and the tokens hold one BOS.
    assert (cached.tokens[0].count(BOS) == 1) == (window == 0)


def test_plan_changes_the_future_and_step_text_is_refused(parts) -> None:
    gen = make_gen(parts, max_text_tokens=0)
    frame = parts[3].frames[0]
    a = gen.start(frame, batch=2, seed=1, plan=[["move up", "move down"]])
    fa, entries = a.step()
    assert entries == [[TranscriptEntry(0, "move up", "user")], [TranscriptEntry(0, "move down", "user")]]
    b = gen.start(frame, batch=2, seed=1, plan=["move up"])                  # one text for every element
    fb, _ = b.step()
    assert np.array_equal(fa[0], fb[0]) and not np.array_equal(fa[1], fb[1])
    with pytest.raises(ValueError, match="plan="):
        a.step(["move up", None])
    with pytest.raises(ValueError, match="plan"):
        gen.start(frame, batch=2, plan=[["a", "b", "c"]])
    text_gen = Generator(parts[0], replace(parts[1], variant="text"), parts[2].frame_shape)
    with pytest.raises(ValueError, match="plan-first"):
        text_gen.start(frame, plan=["move up"])


# -- benchmarks ----------------------------------------------------------------------------------
@pytest.fixture
def run_dir(parts, tmp_path: Path) -> Path:
    model, cfg, meta, _ = parts
    export_world_model(model, cfg, tmp_path / "run", meta)
    return tmp_path / "run"


def test_predictor_feeds_each_script_as_the_plan(run_dir: Path) -> None:
    pred = load_predictor(str(run_dir), "plan-first")
    assert isinstance(pred, WorldModelPredictor) and pred.generator.variant.plan_first
    rng = np.random.default_rng(0)
    up = Script("up", ((0, "move up"),), np.array([1, 1, 1]))
    down = Script("down", ((0, "move down"), (2, "wait")), np.array([2, 2, 0]))
    branch = Branch(env="synthetic", index=0, episode_seed=0, frame=3, context_start=0,
                    context_frames=rng.integers(0, 255, (4, 32, 32, 3), dtype=np.uint8),
                    context_actions=np.zeros(3, np.int64), context_events=(), scripts=(up, down),
                    truth=np.zeros((2, 3, 32, 32, 3), np.uint8))
    seen = []
    start = pred.generator.start
    pred.generator.start = lambda *a, **kw: seen.append(kw.get("plan")) or start(*a, **kw)
    out = pred.predict(branch, [up, down], horizon=3, seed=0)
    assert out.shape == (2, 3, 32, 32, 3) and out.dtype == np.uint8
    assert seen == [[["move up", "move down"], [None, "wait"]]]
    same = pred.predict(branch, [up, up], horizon=3, seed=0)
    assert np.array_equal(same[0], out[0]) and not np.array_equal(same[1], out[1])   # the plan steers


def test_fidelity_cli_runs_a_plan_first_run(run_dir: Path, synthetic_store: Path, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    fidelity.register(parser.add_subparsers())          # only this command: others may be mid-edit
    out = tmp_path / "fid.json"
    args = parser.parse_args(["fidelity", "--ckpt", str(run_dir), "--data", str(synthetic_store),
                              "--horizons", "1,4", "--windows", "1", "--ode-steps", "1", "--json", str(out)])
    assert args.func(args) == 0
    assert [h["horizon"] for h in json.loads(out.read_text())["horizons"]] == [1, 4]


def test_controllability_cli_takes_a_plan_first_baseline(tmp_path: Path) -> None:
    from tv2tv.benchmarks.planning import random_world_model
    from tv2tv.cli import main

    run = random_world_model("ALE/Pong-v5", tmp_path / "pf", frame_size=16, preset=None, zero_init_std=0.05,
                             overrides=["model.dim=32", "model.depth=2", "model.heads=2",
                                        "variant=plan-first", "sequence.frames_per_chunk=2",
                                        "sequence.patch=8"])
    out = tmp_path / "bench"
    assert main(["bench", "controllability", "--ckpt", "copy-last", "--baseline", f"plan-first={run}",
                 "--env", "ALE/Pong-v5", "--branches", "1", "--horizon", "2", "--context-frames", "4",
                 "--frame-size", "16", "--idm-steps", "0", "--videos", "0", "--policy", "random",
                 "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["models"]) == {"plan-first", "copy-last"}
    assert res["models"]["plan-first"]["n_branches"] == 1

"""Episode windows: split, determinism, text placement per variant, sampler, bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch

from tv2tv.config import build_config
from tv2tv.recorders.store import DatasetMeta, EpisodeStore, describe_space
from tv2tv.world_model.config import TrainConfig
from tv2tv.world_model.data import EpisodeDataModule, StepSampler, resolve_config, split_episodes
from tv2tv.world_model.sequence import IGNORE, VIDEO, collate_sequences
from tv2tv.world_model.synthetic import ACTION_TEXT, synthetic_episodes
from tv2tv.world_model.tokenizer import ACTION_OFFSET, BOF, BOS, EOF

TINY = ["model.dim=32", "model.depth=2", "model.heads=2", "sequence.window_frames=6", "data.batch_size=4",
        "data.val_fraction=0.25", "max_steps=20"]


def _dm(store: Path, *overrides: str) -> EpisodeDataModule:
    dm = EpisodeDataModule(build_config(TrainConfig, None, [*TINY, f"data.path={store}", *overrides]))
    dm.setup("fit")
    return dm


def test_split_is_by_episode_and_seeded() -> None:
    train, val = split_episodes(10, 0.2, seed=0)
    assert len(val) == 2 and sorted(train + val) == list(range(10))
    assert split_episodes(10, 0.2, seed=0) == (train, val)
    assert any(split_episodes(10, 0.2, seed=s)[1] != val for s in range(1, 5))
    assert split_episodes(1, 0.5, seed=0) == ([0], [])


def test_windows_are_deterministic_under_a_seed(synthetic_store: Path) -> None:
    a, b, c = _dm(synthetic_store), _dm(synthetic_store), _dm(synthetic_store, "seed=1")
    for i in range(6):
        x, y = a.train_set[i], b.train_set[i]
        assert torch.equal(x.tokens, y.tokens) and torch.equal(x.video, y.video)
    assert any(not torch.equal(a.train_set[i].video, c.train_set[i].video) for i in range(6))
    assert len(a.val_set) == 2 * 2     # 2 held-out episodes x 2 fixed windows


def test_text_is_placed_before_its_chunk(synthetic_store: Path) -> None:
    dm = _dm(synthetic_store, "sequence.p_uncond=0")
    enc, ep = dm.train_set.encoder, dm.train_set.episodes[0]
    seq = enc.encode(ep, start=3)
    clean = seq.tokens[~seq.is_noisy].tolist()
    # Split the clean stream at BOF: segment k is the text placed before chunk k.
    segments, cur = [], []
    for t in clean:
        if t == BOF:
            segments.append(cur)
            cur = []
        elif t < 256:
            cur.append(t)
    for k, seg in enumerate(segments):
        frames = range(3 + 2 * k, 3 + 2 * k + 2)
        want = "; ".join(e.text for e in ep.text_events if e.frame in frames)
        assert bytes(seg).decode() == want and want.split("; ")[0] in ACTION_TEXT
    assert clean[0] == BOS and EOF in clean
    x0 = enc.codec.encode(ep.frames[3:9][None])[0].reshape(3, -1, seq.video.shape[-1])
    assert torch.equal(seq.video[seq.is_noisy & (seq.chunk_id == 2)], x0[2])


def test_no_text_variant_has_only_structure(synthetic_store: Path) -> None:
    dm = _dm(synthetic_store, "variant=no-text")
    seq = dm.train_set[0]
    text = seq.tokens[seq.modality != VIDEO]
    assert set(text.tolist()) <= {BOS, BOF, EOF} and (seq.text_target == IGNORE).all()


def test_action_id_variant_uses_the_actions(synthetic_store: Path) -> None:
    dm = _dm(synthetic_store, "variant=action-id")
    enc, ep = dm.train_set.encoder, dm.train_set.episodes[0]
    seq = enc.encode(ep, start=0)
    ids = [t for t in seq.tokens[~seq.is_noisy].tolist() if t >= ACTION_OFFSET]
    want = [enc.tok.no_action] + [ACTION_OFFSET + int(a) for a in ep.actions[:5]]
    assert ids == want and (seq.text_target == IGNORE).all()
    cfg = resolve_config(dm.cfg, dm.meta)
    assert cfg.model.vocab_size == ACTION_OFFSET + 4


def test_p_uncond_drops_all_text_of_some_windows(synthetic_store: Path) -> None:
    dm = _dm(synthetic_store, "sequence.p_uncond=0.5")
    dropped = [not bool((s.tokens < 256).any()) for s in (dm.train_set[i] for i in range(40))]
    assert 5 < sum(dropped) < 35


def test_step_sampler_resumes_and_splits_ranks() -> None:
    full = list(StepSampler(12))
    assert list(StepSampler(12, start=5)) == full[5:]
    r0, r1 = list(StepSampler(6, rank=0, world=2)), list(StepSampler(6, rank=1, world=2))
    assert sorted(r0 + r1) == list(range(12))


def test_train_loader_batches(synthetic_store: Path) -> None:
    dm = _dm(synthetic_store)
    batch = next(iter(dm.train_dataloader()))
    assert batch.tokens.shape[0] == 4 and batch.video.shape[-1] == 8 * 8 * 3
    first = collate_sequences([dm.train_set[i] for i in range(4)])
    assert torch.equal(batch.tokens, first.tokens)


def _store(root: Path, frame: int = 32, space: gymnasium.Space | None = None, n: int = 2,
           steps: int = 6) -> Path:
    meta = DatasetMeta(env="synthetic", frame_shape=(frame, frame, 3),
                       action_space=describe_space(space or gymnasium.spaces.Discrete(3)),
                       texter="synthetic", texter_version="1")
    store = EpisodeStore.create(root, meta)
    for ep in synthetic_episodes(n, steps=steps, size=frame):
        # actions of the store's space, or the store refuses them
        if isinstance(space, gymnasium.spaces.Box):
            ep = dataclasses.replace(ep, actions=np.zeros((ep.num_steps, *space.shape), space.dtype))
        store.write(ep)
    return root


@pytest.mark.parametrize("case, overrides, match", [
    ("empty", [], "has no episodes"),
    ("missing", [], "does not exist"),
    ("small", ["sequence.patch=64"], "smaller than one 64x64 patch"),
    ("odd", ["sequence.patch=12"], "not divisible by the patch size 12"),
    ("long", ["sequence.window_frames=40"], "window_frames=40 is longer than every episode"),
    ("box", ["variant=action-id"], "needs a Discrete action space"),
])
def test_bad_input_is_a_clear_error(tmp_path: Path, case: str, overrides: list[str], match: str) -> None:
    root = tmp_path / "s"
    if case == "empty":
        _store(root, n=0)
    elif case == "box":
        _store(root, space=gymnasium.spaces.Box(-1, 1, (2,), np.float32))
    elif case != "missing":
        _store(root)
    with pytest.raises(ValueError, match=match):
        dm = _dm(root, *overrides)
        resolve_config(dm.cfg, dm.meta)

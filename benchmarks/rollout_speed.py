"""``tv2tv bench rollout``: frames/s of world-model rollouts with and without the KV cache.

One process, one model (random weights of a preset, or ``--ckpt``), one context (a synthetic
8-frame episode at the model's frame size, or real data with ``--context``). Three rollouts of
``--frames`` frames, each after a short warm-up:

* ``cached, window``: the default rollout (the KV cache, context limited to the training
  window and re-encoded when it slides; what ``generate`` and ``play`` use);
* ``cached, full``: the KV cache over the whole history (``context_chunks=0``);
* ``uncached, full``: the reference that re-runs the whole sequence at every network call.

The speed-up ``cached, full / uncached, full`` is what the cache buys at that length (goal:
>= 10x at 64 frames); ``cached, window`` is the playable rate (goal: >= 15 frames/s, Atari's
rate at frameskip 4). Random weights write random text, so text comes from a Pong-like script
instead (a phrase every ``--text-every`` frames, the model's own text off); with ``--ckpt``
the model writes its own text too.

Threads: the tiny model's ops are small, so on a machine whose cores are busy ``--threads 1``
is much faster than torch's default (one thread per core waits on descheduled peers at every
op: 20-30x slower under load on 2 shared cores); bf16 autocast is not faster than fp32 here.

Example:
    $ tv2tv bench rollout --preset tiny --frames 64 --threads 2
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tv2tv.progress import progress_bar
from tv2tv.types import Episode
from tv2tv.world_model.generate import Generator
from tv2tv.world_model.interventions import parse_script
from tv2tv.world_model.rollout_model import SamplingConfig
from tv2tv.world_model.sampling_args import add_sampling_args, sampling_from_args

GOAL_SPEEDUP = 10.0
GOAL_FPS = 15.0


def random_generator(preset: str, frame_size: int, sampling: SamplingConfig,
                     overrides: list[str] | None = None, seed: int = 0) -> Generator:
    """A ``Generator`` with random weights for a preset at ``frame_size`` x ``frame_size`` RGB."""
    import gymnasium

    from tv2tv.config import build_config
    from tv2tv.recorders.store import DatasetMeta, describe_space
    from tv2tv.world_model.config import TrainConfig
    from tv2tv.world_model.data import resolve_config
    from tv2tv.world_model.mot import MoT

    meta = DatasetMeta(env="synthetic", frame_shape=(frame_size, frame_size, 3), texter="synthetic",
                       texter_version="1", action_space=describe_space(gymnasium.spaces.Discrete(3)))
    cfg = resolve_config(build_config(TrainConfig, preset, overrides or []), meta)
    torch.manual_seed(seed)
    return Generator(MoT(cfg.model), cfg, meta.frame_shape, sampling, meta)


def pong_like_script(frames: int, every: int) -> list:
    """Alternating paddle phrases every ``every`` frames (the Atari texter's default rhythm)."""
    if every < 1:
        return []
    words = ("move paddle up", "move paddle down")
    return parse_script("; ".join(f"{t}: {words[(t // every) % 2]}" for t in range(0, frames, every)))


def time_rollout(gen: Generator, context: Episode, frames: int, script: list, **sampling: Any) -> float:
    """Seconds for one rollout of ``frames`` frames with ``sampling`` changes (after a warm-up)."""
    g = Generator(gen.model, gen.cfg, gen.codec.frame_shape, replace(gen.sampling, **sampling), gen.meta)
    g.generate(context, min(frames, 2 * gen.frames_per_chunk), seed=0)
    start = time.perf_counter()
    g.generate(context, frames, script, seed=0)
    return time.perf_counter() - start


def measure(gen: Generator, context: Episode, frames: int, text_every: int = 8,
            progress: bool = False) -> dict[str, Any]:
    """Frames/s of the three rollouts (see the module docstring); ``progress``: a bar over them."""
    script = pong_like_script(frames, text_every)
    rows = {}
    kinds = (("cached, window", {"use_cache": True, "context_chunks": -1}),
             ("cached, full", {"use_cache": True, "context_chunks": 0}),
             ("uncached, full", {"use_cache": False, "context_chunks": 0}))
    with progress_bar(f"bench rollout ({frames} frames each)", len(kinds), progress) as advance:
        for name, kw in kinds:
            advance(0, info=name)  # the rollout now running
            seconds = time_rollout(gen, context, frames, script, **kw)
            rows[name] = {"seconds": seconds, "frames_per_s": frames / seconds}
            advance()
    s = gen.sampling
    return {"frames": frames, "threads": torch.get_num_threads(), "ode_steps": s.ode_steps,
            "method": s.method,
            "context_window_chunks": gen.context_chunks, "frame_shape": list(gen.codec.frame_shape),
            "rows": rows, "speedup": rows["uncached, full"]["seconds"] / rows["cached, full"]["seconds"]}


def _table(r: dict[str, Any], title: str) -> Table:
    t = Table(title=escape(title))
    for col in ("rollout", "seconds", "frames/s"):
        t.add_column(col, justify="right")
    for name, row in r["rows"].items():
        ok = "green" if row["frames_per_s"] >= GOAL_FPS else "red"
        t.add_row(name, f"{row['seconds']:.2f}", f"[{ok}]{row['frames_per_s']:.1f}[/{ok}]")
    ok = "green" if r["speedup"] >= GOAL_SPEEDUP else "red"
    t.add_row("cache speed-up (full)", "", f"[{ok}]{r['speedup']:.1f}x[/{ok}]")
    return t


def cmd_rollout(args: argparse.Namespace) -> int:
    from tv2tv.world_model.synthetic import synthetic_episodes

    if args.frames < 1:
        raise ValueError(f"--frames must be >= 1, got {args.frames}")
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    # Random weights write noise, not text: they roll out frames only.
    sampling = sampling_from_args(args) if args.ckpt else sampling_from_args(args, max_text_tokens=0)
    if args.ckpt:
        gen = Generator.from_run(args.ckpt, sampling)
        name = Path(args.ckpt).name
    else:
        gen = random_generator(args.preset, args.frame_size, sampling)
        name = f"{args.preset} (random weights)"
    if args.context:
        from tv2tv.world_model.generate import load_context
        context = load_context(args.context, 8, model=gen)
    else:
        context = synthetic_episodes(1, steps=7, size=gen.codec.frame_shape[0], seed=0)[0]
    result = measure(gen, context, args.frames, args.text_every, progress=not args.no_progress)
    result["model"] = name
    h, w, _ = gen.codec.frame_shape
    Console().print(_table(result, f"rollout speed: {name}, {h}x{w}, {args.frames} frames, "
                                   f"{args.ode_steps} {args.method} steps, {result['threads']} threads"))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def register(bench_sub: Any) -> None:
    """Add ``tv2tv bench rollout``."""
    p = bench_sub.add_parser("rollout", help="rollout frames/s with and without the KV cache")
    p.add_argument("--preset", default="tiny", help="model preset for random weights (default tiny)")
    p.add_argument("--ckpt", metavar="RUN", help="a trained run instead of random weights")
    p.add_argument("--frames", type=int, default=64, help="frames per rollout (default 64)")
    p.add_argument("--frame-size", type=int, default=64, help="frame side for random weights (default 64)")
    p.add_argument("--context", metavar="DATA[:EPISODE[:FRAME]]", help="real context (default: synthetic)")
    add_sampling_args(p, ("ode_steps", "method"))  # the cache settings are what it measures
    p.add_argument("--text-every", type=int, default=8, help="scripted phrase every N frames (0: none)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's); 1 on a busy machine")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_rollout)

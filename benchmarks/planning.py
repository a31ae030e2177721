"""``tv2tv bench plan``: how long one planning decision takes, and what planning wins in the game.

Latency: from a real context (``context_frames`` frames of the game played at random, with the
texter's text), ``SearchPlanner`` imagines ``candidates`` text plans of ``horizon`` frames in ONE
batched world-model rollout and picks the best by the reward-caption objective; the wall time
of ``decisions`` such decisions is reported (median, p90, per candidate). With ``--sequential``
the same candidates are also imagined one rollout at a time, to show what batching buys.
Without ``--ckpt`` a random-weight model of the ``tiny`` preset is built for the game (the
latency of a decision does not depend on what the weights learned).

Real game (``--episodes N``): ``run_planner`` plays the search planner, a random policy and the
scripted collection policy on the same seeds and reports returns and game counts (Pong points
won and lost). Only meaningful with a trained checkpoint.

Example:
    $ tv2tv bench plan --candidates 12 --horizon 8 --decisions 5
    $ tv2tv bench plan --ckpt runs/pong-tiny --episodes 3 --max-steps 400 --out runs/bench-plan
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from tv2tv.progress import progress_bar


def random_world_model(env_name: str, out: str | os.PathLike[str], frame_size: int = 64,
                       preset: str | None = "tiny", overrides: Sequence[str] = (), seed: int = 0,
                       frameskip: int = 4, zero_init_std: float = 0.0) -> Path:
    """Export a random-weight world model for ``env_name`` (its frames and texter) to ``out``.

    For latency benchmarks and tests: the run loads like a trained one (``Generator.from_run``,
    ``WorldModelEnv``), but has no ``data.path``, so pass contexts explicitly. ``zero_init_std``:
    see ``tv2tv.world_model.synthetic.random_model``.

    Example:
        >>> run = random_world_model("ALE/Pong-v5", "/tmp/pong-random", frame_size=32)    # doctest: +SKIP
    """
    from tv2tv.recorders.record import RecordConfig, build_env, dataset_meta
    from tv2tv.world_model.synthetic import export_random_run

    rec = RecordConfig(env_name, Path(out), steps=1, frame_size=frame_size, frameskip=frameskip, workers=1)
    env = build_env(rec)
    try:
        meta = dataset_meta(rec, env)
    finally:
        env.close()
    return export_random_run(meta, out, overrides, seed, zero_init_std, preset)


def real_context(meta: Any, env_name: str, frames: int, seed: int = 0) -> Any:
    """A ``PlanContext`` of ``frames`` real frames of ``env_name`` played at random (with the
    texter's text), the game built as the store ``meta`` recorded it (``recorders.record.env_for``)."""
    from tv2tv.planners.act import play_policy
    from tv2tv.recorders.policies import make_policy
    from tv2tv.recorders.record import env_for

    env = env_for(meta, seed=seed, name=env_name)
    try:
        run = play_policy(env, make_policy("random", env, seed=seed), seed, max(frames - 1, 1) + 30)
        return run.plan_context(frames)
    finally:
        env.close()


def measure_latency(generator: Any, env_name: str, candidates: int = 12, horizon: int = 8,
                    decisions: int = 5, context_frames: int = 4, sequential: bool = False,
                    seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """Wall time per ``SearchPlanner`` decision (batched), and optionally per sequential one;
    ``progress``: a bar over the decisions (warm-up and sequential rounds included).

    Example:
        >>> measure_latency(Generator.from_run(run), "ALE/Pong-v5", decisions=2)["median_s"]  # doctest: +SKIP
        1.9
    """
    import torch

    from tv2tv.planners.model_planner import GeneratorImagination
    from tv2tv.planners.objectives import reward_captions
    from tv2tv.planners.search import SearchPlanner

    ctx = real_context(generator.meta, env_name, context_frames, seed)
    imagine = GeneratorImagination(generator, seed=seed)
    planner = SearchPlanner(imagine, candidates, reward_captions(), horizon, seed=seed)
    times: list[float] = []
    seq: list[float] = []
    rounds = max(1, decisions // 2) if sequential else 0
    with progress_bar("bench plan (decisions)", 1 + decisions + rounds, progress) as advance:
        advance(0, info="warm-up")
        planner.plan(ctx)
        n_plans = len(planner.last_plans)
        advance(info="batched")
        for _ in range(decisions):
            start = time.perf_counter()
            planner.plan(ctx)
            times.append(time.perf_counter() - start)
            advance()
        plans = planner.last_plans
        if rounds:
            advance(0, info="sequential")
        for _ in range(rounds):
            start = time.perf_counter()
            for p in plans:
                imagine(ctx, [p], horizon)
            seq.append(time.perf_counter() - start)
            advance()
    out: dict[str, Any] = {
        "env": env_name, "candidates": n_plans, "horizon": horizon, "decisions": decisions,
        "frames_per_chunk": generator.frames_per_chunk, "ode_steps": generator.sampling.ode_steps,
        "max_text_tokens": generator.sampling.max_text_tokens, "torch_threads": torch.get_num_threads(),
        "median_s": statistics.median(times), "p90_s": float(np.quantile(times, 0.9)),
        "per_candidate_ms": 1000 * statistics.median(times) / n_plans}
    if sequential:
        out["sequential_median_s"] = statistics.median(seq)
        out["batching_speedup"] = out["sequential_median_s"] / out["median_s"]
    return out


def register(bench: Any) -> None:
    from tv2tv.world_model.sampling_args import add_sampling_args

    p: argparse.ArgumentParser = bench.add_parser(
        "plan", help="latency per planning decision; real-game return of the search planner",
        description="Time SearchPlanner decisions (batched candidate imagination) and optionally play the "
                    "search planner against random and scripted players in the real game.")
    p.add_argument("--ckpt", metavar="RUN", help="a trained run (default: random weights, tiny preset)")
    p.add_argument("--env", default="ALE/Pong-v5")
    p.add_argument("--frame-size", type=int, default=64, help="frames of the random model (no --ckpt)")
    p.add_argument("--candidates", type=int, default=12)
    p.add_argument("--horizon", type=int, default=8)
    p.add_argument("--decisions", type=int, default=5)
    p.add_argument("--sequential", action="store_true", help="also time one rollout per candidate")
    p.add_argument("--episodes", type=int, default=0, help="also play this many real episodes")
    p.add_argument("--max-steps", type=int, default=400)
    p.add_argument("--replan-every", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="DIR", help="write bench_plan.json (and the game's report) here")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's); 1 on a busy machine")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_sampling_args(p, ode_steps=4, max_text_tokens=24)
    p.set_defaults(func=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    from tv2tv.planners.act import game_options, run_planner, summary_rows
    from tv2tv.planners.model_planner import GeneratorImagination
    from tv2tv.planners.objectives import reward_captions
    from tv2tv.planners.search import SearchPlanner
    from tv2tv.world_model.generate import Generator
    from tv2tv.world_model.sampling_args import sampling_from_args

    console = Console()
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        import torch
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="tv2tv-bench-plan-") as tmp:
        run = args.ckpt or random_world_model(args.env, Path(tmp) / "run", frame_size=args.frame_size,
                                              seed=args.seed)
        gen = Generator.from_run(run, sampling_from_args(args), device=args.device)
    if gen.meta.env != args.env:
        raise ValueError(f"the model was trained on {gen.meta.env!r}, not {args.env!r}; "
                         f"pass --env {gen.meta.env}")
    result = measure_latency(gen, args.env, args.candidates, args.horizon, args.decisions,
                             sequential=args.sequential, seed=args.seed, progress=not args.no_progress)
    result["weights"] = args.ckpt or "random (tiny preset)"
    table = Table(title=f"planning latency, {args.env}, {result['weights']}, {args.device}")
    for c in ("plans", "horizon", "ode", "s/decision", "p90 s", "ms/plan", "sequential s"):
        table.add_column(c, justify="right", no_wrap=True)
    table.add_row(str(result["candidates"]), str(args.horizon), str(result["ode_steps"]),
                  f"{result['median_s']:.3f}", f"{result['p90_s']:.3f}", f"{result['per_candidate_ms']:.1f}",
                  f"{result['sequential_median_s']:.3f}" if args.sequential else "-")
    console.print(table)
    if args.episodes:
        planner = SearchPlanner(GeneratorImagination(gen, seed=args.seed), args.candidates, reward_captions(),
                                args.horizon, args.replan_every, args.seed)
        game = run_planner(args.env, planner, args.episodes, args.max_steps, args.seed,
                           Path(args.out) / "game" if args.out else None, name="search",
                           progress=not args.no_progress, **game_options(gen.meta))
        result["game"] = game["summary"]
        cols, rows = summary_rows(game)
        t = Table(title=f"real game, {args.episodes} episode(s) of <= {args.max_steps} steps")
        for c in cols:
            t.add_column(c)
        for r in rows:
            t.add_row(*r)
        console.print(t)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "bench_plan.json").write_text(json.dumps(result, indent=2))
    return 0

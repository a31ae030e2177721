"""``tv2tv bench record ENV``: what recording costs over bare env stepping.

In one process, alternating rounds: *bare* steps ``make_env`` with the policy (resetting at
each episode end); *record* runs the same loop, same seeds, through ``RecordEpisodes`` writing
to a temporary store, the episode writes (compression, fsync, rename) and the write of the
episode cut by the step budget included. Reported: the median rate of each, the overhead
``record time / bare time - 1`` in wall time and in CPU time (goal: <= 10% at 64x64; CPU time is
the steadier figure on a shared machine), the share of recording CPU time spent in episode
writes (compression, fsync, rename), and the machine's 1-minute load average before and after
(other processes inflate wall time; quote the load with the figures).

Example:
    $ tv2tv bench record ALE/Pong-v5 --steps 4000 --rounds 5 --frame-size 64 --policy random
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tv2tv.progress import progress_bar
from tv2tv.recorders.policies import make_policy
from tv2tv.recorders.record import RecordConfig, build_env, dataset_meta, episode_seeds
from tv2tv.recorders.store import EpisodeStore
from tv2tv.recorders.wrapper import RecordEpisodes


@dataclass
class _Timer:
    """Wall seconds and CPU seconds (of the whole process, or with ``per_thread`` of the thread)."""

    wall: float = 0.0
    cpu: float = 0.0
    per_thread: bool = False

    @contextmanager
    def timing(self) -> Iterator[None]:
        cpu_clock = time.thread_time if self.per_thread else time.process_time
        w, c = time.perf_counter(), cpu_clock()
        try:
            yield
        finally:
            self.wall += time.perf_counter() - w
            self.cpu += cpu_clock() - c


def _loop(env: Any, cfg: RecordConfig, steps: int) -> _Timer:
    """Step ``env`` for ``steps`` steps with fresh seeded episodes, as ``record`` does."""
    k, done, timer = 0, 0, _Timer()
    with timer.timing():
        while done < steps:
            env_seed, policy_seed = episode_seeds(cfg.seed, k)
            policy = make_policy(cfg.policy, env, seed=policy_seed)
            obs, _ = env.reset(seed=env_seed)
            k += 1
            ended = False
            while not ended and done < steps:
                obs, _, terminated, truncated, _ = env.step(policy(obs))
                ended = terminated or truncated
                done += 1
        if isinstance(env, RecordEpisodes):
            env.truncate_episode()  # the budget's cut episode is written too, as `record` does
    return timer


def _timed_writes(store: EpisodeStore) -> _Timer:
    """Make ``store.write`` add its time (the CPU time of the thread that writes) to a timer."""
    timer, write = _Timer(per_thread=True), store.write

    def timed_write(ep: Any) -> Path:
        with timer.timing():
            return write(ep)

    store.write = timed_write  # type: ignore[method-assign]
    return timer


def _bare(cfg: RecordConfig, steps: int) -> _Timer:
    env = build_env(cfg)
    _loop(env, cfg, min(steps, 50))  # warm-up: first-call costs out of the timing
    timer = _loop(env, cfg, steps)
    env.close()
    return timer


def _recording(cfg: RecordConfig, steps: int, background: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tv2tv-bench-") as tmp:
        env = build_env(cfg)
        _loop(env, cfg, min(steps, 50))  # the same warm-up, before the recorder is on
        store = EpisodeStore.create(Path(tmp) / "store", dataset_meta(cfg, env))
        writes = _timed_writes(store)
        rec = RecordEpisodes(env, store=store, background=background)
        timer = _loop(rec, cfg, steps)
        rec.close()
        return {"record": timer, "writes": writes, "episodes": len(store),
                "disk": sum(p.stat().st_size for p in store.episode_paths())}


def _round(cfg: RecordConfig, steps: int, bare_first: bool, background: bool) -> dict[str, Any]:
    if bare_first:
        bare = _bare(cfg, steps)
        return {"bare": bare, **_recording(cfg, steps, background)}
    recording = _recording(cfg, steps, background)
    return {"bare": _bare(cfg, steps), **recording}


def measure(cfg: RecordConfig, rounds: int = 3, background: bool = True,
            progress: bool = False) -> dict[str, Any]:
    """Bare and recording speed of ``cfg`` (``cfg.steps`` steps per round), medians over rounds.

    Overheads are paired per round (bare and record run back to back) so drifts in machine load
    cancel; ``overhead_cpu`` compares CPU time (writer thread included), which other processes
    inflate less. ``background`` writes from a thread, as ``record`` does. ``progress``: a bar
    over rounds.

    Example:
        >>> cfg = RecordConfig("ALE/Pong-v5", Path("unused"), steps=500, policy="random")
        >>> measure(cfg, rounds=1)["overhead_cpu"]                     # doctest: +SKIP
        0.07
    """
    steps = int(cfg.steps or 0)
    load_before = os.getloadavg()[0]
    runs = []
    with progress_bar(f"bench record {cfg.env} (rounds)", rounds, progress) as advance:
        for i in range(rounds):
            runs.append(_round(cfg, steps, i % 2 == 0, background))  # order alternates
            advance()
    med = statistics.median
    return {
        "env": cfg.env, "frame_size": cfg.frame_size, "policy": cfg.policy, "steps": steps,
        "rounds": rounds, "background_writes": background,
        "bare_steps_per_s": med(steps / r["bare"].wall for r in runs),
        "record_steps_per_s": med(steps / r["record"].wall for r in runs),
        "overhead": med(r["record"].wall / r["bare"].wall for r in runs) - 1.0,
        "overhead_cpu": med(r["record"].cpu / r["bare"].cpu for r in runs) - 1.0,
        "write_share_cpu": med(r["writes"].cpu / r["record"].cpu for r in runs),
        "episodes_written": runs[-1]["episodes"], "bytes_per_step": runs[-1]["disk"] / max(steps, 1),
        "load_avg_1min": [load_before, os.getloadavg()[0]],
    }


def _table(r: dict[str, Any]) -> Table:
    writes = "background" if r["background_writes"] else "synchronous"
    table = Table(title=f"record overhead: {r['env']} {r['frame_size']}x{r['frame_size']}, "
                        f"policy {r['policy']}, {r['steps']} steps x {r['rounds']} rounds, "
                        f"{writes} writes",
                  caption=f"load average (1 min) {r['load_avg_1min'][0]:.2f} before, "
                          f"{r['load_avg_1min'][1]:.2f} after, on {os.cpu_count()} CPUs")
    cols = ("bare steps/s", "record steps/s", "overhead (wall)", "overhead (CPU)",
            "writes (CPU share)", "episodes", "bytes/step")
    for col in cols:
        table.add_column(col, justify="right")
    ok = "green" if r["overhead_cpu"] <= 0.10 else "red"
    table.add_row(f"{r['bare_steps_per_s']:,.0f}", f"{r['record_steps_per_s']:,.0f}",
                  f"{100 * r['overhead']:+.1f}%", f"[{ok}]{100 * r['overhead_cpu']:+.1f}%[/{ok}]",
                  f"{100 * r['write_share_cpu']:.1f}%", str(r["episodes_written"]),
                  f"{r['bytes_per_step']:,.0f}")
    return table


def cmd_record_speed(args: argparse.Namespace) -> int:
    if args.rounds < 1:
        raise ValueError(f"--rounds must be >= 1, got {args.rounds}")
    cfg = RecordConfig(env=args.env, out=Path("unused"), steps=args.steps, policy=args.policy,
                       frame_size=args.frame_size, frameskip=args.frameskip, workers=1)
    result = measure(cfg, rounds=args.rounds, background=not args.sync_writes, progress=not args.no_progress)
    Console().print(_table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def register(bench_sub: Any) -> None:
    """Add ``tv2tv bench record``."""
    p = bench_sub.add_parser("record", help="recording overhead over bare env stepping")
    p.add_argument("env", help="env name, e.g. ALE/Pong-v5")
    # 2000 steps x 3 rounds swung by +-5 points of overhead on a loaded 2-core machine.
    p.add_argument("--steps", type=int, default=4000, help="steps per round (default 4000)")
    p.add_argument("--frame-size", type=int, default=64, help="square frame side (default 64)")
    p.add_argument("--frameskip", type=int, default=4, help="emulator frames per step (default 4)")
    p.add_argument("--policy", default="random", help="collection policy (default: random)")
    p.add_argument("--rounds", type=int, default=5,
                   help="alternating rounds, medians reported (default 5)")
    p.add_argument("--sync-writes", action="store_true",
                   help="write episodes in the stepping thread instead of a writer thread")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_record_speed)

"""``tv2tv bench learn``: time-to-control, the instrument every model change is judged by.

Each variant trains in turn (one at a time, so each gets the whole machine) for ``minutes`` of
wall-clock training; a callback exports the model every ``every`` minutes. Afterwards every
snapshot is scored on ONE fixed set of fresh branch points (seeds not in the recording):
counterfactual accuracy and probe follow rate with 95% intervals over branch points
(``cf_accuracy_ci95``, ``probe_follow_ci95``), PSNR at horizon 1 and 8 next to copy-last
(``controllability``), and PSNR on held-out windows of the store (``fidelity``). The result is a
learning curve per variant against training minutes: ``curves.json``, ``curves.csv``,
``learn.png`` and a table.

Training uses the preset's config plus your overrides, with two changes that make snapshots
comparable at any minute: ``max_steps`` is only a bound (the time stops the run) and the learning
rate stays constant after warm-up (``optim.min_lr_ratio=1``) unless you override it. Validation
is off during training (the snapshots are scored afterwards).

Example:
    $ tv2tv bench learn --data data/pong --variants text,action-id --minutes 30 --every 3 \\
        --out runs/learn
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.callbacks import Callback
from rich.console import Console
from rich.table import Table

from tv2tv.world_model.config import VARIANTS

SNAPSHOTS = "snapshots"


@dataclass
class LearnConfig:
    """Args:
        data: the episode store to train on (its validation split is the held-out set).
        variants: the variants to train, in order.
        minutes: training minutes per variant; every: minutes between snapshots.
        preset: the training preset; overrides: ``KEY=VALUE`` on top (the same for every variant).
        branches, horizon, context_frames, bench_seed: the fixed branch points (fresh play seeded
            with ``bench_seed``) and the future steps scored; suite: the controllability suite
            (default: the game's).
        windows: held-out windows for the fidelity curve. ode_steps: sampler steps when scoring.
        threads: torch threads for training and scoring (``None``: torch's default).
    """

    data: str
    out: str
    variants: tuple[str, ...] = ("text", "no-text", "action-id")
    minutes: float = 30.0
    every: float = 3.0
    preset: str = "tiny"
    overrides: tuple[str, ...] = ()
    branches: int = 64
    horizon: int = 8
    context_frames: int = 8
    bench_seed: int = 1000
    suite: str | None = None
    windows: int = 32
    ode_steps: int = 4
    threads: int | None = None

    def validate(self) -> None:
        bad = [v for v in self.variants if v not in VARIANTS]
        if bad or not self.variants:
            raise ValueError(f"variants must be among {VARIANTS}, got {list(self.variants)}")
        if not self.minutes > 0 or not 0 < self.every <= self.minutes:
            raise ValueError(f"need minutes > 0 and 0 < every <= minutes, got minutes={self.minutes}, "
                             f"every={self.every}")
        for name in ("branches", "horizon", "context_frames", "windows", "ode_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


QUICK = {"minutes": 4.0, "every": 2.0, "branches": 16, "windows": 8}


class Snapshots(Callback):
    """Export the model every ``every`` minutes of training (wall clock since the first batch)
    into ``out/<minutes>min/`` and once more when training ends; ``index`` lists them."""

    def __init__(self, out: Path, every: float, meta: Any) -> None:
        self.out, self.every, self.meta = out, every, meta
        self.index: list[dict[str, Any]] = []
        self._t0: float | None = None
        self._paused = 0.0

    def _elapsed(self) -> float:
        assert self._t0 is not None
        return (time.perf_counter() - self._t0 - self._paused) / 60.0

    def _save(self, trainer: L.Trainer, module: Any, minutes: float) -> None:
        from tv2tv.world_model.checkpoint import export_world_model

        t = time.perf_counter()
        path = self.out / f"{minutes:06.2f}min"
        export_world_model(module.inference_model, module.cfg, path, self.meta)
        samples = trainer.global_step * module.cfg.data.batch_size
        self.index.append({"minutes": round(minutes, 3), "step": trainer.global_step, "samples": samples,
                           "path": str(path)})
        self._paused += time.perf_counter() - t          # exporting is not training time

    def on_train_batch_start(self, trainer: L.Trainer, module: Any, batch: Any, batch_idx: int) -> None:
        if self._t0 is None:
            self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, module: Any, *args: Any) -> None:
        if self._elapsed() >= self.every * (len(self.index) + 1):
            self._save(trainer, module, self._elapsed())

    def on_train_end(self, trainer: L.Trainer, module: Any) -> None:
        if self._t0 is not None and (not self.index or self.index[-1]["step"] != trainer.global_step):
            self._save(trainer, module, self._elapsed())


def train_variant(lc: LearnConfig, variant: str, console: Console) -> list[dict[str, Any]]:
    """Train one variant for ``lc.minutes``; returns its snapshot index (resumes a finished one)."""
    from tv2tv.config import build_config
    from tv2tv.recorders.store import EpisodeStore
    from tv2tv.world_model.config import TrainConfig
    from tv2tv.world_model.train import LaunchConfig, train

    run = Path(lc.out) / variant
    index_file = run / "snapshots.json"
    if index_file.is_file():
        console.print(f"{variant}: trained already ({index_file}), scoring only")
        return json.loads(index_file.read_text())
    defaults = ["optim.min_lr_ratio=1.0", "val_every_steps=1000000", "max_steps=1000000",
                "ckpt_every_steps=1000000", "sample_val=false"]
    cfg = build_config(TrainConfig, lc.preset, [*defaults, *lc.overrides, f"data.path={lc.data}",
                                                f"variant={variant}", f"max_minutes={lc.minutes}"])
    snaps = Snapshots(run / SNAPSHOTS, lc.every, EpisodeStore.open(lc.data).meta)
    console.print(f"training {variant} for {lc.minutes:g} min (snapshot every {lc.every:g} min)")
    if run.exists():
        raise FileExistsError(f"{run} holds an unfinished training of {variant} (no snapshots.json); "
                              f"delete it to train again, or choose another --out")
    train(cfg, run, LaunchConfig(progress=console.is_terminal), callbacks=[snaps])
    index_file.write_text(json.dumps(snaps.index, indent=2))
    return snaps.index


def score_snapshot(path: str, branches: Sequence[Any], game: str | None, lc: LearnConfig) -> dict[str, Any]:
    """Controllability on the fixed branches and fidelity on held-out windows of one snapshot."""
    from tv2tv.benchmarks.controllability import predict_all
    from tv2tv.benchmarks.fidelity import FidelityConfig, evaluate, held_out_episodes
    from tv2tv.benchmarks.models import WorldModelPredictor
    from tv2tv.benchmarks.scorers import score_model
    from tv2tv.world_model.generate import Generator
    from tv2tv.world_model.rollout_model import SamplingConfig

    gen = Generator.from_run(path, SamplingConfig(ode_steps=lc.ode_steps))
    preds = predict_all(WorldModelPredictor(gen, Path(path).name), branches, lc.horizon, lc.bench_seed)
    m = score_model(branches, preds, game)
    episodes, _ = held_out_episodes(gen, lc.data)
    fid = evaluate(gen, episodes, FidelityConfig(horizons=(1, lc.horizon), windows=lc.windows,
                                                 context_frames=lc.context_frames))
    per_alt = {k: v["counterfactual_accuracy"] for k, v in m["per_alternative"].items()}
    return {"cf_accuracy": m["counterfactual_accuracy"],
            "cf_accuracy_ci95": m["counterfactual_accuracy_ci95"],
            "probe_follow": m["probe_follow_rate"], "probe_follow_ci95": m["probe_follow_rate_ci95"],
            "psnr_h1": m["psnr"][0], "psnr_hN": m["psnr"][-1], "psnr_mean": float(np.mean(m["psnr"])),
            "heldout_psnr_h1": fid["horizons"][0]["model_psnr"],
            "heldout_psnr_hN": fid["horizons"][-1]["model_psnr"],
            "heldout_copy_h1": fid["horizons"][0]["copy_psnr"],
            "heldout_copy_hN": fid["horizons"][-1]["copy_psnr"],
            "cf_accuracy_by_alternative": per_alt}


def run_learn(lc: LearnConfig, console: Console | None = None) -> dict[str, Any]:
    """Train every variant, score every snapshot, write the curves; returns ``curves.json``."""
    import torch

    from tv2tv.benchmarks.auto_suite import resolve_suite
    from tv2tv.benchmarks.branches import make_branches
    from tv2tv.benchmarks.controllability import default_suite
    from tv2tv.benchmarks.models import CopyLast
    from tv2tv.benchmarks.probes import probe_game
    from tv2tv.benchmarks.scorers import score_model
    from tv2tv.recorders.store import EpisodeStore

    lc.validate()
    console = console or Console(stderr=True)
    if lc.threads:
        torch.set_num_threads(lc.threads)
    out = Path(lc.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = EpisodeStore.open(lc.data).meta
    suite = resolve_suite(lc.suite or default_suite(meta.env), meta.env)
    with console.status(f"playing {lc.branches} fresh branch points of {meta.env}"):
        branches = make_branches(meta.env, lc.branches, lc.horizon, suite, lc.bench_seed, lc.context_frames,
                                 frame_size=meta.frame_shape[0], frameskip=meta.frameskip)
    game = probe_game(meta.env)
    copy = score_model(branches, [CopyLast().predict(b, list(b.scripts), lc.horizon, 0) for b in branches],
                       game)
    load = os.getloadavg()
    rows: list[dict[str, Any]] = []
    for variant in lc.variants:
        for snap in train_variant(lc, variant, console):
            with console.status(f"scoring {variant} at {snap['minutes']:.1f} min"):
                rows.append({"variant": variant, **{k: snap[k] for k in ("minutes", "step", "samples")},
                             **score_snapshot(snap["path"], branches, game, lc)})
            _print_row(console, rows[-1])
    result = {"benchmark": "learn", "env": meta.env, "data": lc.data, "suite": suite.name,
              "settings": dict(vars(lc)), "n_branches": len(branches),
              "chance": 1.0 / len(suite.alternatives),
              "copy_last": {"psnr_h1": copy["psnr"][0], "psnr_hN": copy["psnr"][-1],
                            "psnr_mean": float(np.mean(copy["psnr"])),
                            "cf_accuracy": copy["counterfactual_accuracy"],
                            "cf_accuracy_ci95": copy["counterfactual_accuracy_ci95"]},
              "machine": {"cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                          "load_at_start": load, "load_at_end": os.getloadavg()},
              "curves": rows}
    write_curves(result, out)
    console.print(curve_table(result))
    return result


def _print_row(console: Console, r: dict[str, Any]) -> None:
    console.print(f"{r['variant']:>10} {r['minutes']:5.1f} min step {r['step']:5d}: "
                  f"cf {r['cf_accuracy']:.3f} "
                  f"probe {r['probe_follow'] if r['probe_follow'] is None else round(r['probe_follow'], 3)} "
                  f"psnr h1 {r['psnr_h1']:.2f} hN {r['psnr_hN']:.2f} mean {r['psnr_mean']:.2f} "
                  f"held-out h1 {r['heldout_psnr_h1']:.2f}")


def curve_table(result: dict[str, Any]) -> Table:
    from tv2tv.benchmarks.report import fmt_ci

    c = result["copy_last"]
    t = Table(title=f"time-to-control on {result['env']} ({result['n_branches']} branch points, chance "
                    f"{result['chance']:.3f}; copy-last PSNR h1 {c['psnr_h1']:.2f}, "
                    f"mean {c['psnr_mean']:.2f} dB)")
    for col in ("variant", "minutes", "step", "cf. accuracy [95%]", "probe [95%]", "PSNR h1", "PSNR mean",
                "held-out h1"):
        t.add_column(col, justify="right")
    for r in result["curves"]:
        t.add_row(r["variant"], f"{r['minutes']:.1f}", str(r["step"]),
                  fmt_ci(r["cf_accuracy"], r["cf_accuracy_ci95"]),
                  fmt_ci(r["probe_follow"], r["probe_follow_ci95"]),
                  f"{r['psnr_h1']:.2f}", f"{r['psnr_mean']:.2f}", f"{r['heldout_psnr_h1']:.2f}")
    return t


CSV_COLUMNS = ("variant", "minutes", "step", "samples", "cf_accuracy", "probe_follow", "psnr_h1", "psnr_hN",
               "psnr_mean", "heldout_psnr_h1", "heldout_psnr_hN", "heldout_copy_h1", "heldout_copy_hN")


def write_curves(result: dict[str, Any], out: Path) -> None:
    """``curves.json``, ``curves.csv`` and ``learn.png`` (accuracy and PSNR against minutes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (out / "curves.json").write_text(json.dumps(result, indent=2))
    with (out / "curves.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(result["curves"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=100)
    for variant in dict.fromkeys(r["variant"] for r in result["curves"]):
        rs = [r for r in result["curves"] if r["variant"] == variant]
        xs = [r["minutes"] for r in rs]
        line, = ax1.plot(xs, [r["cf_accuracy"] for r in rs], marker="o", label=f"{variant} cf. accuracy")
        if all(r["cf_accuracy_ci95"] is not None for r in rs):   # the 95% band over branch points
            low, high = zip(*(r["cf_accuracy_ci95"] for r in rs))
            ax1.fill_between(xs, low, high, color=line.get_color(), alpha=0.15)
        if rs[0]["probe_follow"] is not None:
            ax1.plot(xs, [r["probe_follow"] for r in rs], marker="x", linestyle=":", color=line.get_color(),
                     label=f"{variant} probe")
        ax2.plot(xs, [r["psnr_mean"] for r in rs], marker="o", color=line.get_color(),
                 label=f"{variant} mean")
        ax2.plot(xs, [r["psnr_h1"] for r in rs], marker="x", linestyle=":", color=line.get_color(),
                 label=f"{variant} h1")
    ax1.axhline(result["chance"], color="grey", linestyle="--", label="chance")
    ax1.set_ylim(0, 1.05)
    ax2.axhline(result["copy_last"]["psnr_mean"], color="grey", linestyle="--", label="copy-last mean")
    ax2.axhline(result["copy_last"]["psnr_h1"], color="grey", linestyle=":", label="copy-last h1")
    for ax, label in ((ax1, "accuracy / follow rate"), (ax2, "PSNR on branch futures (dB)")):
        ax.set_xlabel("training minutes")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    fig.suptitle(f"{result['env']}: time-to-control ({result['n_branches']} branch points)")
    fig.tight_layout()
    fig.savefig(out / "learn.png")
    plt.close(fig)


def cmd_learn(args: argparse.Namespace) -> int:
    settings = {}   # given flags win; --quick fills the others; the rest keep LearnConfig's defaults
    for key, quick in QUICK.items():
        value = getattr(args, key)
        if value is None and args.quick:
            value = quick
        if value is not None:
            settings[key] = value
    lc = LearnConfig(data=str(args.data), out=str(args.out), variants=tuple(args.variants.split(",")),
                     preset=args.preset, overrides=tuple(args.overrides), horizon=args.horizon,
                     context_frames=args.context_frames, bench_seed=args.seed, suite=args.suite,
                     ode_steps=args.ode_steps, threads=args.threads, **settings)
    run_learn(lc)
    return 0


def register(bench_sub: Any) -> None:
    p = bench_sub.add_parser("learn",
                             help="time-to-control: learning curves of each variant against training minutes",
                             description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="episode store to train on")
    p.add_argument("--out", type=Path, required=True, help="output directory (runs, curves, plot)")
    p.add_argument("--variants", default="text,no-text,action-id",
                   help="comma-separated (default: %(default)s)")
    p.add_argument("--minutes", type=float, default=None, help="training minutes per variant (default 30)")
    p.add_argument("--every", type=float, default=None, help="minutes between snapshots (default 3)")
    p.add_argument("--branches", type=int, default=None, help="fresh branch points (default 64)")
    p.add_argument("--windows", type=int, default=None, help="held-out windows for PSNR (default 32)")
    p.add_argument("--quick", action="store_true",
                   help=f"a few minutes in all: {', '.join(f'{k}={v:g}' for k, v in QUICK.items())}")
    p.add_argument("--preset", default="tiny", help="training preset (default tiny)")
    p.add_argument("--horizon", type=int, default=8, help="future steps scored (default 8)")
    p.add_argument("--context-frames", type=int, default=8,
                   help="real frames before each rollout (default 8)")
    p.add_argument("--seed", type=int, default=1000, help="seed of the branch points' play (default 1000)")
    p.add_argument("--suite", default=None,
                   help="controllability suite, or 'auto' for an ALE game (default: the game's)")
    p.add_argument("--ode-steps", type=int, default=4, help="Euler steps when scoring (default 4)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("overrides", nargs="*", help="training config KEY=VALUE, the same for every variant")
    p.set_defaults(func=cmd_learn)

"""``tv2tv bench train``: training throughput of a preset, MoT against a dense transformer.

Each step is one optimizer step (forward, backward, AdamW) on a fixed batch of synthetic
windows at the preset's sizes, under the precision training would use. The dense baseline is
the same network with ``model.mot=false`` (one tower shared by both modalities: same width,
depth and sequence), so the ratio isolates the cost of routing tokens to two towers. Steps
of the two models alternate, so load on a shared machine hits both alike; the median step
time is reported.

Example:
    $ tv2tv bench train --preset tiny --steps 20
    $ tv2tv bench train --preset small --steps 10 --json bench/train_small.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium
import torch
from rich.console import Console
from rich.table import Table

from tv2tv.config import build_config
from tv2tv.progress import progress_bar
from tv2tv.recorders.store import DatasetMeta, describe_space
from tv2tv.world_model.config import TrainConfig
from tv2tv.world_model.data import EpisodeDataModule, resolve_config, with_words
from tv2tv.world_model.module import WorldModelModule, step_generator
from tv2tv.world_model.sequence import SequenceBatch, collate_sequences
from tv2tv.world_model.synthetic import SYNTHETIC_ENV, synthetic_episodes
from tv2tv.world_model.train import choose_precision


def register(bench: Any) -> None:
    p: argparse.ArgumentParser = bench.add_parser("train", help="training throughput; MoT vs dense step time")
    p.add_argument("--preset", default="tiny", help="config preset or YAML path")
    p.add_argument("--steps", type=int, default=20, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per model first")
    p.add_argument("--frame-size", type=int, default=64, help="square frame size of the synthetic data")
    p.add_argument("--accelerator", default="auto", help="cpu or cuda (auto: cuda if available)")
    p.add_argument("--precision", default=None,
                   help="override the preset's precision (auto: bf16-mixed where fast)")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="config overrides, e.g. data.batch_size=4")
    p.set_defaults(func=run_bench)


def _batch(cfg: TrainConfig, frame_size: int) -> tuple[TrainConfig, SequenceBatch]:
    meta = DatasetMeta(env=SYNTHETIC_ENV, frame_shape=(frame_size, frame_size, 3),
                       action_space=describe_space(gymnasium.spaces.Discrete(3)), texter="synthetic",
                       texter_version="1")
    eps = synthetic_episodes(4, steps=cfg.sequence.window_frames + 8, size=frame_size, seed=0)
    cfg = replace(cfg, data=replace(cfg.data, val_fraction=0.0, path=""))
    dm = EpisodeDataModule(cfg, eps, meta)
    dm.setup("fit")
    assert dm.train_set is not None
    batch = collate_sequences([dm.train_set[i] for i in range(cfg.data.batch_size)])
    return resolve_config(with_words(cfg, dm.words), meta), batch


class _Runner:
    """One model, its optimizer and a timed training step."""

    def __init__(self, cfg: TrainConfig, batch: SequenceBatch, device: torch.device, precision: str) -> None:
        torch.manual_seed(0)
        self.module = WorldModelModule(cfg).to(device)
        self.opt = self.module.configure_optimizers()["optimizer"]
        self.batch, self.device = batch, device
        dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
        self.autocast = torch.autocast(device.type, dtype=dtype) if dtype else nullcontext()
        self.times: list[float] = []
        self.params = sum(p.numel() for p in self.module.model.parameters())

    def step(self, i: int, record: bool) -> None:
        sync = torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)
        sync()
        t0 = time.perf_counter()
        with self.autocast:
            loss, _ = self.module.model_step(self.batch, step_generator(0, i, 0, self.device))
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        sync()
        if record:
            self.times.append(time.perf_counter() - t0)


def measure(cfg: TrainConfig, steps: int = 20, warmup: int = 3, frame_size: int = 64,
            accelerator: str = "auto", precision: str | None = None,
            progress: bool = False) -> dict[str, Any]:
    """Step time, tokens/s and frames/s of the MoT and of the dense baseline (same sizes);
    ``progress``: a bar over the steps (warm-up included), each one step of both models."""
    if steps < 1 or warmup < 0:
        raise ValueError(f"--steps must be >= 1 and --warmup >= 0, got {steps} and {warmup}")
    cuda = accelerator in ("cuda", "gpu") or (accelerator == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if cuda else "cpu")
    prec = choose_precision(precision or cfg.precision, "gpu" if cuda else "cpu")
    cfg, batch = _batch(cfg, frame_size)
    batch = batch.to(device)
    runners = {name: _Runner(replace(cfg, model=replace(cfg.model, mot=mot)), batch, device, prec)
               for name, mot in (("mot", True), ("dense", False))}
    with progress_bar("bench train (steps of both models)", warmup + steps, progress) as advance:
        for i in range(warmup + steps):
            for r in runners.values():
                r.step(i, record=i >= warmup)
            advance(info="warm-up" if i + 1 < warmup else "timed")  # the phase now running
    tokens = int(batch.valid.sum())
    frames = batch.tokens.shape[0] * cfg.sequence.window_frames
    out: dict[str, Any] = {"device": str(device), "precision": prec, "batch": batch.tokens.shape[0],
                           "seq_len": batch.tokens.shape[1], "tokens_per_step": tokens,
                           "frames_per_step": frames, "dim": cfg.model.dim, "depth": cfg.model.depth}
    for name, r in runners.items():
        t = statistics.median(r.times)
        out[name] = {"step_s": t, "tokens_per_s": tokens / t, "frames_per_s": frames / t, "params": r.params}
    out["mot_over_dense"] = out["mot"]["step_s"] / out["dense"]["step_s"]
    return out


def run_bench(args: argparse.Namespace) -> int:
    cfg = build_config(TrainConfig, args.preset, list(args.overrides))
    res = measure(cfg, args.steps, args.warmup, args.frame_size, args.accelerator, args.precision,
                  progress=not args.no_progress)
    table = Table(title=f"training step, preset {args.preset}: "
                        f"batch {res['batch']} x {res['seq_len']} tokens, "
                        f"dim {res['dim']}, depth {res['depth']}, {res['device']}, {res['precision']}")
    for col in ("model", "params", "step (ms)", "tokens/s", "frames/s"):
        table.add_column(col, justify="right")
    for name in ("mot", "dense"):
        r = res[name]
        table.add_row(name, f"{r['params'] / 1e6:.2f}M", f"{1000 * r['step_s']:.1f}",
                      f"{r['tokens_per_s']:,.0f}", f"{r['frames_per_s']:,.1f}")
    console = Console()
    console.print(table)
    console.print(f"MoT / dense step time: [bold]{res['mot_over_dense']:.2f}x[/bold] (goal <= 1.3x)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"preset": args.preset, **res}, indent=2))
    return 0

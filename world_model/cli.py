"""``tv2tv train``: train a TV2TV world model (or a baseline) on an episode store.

Example:
    $ tv2tv train --data data/pong --preset tiny --out runs/pong-tiny --max-minutes 10
    $ tv2tv train --data data/pong --preset tiny --out runs/pong-noText --variant no-text
    $ tv2tv train --resume runs/pong-tiny --max-steps 4000
    $ tv2tv train --data data/pong --preset base --out runs/pong-base --devices 4 --strategy ddp
    $ tv2tv train --data data/pong --preset tiny --out runs/x model.depth=6 optim.lr=3e-4
    $ tv2tv train --data data/pong --preset tiny --out runs/tb --logger tensorboard
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from tv2tv.config import build_config, parse_overrides, preset_names, replace_config
from tv2tv.world_model.config import VARIANTS, TrainConfig
from tv2tv.world_model.logs import LOGGERS


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "train", help="train a world model on an episode store",
        description="Train the TV2TV world model (or a baseline variant) with Lightning. "
                    "Trailing KEY=VALUE arguments override config fields, e.g. model.depth=6.")
    p.add_argument("--data", help="episode store directory (data.path)")
    p.add_argument("--preset", default="tiny",
                   help=f"config preset ({', '.join(preset_names())}) or a YAML path")
    p.add_argument("--out", help="run directory (new), or the run to continue with --resume")
    p.add_argument("--resume", metavar="RUN", help="continue RUN exactly from RUN/checkpoints/last.ckpt")
    p.add_argument("--variant", choices=VARIANTS, help="text (TV2TV), no-text, action-id or plan-first")
    p.add_argument("--max-steps", type=int, help="optimizer steps in total (also the cosine horizon)")
    p.add_argument("--max-minutes", type=float, help="stop after this many minutes of training")
    p.add_argument("--seed", type=int, help="seed of the split, windows, noise and initial weights")
    p.add_argument("--workers", type=int, help="DataLoader workers (data.num_workers)")
    p.add_argument("--batch-size", type=int, help="windows per batch and device (data.batch_size)")
    p.add_argument("--accelerator", default="auto", help="cpu, gpu, ... (Lightning)")
    p.add_argument("--devices", default="1", help="devices per node, or 'auto' (Lightning)")
    p.add_argument("--num-nodes", type=int, default=1, help="machines (Lightning multi-node)")
    p.add_argument("--strategy", default="auto", help="auto, ddp, ddp_spawn, fsdp (Lightning)")
    p.add_argument("--precision", help="auto (bf16-mixed where fast), 32-true, bf16-mixed, 16-mixed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    p.add_argument("--logger", choices=LOGGERS, default="csv",
                   help="metrics under RUN/logs/: csv (metrics.csv, the default) "
                        "or tensorboard (event files)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. model.depth=6")
    p.set_defaults(func=run_train)


# Settings a resumed run may change; everything else must stay as the run started.
_RESUMABLE = {"max_steps", "max_minutes", "data.path", "data.num_workers", "precision"}


def _flag_overrides(args: argparse.Namespace) -> list[str]:
    pairs = [("data.path", args.data), ("variant", args.variant), ("max_steps", args.max_steps),
             ("max_minutes", args.max_minutes), ("seed", args.seed), ("data.num_workers", args.workers),
             ("data.batch_size", args.batch_size), ("precision", args.precision)]
    return [f"{k}={v}" for k, v in pairs if v is not None]


def _flatten(d: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        out += _flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"]
    return out


def resolve_cli_config(args: argparse.Namespace) -> tuple[TrainConfig, Path, bool]:
    """The run config, run directory and whether this is a resume."""
    from tv2tv.world_model.train import load_run_config

    overrides = _flag_overrides(args) + list(args.overrides)
    if args.resume:
        run = Path(args.resume)
        if args.out and Path(args.out) != run:
            raise ValueError(f"--out {args.out} differs from --resume {args.resume}; "
                             f"a resumed run stays in place")
        changed = set(_flatten(parse_overrides(overrides))) - _RESUMABLE
        if changed:
            raise ValueError(f"a resumed run keeps its config; cannot change {sorted(changed)} "
                             f"(allowed: {sorted(_RESUMABLE)})")
        return replace_config(load_run_config(run), overrides), run, True
    if not args.out:
        raise ValueError("--out RUN is required for a new run")
    if not args.data and not any(o.startswith("data.path=") for o in args.overrides):
        raise ValueError("--data DIR (an episode store) is required for a new run")
    return build_config(TrainConfig, args.preset, overrides), Path(args.out), False


def run_train(args: argparse.Namespace) -> int:
    from tv2tv.world_model.train import LaunchConfig, train

    cfg, run, resume = resolve_cli_config(args)
    devices: int | str = int(args.devices) if str(args.devices).isdigit() else args.devices
    launch = LaunchConfig(accelerator=args.accelerator, devices=devices, num_nodes=args.num_nodes,
                          strategy=args.strategy, progress=not args.no_progress, logger=args.logger)
    train(cfg, run, launch, resume=resume)
    Console(stderr=True).print(f"[green]trained[/green] {cfg.variant} model: weights in "
                               f"{escape(str(run / 'model.safetensors'))}")
    return 0

"""``tv2tv bench fidelity``: PSNR/SSIM of generated frames against held-out ground truth.

For ``--windows`` evenly spaced windows of held-out episodes (the run's validation split when
``--data`` is its training store, else every episode of ``--data``), the model gets
``context_frames`` real frames with their text, then rolls out ``max(horizons)`` frames. By
default it is given the episode's real text for those frames as interventions (``--text
truth``: the actions that were taken, so the future is determined as far as the game allows);
``--text model`` lets it write its own. The ``h``-step score compares generated frame ``h`` with
real frame ``last + h``, next to the ``copy-last`` baseline (the last context frame). The goal
(issue 4) is to beat copy-last at every horizon.

Example:
    $ tv2tv bench fidelity --ckpt runs/pong-tiny --data data/pong --horizons 1,8 --windows 32
"""

from __future__ import annotations

import argparse
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tv2tv.benchmarks.scorers import frame_psnr, ssim
from tv2tv.envs.runner import episode_prefix
from tv2tv.progress import progress_bar
from tv2tv.types import Episode, TextEvent
from tv2tv.world_model.generate import Generator
from tv2tv.world_model.sampling_args import add_sampling_args, sampling_from_args


@dataclass
class FidelityConfig:
    """Args: horizons: steps ahead to score (1 = the first generated frame). windows: how many
    windows. context_frames: real frames before each rollout (``None``: the training window
    minus one chunk). text: ``truth`` (real text as interventions) or ``model``. seed: rollouts."""

    horizons: tuple[int, ...] = (1, 8)
    windows: int = 32
    context_frames: int | None = None
    text: Literal["truth", "model"] = "truth"
    seed: int = 0

    def validate(self) -> None:
        if not self.horizons or min(self.horizons) < 1:
            raise ValueError(f"horizons must be >= 1, got {list(self.horizons)}")
        if self.windows < 1:
            raise ValueError(f"windows must be >= 1, got {self.windows}")
        if self.text not in ("truth", "model"):
            raise ValueError(f"text must be 'truth' or 'model', got {self.text!r}")


def held_out_episodes(gen: Generator, data: str | Path) -> tuple[list[Episode], str]:
    """Episodes to score and which split they are; a store of another game or frame size than
    the model's is refused (``Generator.check_data``)."""
    from tv2tv.recorders.store import EpisodeStore

    store = EpisodeStore.open(data)
    gen.check_data(store.meta, f"store {data}")
    train_path = gen.cfg.data.path
    if train_path and Path(train_path).resolve() == Path(data).resolve():
        from tv2tv.world_model.data import split_episodes

        _, val = split_episodes(len(store), gen.cfg.data.val_fraction, gen.cfg.seed)
        if val:
            return [store.load(i) for i in val], "validation split"
        warnings.warn(f"{data} is the training store and has no validation split: scoring training "
                      f"episodes", stacklevel=2)
        return list(store), "training episodes (no split)"
    return list(store), "all episodes"


def pick_windows(episodes: list[Episode], n: int, context: int, horizon: int) -> list[tuple[int, int]]:
    """Up to ``n`` evenly spaced ``(episode, last context frame)`` pairs with ``horizon`` frames after."""
    pairs = [(i, s) for i, ep in enumerate(episodes) for s in range(context - 1, ep.num_steps - horizon + 1)]
    if not pairs:
        raise ValueError(f"no held-out episode has {context} context + {horizon} future frames")
    idx = np.unique(np.linspace(0, len(pairs) - 1, min(n, len(pairs))).round().astype(int))
    return [pairs[i] for i in idx]


def future_text(ep: Episode, last: int, horizon: int) -> list[TextEvent]:
    """The episode's text for frames ``last+1 .. last+horizon`` at rollout frames ``0 ..``."""
    return [TextEvent(e.frame - last - 1, e.text, "intervention") for e in ep.text_events
            if last < e.frame <= last + horizon]


def evaluate(gen: Generator, episodes: list[Episode], fc: FidelityConfig,
             progress: bool = False) -> dict[str, Any]:
    """Mean PSNR/SSIM per horizon of the model and of copy-last (``progress``: a bar over windows)."""
    fc.validate()
    f = gen.frames_per_chunk
    context = fc.context_frames or max(f, gen.cfg.sequence.window_frames - f)
    horizon = max(fc.horizons)
    wins = pick_windows(episodes, fc.windows, context, horizon)
    scores: dict[str, list[list[float]]] = {k: [] for k in ("model_psnr", "copy_psnr",
                                                            "model_ssim", "copy_ssim")}
    with progress_bar("rollouts", len(wins), progress) as advance:
        for w, (i, last) in enumerate(wins):
            ep = episodes[i]
            texts = future_text(ep, last, horizon) if fc.text == "truth" and gen.variant.reads_text else []
            # An action-id model is given the real actions, as a text model is given the real text.
            acts = ep.actions[last:last + horizon] if gen.variant.takes_actions else None
            out = gen.generate(episode_prefix(ep, last, context), horizon, texts, seed=fc.seed + w,
                               actions=acts)
            hs = [h - 1 for h in fc.horizons]
            pred, truth = out.frames[0][hs], ep.frames[[last + h for h in fc.horizons]]
            copy = np.repeat(ep.frames[last][None], len(hs), axis=0)
            scores["model_psnr"].append(frame_psnr(pred, truth).tolist())
            scores["copy_psnr"].append(frame_psnr(copy, truth).tolist())
            scores["model_ssim"].append(ssim(pred, truth).tolist())
            scores["copy_ssim"].append(ssim(copy, truth).tolist())
            advance()
    means = {k: np.asarray(v).mean(0).tolist() for k, v in scores.items()}
    per_h = [{"horizon": h, **{k: means[k][j] for k in means},
              "beats_copy_last": means["model_psnr"][j] > means["copy_psnr"][j]}
             for j, h in enumerate(fc.horizons)]
    return {"windows": len(wins), "context_frames": context, "text": fc.text, "horizons": per_h}


def _table(r: dict[str, Any], title: str) -> Table:
    t = Table(title=escape(title))
    for col in ("horizon", "model PSNR", "copy-last PSNR", "model SSIM", "copy-last SSIM"):
        t.add_column(col, justify="right")
    for row in r["horizons"]:
        ok = "green" if row["beats_copy_last"] else "red"
        t.add_row(str(row["horizon"]), f"[{ok}]{row['model_psnr']:.2f}[/{ok}]", f"{row['copy_psnr']:.2f}",
                  f"{row['model_ssim']:.3f}", f"{row['copy_ssim']:.3f}")
    return t


def parse_horizons(text: str) -> tuple[int, ...]:
    """``"1,8"`` -> ``(1, 8)``."""
    try:
        hs = tuple(sorted({int(x) for x in str(text).split(",") if x.strip()}))
    except ValueError:
        raise ValueError(f"--horizons must be comma-separated integers like 1,8, got {text!r}") from None
    if not hs or hs[0] < 1:
        raise ValueError(f"--horizons must be integers >= 1, got {text!r}")
    return hs


def cmd_fidelity(args: argparse.Namespace) -> int:
    fc = FidelityConfig(parse_horizons(args.horizons), args.windows, args.context_frames, args.text,
                        args.seed)
    fc.validate()
    gen = Generator.from_run(args.ckpt, sampling_from_args(args))
    episodes, split = held_out_episodes(gen, args.data)
    result = evaluate(gen, episodes, fc, progress=True)
    result.update({"ckpt": str(args.ckpt), "data": str(args.data), "split": split,
                   "ode_steps": args.ode_steps, "method": args.method})
    Console().print(_table(result, f"fidelity: {Path(args.ckpt).name} on {split} of {args.data}, "
                                   f"{result['windows']} windows, text {fc.text}"))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def register(bench_sub: Any) -> None:
    """Add ``tv2tv bench fidelity``."""
    p = bench_sub.add_parser("fidelity", help="PSNR/SSIM of rollouts vs held-out frames and copy-last")
    p.add_argument("--ckpt", required=True, metavar="RUN", help="a trained run directory")
    p.add_argument("--data", required=True, metavar="DIR", help="episode store with the ground truth")
    p.add_argument("--horizons", default="1,8", help="steps ahead to score (default 1,8)")
    p.add_argument("--windows", type=int, default=32, help="windows to score (default 32)")
    p.add_argument("--context-frames", type=int,
                   help="real frames before each rollout (default: window - chunk)")
    p.add_argument("--text", choices=("truth", "model"), default="truth", help="real text or the model's own")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    add_sampling_args(p)
    p.set_defaults(func=cmd_fidelity)

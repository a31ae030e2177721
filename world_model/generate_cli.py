"""``tv2tv generate``: roll a trained world model out from real context, with interventions.

Writes ``OUT.mp4`` (the generated frames; the model's text under them in amber, the user's in
red with a red border) and ``OUT.json`` (the transcript: every text segment, its frame and who
wrote it). With ``--batch B > 1`` element b > 0 goes to ``OUT-b.mp4``; the JSON holds all.

Example:
    $ tv2tv generate --ckpt runs/pong-tiny --context data/pong:0:16 --frames 64 \\
          --interventions "8: move paddle up; 24: move paddle down" --seed 1 --out pong.mp4
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tv2tv.world_model.sampling_args import add_sampling_args, sampling_from_args


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "generate", help="roll out a world model from real context (with text interventions)",
        description="Generate frames and text from a trained world model, starting from real context; "
                    "interventions replace the model's own text at given frames.")
    p.add_argument("--ckpt", required=True, metavar="RUN",
                   help="run directory (model.safetensors + config.json)")
    p.add_argument("--context", required=True, metavar="DATA[:EPISODE[:FRAME]]",
                   help="episode store, episode index and last context frame")
    p.add_argument("--context-frames", type=int, default=8, help="context frames ending at FRAME")
    p.add_argument("--frames", type=int, required=True, metavar="N", help="frames to generate")
    p.add_argument("--interventions", metavar="SCRIPT",
                   help="'8: move paddle up; 16: move paddle down', or a .yaml/.json/.txt file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=1, help="rollouts in parallel (seeded (seed, b))")
    p.add_argument("--out", required=True, metavar="OUT.mp4",
                   help="video path; the transcript goes to OUT.json")
    p.add_argument("--fps", type=float, help="video rate (default: the data's fps)")
    p.add_argument("--scale", type=int, default=4, help="video upscaling")
    p.add_argument("--device", default="cpu")
    add_sampling_args(p)
    p.set_defaults(func=run_generate)


def warn_unknown_phrases(events: list[Any], gen: Any, context: Any) -> None:
    """Warn about intervention phrases that neither the game's texter nor the context wrote
    (``interventions.unknown_phrases``); nothing is checked for a game whose texter cannot be built."""
    import warnings

    from tv2tv.world_model.interventions import unknown_phrases
    from tv2tv.world_model.texters import texter_for

    if not events or gen.meta is None or not gen.variant.reads_text:
        return
    try:
        phrases = list(texter_for(gen.meta).action_phrases())
    except (ValueError, ImportError):  # no texter from the game alone (crafter, minerl), or not installed
        return
    phrases += [e.text for e in context.text_events]
    for message in unknown_phrases(events, phrases, gen.cfg.sequence.text_separator):
        warnings.warn(message, stacklevel=2)


def run_generate(args: argparse.Namespace) -> int:
    from tv2tv.paths import check_output_path
    from tv2tv.recorders.video import write_video
    from tv2tv.world_model.generate import Generator, load_context
    from tv2tv.world_model.interventions import parse_script, save_transcripts

    out = check_output_path(args.out, "--out")
    if out.suffix.lower() == ".json":
        raise ValueError(f"--out {out} must be a video path (.mp4); the transcript is written next to it")
    if not Path(args.ckpt).is_dir():
        raise FileNotFoundError(f"--ckpt {args.ckpt} is not a run directory")
    events = parse_script(args.interventions) if args.interventions else []
    gen = Generator.from_run(args.ckpt, sampling_from_args(args), device=args.device)
    context = load_context(args.context, args.context_frames, model=gen)
    warn_unknown_phrases(events, gen, context)
    columns = (TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("generate", total=args.frames)
        rollout = gen.generate(context, args.frames, events, seed=args.seed, batch=args.batch,
                               progress=lambda n: bar.update(task, completed=n))
    fps = args.fps or gen.meta.fps
    for b, transcript in enumerate(rollout.transcripts):
        path = out if b == 0 else out.with_name(f"{out.stem}-{b}{out.suffix}")
        shown = [e.to_event() for e in transcript if e.frame >= 0]
        write_video(path, rollout.frames[b], shown, fps=fps, scale=args.scale)
    info = {"ckpt": str(args.ckpt), "context": args.context, "frames": args.frames, "seed": args.seed,
            "interventions": [{"frame": e.frame, "text": e.text} for e in events],
            "sampling": vars(gen.sampling)}
    save_transcripts(out.with_suffix(".json"), rollout.transcripts, info)
    Console(stderr=True).print(f"[green]wrote[/green] {escape(str(out))} "
                               f"and {escape(str(out.with_suffix('.json')))}")
    return 0

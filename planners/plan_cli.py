"""``tv2tv plan``: a text planner plays the real game; compared with random and scripted players.

Writes ``OUT/results.json`` (per-episode returns and game counts for the planner and the
baselines, planning latency), ``OUT/report.md`` and ``OUT/videos/*.mp4`` (the model's
imagination of each executed plan beside the real game), and prints a table.

Example:
    $ tv2tv plan --ckpt runs/pong-tiny --env ALE/Pong-v5 --planner search --candidates 12 \\
          --horizon 8 --replan-every 4 --episodes 3 --max-steps 400 --out runs/plan-pong
    $ tv2tv plan --env ALE/Pong-v5 --planner scripted --script "0: move paddle up; 20: move paddle down" \\
          --period 40 --episodes 1 --out runs/plan-script
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tv2tv.world_model.sampling_args import add_sampling_args, sampling_from_args

PLANNERS = ("scripted", "model", "search")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "plan", help="plan in text with a world model and act in the real game",
        description="Run a planner (scripted text, the model's own text, or search over imagined text "
                    "plans) in the real game, against a random and the scripted collection policy.")
    p.add_argument("--ckpt", metavar="RUN", help="world-model run directory (needed by model and search)")
    p.add_argument("--env", required=True, help="the real game, e.g. ALE/Pong-v5")
    p.add_argument("--planner", required=True, metavar="|".join(PLANNERS), help="which planner")
    p.add_argument("--script", help="scripted: '0: move paddle up; 20: move paddle down' or a file")
    p.add_argument("--period", type=int, help="scripted: repeat the script every this many steps")
    p.add_argument("--objective", default="reward", metavar="reward|goal|track",
                   help="search: reward captions the model writes, distance to --goal, or (Pong) the "
                        "imagined paddle kept level with the ball's path seen in the real frames")
    p.add_argument("--goal", metavar="IMAGE", help="goal frame image for --objective goal")
    p.add_argument("--candidates", type=int, default=12, help="search: candidate plans per decision")
    p.add_argument("--sampled", action="store_true",
                   help="search: candidates sampled from the model's own text")
    p.add_argument("--horizon", type=int, default=8, help="imagined frames per plan")
    p.add_argument("--replan-every", type=int, help="real steps between decisions")
    p.add_argument("--episodes", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=500, help="steps per episode")
    p.add_argument("--context-frames", type=int, default=4, help="real frames the planner sees")
    p.add_argument("--baselines", default="random,scripted",
                   help="comma list of random, scripted ('' for none)")
    p.add_argument("--videos", type=int, default=1, help="planner episodes written as video")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_sampling_args(p, ode_steps=4, max_text_tokens=24)
    p.set_defaults(func=run_plan)


def build_planner(name: str, args: argparse.Namespace, generator: Any) -> tuple[Any, Any]:
    """The planner ``name`` from CLI options, and an imagination for its videos (or ``None``).

    Raises:
        ValueError: an unknown planner name (listing the valid ones) or missing options.
    """
    from tv2tv.benchmarks.probes import probe_game
    from tv2tv.planners.model_planner import GeneratorImagination, ModelPlanner
    from tv2tv.planners.objectives import make_objective
    from tv2tv.planners.scripted import ScriptedPlanner
    from tv2tv.planners.search import ModelCandidates, SearchPlanner

    if name not in PLANNERS:
        raise ValueError(f"unknown planner {name!r}; choose one of {', '.join(PLANNERS)}")
    if name != "scripted" and generator is None:
        raise ValueError(f"the {name} planner needs a world model: pass --ckpt RUN")
    imagine = GeneratorImagination(generator, seed=args.seed) if generator is not None else None
    if name == "scripted":
        if not args.script:
            raise ValueError("the scripted planner needs --script")
        return ScriptedPlanner(args.script, replan_every=args.replan_every or 8, period=args.period), imagine
    if name == "model":
        f = generator.frames_per_chunk
        return ModelPlanner(generator, chunks=-(-args.horizon // f), replan_every=args.replan_every,
                            seed=args.seed), None
    goal = _read_goal(args.goal, generator.meta.frame_shape) if args.goal else None
    objective = make_objective(args.objective, goal=goal, game=probe_game(generator.meta.env))
    candidates = ModelCandidates(imagine, args.candidates) if args.sampled else args.candidates
    return SearchPlanner(imagine, candidates, objective, args.horizon, args.replan_every, args.seed), None


def _read_goal(path: str, shape: tuple[int, int, int]) -> np.ndarray:
    import cv2
    import imageio.v2 as iio

    if not Path(path).is_file():
        raise FileNotFoundError(f"goal image {path} does not exist")
    img = np.asarray(iio.imread(path))[..., :3].astype(np.uint8)
    return cv2.resize(img, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def run_plan(args: argparse.Namespace) -> int:
    from tv2tv.planners.act import game_options, run_planner, summary_rows
    from tv2tv.world_model.generate import Generator

    if args.planner not in PLANNERS:
        raise ValueError(f"unknown planner {args.planner!r}; choose one of {', '.join(PLANNERS)}")
    generator = (Generator.from_run(args.ckpt, sampling_from_args(args), device=args.device)
                 if args.ckpt else None)
    options: dict[str, Any] = {"context_frames": args.context_frames, "videos": args.videos,
                               "baselines": tuple(b for b in args.baselines.split(",") if b)}
    if generator is not None:
        meta = generator.meta
        if meta.env != args.env:
            warnings.warn(f"the model was trained on {meta.env!r}, playing {args.env!r}", stacklevel=1)
        options |= game_options(meta)
    planner, imagine = build_planner(args.planner, args, generator)
    results = run_planner(args.env, planner, args.episodes, args.max_steps, args.seed, args.out,
                          name=args.planner, imagine=imagine, progress=not args.no_progress, **options)
    cols, rows = summary_rows(results)
    table = Table(title=f"{args.planner} planner in {args.env} ({args.episodes} episode(s))")
    for c in cols:
        table.add_column(c, justify="left" if c == "player" else "right", no_wrap=c == "player")
    for r in rows:
        table.add_row(*r)
    console = Console()
    console.print(table)
    lat = results.get("decision_latency_s")
    if lat:
        console.print(f"median {lat['median'] * 1000:.1f} ms per planning decision "
                      f"({lat['decisions']} decisions)")
    console.print(f"[green]wrote[/green] {escape(str(Path(args.out) / 'results.json'))}, report.md, "
                  f"{len(results['videos'])} video(s)")
    return 0

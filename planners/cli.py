"""``tv2tv play``: play a game inside a trained world model with the keyboard.

Example:
    $ tv2tv play --ckpt runs/pong-tiny --context data/pong:0:40 --scale 6 --fps 15
    $ SDL_VIDEODRIVER=dummy tv2tv play --ckpt runs/pong-tiny --max-steps 30 --frames-out play.mp4
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.markup import escape

from tv2tv.world_model.sampling_args import add_sampling_args, sampling_from_args


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "play", help="play inside a world model with the keyboard",
        description="Arrow keys (or WASD) and space are mapped to the game's actions through its "
                    "texter's phrases; Escape quits. Each step generates one chunk of frames.")
    p.add_argument("--ckpt", required=True, metavar="RUN",
                   help="run directory (model.safetensors + config.json)")
    p.add_argument("--context", metavar="DATA[:EPISODE[:FRAME]]",
                   help="where play starts: a store (random context) or one context "
                        "(default: the run's data)")
    p.add_argument("--context-frames", type=int, default=4)
    p.add_argument("--scale", type=int, default=6, help="window pixels per frame pixel")
    p.add_argument("--fps", type=float, default=15.0, help="steps per second at most")
    p.add_argument("--max-steps", type=int, default=1000, help="steps until the game ends")
    p.add_argument("--seed", type=int)
    p.add_argument("--frames-out", metavar="OUT.mp4", help="also write what was shown to a video")
    p.add_argument("--device", default="cpu")
    add_sampling_args(p, ode_steps=4)
    p.set_defaults(func=run_play)


def run_play(args: argparse.Namespace) -> int:
    from tv2tv.planners.play import play_loop, save_play
    from tv2tv.planners.world_model_env import WorldModelEnv

    env = WorldModelEnv(args.ckpt, contexts=args.context, action_mode="action",
                        context_frames=args.context_frames, max_steps=args.max_steps,
                        sampling=sampling_from_args(args), device=args.device)
    result = play_loop(env, scale=args.scale, fps=args.fps, max_steps=args.max_steps, seed=args.seed)
    console = Console(stderr=True)
    console.print(f"played {len(result.actions)} steps, reward {result.reward:g}")
    if args.frames_out and result.frames:
        save_play(result, args.frames_out, fps=args.fps)
        console.print(f"[green]wrote[/green] {escape(str(args.frames_out))}")
    return 0

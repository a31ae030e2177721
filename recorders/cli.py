"""``tv2tv record`` and ``tv2tv data {info,validate,video,...}``.

Example:
    $ tv2tv record ALE/Pong-v5 --episodes 4 --policy pong --out data/pong
    $ tv2tv data info data/pong
    $ tv2tv data validate data/pong --fix
    $ tv2tv data video data/pong --episode 0 --out pong0.mp4

More ``data`` subcommands come from the modules in ``DATA_COMMAND_MODULES``, each with a
``register_data(data_subparsers)`` function; a module not built yet is left out.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tv2tv.cli import register_commands
from tv2tv.recorders.record import env_for, record
from tv2tv.recorders.store import EpisodeStore
from tv2tv.recorders.validate import fix, metadata_suspects, validate
from tv2tv.recorders.video import write_video

DATA_COMMAND_MODULES = (
    "tv2tv.recorders.minerl_import",  # import-minerl
    "tv2tv.recorders.minari_io",  # import-minari, export-minari
    "tv2tv.recorders.csgo_import",  # import-csgo
)


def register(sub: Any) -> None:
    """Add ``record`` and ``data`` to the ``tv2tv`` subcommands."""
    _register_record(sub)
    data = sub.add_parser("data", help="inspect, check and view episode stores")
    data_sub = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)
    p = data_sub.add_parser("info", help="episodes, steps, text, actions and returns of a store")
    p.add_argument("dir", type=Path, help="store directory")
    p.set_defaults(func=cmd_info)
    p = data_sub.add_parser("validate", help="check every episode file against dataset.json")
    p.add_argument("dir", type=Path, help="store directory")
    p.add_argument("--fix", action="store_true",
                   help="delete stale temp files and move bad episodes to <dir>/rejected/ (refused, exit 2, "
                        "when most episodes disagree with dataset.json: then it is the suspect)")
    p.set_defaults(func=cmd_validate)
    p = data_sub.add_parser("video", help="write one episode with its text as a video")
    p.add_argument("dir", type=Path, help="store directory")
    p.add_argument("--episode", type=int, default=0, help="episode index (as listed by info)")
    p.add_argument("--out", type=Path, required=True, help="video file, e.g. episode.mp4")
    p.add_argument("--fps", type=float, default=None, help="default: the store's fps")
    p.add_argument("--scale", type=int, default=4, help="upscaling factor (default 4)")
    p.set_defaults(func=cmd_video)
    register_commands(data_sub, DATA_COMMAND_MODULES, "register_data")


def _register_record(sub: Any) -> None:
    p = sub.add_parser("record", help="record episodes of a game into an episode store")
    p.add_argument("env", help="env name, e.g. ALE/Pong-v5 or crafter")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--steps", type=int, help="total steps (episodes cut by the budget are "
                        "written marked truncated)")
    budget.add_argument("--episodes", type=int, help="number of whole episodes")
    p.add_argument("--policy", default="sticky", help="collection policy (default: sticky)")
    p.add_argument("--out", type=Path, required=True, help="store directory (new or compatible)")
    p.add_argument("--frame-size", type=int, default=64, help="square frame side (default 64)")
    p.add_argument("--frameskip", type=int, default=4, help="emulator frames per step (default 4)")
    p.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    p.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    p.add_argument("--max-episode-steps", type=int, default=None, help="truncate longer episodes")
    p.add_argument("--text-every", type=int, default=None,
                   help="repeat an unchanged action phrase every N steps (texter default: 8)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_record)


def cmd_record(args: argparse.Namespace) -> int:
    env_kwargs = {} if args.text_every is None else {"text_every": args.text_every}
    s = record(args.env, args.out, steps=args.steps, episodes=args.episodes, policy=args.policy,
               frame_size=args.frame_size, frameskip=args.frameskip, seed=args.seed,
               workers=args.workers, max_episode_steps=args.max_episode_steps,
               progress=not args.no_progress, **env_kwargs)
    cut = f" ({s.truncated_by_budget} cut by --steps, marked truncated)" if s.truncated_by_budget else ""
    Console().print(f"wrote {s.episodes} episodes{cut}, {s.steps} steps in {s.seconds:.1f} s "
                    f"({s.steps_per_s:,.0f} steps/s) to {escape(str(s.out))}; the store holds "
                    f"{s.store_episodes} episodes")
    return 0


# -- data info -------------------------------------------------------------------------------
def _action_names(store: EpisodeStore) -> Any:
    """``action -> phrase`` from the game's texter, or ``None`` when the game cannot be built."""
    from tv2tv.envs import get_texter

    try:
        env = env_for(store.meta)
    except (ValueError, ImportError, ModuleNotFoundError):
        return None
    try:
        return get_texter(env).action_text
    finally:
        env.close()


def store_stats(store: EpisodeStore) -> dict[str, Any]:
    """Counts and distributions over every episode of ``store`` (loads each episode once)."""
    lengths, returns, sources, actions, disk = [], [], Counter(), Counter(), 0
    for path in store.episode_paths():
        ep = store.load(path)
        disk += path.stat().st_size
        lengths.append(ep.num_steps)
        returns.append(float(np.sum(ep.rewards)))
        sources.update(e.source for e in ep.text_events)
        if ep.actions.ndim == 1:
            actions.update(ep.actions.tolist())
    return {"lengths": np.asarray(lengths), "returns": np.asarray(returns), "sources": sources,
            "actions": actions, "disk": disk}


def _fmt_stats(x: np.ndarray) -> str:
    if x.size == 0:
        return "-"
    return f"mean {x.mean():.2f}  std {x.std():.2f}  min {x.min():.2f}  max {x.max():.2f}"


def cmd_info(args: argparse.Namespace) -> int:
    store = EpisodeStore.open(args.dir)
    meta, stats = store.meta, store_stats(store)
    lengths = stats["lengths"]
    table = Table(title=escape(f"{args.dir}  ({meta.env})"), show_header=False)
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("episodes", f"{len(lengths)}"),
        ("steps", f"{int(lengths.sum())}"),
        ("frames", f"{int(lengths.sum()) + len(lengths)} of {tuple(meta.frame_shape)}"),
        ("episode length", _fmt_stats(lengths.astype(float))),
        ("return", _fmt_stats(stats["returns"])),
        ("text events", ", ".join(f"{s}: {n}" for s, n in sorted(stats["sources"].items())) or "-"),
        ("texter", f"{meta.texter} v{meta.texter_version}"),
        ("frameskip / fps", f"{meta.frameskip} / {meta.fps:g}"),
        ("disk", f"{stats['disk'] / 1e6:.2f} MB"),
    ]
    for row in rows:
        table.add_row(*row)
    console = Console()
    console.print(table)
    if stats["actions"]:
        console.print(_action_table(stats["actions"], _action_names(store)))
    return 0


def _action_table(counts: Counter, names: Any) -> Table:
    table = Table(title="actions")
    for col in ("action", "text", "count", "share"):
        table.add_column(col, justify="right" if col in ("count", "share") else "left")
    total = sum(counts.values())
    for action, n in sorted(counts.items()):
        text = names(action) if names is not None else "(game not available)"
        table.add_row(str(action), text, str(n), f"{100 * n / total:.1f}%")
    return table


# -- data validate / video -------------------------------------------------------------------
def cmd_validate(args: argparse.Namespace) -> int:
    store = EpisodeStore.open(args.dir)
    problems = validate(store)
    console = Console(highlight=False)
    where = escape(str(args.dir))
    if not problems:
        console.print(f"[green]ok[/green]: {len(store)} episodes in {where} are valid")
        return 0
    for p in problems:
        console.print(f"[red]problem[/red] {escape(str(p))}")
    console.print(f"{len(problems)} problems in {where}")
    if args.fix:
        for line in fix(store, problems):  # raises, moving nothing, when dataset.json is the suspect
            console.print(f"[yellow]fixed[/yellow] {escape(line)}")
    else:
        for line in metadata_suspects(store, problems):
            console.print(f"[yellow]note[/yellow] {escape(line)}: dataset.json is the suspect, not the "
                          f"episodes (--fix would refuse to move them)")
    return 1


def cmd_video(args: argparse.Namespace) -> int:
    store = EpisodeStore.open(args.dir)
    if not 0 <= args.episode < len(store):
        raise ValueError(f"--episode must be in 0..{len(store) - 1} for {args.dir}, got {args.episode}")
    ep = store.load(args.episode)
    fps = args.fps if args.fps is not None else store.meta.fps
    path = write_video(args.out, ep.frames, ep.text_events, fps=fps, scale=args.scale)
    Console().print(f"wrote {escape(str(path))} ({len(ep.frames)} frames, {len(ep.text_events)} text events)")
    return 0

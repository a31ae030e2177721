"""``tv2tv envs``: the games tv2tv can build, by family (what ``make_env`` and ``record`` accept).

Example:
    $ tv2tv envs
    $ tv2tv envs --family atari
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.markup import escape


def register(sub: Any) -> None:
    """Add ``tv2tv envs``."""
    p: argparse.ArgumentParser = sub.add_parser(
        "envs", help="list the games (env names) tv2tv supports",
        description="List every env name tv2tv can record and benchmark, by game family. Optional "
                    "families (crafter, minerl) are listed only when their package is installed.")
    p.add_argument("--family", help="only this family (e.g. atari, crafter, minerl)")
    p.set_defaults(func=cmd_envs)


def cmd_envs(args: argparse.Namespace) -> int:
    from tv2tv.envs.registry import families

    found = {fam.family: sorted(fam.names()) for fam in families()}
    if args.family is not None and args.family not in found:
        raise ValueError(f"unknown env family {args.family!r}; "
                         f"installed families: {', '.join(sorted(found))}")
    console = Console(highlight=False, soft_wrap=True)
    for family, names in found.items():
        if args.family in (None, family):
            console.print(f"[bold]{escape(family)}[/bold] ({len(names)}): {escape(', '.join(names))}")
    return 0

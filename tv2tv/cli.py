"""The ``tv2tv`` command line: one entry point, one subcommand per job.

Each subpackage owns its subcommands in its own ``cli.py`` with a ``register(subparsers)``
function; this module only assembles them, so adding a job never touches another's code.
Subcommand handlers take the parsed ``argparse.Namespace`` and return an exit code.

Example:
    $ tv2tv record ALE/Pong-v5 --episodes 4 --policy pong --out data/pong
    $ tv2tv data info data/pong
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from tv2tv import __version__

# Modules with a ``register(subparsers)`` function, in help order.
COMMAND_MODULES = (
    "tv2tv.recorders.cli",     # record, data
    "tv2tv.world_model.cli",   # train
    "tv2tv.world_model.generate_cli",  # generate
    "tv2tv.planners.cli",      # play
    "tv2tv.planners.plan_cli",  # plan
    "tv2tv.benchmarks.cli",    # bench
    "tv2tv.apps.quickstart",   # quickstart
    "tv2tv.envs.cli",          # envs
)


def register_commands(sub: Any, modules: tuple[str, ...], function: str = "register") -> None:
    """Import each module and call its ``function(sub)`` to add its subcommands to ``sub``."""
    for name in modules:
        getattr(importlib.import_module(name), function)(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tv2tv", description="Game world models that think in words, then act in pixels.")
    parser.add_argument("--version", action="version", version=f"tv2tv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register_commands(sub, COMMAND_MODULES)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]")
        return 130
    except (ValueError, TypeError, OSError) as exc:
        # Library code raises ValueError/TypeError naming the bad value (docs/design.md, Style):
        # the message is the whole story for a user, a traceback only hides it. An OSError
        # naming a file (no space, no permission, a name too long) is about the user's files;
        # any other is a bug and keeps its traceback.
        if isinstance(exc, TypeError) and not str(exc):
            raise
        message = str(exc)
        if isinstance(exc, OSError) and not isinstance(exc, (FileNotFoundError, FileExistsError)):
            if exc.filename is None:
                raise
            message = f"{exc.strerror or exc}: {exc.filename}"
        # One line (no wrapping), markup escaped: a path may hold "[".
        console.print(f"[bold red]error:[/bold red] {escape(message)}", soft_wrap=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())

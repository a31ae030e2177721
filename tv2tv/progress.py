"""``progress_bar``: the one progress bar of every long tv2tv command.

A rich bar on stderr showing the description, done/total, elapsed and remaining time, and an
optional info text (``"1200 steps, 3 kills"``). It is cleared when the block ends (the command
then prints its result). When disabled (``--no-progress``) or when the console is not a terminal
(a pipe, a file, a test's captured stderr) it draws nothing at all, so logs and tests stay clean.

Example:
    >>> with progress_bar("importing files", total=3) as advance:
    ...     for name in ("a", "b", "c"):
    ...         advance(info=f"last: {name}")
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tv2tv.config import check_int


class Advance(Protocol):
    """What ``progress_bar`` yields: ``advance(n=1, info=None)`` moves the bar ``n`` units on and,
    given ``info``, replaces the info text (plain text: rich markup in it is shown as is)."""

    def __call__(self, n: int = 1, info: str | None = None) -> None: ...


def _no_op(n: int = 1, info: str | None = None) -> None:
    pass


@contextmanager
def progress_bar(description: str, total: int | None, enabled: bool = True,
                 console: Console | None = None) -> Iterator[Advance]:
    """A progress bar over ``total`` units (``None``: unknown) for the ``with`` block.

    Args:
        description: what is counted, e.g. ``"recording ALE/Pong-v5 (episodes)"``.
        total: units of work (episodes, files, steps); ``None`` shows a pulsing bar.
        enabled: ``False`` (``--no-progress``) draws nothing.
        console: where to draw (default: a stderr console); nothing is drawn unless it is a
            terminal.

    Yields:
        ``advance(n=1, info=None)`` (see ``Advance``). The bar is stopped and cleared when the
        block ends, also when it raises.

    Raises:
        ValueError: ``total`` is negative or not an int.

    Example:
        >>> with progress_bar("rollouts", total=2, enabled=False) as advance:
        ...     advance()
        ...     advance(info="done")
    """
    if total is not None:
        check_int("total", total, 0)
    console = console or Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield _no_op
        return
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                   TextColumn("{task.fields[info]}"), console=console, transient=True,
                   refresh_per_second=4)
    task = bar.add_task(escape(description), total=total, info="")

    def advance(n: int = 1, info: str | None = None) -> None:
        if info is None:
            bar.advance(task, n)
        else:
            bar.update(task, advance=n, info=escape(info))

    with bar:
        yield advance

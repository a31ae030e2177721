"""The one progress bar: it counts, draws nothing when disabled or piped, and always stops."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from tv2tv.progress import progress_bar

SHOW_CURSOR, ERASE_LINE = "\x1b[?25h", "\x1b[2K"  # what a stopping bar writes last (it is transient)


def stopped(console: Console, text: str) -> bool:
    """The bar was stopped: the console is free, the cursor shown again and the bar erased."""
    tail = text[text.rfind(SHOW_CURSOR):]
    return not console._live_stack and SHOW_CURSOR in text and tail.endswith(ERASE_LINE)


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120), out


def test_advance_counts_steps_and_shows_info():
    console, out = terminal()
    with progress_bar("importing [files]", total=5, console=console) as advance:
        advance()
        advance(2)
        advance(info="3 steps, [red]1 kill")
        assert console._live_stack                       # drawing while the block runs
    text = out.getvalue()
    assert "4/5" in text                                  # the final state is drawn before clearing
    assert "importing [files]" in text and "3 steps, [red]1 kill" in text   # markup shown as is
    assert "eta" in text and "0:00:00" in text            # elapsed and remaining time
    assert stopped(console, text)


@pytest.mark.parametrize("enabled, console", [(False, terminal()[0]), (True, Console(file=io.StringIO()))])
def test_disabled_or_not_a_terminal_is_a_no_op(enabled, console):
    with progress_bar("work", total=3, enabled=enabled, console=console) as advance:
        advance()
        advance(2, info="x")
        assert not console._live_stack
    assert console.file.getvalue() == ""


def test_default_console_is_quiet_under_pytest(capsys):
    with progress_bar("work", total=2) as advance:  # captured stderr is not a terminal
        advance()
    assert capsys.readouterr().err == ""


def test_an_exception_inside_still_stops_the_bar():
    console, out = terminal()
    with pytest.raises(KeyError, match="boom"):
        with progress_bar("work", total=3, console=console) as advance:
            advance()
            raise KeyError("boom")
    assert stopped(console, out.getvalue())
    with progress_bar("again", total=1, console=console) as advance:  # the console is free again
        advance()
    assert "1/1" in out.getvalue()


@pytest.mark.parametrize("total", [-1, 2.5, True, "3"])
def test_a_bad_total_is_named(total):
    with pytest.raises(ValueError, match=f"total must be .* got {total!r}"):
        with progress_bar("work", total=total):
            pass


def test_unknown_total_is_allowed():
    console, out = terminal()
    with progress_bar("work", total=None, console=console) as advance:
        advance(3)
    assert "3/?" in out.getvalue()

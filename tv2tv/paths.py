"""Checks on paths a command will write, before it writes anything.

The operating system's own answer to a bad output path comes late (after minutes of work, or
from inside ffmpeg as a broken pipe) and as an ``OSError`` traceback. ``check_output_path``
answers first, with a ``ValueError`` naming the path and what is wrong with it.

Example:
    >>> check_output_path("runs/pong", "--out")           # doctest: +SKIP
    PosixPath('runs/pong')
"""

from __future__ import annotations

import os
from pathlib import Path

_DEFAULT_NAME_MAX = 255
_DEFAULT_PATH_MAX = 4096


def _limit(existing: Path, name: str, default: int) -> int:
    try:
        return int(os.pathconf(existing, name))
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows) or no such limit
        return default


def _nearest_existing(path: Path) -> Path:
    for p in (path, *path.parents):
        try:
            if p.exists():
                return p
        except OSError:  # a name too long to look up: its parent decides the limits
            continue
    return Path(".")


def check_output_path(path: str | os.PathLike[str], what: str = "output") -> Path:
    """``path`` as a ``Path`` if a file or folder can be written there, else ``ValueError``.

    Refused: a name longer than the filesystem allows (usually 255 bytes), a whole path longer
    than the system allows, and a path that runs through an existing file (``file.txt/out``).
    Nothing is created.

    Args:
        path: the file or folder the command will write.
        what: how the command's user named it (``"--out"``), for the message.
    """
    p = Path(path)
    base = _nearest_existing(p.absolute().parent)
    name_max = _limit(base, "PC_NAME_MAX", _DEFAULT_NAME_MAX)
    for part in p.parts:
        if len(os.fsencode(part)) > name_max:
            raise ValueError(f"{what} {str(p)[:80]}...: file name too long (a name of "
                             f"{len(os.fsencode(part))} bytes; this filesystem allows {name_max})")
    path_max = _limit(base, "PC_PATH_MAX", _DEFAULT_PATH_MAX)
    if len(os.fsencode(str(p.absolute()))) >= path_max:
        raise ValueError(f"{what} {str(p)[:80]}...: path too long ({len(os.fsencode(str(p.absolute())))} "
                         f"bytes; this system allows {path_max - 1})")
    for parent in reversed(p.parents):
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"{what} {p}: {parent} is a file, not a directory")
    return p

"""Test-wide settings: property tests draw the same examples on every run (``derandomize``), so
CI is reproducible; ``HYPOTHESIS_PROFILE=explore`` draws fresh random examples to hunt for bugs.
Shared fixtures: ``tree_snapshot`` (what a failed command must leave unchanged)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("default", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


Snapshot = dict[str, "tuple[int, int] | None"]


def _snapshot(root: Path) -> Snapshot:
    """Every path under ``root``: files with (size, mtime), folders with ``None``."""
    out: Snapshot = {}
    for folder, dirs, names in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(folder, d), root)] = None
        for n in names:
            st = os.stat(os.path.join(folder, n))
            out[os.path.relpath(os.path.join(folder, n), root)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def tree_snapshot() -> Callable[[Path], Snapshot]:
    """``tree_snapshot(root)``: every path under ``root`` with its size and mtime (files) or
    ``None`` (folders); equal before and after means nothing was written."""
    return _snapshot

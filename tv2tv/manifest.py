"""What a command wrote under its output directory, so that it deletes only that.

A command that resets outputs it made before (``tv2tv quickstart`` redoes a stage by removing
its folder) keeps ``OUT/manifest.json``: per output path (a folder or a file, relative to
``OUT``), the files it held when the command last finished writing it. Before anything is
claimed, written or removed, ``check`` refuses, naming them, files the command did not write: a
path that exists but was never claimed (a user's store in ``OUT/data``), or a file that appeared
in a claimed path after the command finished with it. A path is claimed (``claim``) before the
command writes into it; while it is being written its contents count as the command's (an
interrupted run resumes or redoes it), and ``record`` lists them once it is done.

Example:
    >>> m = Manifest(Path("runs/quickstart"), "tv2tv quickstart")   # doctest: +SKIP
    >>> m.check(["data", "bench"])                                  # doctest: +SKIP
    >>> m.reset("data")   # claimed, emptied: ready to write        # doctest: +SKIP
    >>> m.record("data")  # written: its files are the command's    # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "tv2tv-manifest"


class ForeignFilesError(ValueError):
    """Output paths hold files the command did not write; nothing was removed."""


class Manifest:
    """``OUT/manifest.json``: the outputs ``owner`` claimed under ``out`` and the files they held."""

    def __init__(self, out: Path, owner: str) -> None:
        self.out, self.owner, self.path = Path(out), owner, Path(out) / MANIFEST_FILE
        self.entries: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ValueError(f"{self.path} is not a readable manifest ({exc}): move it away or use "
                                 f"another output directory") from exc
            if (not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT
                    or data.get("owner") != owner):
                raise ValueError(f"{self.path} was not written by {owner}: move it away or use another "
                                 f"output directory")
            self.entries = dict(data.get("paths") or {})

    def files(self, rel: str) -> list[str]:
        """Files (and links) under ``out/rel``, relative to ``out``; ``[rel]`` for a file."""
        root = self.out / rel
        if root.is_symlink() or root.is_file():
            return [rel]
        found = []
        for folder, dirs, names in os.walk(root):  # does not follow links to folders
            base = Path(folder).relative_to(self.out)
            found += [(base / n).as_posix() for n in names]
            found += [(base / d).as_posix() for d in dirs if (Path(folder) / d).is_symlink()]
        return sorted(found)

    def foreign(self, rel: str) -> list[str]:
        """Files under ``out/rel`` this command did not write (none while it is writing there)."""
        entry = self.entries.get(rel)
        if entry is not None and not entry["complete"]:
            return []
        known = set(entry["files"]) if entry is not None else set()
        return [f for f in self.files(rel) if f not in known]

    def check(self, rels: Iterable[str]) -> None:
        """Raise ``ForeignFilesError``, naming them, if any of ``rels`` holds files not written here."""
        bad = {rel: found for rel in rels if (found := self.foreign(rel))}
        if bad:
            rel, found = next(iter(bad.items()))
            more = f" and {len(found) - 3} more" if len(found) > 3 else ""
            others = f" (also in {', '.join(list(bad)[1:])})" if len(bad) > 1 else ""
            raise ForeignFilesError(
                f"{self.out / rel} holds files {self.owner} did not write "
                f"({', '.join(found[:3])}{more}){others}; "
                f"it removes only its own outputs, so nothing was deleted: move them away or use another "
                f"output directory")

    def claim(self, rel: str) -> Path:
        """Mark ``out/rel`` as being written by this command (after ``check``); returns the path."""
        self.check([rel])
        self.entries[rel] = {"complete": False, "files": self.entries.get(rel, {}).get("files", [])}
        self._save()
        return self.out / rel

    def reset(self, rel: str) -> Path:
        """Claim ``out/rel`` and remove it (all of it was written here); returns the path."""
        path = self.claim(rel)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        return path

    def record(self, rel: str) -> None:
        """``out/rel`` is written: its files now are this command's."""
        self.entries[rel] = {"complete": True, "files": self.files(rel)}
        self._save()

    def _save(self) -> None:
        from tv2tv.recorders.store import atomic_write

        self.out.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"format": MANIFEST_FORMAT, "version": 1, "owner": self.owner,
                           "paths": self.entries}, indent=1, sort_keys=True)
        atomic_write(self.path, lambda f: f.write(text.encode()))

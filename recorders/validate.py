"""``validate(store)``: check every episode file of a store against its ``dataset.json``.

Each episode file is judged by the one checker, ``tv2tv.recorders.episode_file.read_episode_file``
(the same that ``EpisodeStore.load`` uses for ``data info`` and training), so validate and the
readers always agree: a file either loads or is listed here, with what is wrong. It also lists
temp files (writes in progress or left by a crash) and foreign files.

``fix(store, problems)`` repairs what can be repaired without losing data: it deletes stale
temp files and moves bad episode files to ``<store>/rejected/`` (never deletes them, never
overwrites a file already there). When more than half of the episodes disagree with the same
``dataset.json`` field, ``dataset.json`` is the suspect: ``fix`` moves nothing and raises
``StoreError`` naming the field (``metadata_suspects``), since moving every good episode aside
would leave an empty store.

Example:
    >>> problems = validate(EpisodeStore.open("data/pong"))     # doctest: +SKIP
    >>> for p in problems:                                      # doctest: +SKIP
    ...     print(p)
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from tv2tv.recorders.episode_file import Problem, StoreError, read_episode_file
from tv2tv.recorders.store import EPISODE_DIR, META_FILE, EpisodeStore, is_stale_temp

REJECTED_DIR = "rejected"


def validate(store: EpisodeStore) -> list[Problem]:
    """Every problem of ``store``'s files (empty list: the store is sound).

    Example:
        >>> validate(EpisodeStore.open("data/pong"))            # doctest: +SKIP
        []
    """
    problems: list[Problem] = []
    for path in store.episode_paths():
        problems.extend(check_episode_file(store, path))
    for path in store.temp_files():
        state = "stale, left by a crashed writer" if is_stale_temp(path) else "a write in progress?"
        problems.append(Problem(path, "temp-file", f"temporary file ({state})"))
    episode_dir = store.root / EPISODE_DIR
    if episode_dir.is_dir():
        known = set(store.episode_paths()) | set(store.temp_files())
        for path in sorted(episode_dir.iterdir()):
            if path not in known:
                problems.append(Problem(path, "foreign-file", "not an episode file (*.npz)"))
    return problems


def check_episode_file(store: EpisodeStore, path: Path) -> list[Problem]:
    """The problems of one episode file against ``store.meta`` (``read_episode_file``'s)."""
    return read_episode_file(path, store.meta)[1]


def metadata_suspects(store: EpisodeStore, problems: list[Problem]) -> list[str]:
    """One line per ``dataset.json`` field that more than half of the episodes disagree with.

    An edited or wrong ``dataset.json`` (an action count off by one) makes every good episode
    disagree with it in the same way; then the metadata, not the episodes, is what is wrong.
    """
    by_field: dict[str, dict[Path, Problem]] = defaultdict(dict)
    for p in problems:
        if p.field is not None:
            by_field[p.field].setdefault(p.path, p)
    total = len(store.episode_paths())
    return [f"{META_FILE}'s {name} disagrees with {len(eps)} of {total} episodes "
            f"(e.g. {next(iter(eps.values()))})"
            for name, eps in sorted(by_field.items()) if 2 * len(eps) > total]


def fix(store: EpisodeStore, problems: list[Problem]) -> list[str]:
    """Repair ``problems`` where possible; returns one line per action taken.

    Stale temp files are deleted (temp files of live writers are left alone); bad episode files
    are moved to ``<store>/rejected/`` under a name not taken there, so that readers skip them
    but nothing is lost.

    Raises:
        StoreError: most episodes disagree with a ``dataset.json`` field (``metadata_suspects``);
            nothing is moved or deleted then.
    """
    suspects = metadata_suspects(store, problems)
    if suspects:
        raise StoreError(f"{'; '.join(suspects)}: {store.root / META_FILE} is more likely wrong than the "
                         f"episodes, so nothing was moved; correct it (or re-record) and validate again")
    done = []
    rejected = store.root / REJECTED_DIR
    for p in problems:
        if not p.path.exists():
            continue
        if p.kind == "temp-file":
            if is_stale_temp(p.path):
                p.path.unlink(missing_ok=True)
                done.append(f"deleted stale temp file {p.path.name}")
        elif p.kind != "foreign-file":
            rejected.mkdir(exist_ok=True)
            done.append(f"moved {p.path.name} to {_move_aside(p.path, rejected)}")
    return done


def _move_aside(path: Path, folder: Path) -> Path:
    """Move ``path`` into ``folder`` without overwriting: ``name.npz``, else ``name.1.npz``, ..."""
    for k in range(10_000):
        target = folder / (path.name if k == 0 else f"{path.stem}.{k}{path.suffix}")
        try:
            os.link(path, target)  # fails if target exists: no check-then-rename race
        except FileExistsError:
            continue
        except OSError:  # no hard links on this filesystem
            if target.exists():
                continue
            os.rename(path, target)
            return target
        path.unlink()
        return target
    raise StoreError(f"{folder} holds 10,000 files named like {path.name}: clear it out first")

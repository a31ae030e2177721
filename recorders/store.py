"""The episode store, format ``tv2tv-episodes`` version 1 (docs/design.md, "Data model").

A store is a directory::

    dataset.json                 # DatasetMeta: env, frame shape, action space, texter, fps, ...
    episodes/<writer>-<index>.npz

Every file is written to a temporary name in the same directory, flushed, fsynced and renamed,
so a crash loses at most the episode in progress and never leaves a half file. Writer ids are
unique per process (host, pid, time, random), so many processes or machines can append to one
store without coordination. Episode files are read and checked by the one checker,
``tv2tv.recorders.episode_file.read_episode_file`` (nothing is ever unpickled); ``load`` raises its
problems as an ``EpisodeError`` and ``write`` refuses an episode that it would flag.

Temporary files are named ``.tmp-<host>-<pid>-<random>``: a reader ignores them, and a temp file
whose writer is gone (a dead pid on this host, or older than ``STALE_TEMP_AGE_S``) is *stale*.
``EpisodeStore.create`` (the append path) and ``tv2tv data validate --fix`` remove stale ones.
Importers write all or nothing through ``StagedStore`` (a temporary store moved into place).
Episodes are written as ordinary ``.npz`` files deflated by ISA-L at level ``COMPRESS_LEVEL``
(``tv2tv.recorders.npz``: 64x64 Pong frames shrink ~85x, ~15x faster than zlib's level 1).

Example:
    >>> store = EpisodeStore.create("data/pong", meta)          # doctest: +SKIP
    >>> store.write(episode)                                     # doctest: +SKIP
    >>> EpisodeStore.open("data/pong").load(0).num_steps         # doctest: +SKIP
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from tv2tv.paths import check_output_path
from tv2tv.recorders.episode_file import EpisodeError, StoreError, check_arrays, read_episode_file
from tv2tv.recorders.npz import write_npz
from tv2tv.types import Episode

FORMAT = "tv2tv-episodes"
FORMAT_VERSION = 1
META_FILE = "dataset.json"
EPISODE_DIR = "episodes"
_TMP_PREFIX = ".tmp-"
COMPRESS_LEVEL = 1
STALE_TEMP_AGE_S = 3600.0

@dataclass(frozen=True)
class DatasetMeta:
    """What every episode in a store shares. Written once as ``dataset.json``.

    Args:
        env: environment name, e.g. ``"ALE/Pong-v5"``.
        frame_shape: ``(H, W, C)`` of every frame.
        action_space: a JSON description of the action space (``describe_space``).
        texter: texter name; ``texter_version`` its version, so text can be regenerated.
        frameskip: emulator frames per step; ``fps`` the playback rate of stored frames.
        extra: free-form settings that must also match on append (env options such as
            ``text_every``, importer settings). Per-run choices that may differ between appends,
            such as the collection policy, belong in ``Episode.extras`` instead.
    """

    env: str
    frame_shape: tuple[int, int, int]
    action_space: dict[str, Any]
    texter: str
    texter_version: str
    frameskip: int = 1
    fps: float = 15.0
    extra: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["frame_shape"] = list(self.frame_shape)
        return d

    @classmethod
    def from_json(cls, d: Any) -> DatasetMeta:
        """Read ``dataset.json``'s mapping; ``StoreError`` naming a missing or wrongly typed field."""
        if not isinstance(d, dict):
            raise StoreError(f"a {META_FILE} must hold a JSON object, got a {type(d).__name__}")
        if d.get("format") != FORMAT:
            raise StoreError(f"not a {FORMAT} store: format is {d.get('format')!r}")
        if d.get("format_version") != FORMAT_VERSION:
            raise StoreError(
                f"store format version {d.get('format_version')} is not supported "
                f"(this tv2tv reads version {FORMAT_VERSION})"
            )
        for name, (types, what) in _META_FIELD_TYPES.items():
            if name in d and (isinstance(d[name], bool) or not isinstance(d[name], types)):
                raise StoreError(f"field {name!r} must be {what}, "
                                 f"got {type(d[name]).__name__} {d[name]!r:.60}")
        missing = [k for k in ("env", "frame_shape", "action_space", "texter", "texter_version")
                   if k not in d]
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if missing or unknown:
            raise StoreError(f"missing fields {missing}" if missing else f"unknown fields {unknown}")
        shape = d["frame_shape"]
        if len(shape) != 3 or any(isinstance(x, bool) or not isinstance(x, int) or x < 1 for x in shape):
            raise StoreError(f"field 'frame_shape' must be 3 positive integers (H, W, C), got {shape!r:.60}")
        if not isinstance(d["action_space"].get("type"), str):
            raise StoreError(f"field 'action_space' must name its 'type', got {d['action_space']!r:.60}")
        return cls(**{**d, "frame_shape": tuple(shape)})

    def mismatches(self, other: DatasetMeta, keys: Sequence[str] | None = None,
                   labels: tuple[str, str] = ("store has", "new recording has")) -> list[str]:
        """Fields (of ``keys``, default all) where ``other`` differs from this one (empty when
        compatible), each as ``"key: <labels[0]> <mine>, <labels[1]> <other's>"``."""
        a, b = self.to_json(), other.to_json()
        return [f"{k}: {labels[0]} {a[k]!r}, {labels[1]} {b[k]!r}" for k in (keys or a) if a[k] != b[k]]


# dataset.json fields and the JSON types they must have (checked before anything reads them).
_META_FIELD_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "env": ((str,), "a string"), "frame_shape": ((list,), "a list"),
    "action_space": ((dict,), "an object"), "texter": ((str,), "a string"),
    "texter_version": ((str,), "a string"), "frameskip": ((int,), "an integer"),
    "fps": ((int, float), "a number"), "extra": ((dict,), "an object"),
}


def describe_space(space: Any) -> dict[str, Any]:
    """A JSON description of a gymnasium space (Discrete, Box, MultiDiscrete, Dict, Text)."""
    kind = type(space).__name__
    if kind == "Discrete":
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if kind == "MultiDiscrete":
        return {"type": "MultiDiscrete", "nvec": [int(x) for x in np.asarray(space.nvec).ravel()]}
    if kind == "MultiBinary":
        return {"type": "MultiBinary", "n": np.asarray(space.n).tolist()}
    if kind == "Box":
        return {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype),
                "low": float(np.min(space.low)), "high": float(np.max(space.high))}
    if kind == "Dict":
        return {"type": "Dict", "spaces": {k: describe_space(s) for k, s in space.spaces.items()}}
    if kind == "Text":
        return {"type": "Text", "max_length": int(space.max_length)}
    raise TypeError(f"cannot describe action space of type {kind}")


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates files readable by their owner only; stores are often shared, so finished files
# get the usual permissions (0o666 minus the umask read once here, since reading it is racy).
_FILE_MODE = 0o666 & ~_read_umask()


def _host() -> str:
    return "".join(c for c in socket.gethostname() if c.isalnum())[:16] or "host"


def new_writer_id() -> str:
    """A writer id unique across processes and machines (host, pid, time, randomness)."""
    return f"{_host()}{os.getpid()}x{int(time.time())}x{secrets.token_hex(3)}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:  # a killed writer whose parent died too stays a zombie until init reaps it
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (macOS): signal 0 is all we know
        return True


def is_stale_temp(path: Path, max_age_s: float = STALE_TEMP_AGE_S) -> bool:
    """Whether temp file ``path`` was left by a writer that is gone.

    Stale: its pid (from the name) is dead on this host, or it is older than ``max_age_s``
    (other hosts, or names this version did not write).
    """
    parts = path.name[len(_TMP_PREFIX):].split("-")
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:  # its writer renamed it meanwhile
        return False
    if len(parts) >= 3 and parts[0] == _host() and parts[1].isdigit():
        return not _pid_alive(int(parts[1])) or age > max_age_s
    return age > max_age_s


def atomic_write(path: Path, write: Any) -> None:
    """Write a file via a temp file in the same directory, fsync, rename; fsync the directory.

    ``write(fileobj)`` writes the content. On any error the temp file is removed and the
    target is untouched. A full disk raises ``StoreError`` saying so.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{_host()}-{os.getpid()}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), _FILE_MODE)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StoreError(
                f"disk full while writing {path}: nothing was written for this file; "
                f"free space and re-run (finished episodes are kept)"
            ) from exc
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def episode_to_arrays(ep: Episode) -> dict[str, np.ndarray]:
    """The npz fields of an episode (no Python objects, so ``allow_pickle=False`` loads it)."""
    ev = ep.text_events
    arrays = {
        "frames": ep.frames,
        "actions": np.asarray(ep.actions),
        "rewards": np.asarray(ep.rewards, dtype=np.float32),
        "terminated": np.asarray(bool(ep.terminated)),
        "truncated": np.asarray(bool(ep.truncated)),
        "seed": np.asarray(-1 if ep.seed is None else int(ep.seed), dtype=np.int64),
        "env": np.asarray(ep.env),
        "text_frames": np.asarray([e.frame for e in ev], dtype=np.int64),
        "text_strings": np.asarray([e.text for e in ev], dtype=np.str_).reshape(len(ev)),
        "text_sources": np.asarray([e.source for e in ev], dtype=np.str_).reshape(len(ev)),
    }
    for k, v in ep.extras.items():
        arrays[f"extra_{k}"] = np.asarray(v)
        if arrays[f"extra_{k}"].dtype == object:
            raise TypeError(f"Episode.extras[{k!r}] must be numbers, bools or strings (stored "
                            f"without pickle), got {type(v).__name__} {v!r:.60}")
    return arrays


def _mismatch_message(root: Path, diffs: list[str]) -> str:
    return (f"{root} is a store recorded with other settings, so this recording cannot be "
            f"appended to it: {'; '.join(diffs)}. Use another --out directory.")


def _check_empty(root: Path) -> None:
    """Raise unless ``root`` is absent or empty (so a new store may be created there)."""
    if not root.exists():
        return
    if not root.is_dir():
        raise StoreError(f"{root} exists and is not a directory")
    # An empty episodes/ and temp files are what a crash inside ``create`` leaves.
    foreign = sorted(
        p.name for p in root.iterdir()
        if not p.name.startswith(_TMP_PREFIX)
        and not (p.name == EPISODE_DIR and p.is_dir() and not any(p.iterdir())))
    if foreign:
        raise StoreError(f"{root} is not empty and is not a tv2tv store (it holds {foreign[:5]}); "
                         f"choose an empty or new directory")


class EpisodeStore:
    """A directory of episodes sharing one ``DatasetMeta``.

    Use ``EpisodeStore.create`` to start or append to a store (it refuses a directory that
    is a different store or holds foreign files) and ``EpisodeStore.open`` to read one.
    """

    def __init__(self, root: str | os.PathLike[str], meta: DatasetMeta) -> None:
        self.root = Path(root)
        self.meta = meta
        self._writer_id: str | None = None
        self._next_index = 0

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> EpisodeStore:
        """Open an existing store for reading (and appending)."""
        root = Path(root)
        meta_path = root / META_FILE
        if not root.is_dir():
            raise StoreError(f"no store at {root}: the directory does not exist")
        if not meta_path.is_file():
            raise StoreError(f"{root} is not a {FORMAT} store: it has no {META_FILE}")
        try:
            meta = DatasetMeta.from_json(json.loads(meta_path.read_text()))
        except StoreError as exc:
            raise StoreError(f"{meta_path}: {exc}") from None
        except (ValueError, TypeError, KeyError) as exc:  # JSONDecodeError, UnicodeDecodeError
            raise StoreError(f"{meta_path} is corrupted ({exc}); restore it or record anew") from exc
        return cls(root, meta)

    @classmethod
    def create(cls, root: str | os.PathLike[str], meta: DatasetMeta) -> EpisodeStore:
        """Create a store, or open an existing one with the same settings to append to it.

        Appending removes stale temp files left by crashed writers.

        Raises:
            StoreError: the directory holds files that are not a tv2tv store, or a store whose
                settings differ from ``meta`` (each differing field is named).
        """
        root = check_output_path(root, "store directory")
        if (root / META_FILE).is_file():
            store = cls.open(root)
            diffs = store.meta.mismatches(meta)
            if diffs:
                raise StoreError(_mismatch_message(root, diffs))
            store.remove_stale_temp_files()
            return store
        _check_empty(root)
        (root / EPISODE_DIR).mkdir(parents=True, exist_ok=True)
        atomic_write(root / META_FILE, lambda f: f.write(
            json.dumps(meta.to_json(), indent=2, sort_keys=True).encode()))
        return cls(root, meta)

    @classmethod
    def check_target(cls, root: str | os.PathLike[str], **expected: Any) -> None:
        """Fail early, before building anything, if ``create(root, meta)`` would fail.

        Only the ``DatasetMeta`` fields given are compared (e.g. ``env``, ``frame_shape``,
        ``frameskip``), since the rest may only be known once an env is built.

        Example:
            >>> EpisodeStore.check_target("data/pong", env="ALE/Pong-v5", frame_shape=(64, 64, 3))
            ... # doctest: +SKIP
        """
        root = check_output_path(root, "store directory")
        if not (root / META_FILE).is_file():
            _check_empty(root)
            return
        have = cls.open(root).meta.to_json()
        want = {k: list(v) if isinstance(v, tuple) else v for k, v in expected.items()}
        diffs = [f"{k}: store has {have.get(k)!r}, new recording has {v!r}"
                 for k, v in want.items() if have.get(k) != v]
        if diffs:
            raise StoreError(_mismatch_message(root, diffs))

    # -- reading ---------------------------------------------------------------------------
    def episode_paths(self) -> list[Path]:
        """Finished episode files, sorted by name (temp files of crashed writers excluded)."""
        d = self.root / EPISODE_DIR
        if not d.is_dir():
            return []
        return sorted(p for p in d.glob("*.npz") if not p.name.startswith(_TMP_PREFIX))

    def __len__(self) -> int:
        return len(self.episode_paths())

    def temp_files(self) -> list[Path]:
        """Temp files in the store (writes in progress, or left by crashed writers)."""
        dirs = [self.root, self.root / EPISODE_DIR]
        return sorted(p for d in dirs if d.is_dir() for p in d.glob(f"{_TMP_PREFIX}*"))

    def remove_stale_temp_files(self, max_age_s: float = STALE_TEMP_AGE_S) -> list[Path]:
        """Delete temp files whose writer is gone (see ``is_stale_temp``); returns them."""
        removed = []
        for p in self.temp_files():
            if is_stale_temp(p, max_age_s):
                p.unlink(missing_ok=True)
                removed.append(p)
        return removed

    def load(self, index_or_path: int | Path) -> Episode:
        """Load one episode by index (into ``episode_paths()``) or by path.

        Raises:
            EpisodeError: the file is corrupted or does not fit ``dataset.json`` (its
                ``problems`` are those ``tv2tv data validate`` lists for it).
        """
        paths = self.episode_paths()
        if isinstance(index_or_path, int):
            if not -len(paths) <= index_or_path < len(paths):
                raise IndexError(f"episode index {index_or_path} out of range (store has {len(paths)})")
            path = paths[index_or_path]
        else:
            path = Path(index_or_path)
        episode, problems = read_episode_file(path, self.meta)
        if episode is None:
            raise EpisodeError(path, problems,
                               f"run `tv2tv data validate {self.root} --fix` to move it aside")
        return episode

    def __iter__(self) -> Iterator[Episode]:
        for p in self.episode_paths():
            yield self.load(p)

    # -- writing ---------------------------------------------------------------------------
    @property
    def writer_id(self) -> str:
        if self._writer_id is None:
            self._writer_id = new_writer_id()
        return self._writer_id

    def check_episode(self, ep: Episode) -> list[str]:
        """Problems of ``ep`` against this store's meta (empty when it fits): what a reader would flag."""
        return [p.message for p in check_arrays(episode_to_arrays(ep), self.meta, Path("episode"))]

    def write(self, ep: Episode) -> Path:
        """Append one episode atomically; returns its path."""
        path = self.root / EPISODE_DIR / f"{self.writer_id}-{self._next_index:06d}.npz"
        arrays = episode_to_arrays(ep)
        problems = check_arrays(arrays, self.meta, path)  # the readers' check: never write what they refuse
        if problems:
            raise StoreError(f"episode does not fit store {self.root}: "
                             f"{'; '.join(p.message for p in problems)}")
        self._next_index += 1
        atomic_write(path, lambda f: write_npz(f, arrays, COMPRESS_LEVEL))
        return path


class StagedStore:
    """All-or-nothing writes to the store ``dst``: the ``with`` block writes episodes into a
    temporary store beside ``dst``, which is put in place only if the block ends without an
    exception. The temporary directory is always removed, so a failed block leaves ``dst`` as it was.

    Putting in place: a new (absent or empty) ``dst`` is the temporary store renamed; an existing
    store is first checked by ``EpisodeStore.create(dst, meta)`` (raising ``StoreError`` naming
    every setting that differs), then the episodes are moved into it. Check ``dst`` before the
    work starts with ``EpisodeStore.check_target`` to fail early.

    Args:
        dst: the store directory (new, empty, or a store with the same settings to append to).

    Example:
        >>> with StagedStore("data/treechop") as staged:               # doctest: +SKIP
        ...     store = staged.create(meta)
        ...     for episode in episodes:
        ...         store.write(episode)
    """

    def __init__(self, dst: str | os.PathLike[str]) -> None:
        self.dst = Path(dst)
        self._tmp: Path | None = None
        self._store: EpisodeStore | None = None

    def __enter__(self) -> StagedStore:
        self.dst.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}import-", dir=self.dst.parent))
        return self

    def create(self, meta: DatasetMeta) -> EpisodeStore:
        """The temporary store with ``meta``, to write episodes into (once per block)."""
        if self._tmp is None or self._store is not None:
            raise RuntimeError("StagedStore.create must be called once, inside its with block")
        self._store = EpisodeStore.create(self._tmp / "store", meta)
        return self._store

    def __exit__(self, exc_type: type[BaseException] | None, *exc: Any) -> None:
        assert self._tmp is not None, "StagedStore exited without entering"
        try:
            if exc_type is None:
                if self._store is None:
                    raise RuntimeError(f"nothing was staged for {self.dst}: "
                                       f"StagedStore.create was never called")
                self._move_into_place(self._store)
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp, self._store = None, None

    def _move_into_place(self, staged: EpisodeStore) -> None:
        dst = self.dst
        if not (dst / META_FILE).is_file():
            if dst.exists():
                dst.rmdir()  # empty (check_target refused a non-empty non-store)
            os.replace(staged.root, dst)
            return
        EpisodeStore.create(dst, staged.meta)  # raises naming every setting that differs
        for p in staged.episode_paths():
            os.replace(p, dst / EPISODE_DIR / p.name)

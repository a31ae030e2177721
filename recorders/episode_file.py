"""The one episode checker: read an episode file and check it against its store's ``dataset.json``.

``read_episode_file(path, meta)`` is the only place an episode file is read and judged: ``tv2tv
data validate`` reports its problems, ``EpisodeStore.load`` (``data info``, training, every reader)
raises them as an ``EpisodeError``, and ``EpisodeStore.write`` runs the same ``check_arrays`` before
writing, so nothing is written that a reader would refuse. Whatever the bytes, the answer is an
``Episode`` equal to what was written, or a list of ``Problem``s naming what is wrong: never an
exception from deep inside ``zipfile``, ``zlib`` or ``numpy``.

Reading checks every member to its end (so its CRC is checked: truncation and bit rot show here),
that each ``.npy`` header declares exactly the bytes its member holds (no allocation from a
corrupted shape), that no member holds Python objects, and that the central directory lists as
many members as its end record says. The checks on the arrays: every field present and none
unknown, frames ``uint8 (T+1, H, W, C)`` with the store's frame shape, actions ``(T, ...)`` of the
action space's shape, kind and range, numeric rewards of length ``T``, bool ``terminated`` and
``truncated``, an integer ``seed``, the store's ``env``, and text events as integer frames in
``0..T`` with strings and a known source.

Example:
    >>> episode, problems = read_episode_file(Path("data/pong/episodes/a-000000.npz"), meta)  # doctest: +SKIP
    >>> [str(p) for p in problems]                                                            # doctest: +SKIP
    []
"""

from __future__ import annotations

import math
import os
import struct
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np

from tv2tv.types import TEXT_SOURCES, Episode, TextEvent


class MetaFields(Protocol):
    """What a file is checked against: the fields of ``recorders.store.DatasetMeta`` read here
    (a protocol, so this module does not import the store that imports it)."""

    env: str
    frame_shape: tuple[int, int, int]
    action_space: dict[str, Any]


EPISODE_KEYS = ("frames", "actions", "rewards", "terminated", "truncated", "seed", "env",
                "text_frames", "text_strings", "text_sources")
EXTRA_PREFIX = "extra_"
_END = struct.Struct("<4s4H2LH")  # the ZIP end-of-central-directory record (no comment: ours have none)
_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
_INTEGER, _NUMBER = "iu", "biuf"  # numpy dtype kinds


class StoreError(ValueError):
    """A store that cannot be used as asked; the message says what to do."""


@dataclass(frozen=True)
class Problem:
    """One problem of one file.

    Args:
        path: the file concerned.
        kind: ``"corrupted"``, ``"fields"``, ``"frames"``, ``"actions"``, ``"rewards"``,
            ``"text"``, ``"env"``, ``"temp-file"`` or ``"foreign-file"``.
        message: what is wrong, naming the bad value.
        field: the ``dataset.json`` field the file disagrees with (``frame_shape``,
            ``action_space``, ``env``), or ``None`` when the file is wrong by itself.
    """

    path: Path
    kind: str
    message: str
    field: str | None = None

    def __str__(self) -> str:
        return f"{self.path.name}: [{self.kind}] {self.message}"


class EpisodeError(StoreError):
    """An episode file that cannot be loaded; ``problems`` says why (as ``validate`` does)."""

    def __init__(self, path: Path, problems: list[Problem], hint: str) -> None:
        self.path, self.problems = path, problems
        what = "; ".join(p.message for p in problems)
        if any(p.kind == "corrupted" for p in problems):
            super().__init__(f"episode file {path} is {what}; {hint}")
        else:
            super().__init__(f"episode file {path} does not fit its store ({what}); {hint}")


class _Corrupt(Exception):
    """Raised inside the reader; becomes a ``corrupted`` problem."""


# -- reading -----------------------------------------------------------------------------------
def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every ``.npy`` member of the ZIP at ``path``, each read to its end (CRC checked).

    Raises whatever the bytes provoke (``zipfile``, ``zlib``, ``numpy`` errors, ``_Corrupt``);
    ``read_episode_file`` turns that into a problem.
    """
    arrays: dict[str, np.ndarray] = {}
    with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
        infos = zf.infolist()
        fh.seek(-_END.size, os.SEEK_END)
        sig, _, _, _, total, _, _, _ = _END.unpack(fh.read(_END.size))
        # A corrupted comment length in the central directory can hide the members after it.
        if sig == b"PK\005\006" and total != 0xFFFF and total != len(infos):
            raise _Corrupt(f"the central directory lists {len(infos)} members, its end record {total}")
        for info in infos:
            key = info.filename.removesuffix(".npy")
            if key == info.filename:
                raise _Corrupt(f"member {info.filename!r} is not a .npy array")
            if key in arrays:
                raise _Corrupt(f"member {info.filename!r} appears twice")
            with zf.open(info) as f:
                arrays[key] = _read_npy(f, info.file_size, info.filename)
    return arrays


def _read_npy(f: BinaryIO, size: int, name: str) -> np.ndarray:
    """One ``.npy`` member of ``size`` bytes; its header must declare exactly those bytes."""
    version = np.lib.format.read_magic(f)
    if version not in _NPY_HEADERS:
        raise _Corrupt(f"{name}: .npy format version {version} is not one tv2tv writes")
    shape, fortran, dtype = _NPY_HEADERS[version](f)
    if dtype.hasobject:
        raise _Corrupt(f"{name} holds Python objects (dtype {dtype}), which are never unpickled")
    count = math.prod(shape)
    nbytes, left = count * dtype.itemsize, size - f.tell()
    if nbytes != left:  # checked before allocating: a corrupted shape must not ask for terabytes
        raise _Corrupt(f"{name}: its header declares {shape} {dtype} ({nbytes} bytes), "
                       f"the member holds {left}")
    flat = np.empty(count, dtype)
    if nbytes and f.readinto(memoryview(flat.view(np.uint8))) != nbytes:
        raise _Corrupt(f"{name} ends early")
    if f.read(1):  # reading to the end makes zipfile compare the CRC
        raise _Corrupt(f"{name} is longer than its header says")
    return flat.reshape(shape, order="F" if fortran else "C")


def read_episode_file(path: Path, meta: MetaFields) -> tuple[Episode | None, list[Problem]]:
    """The episode at ``path`` and its problems against ``meta``: ``(episode, [])`` or ``(None, problems)``.

    Never raises for anything in the file's bytes: each corruption is a ``Problem``.

    Example:
        >>> ep, problems = read_episode_file(store.episode_paths()[0], store.meta)  # doctest: +SKIP
    """
    try:
        arrays = read_npz(path)
    except Exception as exc:  # untrusted bytes: any failure to parse them is this file's corruption
        # (zlib.error, NotImplementedError for an unknown compression method, ValueError, ...)
        return None, [Problem(path, "corrupted", f"corrupted or truncated ({type(exc).__name__}: {exc})")]
    problems = check_arrays(arrays, meta, path)
    if problems:
        return None, problems
    try:
        return arrays_to_episode(arrays), []
    except (ValueError, TypeError) as exc:  # check_arrays should have said; never let it crash a reader
        return None, [Problem(path, "fields", f"not an episode ({exc})")]


# -- checking ----------------------------------------------------------------------------------
def check_arrays(z: Mapping[str, np.ndarray], meta: MetaFields, path: Path) -> list[Problem]:
    """The problems of an episode's arrays (as ``episode_to_arrays`` writes them) against ``meta``."""
    missing = [k for k in EPISODE_KEYS if k not in z]
    unknown = sorted(k for k in z if k not in EPISODE_KEYS and not k.startswith(EXTRA_PREFIX))
    if missing or unknown:
        return [Problem(path, "fields",
                        f"missing fields {missing}" if missing else f"unknown fields {unknown}")]
    out = [Problem(path, "fields", m) for m in _scalar_problems(z)]
    out += [Problem(path, "frames", m, f) for m, f in _frame_problems(z["frames"], meta)]
    frames = z["frames"]
    if frames.ndim == 4 and frames.shape[0] >= 1:
        steps = int(frames.shape[0]) - 1
        out += [Problem(path, "actions", m, f)
                for m, f in _action_problems(z["actions"], steps, meta.action_space)]
        rewards = z["rewards"]
        if rewards.shape != (steps,) or rewards.dtype.kind not in _NUMBER:
            out.append(Problem(path, "rewards", f"rewards {rewards.dtype} {rewards.shape} are not numbers of "
                                                f"shape ({steps},)"))
        out += [Problem(path, "text", m) for m in _text_problems(z, steps)]
    env = z["env"]
    if env.shape == () and env.dtype.kind == "U" and str(env) != meta.env:
        out.append(Problem(path, "env", f"env {str(env)!r} != store's {meta.env!r}", "env"))
    return out


def _scalar_problems(z: Mapping[str, np.ndarray]) -> list[str]:
    want = {"terminated": ("b", "a bool"), "truncated": ("b", "a bool"), "seed": (_INTEGER, "an integer"),
            "env": ("U", "a string")}
    return [f"{k} must be {what}, got {z[k].dtype} of shape {z[k].shape}"
            for k, (kinds, what) in want.items() if z[k].shape != () or z[k].dtype.kind not in kinds]


def _frame_problems(frames: np.ndarray, meta: MetaFields) -> list[tuple[str, str | None]]:
    want = tuple(meta.frame_shape)
    if frames.dtype != np.uint8:
        return [(f"frame dtype {frames.dtype} != uint8", None)]
    if frames.ndim != 4 or frames.shape[0] < 1:
        return [(f"frames shape {frames.shape} is not (T+1, H, W, C)", None)]
    if tuple(frames.shape[1:]) != want:
        return [(f"frame shape {tuple(frames.shape[1:])} != store's {want}", "frame_shape")]
    return []


# (per-step shape, dtype kinds) of the spaces the recorder writes as one array
def _action_layout(space: dict[str, Any]) -> tuple[tuple[int, ...], str] | None:
    kind = space.get("type")
    if kind == "Discrete":
        return (), _INTEGER
    if kind == "Box":
        return tuple(space["shape"]), _NUMBER
    if kind == "MultiDiscrete":
        return (len(space["nvec"]),), _INTEGER
    if kind == "MultiBinary":
        return tuple(np.atleast_1d(space["n"]).tolist()), "biu"
    return None


def _action_problems(actions: np.ndarray, steps: int, space: dict[str, Any]) -> list[tuple[str, str | None]]:
    if actions.ndim == 0 or len(actions) != steps:
        return [(f"{len(actions) if actions.ndim else 'no'} actions for {steps} steps", None)]
    kind, layout = space.get("type"), _action_layout(space)
    if layout is None:  # spaces the recorder does not write as one array (e.g. Dict): only the length
        return []
    per_step, kinds = layout
    if actions.shape != (steps, *per_step) or actions.dtype.kind not in kinds:
        return [(f"actions {actions.dtype} {actions.shape} are not {kind} actions of shape "
                 f"{(steps, *per_step)}", "action_space")]
    if actions.size == 0:
        return []
    if kind == "Discrete":
        lo, hi = space["start"], space["start"] + space["n"] - 1
    elif kind == "MultiDiscrete":
        lo, hi = 0, np.asarray(space["nvec"]) - 1
    elif kind == "MultiBinary":
        lo, hi = 0, 1
    else:
        lo, hi = space["low"], space["high"]
    if np.any(actions < lo) or np.any(actions > hi):
        return [(f"action values in [{actions.min()}, {actions.max()}] outside the {kind} space {space}",
                 "action_space")]
    return []


def _text_problems(z: Mapping[str, np.ndarray], steps: int) -> list[str]:
    frames, texts, sources = z["text_frames"], z["text_strings"], z["text_sources"]
    if frames.ndim != 1 or frames.dtype.kind not in _INTEGER or any(
            a.ndim != 1 or a.dtype.kind != "U" for a in (texts, sources)):
        return [f"text arrays must be 1-d integer frames and strings, got {frames.dtype} {frames.shape}, "
                f"{texts.dtype} {texts.shape}, {sources.dtype} {sources.shape}"]
    if not len(frames) == len(texts) == len(sources):
        return [f"text arrays disagree in length: {len(frames)} frames, {len(texts)} texts, "
                f"{len(sources)} sources"]
    out = []
    bad = [int(f) for f in frames if not 0 <= int(f) <= steps]
    if bad:
        out.append(f"text events on frames {bad[:5]} outside 0..{steps}")
    unknown = sorted({str(s) for s in sources} - set(TEXT_SOURCES))
    if unknown:
        out.append(f"text sources {unknown} not in {TEXT_SOURCES}")
    if any("\x00" in str(t) for t in texts):
        out.append("a text holds a NUL character")
    return out


def arrays_to_episode(z: Mapping[str, np.ndarray]) -> Episode:
    """Inverse of ``store.episode_to_arrays`` (arrays that passed ``check_arrays``)."""
    seed = int(z["seed"])
    events = tuple(
        TextEvent(int(f), str(t), str(s))  # type: ignore[arg-type]
        for f, t, s in zip(z["text_frames"], z["text_strings"], z["text_sources"])
    )
    extras = {k[len(EXTRA_PREFIX):]: np.asarray(z[k]) for k in z if k.startswith(EXTRA_PREFIX)}
    return Episode(
        frames=np.asarray(z["frames"]), actions=np.asarray(z["actions"]),
        rewards=np.asarray(z["rewards"]), terminated=bool(z["terminated"]),
        truncated=bool(z["truncated"]), text_events=events,
        seed=None if seed < 0 else seed, env=str(z["env"]), extras=extras,
    )

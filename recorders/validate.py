"""``validate(store)``: check every episode file of a store against its ``dataset.json``.

Checks, per episode file: it opens and every array decompresses (a truncated or corrupted file
fails here), the fields are present, frames are ``uint8 (T+1, H, W, C)`` with the store's frame
shape, actions have shape ``(T, *action_shape)`` with values inside the action space, rewards
have length ``T``, text events lie on frames ``0..T`` with a known source, and the env name
matches. It also lists temp files (writes in progress or left by a crash) and foreign files.

``fix(store, problems)`` repairs what can be repaired without losing data: it deletes stale
temp files and moves bad episode files to ``<store>/rejected/`` (never deletes them).

Example:
    >>> problems = validate(EpisodeStore.open("data/pong"))     # doctest: +SKIP
    >>> for p in problems:                                      # doctest: +SKIP
    ...     print(p)
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tv2tv.recorders.store import _EPISODE_KEYS, EPISODE_DIR, EpisodeStore, is_stale_temp
from tv2tv.types import TEXT_SOURCES

REJECTED_DIR = "rejected"


@dataclass(frozen=True)
class Problem:
    """One problem found by ``validate``.

    Args:
        path: the file concerned.
        kind: ``"corrupted"``, ``"fields"``, ``"frames"``, ``"actions"``, ``"rewards"``,
            ``"text"``, ``"env"``, ``"temp-file"`` or ``"foreign-file"``.
        message: what is wrong, naming the bad value.
    """

    path: Path
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.path.name}: [{self.kind}] {self.message}"


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


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    # Reading every member fully makes zipfile check each CRC: truncation and bit rot show here.
    with np.load(path, allow_pickle=False) as z:
        return {k: np.asarray(z[k]) for k in z.files}


def check_episode_file(store: EpisodeStore, path: Path) -> list[Problem]:
    """The problems of one episode file against ``store.meta``."""
    try:
        z = _read_arrays(path)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        return [Problem(path, "corrupted", f"cannot be read, truncated or corrupted ({exc})")]
    missing = [k for k in _EPISODE_KEYS if k not in z]
    if missing:
        return [Problem(path, "fields", f"missing fields {missing}")]
    out = [Problem(path, kind, msg) for kind, msg in _frame_problems(z["frames"], store)]
    steps = max(int(z["frames"].shape[0]) - 1, 0) if z["frames"].ndim == 4 else -1
    if steps >= 0:
        out += [Problem(path, "actions", m) for m in _action_problems(z["actions"], steps,
                                                                      store.meta.action_space)]
        if z["rewards"].shape != (steps,):
            out.append(Problem(path, "rewards", f"rewards shape {z['rewards'].shape} != ({steps},)"))
        out += [Problem(path, "text", m) for m in _text_problems(z, steps)]
    if str(z["env"]) != store.meta.env:
        out.append(Problem(path, "env", f"env {str(z['env'])!r} != store's {store.meta.env!r}"))
    return out


def _frame_problems(frames: np.ndarray, store: EpisodeStore) -> list[tuple[str, str]]:
    want = tuple(store.meta.frame_shape)
    if frames.dtype != np.uint8:
        return [("frames", f"frame dtype {frames.dtype} != uint8")]
    if frames.ndim != 4 or frames.shape[0] < 1:
        return [("frames", f"frames shape {frames.shape} is not (T+1, H, W, C)")]
    if tuple(frames.shape[1:]) != want:
        return [("frames", f"frame shape {tuple(frames.shape[1:])} != store's {want}")]
    return []


def _action_problems(actions: np.ndarray, steps: int, space: dict[str, Any]) -> list[str]:
    kind = space.get("type")
    per_step: tuple[int, ...]
    if kind == "Discrete":
        per_step = ()
    elif kind == "Box":
        per_step = tuple(space["shape"])
    elif kind == "MultiDiscrete":
        per_step = (len(space["nvec"]),)
    elif kind == "MultiBinary":
        per_step = tuple(np.atleast_1d(space["n"]).tolist())
    else:  # spaces the recorder does not write as one array (e.g. Dict): only the length
        return [] if len(actions) == steps else [f"{len(actions)} actions for {steps} steps"]
    if actions.shape != (steps, *per_step):
        return [f"actions shape {actions.shape} != {(steps, *per_step)} for {kind} actions"]
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
        return [f"action values in [{actions.min()}, {actions.max()}] outside the {kind} space {space}"]
    return []


def _text_problems(z: dict[str, np.ndarray], steps: int) -> list[str]:
    frames, texts, sources = z["text_frames"], z["text_strings"], z["text_sources"]
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
    return out


def fix(store: EpisodeStore, problems: list[Problem]) -> list[str]:
    """Repair ``problems`` where possible; returns one line per action taken.

    Stale temp files are deleted (temp files of live writers are left alone); bad episode files
    are moved to ``<store>/rejected/`` so that readers skip them but nothing is lost.
    """
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
            p.path.replace(rejected / p.path.name)
            done.append(f"moved {p.path.name} to {rejected}")
    return done

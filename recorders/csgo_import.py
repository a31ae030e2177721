"""``tv2tv data import-csgo SRC DST``: Counter-Strike deathmatch recordings as a tv2tv store.

The source is Pearce & Zhu's CS:GO deathmatch dataset ("Counter-Strike Deathmatch with
Large-Scale Behavioural Cloning", 2021; TeaPearce/Counter-Strike_Behavioural_Cloning), the data
DIAMOND trains its CS:GO world model on: HDF5 files (``hdf5_dm_july2021_<n>.hdf5``) of 1000 frames
each, written by the authors' ``dm_pretrain_process.py``. Frame ``i`` of a file is

- ``frame_i_x``: ``uint8 (150, 280, 3)``, the screenshot in OpenCV's **BGR** order (the capture
  is ``cv2.cvtColor(BGRA2BGR)``; DIAMOND flips the channels when it loads it), stored here as RGB;
- ``frame_i_y``: the 51-value action one-hot (:mod:`tv2tv.envs.csgo_texter`);
- ``frame_i_helperarr``: ``[kill, death]``, 1 when the kill or death count went up by one
  since frame ``i - 1``;
- ``frame_i_xaux``: previous actions, health, ammo and team (not imported).

Each file becomes one episode of ``N - 1`` steps, marked truncated (a file is a cut of a longer
session). As in DIAMOND, action ``i`` acts on frame ``i`` (frame ``i`` and action ``i`` predict
frame ``i + 1``), so the last action, which has no next frame, is dropped. Kill and death flags of
frame ``i + 1`` become step ``i``'s captions (they land on frame ``i + 1``) and its reward
(``kill - death``). Frames are resized with :func:`tv2tv.envs.frames.resize_frame`; actions are
stored as the ``float32 (T, 15)`` vectors of :data:`~tv2tv.envs.csgo_texter.FIELDS` (field names,
bins and the degrees per mouse count are in ``dataset.json`` ``extra``); text comes from
:class:`~tv2tv.envs.csgo_texter.CSGOTexter`, whose name ``"csgo"`` in ``dataset.json`` lets
``WorldModelEnv`` and the IDM benchmark rebuild it.

Nothing is imported half-way (``StagedStore``): episodes go to a temporary store beside ``DST``
that is moved into place only when every file has imported; a truncated or foreign HDF5
file raises ``ValueError`` naming the file, and ``DST`` is left as it was.

Example:
    $ tv2tv data import-csgo ~/csgo/dataset_dm_scraped_dust2 data/csgo --frame-size 64
    $ tv2tv train --data data/csgo --preset tiny --out runs/csgo-tiny
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tv2tv.config import check_int
from tv2tv.envs.csgo_texter import (
    DEGREES_PER_COUNT,
    MOUSE_X_BINS,
    MOUSE_Y_BINS,
    ONEHOT_SIZE,
    CSGOTexter,
    from_onehot,
    is_onehot,
)
from tv2tv.envs.family import check_frame_size
from tv2tv.envs.frames import resize_frame
from tv2tv.envs.runner import text_recording
from tv2tv.progress import progress_bar
from tv2tv.recorders.store import DatasetMeta, EpisodeStore, StagedStore
from tv2tv.types import Episode

ENV = "csgo"
FPS = 16.0  # config.py: loop_fps = 16
SUFFIXES = (".hdf5", ".h5")
REQUIRED = ("x", "y", "helperarr")  # per-frame datasets the import reads
_KEY = re.compile(r"^frame_(\d+)_(x|y|xaux|helperarr)$")
_NUMBER = re.compile(r"(\d+)$")


@dataclass(frozen=True)
class CSGOImportConfig:
    """Settings of one import.

    Args:
        frame_size: side of the square stored frames.
        text_every: the texter repeats an unchanged action phrase every this many steps.
    """

    frame_size: int = 64
    text_every: int = 8

    def __post_init__(self) -> None:
        check_frame_size(self.frame_size)
        check_int("text_every", self.text_every, 1)


@dataclass(frozen=True)
class ImportSummary:
    """What an import wrote."""

    files: int
    steps: int
    text_events: int
    kills: int
    deaths: int
    out: Path


@dataclass(frozen=True)
class CSGOFile:
    """One source file: RGB frames resized ``uint8 (N, S, S, 3)``, binned actions ``float32 (N, 15)``,
    kill and death flags ``bool (N,)``."""

    frames: np.ndarray
    actions: np.ndarray
    kills: np.ndarray
    deaths: np.ndarray


def _h5py() -> Any:
    try:
        import h5py
    except ModuleNotFoundError:
        raise ValueError("importing CS:GO HDF5 files needs h5py: pip install h5py "
                         "(or pip install -e '.[csgo]')") from None
    return h5py


def find_files(src: Path) -> list[Path]:
    """``src`` itself, or the HDF5 files under it in the order of their trailing number."""
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise FileNotFoundError(f"CS:GO source {src} is neither an HDF5 file nor a directory")
    files = [p for p in src.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()]
    if not files:
        raise ValueError(f"no HDF5 files ({', '.join('*' + s for s in SUFFIXES)}) under {src}")

    def order(p: Path) -> tuple[str, int, str]:  # hdf5_dm_july2021_2 before hdf5_dm_july2021_10
        m = _NUMBER.search(p.stem)
        return (str(p.parent), int(m.group(1)) if m else -1, p.name)
    return sorted(files, key=order)


def _frame_count(f: Any, path: Path) -> int:
    """Frames in an open file: ``frame_0`` .. ``frame_{N-1}``, each with every :data:`REQUIRED` dataset."""
    have: dict[str, set[int]] = {k: set() for k in REQUIRED}
    for name in f.keys():
        m = _KEY.match(name)
        if m and m.group(2) in have:
            have[m.group(2)].add(int(m.group(1)))
    if not have["x"]:
        found = ", ".join(repr(k) for k in list(f.keys())[:4]) or "nothing"
        raise ValueError(f"{path} is not a CS:GO deathmatch file: it has no frame_<i>_x datasets "
                         f"(it holds {found})")
    n = max(have["x"]) + 1
    for kind, idx in have.items():
        missing = sorted(set(range(n)) - idx)
        if missing:
            raise ValueError(f"{path} lacks frame_{missing[0]}_{kind} ({len(missing)} of {n} frames "
                             f"miss their {kind!r} dataset)")
    if n < 2:
        raise ValueError(f"{path} has {n} frame; a CS:GO episode needs at least 2")
    return n


def _frame(f: Any, i: int, path: Path, size: int) -> np.ndarray:
    x = f[f"frame_{i}_x"][()]
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"{path}: frame_{i}_x is {x.dtype} {x.shape}, not a uint8 (H, W, 3) screenshot")
    return resize_frame(np.ascontiguousarray(x[..., ::-1]), size)  # BGR -> RGB


def _vectors(f: Any, kind: str, n: int, width: int, path: Path) -> np.ndarray:
    rows = [np.asarray(f[f"frame_{i}_{kind}"][()]) for i in range(n)]
    bad = next((i for i, r in enumerate(rows) if r.shape != (width,)), None)
    if bad is not None:
        raise ValueError(f"{path}: frame_{bad}_{kind} has shape {rows[bad].shape}, expected ({width},)")
    return np.stack(rows)


def read_csgo_file(path: str | os.PathLike[str], frame_size: int = 64) -> CSGOFile:
    """Read one HDF5 file (see the module docstring); ``ValueError`` naming the file when it is
    truncated, not HDF5, or not in the deathmatch layout."""
    path, h5py = Path(path), _h5py()
    try:
        with h5py.File(path, "r") as f:
            n = _frame_count(f, path)
            frames = np.stack([_frame(f, i, path, frame_size) for i in range(n)])
            y, helper = _vectors(f, "y", n, ONEHOT_SIZE, path), _vectors(f, "helperarr", n, 2, path)
    except (OSError, RuntimeError, KeyError) as exc:  # h5py: truncated or not HDF5, unreadable chunks
        reason = " ".join(str(exc).split())
        raise ValueError(f"cannot read CS:GO file {path}: it is truncated or not HDF5 ({reason})") from None
    bad = np.flatnonzero(~is_onehot(y))
    if len(bad):
        raise ValueError(f"{path}: frame_{bad[0]}_y is not a CS:GO action one-hot (0/1 values, one mouse-x "
                         f"and one mouse-y bin): {y[bad[0]].tolist()}")
    bad = np.flatnonzero(~np.isin(helper, (0, 1)).all(1))
    if len(bad):
        raise ValueError(f"{path}: frame_{bad[0]}_helperarr must be 0/1 kill and death flags, got "
                         f"{helper[bad[0]].tolist()}")
    return CSGOFile(frames, from_onehot(y), helper[:, 0] == 1, helper[:, 1] == 1)


def to_episode(raw: CSGOFile, texter: CSGOTexter, source: str) -> Episode:
    """Text one file (phrases for step ``t`` land on frame ``t + 1``) and build its Episode."""
    flags = [{"kill": k, "death": d} for k, d in zip(raw.kills, raw.deaths)]
    steps = len(raw.frames) - 1
    events = text_recording(texter, raw.actions[:steps], flags)
    rewards = raw.kills[1:].astype(np.float32) - raw.deaths[1:].astype(np.float32)
    return Episode(frames=raw.frames, actions=raw.actions[:steps], rewards=rewards, terminated=False,
                   truncated=True, text_events=tuple(events), seed=None, env=ENV,
                   extras={"source_file": np.asarray(source)})


def dataset_meta(cfg: CSGOImportConfig, texter: CSGOTexter) -> DatasetMeta:
    """The store's ``dataset.json``: a ``Box`` of action vectors, texter ``"csgo"``, 16 fps."""
    fields = texter.vector_fields()
    return DatasetMeta(
        env=ENV, frame_shape=(cfg.frame_size, cfg.frame_size, 3),
        action_space={"type": "Box", "shape": [len(fields)], "dtype": "float32",
                      "low": float(MOUSE_X_BINS[0]), "high": float(MOUSE_X_BINS[-1])},
        texter=texter.name, texter_version=texter.version, frameskip=1, fps=FPS,
        extra={"importer": "csgo-hdf5", "action_fields": fields, "text_every": cfg.text_every,
               "mouse_x_bins": list(MOUSE_X_BINS), "mouse_y_bins": list(MOUSE_Y_BINS),
               "degrees_per_count": DEGREES_PER_COUNT},
    )


def import_csgo(src: str | os.PathLike[str], dst: str | os.PathLike[str], frame_size: int = 64,
                text_every: int = 8, progress: bool = True) -> ImportSummary:
    """Import every CS:GO HDF5 file under ``src`` into the store ``dst`` (all or nothing).

    Args:
        src: one HDF5 file or a folder searched recursively for ``*.hdf5`` / ``*.h5``.
        dst: the store directory (new, empty, or a CS:GO store with the same settings to append to).
        frame_size: side of the stored square frames.
        text_every: repeat an unchanged action phrase every this many steps.
        progress: show a rich progress bar over files on stderr.

    Example:
        >>> import_csgo("dataset_dm_scraped_dust2", "data/csgo")     # doctest: +SKIP
        ImportSummary(files=5500, steps=5494500, ...)
    """
    cfg = CSGOImportConfig(frame_size=frame_size, text_every=text_every)
    src, dst = Path(src), Path(dst)
    files = find_files(src)
    _h5py()
    texter = CSGOTexter(text_every=cfg.text_every)
    meta = dataset_meta(cfg, texter)
    EpisodeStore.check_target(dst, env=ENV, frame_shape=meta.frame_shape)
    steps = texts = kills = deaths = 0
    with StagedStore(dst) as staged, progress_bar("importing CS:GO files", len(files), progress) as advance:
        store = staged.create(meta)
        for path in files:
            raw = read_csgo_file(path, cfg.frame_size)
            ep = to_episode(raw, texter, path.name if src.is_file() else str(path.relative_to(src)))
            store.write(ep)
            steps, texts = steps + ep.num_steps, texts + len(ep.text_events)
            kills, deaths = kills + int(raw.kills.sum()), deaths + int(raw.deaths.sum())
            advance(info=f"{steps} steps, {kills} kills, {deaths} deaths")
    return ImportSummary(len(files), steps, texts, kills, deaths, dst)


# -- command line ------------------------------------------------------------------------------

def register_data(data_sub: Any) -> None:
    """Add ``tv2tv data import-csgo SRC DST``."""
    p = data_sub.add_parser("import-csgo",
                            help="import CS:GO deathmatch HDF5 files (Pearce & Zhu) into a store")
    p.add_argument("src", type=Path, help="an HDF5 file, or a folder searched for *.hdf5 / *.h5")
    p.add_argument("dst", type=Path, help="store directory to create (or append to)")
    p.add_argument("--frame-size", type=int, default=64, help="side of the stored frames (default 64)")
    p.add_argument("--text-every", type=int, default=8, help="repeat unchanged action text every N steps")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_import_csgo)


def cmd_import_csgo(args: Any) -> int:
    from rich.console import Console
    from rich.markup import escape

    s = import_csgo(args.src, args.dst, frame_size=args.frame_size, text_every=args.text_every,
                    progress=not args.no_progress)
    Console().print(f"imported {s.files} CS:GO files ({s.steps} steps, {s.text_events} text events, "
                    f"{s.kills} kills, {s.deaths} deaths) into {escape(str(s.out))}")
    return 0

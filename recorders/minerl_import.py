"""``tv2tv data import-minerl SRC DST``: MineRL v0.4 and VPT recordings as a tv2tv store.

Two on-disk layouts are read (``layout="auto"`` tells them apart):

- **v04** (the MineRL 0.4 dataset, ``minerl.data``): one folder per episode holding
  ``recording.mp4``, ``rendered.npz`` and ``metadata.json``. The npz has ``reward`` (T,), actions
  ``action$forward`` ... ``action$camera`` (T, 2) [pitch, yaw] ... ``action$place`` (item names)
  and observations ``observation$inventory$<item>``. As in ``minerl/data/data_pipeline.py``, the
  episode is the *last* ``T + 1`` of the ``metadata["true_video_frame_count"]`` video frames.
- **vpt** (OpenAI VPT contractor data): ``<name>.mp4`` with ``<name>.jsonl``, one JSON action per
  video frame with ``keyboard.keys`` (``"key.keyboard.w"``), ``mouse.dx/dy/buttons``, ``hotbar``,
  ``isGuiOpen``. Keys map as in VPT's ``run_inverse_dynamics_model.py``; camera degrees are
  ``[dy, dx] * 360 / 2400`` (kept as floats; VPT's loader truncates to int), and 0 while a GUI is
  open (the mouse moves the cursor, not the view); a hotbar change sets ``hotbar.<n>``. Action
  ``i`` acts on frame ``i``, so the last action, which has no next frame, is dropped.

Frames are resized with :func:`tv2tv.envs.frames.resize_frame`. Actions are stored as flat
``float32 (T, D)`` vectors (:meth:`MineRLTexter.to_vector`; field names and item lists are in
``dataset.json`` ``extra``) and text comes from :class:`MineRLTexter` (actions, plus inventory
captions for v04).

Nothing is imported half-way: episodes are written into a temporary store beside ``DST`` and
moved into place only when every source episode has imported (``StagedStore``); a truncated
mp4, a missing ``rendered.npz`` or a frame/action count mismatch raises ``ValueError`` naming the
file, and ``DST`` is left as it was.

Example:
    $ tv2tv data import-minerl ~/minerl/MineRLTreechop-v0 data/treechop --frame-size 64
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imageio.v2 as imageio
import numpy as np

from tv2tv.config import check_int
from tv2tv.envs.frames import resize_frame
from tv2tv.envs.minerl_texter import MINERL_KEYS, VPT_KEYS, MineRLTexter
from tv2tv.envs.runner import text_recording
from tv2tv.recorders.store import DatasetMeta, EpisodeStore, StagedStore
from tv2tv.types import Episode

LAYOUTS = ("auto", "v04", "vpt")
V04_FILES = ("recording.mp4", "rendered.npz", "metadata.json")
# MineRL 0.4 item lists (its Enum spaces sort their values); ints in old npz files index these.
MINERL_ITEMS: dict[str, tuple[str, ...]] = {
    "place": ("cobblestone", "crafting_table", "dirt", "furnace", "none", "stone", "torch"),
    "equip": ("air", "iron_axe", "iron_pickaxe", "none", "stone_axe", "stone_pickaxe", "wooden_axe",
              "wooden_pickaxe"),
    "craft": ("crafting_table", "none", "planks", "stick", "torch"),
    "nearbyCraft": ("furnace", "iron_axe", "iron_pickaxe", "none", "stone_axe", "stone_pickaxe",
                    "wooden_axe", "wooden_pickaxe"),
    "nearbySmelt": ("coal", "iron_ingot", "none"),
}
VPT_KEY_MAP: dict[str, str] = {
    "key.keyboard.escape": "ESC", "key.keyboard.s": "back", "key.keyboard.q": "drop",
    "key.keyboard.w": "forward", **{f"key.keyboard.{i}": f"hotbar.{i}" for i in range(1, 10)},
    "key.keyboard.e": "inventory", "key.keyboard.space": "jump", "key.keyboard.a": "left",
    "key.keyboard.d": "right", "key.keyboard.left.shift": "sneak", "key.keyboard.left.control": "sprint",
    "key.keyboard.f": "swapHands",
}
VPT_MOUSE_BUTTONS = {0: "attack", 1: "use", 2: "pickItem"}
VPT_CAMERA_SCALE = 360.0 / 2400.0  # degrees per mouse count (VPT's CAMERA_SCALER)
FPS = 20.0  # MineRL and VPT record at 20 ticks per second


@dataclass(frozen=True)
class ImportConfig:
    """Settings of one import.

    Args:
        frame_size: side of the square stored frames.
        layout: ``"auto"``, ``"v04"`` or ``"vpt"``.
        text_every: the texter repeats an unchanged action phrase every this many steps.
        camera_step: camera quantization of the action text, in degrees.
    """

    frame_size: int = 64
    layout: str = "auto"
    text_every: int = 8
    camera_step: float = 2.5

    def __post_init__(self) -> None:
        check_int("frame_size", self.frame_size, 8)
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")


@dataclass(frozen=True)
class ImportSummary:
    """What an import wrote."""

    layout: str
    episodes: int
    steps: int
    text_events: int
    out: Path


@dataclass(frozen=True)
class _Raw:
    """One source episode before text: frames, dict actions, rewards, per-step inventories."""

    frames: np.ndarray
    actions: list[dict[str, Any]]
    rewards: np.ndarray
    inventory: list[dict[str, int]] | None


# -- finding episodes --------------------------------------------------------------------------

def detect_layout(src: Path) -> str:
    """``"v04"`` if ``src`` (or a subfolder) holds MineRL episode files, ``"vpt"`` for mp4+jsonl."""
    if any((src / f).exists() for f in V04_FILES) or any(
            (d / f).exists() for d in src.iterdir() if d.is_dir() for f in V04_FILES):
        return "v04"
    if any(src.glob("*.jsonl")) or any(src.glob("*.mp4")):
        return "vpt"
    raise ValueError(f"{src} holds neither MineRL v0.4 episode folders ({', '.join(V04_FILES)}) "
                     f"nor VPT recordings (<name>.mp4 + <name>.jsonl)")


def find_episodes(src: Path, layout: str) -> list[Path]:
    """Episode folders (v04) or mp4 files (vpt) under ``src``, sorted; every one must be complete."""
    if layout == "v04":
        dirs = [src] if any((src / f).exists() for f in V04_FILES) else sorted(
            d for d in src.iterdir() if d.is_dir() and any((d / f).exists() for f in V04_FILES))
        for d in dirs:
            missing = [f for f in V04_FILES if not (d / f).is_file()]
            if missing:
                raise ValueError(f"MineRL episode {d} is missing {', '.join(missing)}")
        return dirs
    videos = sorted(src.glob("*.mp4"))
    for p in sorted(src.glob("*.jsonl")):
        if not p.with_suffix(".mp4").is_file():
            raise ValueError(f"VPT actions {p} have no video {p.with_suffix('.mp4').name}")
    for v in videos:
        if not v.with_suffix(".jsonl").is_file():
            raise ValueError(f"VPT video {v} has no actions file {v.with_suffix('.jsonl').name}")
    return videos


# -- reading -----------------------------------------------------------------------------------

def read_video(path: Path, size: int, skip: int = 0) -> np.ndarray:
    """All frames of an mp4 after the first ``skip``, resized: ``uint8 (N, size, size, 3)``."""
    frames = []
    try:
        with imageio.get_reader(str(path), format="ffmpeg") as reader:  # type: ignore[arg-type]
            for i, frame in enumerate(reader):
                if i >= skip:
                    frames.append(resize_frame(np.ascontiguousarray(np.asarray(frame)[..., :3]), size))
    except Exception as exc:  # imageio-ffmpeg raises OSError/RuntimeError/IndexError for bad files
        raise ValueError(f"cannot read video {path}: it is truncated or not an mp4 ({exc})") from exc
    if not frames:
        raise ValueError(f"video {path} has no frames (truncated?)")
    return np.stack(frames)


def count_frames(path: Path) -> int:
    try:
        with imageio.get_reader(str(path), format="ffmpeg") as reader:  # type: ignore[arg-type]
            return sum(1 for _ in reader)
    except Exception as exc:
        raise ValueError(f"cannot read video {path}: it is truncated or not an mp4 ({exc})") from exc


def _item_name(key: str, value: Any, path: Path) -> str:
    names = MINERL_ITEMS[key]
    v = value.decode() if isinstance(value, bytes) else value
    if isinstance(v, (str, np.str_)):
        if str(v) not in names:
            raise ValueError(f"{path}: action${key} has unknown item {str(v)!r}; "
                             f"expected one of {list(names)}")
        return str(v)
    i = int(v)
    if not 0 <= i < len(names):
        raise ValueError(f"{path}: action${key} index {i} out of range for {list(names)}")
    return names[i]


def read_v04(folder: Path, size: int) -> _Raw:
    """One MineRL v0.4 episode folder (see the module docstring for the alignment)."""
    npz_path = folder / "rendered.npz"
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            data = {k: np.asarray(z[k]) for k in z.files}
    except Exception as exc:
        raise ValueError(f"cannot read {npz_path} ({exc})") from exc
    if "reward" not in data:
        raise ValueError(f"{npz_path} has no 'reward' array")
    rewards = data["reward"].astype(np.float32).reshape(-1)
    t = len(rewards)
    for k, v in data.items():
        if (k.startswith("action$") or k.startswith("observation$inventory$")) and len(v) not in (t, t + 1):
            raise ValueError(f"{npz_path}: {k} has {len(v)} entries but reward has {t}")
    meta = json.loads((folder / "metadata.json").read_text())
    n_video = count_frames(folder / "recording.mp4")
    n_meta = int(meta.get("true_video_frame_count", n_video))
    if n_video < n_meta or n_video < t + 1:
        raise ValueError(f"{folder / 'recording.mp4'} has {n_video} frames, but the episode needs "
                         f"{max(n_meta, t + 1)} (metadata true_video_frame_count={n_meta}, {t} steps): "
                         f"the video is truncated")
    frames = read_video(folder / "recording.mp4", size, skip=n_meta - (t + 1))[: t + 1]
    keys = [k for k in MINERL_KEYS if f"action${k}" in data]
    items = [k for k in MINERL_ITEMS if f"action${k}" in data]
    cam = data.get("action$camera", np.zeros((t, 2), np.float32)).astype(np.float32).reshape(t, 2)
    actions = []
    for i in range(t):
        a: dict[str, Any] = {k: int(data[f"action${k}"][i]) for k in keys}
        a["camera"] = cam[i]
        a.update({k: _item_name(k, data[f"action${k}"][i], npz_path) for k in items})
        actions.append(a)
    inv_keys = sorted(k for k in data if k.startswith("observation$inventory$"))
    inventory = [{k.split("$")[-1]: int(data[k][i]) for k in inv_keys} for i in range(t + 1)] \
        if inv_keys and all(len(data[k]) == t + 1 for k in inv_keys) else None
    return _Raw(frames, actions, rewards, inventory)


def vpt_action(step: dict[str, Any], last_hotbar: int) -> dict[str, Any]:
    """One VPT JSON line as a MineRL-style dict action over :data:`VPT_KEYS`."""
    a: dict[str, Any] = {k: 0 for k in VPT_KEYS}
    for key in step["keyboard"]["keys"]:
        if key in VPT_KEY_MAP:
            a[VPT_KEY_MAP[key]] = 1
    mouse = step["mouse"]
    for button in mouse.get("buttons", []):
        if button in VPT_MOUSE_BUTTONS:
            a[VPT_MOUSE_BUTTONS[button]] = 1
    gui = bool(step.get("isGuiOpen", False))
    a["camera"] = np.zeros(2, np.float32) if gui else np.asarray(
        [mouse["dy"] * VPT_CAMERA_SCALE, mouse["dx"] * VPT_CAMERA_SCALE], np.float32)
    hotbar = int(step.get("hotbar", last_hotbar))
    if hotbar != last_hotbar:
        a[f"hotbar.{hotbar + 1}"] = 1
    return a


def read_vpt(video: Path, size: int) -> _Raw:
    """One VPT recording (``<name>.mp4`` + ``<name>.jsonl``)."""
    jsonl = video.with_suffix(".jsonl")
    lines = [ln for ln in jsonl.read_text().splitlines() if ln.strip()]
    try:
        steps = [json.loads(ln) for ln in lines]
    except json.JSONDecodeError as exc:
        raise ValueError(f"{jsonl} is not JSON lines ({exc})") from exc
    frames = read_video(video, size)
    if len(frames) != len(steps):
        raise ValueError(f"{video} has {len(frames)} frames but {jsonl} has {len(steps)} actions "
                         f"(one per frame expected; truncated video?)")
    if len(frames) < 2:
        raise ValueError(f"{video} has fewer than 2 frames")
    actions, hotbar = [], 0
    for i, s in enumerate(steps[:-1]):
        try:
            actions.append(vpt_action(s, hotbar))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{jsonl} line {i + 1} lacks VPT field {exc}") from exc
        hotbar = int(s.get("hotbar", hotbar))
    return _Raw(frames, actions, np.zeros(len(actions), np.float32), None)


# -- converting --------------------------------------------------------------------------------

def texter_for(layout: str, raw: _Raw, cfg: ImportConfig) -> MineRLTexter:
    if layout == "vpt":
        return MineRLTexter(keys=VPT_KEYS, camera_step=cfg.camera_step, text_every=cfg.text_every)
    first = raw.actions[0] if raw.actions else {}
    keys = tuple(k for k in MINERL_KEYS if k in first)
    items = {k: MINERL_ITEMS[k] for k in MINERL_ITEMS if k in first}
    return MineRLTexter(keys=keys, items=items, camera_step=cfg.camera_step, text_every=cfg.text_every)


def to_episode(raw: _Raw, texter: MineRLTexter, env: str) -> Episode:
    """Text the raw episode (phrases for step ``t`` land on frame ``t + 1``) and build an Episode."""
    infos = [{"inventory": i} for i in raw.inventory] if raw.inventory else [{}] * (len(raw.actions) + 1)
    events = text_recording(texter, raw.actions, infos)
    actions = np.stack([texter.to_vector(a) for a in raw.actions]) if raw.actions else \
        np.zeros((0, len(texter.vector_fields())), np.float32)
    return Episode(frames=raw.frames, actions=actions, rewards=raw.rewards, terminated=True,
                   truncated=False, text_events=tuple(events), seed=None, env=env)


def _meta(layout: str, env: str, texter: MineRLTexter, cfg: ImportConfig) -> DatasetMeta:
    fields = texter.vector_fields()
    return DatasetMeta(
        env=env, frame_shape=(cfg.frame_size, cfg.frame_size, 3),
        action_space={"type": "Box", "shape": [len(fields)], "dtype": "float32",
                      "low": -180.0, "high": 180.0},
        texter=texter.name, texter_version=texter.version, frameskip=1, fps=FPS,
        extra={"importer": f"minerl-{layout}", "action_fields": fields,
               "item_names": {k: list(v) for k, v in texter.items.items()}, "camera_step": cfg.camera_step},
    )


def _env_name(src: Path, layout: str) -> str:
    return src.name if layout == "v04" and src.name.startswith("MineRL") else f"minerl-{layout}"


def _iter_raw(paths: list[Path], layout: str, size: int) -> Iterator[_Raw]:
    for p in paths:
        yield read_v04(p, size) if layout == "v04" else read_vpt(p, size)


def import_minerl(src: str | os.PathLike[str], dst: str | os.PathLike[str], frame_size: int = 64,
                  layout: str = "auto", text_every: int = 8, camera_step: float = 2.5) -> ImportSummary:
    """Import every episode under ``src`` into the store ``dst`` (all or nothing).

    Args:
        src: a MineRL v0.4 env folder (episode subfolders), one episode folder, or a VPT folder.
        dst: the store directory (new, empty, or a store with the same settings to append to).
        frame_size: side of the stored square frames.
        layout: ``"auto"``, ``"v04"`` or ``"vpt"``.
        text_every, camera_step: texter settings (see :class:`MineRLTexter`).

    Example:
        >>> import_minerl("MineRLTreechop-v0", "data/treechop")     # doctest: +SKIP
        ImportSummary(layout='v04', episodes=210, ...)
    """
    cfg = ImportConfig(frame_size=frame_size, layout=layout, text_every=text_every, camera_step=camera_step)
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise FileNotFoundError(f"MineRL source {src} is not a directory")
    lay = detect_layout(src) if cfg.layout == "auto" else cfg.layout
    paths = find_episodes(src, lay)
    if not paths:
        raise ValueError(f"no {lay} episodes found in {src}")
    env = _env_name(src, lay)
    EpisodeStore.check_target(dst, env=env, frame_shape=[cfg.frame_size, cfg.frame_size, 3])
    steps = texts = 0
    with StagedStore(dst) as staged:
        store: EpisodeStore | None = None
        for raw in _iter_raw(paths, lay, cfg.frame_size):
            texter = texter_for(lay, raw, cfg)
            ep = to_episode(raw, texter, env)
            if store is None:  # the texter (and so dataset.json) depends on the first episode's actions
                store = staged.create(_meta(lay, env, texter, cfg))
            store.write(ep)
            steps, texts = steps + ep.num_steps, texts + len(ep.text_events)
    return ImportSummary(lay, len(paths), steps, texts, dst)


# -- command line ------------------------------------------------------------------------------

def register_data(data_sub: Any) -> None:
    """Add ``tv2tv data import-minerl SRC DST``."""
    p = data_sub.add_parser("import-minerl", help="import MineRL v0.4 or VPT recordings into a store")
    p.add_argument("src", type=Path, help="MineRL env folder, episode folder, or VPT folder")
    p.add_argument("dst", type=Path, help="store directory to create (or append to)")
    p.add_argument("--frame-size", type=int, default=64, help="side of the stored frames (default 64)")
    p.add_argument("--layout", choices=LAYOUTS, default="auto", help="source layout (default: auto)")
    p.add_argument("--text-every", type=int, default=8, help="repeat unchanged action text every N steps")
    p.add_argument("--camera-step", type=float, default=2.5,
                   help="camera degrees per text step (default 2.5)")
    p.set_defaults(func=cmd_import_minerl)


def cmd_import_minerl(args: Any) -> int:
    from rich.console import Console

    s = import_minerl(args.src, args.dst, frame_size=args.frame_size, layout=args.layout,
                      text_every=args.text_every, camera_step=args.camera_step)
    Console().print(f"imported {s.episodes} {s.layout} episodes ({s.steps} steps, {s.text_events} "
                    f"text events) into {s.out}")
    return 0

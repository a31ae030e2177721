"""``tv2tv data import-minari`` and ``export-minari``: Farama Minari datasets <-> tv2tv stores.

Minari is the Farama standard for offline datasets of gymnasium envs (with Atari datasets). Its
episodes hold ``T + 1`` observations, ``T`` actions, rewards, terminations and truncations, and
optional ``infos`` with ``T + 1`` entries (reset first): the tv2tv frame layout (``tv2tv.types``).

**Import** (``import_minari``) reads one *local* dataset, by id under Minari's data root
(``$MINARI_DATASETS_PATH``, else ``~/.minari/datasets``) or by path; nothing is downloaded (run
``minari download ID`` first). Observations must be images, ``Box uint8 (H, W, 3)``, ``(H, W, 1)``
or ``(H, W)`` (grey is repeated into RGB); frames are resized with
:func:`tv2tv.envs.frames.resize_frames`; actions are kept as they are. Text:

- a dataset written by ``export_minari`` keeps its text and ``dataset.json`` (round trip);
- a dataset of an ALE game (its ``env_spec`` id, or ``env=``, is ``ALE/<Game>-v5``) is texted by
  the game's :class:`AtariTexter` from the actions and rewards, exactly as ``tv2tv record``
  texts it, and gets the ``dataset.json`` that ``tv2tv record`` would write, so recorded and
  imported episodes of one game can share a store. ``infos["lives"]``, when recorded, gives
  the "lost a life" captions; without it they are left out (with a warning).

Nothing is imported half-way: episodes go to a temporary store beside ``DST`` that is moved into
place once all are written (:class:`tv2tv.recorders.store.StagedStore`).

**Export** (``export_minari``) writes a store as a new Minari dataset that ``minari.load_dataset``
loads: frames as ``Box(0, 255, (H, W, 3), uint8)`` observations (lossless unless ``jpeg``),
actions in the space ``dataset.json`` describes, and per frame ``infos["text"]``: a JSON list of
``[text, source]`` pairs (``"[]"`` on frames without text). The store's ``dataset.json`` is kept
under the Minari metadata key ``"tv2tv"`` and episode extras as episode metadata
``tv2tv_extra/<name>``. A failed export removes what it created.

Example:
    $ minari download atari/pong/expert-v0          # once, with network
    $ tv2tv data import-minari atari/pong/expert-v0 data/pong-expert --frame-size 64
    $ tv2tv data export-minari data/pong tv2tv/pong/sticky-v0
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from dataclasses import dataclass, replace
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from rich.console import Console
from rich.markup import escape

from tv2tv.config import check_int
from tv2tv.envs.family import check_frame_size
from tv2tv.envs.frames import resize_frames
from tv2tv.envs.registry import family_of, get_texter, make_env
from tv2tv.envs.runner import text_recording
from tv2tv.progress import progress_bar
from tv2tv.recorders.record import RecordConfig, dataset_meta
from tv2tv.recorders.store import DatasetMeta, EpisodeStore, StagedStore, StoreError
from tv2tv.types import Episode, TextEvent

INSTALL_HINT = "the Minari commands need minari: pip install 'tv2tv[minari]' (Python >= 3.11)"
META_KEY = "tv2tv"  # Minari metadata key holding the exported store's dataset.json
TEXT_KEY = "text"  # infos key of the exported text, one JSON list of [text, source] per frame
EXTRA_PREFIX = "tv2tv_extra"  # episode metadata prefix of Episode.extras
DEFAULT_FRAME_SIZE = 64
DATA_FORMATS = {"hdf5": "h5py", "arrow": "pyarrow"}  # Minari storage -> the package it needs
# Minari's own "recommended field is None" warnings, for the fields an export leaves out.
_MINARI_NONE_WARNINGS = r"(`\w+` is set to None|env_spec is None)"


def _minari() -> Any:
    try:
        import minari
    except ModuleNotFoundError as exc:
        if exc.name != "minari":
            raise
        raise ValueError(INSTALL_HINT) from None
    return minari


def minari_root() -> Path:
    """Minari's local data root, as ``minari.storage.get_dataset_path`` finds it (never created)."""
    root = os.environ.get("MINARI_DATASETS_PATH")
    return Path(root) if root is not None else Path.home() / ".minari" / "datasets"


def check_dataset_id(dataset_id: str) -> str:
    """``dataset_id`` if Minari accepts it (``(namespace/)name-v<N>``), else ``ValueError`` naming it."""
    _minari()
    from minari.dataset.minari_dataset import parse_dataset_id

    try:
        parse_dataset_id(dataset_id)  # a missing version raises TypeError inside minari
    except (ValueError, TypeError):
        raise ValueError(f"a Minari dataset id looks like (namespace/)name-v<version>, e.g. "
                         f"'tv2tv/pong/random-v0'; got {dataset_id!r}") from None
    return dataset_id


@dataclass(frozen=True)
class ImportConfig:
    """Settings of one import.

    Args:
        frame_size: side of the stored square frames; ``None``: the exported store's size for a
            dataset written by ``export_minari``, else ``DEFAULT_FRAME_SIZE``.
        env: tv2tv env name of the data (``"ALE/Pong-v5"``); ``None``: the dataset's ``env_spec`` id.
        text_every: the Atari texter repeats an unchanged action phrase every this many steps.
    """

    frame_size: int | None = None
    env: str | None = None
    text_every: int = 8

    def __post_init__(self) -> None:
        if self.frame_size is not None:
            check_frame_size(self.frame_size)
        check_int("text_every", self.text_every, 1)


@dataclass(frozen=True)
class ExportConfig:
    """Settings of one export.

    Args:
        dataset_id: the new dataset's id, ``(namespace/)name-v<N>`` (Minari never overwrites one).
        data_format: Minari storage, ``"hdf5"`` or ``"arrow"``.
        jpeg: JPEG-encode frames of 32 pixels and more (smaller, lossy); default lossless.
        author, description: Minari metadata.
    """

    dataset_id: str
    data_format: str = "hdf5"
    jpeg: bool = False
    author: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        if self.data_format not in DATA_FORMATS:
            raise ValueError(f"data_format must be one of {sorted(DATA_FORMATS)}, got {self.data_format!r}")


@dataclass(frozen=True)
class MinariSummary:
    """What an import or export wrote: ``out`` is the store, or the Minari dataset's folder."""

    source: str
    episodes: int
    steps: int
    text_events: int
    out: Path


# -- import -------------------------------------------------------------------------------------

def open_dataset(source: str | os.PathLike[str]) -> Any:
    """A local ``MinariDataset``: ``source`` is a dataset folder (or its ``data/``), else an id."""
    minari = _minari()
    path = Path(source)
    if path.is_dir():
        data = path / "data" if (path / "data" / "metadata.json").is_file() else path
        if not (data / "metadata.json").is_file():
            raise ValueError(f"{path} is not a Minari dataset: it has no data/metadata.json")
        return minari.MinariDataset(data)
    try:
        data = minari_root() / check_dataset_id(str(source)) / "data"
    except ValueError:
        raise ValueError(f"{str(source)!r} is neither a dataset folder nor a Minari dataset id: an id looks "
                         f"like (namespace/)name-v<version>, e.g. 'atari/pong/expert-v0'") from None
    if not data.is_dir():  # minari.load_dataset(id) reads this folder; tv2tv never downloads
        raise ValueError(f"Minari dataset {str(source)!r} is not in {minari_root()} (set by "
                         f"MINARI_DATASETS_PATH); download it first with `minari download {source}`")
    return minari.MinariDataset(data)


def check_image_space(space: Any, name: str) -> None:
    """``ValueError`` naming ``space`` unless it is ``Box uint8 (H, W, 3)``, ``(H, W, 1)`` or ``(H, W)``."""
    shape = getattr(space, "shape", None) or ()
    if not (isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and
            (len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3)))):
        raise ValueError(f"Minari dataset {name} has observations {space}, not images: tv2tv imports "
                         f"Box uint8 observations of shape (H, W, 3), (H, W, 1) or (H, W)")


def to_rgb(obs: Any, name: str, index: int) -> np.ndarray:
    """Observations of one episode as ``uint8 (T+1, H, W, 3)`` (grey repeated into RGB)."""
    frames = np.asarray(obs)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4):
        raise ValueError(f"Minari dataset {name} episode {index}: observations {frames.dtype} "
                         f"{frames.shape} are not uint8 images")
    if frames.ndim == 3:
        frames = frames[..., None]
    return np.repeat(frames, 3, axis=-1) if frames.shape[-1] == 1 else frames


@dataclass(frozen=True)
class _Plan:
    """How to turn the dataset's episodes into tv2tv episodes."""

    name: str
    meta: DatasetMeta
    texter: Any  # None: the dataset carries tv2tv text (written by export_minari)


def _atari_plan(ds: Any, name: str, env_name: str, cfg: ImportConfig) -> _Plan:
    """The texter and ``dataset.json`` that ``tv2tv record`` would use for this ALE dataset."""
    spec = ds.spec.env_spec
    kwargs = (dict(spec.kwargs) if spec is not None and spec.id == env_name
              else dict(gym.registry[env_name].kwargs))
    frameskip = kwargs.get("frameskip", 4)
    if isinstance(frameskip, bool) or not isinstance(frameskip, int):
        raise ValueError(f"Minari dataset {name}: frameskip {frameskip!r} is not a fixed int "
                         f"(tv2tv needs one)")
    env_kwargs: dict[str, Any] = {"text_every": cfg.text_every}
    if kwargs.get("full_action_space"):
        env_kwargs["full_action_space"] = True
    if float(kwargs.get("repeat_action_probability", 0.0)) != 0.0:  # recorded, so the store says so
        env_kwargs["repeat_action_probability"] = float(kwargs["repeat_action_probability"])
    rec = RecordConfig(env=env_name, out=Path("."), episodes=1,
                       frame_size=cfg.frame_size or DEFAULT_FRAME_SIZE, frameskip=frameskip, workers=1,
                       env_kwargs=env_kwargs)
    env = make_env(env_name, frame_size=rec.frame_size, frameskip=frameskip, **env_kwargs)
    try:
        if not isinstance(ds.action_space, gym.spaces.Discrete) or ds.action_space.n != env.action_space.n:
            raise ValueError(f"Minari dataset {name} has actions {ds.action_space}, but {env_name} "
                             f"(full_action_space={bool(kwargs.get('full_action_space'))}) "
                             f"has {env.action_space}")
        return _Plan(name, dataset_meta(rec, env), get_texter(env))
    finally:
        env.close()


def plan_import(ds: Any, name: str, cfg: ImportConfig) -> _Plan:
    """Check the dataset and decide its ``dataset.json`` and texter (see the module docstring)."""
    check_image_space(ds.observation_space, name)
    exported = ds.storage.metadata.get(META_KEY)
    if exported is not None:
        try:
            meta = DatasetMeta.from_json(exported["dataset_meta"])
        except (StoreError, KeyError, TypeError) as exc:
            raise ValueError(f"Minari dataset {name} has broken tv2tv metadata ({exc})") from None
        if cfg.frame_size is not None:
            meta = replace(meta, frame_shape=(cfg.frame_size, cfg.frame_size, 3))
        return _Plan(name, meta, None)
    spec = ds.spec.env_spec
    env_name = cfg.env or (spec.id if spec is not None else None)
    if env_name is None:
        raise ValueError(f"Minari dataset {name} records no env; name its game with --env, e.g. ALE/Pong-v5")
    if family_of(env_name).family != "atari":  # unknown names fail here, naming the closest ones
        raise ValueError(f"Minari dataset {name} is of env {env_name!r}, which tv2tv cannot text: "
                         f"import-minari texts ALE games (ALE/<Game>-v5) "
                         f"and datasets written by export-minari")
    return _atari_plan(ds, name, env_name, cfg)


def _has_lives(ep: Any) -> bool:
    lives = (ep.infos or {}).get("lives")
    return lives is not None and len(lives) == len(ep.rewards) + 1


def _atari_infos(rewards: np.ndarray, lives: np.ndarray) -> list[dict[str, Any]]:
    """The infos the Atari texter reads (``lives``, the step ``reward``), the reset's first."""
    return [{"reward": float(r), "lives": int(n)} for r, n in zip([0.0, *rewards], lives)]


def stored_events(infos: Any, steps: int, name: str, index: int) -> list[TextEvent]:
    """The text an export wrote into ``infos["text"]``."""
    per_frame = (infos or {}).get(TEXT_KEY)
    if per_frame is None or len(per_frame) != steps + 1:
        raise ValueError(f"Minari dataset {name} episode {index} has tv2tv metadata but no "
                         f"infos[{TEXT_KEY!r}] with {steps + 1} entries")
    events = []
    for f, s in enumerate(per_frame):
        try:
            pairs = json.loads(s.decode() if isinstance(s, bytes) else str(s))
            events += [TextEvent(f, str(text), source) for text, source in pairs]
        except (ValueError, TypeError) as exc:
            raise ValueError(f"Minari dataset {name} episode {index} frame {f}: bad infos[{TEXT_KEY!r}] "
                             f"{s!r:.60} ({exc})") from None
    return events


def to_episode(ep: Any, seed: Any, extras: dict[str, Any], plan: _Plan) -> Episode:
    """One Minari ``EpisodeData`` as a tv2tv ``Episode`` with frames resized and text.

    Without ``infos["lives"]`` the Atari texter sees constant lives (no "lost a life" captions).
    """
    steps = len(ep.rewards)
    frames = resize_frames(to_rgb(ep.observations, plan.name, ep.id), plan.meta.frame_shape[0])
    actions, rewards = np.asarray(ep.actions), np.asarray(ep.rewards, np.float32)
    if plan.texter is None:
        events = stored_events(ep.infos, steps, plan.name, ep.id)
    else:
        lives = np.asarray(ep.infos["lives"], np.int64) if _has_lives(ep) else np.zeros(steps + 1, np.int64)
        events = text_recording(plan.texter, actions, _atari_infos(rewards, lives))
    ends = (bool(ep.terminations[-1]), bool(ep.truncations[-1])) if steps else (False, False)
    seed = int(seed) if seed is not None and 0 <= int(seed) < 2**63 else None  # the store keeps int64
    return Episode(frames=frames, actions=actions, rewards=rewards, terminated=ends[0], truncated=ends[1],
                   text_events=tuple(events), seed=seed, env=plan.meta.env,
                   extras={**extras, "minari_dataset": plan.name, "minari_episode": int(ep.id)})


def _episode_metadata(ds: Any, index: int) -> tuple[Any, dict[str, Any]]:
    """``(seed, extras)`` of one episode from Minari's episode metadata."""
    (md,) = ds.storage.get_episode_metadata([index])
    # hdf5 storage nests "tv2tv_extra/<name>" keys into a dict, arrow storage keeps them flat
    flat = {k.split("/", 1)[1]: v for k, v in md.items() if k.startswith(f"{EXTRA_PREFIX}/")}
    extras = {k: np.asarray(v) for k, v in {**flat, **(md.get(EXTRA_PREFIX) or {})}.items()}
    return md.get("seed"), extras


def import_minari(source: str | os.PathLike[str], dst: str | os.PathLike[str], frame_size: int | None = None,
                  env: str | None = None, text_every: int = 8, progress: bool = False) -> MinariSummary:
    """Import every episode of a local Minari dataset into the store ``dst`` (all or nothing).

    Args:
        source: a dataset id under :func:`minari_root`, or a dataset folder.
        dst: the store directory (new, empty, or a store with the same settings to append to).
        frame_size, env, text_every: see :class:`ImportConfig`.
        progress: show a progress bar over episodes.

    Example:
        >>> import_minari("atari/pong/expert-v0", "data/pong-expert")   # doctest: +SKIP
        MinariSummary(source='atari/pong/expert-v0', episodes=..., ...)
    """
    cfg = ImportConfig(frame_size=frame_size, env=env, text_every=text_every)
    ds = open_dataset(source)
    name = str(ds.spec.dataset_id)
    plan = plan_import(ds, name, cfg)
    dst = Path(dst)
    meta = plan.meta.to_json()
    EpisodeStore.check_target(dst, **{k: v for k, v in meta.items() if k not in ("format", "format_version")})
    steps = texts = 0
    warned = False
    with (StagedStore(dst) as staged,
          progress_bar(f"importing {name}", ds.total_episodes, progress) as advance):
        store = staged.create(plan.meta)
        for ep in ds.iterate_episodes():
            if plan.texter is not None and not warned and not _has_lives(ep):
                warned = True
                warnings.warn(f"Minari dataset {name} records no infos['lives'] (record_infos was off): "
                              f"the 'lost a life' captions are left out", stacklevel=2)
            episode = to_episode(ep, *_episode_metadata(ds, ep.id), plan)
            store.write(episode)
            steps, texts = steps + episode.num_steps, texts + len(episode.text_events)
            advance()
    return MinariSummary(name, ds.total_episodes, steps, texts, dst)


# -- export -------------------------------------------------------------------------------------

def space_from_json(d: dict[str, Any]) -> gym.Space:
    """The gymnasium space a ``describe_space`` description stands for (array spaces only)."""
    kind = d.get("type")
    if kind == "Discrete":
        return gym.spaces.Discrete(int(d["n"]), start=int(d.get("start", 0)))
    if kind == "Box":
        return gym.spaces.Box(float(d["low"]), float(d["high"]), tuple(d["shape"]), np.dtype(d["dtype"]))
    if kind == "MultiDiscrete":
        return gym.spaces.MultiDiscrete(d["nvec"])
    if kind == "MultiBinary":
        return gym.spaces.MultiBinary(d["n"])
    raise ValueError(f"export-minari writes Discrete, Box, MultiDiscrete or MultiBinary actions, "
                     f"got {d!r:.80}")


def to_buffer(ep: Episode) -> Any:
    """One tv2tv ``Episode`` as a Minari ``EpisodeBuffer`` (text in ``infos["text"]``)."""
    from minari.data_collector import EpisodeBuffer

    if ep.num_steps == 0:
        raise ValueError("a Minari episode needs at least one step; this episode has none")
    per_frame: list[list[list[str]]] = [[] for _ in range(ep.num_steps + 1)]
    for e in ep.text_events:
        per_frame[e.frame].append([e.text, e.source])
    terminations, truncations = np.zeros(ep.num_steps, bool), np.zeros(ep.num_steps, bool)
    terminations[-1], truncations[-1] = ep.terminated, ep.truncated
    return EpisodeBuffer(
        seed=ep.seed, observations=ep.frames, actions=np.asarray(ep.actions), rewards=np.asarray(ep.rewards),
        terminations=terminations, truncations=truncations,
        infos={TEXT_KEY: [json.dumps(p, ensure_ascii=False) for p in per_frame]})


def _first_new_dir(path: Path) -> Path | None:
    """The outermost folder of ``path`` (itself included) that does not exist yet."""
    missing = [p for p in (path, *path.parents) if not p.exists()]  # a prefix of the chain
    return missing[-1] if missing else None


def _check_export(store: EpisodeStore, cfg: ExportConfig) -> Path:
    check_dataset_id(cfg.dataset_id)
    target = minari_root() / cfg.dataset_id
    if target.exists():
        raise ValueError(f"Minari dataset {cfg.dataset_id!r} already exists at {target}; Minari never "
                         f"overwrites one: choose another id or version")
    if find_spec(DATA_FORMATS[cfg.data_format]) is None:
        raise ValueError(f"Minari's {cfg.data_format} storage needs {DATA_FORMATS[cfg.data_format]}: "
                         f"pip install 'minari[{cfg.data_format}]'")
    if len(store) == 0:
        raise ValueError(f"store {store.root} has no episodes to export")
    return target


def export_minari(src: str | os.PathLike[str], dataset_id: str, data_format: str = "hdf5", jpeg: bool = False,
                  author: str | None = None, description: str | None = None,
                  progress: bool = False) -> MinariSummary:
    """Write the store ``src`` as the new Minari dataset ``dataset_id`` (all or nothing).

    Example:
        >>> export_minari("data/pong", "tv2tv/pong/sticky-v0")          # doctest: +SKIP
        >>> minari.load_dataset("tv2tv/pong/sticky-v0")[0].infos["text"][1]  # doctest: +SKIP
        b'[["move paddle up", "action"]]'
    """
    cfg = ExportConfig(dataset_id, data_format, jpeg, author, description)
    minari = _minari()
    store = EpisodeStore.open(src)
    meta = store.meta
    action_space = space_from_json(meta.action_space)
    target = _check_export(store, cfg)
    created = _first_new_dir(target)  # removed whole if the export fails
    steps = texts = 0
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_MINARI_NONE_WARNINGS, category=UserWarning)
            ds = minari.create_dataset_from_buffers(
                cfg.dataset_id, [], observation_space=gym.spaces.Box(0, 255, meta.frame_shape, np.uint8),
                action_space=action_space, author=cfg.author, data_format=cfg.data_format,
                description=cfg.description or f"{meta.env} episodes exported from a tv2tv store "
                                               f"(text in infos['{TEXT_KEY}'])", jpeg_encoding=cfg.jpeg)
        extras = []
        with progress_bar(f"exporting {src}", len(store), progress) as advance:
            for path in store.episode_paths():
                ep = store.load(path)
                ds.storage.update_episodes([to_buffer(ep)])
                extras.append({f"{EXTRA_PREFIX}/{k}": np.asarray(v).tolist() for k, v in ep.extras.items()})
                steps, texts = steps + ep.num_steps, texts + len(ep.text_events)
                advance()
        ds.storage.update_episode_metadata(extras)
        ds.storage.update_metadata({META_KEY: {"dataset_meta": meta.to_json(), "text_key": TEXT_KEY}})
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise
    return MinariSummary(str(src), len(extras), steps, texts, target)


# -- command line -------------------------------------------------------------------------------

def register_data(data_sub: Any) -> None:
    """Add ``tv2tv data import-minari SOURCE DST`` and ``tv2tv data export-minari SRC DATASET_ID``."""
    p = data_sub.add_parser("import-minari", help="import a local Minari dataset of image observations")
    p.add_argument("source", help="Minari dataset id (under MINARI_DATASETS_PATH) or dataset folder")
    p.add_argument("dst", type=Path, help="store directory to create (or append to)")
    p.add_argument("--frame-size", type=int, default=None,
                   help=f"side of the stored frames "
                        f"(default: an exported store's, else {DEFAULT_FRAME_SIZE})")
    p.add_argument("--env", default=None,
                   help="tv2tv env of the data, e.g. ALE/Pong-v5 (default: the dataset's)")
    p.add_argument("--text-every", type=int, default=8, help="repeat unchanged action text every N steps")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_import_minari)
    p = data_sub.add_parser("export-minari", help="write a store as a Minari dataset (text in infos)")
    p.add_argument("src", type=Path, help="store directory")
    p.add_argument("dataset_id",
                   help="new dataset id, e.g. tv2tv/pong/random-v0 (under MINARI_DATASETS_PATH)")
    p.add_argument("--data-format", choices=sorted(DATA_FORMATS), default="hdf5", help="Minari storage")
    p.add_argument("--jpeg", action="store_true",
                   help="JPEG-encode frames (smaller, lossy; default lossless)")
    p.add_argument("--author", default=None, help="author in the dataset metadata")
    p.add_argument("--description", default=None, help="description in the dataset metadata")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_export_minari)


def cmd_import_minari(args: Any) -> int:
    s = import_minari(args.source, args.dst, frame_size=args.frame_size, env=args.env,
                      text_every=args.text_every, progress=not args.no_progress)
    Console().print(escape(f"imported {s.episodes} episodes of {s.source} ({s.steps} steps, {s.text_events} "
                           f"text events) into {s.out}"))
    return 0


def cmd_export_minari(args: Any) -> int:
    s = export_minari(args.src, args.dataset_id, data_format=args.data_format, jpeg=args.jpeg,
                      author=args.author, description=args.description, progress=not args.no_progress)
    Console().print(escape(f"exported {s.episodes} episodes ({s.steps} steps, {s.text_events} text events) "
                           f"of {s.source} to Minari dataset {args.dataset_id} at {s.out}"))
    return 0

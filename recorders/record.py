"""``record(env, out, ...)``: record episodes of a game into an episode store, on all cores.

Design (why a process pool and not ``gymnasium.vector.AsyncVectorEnv``):

* Each worker is a process that runs its own loop ``policy -> RecordEpisodes(make_env(...))``
  and writes finished episodes straight into the store under its own writer id. Policies live
  next to their env, so scripted players may read the emulator (RAM, cloned states), which a
  vector env (env in a worker, policy in the parent) forbids; and no frame crosses a pipe.
* Episode ``k`` of a run is a pure function of ``(seed, k)`` and the settings: the env is reset
  with, and the policy built from, seeds drawn from ``SeedSequence([seed, k])`` (stored in the
  episode), so its content never depends on which worker ran it or on timing.
* ``episodes=N``: workers take indices ``0..N-1`` from a shared counter; exactly ``N`` episodes
  are written and they do not depend on ``workers``.
* ``steps=N``: worker ``w`` of ``W`` gets a fixed budget of ``N // W`` steps (the first
  ``N % W`` workers one more) and plays episodes ``w, w + W, w + 2W, ...``. When the budget runs
  out mid-episode, that episode is ended and written marked ``truncated`` (like a time limit),
  so exactly ``N`` steps are written and nothing recorded is thrown away. The episodes depend on
  ``steps`` and ``workers`` but not on timing.
* An interrupted run (Ctrl-C, SIGKILL) keeps every finished episode; the episodes in progress are
  not written (writes are atomic, see ``tv2tv.recorders.store``). Running again appends. Episodes
  are written by a writer thread per worker (``RecordEpisodes(background=True)``), so a SIGKILL
  may also lose the episode each worker was writing, never leaving a partial file.

Settings that must match to append to a store: env, frame shape, frameskip, texter name and
version, fps and the env options (``text_every``, ...); they go in ``dataset.json``. The policy may
differ between runs: each episode stores it in ``extras["policy"]``, with ``episode_index``,
``record_seed`` and ``policy_seed``. Re-running with the same seed appends the same episodes
again, so use a new ``--seed`` to add data.

Example:
    >>> summary = record("ALE/Pong-v5", "data/pong", episodes=4, policy="pong")   # doctest: +SKIP
    >>> summary.episodes, summary.steps                                           # doctest: +SKIP
    (4, 3120)
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing as mp
import os
import queue as queue_lib
import signal
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from tv2tv.config import check_int
from tv2tv.envs.family import check_frame_size
from tv2tv.envs.registry import family_of, get_texter, make_env
from tv2tv.progress import Advance, progress_bar
from tv2tv.recorders.policies import make_policy
from tv2tv.recorders.store import DatasetMeta, EpisodeStore, StoreError, describe_space
from tv2tv.recorders.wrapper import RecordEpisodes

ATARI_HZ = 60.0  # ALE emulates NTSC consoles: 60 frames per second
_REPORT_EVERY = 64  # steps between progress messages (and stop checks) from a worker


@dataclass(frozen=True)
class RecordConfig:
    """Everything a recording run needs; validated on construction.

    Args:
        env: env name for ``make_env`` (e.g. ``"ALE/Pong-v5"``).
        out: store directory (created, or appended to when compatible).
        steps: total steps to record (exactly one of ``steps`` / ``episodes``).
        episodes: number of episodes to record.
        policy: collection policy name (``tv2tv.recorders.policies``).
        frame_size: side of the square frames (``MIN_FRAME_SIZE..MAX_FRAME_SIZE`` of ``tv2tv.envs.family``).
        frameskip: emulator frames per step.
        seed: run seed (>= 0); episode ``k`` is seeded from ``(seed, k)``.
        workers: processes recording in parallel (1: in this process).
        max_episode_steps: truncate episodes after this many steps (``None``: the game's own).
        env_kwargs: family-specific ``make_env`` options (e.g. ``text_every``).
    """

    env: str
    out: Path
    steps: int | None = None
    episodes: int | None = None
    policy: str = "sticky"
    frame_size: int = 64
    frameskip: int = 4
    seed: int = 0
    workers: int = 2
    max_episode_steps: int | None = None
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        if (self.steps is None) == (self.episodes is None):
            raise ValueError(f"give exactly one of steps or episodes, got steps={self.steps!r}, "
                             f"episodes={self.episodes!r}")
        check_int("steps" if self.steps is not None else "episodes",
                  self.steps if self.steps is not None else self.episodes, 1)
        check_frame_size(self.frame_size)
        check_int("frameskip", self.frameskip, 1)
        check_int("seed", self.seed, 0)
        check_int("workers", self.workers, 1)
        if self.max_episode_steps is not None:
            check_int("max_episode_steps", self.max_episode_steps, 1)

    @property
    def budget(self) -> int:
        """The number of steps or episodes asked for."""
        return int(self.steps if self.steps is not None else self.episodes)  # type: ignore[arg-type]

    @property
    def num_workers(self) -> int:
        """Workers actually started: never more than there are steps or episodes."""
        return min(self.workers, self.budget)


@dataclass(frozen=True)
class RecordSummary:
    """What a run wrote.

    Args:
        out: the store directory.
        episodes: episodes written by this run (``truncated_by_budget`` of them cut by ``steps``).
        steps: steps in those episodes.
        store_episodes: episodes in the store after the run (earlier runs included).
        seconds: wall time of the recording (workers started to last episode written).
    """

    out: Path
    episodes: int
    steps: int
    truncated_by_budget: int
    store_episodes: int
    seconds: float

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0


def episode_seeds(seed: int, index: int) -> tuple[int, int]:
    """``(env_seed, policy_seed)`` of episode ``index`` of a run with ``seed``.

    Drawn from ``SeedSequence([seed, index])``, so runs with different seeds share no episode.

    Example:
        >>> episode_seeds(0, 1) == episode_seeds(0, 1) != episode_seeds(1, 0)
        True
    """
    env_seed, policy_seed = np.random.SeedSequence([seed, index]).generate_state(2)
    return int(env_seed), int(policy_seed)


def build_env(cfg: RecordConfig) -> gym.Env:
    """The env one worker records: ``make_env`` plus a ``TimeLimit`` if ``max_episode_steps``."""
    env = make_env(cfg.env, frame_size=cfg.frame_size, frameskip=cfg.frameskip, **cfg.env_kwargs)
    if cfg.max_episode_steps is not None:
        env = gym.wrappers.TimeLimit(env, cfg.max_episode_steps)
    return env


def stored_fps(cfg: RecordConfig, env: gym.Env) -> float:
    """Playback rate of the recorded frames: 60 Hz / frameskip for ALE, else the env's."""
    if cfg.env.startswith("ALE/"):
        return ATARI_HZ / cfg.frameskip
    fps = env.metadata.get("render_fps")
    if not fps:
        warnings.warn(f"env {cfg.env!r} declares no metadata['render_fps']; storing fps=15",
                      stacklevel=2)
        return 15.0
    return float(fps)


def dataset_meta(cfg: RecordConfig, env: gym.Env) -> DatasetMeta:
    """The ``dataset.json`` of a recording of ``env`` with ``cfg`` (the policy is not in it)."""
    texter = get_texter(env)
    extra: dict[str, Any] = {"env_kwargs": dict(cfg.env_kwargs)}
    if hasattr(texter, "text_every"):
        # The texter's effective setting, so a default and an explicit equal value agree.
        extra["env_kwargs"].pop("text_every", None)
        extra["text_every"] = int(texter.text_every)
    return DatasetMeta(
        env=cfg.env, frame_shape=tuple(env.observation_space.shape),  # type: ignore[arg-type]
        action_space=describe_space(env.action_space), texter=texter.name,
        texter_version=texter.version, frameskip=cfg.frameskip, fps=stored_fps(cfg, env),
        extra=extra,
    )


def env_options(meta: DatasetMeta) -> dict[str, Any]:
    """The ``make_env`` options a store was recorded with (the inverse of :func:`dataset_meta`):
    ``frame_size``, ``frameskip`` and the family options (``text_every``, ...).

    Example:
        >>> env_options(EpisodeStore.open("data/pong").meta)          # doctest: +SKIP
        {'frame_size': 64, 'frameskip': 4, 'text_every': 8}
    """
    options = {"frame_size": int(meta.frame_shape[0]), "frameskip": int(meta.frameskip),
               **meta.extra.get("env_kwargs", {})}
    if "text_every" in meta.extra:
        options["text_every"] = int(meta.extra["text_every"])
    return options


def env_for(meta: DatasetMeta, seed: int | None = None, name: str | None = None) -> gym.Env:
    """The real game a store recorded, rebuilt from its ``dataset.json`` (:func:`env_options`).

    Args:
        meta: the store's metadata (``EpisodeStore.meta``, ``Generator.meta``).
        seed: seed of the env's first ``reset``.
        name: play this game instead of ``meta.env``, with the store's frames and options.

    Raises:
        ValueError: ``make_env`` cannot build the game (an imported store's ``minerl-vpt``, ...).

    Example:
        >>> env = env_for(EpisodeStore.open("data/pong").meta, seed=0)   # doctest: +SKIP
    """
    return make_env(meta.env if name is None else name, seed=seed, **env_options(meta))


def prepare_store(cfg: RecordConfig) -> EpisodeStore:
    """Check ``cfg.out`` before any env starts, then build one env to write ``dataset.json``.

    Raises:
        ValueError: unknown env or policy, bad settings.
        StoreError: ``out`` is another store (the differing fields are named) or holds
            foreign files.
    """
    family_of(cfg.env)  # unknown env names fail here, naming the closest ones
    EpisodeStore.check_target(cfg.out, env=cfg.env, frameskip=cfg.frameskip,
                              frame_shape=(cfg.frame_size, cfg.frame_size, 3))
    env = build_env(cfg)
    try:
        make_policy(cfg.policy, env, seed=0)  # unknown policies fail before any worker starts
        return EpisodeStore.create(cfg.out, dataset_meta(cfg, env))
    finally:
        env.close()


# -- workers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Job:
    cfg: RecordConfig
    worker: int
    step_budget: int | None  # steps mode: this worker's steps; episodes mode: None


class _Reporter:
    """Progress from a worker. ``step()`` and ``episode()`` return True when the worker must stop.

    Steps are sent in batches, and the stop condition is checked, every ``_REPORT_EVERY`` steps
    and at every episode end.
    """

    def __init__(self, send: Callable[[str, Any], None], should_stop: Callable[[], bool]) -> None:
        self.send, self.should_stop = send, should_stop
        self._pending = self._since_check = 0

    def step(self) -> bool:
        self._pending += 1
        self._since_check += 1
        if self._since_check < _REPORT_EVERY:
            return False
        self._since_check = 0
        self.flush()
        return self.should_stop()

    def flush(self) -> None:
        if self._pending:
            self.send("steps", self._pending)
            self._pending = 0

    def episode(self, steps: int, by_budget: bool) -> bool:
        self.flush()
        self.send("episode", (steps, by_budget))
        return self.should_stop()


def run_worker(job: _Job, next_index: Callable[[], int | None], report: _Reporter) -> None:
    """Play and record episodes until the indices or the step budget run out."""
    cfg = job.cfg
    env = RecordEpisodes(build_env(cfg), store=EpisodeStore.open(cfg.out), background=True)
    done_steps = 0
    try:
        while job.step_budget is None or done_steps < job.step_budget:
            k = next_index()
            if k is None:
                return
            env_seed, policy_seed = episode_seeds(cfg.seed, k)
            policy = make_policy(cfg.policy, env, seed=policy_seed)
            env.extras = {"policy": cfg.policy, "episode_index": k, "record_seed": cfg.seed,
                          "policy_seed": policy_seed}
            obs, _ = env.reset(seed=env_seed)
            ended = False
            while not ended:
                if job.step_budget is not None and done_steps >= job.step_budget:
                    if env.truncate_episode() is not None:
                        report.episode(env.last_steps, by_budget=True)
                    return
                obs, _, terminated, truncated, _ = env.step(policy(obs))
                done_steps += 1
                ended = terminated or truncated
                if ended:
                    if report.episode(env.last_steps, by_budget=False):
                        return
                elif report.step():
                    return  # asked to stop: the episode in progress is not written
    finally:
        report.flush()
        env.close()


def _worker_process(job: _Job, q: Any, stop: Any, counter: Any, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C through `stop`

    def should_stop() -> bool:
        return stop.is_set() or os.getppid() != parent  # parent gone (killed): stop too

    report = _Reporter(lambda kind, payload: q.put((job.worker, kind, payload)), should_stop)
    try:
        run_worker(job, _index_source(job, counter), report)
        q.put((job.worker, "done", None))
    except BaseException as exc:  # whatever it is, the parent reports it and stops the others
        user = isinstance(exc, (ValueError, TypeError, FileNotFoundError))
        q.put((job.worker, "error", (user, f"{type(exc).__name__}: {exc}", traceback.format_exc())))


def _index_source(job: _Job, counter: Any) -> Callable[[], int | None]:
    """Episode indices for one worker: a fixed stride in steps mode, else a shared counter."""
    if job.step_budget is not None:
        stride = itertools.count(job.worker, job.cfg.num_workers)
        return lambda: next(stride)
    total = job.cfg.budget

    def take() -> int | None:
        with counter.get_lock():
            k = counter.value
            if k >= total:
                return None
            counter.value = k + 1
        return k
    return take


def _jobs(cfg: RecordConfig) -> list[_Job]:
    n = cfg.num_workers
    if cfg.steps is None:
        return [_Job(cfg, w, None) for w in range(n)]
    return [_Job(cfg, w, cfg.steps // n + (w < cfg.steps % n)) for w in range(n)]


# -- the parent --------------------------------------------------------------------------------
class _Tally:
    """Counts in the parent, fed by worker messages; drives the progress bar."""

    def __init__(self, cfg: RecordConfig, advance: Advance) -> None:
        self.cfg, self.steps, self.episodes, self.by_budget, self.ep_steps = cfg, 0, 0, 0, 0
        self.start = time.perf_counter()
        self._advance, self._shown = advance, 0

    def handle(self, kind: str, payload: Any) -> None:
        if kind == "steps":
            self.steps += payload
        elif kind == "episode":
            steps, by_budget = payload
            self.episodes += 1
            self.ep_steps += steps
            self.by_budget += bool(by_budget)
        done = self.steps if self.cfg.steps is not None else self.episodes
        rate = self.steps / max(time.perf_counter() - self.start, 1e-9)
        self._advance(done - self._shown,
                      info=f"{self.steps} steps, {self.episodes} episodes, {rate:,.0f} steps/s")
        self._shown = done

    def summary(self, store: EpisodeStore) -> RecordSummary:
        return RecordSummary(out=self.cfg.out, episodes=self.episodes, steps=self.ep_steps,
                             truncated_by_budget=self.by_budget, store_episodes=len(store),
                             seconds=time.perf_counter() - self.start)


class _LocalCounter:
    """The in-process stand-in for ``multiprocessing.Value`` (same ``get_lock``/``value``)."""

    def __init__(self) -> None:
        self.value = 0

    def get_lock(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


def _run_in_process(cfg: RecordConfig, tally: _Tally) -> None:
    job = _jobs(cfg)[0]
    run_worker(job, _index_source(job, _LocalCounter()), _Reporter(tally.handle, lambda: False))


def _run_workers(cfg: RecordConfig, tally: _Tally) -> None:
    # spawn, not fork: the parent may hold threads (rich's refresh thread, torch's pools), and a
    # forked child of a threaded parent can deadlock on a lock copied mid-use.
    ctx = mp.get_context("spawn")
    q, stop, counter = ctx.Queue(), ctx.Event(), ctx.Value("q", 0)
    procs = {job.worker: ctx.Process(target=_worker_process, daemon=True,
                                     args=(job, q, stop, counter, os.getpid()),
                                     name=f"tv2tv-record-{job.worker}")
             for job in _jobs(cfg)}
    for p in procs.values():
        p.start()
    running = set(procs)
    try:
        while running:
            try:
                worker, kind, payload = q.get(timeout=0.5)
            except queue_lib.Empty:
                dead = {w for w in running if procs[w].exitcode is not None}
                if dead:
                    _drain(q, running, dead, tally, grace_s=2.0)
                    _check_exited(procs, running & dead)
                continue
            _handle(worker, kind, payload, running, tally)
    finally:
        stop.set()
        for p in procs.values():
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join()


def _handle(worker: int, kind: str, payload: Any, running: set[int], tally: _Tally) -> None:
    if kind == "error":
        _raise_worker_error(worker, *payload)
    if kind == "done":
        running.discard(worker)
    else:
        tally.handle(kind, payload)


def _drain(q: Any, running: set[int], dead: set[int], tally: _Tally, grace_s: float) -> None:
    """Handle what exited workers sent last (their final messages may still be in the pipe)."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and not running.isdisjoint(dead):
        try:
            _handle(*q.get(timeout=0.1), running, tally)
        except queue_lib.Empty:
            continue


def _check_exited(procs: dict[int, Any], dead: set[int]) -> None:
    for w in sorted(dead):  # still running after the drain: no "done" ever came
        raise RuntimeError(f"recording worker {w} died (exit code {procs[w].exitcode}) without a "
                           f"report; the episodes it finished are kept")


def _raise_worker_error(worker: int, user: bool, message: str, tb: str) -> None:
    if user:
        raise StoreError(f"recording worker {worker} failed: {message}")
    raise RuntimeError(f"recording worker {worker} failed: {message}\n{tb}")


def record(env_name: str, out: str | os.PathLike[str], *, steps: int | None = None,
           episodes: int | None = None, policy: str = "sticky", frame_size: int = 64,
           frameskip: int = 4, seed: int = 0, workers: int = 2, max_episode_steps: int | None = None,
           progress: bool = True, **env_kwargs: Any) -> RecordSummary:
    """Record ``steps`` steps or ``episodes`` episodes of ``env_name`` into the store ``out``.

    See the module docstring for determinism, budgets and what happens on interruption.

    Args:
        env_name: env for ``make_env``, e.g. ``"ALE/Pong-v5"``.
        out: store directory; created, or appended to if it is a compatible store.
        steps: total steps to record (exactly one of ``steps`` / ``episodes``).
        episodes: number of episodes to record.
        policy: collection policy name, e.g. ``"sticky"``, ``"random"``, ``"pong"``.
        frame_size: side of the square frames (``MIN_FRAME_SIZE..MAX_FRAME_SIZE`` of ``tv2tv.envs.family``).
        frameskip: emulator frames per step.
        seed: run seed; the same seed, policy and settings give the same episodes.
        workers: processes recording in parallel (1 records in this process).
        max_episode_steps: truncate episodes after this many steps.
        progress: show a progress bar on stderr (``tv2tv.progress``).
        **env_kwargs: family options for ``make_env`` (e.g. ``text_every=8``).

    Returns:
        A ``RecordSummary``.

    Raises:
        ValueError: bad settings, unknown env or policy.
        StoreError: ``out`` is a different store (differing fields named) or holds other files.

    Example:
        >>> record("ALE/Pong-v5", "data/pong", steps=2000, policy="pong", workers=2)  # doctest: +SKIP
        RecordSummary(out=PosixPath('data/pong'), episodes=2, steps=2000, ...)
    """
    cfg = RecordConfig(env=env_name, out=Path(out), steps=steps, episodes=episodes, policy=policy,
                       frame_size=frame_size, frameskip=frameskip, seed=seed, workers=workers,
                       max_episode_steps=max_episode_steps, env_kwargs=env_kwargs)
    store = prepare_store(cfg)
    unit = "steps" if cfg.steps is not None else "episodes"
    with progress_bar(f"recording {cfg.env} ({unit})", cfg.budget, progress) as advance:
        tally = _Tally(cfg, advance)
        if cfg.num_workers == 1:
            _run_in_process(cfg, tally)
        else:
            _run_workers(cfg, tally)
    return tally.summary(store)

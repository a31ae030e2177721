"""What the controllability benchmark gives a model and asks back (docs/design.md, "Controllability").

A :class:`Branch` is one branch point of a real episode: the context the model sees (frames up
to and including the branch frame, the text events and actions on them) and the K ground-truth
futures the real game produced for the K scripted alternatives. Each alternative is a
:class:`Script`: text interventions at steps relative to the branch, and the env actions they
parse to (what the real game was played with). The scripts live on each branch: for a goal
alternative (``branches.py``) the text is the goal policy's plan and the actions are the ones it
took at that branch point, so an ``action-id`` model and the IDM always read ``branch.scripts``.

A model takes part through the :class:`BranchPredictor` protocol: ``predict(branch, scripts,
horizon, seed)`` returns the K generated futures, ``uint8 (K, horizon, H, W, C)``. Frame ``i``
of a future is episode frame ``branch.frame + 1 + i``. A text-conditioned world model should
condition on ``branch.context_frames`` with ``branch.context_events`` and, for alternative
``k``, append ``scripts[k].events(branch.frame)``: text events of source ``"intervention"``
placed at absolute episode frames, the text for step ``s`` on frame ``branch.frame + 1 + s``
(the first frame that shows its effect, as ``tv2tv.types`` places action text).

Example:
    >>> predictor = load_predictor("copy-last")
    >>> futures = predictor.predict(branch, list(branch.scripts), horizon=8, seed=0)  # doctest: +SKIP
    >>> futures.shape                                                             # doctest: +SKIP
    (3, 8, 64, 64, 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from tv2tv.types import Episode, TextEvent

if TYPE_CHECKING:
    from tv2tv.world_model.interventions import TranscriptEntry


@dataclass(frozen=True)
class Script:
    """One scripted alternative: text interventions and the env actions they stand for.

    Args:
        name: the alternative's name in its suite ("up").
        steps: ``(step, text)`` pairs, step relative to the branch (0 = the first future step),
            sorted, the first at step 0.
        actions: ``(horizon, ...)`` env actions, each step's text parsed and held until the
            next text; for a goal alternative, the actions the goal policy took at this branch.
        probe: the paddle direction a game probe expects ("up"), or ``None``.
        held: the texts are actions held until the next text (a ``script:`` alternative), so a
            model is told them again as a recording would (:meth:`held_steps`); ``False`` for a
            goal alternative, whose plan text is said once.

    Example:
        >>> s = Script("up", ((0, "move paddle up"),), np.array([2, 2]), probe="up")
        >>> s.events(10)
        (TextEvent(frame=11, text='move paddle up', source='intervention'),)
    """

    name: str
    steps: tuple[tuple[int, str], ...]
    actions: np.ndarray
    probe: str | None = None
    held: bool = True

    @property
    def horizon(self) -> int:
        return int(len(self.actions))

    def events(self, branch_frame: int) -> tuple[TextEvent, ...]:
        """The interventions as text events at absolute episode frames."""
        return tuple(TextEvent(branch_frame + 1 + s, t, "intervention") for s, t in self.steps)

    def held_steps(self, text_every: int | None) -> tuple[tuple[int, str], ...]:
        """The ``(step, text)`` pairs a recording would hold for this script over its horizon.

        A texter writes an action's text when the action changes and again every ``text_every``
        steps while it is held (``AtariTexter``); a model trained on such recordings is told a
        held action the same way, and no other action text in between. ``None`` or a goal
        script: the script's own steps only.

        Example:
            >>> Script("up", ((0, "move paddle up"),), np.array([2] * 5)).held_steps(2)
            ((0, 'move paddle up'), (2, 'move paddle up'), (4, 'move paddle up'))
        """
        if text_every is None or not self.held:
            return self.steps
        given, out, last = dict(self.steps), [], -text_every
        for step in range(self.horizon):
            if step in given or step - last >= text_every:
                out.append((step, given.get(step, self.text_at(step))))
                last = step
        return tuple(out)

    def text_at(self, step: int) -> str:
        """The intervention text in force at relative ``step`` (for captions)."""
        return [t for s, t in self.steps if s <= step][-1]


@dataclass(frozen=True)
class Branch:
    """One branch point of a real episode with its K ground-truth futures.

    Shapes: ``context_frames`` ``uint8 (Tc, H, W, C)`` (episode frames ``context_start`` ..
    ``frame``), ``context_actions`` ``(Tc - 1, ...)`` (the actions between them),
    ``truth`` ``uint8 (K, horizon, H, W, C)`` (episode frames ``frame + 1`` .. ``frame + horizon``
    under each script). ``context_events`` carry absolute episode frame indices.
    """

    env: str
    index: int
    episode_seed: int
    frame: int
    context_start: int
    context_frames: np.ndarray
    context_actions: np.ndarray
    context_events: tuple[TextEvent, ...]
    scripts: tuple[Script, ...]
    truth: np.ndarray

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        h, w, c = self.context_frames.shape[1:]
        return int(h), int(w), int(c)

    @property
    def horizon(self) -> int:
        return int(self.truth.shape[1])

    @property
    def last_frame(self) -> np.ndarray:
        """The branch frame, ``uint8 (H, W, C)``."""
        return self.context_frames[-1]


@dataclass(frozen=True)
class FreeRollouts:
    """A model's free rollouts (``tv2tv.benchmarks.think_act``) from one branch point's context.

    Args:
        frames: generated frames ``uint8 (R, horizon, H, W, C)``.
        entries: per generated chunk, per rollout, the transcript entries ``step`` returned.
    """

    frames: np.ndarray
    entries: list[list[list[TranscriptEntry]]]


@runtime_checkable
class BranchPredictor(Protocol):
    """A model under test. ``env`` and ``frame_shape`` are what it was trained on (``None``: any).

    ``predict`` returns ``uint8 (K, horizon, H, W, C)``, one future per script, in order.
    """

    name: str
    env: str | None
    frame_shape: tuple[int, int, int] | None

    def predict(self, branch: Branch, scripts: list[Script], horizon: int, seed: int) -> np.ndarray:
        ...


class CopyLast:
    """Baseline ``copy-last``: every future repeats the branch frame (docs/design.md, "Baselines"
    under "Variants").

    Example:
        >>> CopyLast().name
        'copy-last'
    """

    env: str | None = None
    frame_shape: tuple[int, int, int] | None = None

    def __init__(self, name: str = "copy-last") -> None:
        self.name = name

    def predict(self, branch: Branch, scripts: list[Script], horizon: int, seed: int) -> np.ndarray:
        last = branch.last_frame                                    # (H, W, C)
        return np.broadcast_to(last, (len(scripts), horizon, *last.shape)).copy()


BUILTIN_PREDICTORS = {"copy-last": CopyLast}


class WorldModelPredictor:
    """A trained TV2TV run (``tv2tv train`` output) as a :class:`BranchPredictor`.

    The K alternatives of a branch are rolled out as one batch from the same context; the
    script's text enters as user interventions at the frames it names, and a held action's text
    again every ``text_every`` steps of the training store, as its texter wrote held actions.
    ``no-text`` runs get the same context without text (they take no interventions), so they can
    only guess.
    ``action-id`` runs get the context's actions and each script's env actions instead of text.
    ``plan-first`` runs get each script's texts up front, as the plan (``Generator.start(plan=)``).

    Args:
        generator: a ``tv2tv.world_model.generate.Generator``.
        name: the name the report uses.
    """

    def __init__(self, generator: Any, name: str) -> None:
        self.generator, self.name = generator, name
        meta = generator.meta
        self.env = meta.env if meta is not None else None
        self.frame_shape = tuple(meta.frame_shape) if meta is not None else None

    def _context(self, branch: Branch) -> Episode:
        t = branch.context_frames.shape[0]
        events = tuple(TextEvent(e.frame - branch.context_start, e.text, e.source)
                       for e in branch.context_events
                       if 0 <= e.frame - branch.context_start < t)
        return Episode(frames=branch.context_frames, actions=np.asarray(branch.context_actions),
                       rewards=np.zeros(t - 1, np.float32), terminated=False, truncated=False,
                       text_events=events, env=branch.env)

    def predict(self, branch: Branch, scripts: list[Script], horizon: int, seed: int) -> np.ndarray:
        gen = self.generator
        f = gen.frames_per_chunk
        # A held action is told as the recording's texter would tell it (``Script.held_steps``).
        text_every = None if gen.meta is None else gen.meta.extra.get("text_every")
        steps = [script.held_steps(None if text_every is None else int(text_every)) for script in scripts]
        # Generated frame i is episode frame branch.frame + 1 + i, so a script step is the
        # generator's frame index; the texts of one chunk are joined as in training.
        per_chunk: list[list[str | None]] = []                     # (chunks, K)
        for j in range(-(-horizon // f)):
            texts: list[str | None] = []
            for held in steps:
                here = [t for s, t in held if j * f <= s < (j + 1) * f]
                joined = gen.cfg.sequence.text_separator.join(here)
                texts.append(joined if here and gen.variant.reads_text else None)
            per_chunk.append(texts)
        # plan-first runs get every script's texts up front, as the plan of their windows.
        plan_first = gen.variant.plan_first
        session = gen.start(self._context(branch), batch=len(scripts), seed=seed,
                            plan=per_chunk if plan_first else None)
        # action-id runs get each script's env actions instead of its text: action s is taken
        # at episode frame branch.frame + s and leads to generated frame s.
        actions = (gen.rollout_actions(np.stack([np.asarray(s.actions)[:horizon] for s in scripts]), horizon,
                                       len(scripts)) if gen.variant.takes_actions else None)
        chunks = []
        for j, texts in enumerate(per_chunk):
            frames, _ = session.step(None if plan_first else texts,
                                     actions=None if actions is None else actions[:, j * f:(j + 1) * f])
            chunks.append(frames)                                    # (K, F, H, W, C)
        return np.concatenate(chunks, axis=1)[:, :horizon].astype(np.uint8)   # (K, horizon, H, W, C)

    @property
    def writes_text(self) -> bool:
        """Whether the model writes its own text (``text``, ``plan-first``): it has free rollouts."""
        return bool(self.generator.variant.reads_text)

    def free_rollouts(self, branch: Branch, n: int, horizon: int, seed: int) -> FreeRollouts:
        """``n`` rollouts from the branch's context with no user text: the model writes its own text
        (``tv2tv.benchmarks.think_act``). Refused for a model that writes none."""
        gen = self.generator
        if not self.writes_text:
            raise ValueError(f"model {self.name!r} ({gen.cfg.variant}) writes no text: it has no free "
                             f"rollouts to score")
        session = gen.start(self._context(branch), batch=n, seed=seed)
        chunks, entries = [], []
        for _ in range(-(-horizon // gen.frames_per_chunk)):
            frames, new = session.step(None)
            chunks.append(frames)                                    # (n, F, H, W, C)
            entries.append(new)
        return FreeRollouts(np.concatenate(chunks, axis=1)[:, :horizon].astype(np.uint8), entries)


def world_model_predictor(run_dir: Path, name: str, ode_steps: int = 8) -> BranchPredictor:
    """Load a trained run directory as a :class:`WorldModelPredictor`.

    ``env`` and ``frame_shape`` come from the run's training data, so :func:`check_compatible`
    refuses a run of another game or frame size.
    """
    from tv2tv.world_model.generate import Generator
    from tv2tv.world_model.rollout_model import SamplingConfig

    generator = Generator.from_run(run_dir, SamplingConfig(ode_steps=ode_steps))
    return WorldModelPredictor(generator, name)


def load_predictor(run: str, name: str | None = None) -> BranchPredictor:
    """A predictor from a ``--ckpt``/``--baseline`` value: a built-in name or a run directory.

    Args:
        run: ``"copy-last"`` or the directory of a training run.
        name: the name the report uses (defaults to ``run``'s name).

    Raises:
        ValueError: the run directory does not exist.

    Example:
        >>> load_predictor("copy-last", "baseline").name
        'baseline'
    """
    if run in BUILTIN_PREDICTORS:
        return BUILTIN_PREDICTORS[run](name or run)
    path = Path(run)
    if not path.is_dir():
        raise ValueError(f"checkpoint {run!r} is neither a run directory nor a built-in model "
                         f"({', '.join(BUILTIN_PREDICTORS)})")
    return world_model_predictor(path, name or path.name)


def check_compatible(predictor: BranchPredictor, env: str, frame_shape: tuple[int, int, int]) -> None:
    """Refuse a model trained on another game or frame size than the branches'.

    Example:
        >>> check_compatible(CopyLast(), "ALE/Pong-v5", (64, 64, 3))
    """
    if predictor.env is not None and predictor.env != env:
        raise ValueError(f"model {predictor.name!r} was trained on {predictor.env!r}, "
                         f"but the benchmark runs {env!r}")
    if predictor.frame_shape is not None and tuple(predictor.frame_shape) != tuple(frame_shape):
        raise ValueError(f"model {predictor.name!r} was trained on frames {tuple(predictor.frame_shape)}, "
                         f"but the benchmark's frames are {tuple(frame_shape)}; pass --frame-size "
                         f"{predictor.frame_shape[0]}")


def check_prediction(predictor: BranchPredictor, out: np.ndarray, branch: Branch, k: int,
                     horizon: int) -> None:
    """Raise a ``ValueError`` naming the model when its output is not ``uint8 (K, horizon, H, W, C)``."""
    want = (k, horizon, *branch.frame_shape)
    if not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.shape != want:
        raise ValueError(f"model {predictor.name!r} returned {getattr(out, 'dtype', type(out))} "
                         f"{getattr(out, 'shape', '')}, expected uint8 {want}")

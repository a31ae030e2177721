"""A held action reaches a text model as a recording would show it: again every ``text_every``
steps of the training store, and no other action text in between."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tv2tv.benchmarks.models import Script, WorldModelPredictor
from tv2tv.recorders.store import DatasetMeta
from tv2tv.world_model.variants import variant_of

UP = Script("up", ((0, "move paddle up"),), np.full(8, 2))


def test_held_steps_repeat_every_text_every() -> None:
    assert UP.held_steps(3) == ((0, "move paddle up"), (3, "move paddle up"), (6, "move paddle up"))
    assert UP.held_steps(1) == tuple((s, "move paddle up") for s in range(8))
    assert UP.held_steps(None) == UP.steps
    zigzag = Script("z", ((0, "move paddle up"), (4, "move paddle down")), np.array([2] * 4 + [3] * 4))
    assert zigzag.held_steps(3) == ((0, "move paddle up"), (3, "move paddle up"), (4, "move paddle down"),
                                    (7, "move paddle down"))
    goal = Script("wood", ((0, "goal: collect wood"),), np.zeros(8, np.int64), held=False)
    assert goal.held_steps(1) == goal.steps


@given(every=st.integers(1, 10), horizon=st.integers(1, 20))
def test_held_steps_never_leave_a_gap_longer_than_text_every(every: int, horizon: int) -> None:
    steps = [s for s, _ in Script("up", ((0, "move paddle up"),), np.full(horizon, 2)).held_steps(every)]
    assert steps[0] == 0 and all(b - a == every for a, b in zip(steps, steps[1:]))
    assert horizon - 1 - steps[-1] < every


@dataclass
class _Session:
    texts: list = field(default_factory=list)

    def step(self, texts, actions=None):  # noqa: ANN001, ANN201
        self.texts.append(texts)
        return np.zeros((len(texts), 2, 4, 4, 3), np.uint8), []


class _Gen:
    """The parts of a ``Generator`` the predictor uses, recording what each step is given."""

    frames_per_chunk, variant = 2, variant_of("text")

    def __init__(self, text_every: int | None) -> None:
        extra = {} if text_every is None else {"text_every": text_every}
        self.meta = DatasetMeta("ALE/Pong-v5", (4, 4, 3), {"type": "Discrete", "n": 6}, "atari", "1",
                                extra=extra)
        self.cfg = SimpleNamespace(sequence=SimpleNamespace(text_separator="; "), variant="text")
        self.session = _Session()

    def start(self, context, batch, seed, plan=None):  # noqa: ANN001, ANN201
        return self.session


def _branch() -> SimpleNamespace:
    frames = np.zeros((4, 4, 4, 3), np.uint8)
    return SimpleNamespace(context_frames=frames, context_actions=np.zeros(3, np.int64), context_events=(),
                           context_start=0, env="ALE/Pong-v5")


def test_the_predictor_tells_a_held_action_as_the_store_was_texted() -> None:
    gen = _Gen(text_every=2)
    WorldModelPredictor(gen, "t").predict(_branch(), [UP, UP], horizon=6, seed=0)
    # 2 frames per chunk, text every 2 steps: the action's text before every chunk
    assert gen.session.texts == [["move paddle up"] * 2] * 3
    gen = _Gen(text_every=1)
    WorldModelPredictor(gen, "t").predict(_branch(), [UP], horizon=4, seed=0)
    assert gen.session.texts == [["move paddle up; move paddle up"]] * 2
    gen = _Gen(text_every=None)                 # a store without the setting: the script's own steps
    WorldModelPredictor(gen, "t").predict(_branch(), [UP], horizon=4, seed=0)
    assert gen.session.texts == [["move paddle up"], [None]]

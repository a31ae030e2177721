"""Think-act consistency: the model's own action text, parsed and held as each layout writes it, scored
against the action groups an IDM reads from its frames, next to the chance of frames that ignore it."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tv2tv.benchmarks.action_groups import atari_groups
from tv2tv.benchmarks.auto_suite import resolve_suite
from tv2tv.benchmarks.branches import make_branches
from tv2tv.benchmarks.controllability import run_controllability
from tv2tv.benchmarks.models import FreeRollouts, load_predictor
from tv2tv.benchmarks.think_act import (
    NOT_STATED,
    action_indices,
    score_think_act,
    stated_by_chunk,
    stated_frames,
)
from tv2tv.envs.atari_texter import AtariTexter
from tv2tv.world_model.interventions import TranscriptEntry as E

PHRASES = ["do nothing", "fire", "move paddle up", "move paddle down"]
TEXTER = AtariTexter(["NOOP", "FIRE", "RIGHT", "LEFT"], game="pong")


def actions_of(text: str) -> list[int]:
    return action_indices(text, TEXTER, "; ")


def test_action_phrases_are_parsed_in_order_and_captions_skipped() -> None:
    assert TEXTER.action_phrases() == PHRASES
    assert actions_of("move paddle up; scored a point; do nothing") == [2, 0]
    assert actions_of("scored a point") == [] and actions_of("") == []
    with pytest.raises(TypeError, match="Discrete texter"):
        action_indices("up", SimpleNamespace(parse=lambda _: {"forward": 1}), "; ")


def test_interleaved_text_holds_its_last_action_and_plan_first_states_one_chunk_each() -> None:
    steps = [[], [E(2, "move paddle up; move paddle down", "model")], [E(4, "scored a point", "model")],
             [E(6, "fire", "model")], [E(8, "do nothing", "user")]]
    # Interleaved: nothing before the first phrase; a chunk's last phrase states it and holds on;
    # user text is not the model's own.
    assert stated_by_chunk(steps, actions_of, plan_first=False) == [None, 3, 3, 1, 1]
    # Plan-first: a plan's phrases state the following chunks in order, the last holds, a new plan
    # replaces the rest of the old one.
    plans = [[E(0, "move paddle up; move paddle down; fire", "model")], [], [E(4, "do nothing", "model")],
             [], []]
    assert stated_by_chunk(plans, actions_of, plan_first=True) == [2, 3, 0, 0, 0]


def test_stated_frames_spreads_each_chunk_over_its_frames() -> None:
    ro = FreeRollouts(np.zeros((2, 5, 4, 4, 3), np.uint8),
                      [[[], [E(0, "move paddle up", "model")]], [[E(2, "fire", "model")], []],
                       [[], [E(4, "move paddle down", "model")]]])
    st = stated_frames(ro, actions_of, plan_first=False, frames_per_chunk=2)
    assert st.tolist() == [[NOT_STATED, NOT_STATED, 1, 1, 1], [2, 2, 2, 2, 3]]
    with pytest.raises(ValueError, match="one list per rollout"):
        stated_frames(FreeRollouts(ro.frames, [[[]]]), actions_of, False, 2)


class _PixelIDM:
    """Reads a frame's action group from its first pixel (group = value // 50): an IDM that is
    always right about frames made for it."""

    n_frames = 2
    groups = atari_groups(PHRASES)   # do nothing (do nothing, fire), up, down

    def predict(self, windows: np.ndarray) -> np.ndarray:
        return (windows[:, -1, 0, 0, :1] // 50).astype(np.int64)


def _setup(n_branches: int, follows: bool,
           seed: int = 0) -> tuple[list, list[FreeRollouts], list[np.ndarray]]:
    """Rollouts of 3 x 4 frames whose stated actions are random; the frames show the stated group
    (``follows``) or group 0 whatever is stated."""
    rng = np.random.default_rng(seed)
    branches, rollouts, stated = [], [], []
    for _ in range(n_branches):
        st = rng.integers(0, 4, (3, 4))
        group = (_PixelIDM.groups.labels(st.reshape(-1))[:, 0].reshape(3, 4) if follows
                 else np.zeros((3, 4), int))
        frames = np.zeros((3, 4, 2, 2, 3), np.uint8)
        frames[..., 0, 0, 0] = group * 50 + 10
        branches.append(SimpleNamespace(context_frames=np.zeros((2, 2, 2, 3), np.uint8)))
        rollouts.append(FreeRollouts(frames, []))
        stated.append(st)
    return branches, rollouts, stated


def test_frames_that_follow_their_text_beat_chance_and_frames_that_ignore_it_score_chance() -> None:
    idm = _PixelIDM()
    branches, rollouts, stated = _setup(12, follows=True)
    res = score_think_act(idm, branches, rollouts, stated)  # type: ignore[arg-type]
    assert res["consistency"] == 1.0 and res["stated_share"] == 1.0 and res["n_rollouts"] == 36
    p = res["stated_groups"]["move"]
    assert abs(sum(p.values()) - 1.0) < 1e-9
    assert res["chance"] == pytest.approx(sum(v * v for v in p.values()), abs=0.05)  # sum of p_g^2
    assert res["test"]["p_value"] < 0.01 and res["test"]["difference"] > 0.3
    # Frames that always show "do nothing", whatever the text says: consistency is the share of
    # "do nothing" in the text, exactly the chance of frames independent of it.
    branches, rollouts, stated = _setup(12, follows=False)
    res = score_think_act(idm, branches, rollouts, stated)  # type: ignore[arg-type]
    assert res["consistency"] == pytest.approx(res["chance"]) and res["test"]["p_value"] > 0.5
    assert res["idm_groups"]["move"]["do nothing"] == 1.0


def test_frames_without_stated_text_are_not_scored() -> None:
    idm = _PixelIDM()
    branches, rollouts, stated = _setup(3, follows=True)
    stated[0][:] = NOT_STATED
    res = score_think_act(idm, branches, rollouts, stated)  # type: ignore[arg-type]
    assert res["per_branch"][0] == [None, None, None] and res["consistency"] == 1.0
    assert res["stated_share"] == pytest.approx(2 / 3)
    for s in stated:
        s[:] = NOT_STATED
    res = score_think_act(idm, branches, rollouts, stated)  # type: ignore[arg-type]
    assert res["consistency"] is None and res["stated_share"] == 0.0 and res["test"]["p_value"] is None


def test_the_benchmark_scores_the_free_rollouts_of_a_text_model(pong_run: Path, tmp_path: Path) -> None:
    pred = load_predictor(str(pong_run), "tv2tv")
    res = run_controllability([pred], "ALE/Pong-v5", n_branches=2, horizon=4, suite="pong", seed=3,
                              out=tmp_path / "b", context_frames=4, frame_size=16, idm_steps=2,
                              idm_collect_steps=64, n_videos=0, policy="random")
    t = res["models"]["tv2tv"]["think_act"]
    assert t["variant"] == "text" and t["n_rollouts"] == 2 * 3   # one rollout per alternative
    assert 0.0 <= t["stated_share"] <= 1.0 and len(t["per_branch"]) == 2
    assert "think_act" not in res["models"]["copy-last"]          # writes no text
    saved = json.loads((tmp_path / "b" / "results.json").read_text())
    assert saved["models"]["tv2tv"]["think_act"]["n_rollouts"] == 6
    assert "## Think-act consistency" in (tmp_path / "b" / "report.md").read_text()


def test_free_rollouts_have_the_asked_shape_and_one_entry_list_per_chunk(pong_run: Path) -> None:
    pred = load_predictor(str(pong_run), "tv2tv")
    branch = make_branches("ALE/Pong-v5", 1, 3, resolve_suite("pong", "ALE/Pong-v5"), seed=3,
                           context_frames=4, policy="random", frame_size=16)[0]
    ro = pred.free_rollouts(branch, 2, 3, seed=0)
    assert ro.frames.dtype == np.uint8 and ro.frames.shape == (2, 3, 16, 16, 3)
    assert len(ro.entries) == 2 and all(len(step) == 2 for step in ro.entries)   # 2 chunks of 2 frames
    assert all(e.source == "model" for step in ro.entries for el in step for e in el)
    again = pred.free_rollouts(branch, 2, 3, seed=0)
    np.testing.assert_array_equal(ro.frames, again.frames)

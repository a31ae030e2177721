"""Suites and real-game branches: validation, determinism, and copy-last near chance on Pong."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from tv2tv.benchmarks.branches import builtin_suites, load_suite, make_branches
from tv2tv.benchmarks.models import CopyLast, Script
from tv2tv.benchmarks.scorers import score_model
from tv2tv.envs.family import EnvFamily, register_family
from tv2tv.envs.registry import get_texter, make_env

PONG = "ALE/Pong-v5"


@pytest.fixture(scope="module")
def pong_branches():
    return make_branches(PONG, 12, 8, load_suite("pong"), seed=0, context_frames=6)


def test_builtin_suites_parse_with_their_texters() -> None:
    assert {"pong", "breakout", "crafter"} <= set(builtin_suites())
    for name in ("pong", "breakout", "crafter"):
        suite = load_suite(name)
        load_suite(name, get_texter(make_env(suite.env, frame_size=16)))


def test_script_holds_text_until_changed() -> None:
    texter = get_texter(make_env(PONG, frame_size=16))
    path_suite = load_suite("pong")
    alt = path_suite.alternatives[0].__class__("zigzag", ((0, "move paddle up"), (2, "move paddle down")))
    script = alt.script(texter, 4)
    assert script.actions.tolist() == [2, 2, 3, 3]
    assert [e.frame for e in script.events(10)] == [11, 13]
    assert {e.source for e in script.events(10)} == {"intervention"}
    assert script.text_at(3) == "move paddle down"


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "suite.yaml"
    p.write_text(body)
    return p


HEAD = "name: t\nenv: ALE/Pong-v5\npolicy: pong\nhorizon: 4\nalternatives:\n"


def test_suite_errors_point_at_the_entry(tmp_path: Path) -> None:
    bad_step = HEAD + ("  - {name: up, script: [{step: 0, text: move paddle up}]}\n"
                       "  - {name: dn, script: [{step: -1, text: x}]}\n")
    with pytest.raises(ValueError, match=r"alternatives\[1\] \('dn'\): script\[0\]"):
        load_suite(_write(tmp_path, bad_step))
    unparsable = HEAD + ("  - {name: up, script: [{step: 0, text: move paddle up}]}\n"
                         "  - {name: jump, script: [{step: 0, text: jump high}]}\n")
    suite = load_suite(_write(tmp_path, unparsable))  # structure is fine ...
    with pytest.raises(ValueError, match="'jump'.*cannot parse 'jump high'"):  # ... the text is not
        suite.check_texts(get_texter(make_env(PONG, frame_size=16)))
    with pytest.raises(ValueError, match="unknown suite 'tetris'"):
        load_suite("tetris")
    with pytest.raises(ValueError, match="at least 2 alternatives"):
        load_suite(_write(tmp_path, HEAD + "  - {name: up, script: [{step: 0, text: move paddle up}]}\n"))


def test_same_seed_same_branches(pong_branches) -> None:
    again = make_branches(PONG, 12, 8, load_suite("pong"), seed=0, context_frames=6)
    assert [b.frame for b in again] == [b.frame for b in pong_branches]
    for a, b in zip(again, pong_branches):
        assert np.array_equal(a.truth, b.truth) and np.array_equal(a.context_frames, b.context_frames)
        assert a.context_events == b.context_events
    other = make_branches(PONG, 3, 8, load_suite("pong"), seed=1, context_frames=6)
    assert [b.frame for b in other] != [b.frame for b in pong_branches[:3]]


def test_branch_shapes_and_context(pong_branches) -> None:
    b = pong_branches[0]
    assert b.truth.shape == (3, 8, 64, 64, 3) and b.truth.dtype == np.uint8
    assert b.context_frames.shape[0] == 6 and len(b.context_actions) == 5
    assert all(b.context_start <= e.frame <= b.frame for e in b.context_events)
    assert all(isinstance(s, Script) for s in b.scripts)
    # The alternatives really differ from each other.
    assert not np.array_equal(b.truth[0], b.truth[1])


def test_oracle_perfect_and_copy_last_near_chance(pong_branches) -> None:
    oracle = score_model(pong_branches, [b.truth for b in pong_branches], "pong")
    assert oracle["counterfactual_accuracy"] == 1.0 and min(oracle["psnr"]) == 100.0
    copy = score_model(pong_branches, [CopyLast().predict(b, list(b.scripts), 8, 0) for b in pong_branches],
                       "pong")
    assert abs(copy["counterfactual_accuracy"] - 1 / 3) < 0.1
    assert copy["probe_follow_rate"] < oracle["probe_follow_rate"]


def test_env_without_cloning_is_refused(tmp_path: Path) -> None:
    register_family(EnvFamily("nocloning-test", lambda: ["NoClone-v0"],
                              lambda *a, **k: gym.make("CartPole-v1")))
    suite = load_suite(_write(tmp_path, HEAD.replace("ALE/Pong-v5", "NoClone-v0")
                              + "  - {name: a, script: [{step: 0, text: a}]}\n"
                                "  - {name: b, script: [{step: 0, text: b}]}\n"))
    with pytest.raises(ValueError, match="cannot clone its state"):
        make_branches("NoClone-v0", 2, 4, suite)


def test_suite_for_another_env_is_refused() -> None:
    with pytest.raises(ValueError, match="is for 'ALE/Pong-v5'"):
        make_branches("ALE/Breakout-v5", 2, 4, load_suite("pong"))

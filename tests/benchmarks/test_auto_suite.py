"""``--suite auto``: suites built from an ALE game's action groups, on games beyond Pong and Breakout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tv2tv.benchmarks.action_groups import groups_for_texter
from tv2tv.benchmarks.auto_suite import auto_suite, group_phrases, resolve_suite
from tv2tv.benchmarks.branches import load_suite
from tv2tv.benchmarks.controllability import run_controllability
from tv2tv.benchmarks.models import CopyLast
from tv2tv.cli import main
from tv2tv.envs.atari_texter import AtariTexter
from tv2tv.envs.registry import get_texter, make_env

MOVES8 = ["up", "right", "left", "down", "up-right", "up-left", "down-right", "down-left"]


@pytest.mark.parametrize("env,names", [
    ("ALE/SpaceInvaders-v5", ["right", "left", "stay"]),     # fire is in the "do nothing" group
    ("ALE/Freeway-v5", ["up", "down", "stay"]),
    ("ALE/Seaquest-v5", [*MOVES8, "stay"]),                   # full action set: 8 moves
])
def test_auto_suite_has_one_alternative_per_action_group(env: str, names: list[str]) -> None:
    suite = auto_suite(env)
    assert (suite.name, suite.env, suite.policy, suite.horizon) == ("auto", env, "random", 8)
    assert [a.name for a in suite.alternatives] == names
    texter = get_texter(make_env(env, frame_size=16))
    groups = groups_for_texter(texter)
    (task,) = groups.tasks
    assert sorted(a.steps[0][1] for a in suite.alternatives) == sorted(task.groups)  # every group, once
    for alt in suite.alternatives:
        assert len(alt.steps) == 1 and alt.steps[0][0] == 0       # held for the whole horizon
        assert alt.probe is None and alt.goal is None              # no probe here: the IDM scores
        text = alt.steps[0][1]
        action = texter.parse(text)
        assert texter.action_text(action) == text                  # a real phrase, parsed back
        assert task.groups[groups.labels([action])[0, 0]] == text  # ... to an action of its group
        script = alt.script(texter, 5)
        assert script.actions.tolist() == [action] * 5


def test_pong_auto_suite_equals_the_handwritten_one() -> None:
    auto, pong = auto_suite("ALE/Pong-v5"), load_suite("pong")
    assert auto.alternatives == pong.alternatives                  # names, texts, probes, order
    assert (auto.env, auto.policy, auto.horizon) == (pong.env, pong.policy, pong.horizon)


def test_breakout_auto_suite_differs_only_in_fire() -> None:
    auto, hand = auto_suite("ALE/Breakout-v5"), load_suite("breakout")
    by_name = {a.name: a for a in auto.alternatives}
    for alt in hand.alternatives[:2]:                              # left, right: the same
        assert by_name[alt.name] == alt
    # The hand-written suite serves the ball with "fire"; the auto suite's group is "do nothing".
    assert (hand.alternatives[2].steps, hand.alternatives[2].probe) == (((0, "fire"),), "stay")
    assert (by_name["stay"].steps, by_name["stay"].probe) == (((0, "do nothing"),), "stay")
    assert auto.policy == "breakout"


def test_group_phrase_is_a_member_when_the_plain_move_is_missing() -> None:
    texter = AtariTexter(["NOOP", "FIRE", "RIGHT", "LEFTFIRE"])
    assert group_phrases(texter) == {"do nothing": "do nothing", "move right": "move right",
                                     "move left": "move left and fire"}


def test_non_ale_env_names_its_suites() -> None:
    pytest.importorskip("crafter")
    with pytest.raises(ValueError, match=r"ALE games only, not 'crafter'.*\['crafter', 'crafter-goals'\]"):
        auto_suite("crafter")
    with pytest.raises(ValueError, match="unknown env"):
        auto_suite("ALE/NoSuchGame-v5")


def test_resolve_suite() -> None:
    pong = load_suite("pong")
    assert resolve_suite(pong, "ALE/Freeway-v5") is pong            # a Suite is used as given
    assert resolve_suite("auto", "ALE/Freeway-v5").env == "ALE/Freeway-v5"
    assert resolve_suite("breakout", "ALE/Breakout-v5").name == "breakout"
    with pytest.raises(ValueError, match="built per game"):
        load_suite("auto")


def test_auto_suite_end_to_end_scored_by_the_idm(tmp_path: Path) -> None:
    res = run_controllability([CopyLast()], "ALE/SpaceInvaders-v5", 2, 3, "auto", 0, tmp_path,
                              context_frames=4, idm_steps=3, idm_collect_steps=200, n_videos=0)
    assert json.loads((tmp_path / "results.json").read_text())["suite"] == "auto"
    assert res["alternatives"] == ["right", "left", "stay"] and res["n_branches"] == 2
    assert res["idm_groups"] == {"move": ["do nothing", "move right", "move left"]}
    m = res["models"]["copy-last"]
    assert m["probe_follow_rate"] is None                           # no probe for Space Invaders ...
    assert m["idm"]["n"] == 2 * 3 * 3 and 0.0 <= m["idm_accuracy"] <= 1.0   # ... the IDM scores
    assert m["chance"] == pytest.approx(1 / 3)


def test_cli_suite_auto_refuses_a_non_ale_env(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("crafter")
    code = main(["bench", "controllability", "--ckpt", "copy-last", "--env", "crafter", "--suite", "auto",
                 "--out", str(tmp_path / "o")])
    assert code == 2
    assert "ALE games only, not 'crafter'" in " ".join(capsys.readouterr().err.split())

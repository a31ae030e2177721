"""Action groups, MineWorld-style precision/recall/F1, an IDM that learns a visible action,
results.json fields."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tv2tv.benchmarks.action_groups import (
    ActionGroups,
    GroupTask,
    atari_groups,
    classification_scores,
    crafter_groups,
    group_scores,
    groups_for_env,
    minerl_groups,
)
from tv2tv.benchmarks.idm import IDMConfig, score_futures, train_idm
from tv2tv.envs.atari_texter import ALE_MEANINGS, AtariTexter
from tv2tv.envs.minerl_texter import VPT_KEYS, MineRLTexter
from tv2tv.types import Episode


def test_pong_and_breakout_groups_drop_fire() -> None:
    pong = groups_for_env("ALE/Pong-v5")   # NOOP FIRE RIGHT LEFT RIGHTFIRE LEFTFIRE
    assert pong.describe() == {"move": ["do nothing", "move paddle up", "move paddle down"]}
    assert pong.labels(np.arange(6))[:, 0].tolist() == [0, 0, 1, 2, 1, 2]
    breakout = groups_for_env("ALE/Breakout-v5")   # NOOP FIRE RIGHT LEFT
    assert breakout.describe() == {"move": ["do nothing", "move paddle right", "move paddle left"]}
    assert breakout.labels(np.arange(4))[:, 0].tolist() == [0, 0, 1, 2]


def test_full_action_set_groups_by_what_moves() -> None:
    # Pong's joystick up/down does nothing, and its diagonals move like right/left.
    g = atari_groups(AtariTexter(ALE_MEANINGS, game="pong").action_phrases())
    by_meaning = dict(zip(ALE_MEANINGS, g.labels(np.arange(18))[:, 0]))
    names = g.tasks[0].groups
    shown = ("UP", "UPFIRE", "UPRIGHT", "DOWNLEFTFIRE")
    assert {m: names[i] for m, i in by_meaning.items() if m in shown} == {
        "UP": "do nothing", "UPFIRE": "do nothing", "UPRIGHT": "move paddle up",
        "DOWNLEFTFIRE": "move paddle down"}
    generic = atari_groups(AtariTexter(["NOOP", "FIRE", "UPRIGHT", "UPRIGHTFIRE"]).action_phrases())
    assert generic.describe() == {"move": ["do nothing", "move up-right"]}


def test_crafter_groups() -> None:
    g = groups_for_env("crafter")
    assert g.describe() == {"action": ["do nothing", "move left", "move right", "move up", "move down",
                                       "interact", "sleep", "place", "make"]}
    labels = crafter_groups(["place table", "make wood sword", "interact"]).labels(np.arange(3))
    assert labels[:, 0].tolist() == [0, 1, 2]


def test_minerl_groups_follow_mineworld() -> None:
    texter = MineRLTexter(keys=VPT_KEYS)
    g = minerl_groups(texter.vector_fields(), texter.camera_step)
    assert [t.name for t in g.tasks] == ["back/forward", "left/right", "sneak/sprint", "use", "attack",
                                         "jump", "drop", "camera pitch", "camera yaw"]
    acts = [{**texter.noop(), "forward": 1, "camera": np.array([-3.0, 1.0])},  # look up; yaw < half a step
            {**texter.noop(), "forward": 1, "back": 1, "jump": 1},             # both keys read as none
            {**texter.noop(), "sneak": 1, "attack": 1, "camera": np.array([0.0, 2.0])}]
    labels = g.labels(np.stack([texter.to_vector(a) for a in acts]))
    named = [{t.name: t.groups[i] for t, i in zip(g.tasks, row)} for row in labels]
    assert named[0]["back/forward"] == "forward" and named[0]["camera pitch"] == "look up"
    assert named[0]["camera yaw"] == "none" and named[0]["jump"] == "none"
    assert named[1]["back/forward"] == "none" and named[1]["jump"] == "jump"
    assert named[2]["sneak/sprint"] == "sneak" and named[2]["attack"] == "attack"
    assert named[2]["camera yaw"] == "turn right"
    # no "back": no pair task
    assert [t.name for t in minerl_groups(["forward", "attack"]).tasks] == ["attack"]
    with pytest.raises(ValueError, match="no MineWorld action task"):
        minerl_groups(["hotbar.1"])


def test_groups_round_trip_and_checks() -> None:
    g = minerl_groups(MineRLTexter().vector_fields())
    assert ActionGroups.from_json(json.loads(json.dumps(g.to_json()))) == g
    with pytest.raises(ValueError, match="kind must be"):
        GroupTask("x", ("a", "b"), "lookup", (0, 1))
    with pytest.raises(ValueError, match="actions must lie in"):
        ActionGroups.identity(3).labels(np.array([3]))
    with pytest.raises(ValueError, match="action vectors"):
        g.labels(np.zeros(4, np.int64))


def test_metrics_match_hand_computed_values() -> None:
    # true: 0 0 0 1 1 2 2 2 ; pred: 0 0 1 1 0 1 1 0 -- group 2 is never predicted.
    s = classification_scores(np.array([0, 0, 0, 1, 1, 2, 2, 2]), np.array([0, 0, 1, 1, 0, 1, 1, 0]), 3)
    # group 0: tp 2, predicted 4, true 3 -> P 1/2, R 2/3, F1 4/7
    # group 1: tp 1, predicted 4, true 2 -> P 1/4, R 1/2, F1 1/3
    # group 2: tp 0, predicted 0 (precision defined as 0), true 3 -> P 0, R 0, F1 0
    want = [(1 / 2, 2 / 3, 4 / 7, 3), (1 / 4, 1 / 2, 1 / 3, 2), (0.0, 0.0, 0.0, 3)]
    got = [(c["precision"], c["recall"], c["f1"], c["support"]) for c in s["per_class"]]
    assert np.allclose(got, want)
    assert s["accuracy"] == pytest.approx(3 / 8)
    assert s["macro"] == pytest.approx({"precision": (1 / 2 + 1 / 4) / 3, "recall": (2 / 3 + 1 / 2) / 3,
                                        "f1": (4 / 7 + 1 / 3) / 3})
    assert s["micro"] == pytest.approx({"precision": 3 / 8, "recall": 3 / 8, "f1": 3 / 8})


def test_macro_skips_groups_absent_from_truth_and_predictions() -> None:
    # sklearn's default labels: a group nobody chose nor predicted does not dilute the macro average.
    s = classification_scores(np.array([0, 1, 1]), np.array([0, 1, 0]), 4)
    assert s["macro"]["f1"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert s["per_class"][3] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 5).flatmap(lambda k: st.tuples(
    st.just(k), st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), min_size=1, max_size=40))))
def test_micro_f1_is_accuracy_and_per_class_matches_torchmetrics(case) -> None:
    import torch
    from torchmetrics.functional.classification import multiclass_f1_score, multiclass_precision

    k, pairs = case
    true, pred = np.array(pairs).T
    s = classification_scores(true, pred, k)
    assert s["micro"]["f1"] == pytest.approx(float((true == pred).mean()))
    args = (torch.from_numpy(pred), torch.from_numpy(true), k)
    assert np.allclose([c["f1"] for c in s["per_class"]], multiclass_f1_score(*args, average=None).numpy(),
                       atol=1e-6)
    assert np.allclose([c["precision"] for c in s["per_class"]],
                       multiclass_precision(*args, average=None).numpy(), atol=1e-6)


def test_group_scores_average_over_tasks() -> None:
    g = ActionGroups((GroupTask("a", ("none", "x"), "keys", (0,)),
                      GroupTask("b", ("none", "y"), "keys", (1,))))
    true = np.array([[0, 1], [1, 1], [1, 0], [0, 0]])
    pred = np.array([[0, 1], [1, 0], [1, 0], [0, 0]])          # task a all right, task b 3 of 4
    s = group_scores(g, true, pred)
    assert s["per_task"]["a"]["accuracy"] == 1.0 and s["per_task"]["b"]["accuracy"] == 0.75
    assert s["accuracy"] == pytest.approx(0.875) and s["micro"]["f1"] == pytest.approx(0.875)
    # task b: none P 2/3 R 1 F1 0.8; y P 1 R 1/2 F1 2/3. Task a: every F1 is 1.
    assert s["per_task"]["b"]["macro"]["f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert s["macro"]["f1"] == pytest.approx((1.0 + (0.8 + 2 / 3) / 2) / 2)
    assert set(s["per_group"]) == {"a: none", "a: x", "b: none", "b: y"} and s["n"] == 4


def _square_episode(rng: np.random.Generator, steps: int) -> Episode:
    """16 x 16 frames, a white square moved by the action: 0 stays, 1 right, 2 left, 3 stays (a 'fire')."""
    x, frames, actions = 6, [], rng.integers(0, 4, steps)
    for a in [0, *actions]:
        x = int(np.clip(x + {1: 2, 2: -2}.get(int(a), 0), 0, 12))
        f = np.zeros((16, 16, 3), np.uint8)
        f[6:10, x:x + 4] = 255
        frames.append(f)
    return Episode(np.stack(frames), actions, np.zeros(steps, np.float32), False, True)


def test_idm_learns_a_visible_action() -> None:
    rng = np.random.default_rng(0)
    episodes = [_square_episode(rng, 100) for _ in range(5)]
    groups = atari_groups(["do nothing", "move right", "move left", "fire"])   # fire joins "do nothing"
    idm = train_idm(episodes, steps=80, seed=0, groups=groups,
                    cfg=IDMConfig(channels=8, hidden=32, batch_size=32))
    # Blocked moves at the edges look like staying, so perfect is out of reach; chance is 1/3.
    assert idm.heldout["macro"]["f1"] > 1 / 3 + 0.3
    # Scoring generated futures: a future that shows the scripted moves scores like real frames.
    ep = episodes[-1]
    branch = SimpleNamespace(context_frames=ep.frames[:1],
                             scripts=[SimpleNamespace(actions=ep.actions[:20])])
    s = score_futures(idm, [branch], [ep.frames[None, 1:21]])
    assert s["n"] == 20 and s["accuracy"] > 0.6


@pytest.mark.slow
def test_results_json_has_idm_scores(tmp_path: Path) -> None:
    from tv2tv.benchmarks.controllability import run_controllability
    from tv2tv.benchmarks.models import CopyLast
    from tv2tv.benchmarks.report import SUMMARY_HEADER

    run_controllability([CopyLast()], "ALE/Pong-v5", 2, 3, "pong", 0, tmp_path, context_frames=3,
                        idm_steps=3, idm_collect_steps=120, n_videos=0)
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["idm_groups"] == {"move": ["do nothing", "move paddle up", "move paddle down"]}
    for block in (res["idm_heldout"], res["reference"]["idm"], res["models"]["copy-last"]["idm"]):
        assert set(block) >= {"accuracy", "micro", "macro", "per_group", "per_task", "n"}
        assert set(block["macro"]) == {"precision", "recall", "f1"}
        assert set(block["per_group"]) == {"do nothing", "move paddle up", "move paddle down"}
    m = res["models"]["copy-last"]
    assert m["idm_accuracy"] == m["idm"]["accuracy"] and m["idm"]["n"] == 2 * 3 * len(res["alternatives"])
    assert res["idm_heldout_accuracy"] == res["idm_heldout"]["accuracy"]
    assert res["reference"]["idm_accuracy"] == res["reference"]["idm"]["accuracy"]
    report = (tmp_path / "report.md").read_text()
    assert "IDM macro F1" in SUMMARY_HEADER and "IDM macro F1" in report
    assert "## Inverse dynamics by action group" in report and "F1 move paddle up" in report

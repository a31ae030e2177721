"""Crafter texter: invertible action phrases, captions on the right frame, plans."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tv2tv.envs.crafter_texter import CRAFTER_ACTIONS, CrafterTexter


@given(st.integers(0, len(CRAFTER_ACTIONS) - 1))
def test_parse_inverts_action_text(a):
    t = CrafterTexter()
    assert t.parse(t.action_text(a)) == a
    assert t.parse(f"  {t.action_text(a).upper()} ") == a


def test_parse_of_describe_gives_the_action():
    t = CrafterTexter(text_every=100)
    t.reset(None, {})
    for a in range(len(CRAFTER_ACTIONS)):
        (phrase,) = [p for p in t.describe(None, a, None, {}) if p.source == "action"]
        assert t.parse(phrase.text) == a


def test_phrases_unique_and_unknown_rejected():
    t = CrafterTexter()
    assert len(set(t.action_phrases())) == 17
    assert t.action_text(5) == "interact" and t.action_text(11) == "make wood pickaxe"
    with pytest.raises(ValueError, match="not a Crafter action phrase"):
        t.parse("fly away")
    with pytest.raises(ValueError):
        t.action_text(17)


def _info(**kw):
    base = {"inventory": {"health": 9, "food": 9, "drink": 9, "energy": 9, "wood": 0},
            "achievements": {"collect_wood": 0}, "facing": "grass", "daylight": 1.0,
            "sleeping": False, "plan": None}
    for k, v in kw.items():
        base[k] = {**base[k], **v} if isinstance(v, dict) else v
    return base


def test_captions_and_plan_from_info():
    t = CrafterTexter(text_every=100)
    assert t.reset(None, _info()) == []
    texts = lambda ph: [(p.text, p.source) for p in ph]  # noqa: E731
    assert texts(t.describe(None, 5, None, _info(facing="tree", plan="goal: collect wood"))) == [
        ("interact", "action"), ("facing a tree", "caption"), ("goal: collect wood", "plan")]
    out = texts(t.describe(None, 5, None, _info(facing="tree", plan="goal: collect wood",
                                                 inventory={"wood": 1}, achievements={"collect_wood": 1})))
    assert out == [("unlocked collect wood", "caption"), ("got 1 wood", "caption")]
    out = texts(t.describe(None, 0, None, _info(daylight=0.2, inventory={"health": 7})))
    assert ("took damage", "caption") in out and ("night falls", "caption") in out
    assert ("do nothing", "action") in out


def test_captions_land_on_the_frame_that_shows_the_event():
    """Recorder convention: phrases of step t sit at frame t + 1. The first 'got 1 wood' must be
    at the first frame whose inventory bar shows the wood."""
    pytest.importorskip("crafter")
    from tv2tv.envs import get_texter, make_env
    from tv2tv.recorders.policies import make_policy

    env = make_env("crafter", seed=0)
    obs, info = env.reset()
    texter, policy = get_texter(env), make_policy("crafter-explorer", env, seed=0)
    frames, events = [obs], [(0, p) for p in texter.reset(obs, info)]
    woods = [0]
    for t in range(300):
        a = policy(obs)
        obs, _, term, trunc, info = env.step(a)
        events += [(t + 1, p) for p in texter.describe(frames[-1], a, obs, info)]
        frames.append(obs)
        woods.append(info["inventory"]["wood"])
        if woods[-1] > 0 or term or trunc:
            break
    first = next(i for i, w in enumerate(woods) if w > 0)
    got = [f for f, p in events if p.text == "got 1 wood"]
    assert got and got[0] == first
    assert (first, "unlocked collect wood") in [(f, p.text) for f, p in events]
    # The inventory row (bottom of the frame) changes exactly at that frame.
    bar = lambda f: f[-14:]  # noqa: E731
    assert not np.array_equal(bar(frames[first]), bar(frames[first - 1]))
    assert any(p.source == "plan" and f <= first for f, p in events)

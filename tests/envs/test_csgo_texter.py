"""CS:GO texter: the paper's phrases, exact inverse within the mouse bins, the 51-value one-hot."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tv2tv.benchmarks.action_groups import csgo_groups, groups_for_texter
from tv2tv.envs import Texter
from tv2tv.envs.csgo_texter import (
    BUTTONS,
    FIELDS,
    MOUSE_X,
    MOUSE_X_BINS,
    MOUSE_Y,
    MOUSE_Y_BINS,
    CSGOTexter,
    from_onehot,
    to_onehot,
)
from tv2tv.types import Phrase

TEXTER = CSGOTexter()


def _action(*buttons: str, x: float = 0.0, y: float = 0.0) -> np.ndarray:
    a = CSGOTexter.noop()
    for b in buttons:
        a[FIELDS.index(b)] = 1
    a[MOUSE_X], a[MOUSE_Y] = x, y
    return a


buttons = st.lists(st.integers(0, 1), min_size=len(BUTTONS), max_size=len(BUTTONS))
# Any mouse counts, also beyond the bins (they clip) and between them (they snap).
raw_actions = st.builds(lambda b, x, y: np.array([*b, x, y], np.float32), buttons,
                        st.floats(-1500, 1500, width=32), st.floats(-400, 400, width=32))
binned_actions = st.builds(lambda b, x, y: np.array([*b, x, y], np.float32), buttons,
                           st.sampled_from(MOUSE_X_BINS), st.sampled_from(MOUSE_Y_BINS))


def test_phrases_read_like_the_paper() -> None:
    assert TEXTER.action_text(_action("forward", "left", "fire", x=200)) == \
        "move forward and left, fire, turn right 11 degrees"
    assert TEXTER.action_text(_action()) == "do nothing"
    assert TEXTER.action_text(_action("back", "crouch", "weapon3", "scope", x=-1000, y=-50)) == \
        "move back, crouch, switch to knife, scope, turn left 55 degrees, look up 2.8 degrees"
    assert (TEXTER.action_text(_action("jump", "walk", "reload", y=2))
            == "jump, walk, reload, look down 0.11 degrees")


@given(raw_actions)
def test_parse_inverts_action_text_within_the_bins(a: np.ndarray) -> None:
    q = TEXTER.quantize(a)
    assert q[MOUSE_X] in MOUSE_X_BINS and q[MOUSE_Y] in MOUSE_Y_BINS
    assert np.array_equal(TEXTER.parse(TEXTER.action_text(a)), q)


@given(binned_actions)
def test_binned_actions_round_trip_exactly_and_through_the_onehot(a: np.ndarray) -> None:
    assert np.array_equal(TEXTER.parse(TEXTER.action_text(a)), a)
    y = to_onehot(a)
    assert y.shape == (51,) and y[13:36].sum() == 1 and y[36:].sum() == 1
    assert np.array_equal(from_onehot(y), a)


def test_onehot_layout_follows_pearce_and_zhu() -> None:
    # keys w a s d space ctrl shift 1 2 3 r, left click, right click, 23 mouse-x bins, 15 mouse-y bins
    y = np.zeros(51)
    y[[1, 11, 12]] = 1                      # a, left click, right click
    y[13 + MOUSE_X_BINS.index(-30)] = 1
    y[36 + MOUSE_Y_BINS.index(100)] = 1
    assert (TEXTER.action_text(from_onehot(y))
            == "move left, fire, scope, turn left 1.7 degrees, look down 5.5 degrees")
    with pytest.raises(ValueError, match="row 1 is not a CS:GO action one-hot"):
        from_onehot(np.stack([y, np.zeros(51)]))


def test_degrees_snap_to_the_nearest_bin_and_errors_name_the_part() -> None:
    assert TEXTER.parse("turn right 10 degrees")[MOUSE_X] == 200
    assert TEXTER.parse("Look up 90 degrees.")[MOUSE_Y] == -200       # clipped, as mouse_preprocess does
    assert np.array_equal(TEXTER.parse("move left and forward"), _action("forward", "left"))
    with pytest.raises(ValueError, match=r"cannot parse 'fier'.*closest: \['fire'"):
        TEXTER.parse("move forward, fier")
    with pytest.raises(ValueError, match="buttons must be 0 or 1, got fire=2"):
        TEXTER.action_text(_action() + np.eye(len(FIELDS), dtype=np.float32)[FIELDS.index("fire")] * 2)
    with pytest.raises(ValueError, match="vector of 15 values"):
        TEXTER.action_text(np.zeros(51))
    with pytest.raises(ValueError, match="text_every must be an int >= 1, got 0"):
        CSGOTexter(text_every=0)


def test_every_single_phrase_parses_and_indexes_the_menu() -> None:
    phrases = TEXTER.action_phrases()
    assert len(phrases) == len(set(phrases)) == 1 + 8 + 9 + 22 + 14
    assert [TEXTER.action_text(TEXTER.parse(p)) for p in phrases] == phrases
    assert [TEXTER.action_text(i) for i in range(len(phrases))] == phrases   # WorldModelEnv's action mode
    assert isinstance(TEXTER, Texter)


def test_describe_repeats_held_text_and_captions_kills_and_deaths() -> None:
    t = CSGOTexter(text_every=3)
    fwd = _action("forward")
    assert t.reset(None, {"kill": True}) == [Phrase("got a kill", "caption")]
    said = [t.describe(None, fwd, None, {"kill": i == 1, "death": i == 4}) for i in range(5)]
    assert said == [[Phrase("move forward")], [Phrase("got a kill", "caption")], [], [Phrase("move forward")],
                    [Phrase("died", "caption")]]
    assert t.describe(None, _action(), None, {}) == [Phrase("do nothing")]


def test_idm_groups_read_the_buttons_and_the_mouse_sign() -> None:
    g = groups_for_texter(TEXTER)
    assert g == csgo_groups(FIELDS)
    acts = np.stack([_action("forward", "back", "weapon2", x=2, y=-4), _action("left", "fire", "crouch")])
    named = [{t.name: t.groups[i] for t, i in zip(g.tasks, row)} for row in g.labels(acts)]
    assert named[0]["back/forward"] == "none" and named[0]["weapon1/weapon2/weapon3"] == "weapon2"
    assert named[0]["camera yaw"] == "turn right" and named[0]["camera pitch"] == "look up"
    assert named[1]["left/right"] == "left" and named[1]["fire"] == "fire" and named[1]["crouch"] == "crouch"
    assert named[1]["camera yaw"] == "none"

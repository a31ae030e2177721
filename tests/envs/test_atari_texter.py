"""AtariTexter: invertible phrases for every shipped game, emission rules, captions, errors."""

from __future__ import annotations

import ale_py
import gymnasium as gym
import numpy as np
import pytest
from ale_py import ALEInterface, LoggerMode, roms
from hypothesis import given, settings
from hypothesis import strategies as st

from tv2tv.envs import Texter, get_texter, make_env
from tv2tv.envs.atari import atari_env_names, ram, rom_id
from tv2tv.envs.atari_texter import ALE_MEANINGS, AtariTexter, game_key, generic_phrase, phrase_table
from tv2tv.types import Phrase

PONG = ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"]


@pytest.fixture(scope="module")
def minimal_meanings() -> dict[str, list[str]]:
    """ROM id -> minimal action set meanings, for every v5 game (loads each ROM, no stepping)."""
    ALEInterface.setLoggerMode(LoggerMode.Error)
    ale = ALEInterface()
    out = {}
    for name in atari_env_names():
        rom = rom_id(name)
        ale.loadROM(roms.get_rom_path(rom))
        out[rom] = [a.name for a in ale.getMinimalActionSet()]
    return out


def _step_info(reward: float = 0.0, lives: int = 3) -> dict:
    return {"reward": reward, "lives": lives}


def test_meanings_match_ale() -> None:
    assert list(ALE_MEANINGS) == list(ale_py.Action.__members__)


def test_every_action_of_every_game_round_trips(minimal_meanings: dict[str, list[str]]) -> None:
    assert len(minimal_meanings) == len(atari_env_names()) >= 100
    for rom, meanings in minimal_meanings.items():
        for action_set in (meanings, list(ALE_MEANINGS)):  # minimal and full action space
            texter = AtariTexter(action_set, game=rom)
            phrases = texter.action_phrases()
            assert len(set(phrases)) == len(phrases), (rom, phrases)
            for a in range(len(action_set)):
                assert texter.parse(texter.action_text(a)) == a, (rom, action_set[a])
                assert texter.parse(f"  {texter.action_text(a).upper()} ") == a


def test_texter_from_env_matches_env_actions() -> None:
    env = make_env("ALE/Pong-v5", seed=0)
    texter = get_texter(env)
    assert isinstance(texter, Texter) and texter.name == "atari" and texter.version
    assert texter.action_phrases() == ["do nothing", "fire", "move paddle up", "move paddle down",
                                       "move paddle up and fire", "move paddle down and fire"]


@pytest.mark.parametrize("game, phrase, opposite, ram_byte, sign", [
    ("Pong", "move paddle up", "move paddle down", 51, -1),
    ("Pong", "move paddle down", "move paddle up", 51, +1),
    ("Breakout", "move paddle right", "move paddle left", 72, +1),
    ("Breakout", "move paddle left", "move paddle right", 72, -1),
])
def test_game_phrases_say_what_happens(game: str, phrase: str, opposite: str, ram_byte: int,
                                       sign: int) -> None:
    # The paddle position in RAM (AtariARI byte map) moves the way the phrase says.
    env = make_env(f"ALE/{game}-v5", seed=0)
    env.reset()
    texter = get_texter(env)
    for _ in range(6):  # first make room to move in the phrase's direction
        env.step(texter.parse(opposite))
    before = int(ram(env)[ram_byte])
    for _ in range(3):
        env.step(texter.parse(phrase))
    assert np.sign(int(ram(env)[ram_byte]) - before) == sign


def test_general_wording_and_disambiguation() -> None:
    assert generic_phrase("NOOP") == "do nothing" and generic_phrase("RIGHTFIRE") == "move right and fire"
    assert generic_phrase("UPLEFT") == "move up-left"
    with pytest.raises(ValueError, match="JUMP"):
        generic_phrase("JUMP")
    assert game_key("ALE/Pong-v5") == "pong" and game_key(None) is None
    # Pong's full action space: UP does nothing on screen, UPRIGHT moves the paddle like RIGHT.
    texter = AtariTexter(list(ALE_MEANINGS), game="ALE/Pong-v5")
    assert texter.action_text(2) == "do nothing (joystick up)" and texter.action_text(3) == "move paddle up"
    assert texter.action_text(6) == "move paddle up (joystick up-right)"
    assert phrase_table("pong")["UPFIRE"] == "fire (joystick up and fire)"
    # A meaning reads the same in the minimal and the full action set.
    minimal = AtariTexter(PONG, game="pong")
    for a, meaning in enumerate(PONG):
        assert minimal.action_text(a) == texter.action_text(ALE_MEANINGS.index(meaning))


def test_parse_errors_name_the_text() -> None:
    texter = AtariTexter(PONG, game="pong")
    with pytest.raises(ValueError, match=r"'move padle up'.*closest.*move paddle up"):
        texter.parse("move padle up")
    with pytest.raises(ValueError, match=r"'xyzzy'.*valid phrases"):
        texter.parse("xyzzy")
    with pytest.raises(TypeError):
        texter.parse(3)  # type: ignore[arg-type]


def test_bad_construction_and_actions() -> None:
    with pytest.raises(ValueError, match="text_every"):
        AtariTexter(PONG, text_every=0)
    with pytest.raises(ValueError, match="duplicates"):
        AtariTexter(["NOOP", "NOOP"])
    with pytest.raises(ValueError, match="empty"):
        AtariTexter([])
    with pytest.raises(ValueError, match="JUMP"):
        AtariTexter(["NOOP", "JUMP"])
    texter = AtariTexter(PONG)
    with pytest.raises(ValueError, match="out of range"):
        texter.action_text(6)
    with pytest.raises(TypeError, match="one integer"):
        texter.action_text([1, 2])
    assert texter.action_text(np.int64(2)) == "move right"
    assert texter.action_text(np.asarray(2, np.uint8)) == texter.action_text(2) == "move right"
    for bad in (True, np.bool_(True), 2.0, np.asarray([2]), "2"):
        with pytest.raises(TypeError, match="one integer"):
            texter.action_text(bad)
    with pytest.raises(ValueError, match="out of range"):
        texter.action_text(np.int8(-1))


def test_emission_first_change_and_repeat() -> None:
    texter = AtariTexter(PONG, text_every=3, game="pong")
    assert texter.reset(None, _step_info()) == []
    texts = [texter.describe(None, a, None, _step_info()) for a in [2, 2, 2, 2, 3, 3, 0]]
    up, down, nothing = (Phrase(t, "action") for t in ("move paddle up", "move paddle down", "do nothing"))
    assert texts == [[up], [], [], [up], [down], [], [nothing]]
    texter.reset(None, _step_info())  # a new episode speaks on its first step again
    assert texter.describe(None, 0, None, _step_info()) == [nothing]


def test_captions_for_reward_and_lives() -> None:
    texter = AtariTexter(PONG, text_every=100)
    texter.reset(None, _step_info(lives=3))
    texter.describe(None, 0, None, _step_info(lives=3))
    cap = lambda r, lives: [p for p in texter.describe(None, 0, None, _step_info(r, lives))]  # noqa: E731
    assert cap(1.0, 3) == [Phrase("scored a point", "caption")]
    assert cap(7.0, 3) == [Phrase("scored 7 points", "caption")]
    assert cap(-1.0, 3) == [Phrase("lost a point", "caption")]
    assert cap(-2.0, 2) == [Phrase("lost 2 points", "caption"), Phrase("lost a life", "caption")]
    assert cap(0.0, 2) == [] and cap(0.0, 5) == []  # an extra life is not a loss
    assert cap(0.0, 4) == [Phrase("lost a life", "caption")]


def test_state_round_trip() -> None:
    texter = AtariTexter(PONG, text_every=4)
    texter.reset(None, _step_info())
    texter.describe(None, 2, None, _step_info())
    state = texter.get_state()
    after = [texter.describe(None, a, None, _step_info()) for a in (2, 2, 2, 3)]
    texter.set_state(state)
    assert [texter.describe(None, a, None, _step_info()) for a in (2, 2, 2, 3)] == after


def test_describe_needs_reward_and_lives() -> None:
    texter = AtariTexter(PONG)
    with pytest.raises(ValueError, match="lives"):
        texter.reset(None, {})
    texter.reset(None, _step_info())
    with pytest.raises(ValueError, match="reward"):
        texter.describe(None, 0, None, {"lives": 3})


@settings(max_examples=60, deadline=None)
@given(actions=st.lists(st.integers(0, 5), min_size=1, max_size=60), text_every=st.integers(1, 6))
def test_emission_rules_hold_for_any_actions(actions: list[int], text_every: int) -> None:
    texter = AtariTexter(PONG, text_every=text_every)
    texter.reset(None, _step_info())
    last, since = None, 0
    for a in actions:
        out = texter.describe(None, a, None, _step_info())
        since += 1
        due = last is None or a != last or since >= text_every
        assert [p.source for p in out] == (["action"] if due else [])
        if due:
            assert texter.parse(out[0].text) == a
            last, since = a, 0


def test_texter_on_a_real_episode_speaks_when_the_game_scores() -> None:
    env = make_env("ALE/Pong-v5", seed=0)
    obs, info = env.reset()
    texter = get_texter(env)
    texter.reset(obs, info)
    captions = []
    for _ in range(400):  # doing nothing, the opponent scores within a few hundred steps
        prev = obs
        obs, reward, term, trunc, info = env.step(0)
        captions += [p.text for p in texter.describe(prev, 0, obs, info) if p.source == "caption"]
        if reward < 0:
            break
    assert captions == ["lost a point"]


def test_every_env_name_builds_a_texter_for_its_action_space() -> None:
    env = make_env("ALE/SpaceInvaders-v5", seed=0)
    texter = get_texter(env)
    assert isinstance(env.action_space, gym.spaces.Discrete)
    assert len(texter.action_phrases()) == env.action_space.n
    assert texter.action_phrases() == [generic_phrase(m) for m in env.unwrapped.get_action_meanings()]

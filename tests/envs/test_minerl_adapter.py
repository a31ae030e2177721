"""MineRL adapter and texter: a fake old-gym MineRL env here; minerl's real specs where installed."""

from __future__ import annotations

import importlib.util

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from tv2tv.envs.minerl import MineRLAdapter, MineRLUnavailableError, convert_space, make_minerl
from tv2tv.envs.minerl_texter import MineRLTexter, actions_equal


# -- an old-gym env with MineRL-like spaces (classes named as gym/minerl name them) -----------
class Box:
    def __init__(self, low, high, shape, dtype):
        self.low, self.high = np.full(shape, low, dtype), np.full(shape, high, dtype)
        self.shape, self.dtype = shape, dtype


class Discrete:
    def __init__(self, n):
        self.n = n


class Enum:
    def __init__(self, *values):
        self.values = np.array(sorted(values))


class Dict:
    def __init__(self, spaces):
        self.spaces = spaces


class FakeMineRL:
    """reset() -> obs, step(a) -> (obs, reward, done, info), enum actions by name."""

    action_space = Dict({"attack": Discrete(2), "camera": Box(-180.0, 180.0, (2,), np.float32),
                         "forward": Discrete(2), "jump": Discrete(2), "place": Enum("none", "dirt")})
    observation_space = Dict({"compass": Dict({"angle": Box(-180.0, 180.0, (), np.float32)}),
                              "inventory": Dict({"dirt": Box(0, 2304, (), np.int32)}),
                              "pov": Box(0, 255, (96, 96, 3), np.uint8)})

    def __init__(self):
        self.t, self.seen = 0, []

    def seed(self, s):
        self.rng = np.random.default_rng(s)

    def _obs(self):
        pov = np.full((96, 96, 3), self.t % 256, np.uint8)
        return {"compass": {"angle": np.float32(10.0)}, "inventory": {"dirt": 3}, "pov": pov}

    def reset(self):
        self.t = 0
        return self._obs()

    def step(self, action):
        self.seen.append(action)
        self.t += 1
        done = self.t >= 4
        return self._obs(), 1.0, done, {"TimeLimit.truncated": done}


def test_spaces_convert_to_gymnasium():
    space = convert_space(FakeMineRL.action_space)
    assert isinstance(space, gym.spaces.Dict)
    assert space["place"] == gym.spaces.Discrete(2) and space["place"].item_names == ("dirt", "none")
    assert space["camera"] == gym.spaces.Box(-180.0, 180.0, (2,), np.float32)


def test_adapter_api_frames_and_enum_names():
    fake = FakeMineRL()
    env = MineRLAdapter(fake, frame_size=32, name="MineRLNavigateDense-v0")
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert obs["pov"].shape == (32, 32, 3) and obs["inventory"]["dirt"].dtype == np.int32
    texter = env.texter
    action = texter.parse("move forward, turn left 5 degrees, place dirt")
    obs, r, term, trunc, info = env.step(action)
    sent = fake.seen[-1]
    assert sent["place"] == "dirt" and sent["forward"] == 1 and list(sent["camera"]) == [0.0, -5.0]
    for _ in range(3):
        _, _, term, trunc, _ = env.step(texter.noop())
    assert (term, trunc) == (False, True)


def test_texter_round_trips_sampled_actions():
    env = MineRLAdapter(FakeMineRL())
    env.action_space.seed(0)
    t = env.texter
    for _ in range(200):
        a = env.action_space.sample()
        q = t.quantize(a)
        assert actions_equal(t.parse(t.action_text(a)), q)
        assert actions_equal(t.parse(t.action_text(q)), q)


def test_texter_text_and_errors():
    t = MineRLTexter(items={"craft": ("none", "planks", "crafting_table")}, camera_step=2.5)
    a = {**t.noop(), "forward": 1, "camera": np.array([-1.4, 7.4]), "craft": "crafting_table"}
    assert (t.action_text(a)
            == "move forward, turn right 7.5 degrees, look up 2.5 degrees, craft crafting table")
    assert t.action_text(t.noop()) == "do nothing"
    with pytest.raises(ValueError, match="cannot parse"):
        t.parse("move forward, dance")
    with pytest.raises(ValueError, match="not one of"):
        t.action_text({**t.noop(), "craft": "diamond"})


def test_missing_minerl_says_what_to_do():
    if importlib.util.find_spec("minerl") is not None:
        pytest.skip("minerl is installed here")
    with pytest.raises(MineRLUnavailableError, match="import-minerl"):
        make_minerl("MineRLTreechop-v0")


# -- against minerl's own specs (a CI step may run these in a separate venv with minerl 0.4) --
@pytest.mark.parametrize("name", ["MineRLTreechop-v0", "MineRLNavigateDense-v0"])
def test_spaces_equal_minerl_specs(name):
    pytest.importorskip("minerl", reason="minerl is not installed (see README, MineRL)")
    import gym as old_gym

    spec = old_gym.envs.registration.spec(name)._kwargs["env_spec"]
    env = MineRLAdapter(old_gym.make(name), frame_size=64, name=name)  # gym.make does not start Minecraft
    assert env.action_space == convert_space(spec.action_space)
    assert env.observation_space == convert_space(spec.observation_space)
    for k, s in spec.action_space.spaces.items():
        if hasattr(s, "values"):
            assert env.action_space[k].item_names == tuple(str(v) for v in s.values)
        elif type(s).__name__ == "Discrete":
            assert env.action_space[k].n == s.n
        else:
            assert np.array_equal(env.action_space[k].low, s.low) and env.action_space[k].shape == s.shape
    assert env.observation_space["pov"].shape == spec.observation_space.spaces["pov"].shape
    spec.action_space.seed(0)
    for _ in range(100):
        a = spec.action_space.sample()  # minerl's own samples, enum values by name
        q = env.texter.quantize(a)
        assert actions_equal(env.texter.parse(env.texter.action_text(a)), q)

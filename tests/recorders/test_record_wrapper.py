"""RecordEpisodes: pass-through, what it records, where text lands, when it writes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from tv2tv.envs import make_env
from tv2tv.recorders.store import EpisodeStore
from tv2tv.recorders.validate import validate
from tv2tv.recorders.wrapper import RecordEpisodes
from tv2tv.types import TextEvent


def play(env: gym.Env, actions: list[int], seed: int):
    """Everything ``env`` returns for a reset and the given actions (stops at the end)."""
    out = [env.reset(seed=seed)]
    for a in actions:
        out.append(env.step(a))
        if out[-1][2] or out[-1][3]:
            break
    return out


def assert_same_returns(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert len(x) == len(y)
        for u, v in zip(x, y):
            if isinstance(u, np.ndarray):
                np.testing.assert_array_equal(u, v)
            else:
                assert u == v


def test_passes_reset_and_step_through_untouched(fakes):
    actions = list(np.random.default_rng(0).integers(0, 3, 60))
    wrapped = RecordEpisodes(fakes.Game(), on_episode=lambda ep: None)
    assert_same_returns(play(wrapped, actions, seed=5), play(fakes.Game(), actions, seed=5))


def test_returns_the_very_objects_of_the_inner_env(fakes):
    class Spy(gym.Wrapper):
        def reset(self, **kw):
            self.last = self.env.reset(**kw)
            return self.last

        def step(self, action):
            self.last = self.env.step(action)
            return self.last

    spy = Spy(fakes.Game())
    spy.texter = spy.env.texter
    env = RecordEpisodes(spy, on_episode=lambda ep: None)
    obs, info = env.reset(seed=1)
    assert obs is spy.last[0] and info is spy.last[1]
    out = env.step(1)
    assert all(a is b for a, b in zip(out, spy.last))


def test_records_frames_actions_rewards_and_text_placement(fakes):
    episodes = []
    env = RecordEpisodes(fakes.Game(max_len=12), on_episode=episodes.append)
    twin, texter = fakes.Game(max_len=12), fakes.Texter()
    actions = [1, 1, 2, 0, 0, 1] * 4
    recorded = play(env, actions, seed=7)
    reference = play(twin, actions, seed=7)
    assert len(episodes) == 1
    ep = episodes[0]
    steps = len(reference) - 1
    assert ep.num_steps == steps and ep.terminated and not ep.truncated and ep.seed == 7
    np.testing.assert_array_equal(ep.frames, np.stack([r[0] for r in reference]))
    assert ep.actions.tolist() == actions[:steps] and ep.actions.dtype == np.int64
    assert ep.rewards.tolist() == [r[1] for r in reference[1:]]
    # The texter's reset phrases land on frame 0, those of step t on frame t + 1.
    expected = [TextEvent(0, p.text, p.source) for p in texter.reset(None, {})]
    for t, a in enumerate(actions[:steps]):
        info = reference[t + 1][4]
        expected += [TextEvent(t + 1, p.text, p.source) for p in texter.describe(None, a, None, info)]
    assert list(ep.text_events) == expected
    assert ep.events_at(3) == [TextEvent(3, "go down ↓", "action")]
    assert recorded[-1][2]  # it was the env, not the wrapper, that ended the episode


def test_writes_finished_episodes_only(fakes, tmp_path):
    store = EpisodeStore.create(tmp_path, fakes.meta())
    env = RecordEpisodes(fakes.Game(max_len=10), store=store)
    env.extras = {"policy": "test"}
    play(env, [0] * 50, seed=1)  # finishes
    assert len(store) == 1 and env.last_path == store.episode_paths()[0]
    assert str(store.load(0).extras["policy"]) == "test"
    env.reset(seed=2)
    env.step(1)
    env.reset(seed=3)  # drops the unfinished episode
    env.step(1)
    env.close()  # an unfinished episode at close is not written either
    assert len(store) == 1 and env.num_written == 1 and validate(store) == []


def test_truncate_episode_writes_it_marked_truncated(fakes, tmp_path):
    store = EpisodeStore.create(tmp_path, fakes.meta())
    env = RecordEpisodes(fakes.Game(max_len=100), store=store)
    env.reset(seed=0)
    assert env.truncate_episode() is None  # a lone reset frame is no episode
    env.reset(seed=0)
    for a in [1, 2, 1]:
        env.step(a)
    path = env.truncate_episode()
    ep = store.load(path)
    assert ep.truncated and not ep.terminated and ep.num_steps == 3 and env.last_steps == 3
    assert env.truncate_episode() is None  # nothing running any more


def test_long_episodes_grow_the_frame_buffer(fakes, monkeypatch):
    from tv2tv.recorders import wrapper

    monkeypatch.setattr(wrapper, "_BUFFER_BYTES", 0)  # start at the smallest buffer: 16 frames
    episodes = []
    env = RecordEpisodes(fakes.Game(max_len=700), on_episode=episodes.append)
    ref = play(env, [1, 2] * 400, seed=0)
    assert episodes[0].num_steps == len(ref) - 1 > 256
    np.testing.assert_array_equal(episodes[0].frames, np.stack([r[0] for r in ref]))


def test_background_writes_never_read_a_reused_buffer(fakes, tmp_path, monkeypatch):
    # Slow writes: the next episodes step while an episode is still being written from its
    # buffer; the buffers it reuses (and grows) must not be that one.
    import time

    from tv2tv.recorders import wrapper

    monkeypatch.setattr(wrapper, "_BUFFER_BYTES", 0)
    store = EpisodeStore.create(tmp_path, fakes.meta())
    write = store.write

    def slow_write(ep):
        time.sleep(0.02)
        return write(ep)

    monkeypatch.setattr(store, "write", slow_write)
    env = RecordEpisodes(fakes.Game(max_len=60), store=store, background=True)
    played = {seed: play(env, [1, 2, 2, 0] * 20, seed=seed) for seed in range(6)}
    env.close()
    assert len(store) == 6
    for ep in store:
        np.testing.assert_array_equal(ep.frames, np.stack([r[0] for r in played[ep.seed]]))


def test_bad_inputs(fakes):
    with pytest.raises(ValueError, match="store or an on_episode"):
        RecordEpisodes(fakes.Game())
    with pytest.raises(TypeError, match="Dict"):
        env = fakes.Game()
        env.action_space = gym.spaces.Dict({"a": gym.spaces.Discrete(2)})
        RecordEpisodes(env, on_episode=print)
    with pytest.raises(ValueError, match="no texter"):
        RecordEpisodes(gym.make("CartPole-v1"), on_episode=print)

    class FloatObs(gym.ObservationWrapper):
        def observation(self, obs):
            return obs.astype(np.float32)

    env = FloatObs(fakes.Game())
    with pytest.raises(TypeError, match="uint8 \\(H, W, C\\) frame observations, got float32"):
        RecordEpisodes(env, on_episode=print, texter=fakes.Texter()).reset(seed=0)


def test_real_pong_twin_and_store(tmp_path):
    env = make_env("ALE/Pong-v5", frame_size=32)
    meta_store = EpisodeStore.create(
        tmp_path, _pong_meta(env))
    rec = RecordEpisodes(gym.wrappers.TimeLimit(env, 25), store=meta_store)
    twin = make_env("ALE/Pong-v5", frame_size=32)
    actions = [2, 2, 3, 0, 1, 4, 5] * 5
    a, b = play(rec, actions, seed=11), play(twin, actions, seed=11)
    assert_same_returns(a[:-1], b[: len(a) - 1])
    ep = meta_store.load(0)
    assert ep.num_steps == 25 and ep.truncated and ep.env == "ALE/Pong-v5"
    assert ep.text_events[0] == TextEvent(1, "move paddle up", "action")
    assert validate(meta_store) == []


def _pong_meta(env):
    from tv2tv.envs import get_texter
    from tv2tv.recorders.store import DatasetMeta, describe_space

    t = get_texter(env)
    return DatasetMeta("ALE/Pong-v5", env.observation_space.shape, describe_space(env.action_space),
                       t.name, t.version, frameskip=4)


@pytest.mark.filterwarnings("ignore:.*different from the unwrapped version")
def test_passes_gymnasium_env_checker():
    from gymnasium.utils.env_checker import check_env

    episodes = []
    env = RecordEpisodes(make_env("ALE/Pong-v5", frame_size=16), on_episode=episodes.append)
    check_env(env, skip_render_check=True)  # raises on an API violation
    env.reset(seed=0)
    env.step(0)
    assert env.episode_steps == 1


def test_background_writes_store_the_same_episodes(fakes, tmp_path):
    stores = [EpisodeStore.create(tmp_path / n, fakes.meta()) for n in ("sync", "thread")]
    for store, background in zip(stores, (False, True)):
        env = RecordEpisodes(fakes.Game(max_len=20), store=store, background=background)
        for seed in range(4):
            play(env, [1, 2, 0, 2] * 10, seed=seed)
        env.reset(seed=9)
        env.step(1)
        assert env.truncate_episode() is not None  # waits for its write, returns the path
        env.close()
    a, b = (sorted(s, key=lambda ep: ep.seed) for s in stores)
    assert len(a) == len(b) == 5
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.frames, y.frames)
        assert x.text_events == y.text_events and x.actions.tolist() == y.actions.tolist()


def test_background_write_errors_surface(fakes, tmp_path, monkeypatch):
    from tv2tv.recorders.store import StoreError

    store = EpisodeStore.create(tmp_path, fakes.meta())

    def full(ep):
        raise StoreError("disk full while writing x")

    monkeypatch.setattr(store, "write", full)
    env = RecordEpisodes(fakes.Game(max_len=10), store=store, background=True)
    play(env, [0] * 20, seed=0)  # the episode ends; its write fails in the writer thread
    with pytest.raises(StoreError, match="disk full"):
        env.close()

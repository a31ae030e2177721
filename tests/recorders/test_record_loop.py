"""The record loop: budgets, determinism across runs and worker counts, append rules, bad input."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from tv2tv.recorders import record
from tv2tv.recorders.store import EpisodeStore, StoreError
from tv2tv.recorders.validate import validate

record_module = importlib.import_module("tv2tv.recorders.record")  # `record` is also the function


def by_index(out) -> list:
    eps = list(EpisodeStore.open(out))
    return sorted(eps, key=lambda ep: int(ep.extras["episode_index"]))


def assert_same_episodes(a: list, b: list) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.frames, y.frames)
        np.testing.assert_array_equal(x.actions, y.actions)
        np.testing.assert_array_equal(x.rewards, y.rewards)
        assert (x.terminated, x.truncated, x.seed) == (y.terminated, y.truncated, y.seed)
        assert x.text_events == y.text_events
        assert {k: v.tolist() for k, v in x.extras.items()} == {k: v.tolist() for k, v in y.extras.items()}


def test_same_seed_and_policy_give_identical_episodes_whatever_the_workers(tmp_path):
    kw = dict(episodes=3, policy="sticky", frame_size=32, seed=4, max_episode_steps=40, progress=False)
    s1 = record("ALE/Pong-v5", tmp_path / "a", workers=2, **kw)
    record("ALE/Pong-v5", tmp_path / "b", workers=2, **kw)
    record("ALE/Pong-v5", tmp_path / "c", workers=1, **kw)
    assert s1.episodes == 3 and s1.steps == 120 and s1.store_episodes == 3
    a, b, c = by_index(tmp_path / "a"), by_index(tmp_path / "b"), by_index(tmp_path / "c")
    assert [int(ep.extras["episode_index"]) for ep in a] == [0, 1, 2]
    assert_same_episodes(a, b)
    assert_same_episodes(a, c)
    assert len({ep.seed for ep in a}) == 3  # each episode has its own seed
    assert all(str(ep.extras["policy"]) == "sticky" for ep in a)
    record("ALE/Pong-v5", tmp_path / "d", workers=1, **{**kw, "seed": 5, "episodes": 1})
    assert not np.array_equal(by_index(tmp_path / "d")[0].actions, a[0].actions)


def test_step_budget_writes_exactly_that_many_steps_deterministically(fake_family, tmp_path):
    kw = dict(steps=150, policy="fake-random", frame_size=16, frameskip=1, progress=False)
    s = record(fake_family, tmp_path / "a", workers=1, **kw)
    assert s.steps == 150 and s.truncated_by_budget == 1
    eps = by_index(tmp_path / "a")
    assert sum(ep.num_steps for ep in eps) == 150
    assert [ep.truncated for ep in eps] == [False] * (len(eps) - 1) + [True]
    assert all(ep.terminated for ep in eps[:-1])
    record(fake_family, tmp_path / "b", workers=1, **kw)
    assert_same_episodes(eps, by_index(tmp_path / "b"))


def test_step_budget_is_split_over_workers(tmp_path):
    s = record("ALE/Pong-v5", tmp_path / "p", steps=101, workers=2, frame_size=16,
               policy="random", progress=False)
    eps = by_index(tmp_path / "p")
    assert s.steps == 101 and sorted(ep.num_steps for ep in eps) == [50, 51]
    assert all(ep.truncated for ep in eps) and validate(EpisodeStore.open(tmp_path / "p")) == []


def test_episode_budget_is_exact_and_appending_adds(fake_family, tmp_path):
    kw = dict(policy="fake-random", frame_size=16, frameskip=1, workers=1, progress=False)
    assert record(fake_family, tmp_path, episodes=4, **kw).episodes == 4
    s = record(fake_family, tmp_path, episodes=2, seed=1, **kw)
    assert s.episodes == 2 and s.store_episodes == 6
    assert EpisodeStore.open(tmp_path).meta.extra == {"env_kwargs": {}}


def test_incompatible_store_fails_before_any_env_starts(fake_family, tmp_path, monkeypatch):
    kw = dict(episodes=1, policy="fake-random", frameskip=1, workers=1, progress=False)
    record(fake_family, tmp_path, frame_size=16, **kw)

    def no_env(*a, **k):
        raise AssertionError("an env was built")

    monkeypatch.setattr(record_module, "make_env", no_env)
    with pytest.raises(StoreError,
                       match="frame_shape: store has \\[16, 16, 3\\], new recording has \\[8, 8, 3\\]"):
        record(fake_family, tmp_path, frame_size=8, **kw)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "photo.jpg").write_bytes(b"x")
    with pytest.raises(StoreError, match="not a tv2tv store.*photo.jpg"):
        record(fake_family, tmp_path / "other", frame_size=16, **kw)


@pytest.mark.parametrize("kwargs, message", [
    (dict(env_name="ALE/Pongg-v5"), "unknown env 'ALE/Pongg-v5'; closest matches: ALE/Pong-v5"),
    (dict(frame_size=4), "frame_size must be an int in 8..1024, got 4"),
    (dict(episodes=None), "exactly one of steps or episodes"),
    (dict(steps=10), "exactly one of steps or episodes"),
    (dict(episodes=0), "episodes must be an int >= 1, got 0"),
    (dict(workers=0), "workers must be an int >= 1, got 0"),
    (dict(policy="pongg"), "unknown policy 'pongg'"),
    (dict(seed=-1), "seed must be an int >= 0, got -1"),
])
def test_bad_settings_are_named(tmp_path, kwargs, message):
    args = dict(env_name="ALE/Pong-v5", out=tmp_path / "s", episodes=1, progress=False) | kwargs
    with pytest.raises(ValueError, match=message):
        record(**args)
    assert not (tmp_path / "s").exists()


def test_episode_seeds_differ_between_runs():
    seeds = {record_module.episode_seeds(s, k) for s in range(3) for k in range(3)}
    assert len(seeds) == 9


def test_disk_full_during_recording_keeps_earlier_episodes(fake_family, tmp_path, monkeypatch):
    import errno

    from tv2tv.recorders import store as store_mod

    real, calls = store_mod.write_npz, []

    def fills_up(f, arrays, level=1):
        calls.append(1)
        if len(calls) > 2:
            f.write(b"PK partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        real(f, arrays, level)

    monkeypatch.setattr(store_mod, "write_npz", fills_up)
    with pytest.raises(StoreError, match="disk full"):
        record(fake_family, tmp_path, episodes=5, policy="fake-random", frame_size=16, frameskip=1,
               workers=1, progress=False)
    store = EpisodeStore.open(tmp_path)
    assert len(store) == 2 and store.temp_files() == [] and validate(store) == []

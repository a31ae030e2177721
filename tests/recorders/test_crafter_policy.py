"""The crafter-explorer policy: purposeful (beats random on achievements), seeded, plans."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("crafter")

from tv2tv.envs import make_env  # noqa: E402
from tv2tv.recorders.policies import make_policy  # noqa: E402


def _run(policy_name, seed, steps=250):
    env = make_env("crafter", seed=seed, max_episode_steps=steps)
    obs, info = env.reset()
    rng = np.random.default_rng(seed)
    policy = make_policy(policy_name, env, seed=seed) if policy_name else (lambda o: int(rng.integers(17)))
    actions, plans = [], set()
    while True:
        a = policy(obs)
        obs, _, term, trunc, info = env.step(a)
        actions.append(a)
        if info["plan"]:
            plans.add(info["plan"])
        if term or trunc:
            break
    return {k for k, v in info["achievements"].items() if v > 0}, actions, plans


def test_explorer_unlocks_the_tool_chain_and_beats_random():
    got, _, plans = _run("crafter-explorer", seed=0)
    assert {"collect_wood", "place_table", "make_wood_pickaxe"} <= got
    rand, _, rand_plans = _run(None, seed=0)
    assert len(got) >= len(rand) + 4
    assert not rand_plans
    assert any(p.startswith("goal: make wood pickaxe") for p in plans)


def test_explorer_is_deterministic_under_its_seed():
    _, a1, _ = _run("crafter-explorer", seed=1, steps=120)
    _, a2, _ = _run("crafter-explorer", seed=1, steps=120)
    assert a1 == a2


def test_explorer_rejects_other_envs():
    class NotCrafter:
        unwrapped = object()

    with pytest.raises(TypeError, match="needs a Crafter env"):
        make_policy("crafter-explorer", NotCrafter(), seed=0)

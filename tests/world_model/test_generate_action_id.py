"""Rolling out the action-id baseline: actions placed as in training, cached == uncached,
actions change the future, errors, and ``WorldModelEnv`` with direct discrete actions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tv2tv.recorders.store import EpisodeStore
from tv2tv.world_model.codec import make_codec
from tv2tv.world_model.data import WindowEncoder, make_tokenizer, resolve_config
from tv2tv.world_model.generate import CHUNK, Generator
from tv2tv.world_model.interventions import parse_script
from tv2tv.world_model.rollout_model import SamplingConfig
from tv2tv.world_model.synthetic import random_model
from tv2tv.world_model.tokenizer import BOF, BOS, EOF


@pytest.fixture
def parts(tiny_cfg, synthetic_store):
    store = EpisodeStore.open(synthetic_store)
    cfg = resolve_config(replace(tiny_cfg, variant="action-id"), store.meta)
    return random_model(cfg.model, zero_init_std=0.05), cfg, store.meta, store.load(0)


def make_gen(parts, **sampling) -> Generator:
    model, cfg, meta, _ = parts
    return Generator(model, cfg, meta.frame_shape, SamplingConfig(**{"ode_steps": 2, **sampling}), meta)


def test_actions_are_placed_as_in_training(parts) -> None:
    model, cfg, meta, ep = parts
    gen = make_gen(parts)
    tok = make_tokenizer(cfg, meta)
    assert gen.num_actions == 3 and gen.tokenizer == tok
    context = replace(ep, frames=ep.frames[:5], actions=ep.actions[:4], rewards=ep.rewards[:4],
                      text_events=())
    actions = np.array([2, 0, 1, 1, 0])
    out = gen.generate(context, 5, seed=0, actions=actions)
    assert out.frames.shape == (1, 5, 32, 32, 3) and out.transcripts == [[]]
    # Context: 5 frames -> chunks of frames 1-2 and 3-4, each after the actions that led to them.
    enc = WindowEncoder(cfg, make_codec(cfg.sequence.patch, meta.frame_shape), tok)
    ctx = [enc.chunk_text(ep, 1, k) for k in range(2)]
    assert ctx[0] == [tok.action(int(ep.actions[0])), tok.action(int(ep.actions[1]))]
    want = [BOS]
    for ids in ctx:
        want += [*ids, BOF, CHUNK, EOF]
    # Generated: before chunk j, the actions leading to frames 2j and 2j + 1 (the last chunk's
    # missing second action repeats the last one).
    for pair in [(2, 0), (1, 1), (0, 0)]:
        want += [tok.action(pair[0]), tok.action(pair[1]), BOF, CHUNK, EOF]
    assert out.tokens[0] == want


def test_cached_equals_uncached(parts) -> None:
    ep = parts[3]
    context = replace(ep, frames=ep.frames[:4], actions=ep.actions[:3], rewards=ep.rewards[:3],
                      text_events=())
    actions = np.array([[0, 1, 2, 0, 1, 2], [2, 2, 1, 1, 0, 0]])
    outs = [make_gen(parts, use_cache=c, method="heun").generate(context, 6, seed=3, batch=2, actions=actions)
            for c in (True, False)]
    assert outs[0].tokens == outs[1].tokens
    assert np.abs(outs[0].frames.astype(int) - outs[1].frames.astype(int)).max() <= 1


def test_actions_change_the_future(parts) -> None:
    gen = make_gen(parts)
    frame = parts[3].frames[0]
    a = gen.generate(frame, 4, seed=1, batch=2, actions=np.array([[0, 0, 0, 0], [0, 0, 0, 0]]))
    b = gen.generate(frame, 4, seed=1, batch=2, actions=np.array([[0, 0, 0, 0], [2, 2, 2, 2]]))
    np.testing.assert_array_equal(a.frames[0], b.frames[0])      # same stream, same actions
    assert not np.array_equal(a.frames[1], b.frames[1])          # same stream, other actions
    # Stepwise: (F,) actions apply to every element.
    session = gen.start(frame, batch=2, seed=1)
    frames, entries = session.step(actions=[0, 0])
    np.testing.assert_array_equal(frames, a.frames[:, :2])
    assert entries == [[], []]


def test_errors(parts) -> None:
    gen = make_gen(parts)
    frame = parts[3].frames[0]
    with pytest.raises(ValueError, match="needs actions"):
        gen.generate(frame, 4)
    with pytest.raises(ValueError, match="shape"):
        gen.generate(frame, 4, actions=[0, 1])
    with pytest.raises(ValueError, match="action 3 is outside"):
        gen.generate(frame, 2, actions=[0, 3])
    with pytest.raises(ValueError, match="takes no text"):
        gen.generate(frame, 2, parse_script("0: move up"), actions=[0, 0])
    with pytest.raises(ValueError, match="actions, not text"):
        gen.start(frame).step(["move up"], actions=[0, 0])
    with pytest.raises(ValueError, match="Episode"):
        gen.start(parts[3].frames[:3])
    with pytest.raises(ValueError, match="cfg_scale"):
        make_gen(parts, cfg_scale=2.0)
    model, cfg, meta, _ = parts
    text_model = random_model(resolve_config(replace(cfg, variant="text"), meta).model, zero_init_std=0.05)
    text_gen = Generator(text_model, replace(cfg, variant="text", model=text_model.cfg), meta.frame_shape,
                         SamplingConfig(ode_steps=1, max_text_tokens=0), meta)
    with pytest.raises(ValueError, match="takes no actions"):
        text_gen.generate(frame, 2, actions=[0, 0])


def test_world_model_env_takes_discrete_actions(parts) -> None:
    from tv2tv.planners.world_model_env import WorldModelEnv

    gen = make_gen(parts)
    env = WorldModelEnv(generator=gen, contexts=[parts[3]], context_frames=3, max_steps=2)
    assert env.action_space.n == 3
    obs, _ = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(2)
    assert obs.shape == (32, 32, 3) and info["frames"].shape == (2, 32, 32, 3)
    assert reward == 0.0 and not terminated and not truncated
    assert env._session.tokens[0][-5:-2] == [gen.tokenizer.action(2)] * 2 + [BOF]
    with pytest.raises(ValueError, match="outside"):
        env.step(3)
    with pytest.raises(ValueError, match="action_mode='action'"):
        WorldModelEnv(generator=gen, contexts=[parts[3]], action_mode="text")

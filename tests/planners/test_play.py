"""``tv2tv play`` headless: scripted key events drive the actions (SDL dummy video driver)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
pygame = pytest.importorskip("pygame")

from tv2tv.cli import main  # noqa: E402
from tv2tv.planners.play import action_for_keys, play_loop  # noqa: E402
from tv2tv.planners.world_model_env import WorldModelEnv  # noqa: E402

PONG = ["do nothing", "fire", "move paddle up", "move paddle down", "move paddle up and fire",
        "move paddle down and fire"]


def test_action_for_keys() -> None:
    assert action_for_keys(PONG, set()) == 0
    assert action_for_keys(PONG, {"up"}) == 2
    assert action_for_keys(PONG, {"down", "fire"}) == 5
    assert action_for_keys(PONG, {"left"}) == 0                      # Pong has no left: nothing
    assert action_for_keys(["wait", "move up", "move down"], {"down", "fire"}) == 2
    full = ["do nothing", "move up-right", "move up-right (joystick centred)"]
    assert action_for_keys(full, {"up", "right"}) == 1


def test_play_loop_with_scripted_keys(tiny_run) -> None:
    env = WorldModelEnv(tiny_run, sampling={"ode_steps": 1, "max_text_tokens": 2}, max_steps=50)

    def keys(step: int) -> None:
        if step == 1:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_UP))
        if step == 3:
            pygame.event.post(pygame.event.Event(pygame.KEYUP, key=pygame.K_UP))
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_s))
        if step == 5:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE))

    result = play_loop(env, scale=2, fps=1000, seed=0, on_step=keys)
    assert result.actions == [0, 1, 1, 2, 2]            # wait, up, up, down, down; Escape ends it
    assert len(result.frames) == 5 and result.frames[0].shape == (16, 16, 3)
    assert result.events[0].text == "wait" and result.events[0].source == "intervention"


def test_play_cli_headless(tiny_run, tmp_path) -> None:
    out = tmp_path / "play.mp4"
    code = main(["play", "--ckpt", str(tiny_run), "--max-steps", "3", "--fps", "1000", "--ode-steps", "1",
                 "--max-text-tokens", "1", "--frames-out", str(out), "--seed", "0"])
    assert code == 0 and out.is_file()

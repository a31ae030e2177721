"""``tv2tv play``: a person plays inside the world model with the keyboard (pygame).

Arrow keys and space become the game's action through the texter's phrases: the keys held
name directions and fire ({"up"}, {"left", "fire"}, ...) and the action whose phrase names
exactly those is taken ("move paddle up" in Pong is the ALE action RIGHT, so the up arrow
moves the paddle up). Nothing held is the phrase with neither ("do nothing", "wait"). The
frame is drawn scaled with the step's text under it (the agent's in white, the model's in
amber). Escape or closing the window ends the game.

``play_loop`` is the whole loop with hooks, so it also runs headless (``SDL_VIDEODRIVER=dummy``)
with scripted key events (``on_step`` posts them), as the tests do.

Example:
    $ tv2tv play --ckpt runs/pong-tiny --context data/pong:0:40 --scale 6 --fps 15
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tv2tv.types import TextEvent

DIRECTIONS = ("up", "down", "left", "right")
_TEXT_COLORS = {"user": (235, 235, 235), "model": (255, 215, 80), "context": (160, 160, 160)}


def phrase_keys(phrase: str) -> frozenset[str] | None:
    """The keys a phrase stands for (directions and ``fire``); ``None`` for alternative
    phrases of an input already covered ("... (joystick up-right)")."""
    if "(" in phrase:
        return None
    words = set(phrase.lower().replace("-", " ").split())
    return frozenset((words & set(DIRECTIONS)) | ({"fire"} & words))


def action_for_keys(phrases: Sequence[str], held: set[str]) -> int:
    """The action whose phrase names exactly the held keys; without one, drop fire, then
    keep one direction, then nothing held.

    Example:
        >>> action_for_keys(["do nothing", "fire", "move paddle up", "move paddle down"], {"up"})
        2
    """
    table: dict[frozenset[str], int] = {}
    for i, p in enumerate(phrases):
        keys = phrase_keys(p)
        if keys is not None:
            table.setdefault(keys, i)
    dirs = [d for d in DIRECTIONS if d in held]
    tries = [set(held), set(dirs)] + [{d} for d in dirs] + [set()]
    for t in tries:
        if frozenset(t) in table:
            return table[frozenset(t)]
    return 0


@dataclass
class PlayResult:
    """What happened: the actions taken, total reward and the frames shown (with their text)."""

    actions: list[int] = field(default_factory=list)
    reward: float = 0.0
    frames: list[np.ndarray] = field(default_factory=list)
    events: list[TextEvent] = field(default_factory=list)


def _keymap() -> dict[int, str]:
    import pygame

    return {pygame.K_UP: "up", pygame.K_DOWN: "down", pygame.K_LEFT: "left", pygame.K_RIGHT: "right",
            pygame.K_SPACE: "fire",
            pygame.K_w: "up", pygame.K_s: "down", pygame.K_a: "left", pygame.K_d: "right"}


def play_loop(env, scale: int = 6, fps: float = 15.0, max_steps: int | None = None, seed: int | None = None,
              on_step: Callable[[int], None] | None = None, text_lines: int = 2) -> PlayResult:
    """Run a keyboard game in ``env`` (a ``WorldModelEnv`` in ``action`` mode) until Escape,
    window close, the env's end, or ``max_steps``.

    Args:
        env: the env (its ``texter`` maps phrases to actions).
        scale: window pixels per frame pixel. fps: steps per second (at most).
        max_steps: stop after this many steps (``None``: play until the env ends).
        on_step: called with the step index before its events are read (tests post keys here).
        text_lines: lines of text under the frame.
    """
    import pygame

    if scale < 1 or fps <= 0:
        raise ValueError(f"scale must be >= 1 and fps > 0, got scale={scale}, fps={fps}")
    phrases = env.unwrapped.texter.action_phrases()
    h, w, _ = env.observation_space.shape
    line_h = 16
    pygame.init()
    try:
        screen = pygame.display.set_mode((w * scale, h * scale + line_h * text_lines))
        pygame.display.set_caption("tv2tv play")
        font = pygame.font.Font(None, 18)
        clock = pygame.time.Clock()
        keymap, held, result = _keymap(), set(), PlayResult()
        obs, _ = env.reset(seed=seed)
        shown: list[tuple[str, str]] = []
        step = 0
        while max_steps is None or step < max_steps:
            if on_step is not None:
                on_step(step)
            quit_now = False
            for ev in pygame.event.get():
                if ev.type == pygame.QUIT or (ev.type == pygame.KEYDOWN and ev.key == pygame.K_ESCAPE):
                    quit_now = True
                elif ev.type in (pygame.KEYDOWN, pygame.KEYUP) and ev.key in keymap:
                    (held.add if ev.type == pygame.KEYDOWN else held.discard)(keymap[ev.key])
            if quit_now:
                break
            action = action_for_keys(phrases, held)
            obs, reward, terminated, truncated, info = env.step(action)
            result.actions.append(action)
            result.reward += float(reward)
            new = [(e.source, e.text) for e in info.get("text", [])]
            shown = new or shown
            for source, text in new:
                result.events.append(TextEvent(len(result.frames), text,
                                               "intervention" if source == "user" else "plan"))
            result.frames.append(obs)
            _draw(screen, font, obs, scale, shown[-text_lines:], line_h)
            clock.tick(fps)
            step += 1
            if terminated or truncated:
                break
        return result
    finally:
        pygame.quit()


def _draw(screen, font, frame: np.ndarray, scale: int, lines: list[tuple[str, str]], line_h: int) -> None:
    import pygame

    big = np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1)              # (H*s, W*s, 3)
    screen.fill((0, 0, 0))
    screen.blit(pygame.surfarray.make_surface(big.swapaxes(0, 1)), (0, 0))
    for row, (source, text) in enumerate(lines):
        text = "".join(c if c.isprintable() else "?" for c in text)   # a model can write any byte
        label = font.render(text, True, _TEXT_COLORS.get(source, (255, 255, 255)))
        screen.blit(label, (4, big.shape[0] + 2 + row * line_h))
    pygame.display.flip()


def save_play(result: PlayResult, path: str | os.PathLike[str], fps: float) -> Path:
    """Write the frames a player saw, with the text, to a video."""
    from tv2tv.recorders.video import write_video

    if not result.frames:
        raise ValueError("nothing was played: no frames to write")
    return write_video(path, np.stack(result.frames), result.events, fps=fps)

"""Intervention suites and ground-truth branches from the real game (DESIGN.md, "Controllability").

A *suite* (a YAML file, ``benchmarks/suites/<name>.yaml`` or a user path) lists K alternatives
for one game, each a name and a script of ``{step, text}`` interventions::

    name: pong
    env: ALE/Pong-v5          # the game the texts belong to
    policy: pong              # collection policy that plays up to the branch points
    horizon: 8                # default future length in steps
    alternatives:
      - name: up
        probe: up             # optional: paddle direction the game probe checks
        script:
          - {step: 0, text: move paddle up}

:func:`make_branches` plays the real game with the collection policy, stops at seeded random
branch points, clones the emulator state, and plays every alternative for ``horizon`` steps
from that same state: the ground-truth futures. Everything is seeded, so the same arguments
give the same branches.

Example:
    >>> suite = load_suite("pong")
    >>> branches = make_branches("ALE/Pong-v5", 4, 8, suite, seed=0)   # doctest: +SKIP
    >>> branches[0].truth.shape                                        # doctest: +SKIP
    (3, 8, 64, 64, 3)
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tv2tv.benchmarks.models import Branch, Script
from tv2tv.envs.registry import clone_state, family_of, get_texter, make_env, restore_state
from tv2tv.recorders.policies import make_policy
from tv2tv.types import TextEvent


@dataclass(frozen=True)
class Alternative:
    """One alternative of a suite: ``steps`` are ``(step, text)``, sorted, the first at 0."""

    name: str
    steps: tuple[tuple[int, str], ...]
    probe: str | None = None

    def script(self, texter: Any, horizon: int) -> Script:
        """The alternative cut to ``horizon`` steps, its texts parsed to env actions."""
        steps = tuple((s, t) for s, t in self.steps if s < horizon)
        actions, k = [], 0
        for step in range(horizon):
            while k + 1 < len(steps) and steps[k + 1][0] <= step:
                k += 1
            actions.append(texter.parse(steps[k][1]))
        return Script(self.name, steps, np.asarray(actions), self.probe)


@dataclass(frozen=True)
class Suite:
    """K alternatives for one game (see module docstring for the YAML layout)."""

    name: str
    env: str
    policy: str
    horizon: int
    alternatives: tuple[Alternative, ...]
    source: str = ""

    def scripts(self, texter: Any, horizon: int | None = None) -> list[Script]:
        """Every alternative as a :class:`Script` of ``horizon`` (default: the suite's) steps."""
        h = self.horizon if horizon is None else horizon
        if isinstance(h, bool) or not isinstance(h, int) or h < 1:
            raise ValueError(f"horizon must be an int >= 1, got {h!r}")
        return [a.script(texter, h) for a in self.alternatives]

    def check_texts(self, texter: Any) -> None:
        """Every text must parse with ``texter``; the error names the alternative and text."""
        for alt in self.alternatives:
            for step, text in alt.steps:
                try:
                    texter.parse(text)
                except ValueError as exc:
                    raise ValueError(f"suite {self.source}: alternative {alt.name!r}, step {step}: "
                                     f"the {self.env} texter cannot parse {text!r} ({exc})") from exc


def builtin_suites() -> list[str]:
    """Names of the suites shipped in ``tv2tv.benchmarks`` (``suites/*.yaml``)."""
    root = importlib.resources.files("tv2tv.benchmarks") / "suites"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def _suite_text(name_or_path: str | Path) -> tuple[str, str]:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"suite file {path} does not exist")
        return path.read_text(), str(path)
    name = str(name_or_path)
    if name not in builtin_suites():
        raise ValueError(f"unknown suite {name!r}; built-in suites: {builtin_suites()} "
                         f"(or pass a path to a .yaml file)")
    res = importlib.resources.files("tv2tv.benchmarks") / "suites" / f"{name}.yaml"
    return res.read_text(), f"{name}.yaml"


def _parse_alternative(i: int, raw: Any, src: str) -> Alternative:
    where = f"suite {src}: alternatives[{i}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise ValueError(f"{where} must be a mapping with a non-empty 'name', got {raw!r}")
    where += f" ({raw['name']!r})"
    script = raw.get("script")
    if not isinstance(script, list) or not script:
        raise ValueError(f"{where}: 'script' must be a non-empty list of {{step, text}}, got {script!r}")
    steps = []
    for j, entry in enumerate(script):
        step = entry.get("step") if isinstance(entry, dict) else None
        text = entry.get("text") if isinstance(entry, dict) else None
        if isinstance(step, bool) or not isinstance(step, int) or step < 0 or not isinstance(text, str):
            raise ValueError(f"{where}: script[{j}] must be {{step: int >= 0, text: str}}, got {entry!r}")
        steps.append((step, text))
    if [s for s, _ in steps] != sorted({s for s, _ in steps}) or steps[0][0] != 0:
        raise ValueError(f"{where}: script steps must start at 0 and increase, got {[s for s, _ in steps]}")
    probe = raw.get("probe")
    if probe is not None and not isinstance(probe, str):
        raise ValueError(f"{where}: 'probe' must be a direction string, got {probe!r}")
    unknown = set(raw) - {"name", "script", "probe"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    return Alternative(raw["name"], tuple(steps), probe)


def load_suite(name_or_path: str | Path, texter: Any = None) -> Suite:
    """Load and validate a suite; with ``texter``, also check that every text parses.

    Args:
        name_or_path: a built-in suite name (``"pong"``, ``"breakout"``, ``"crafter"``) or a
            path to a YAML file.
        texter: the env's texter (``tv2tv.envs.get_texter(env)``), or ``None`` to skip the
            parse check.

    Raises:
        ValueError: naming the bad entry (alternatives[i], script[j]) or the unparsable text.

    Example:
        >>> [a.name for a in load_suite("pong").alternatives]
        ['up', 'down', 'stay']
    """
    text, src = _suite_text(name_or_path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"suite {src} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"suite {src} must be a mapping, got {type(raw).__name__}")
    for key, typ in (("name", str), ("env", str), ("policy", str), ("horizon", int), ("alternatives", list)):
        if not isinstance(raw.get(key), typ) or isinstance(raw.get(key), bool):
            raise ValueError(f"suite {src}: '{key}' must be a {typ.__name__}, got {raw.get(key)!r}")
    if raw["horizon"] < 1:
        raise ValueError(f"suite {src}: 'horizon' must be >= 1, got {raw['horizon']}")
    alts = tuple(_parse_alternative(i, a, src) for i, a in enumerate(raw["alternatives"]))
    if len(alts) < 2:
        raise ValueError(f"suite {src}: needs at least 2 alternatives to compare, got {len(alts)}")
    names = [a.name for a in alts]
    if len(set(names)) != len(names):
        raise ValueError(f"suite {src}: alternative names must be unique, got {names}")
    suite = Suite(raw["name"], raw["env"], raw["policy"], raw["horizon"], alts, src)
    if texter is not None:
        suite.check_texts(texter)
    return suite


def check_cloning(env_name: str) -> None:
    """``ValueError`` when ``env_name`` has no state cloning, so no real-game branches exist."""
    fam = family_of(env_name)
    if fam.clone_state is None or fam.restore_state is None:
        raise ValueError(f"env {env_name!r} cannot clone its state, so the benchmark cannot replay "
                         f"alternatives in the real game; score such games with the "
                         f"inverse-dynamics model (tv2tv.benchmarks.idm) instead")


def _future(env: Any, state: Any, actions: np.ndarray) -> np.ndarray | None:
    """Frames of one alternative from ``state`` (``None`` if the episode ends inside it)."""
    restore_state(env, state)
    frames = []
    for a in actions:
        obs, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            return None
        frames.append(np.asarray(obs, np.uint8))
    return np.stack(frames)                                         # (horizon, H, W, C)


def _distinct(futures: list[np.ndarray]) -> bool:
    return all(not np.array_equal(a, b) for i, a in enumerate(futures) for b in futures[i + 1:])


@dataclass
class _Episode:
    """The live episode the collection policy plays (frames, actions, text so far)."""

    seed: int
    frames: list[np.ndarray]
    actions: list[Any]
    events: list[TextEvent]

    def context(self, n: int) -> tuple[int, np.ndarray, np.ndarray, tuple[TextEvent, ...]]:
        start = max(0, len(self.frames) - n)
        events = tuple(e for e in self.events if e.frame >= start)
        return start, np.stack(self.frames[start:]), np.asarray(self.actions[start:]), events


def make_branches(env_name: str, n_branches: int, horizon: int, suite: Suite, seed: int = 0,
                  context_frames: int = 16, policy: str | None = None, frame_size: int = 64,
                  frameskip: int = 4, gap: tuple[int, int] = (8, 40)) -> list[Branch]:
    """Play the real game to ``n_branches`` branch points and replay every alternative there.

    Branch points are seeded: the first after ``context_frames`` steps plus a gap drawn from
    ``gap``, each next one a fresh gap later. A branch point is skipped when an alternative
    ends the episode inside the horizon, or when two alternatives give identical futures
    (nothing to tell apart there, e.g. "up" with the paddle already at the top wall).

    Args:
        env_name: the game (must support state cloning and match ``suite.env``).
        n_branches: how many branch points; ``horizon``: future steps per alternative.
        suite: the alternatives (:func:`load_suite`); ``policy`` overrides ``suite.policy``.
        seed: seeds the env, the policy and the branch points.
        context_frames: frames the model sees, the branch frame included.

    Returns:
        ``n_branches`` :class:`Branch` es, ``truth`` ``uint8 (K, horizon, H, W, C)``.

    Example:
        >>> bs = make_branches("ALE/Pong-v5", 2, 4, load_suite("pong"), seed=1)   # doctest: +SKIP
    """
    for what, v, lo in (("n_branches", n_branches, 1), ("horizon", horizon, 1), ("context_frames", context_frames, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"{what} must be an int >= {lo}, got {v!r}")
    if suite.env != env_name:
        raise ValueError(f"suite {suite.name!r} is for {suite.env!r}, not {env_name!r}")
    check_cloning(env_name)
    env = make_env(env_name, frame_size=frame_size, frameskip=frameskip, seed=seed)
    texter = get_texter(env)
    suite.check_texts(texter)
    scripts = suite.scripts(texter, horizon)
    player = make_policy(policy or suite.policy, env, seed=seed)
    rng = np.random.default_rng(seed)
    branches: list[Branch] = []
    budget = n_branches * (gap[1] + context_frames) * 50
    ep = _new_episode(env, texter, seed)
    next_at = context_frames - 1 + int(rng.integers(*gap))
    for _ in range(budget):
        t = len(ep.frames) - 1
        if t == next_at:
            branch = _branch_at(env, ep, scripts, context_frames, env_name, len(branches))
            if branch is not None:
                branches.append(branch)
                if len(branches) == n_branches:
                    return branches
            next_at = t + int(rng.integers(*gap))
        if not _policy_step(env, texter, player, ep):
            ep = _new_episode(env, texter, ep.seed + 1)
            next_at = context_frames - 1 + int(rng.integers(*gap))
    raise ValueError(f"made only {len(branches)} of {n_branches} branches of {env_name} in {budget} "
                     f"steps: the alternatives rarely differ or episodes end too soon; try a shorter "
                     f"horizon or another suite")


def _new_episode(env: Any, texter: Any, seed: int) -> _Episode:
    obs, info = env.reset(seed=seed)
    events = [TextEvent(0, p.text, p.source) for p in texter.reset(obs, info)]
    return _Episode(seed, [np.asarray(obs, np.uint8)], [], events)


def _policy_step(env: Any, texter: Any, player: Any, ep: _Episode) -> bool:
    """One collection-policy step; ``False`` when the episode ended."""
    prev = ep.frames[-1]
    action = player(prev)
    obs, _, terminated, truncated, info = env.step(action)
    t = len(ep.frames)
    ep.events += [TextEvent(t, p.text, p.source) for p in texter.describe(prev, action, obs, info)]
    ep.frames.append(np.asarray(obs, np.uint8))
    ep.actions.append(action)
    return not (terminated or truncated)


def _branch_at(env: Any, ep: _Episode, scripts: list[Script], context_frames: int, env_name: str,
               index: int) -> Branch | None:
    """Clone, play every script from the clone, restore; ``None`` if the point is unusable."""
    state = clone_state(env)
    futures = [_future(env, state, s.actions) for s in scripts]
    restore_state(env, state)
    if any(f is None for f in futures) or not _distinct(futures):  # type: ignore[arg-type]
        return None
    start, frames, actions, events = ep.context(context_frames)
    return Branch(env=env_name, index=index, episode_seed=ep.seed, frame=len(ep.frames) - 1,
                  context_start=start, context_frames=frames, context_actions=actions,
                  context_events=events, scripts=tuple(scripts), truth=np.stack(futures))  # type: ignore[arg-type]

"""Intervention suites and ground-truth branches from the real game (docs/design.md, "Controllability").

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

An alternative may give ``goal: <text>`` instead of ``script:`` (exactly one of the two), for
goal-level text that parses to no single action ("collect wood"). Its ground truth is played
by the suite's ``policy`` with that goal fixed (a *goal policy*: it takes a ``goal=`` setting and
lists the goals it knows in ``policy.goals``, like ``crafter-explorer``), built with the
optional ``goal_args`` mapping (e.g. ``{epsilon: 0.0}``: no random moves in the ground truth)
and a seed shared by the alternatives of one branch point. The model is given the plan text the
goal policy wrote at the branch point (``info["plan"]``, e.g. ``"goal: collect wood"``, the
wording of recordings) as an intervention at step 0, and the actions the policy took there are
that branch's ``Script.actions`` (what an ``action-id`` model and the IDM score get)::

    policy: crafter-explorer
    goal_args: {epsilon: 0.0}
    alternatives:
      - {name: wood, goal: collect wood}
      - {name: stone, goal: place stone}

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tv2tv.benchmarks.models import Branch, Script
from tv2tv.config import check_int
from tv2tv.envs.registry import clone_state, family_of, get_texter, make_env, restore_state
from tv2tv.envs.runner import GameRun
from tv2tv.recorders.policies import make_policy


@dataclass(frozen=True)
class Alternative:
    """One alternative of a suite: ``steps`` are ``(step, text)``, sorted, the first at 0.

    A goal alternative has a ``goal`` and no ``steps``: its script is made per branch point.
    """

    name: str
    steps: tuple[tuple[int, str], ...]
    probe: str | None = None
    goal: str | None = None

    def script(self, texter: Any, horizon: int) -> Script:
        """The alternative cut to ``horizon`` steps, its texts parsed to env actions."""
        if self.goal is not None:
            raise ValueError(f"alternative {self.name!r} is the goal {self.goal!r}: its script is "
                             f"played per branch point by the goal policy, not parsed")
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
    goal_args: dict[str, Any] = field(default_factory=dict)

    def scripts(self, texter: Any, horizon: int | None = None) -> list[Script | None]:
        """Every alternative as a :class:`Script` of ``horizon`` (default: the suite's) steps;
        ``None`` for a goal alternative (played per branch point by the goal policy)."""
        h = self.horizon if horizon is None else horizon
        check_int("horizon", h, 1)
        return [None if a.goal is not None else a.script(texter, h) for a in self.alternatives]

    def check_goals(self, goals: Sequence[str] | None) -> None:
        """Every goal must be one of ``goals`` (the suite policy's; ``None``: it has no goals).

        Example:
            >>> load_suite("crafter-goals").check_goals(["collect wood", "place stone", "drink water", "eat"])
        """
        alts = [a for a in self.alternatives if a.goal is not None]
        if alts and goals is None:
            raise ValueError(f"suite {self.source}: alternatives {[a.name for a in alts]} give goals, but "
                             f"policy {self.policy!r} cannot pursue goals (it has no 'goals' and takes no "
                             f"'goal' setting); use a goal policy such as 'crafter-explorer' or scripts")
        for a in alts:
            if a.goal not in goals:  # type: ignore[operator]
                raise ValueError(f"suite {self.source}: alternative {a.name!r}: "
                                 f"policy {self.policy!r} has no "
                                 f"goal {a.goal!r}; its goals: {list(goals)}")  # type: ignore[arg-type]

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
    if name == "auto":
        raise ValueError("suite 'auto' is built per game, not loaded: use "
                         "tv2tv.benchmarks.auto_suite.resolve_suite('auto', env)")
    if name not in builtin_suites():
        raise ValueError(f"unknown suite {name!r}; built-in suites: {builtin_suites()} "
                         f"(or 'auto' for any ALE game, or pass a path to a .yaml file)")
    res = importlib.resources.files("tv2tv.benchmarks") / "suites" / f"{name}.yaml"
    return res.read_text(), f"{name}.yaml"


def _parse_alternative(i: int, raw: Any, src: str) -> Alternative:
    where = f"suite {src}: alternatives[{i}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise ValueError(f"{where} must be a mapping with a non-empty 'name', got {raw!r}")
    where += f" ({raw['name']!r})"
    unknown = set(raw) - {"name", "script", "goal", "probe"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    probe = raw.get("probe")
    if probe is not None and not isinstance(probe, str):
        raise ValueError(f"{where}: 'probe' must be a direction string, got {probe!r}")
    if ("script" in raw) == ("goal" in raw):
        raise ValueError(f"{where}: give exactly one of 'script' (texts) and 'goal' (a goal of the "
                         f"suite's policy), "
                         f"got {sorted(k for k in ('script', 'goal') if k in raw) or 'neither'}")
    if "goal" in raw:
        if not isinstance(raw["goal"], str) or not raw["goal"].strip():
            raise ValueError(f"{where}: 'goal' must be a non-empty string, got {raw['goal']!r}")
        return Alternative(raw["name"], (), probe, raw["goal"])
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
    return Alternative(raw["name"], tuple(steps), probe)


def load_suite(name_or_path: str | Path, texter: Any = None) -> Suite:
    """Load and validate a suite; with ``texter``, also check that every text parses.

    Args:
        name_or_path: a built-in suite name (``"pong"``, ``"breakout"``, ``"crafter"``,
            ``"crafter-goals"``) or a path to a YAML file.
        texter: the env's texter (``tv2tv.envs.get_texter(env)``), or ``None`` to skip the
            parse check.

    Raises:
        ValueError: naming the bad entry (alternatives[i], script[j]) or the unparsable text.
            Goals are checked against the policy's goals by :func:`make_branches` (it needs the
            env to build the policy).

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
    goal_args = raw.get("goal_args", {})
    if not isinstance(goal_args, dict) or not all(isinstance(k, str) for k in goal_args):
        raise ValueError(f"suite {src}: 'goal_args' must be a mapping of policy settings, got {goal_args!r}")
    if "goal" in goal_args:
        raise ValueError(f"suite {src}: 'goal_args' cannot set 'goal'; each alternative gives its own")
    unknown = set(raw) - {"name", "env", "policy", "horizon", "alternatives", "goal_args"}
    if unknown:
        raise ValueError(f"suite {src}: unknown keys {sorted(unknown)}")
    suite = Suite(raw["name"], raw["env"], raw["policy"], raw["horizon"], alts, src, goal_args)
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


def _goal_future(env: Any, state: Any, obs: np.ndarray, player: Any, horizon: int, alt: Alternative
                 ) -> tuple[np.ndarray, Script] | None:
    """Frames and script of a goal alternative: ``player`` (goal fixed) plays from ``state``."""
    restore_state(env, state)
    frames, actions, plan = [], [], None
    for step in range(horizon):
        action = player(obs)
        obs, _, terminated, truncated, info = env.step(action)
        if step == 0:
            plan = info.get("plan")
            if not isinstance(plan, str) or not plan:
                raise ValueError(f"goal policy for alternative {alt.name!r} wrote no plan text "
                                 f"(info['plan'] is {plan!r}), so there is no text to give the model")
        if terminated or truncated:
            return None
        frames.append(np.asarray(obs, np.uint8))
        actions.append(action)
    return np.stack(frames), Script(alt.name, ((0, plan),), np.asarray(actions), alt.probe,  # type: ignore[arg-type]
                                   held=False)


def policy_goals(policy: str, env: Any) -> tuple[str, ...] | None:
    """The goals ``policy`` can be fixed to on ``env`` (its ``goals``), ``None`` if it has none.

    Example:
        >>> policy_goals("random", make_env("crafter")) is None                # doctest: +SKIP
        True
    """
    goals = getattr(make_policy(policy, env, seed=0), "goals", None)
    return None if goals is None else tuple(goals)


def _distinct(futures: list[np.ndarray]) -> bool:
    return all(not np.array_equal(a, b) for i, a in enumerate(futures) for b in futures[i + 1:])


def make_branches(env_name: str, n_branches: int, horizon: int, suite: Suite, seed: int = 0,
                  context_frames: int = 16, policy: str | None = None, frame_size: int = 64,
                  frameskip: int = 4, gap: tuple[int, int] = (8, 40)) -> list[Branch]:
    """Play the real game to ``n_branches`` branch points and replay every alternative there.

    Branch points are seeded: the first after ``context_frames`` steps plus a gap drawn from
    ``gap``, each next one a fresh gap later. A branch point is skipped when an alternative
    ends the episode inside the horizon, or when two alternatives give identical futures
    (nothing to tell apart there, e.g. "up" with the paddle already at the top wall). Goal
    alternatives are played by the suite's goal policy and get a script per branch point.

    Args:
        env_name: the game (must support state cloning and match ``suite.env``).
        n_branches: how many branch points; ``horizon``: future steps per alternative.
        suite: the alternatives (:func:`load_suite`); ``policy`` overrides ``suite.policy`` for
            the play up to the branch points (goal alternatives are always played by ``suite.policy``).
        seed: seeds the env, the policy and the branch points.
        context_frames: frames the model sees, the branch frame included.

    Returns:
        ``n_branches`` :class:`Branch` es, ``truth`` ``uint8 (K, horizon, H, W, C)``.

    Example:
        >>> bs = make_branches("ALE/Pong-v5", 2, 4, load_suite("pong"), seed=1)   # doctest: +SKIP
    """
    for what, v, lo in (("n_branches", n_branches, 1), ("horizon", horizon, 1),
                        ("context_frames", context_frames, 1)):
        check_int(what, v, lo)
    if suite.env != env_name:
        raise ValueError(f"suite {suite.name!r} is for {suite.env!r}, not {env_name!r}")
    check_cloning(env_name)
    env = make_env(env_name, frame_size=frame_size, frameskip=frameskip, seed=seed)
    texter = get_texter(env)
    suite.check_texts(texter)
    if any(a.goal is not None for a in suite.alternatives):
        suite.check_goals(policy_goals(suite.policy, env))
    scripts = suite.scripts(texter, horizon)
    player = make_policy(policy or suite.policy, env, seed=seed)
    rng = np.random.default_rng(seed)
    branches: list[Branch] = []
    budget = n_branches * (gap[1] + context_frames) * 50
    episode_seed = seed
    run = GameRun(env, episode_seed, texter)
    next_at = context_frames - 1 + int(rng.integers(*gap))
    for _ in range(budget):
        t = run.steps
        if t == next_at:
            branch = _branch_at(env, run, suite, scripts, horizon, context_frames, env_name, len(branches),
                                seed)
            if branch is not None:
                branches.append(branch)
                if len(branches) == n_branches:
                    return branches
            next_at = t + int(rng.integers(*gap))
        run.step(player(run.frames[-1]))
        if run.ended:
            episode_seed += 1
            run = GameRun(env, episode_seed, texter)
            next_at = context_frames - 1 + int(rng.integers(*gap))
    raise ValueError(f"made only {len(branches)} of {n_branches} branches of {env_name} in {budget} "
                     f"steps: the alternatives rarely differ or episodes end too soon; try a shorter "
                     f"horizon or another suite")


def _branch_at(env: Any, run: GameRun, suite: Suite, scripts: list[Script | None], horizon: int,
               context_frames: int, env_name: str, index: int, seed: int) -> Branch | None:
    """Clone, play every alternative from the clone, restore; ``None`` if the point is unusable.

    Goal alternatives get this branch point's own script (the goal policy's plan and actions);
    their players share one seed per branch point, so only the goal tells them apart.
    """
    state = clone_state(env)
    goal_seed = int(np.random.SeedSequence([seed, run.seed, run.steps + 1]).generate_state(1)[0])
    futures, played = [], []
    for alt, script in zip(suite.alternatives, scripts):
        if script is not None:
            futures.append(_future(env, state, script.actions))
            played.append(script)
            continue
        player = make_policy(suite.policy, env, seed=goal_seed, goal=alt.goal, **suite.goal_args)
        out = _goal_future(env, state, run.frames[-1], player, horizon, alt)
        if out is None:
            restore_state(env, state)
            return None
        futures.append(out[0])
        played.append(out[1])
    restore_state(env, state)
    if any(f is None for f in futures) or not _distinct(futures):  # type: ignore[arg-type]
        return None
    ctx = run.context(context_frames)
    start = run.steps + 1 - len(ctx.frames)
    # A copy: the run's frame buffer stays behind. Branch events keep absolute episode frames.
    return Branch(env=env_name, index=index, episode_seed=run.seed, frame=run.steps,
                  context_start=start, context_frames=ctx.frames.copy(), context_actions=ctx.actions,
                  context_events=tuple(e for e in run.events if e.frame >= start), scripts=tuple(played),
                  truth=np.stack(futures))  # type: ignore[arg-type]

"""Planners acting in the real game: the receding-horizon loop, baselines, videos and reports.

``run_planner`` plays ``episodes`` episodes of a real game (``tv2tv.envs.make_env``) with a
planner: it keeps the recent real frames and the texter's text as the planner's context, asks
for a plan every ``planner.replan_every`` steps, turns the plan's phrases into actions with the
game's texter (``texter.parse``; each action is checked with ``action_space.contains``), and
steps the game. A step with no new phrase keeps the last action (a texter writes an action
phrase only when the action changes); before the first phrase the texter's first action
("do nothing" in ALE) is taken. The same number of steps and the same seeds are then played by
a random policy and by the game's scripted collection policy (``recorders.policies``: ``pong``,
``breakout``), so the three are compared on equal terms.

Reported per run: the real return and the game's counts (Pong: points won and lost; Breakout:
bricks broken and lives lost; any game: positive and negative reward steps), and for the
planner the wall time per decision. Videos show the model's imagination of each executed plan
beside what really happened (``recorders.video.side_by_side``).

Example:
    >>> results = run_planner("ALE/Pong-v5", planner, episodes=2, max_steps=300, seed=0,
    ...                       out="runs/plan-pong")                                  # doctest: +SKIP
    >>> results["summary"]["planner"]["return_mean"]                                # doctest: +SKIP
    -3.5
"""

from __future__ import annotations

import json
import os
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tv2tv.planners.base import PlanContext, Planner, check_positive
from tv2tv.progress import Advance, progress_bar
from tv2tv.types import Episode, TextEvent

BASELINES = ("random", "scripted")
SCRIPTED_POLICIES = {"pong": "pong", "breakout": "breakout"}


@dataclass
class ActConfig:
    """How planners (and baselines) are run in the real game.

    Args:
        env: env name for ``make_env``. episodes: episodes per player. max_steps: step budget
            per episode. seed: episode ``k`` resets with ``seed + k`` (players share seeds).
        frame_size, frameskip: as the world model was trained (its ``DatasetMeta``).
        context_frames: real frames (with their text) the planner sees.
        baselines: other players to run (``random``, ``scripted``).
        videos: episodes of the planner to write as video. fps: video rate.
        env_kwargs: more ``make_env`` options (e.g. ``text_every``).
    """

    env: str
    episodes: int = 1
    max_steps: int = 500
    seed: int = 0
    frame_size: int = 64
    frameskip: int = 4
    context_frames: int = 4
    baselines: tuple[str, ...] = BASELINES
    videos: int = 1
    fps: float = 15.0
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        for name in ("episodes", "max_steps", "context_frames", "frame_size", "frameskip"):
            check_positive(name, getattr(self, name))
        if self.seed < 0 or self.videos < 0:
            raise ValueError(f"seed and videos must be >= 0, got seed={self.seed}, videos={self.videos}")
        for b in self.baselines:
            if b not in BASELINES:
                raise ValueError(f"unknown baseline {b!r}; choose from {list(BASELINES)}")


@dataclass
class EpisodeRun:
    """One played episode: the real frames, text, rewards, and (planner only) the imagination."""

    frames: list[np.ndarray]
    events: list[TextEvent]
    rewards: list[float]
    lives_lost: int = 0
    imagined: list[np.ndarray | None] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    actions: list[Any] = field(default_factory=list)

    def to_episode(self, env: str = "", seed: int | None = None) -> Episode:
        """The real part of the run as an ``Episode`` (e.g. contexts for ``WorldModelEnv``)."""
        return Episode(np.stack(self.frames), np.asarray(self.actions, np.int64), np.asarray(self.rewards, np.float32),
                       False, True, tuple(self.events), seed, env)


def game_counts(game: str | None, rewards: Sequence[float], lives_lost: int) -> dict[str, float]:
    """Return, steps and the counts a game reports (see module docstring).

    Example:
        >>> game_counts("pong", [0, 1, -1, -1], 0)["points_lost"]
        2
    """
    r = np.asarray(rewards, np.float64)
    out: dict[str, Any] = {"return": float(r.sum()), "steps": len(r), "positive_rewards": int((r > 0).sum()),
                           "negative_rewards": int((r < 0).sum()), "lives_lost": int(lives_lost)}
    if game == "pong":
        out["points_won"], out["points_lost"] = int(r[r > 0].sum()), int(-r[r < 0].sum())
    if game == "breakout":
        out["bricks"] = int((r > 0).sum())
    return out


def plan_actions(plan: Sequence[TextEvent], texter: Any, action_space: Any, steps: int, current: Any) -> list[Any]:
    """The real actions for the next ``steps`` steps under ``plan`` (``current`` holds until
    the plan's first phrase).

    Raises:
        ValueError: a phrase the texter cannot parse, or an action outside ``action_space``.
    """
    by_step: dict[int, Any] = {}
    for e in sorted(plan, key=lambda e: e.frame):
        if e.frame < 0:
            raise ValueError(f"plan event {e} is in the past (frame < 0)")
        action = texter.parse(e.text)
        if not action_space.contains(np.asarray(action, dtype=np.int64)):
            raise ValueError(f"plan text {e.text!r} parses to {action!r}, outside the game's {action_space}")
        by_step[e.frame] = action
    out = []
    for k in range(steps):
        current = by_step.get(k, current)
        out.append(current)
    return out


def recent_context(run: EpisodeRun, n: int, texter: Any) -> PlanContext:
    """The planner's view of ``run``: its last ``n`` frames and their text, re-indexed."""
    lo = max(0, len(run.frames) - n)
    events = tuple(TextEvent(e.frame - lo, e.text, e.source) for e in run.events if e.frame >= lo)
    return PlanContext(np.stack(run.frames[lo:]), events, len(run.frames) - 1, texter)


def _imagined_frames(planner: Any, imagine: Callable[..., Any] | None, ctx: PlanContext,
                     plan: list[TextEvent], steps: int) -> np.ndarray | None:
    rollout = getattr(planner, "last_imagination", None)
    if rollout is None and imagine is not None:
        rollout = imagine(ctx, [plan], max(steps, 1))[0]
    return None if rollout is None else rollout.frames


def _step(env: Any, texter: Any, run: EpisodeRun, action: Any, info: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    prev = run.frames[-1]
    obs, reward, terminated, truncated, new_info = env.step(action)
    run.frames.append(obs)
    run.rewards.append(float(reward))
    run.actions.append(action)
    t = len(run.frames) - 1
    run.events += [TextEvent(t, p.text, p.source) for p in texter.describe(prev, action, obs, new_info)]
    if "lives" in info and "lives" in new_info and new_info["lives"] < info["lives"]:
        run.lives_lost += 1
    return bool(terminated or truncated), new_info


def play_planner(env: Any, planner: Planner, seed: int, max_steps: int, context_frames: int,
                 imagine: Callable[..., Any] | None = None, advance: Advance | None = None) -> EpisodeRun:
    """One episode of ``planner`` in ``env`` (built by ``make_env``), with its imagination;
    ``advance(n)`` (a ``tv2tv.progress`` bar's) is told the steps played after each decision."""
    from tv2tv.envs.registry import get_texter

    texter = get_texter(env)
    replan = check_positive("planner.replan_every", planner.replan_every)
    obs, info = env.reset(seed=seed)
    run = EpisodeRun([obs], [TextEvent(0, p.text, p.source) for p in texter.reset(obs, info)], [])
    run.imagined.append(None)
    current = texter.parse(texter.action_phrases()[0])
    done = False
    while not done and len(run.rewards) < max_steps:
        ctx = recent_context(run, context_frames, texter)
        start = time.perf_counter()
        plan = planner.plan(ctx)
        run.latencies.append(time.perf_counter() - start)
        steps = min(replan, max_steps - len(run.rewards))
        actions = plan_actions(plan, texter, env.action_space, steps, current)
        imagined = _imagined_frames(planner, imagine, ctx, plan, steps)
        t0 = len(run.frames) - 1
        for e in plan:
            if e.frame < steps:
                run.events.append(TextEvent(t0 + e.frame + 1, e.text, "plan"))
        played = len(run.rewards)
        for k, action in enumerate(actions):
            done, info = _step(env, texter, run, action, info)
            run.imagined.append(None if imagined is None else imagined[min(k, len(imagined) - 1)])
            current = action
            if done:
                break
        if advance is not None:
            advance(len(run.rewards) - played)
    run.events = [e for e in run.events if e.frame < len(run.frames)]
    return run


def play_policy(env: Any, policy: Callable[[Any], Any], seed: int, max_steps: int) -> EpisodeRun:
    """One episode of a ``policy(obs) -> action`` with the same bookkeeping as a planner."""
    from tv2tv.envs.registry import get_texter

    texter = get_texter(env)
    obs, info = env.reset(seed=seed)
    run = EpisodeRun([obs], [TextEvent(0, p.text, p.source) for p in texter.reset(obs, info)], [])
    done = False
    while not done and len(run.rewards) < max_steps:
        done, info = _step(env, texter, run, policy(run.frames[-1]), info)
    return run


def _summary(episodes: list[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k in episodes[0] if isinstance(episodes[0][k], (int, float))]
    out = {f"{k}_mean": float(np.mean([e[k] for e in episodes])) for k in keys}
    out["return_std"] = float(np.std([e["return"] for e in episodes]))
    return out


def _write_video(path: Path, run: EpisodeRun, fps: float) -> Path:
    from tv2tv.recorders.video import side_by_side, write_video

    real = np.stack(run.frames)
    if any(f is not None for f in run.imagined):
        blank = np.zeros_like(real[0])
        imagined = np.stack([real[0]] + [blank if f is None else f for f in run.imagined[1:]])
        frames = side_by_side([imagined, real], ["imagined", "real"])
    else:
        frames = side_by_side([real], ["real (no imagination)"])
    return write_video(path, frames, run.events, fps=fps)


def _baseline_policies(cfg: ActConfig, game: str | None) -> dict[str, str]:
    """Baseline name -> policy name, for the baselines this game has (warning about the others)."""
    policies = {}
    for b in cfg.baselines:
        policy_name = "random" if b == "random" else SCRIPTED_POLICIES.get(game or "")
        if policy_name is None:
            warnings.warn(f"no scripted policy for {cfg.env!r}; skipping the scripted baseline", stacklevel=3)
            continue
        policies[b] = policy_name
    return policies


def run_planner(env_name: str, planner: Planner, episodes: int = 1, max_steps: int = 500, seed: int = 0,
                out: str | os.PathLike[str] | None = None, *, name: str | None = None,
                imagine: Callable[..., Any] | None = None, progress: bool = False,
                **options: Any) -> dict[str, Any]:
    """Play ``planner`` and the baselines in the real game; write ``results.json``,
    ``report.md`` and videos under ``out`` (if given); return the results.

    Args:
        env_name: the real game, e.g. ``"ALE/Pong-v5"``.
        planner: any ``Planner``.
        episodes, max_steps, seed: see ``ActConfig``.
        out: output directory (``None``: write nothing).
        name: the planner's label in the results (default: its class name).
        imagine: for planners that do not imagine themselves (``ScriptedPlanner``), an
            ``Imagine`` that shows the model's imagination of their plans in the videos.
        progress: a bar over the step budget of every player's episodes (an episode that ends
            early counts its unplayed steps as done).
        **options: other ``ActConfig`` fields (``frame_size``, ``frameskip``, ``baselines``, ...).
    """
    from tv2tv.envs.atari_texter import game_key
    from tv2tv.envs.registry import make_env
    from tv2tv.recorders.policies import make_policy

    cfg = ActConfig(env_name, episodes, max_steps, seed, **options)
    cfg.validate()
    if not isinstance(planner, Planner):
        raise TypeError(f"planner must have plan(context) and replan_every, got {type(planner).__name__}")
    game = game_key(env_name) if env_name.startswith("ALE/") else None
    env = make_env(env_name, frame_size=cfg.frame_size, frameskip=cfg.frameskip, seed=seed, **cfg.env_kwargs)
    label = name or type(planner).__name__
    outdir = Path(out) if out is not None else None
    results: dict[str, Any] = {"env": env_name, "planner": label, "config": asdict(cfg), "runs": {}, "videos": []}
    latencies: list[float] = []
    baselines = _baseline_policies(cfg, game)
    total = episodes * max_steps * (1 + len(baselines))
    try:
        with progress_bar(f"playing {env_name} (steps)", total, progress) as advance:
            runs = []
            for k in range(episodes):
                advance(0, info=f"{label} episode {k + 1}/{episodes}")
                run = play_planner(env, planner, seed + k, max_steps, cfg.context_frames, imagine, advance)
                advance(max_steps - len(run.rewards))
                latencies += run.latencies
                runs.append(game_counts(game, run.rewards, run.lives_lost) | {"decisions": len(run.latencies)})
                if outdir is not None and k < cfg.videos:
                    path = _write_video(outdir / "videos" / f"{label}-ep{k}.mp4", run, cfg.fps)
                    results["videos"].append(str(path.relative_to(outdir)))
            results["runs"]["planner"] = runs
            for b, policy_name in baselines.items():
                advance(0, info=f"{b} baseline")
                baseline = []
                for k in range(episodes):
                    run = play_policy(env, make_policy(policy_name, env, seed=seed + k), seed + k, max_steps)
                    baseline.append(game_counts(game, run.rewards, run.lives_lost))
                    advance(max_steps)
                results["runs"][b] = baseline
    finally:
        env.close()
    results["summary"] = {who: _summary(eps) for who, eps in results["runs"].items()}
    results["decision_latency_s"] = {"mean": float(np.mean(latencies)), "median": statistics.median(latencies),
                                     "decisions": len(latencies)} if latencies else {}
    for attr in ("dropped_texts",):
        if getattr(planner, attr, None):
            results[attr] = list(getattr(planner, attr))[:50]
    if outdir is not None:
        write_results(outdir, results)
    return results


# Summary key -> column name (means over episodes).
SUMMARY_KEYS = {"return_mean": "return", "return_std": "return std", "points_won_mean": "points won",
                "points_lost_mean": "points lost", "bricks_mean": "bricks", "lives_lost_mean": "lives lost",
                "steps_mean": "steps"}


def summary_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Column names and one row per player of the results' summary."""
    summary = results["summary"]
    cols = [k for k in SUMMARY_KEYS if any(k in s for s in summary.values())]
    label = {"planner": f"{results['planner']} (planner)"}
    rows = [[label.get(who, who)] + [f"{s[k]:.2f}" if k in s else "-" for k in cols] for who, s in summary.items()]
    return ["player", *(SUMMARY_KEYS[k] for k in cols)], rows


def write_results(outdir: Path, results: dict[str, Any]) -> None:
    """``results.json`` and a markdown ``report.md`` in ``outdir``."""
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "results.json").write_text(json.dumps(results, indent=2))
    cols, rows = summary_rows(results)
    cfg = results["config"]
    lines = [f"# Planning in {results['env']}: {results['planner']}", "",
             f"{cfg['episodes']} episode(s) of at most {cfg['max_steps']} steps, seeds {cfg['seed']}.."
             f"{cfg['seed'] + cfg['episodes'] - 1}; every player plays the same seeds.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lat = results.get("decision_latency_s")
    if lat:
        lines += ["", f"Planning: {lat['decisions']} decisions, median {lat['median'] * 1000:.1f} ms "
                      f"(mean {lat['mean'] * 1000:.1f} ms) per decision."]
    if results["videos"]:
        lines += ["", "Videos (imagined plan | what really happened): "
                  + ", ".join(f"[{v}]({v})" for v in results["videos"])]
    (outdir / "report.md").write_text("\n".join(lines) + "\n")

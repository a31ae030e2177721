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
from typing import Any, SupportsFloat

import numpy as np

from tv2tv.config import check_int
from tv2tv.envs.runner import GameRun
from tv2tv.planners.base import PlanContext, Planner
from tv2tv.progress import Advance, progress_bar
from tv2tv.types import TextEvent

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
            check_int(name, getattr(self, name), 1)
        if self.seed < 0 or self.videos < 0:
            raise ValueError(f"seed and videos must be >= 0, got seed={self.seed}, videos={self.videos}")
        for b in self.baselines:
            if b not in BASELINES:
                raise ValueError(f"unknown baseline {b!r}; choose from {list(BASELINES)}")


def game_options(meta: Any) -> dict[str, Any]:
    """The ``ActConfig`` fields that play the real game as a model's store recorded it (its
    ``DatasetMeta``): ``frame_size``, ``frameskip``, ``env_kwargs`` (``text_every``, ...), ``fps``.

    Example:
        >>> run_planner("ALE/Pong-v5", planner, **game_options(generator.meta))   # doctest: +SKIP
    """
    from tv2tv.recorders.record import env_options

    env_kwargs = env_options(meta)
    return {"frame_size": env_kwargs.pop("frame_size"), "frameskip": env_kwargs.pop("frameskip"),
            "env_kwargs": env_kwargs, "fps": float(meta.fps)}


class EpisodeRun(GameRun):
    """One played episode of the real game (a ``GameRun``: frames, actions, rewards, text), the
    lives it lost and, for a planner, what it imagined and how long each decision took.

    Example:
        >>> run = EpisodeRun(make_env("ALE/Pong-v5"), seed=0); _ = run.step(2)   # doctest: +SKIP
        >>> run.plan_context(4).frames.shape                                      # doctest: +SKIP
        (2, 64, 64, 3)
    """

    def __init__(self, env: Any, seed: int | None) -> None:
        super().__init__(env, seed)
        self.lives_lost = 0
        self.imagined: list[np.ndarray | None] = []
        self.latencies: list[float] = []

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """``GameRun.step``, counting a life lost when ``info["lives"]`` drops."""
        before = self.info
        out = super().step(action)
        if "lives" in before and "lives" in self.info and self.info["lives"] < before["lives"]:
            self.lives_lost += 1
        return out

    def plan_context(self, frames: int) -> PlanContext:
        """The planner's view: the last ``frames`` real frames and their text (``GameRun.context``)."""
        ctx = self.context(frames)
        return PlanContext(ctx.frames, ctx.text_events, self.steps, self.texter)


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


def plan_actions(plan: Sequence[TextEvent], texter: Any, action_space: Any, steps: int,
                 current: Any) -> list[Any]:
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


def _imagined_frames(planner: Any, imagine: Callable[..., Any] | None, ctx: PlanContext,
                     plan: list[TextEvent], steps: int) -> np.ndarray | None:
    rollout = getattr(planner, "last_imagination", None)
    if rollout is None and imagine is not None:
        rollout = imagine(ctx, [plan], max(steps, 1))[0]
    return None if rollout is None else rollout.frames


def play_planner(env: Any, planner: Planner, seed: int, max_steps: int, context_frames: int,
                 imagine: Callable[..., Any] | None = None, advance: Advance | None = None) -> EpisodeRun:
    """One episode of ``planner`` in ``env`` (built by ``make_env``), with its imagination;
    ``advance(n)`` (a ``tv2tv.progress`` bar's) is told the steps played after each decision."""
    replan = check_int("planner.replan_every", planner.replan_every, 1)
    run = EpisodeRun(env, seed)
    texter = run.texter
    run.imagined.append(None)
    current = texter.parse(texter.action_phrases()[0])
    while not run.ended and run.steps < max_steps:
        ctx = run.plan_context(context_frames)
        start = time.perf_counter()
        plan = planner.plan(ctx)
        run.latencies.append(time.perf_counter() - start)
        steps = min(replan, max_steps - run.steps)
        actions = plan_actions(plan, texter, env.action_space, steps, current)
        imagined = _imagined_frames(planner, imagine, ctx, plan, steps)
        # The plan's phrases land where its steps' effects will show (frames the play has not reached).
        run.events += [TextEvent(run.steps + e.frame + 1, e.text, "plan") for e in plan if e.frame < steps]
        played = run.steps
        for k, action in enumerate(actions):
            run.step(action)
            run.imagined.append(None if imagined is None else imagined[min(k, len(imagined) - 1)])
            current = action
            if run.ended:
                break
        if advance is not None:
            advance(run.steps - played)
    return run


def play_policy(env: Any, policy: Callable[[Any], Any], seed: int, max_steps: int) -> EpisodeRun:
    """One episode of a ``policy(obs) -> action`` with the same bookkeeping as a planner."""
    run = EpisodeRun(env, seed)
    while not run.ended and run.steps < max_steps:
        run.step(policy(run.frames[-1]))
    return run


def _summary(episodes: list[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k in episodes[0] if isinstance(episodes[0][k], (int, float))]
    out = {f"{k}_mean": float(np.mean([e[k] for e in episodes])) for k in keys}
    out["return_std"] = float(np.std([e["return"] for e in episodes]))
    return out


def _write_video(path: Path, run: EpisodeRun, fps: float) -> Path:
    from tv2tv.recorders.video import side_by_side, write_video

    played = run.episode()  # the plan's text on frames the play did not reach is left out
    real = played.frames
    if any(f is not None for f in run.imagined):
        blank = np.zeros_like(real[0])
        imagined = np.stack([real[0]] + [blank if f is None else f for f in run.imagined[1:]])
        frames = side_by_side([imagined, real], ["imagined", "real"])
    else:
        frames = side_by_side([real], ["real (no imagination)"])
    return write_video(path, frames, played.text_events, fps=fps)


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
    results: dict[str, Any] = {"env": env_name, "planner": label, "config": asdict(cfg), "runs": {},
                               "videos": []}
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
                runs.append(game_counts(game, run.rewards, run.lives_lost)
                            | {"decisions": len(run.latencies)})
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
    results["decision_latency_s"] = {"mean": float(np.mean(latencies)),
                                     "median": statistics.median(latencies),
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
    rows = [[label.get(who, who)] + [f"{s[k]:.2f}" if k in s else "-" for k in cols]
            for who, s in summary.items()]
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

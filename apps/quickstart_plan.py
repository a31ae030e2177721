"""What ``tv2tv quickstart`` runs: its config, the plan derived from it, the stage log and the
context each stage gets (``tv2tv.apps.quickstart`` runs the stages, README "Quickstart").

The stages are ``record``, one ``train-<variant>`` per variant of ``QuickstartConfig.variants``
(``text`` and ``no-text`` for the quickstart, every variant for ``tv2tv bench ablation``),
``rollouts``, ``benchmark`` and ``report`` (``Plan.stages``, ``Plan.depends``, ``Plan.outputs``).
A stage is redone when its settings (``stage_settings``, hashed by ``fingerprint``) or an
upstream stage's result changed; ``OUT/stages.json`` (``StageLog``) remembers what finished.

Example:
    >>> plan = make_plan(QuickstartConfig(smoke=True, device="cpu"))
    >>> plan.suite, plan.n_branches, plan.stages[1:3]
    ('pong', 2, ('train-text', 'train-no-text'))
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from tv2tv.config import check_int
from tv2tv.manifest import Manifest
from tv2tv.world_model.config import VARIANTS

DEFAULT_VARIANTS = ("text", "no-text")  # the quickstart's; ``tv2tv bench ablation`` trains more
TRAIN_PREFIX = "train-"  # one training stage per variant: train-text, train-no-text, ...
# Share of --minutes per stage, from a run of the defaults on 2 idle CPU cores (15 minutes: record
# 0:11, rollouts 0:02, 64 branch points with the IDM 1:13, report 0:02); the trainings share the
# rest (TRAIN_SHARE) equally: every variant gets the same CPU-minutes.
SHARES = {"record": 0.02, "rollouts": 0.02, "benchmark": 0.11, "report": 0.03}
TRAIN_SHARE = 0.82
assert abs(sum(SHARES.values()) + TRAIN_SHARE - 1.0) < 1e-9, "the shares must add up to --minutes"
DEVICES = ("auto", "cpu", "gpu")
LEARNING_PNG = "learning.png"  # the report's training curves (report_html.write_learning_curves)
GOAL_PREFIX = "goal: "  # how a goal policy's plan text names its goal (crafter-explorer)
TEXT_EVERY = 2           # the action text is written every second step, as in the measured stores
STAGES_FORMAT = "tv2tv-quickstart-stages"
OWNER = "tv2tv quickstart"  # in manifest.json, for the ablation too (it runs the same stages)
# Small model and data for --smoke: every stage runs, in seconds.
SMOKE_OVERRIDES = ("model.dim=32", "model.depth=2", "model.heads=2", "sequence.window_frames=4",
                   "sequence.patch=16", "data.batch_size=2", "max_steps=2", "optim.warmup_steps=1",
                   "ckpt_every_steps=1", "val_every_steps=1000", "precision=32-true", "flow.sample_steps=2")


@dataclass(frozen=True)
class QuickstartConfig:
    """What ``tv2tv quickstart`` runs.

    Args:
        env: an env with a built-in controllability suite (``ALE/Pong-v5``, ``ALE/Breakout-v5``).
        minutes: total time budget (stages share it, see ``SHARES``).
        out: output directory (created; re-running resumes it).
        seed: seeds recording, training and generation; the benchmark plays ``seed + 1000``.
        smoke: seconds-sized run (tiny data, 2 training steps, 2 branches, horizon 4).
        device: ``auto`` (the GPU when there is one), ``cpu`` or ``gpu``.
        force: redo every stage even when done with the same settings.
        progress: progress bars (off for logs).
        variants: the world-model variants trained (``tv2tv.world_model.config.VARIANTS``), one at a
            time, each for the same share of ``minutes``; the first is the one the others are
            compared with, unless ``text`` is among them.
        name: the command, in the report's title (``quickstart``, ``ablation``).
        suite: a built-in controllability suite for ``env`` (``None``: the one named after the game;
            ``crafter-goals`` for goal-level text in Crafter). Its policy records the scripted third.
    """

    env: str = "ALE/Pong-v5"
    minutes: float = 15.0
    out: Path = Path("runs/quickstart")
    seed: int = 0
    smoke: bool = False
    device: str = "auto"
    force: bool = False
    progress: bool = True
    variants: tuple[str, ...] = DEFAULT_VARIANTS
    name: str = "quickstart"
    suite: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "variants", tuple(self.variants))
        bad = [v for v in self.variants if v not in VARIANTS]
        if bad or not self.variants:
            raise ValueError(f"variants must be one or more of {', '.join(VARIANTS)}, got "
                             f"{', '.join(map(repr, bad or self.variants)) or 'none'}")
        repeated = sorted({v for v in self.variants if self.variants.count(v) > 1})
        if repeated:
            raise ValueError(f"variants must differ, got {', '.join(map(repr, repeated))} more than once")
        if isinstance(self.minutes, bool) or not isinstance(self.minutes, (int, float)) \
                or not self.minutes > 0:
            raise ValueError(f"minutes must be a number > 0, got {self.minutes!r}")
        check_int("seed", self.seed, 0)
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")


@dataclass(frozen=True)
class Plan:
    """Everything the stages do, derived from a ``QuickstartConfig`` (``make_plan``).

    ``stages`` in order; ``depends``: the stages whose results each one reads; ``outputs``: what each
    writes into, relative to ``--out`` (claimed in ``manifest.json`` before the stage runs; the
    report transcodes the benchmark's videos, so it writes into ``bench/`` too).
    """

    env: str
    variants: tuple[str, ...]
    stages: tuple[str, ...]
    depends: dict[str, tuple[str, ...]]
    outputs: dict[str, tuple[str, ...]]
    suite: str
    policy: str
    frameskip: int
    record_steps: int
    sticky_steps: int
    text_every: int
    max_episode_steps: int
    train_overrides: tuple[str, ...]
    rollout_frames: int
    rollout_scripts: tuple[str, ...]
    sampling: dict[str, Any]
    n_branches: int
    horizon: int
    context_frames: int
    bench_seed: int
    idm_steps: int
    idm_collect_steps: int
    n_videos: int
    accelerator: str
    gen_device: str
    budget_s: dict[str, float] = field(default_factory=dict)


def _game(env: str) -> str:
    return env.lower().removeprefix("ale/").split("-")[0]


def _resolve_device(device: str) -> tuple[str, str]:
    """``(Lightning accelerator, torch device for generation)``."""
    import torch

    if device == "gpu" and not torch.cuda.is_available():
        raise ValueError("--device gpu: torch sees no CUDA GPU on this machine (use --device auto or cpu)")
    cuda = device == "gpu" or (device == "auto" and torch.cuda.is_available())
    return ("gpu" if cuda else "cpu"), ("cuda" if cuda else "cpu")


def make_plan(cfg: QuickstartConfig) -> Plan:
    """Stage settings for ``cfg``; raises ``ValueError`` for an env without a built-in suite."""
    from tv2tv.benchmarks.branches import builtin_suites, load_suite
    from tv2tv.recorders.policies import policy_names

    game = _game(cfg.env)
    name = cfg.suite or game
    if name not in builtin_suites():
        what = f"--suite {cfg.suite!r} is not a built-in suite" if cfg.suite else \
            f"--env {cfg.env!r} has no built-in controllability suite"
        raise ValueError(f"{what}; the quickstart runs {sorted(builtin_suites())} (e.g. ALE/Pong-v5, "
                         f"ALE/Breakout-v5, crafter with --suite crafter-goals)")
    suite = load_suite(name)
    if suite.env != cfg.env:
        raise ValueError(f"--env {cfg.env!r}: the built-in {name!r} suite is for {suite.env!r}")
    names = policy_names()
    policy = game if game in names else (suite.policy if suite.policy in names and suite.policy != "random"
                                         else "sticky")
    # A goal alternative's text is the goal policy's plan wording ("goal: collect wood", branches.py).
    texts = [a.steps[0][1] if a.goal is None else f"{GOAL_PREFIX}{a.goal}" for a in suite.alternatives]
    accelerator, gen_device = _resolve_device(cfg.device)
    trains = tuple(f"{TRAIN_PREFIX}{v}" for v in cfg.variants)
    shares = {"record": SHARES["record"], **dict.fromkeys(trains, TRAIN_SHARE / len(trains)),
              **{k: SHARES[k] for k in ("rollouts", "benchmark", "report")}}
    m, smoke = float(cfg.minutes), cfg.smoke
    frames = 4 if smoke else 24
    every = max(1, frames // len(texts))
    scripts = ["; ".join(f"{i * every}: {t}" for i, t in enumerate(order))
               for order in ([texts] if smoke or m < 30 else [texts, texts[::-1]])]
    train = SMOKE_OVERRIDES if smoke else (
        "optim.warmup_steps=20",  # a CPU budget trains hundreds of steps: the preset's 100 are too many
        # The clock stops both models (not the preset's 800 steps, which no-text reaches first): a
        # constant rate after warm-up, with the exported weights averaged (optim.ema_decay), as
        # `tv2tv bench learn` trains (README, "Learning control").
        "max_steps=1000000", "optim.min_lr_ratio=1.0",
        # Context noise pays at 30 minutes (E18) but slows the first minutes: with it the default
        # 15-minute quickstart scored text 0.30 against no-text 0.33; without it 0.48 vs 0.34.
        "sequence.p_noisy_context=0.0",
        f"ckpt_every_steps={500 if accelerator == 'gpu' else 50}")  # so an interrupted run resumes
    plan = Plan(
        env=cfg.env, variants=cfg.variants, stages=tuple(shares),
        depends={"record": (), **dict.fromkeys(trains, ("record",)), "rollouts": ("record", *trains),
                 "benchmark": trains, "report": ("record", *trains, "rollouts", "benchmark")},
        outputs={"record": ("data",), **{t: (f"runs/{v}",) for t, v in zip(trains, cfg.variants)},
                 "rollouts": ("rollouts",), "benchmark": ("bench",),
                 "report": ("bench", "results.json", "report.md", "report.html", LEARNING_PNG)},
        suite=name, policy=policy, frameskip=4 if cfg.env.startswith("ALE/") else 1,
        # A third scripted player, two thirds sticky-random play (README, "Learning control"): the
        # scripted player's action follows from the frames, so alone it teaches the model to ignore
        # the text; sticky play holds actions as the benchmark's alternatives do. Frames stay in
        # memory while training (12 KB each).
        record_steps=120 if smoke else min(8_000, int(550 * m)),
        sticky_steps=40 if smoke else min(16_000, int(1100 * m)),
        text_every=TEXT_EVERY, max_episode_steps=40 if smoke else 500, train_overrides=tuple(train),
        rollout_frames=frames,
        rollout_scripts=tuple(scripts),
        # Short budgets: 4 ODE steps per chunk (half the cost of 8; an undertrained model gains nothing).
        sampling={"ode_steps": 2 if smoke else (4 if m < 30 else 8), "max_text_tokens": 4 if smoke else 16},
        # 64 branch points from 15 minutes on: the verdict's 95% interval is then about ±0.1.
        n_branches=2 if smoke else min(64, max(4, round(4.3 * m))), horizon=4 if smoke else 8,
        context_frames=4 if smoke else 8, bench_seed=cfg.seed + 1000, idm_steps=5 if smoke else 300,
        # The IDM needs ~250 steps to start separating Pong's paddle moves (benchmarks/idm.py).
        idm_collect_steps=200 if smoke else 2000, n_videos=1 if smoke else 2, accelerator=accelerator,
        gen_device=gen_device, budget_s={k: v * (0.5 if smoke else m) * 60 for k, v in shares.items()})
    return plan


# -- stages.json ---------------------------------------------------------------------------------
class StageLog:
    """``OUT/stages.json``: per stage its status, settings, fingerprint, outputs and wall time."""

    def __init__(self, out: Path) -> None:
        self.path = out / "stages.json"
        self.stages: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            data = json.loads(self.path.read_text())
            if data.get("format") != STAGES_FORMAT:
                raise ValueError(f"{self.path} is not a quickstart stage log (format {data.get('format')!r})")
            self.stages = data["stages"]

    def save(self) -> None:
        from tv2tv.recorders.store import atomic_write

        text = json.dumps({"format": STAGES_FORMAT, "version": 1, "stages": self.stages}, indent=2)
        atomic_write(self.path, lambda f: f.write(text.encode()))

    def done(self, stage: str, fingerprint: str, inputs: dict[str, str]) -> bool:
        """Finished with these settings, from these upstream results, and its files are there."""
        e = self.stages.get(stage, {})
        return (e.get("status") == "done" and e.get("fingerprint") == fingerprint
                and e.get("inputs") == inputs
                and all((self.path.parent / p).exists() for p in e.get("outputs", {}).get("files", [])))

    def mark(self, stage: str, **entry: Any) -> None:
        self.stages[stage] = {**self.stages.get(stage, {}), **entry}
        self.save()


def fingerprint(settings: dict[str, Any]) -> str:
    """A short hash of a stage's settings."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


BENCH_RESULTS_FORMAT = 3
"""Version of the benchmark stage's ``results.json`` (2: intervals and paired comparisons; 3: think-act
consistency)."""
REPORT_FORMAT = 2
"""Version of the report stage's outputs (2: the training curves, ``learning.png``)."""


def stage_settings(cfg: QuickstartConfig, plan: Plan, stage: str) -> dict[str, Any]:
    """The settings that decide a stage's outputs (a change redoes it and its dependents)."""
    p = asdict(plan)
    training = stage.startswith(TRAIN_PREFIX)
    keys = ("train_overrides", "accelerator") if training else {
        "record": ("env", "policy", "frameskip", "record_steps", "sticky_steps", "text_every",
                   "max_episode_steps"),
        "rollouts": ("rollout_frames", "rollout_scripts", "sampling"),
        "benchmark": ("suite", "sampling", "n_branches", "horizon", "context_frames", "bench_seed",
                      "idm_steps", "idm_collect_steps", "n_videos"),
        "report": (),
    }[stage]
    base: dict[str, Any] = {"seed": cfg.seed, "smoke": cfg.smoke, "minutes": cfg.minutes}
    if stage == "benchmark":  # results.json gained fields the report reads: older ones are redone
        base["results_format"] = BENCH_RESULTS_FORMAT
    if stage == "report":     # the report gained parts: an older one is redone (nothing upstream)
        base["report_format"] = REPORT_FORMAT
    if training and len(plan.variants) != len(DEFAULT_VARIANTS):
        # A training's time is its share of --minutes; the quickstart's two-way split is implied by
        # "minutes" (so its runs keep their fingerprints), any other split is written out.
        base["train_share"] = round(TRAIN_SHARE / len(plan.variants), 6)
    return json.loads(json.dumps({**base, **{k: p[k] for k in keys}}))  # as stages.json holds them


@dataclass
class Context:
    """What a stage function gets: config, plan, paths, console and its time allotment."""

    cfg: QuickstartConfig
    plan: Plan
    console: Console
    log: StageLog
    manifest: Manifest
    allot_s: float = 0.0
    resume: bool = False

    @property
    def out(self) -> Path:
        return self.cfg.out

    def path(self, *parts: str) -> Path:
        return self.cfg.out.joinpath(*parts)

    def fresh(self, rel: str) -> Path:
        """Remove what an earlier (other or interrupted) run of a stage left at ``OUT/rel``."""
        return self.manifest.reset(rel)

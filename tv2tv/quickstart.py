"""``tv2tv quickstart``: the whole idea on one machine, in one resumable command.

Six stages, each writing into ``--out``::

    data/                      1. record: the game's scripted player, plus sticky-random play
    runs/text/, runs/no-text/  2-3. train the TV2TV model and the video-only baseline (tiny preset)
    rollouts/                  4. roll both out from real context; the text model gets scripted interventions
    bench/                     5. controllability against the real game on held-out branch points
    results.json, report.md, report.html   6. the report (HTML self-contained: plots and videos inline)
    stages.json                what finished, with the settings that produced it
    manifest.json              every file the quickstart wrote (``tv2tv.manifest``)

``--minutes`` is split across the stages (``SHARES``); training is stopped by the clock, the other
stages are sized from the budget. Time a stage saves or overruns moves on to the next one.
Re-running skips every stage already done with the same settings; an interrupted training stage
resumes from its ``last.ckpt``; a changed setting redoes that stage and everything after it.
A finished model keeps only ``last.ckpt`` (``tv2tv train --resume`` continues it) and its export.
A stage is redone by removing its outputs, so the quickstart deletes only what it wrote: before any
stage runs it refuses (exit code 2, naming them) files under its output paths that ``manifest.json``
does not list, such as a user's own store in ``OUT/data``.

Example:
    $ tv2tv quickstart                                   # ALE/Pong-v5, 15 minutes, runs/quickstart
    $ tv2tv quickstart --env ALE/Breakout-v5 --minutes 30 --out runs/breakout
    >>> summary = run_quickstart(QuickstartConfig(smoke=True, out=Path("tmp/qs")))   # doctest: +SKIP
    >>> sorted(summary["results"]["models"])                                         # doctest: +SKIP
    ['copy-last', 'no-text', 'text']
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from tv2tv.manifest import Manifest
from tv2tv.progress import Advance, progress_bar

STAGES = ("record", "train-text", "train-no-text", "rollouts", "benchmark", "report")
DEPENDS: dict[str, tuple[str, ...]] = {
    "record": (), "train-text": ("record",), "train-no-text": ("record",),
    "rollouts": ("record", "train-text", "train-no-text"), "benchmark": ("train-text", "train-no-text"),
    "report": ("record", "train-text", "train-no-text", "rollouts", "benchmark"),
}
# Share of --minutes per stage, from a run of the defaults on 2 idle CPU cores (15 minutes: record
# 0:11, rollouts 0:02, 64 branch points with the IDM 1:13, report 0:02); training gets the rest.
SHARES = {"record": 0.02, "train-text": 0.41, "train-no-text": 0.41, "rollouts": 0.02, "benchmark": 0.11,
          "report": 0.03}
DEVICES = ("auto", "cpu", "gpu")
TEXT_EVERY = 2           # the action text is written every second step, as in the measured stores
TRAIN_OVERHEAD_S = 30.0   # data loading, Lightning start-up and export around the timed fit loop
STAGES_FORMAT = "tv2tv-quickstart-stages"
OWNER = "tv2tv quickstart"  # in manifest.json
# What each stage writes into, relative to --out (claimed in manifest.json before the stage runs).
# The report transcodes the benchmark's videos, so it writes into bench/ too.
OUTPUTS: dict[str, tuple[str, ...]] = {
    "record": ("data",), "train-text": ("runs/text",), "train-no-text": ("runs/no-text",),
    "rollouts": ("rollouts",), "benchmark": ("bench",),
    "report": ("bench", "results.json", "report.md", "report.html"),
}
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
    """

    env: str = "ALE/Pong-v5"
    minutes: float = 15.0
    out: Path = Path("runs/quickstart")
    seed: int = 0
    smoke: bool = False
    device: str = "auto"
    force: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        if isinstance(self.minutes, bool) or not isinstance(self.minutes, (int, float)) or not self.minutes > 0:
            raise ValueError(f"minutes must be a number > 0, got {self.minutes!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {self.seed!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")


@dataclass(frozen=True)
class Plan:
    """Everything the stages do, derived from a ``QuickstartConfig`` (``make_plan``)."""

    env: str
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
    if game not in builtin_suites():
        raise ValueError(f"--env {cfg.env!r} has no built-in controllability suite; the quickstart runs "
                         f"{sorted(builtin_suites())} (e.g. ALE/Pong-v5, ALE/Breakout-v5)")
    suite = load_suite(game)
    if suite.env != cfg.env:
        raise ValueError(f"--env {cfg.env!r}: the built-in {game!r} suite is for {suite.env!r}")
    names = policy_names()
    policy = game if game in names else (suite.policy if suite.policy in names and suite.policy != "random"
                                         else "sticky")
    texts = [a.steps[0][1] for a in suite.alternatives]
    accelerator, gen_device = _resolve_device(cfg.device)
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
        f"ckpt_every_steps={500 if accelerator == 'gpu' else 50}")  # so an interrupted run resumes
    plan = Plan(
        env=cfg.env, suite=game, policy=policy, frameskip=4 if cfg.env.startswith("ALE/") else 1,
        # A third scripted player, two thirds sticky-random play (README, "Learning control"): the
        # scripted player's action follows from the frames, so alone it teaches the model to ignore
        # the text; sticky play holds actions as the benchmark's alternatives do. Frames stay in
        # memory while training (12 KB each).
        record_steps=120 if smoke else min(8_000, int(550 * m)), sticky_steps=40 if smoke else min(16_000, int(1100 * m)),
        text_every=TEXT_EVERY, max_episode_steps=40 if smoke else 500, train_overrides=tuple(train),
        rollout_frames=frames,
        rollout_scripts=tuple(scripts),
        # Short budgets: 4 ODE steps per chunk (half the cost of 8; an undertrained model gains nothing).
        sampling={"ode_steps": 2 if smoke else (4 if m < 30 else 8), "max_text_tokens": 4 if smoke else 16},
        # 64 branch points from 15 minutes on: the verdict's noise margin is then about ±0.10.
        n_branches=2 if smoke else min(64, max(4, round(4.3 * m))), horizon=4 if smoke else 8,
        context_frames=4 if smoke else 8, bench_seed=cfg.seed + 1000, idm_steps=5 if smoke else 300,
        # The IDM needs ~250 steps to start separating Pong's paddle moves (benchmarks/idm.py).
        idm_collect_steps=200 if smoke else 2000, n_videos=1 if smoke else 2, accelerator=accelerator,
        gen_device=gen_device, budget_s={k: v * (0.5 if smoke else m) * 60 for k, v in SHARES.items()})
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
        return (e.get("status") == "done" and e.get("fingerprint") == fingerprint and e.get("inputs") == inputs
                and all((self.path.parent / p).exists() for p in e.get("outputs", {}).get("files", [])))

    def mark(self, stage: str, **entry: Any) -> None:
        self.stages[stage] = {**self.stages.get(stage, {}), **entry}
        self.save()


def fingerprint(settings: dict[str, Any]) -> str:
    """A short hash of a stage's settings."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def stage_settings(cfg: QuickstartConfig, plan: Plan, stage: str) -> dict[str, Any]:
    """The settings that decide a stage's outputs (a change redoes it and its dependents)."""
    p = asdict(plan)
    keys = {
        "record": ("env", "policy", "frameskip", "record_steps", "sticky_steps", "text_every", "max_episode_steps"),
        "train-text": ("train_overrides", "accelerator"), "train-no-text": ("train_overrides", "accelerator"),
        "rollouts": ("rollout_frames", "rollout_scripts", "sampling"),
        "benchmark": ("suite", "sampling", "n_branches", "horizon", "context_frames", "bench_seed",
                      "idm_steps", "idm_collect_steps", "n_videos"),
        "report": (),
    }[stage]
    base = {"seed": cfg.seed, "smoke": cfg.smoke, "minutes": cfg.minutes}
    return json.loads(json.dumps({**base, **{k: p[k] for k in keys}}))  # as stages.json holds them


# -- the run ---------------------------------------------------------------------------------------
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


def _fmt_s(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 60}:{s % 60:02d}"


def run_quickstart(cfg: QuickstartConfig, console: Console | None = None) -> dict[str, Any]:
    """Run (or resume) every stage; returns ``{"results": ..., "report": path, "stages": ...}``.

    Raises:
        ValueError: an env without a built-in suite, bad settings, a corrupt ``stages.json``.
        tv2tv.manifest.ForeignFilesError: files under an output path the quickstart did not write
            (raised before anything runs; nothing is deleted).
    """
    console = console or Console(stderr=True)
    plan = make_plan(cfg)
    manifest = Manifest(cfg.out, OWNER)
    manifest.check(dict.fromkeys(rel for rels in OUTPUTS.values() for rel in rels))
    cfg.out.mkdir(parents=True, exist_ok=True)
    log = StageLog(cfg.out)
    start = time.perf_counter()
    total = sum(plan.budget_s.values())
    carry = 0.0  # seconds saved (+) or overrun (-) by the stages run so far in this session
    for k, stage in enumerate(STAGES, 1):
        settings = stage_settings(cfg, plan, stage)
        # Each finished stage gets a fresh token; a stage is stale when an input's token changed.
        key, inputs = fingerprint(settings), {d: log.stages[d]["token"] for d in DEPENDS[stage]}
        head = f"[{k}/{len(STAGES)}] {stage}"
        elapsed = time.perf_counter() - start
        if not cfg.force and log.done(stage, key, inputs):
            console.print(f"[dim]{head}: done, skipped[/dim]")
            continue
        old = log.stages.get(stage)
        resume = bool(old) and old.get("status") == "running" and old.get("fingerprint") == key \
            and old.get("inputs") == inputs and not cfg.force
        if old:
            console.print(f"[yellow]{head}: {escape(_why_redo(old, settings, inputs, cfg.force))}[/yellow]")
        allot = max(plan.budget_s[stage] + carry, 0.25 * plan.budget_s[stage])
        console.rule(f"{head} · budget ~{_fmt_s(allot)} · elapsed {_fmt_s(elapsed)} · "
                     f"budget left {_fmt_s(total - elapsed)}")
        log.mark(stage, status="running", settings=settings, fingerprint=key, inputs=inputs, outputs={},
                 seconds=None, finished_at=None, token=None)
        for rel in OUTPUTS[stage]:
            manifest.claim(rel)
        t0 = time.perf_counter()
        outputs = _stage_function(stage)(Context(cfg, plan, console, log, manifest, allot, resume))
        took = time.perf_counter() - t0
        for rel in OUTPUTS[stage]:
            manifest.record(rel)
        carry = allot - took if stage != "report" else carry
        log.mark(stage, status="done", outputs=outputs, seconds=round(took, 1), token=uuid.uuid4().hex[:12],
                 finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"))
        console.print(f"[green]{head}: done in {_fmt_s(took)}[/green]")
    results = json.loads(cfg.out.joinpath("results.json").read_text())
    _print_summary(results, cfg, log, console)
    return {"results": results, "report": cfg.out / "report.html", "stages": log.stages}


def _why_redo(old: dict[str, Any], settings: dict[str, Any], inputs: dict[str, str], force: bool) -> str:
    """Why a stage that ran before runs again (printed, so a user sees what a change costs)."""
    before = old.get("settings", {})
    changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
    if changed:
        diff = ", ".join(f"{k}: {before.get(k)!r} -> {settings.get(k)!r}" for k in changed)
        return f"settings changed ({diff}): redoing it and the stages that use it"
    redone = [d for d, t in inputs.items() if old.get("inputs", {}).get(d) != t]
    if redone:
        return f"{', '.join(redone)} was redone since: redoing it"
    if force:
        return "--force: redoing it"
    if old.get("status") == "running":
        return "interrupted last time: resuming" if old.get("fingerprint") else "interrupted last time: redoing it"
    return "its outputs are missing: redoing it"


def _print_summary(results: dict[str, Any], cfg: QuickstartConfig, log: StageLog, console: Console) -> None:
    from rich.table import Table

    from tv2tv.benchmarks.report import print_table

    times = Table(title="quickstart stages")
    times.add_column("stage")
    times.add_column("wall time", justify="right")
    for stage in STAGES:
        times.add_row(stage, _fmt_s(log.stages.get(stage, {}).get("seconds", 0.0)))
    out = Console()
    out.print(times)
    print_table(results, out)
    interpretation = results.get("quickstart", {}).get("interpretation")
    if interpretation:
        out.print(interpretation)
    out.print(f"report: [bold]{escape(str((cfg.out / 'report.html').resolve()))}[/bold] (and report.md)")


# -- the stages ------------------------------------------------------------------------------------
def stage_record(ctx: Context) -> dict[str, Any]:
    """The scripted player, then sticky-random play (another seed) for coverage, into ``data/``."""
    from tv2tv.recorders.record import record

    p, cfg = ctx.plan, ctx.cfg
    store = ctx.fresh("data")  # a half recording is redone: it takes seconds
    common = {"frameskip": p.frameskip, "workers": 1 if cfg.smoke else 2, "max_episode_steps": p.max_episode_steps,
              "progress": cfg.progress, "text_every": p.text_every}
    scripted = record(p.env, store, steps=p.record_steps, policy=p.policy, seed=cfg.seed, **common)
    sticky = record(p.env, store, steps=p.sticky_steps, policy="sticky", seed=cfg.seed + 1, **common)
    return {"files": ["data/dataset.json"], "episodes": sticky.store_episodes,
            "steps": {p.policy: scripted.steps, "sticky": sticky.steps}}


def _stage_train(variant: str) -> Callable[[Context], dict[str, Any]]:
    def stage(ctx: Context) -> dict[str, Any]:
        from tv2tv.config import build_config
        from tv2tv.world_model.config import TrainConfig
        from tv2tv.world_model.train import CKPT_DIR, LAST_CKPT, LaunchConfig, load_run_config, train

        cfg, plan = ctx.cfg, ctx.plan
        run = ctx.path("runs", variant)
        launch = LaunchConfig(accelerator=plan.accelerator, devices=1, progress=cfg.progress)
        if ctx.resume and (run / CKPT_DIR / LAST_CKPT).is_file():
            # Lightning restores the timer too, so the run stops at the time limit it started with.
            ctx.console.print(f"resuming {variant} training from {escape(str(run / CKPT_DIR / LAST_CKPT))}")
            train(load_run_config(run), run, launch, resume=True)
        else:
            overrides = [f"data.path={ctx.path('data').resolve()}", f"variant={variant}", f"seed={cfg.seed}",
                         *plan.train_overrides]
            if not cfg.smoke:
                overrides.append(f"max_minutes={max(0.1, (ctx.allot_s - TRAIN_OVERHEAD_S) / 60):.3f}")
            train(build_config(TrainConfig, "tiny", overrides), ctx.fresh(f"runs/{variant}"), launch)
        # ~26 MB each: keep last.ckpt (for --resume) only; last-v<N>.ckpt are copies of it.
        for ckpt in [*(run / CKPT_DIR).glob("step=*.ckpt"), *(run / CKPT_DIR).glob("last-v*.ckpt")]:
            ckpt.unlink()
        return {"files": [f"runs/{variant}/model.safetensors", f"runs/{variant}/config.json"], **run_info(run)}
    return stage


def run_info(run: Path) -> dict[str, Any]:
    """Parameters, optimizer steps and the last logged training loss of a finished run."""
    import csv

    import torch
    from safetensors import safe_open

    from tv2tv.world_model.checkpoint import load_checkpoint

    with safe_open(str(run / "model.safetensors"), "pt") as f:
        params = sum(int(torch.Size(f.get_slice(k).get_shape()).numel()) for k in f.keys())
    ckpt = load_checkpoint(run / "checkpoints" / "last.ckpt", mmap=True)
    loss = None
    for path in sorted((run / "logs").glob("version_*/metrics.csv")):
        with path.open() as fh:
            for row in csv.DictReader(fh):
                loss = float(row["train/loss"]) if row.get("train/loss") else loss
    return {"params": params, "steps": int(ckpt["global_step"]), "train_loss": loss}


def _generator(ctx: Context, variant: str) -> Any:
    from tv2tv.world_model.generate import Generator, SamplingConfig

    return Generator.from_run(ctx.path("runs", variant), SamplingConfig(**ctx.plan.sampling),
                              device=ctx.plan.gen_device)


def stage_rollouts(ctx: Context) -> dict[str, Any]:
    """Per script: the text model steered by it beside the no-text model, from the same real context."""
    import numpy as np

    from tv2tv.recorders.store import EpisodeStore
    from tv2tv.recorders.video import side_by_side, write_video
    from tv2tv.types import TextEvent
    from tv2tv.world_model.generate import episode_prefix
    from tv2tv.world_model.interventions import VIDEO_SOURCE, parse_script, save_transcripts

    plan, n = ctx.plan, ctx.plan.rollout_frames
    out = ctx.fresh("rollouts")
    text, no_text = _generator(ctx, "text"), _generator(ctx, "no-text")
    window = text.cfg.sequence.window_frames
    episode = _scripted_episode(EpisodeStore.open(ctx.path("data")), plan.policy, 2 * window)
    context = episode_prefix(episode, min(episode.num_steps, 2 * window), window)
    files = []
    with progress_bar("rolling out (frames)", 2 * n * len(plan.rollout_scripts), ctx.cfg.progress,
                      ctx.console) as advance:
        for i, script in enumerate(plan.rollout_scripts):
            a = text.generate(context, n, parse_script(script), seed=ctx.cfg.seed + i, progress=_steps(advance))
            b = no_text.generate(context, n, (), seed=ctx.cfg.seed + i, progress=_steps(advance))
            shown = a.context_frames[-4:]
            video = side_by_side([np.concatenate([shown, a.frames[0]]), np.concatenate([shown, b.frames[0]])],
                                 ["text", "no-text"])
            events = [TextEvent(e.frame + len(shown), e.text, VIDEO_SOURCE[e.source]) for e in a.transcripts[0]
                      if e.frame + len(shown) >= 0]
            fps = text.meta.fps / 2 if text.meta is not None else 8.0
            for suffix in (".mp4", ".webm"):
                write_video(out / f"rollout{i}{suffix}", video, events, fps=fps, scale=3)
            save_transcripts(out / f"rollout{i}.json", [a.transcripts[0], b.transcripts[0]],
                             {"script": script, "models": ["text", "no-text"], "frames": n,
                              "context": f"a {plan.policy} episode, frames up to {min(episode.num_steps, 2 * window)}",
                              "seed": ctx.cfg.seed + i,
                              "context_frames_shown": len(shown)})
            files += [f"rollouts/rollout{i}{s}" for s in (".mp4", ".webm", ".json")]
    return {"files": files, "scripts": list(plan.rollout_scripts)}


def _steps(advance: Advance) -> Callable[[int], None]:
    """A ``generate(progress=...)`` callback (frames done so far) that moves ``advance`` on."""
    done = 0

    def progress(frames: int) -> None:
        nonlocal done
        advance(frames - done)
        done = frames
    return progress


def _scripted_episode(store: Any, policy: str, min_steps: int) -> Any:
    """The first episode played by ``policy`` with at least ``min_steps`` steps (else episode 0)."""
    for i in range(len(store)):
        ep = store.load(i)
        if str(ep.extras.get("policy", "")) == policy and ep.num_steps >= min_steps:
            return ep
    return store.load(0)


def stage_benchmark(ctx: Context) -> dict[str, Any]:
    """Controllability of text, no-text and copy-last on branch points of fresh play (seed + 1000)."""
    from tv2tv.benchmarks.controllability import run_controllability
    from tv2tv.benchmarks.models import WorldModelPredictor

    p = ctx.plan
    predictors = [WorldModelPredictor(_generator(ctx, v), v) for v in ("text", "no-text")]
    results = run_controllability(
        predictors, p.env, p.n_branches, p.horizon, p.suite, p.bench_seed, ctx.fresh("bench"),
        context_frames=p.context_frames, frameskip=p.frameskip, idm_steps=p.idm_steps,
        idm_collect_steps=p.idm_collect_steps, n_videos=p.n_videos, console=ctx.console)
    return {"files": ["bench/results.json"], "n_branches": results["n_branches"]}


def _stage_function(stage: str) -> Callable[[Context], dict[str, Any]]:
    from tv2tv.report_html import stage_report

    return {"record": stage_record, "train-text": _stage_train("text"), "train-no-text": _stage_train("no-text"),
            "rollouts": stage_rollouts, "benchmark": stage_benchmark, "report": stage_report}[stage]


# -- the command line ------------------------------------------------------------------------------
def register(sub: Any) -> None:
    """Add ``tv2tv quickstart``."""
    p: argparse.ArgumentParser = sub.add_parser(
        "quickstart", help="record, train, steer with text and benchmark, in one resumable command",
        description="Record gameplay with text, train the text model and the no-text baseline, roll them "
                    "out with text interventions, score controllability against the real game and write "
                    "report.html/report.md. Re-running resumes finished stages.")
    p.add_argument("--env", default="ALE/Pong-v5", help="game with a built-in suite (ALE/Pong-v5, ALE/Breakout-v5)")
    p.add_argument("--minutes", type=float, default=15.0, help="total time budget in minutes (default 15)")
    p.add_argument("--out", default="runs/quickstart", help="output directory (default runs/quickstart)")
    p.add_argument("--seed", type=int, default=0, help="seed of recording, training and rollouts")
    p.add_argument("--smoke", action="store_true", help="seconds-sized run of every stage (tests, a first look)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="auto: the GPU when there is one")
    p.add_argument("--force", action="store_true", help="redo every stage, even those already done")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")
    p.set_defaults(func=_handle)


def _handle(args: argparse.Namespace) -> int:
    cfg = QuickstartConfig(env=args.env, minutes=args.minutes, out=Path(args.out), seed=args.seed,
                           smoke=args.smoke, device=args.device, force=args.force, progress=not args.no_progress)
    run_quickstart(cfg)
    return 0


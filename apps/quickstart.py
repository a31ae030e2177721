"""``tv2tv quickstart``: the whole idea on one machine, in one resumable command.

Six stages, each writing into ``--out``::

    data/                      1. record: the game's scripted player, plus sticky-random play
    runs/text/, runs/no-text/  2-3. train the TV2TV model and the video-only baseline (tiny preset)
    rollouts/                  4. roll both out from real context; the text model gets scripted interventions
    bench/                     5. controllability against the real game on held-out branch points
    results.json, report.md, report.html, learning.png   6. the report (HTML self-contained: plots,
                               training curves and videos inline)
    stages.json                what finished, with the settings that produced it
    manifest.json              every file the quickstart wrote (``tv2tv.manifest``)

The runner takes any variants (``QuickstartConfig.variants``): one ``train-<variant>`` stage each, and
every variant is rolled out, benchmarked and reported. The quickstart trains ``text`` and ``no-text``;
``tv2tv bench ablation`` (``tv2tv.apps.ablation``) runs the same stages for all four variants.

``--minutes`` is split across the stages (``SHARES``; the trainings share ``TRAIN_SHARE`` equally);
training is stopped by the clock, the other stages are sized from the budget. Every training gets
exactly its share, so the variants train for the same time; what another stage saves or overruns
moves on to the next stage that is not a training.
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
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from tv2tv.apps.quickstart_plan import (
    DEFAULT_VARIANTS,
    DEVICES,
    OWNER,
    TRAIN_PREFIX,
    Context,
    Plan,
    QuickstartConfig,
    StageLog,
    fingerprint,
    make_plan,
    stage_settings,
)
from tv2tv.apps.quickstart_stages import stage_benchmark, stage_record, stage_rollouts, stage_train
from tv2tv.apps.report_html import stage_report
from tv2tv.manifest import Manifest

STAGE_FUNCTIONS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "record": stage_record, "rollouts": stage_rollouts, "benchmark": stage_benchmark, "report": stage_report}


def stage_function(stage: str) -> Callable[[Context], dict[str, Any]]:
    """The work of ``stage``: ``train-<variant>`` trains that variant, the others are fixed."""
    if stage.startswith(TRAIN_PREFIX):
        return stage_train(stage.removeprefix(TRAIN_PREFIX))
    return STAGE_FUNCTIONS[stage]


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
    manifest.check(dict.fromkeys(rel for rels in plan.outputs.values() for rel in rels))
    cfg.out.mkdir(parents=True, exist_ok=True)
    log = StageLog(cfg.out)
    start = time.perf_counter()
    total = sum(plan.budget_s.values())
    carry = 0.0  # seconds saved (+) or overrun (-) by the stages run so far in this session
    for k, stage in enumerate(plan.stages, 1):
        settings = stage_settings(cfg, plan, stage)
        # Each finished stage gets a fresh token; a stage is stale when an input's token changed.
        key, inputs = fingerprint(settings), {d: log.stages[d]["token"] for d in plan.depends[stage]}
        head = f"[{k}/{len(plan.stages)}] {stage}"
        elapsed = time.perf_counter() - start
        if not cfg.force and log.done(stage, key, inputs):
            console.print(f"[dim]{head}: done, skipped[/dim]")
            continue
        old = log.stages.get(stage)
        resume = bool(old) and old.get("status") == "running" and old.get("fingerprint") == key \
            and old.get("inputs") == inputs and not cfg.force
        if old:
            console.print(f"[yellow]{head}: {escape(_why_redo(old, settings, inputs, cfg.force))}[/yellow]")
        training = stage.startswith(TRAIN_PREFIX)
        # Every training gets exactly its share (equal compute); what the others save or overrun
        # moves on past the trainings to the next stage.
        allot = plan.budget_s[stage] if training else max(plan.budget_s[stage] + carry,
                                                          0.25 * plan.budget_s[stage])
        console.rule(f"{head} · budget ~{_fmt_s(allot)} · elapsed {_fmt_s(elapsed)} · "
                     f"budget left {_fmt_s(total - elapsed)}")
        log.mark(stage, status="running", settings=settings, fingerprint=key, inputs=inputs, outputs={},
                 seconds=None, finished_at=None, token=None)
        for rel in plan.outputs[stage]:
            manifest.claim(rel)
        t0 = time.perf_counter()
        outputs = stage_function(stage)(Context(cfg, plan, console, log, manifest, allot, resume))
        took = time.perf_counter() - t0
        for rel in plan.outputs[stage]:
            manifest.record(rel)
        if stage != "report":
            carry = (carry if training else 0.0) + allot - took
        log.mark(stage, status="done", outputs=outputs, seconds=round(took, 1), token=uuid.uuid4().hex[:12],
                 finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"))
        console.print(f"[green]{head}: done in {_fmt_s(took)}[/green]")
    results = json.loads(cfg.out.joinpath("results.json").read_text())
    _print_summary(results, cfg, plan, log)
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
        return f"interrupted last time: {'resuming' if old.get('fingerprint') else 'redoing it'}"
    return "its outputs are missing: redoing it"


def _print_summary(results: dict[str, Any], cfg: QuickstartConfig, plan: Plan, log: StageLog) -> None:
    from rich.table import Table

    from tv2tv.benchmarks.report import print_table

    times = Table(title=f"{cfg.name} stages")
    times.add_column("stage")
    times.add_column("wall time", justify="right")
    for stage in plan.stages:
        times.add_row(stage, _fmt_s(log.stages.get(stage, {}).get("seconds", 0.0)))
    out = Console()
    out.print(times)
    print_table(results, out)
    interpretation = results.get("quickstart", {}).get("interpretation")
    if interpretation:
        out.print(interpretation)
    out.print(f"report: [bold]{escape(str((cfg.out / 'report.html').resolve()))}[/bold] (and report.md)")


# -- the command line ------------------------------------------------------------------------------
def register(sub: Any) -> None:
    """Add ``tv2tv quickstart``."""
    p: argparse.ArgumentParser = sub.add_parser(
        "quickstart", help="record, train, steer with text and benchmark, in one resumable command",
        description="Record gameplay with text, train the text model and the no-text baseline, roll them "
                    "out with text interventions, score controllability against the real game and write "
                    "report.html/report.md. Re-running resumes finished stages.")
    add_run_flags(p, minutes=15.0, out="runs/quickstart")
    p.set_defaults(func=handle, app="quickstart", variants=",".join(DEFAULT_VARIANTS))


def add_run_flags(p: argparse.ArgumentParser, minutes: float, out: str) -> None:
    """The flags of ``tv2tv quickstart``, shared by ``tv2tv bench ablation`` (``tv2tv.apps.ablation``)."""
    p.add_argument("--env", default="ALE/Pong-v5",
                   help="game with a built-in suite (ALE/Pong-v5, ALE/Breakout-v5, crafter)")
    p.add_argument("--suite", default=None,
                   help="built-in controllability suite (default: the game's; crafter-goals for goal text)")
    p.add_argument("--minutes", type=float, default=minutes,
                   help=f"total time budget in minutes (default {minutes:g})")
    p.add_argument("--out", default=out, help=f"output directory (default {out})")
    p.add_argument("--seed", type=int, default=0, help="seed of recording, training and rollouts")
    p.add_argument("--smoke", action="store_true",
                   help="seconds-sized run of every stage (tests, a first look)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="auto: the GPU when there is one")
    p.add_argument("--force", action="store_true", help="redo every stage, even those already done")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")


def handle(args: argparse.Namespace) -> int:
    """Run the stages for ``args``: the flags of ``add_run_flags``, ``app`` (the command's name) and
    ``variants`` (comma-separated)."""
    cfg = QuickstartConfig(env=args.env, minutes=args.minutes, out=Path(args.out), seed=args.seed,
                           smoke=args.smoke, device=args.device, force=args.force,
                           progress=not args.no_progress,
                           variants=tuple(v.strip() for v in args.variants.split(",")), name=args.app,
                           suite=args.suite)
    run_quickstart(cfg)
    return 0

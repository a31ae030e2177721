"""The work of ``tv2tv quickstart``'s stages 1-5 (stage 6, the report, is ``tv2tv.apps.report_html``).

Each stage is a function ``Context -> dict``: it writes under ``OUT`` and returns what
``stages.json`` records of it (``files`` it wrote, and a few numbers).

Example:
    >>> run_info(Path("runs/quickstart/runs/text"))        # doctest: +SKIP
    {'params': 1234567, 'steps': 800, 'train_loss': 0.42}
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.markup import escape

from tv2tv.apps.quickstart_plan import GOAL_PREFIX, Context
from tv2tv.progress import Advance, progress_bar

TRAIN_OVERHEAD_S = 30.0   # data loading, Lightning start-up and export around the timed fit loop

def stage_record(ctx: Context) -> dict[str, Any]:
    """The scripted player, then sticky-random play (another seed) for coverage, into ``data/``."""
    from tv2tv.recorders.record import record

    p, cfg = ctx.plan, ctx.cfg
    store = ctx.fresh("data")  # a half recording is redone: it takes seconds
    common = {"frameskip": p.frameskip, "workers": 1 if cfg.smoke else 2,
              "max_episode_steps": p.max_episode_steps,
              "progress": cfg.progress, "text_every": p.text_every}
    scripted = record(p.env, store, steps=p.record_steps, policy=p.policy, seed=cfg.seed, **common)
    sticky = record(p.env, store, steps=p.sticky_steps, policy="sticky", seed=cfg.seed + 1, **common)
    return {"files": ["data/dataset.json"], "episodes": sticky.store_episodes,
            "steps": {p.policy: scripted.steps, "sticky": sticky.steps}}


def stage_train(variant: str) -> Callable[[Context], dict[str, Any]]:
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
        files = [f"runs/{variant}/model.safetensors", f"runs/{variant}/config.json"]
        return {"files": files, **run_info(run)}
    return stage


def run_info(run: Path) -> dict[str, Any]:
    """Parameters, optimizer steps and the last logged training loss of a finished run."""
    import torch
    from safetensors import safe_open

    from tv2tv.world_model.checkpoint import load_checkpoint

    with safe_open(str(run / "model.safetensors"), "pt") as f:
        params = sum(int(torch.Size(f.get_slice(k).get_shape()).numel()) for k in f.keys())
    ckpt = load_checkpoint(run / "checkpoints" / "last.ckpt", mmap=True)
    losses = [row["train/loss"] for row in training_log(run) if "train/loss" in row]
    return {"params": params, "steps": int(ckpt["global_step"]), "train_loss": losses[-1] if losses else None}


def training_log(run: Path) -> list[dict[str, float]]:
    """Every row a run logged (``logs/version_<i>/metrics.csv``, a resume's versions in order), each
    with ``step`` and the metrics logged at it (``train/loss``, ``train/flow_loss``, ...)."""
    import csv

    def version(path: Path) -> int:
        return int(path.parent.name.removeprefix("version_"))

    rows = []
    for path in sorted((run / "logs").glob("version_*/metrics.csv"), key=version):
        with path.open() as fh:
            for row in csv.DictReader(fh):
                rec = {k: float(v) for k, v in row.items() if k and v not in ("", None)}
                if "step" in rec:
                    rows.append(rec)
    return rows


def _generator(ctx: Context, variant: str) -> Any:
    from tv2tv.world_model.generate import Generator
    from tv2tv.world_model.rollout_model import SamplingConfig

    return Generator.from_run(ctx.path("runs", variant), SamplingConfig(**ctx.plan.sampling),
                              device=ctx.plan.gen_device)


def stage_rollouts(ctx: Context) -> dict[str, Any]:
    """Per script: every variant's rollout from the same real context, side by side, in the order of
    ``QuickstartConfig.variants``; text variants are steered by the script (``_rollout``). The video
    carries the text of the first variant that reads text."""
    import numpy as np

    from tv2tv.envs.runner import episode_prefix
    from tv2tv.recorders.store import EpisodeStore
    from tv2tv.recorders.video import side_by_side, write_video
    from tv2tv.types import TextEvent
    from tv2tv.world_model.interventions import VIDEO_SOURCE, parse_script, save_transcripts

    plan, n, variants = ctx.plan, ctx.plan.rollout_frames, ctx.plan.variants
    out = ctx.fresh("rollouts")
    gens = [_generator(ctx, v) for v in variants]
    shown_text = next((k for k, g in enumerate(gens) if g.variant.reads_text), None)
    window = gens[0].cfg.sequence.window_frames
    episode = _scripted_episode(EpisodeStore.open(ctx.path("data")), plan.policy, 2 * window)
    last = min(episode.num_steps, 2 * window)
    context = episode_prefix(episode, last, window)
    # What the recording's player did next, padded with its last action: an action-id model's
    # actions for a goal text, which names no action ("goal: collect wood").
    recorded = np.resize(np.asarray(episode.actions[last:]) if last < episode.num_steps
                         else np.asarray(episode.actions[-1:]), n)
    files = []
    with progress_bar("rolling out (frames)", len(gens) * n * len(plan.rollout_scripts), ctx.cfg.progress,
                      ctx.console) as advance:
        for i, script in enumerate(plan.rollout_scripts):
            rolls = [_rollout(g, context, n, parse_script(script), ctx.cfg.seed + i, _steps(advance),
                              recorded) for g in gens]
            shown = rolls[0].context_frames[-4:]
            video = side_by_side([np.concatenate([shown, r.frames[0]]) for r in rolls], list(variants))
            events = [] if shown_text is None else [
                TextEvent(e.frame + len(shown), e.text, VIDEO_SOURCE[e.source])
                for e in rolls[shown_text].transcripts[0] if e.frame + len(shown) >= 0]
            fps = gens[0].meta.fps / 2 if gens[0].meta is not None else 8.0
            for suffix in (".mp4", ".webm"):
                write_video(out / f"rollout{i}{suffix}", video, events, fps=fps, scale=3)
            save_transcripts(out / f"rollout{i}.json", [r.transcripts[0] for r in rolls],
                             {"script": script, "models": list(variants), "frames": n,
                              "context": f"a {plan.policy} episode, frames up to "
                                         f"{min(episode.num_steps, 2 * window)}",
                              "seed": ctx.cfg.seed + i,
                              "context_frames_shown": len(shown)})
            files += [f"rollouts/rollout{i}{s}" for s in (".mp4", ".webm", ".json")]
    return {"files": files, "scripts": list(plan.rollout_scripts)}


def _rollout(gen: Any, context: Any, n: int, events: list[Any], seed: int,
             progress: Callable[[int], None], recorded: Any) -> Any:
    """One rollout of ``gen`` under a script's text ``events``, as its variant takes them: a text
    model reads them (``plan-first`` up front, as its plan), an ``action-id`` model gets the env
    actions they stand for (the game's texter parses each text, held until the next, as a
    controllability alternative's actions are made: ``Alternative.script``), ``no-text`` nothing.
    A goal text names no action: ``action-id`` then gets ``recorded`` (the recording's own ``n``
    actions after the context)."""
    from tv2tv.benchmarks.branches import Alternative
    from tv2tv.world_model.texters import texter_for

    actions = None
    if gen.variant.takes_actions:
        steps = tuple((e.frame, e.text) for e in events)
        if any(t.startswith(GOAL_PREFIX) for _, t in steps):
            actions = recorded
        else:
            actions = Alternative("script", steps).script(texter_for(gen.meta), n).actions
    return gen.generate(context, n, events if gen.variant.reads_text else (), seed=seed, progress=progress,
                        actions=actions)


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
    """Controllability of every variant and copy-last on branch points of fresh play (seed + 1000);
    ``WorldModelPredictor`` gives each variant the alternatives as it takes them."""
    from tv2tv.benchmarks.controllability import run_controllability
    from tv2tv.benchmarks.models import WorldModelPredictor

    p = ctx.plan
    predictors = [WorldModelPredictor(_generator(ctx, v), v) for v in p.variants]
    results = run_controllability(
        predictors, p.env, p.n_branches, p.horizon, p.suite, p.bench_seed, ctx.fresh("bench"),
        context_frames=p.context_frames, frameskip=p.frameskip, idm_steps=p.idm_steps,
        idm_collect_steps=p.idm_collect_steps, n_videos=p.n_videos, console=ctx.console)
    return {"files": ["bench/results.json"], "n_branches": results["n_branches"]}

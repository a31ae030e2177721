"""``tv2tv bench controllability``: does text steer the model the way it steers the real game?

At seeded branch points of real episodes the emulator state is cloned and each scripted
alternative of a suite is played in the real game (the ground truth, ``branches.py``). Every
model gets the same context and each script as text interventions (``models.py``) and its futures
are scored (``scorers.py``, ``probes.py``, ``idm.py``) and reported (``report.py``). ``copy-last``
is in every report; ``--baseline NAME=RUN`` adds the ``no-text`` / ``action-id`` runs.

Example:
    $ tv2tv bench controllability --ckpt copy-last --env ALE/Pong-v5 --branches 32 --horizon 8 \\
        --out runs/bench/pong
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape

from tv2tv.benchmarks.action_groups import groups_for_env
from tv2tv.benchmarks.auto_suite import resolve_suite
from tv2tv.benchmarks.branches import Suite, make_branches
from tv2tv.benchmarks.idm import IDM, collect_episodes, score_futures, train_idm
from tv2tv.benchmarks.models import (
    Branch,
    BranchPredictor,
    CopyLast,
    check_compatible,
    check_prediction,
    load_predictor,
)
from tv2tv.benchmarks.probes import probe_game
from tv2tv.benchmarks.report import print_table, write_report
from tv2tv.benchmarks.scorers import PSNR_CAP, ci95, compare_models, score_model
from tv2tv.benchmarks.think_act import think_act


def predict_all(predictor: BranchPredictor, branches: Sequence[Branch], horizon: int,
                seed: int) -> list[np.ndarray]:
    """The model's futures for every branch, checked to be ``uint8 (K, horizon, H, W, C)``."""
    out = []
    for b in branches:
        pred = predictor.predict(b, list(b.scripts), horizon, seed + b.index)
        check_prediction(predictor, pred, b, len(b.scripts), horizon)
        out.append(pred)
    return out


def _train_idm(env: str, frame_size: int, frameskip: int, seed: int, steps: int, idm_store: str | None,
               idm_policy: str, idm_collect_steps: int) -> IDM:
    if idm_store is not None:
        from tv2tv.recorders.store import EpisodeStore

        store = EpisodeStore.open(idm_store)
        if store.meta.env != env or tuple(store.meta.frame_shape[:2]) != (frame_size, frame_size):
            raise ValueError(f"IDM store {idm_store} holds {store.meta.env} frames {store.meta.frame_shape}, "
                             f"but the benchmark runs {env} at {frame_size}x{frame_size}")
        return train_idm(store, steps=steps, seed=seed)
    # Fresh real play, seeded apart from the branches so the IDM never sees a branch frame.
    episodes = collect_episodes(env, idm_policy, idm_collect_steps, seed + 10_000, frame_size, frameskip)
    return train_idm(episodes, steps=steps, seed=seed, groups=groups_for_env(env))


def run_controllability(predictors: Sequence[BranchPredictor], env: str, n_branches: int, horizon: int,
                        suite: str | Path | Suite, seed: int, out: str | Path, context_frames: int = 16,
                        frame_size: int = 64, frameskip: int = 4, policy: str | None = None,
                        idm_steps: int = 300, idm_store: str | None = None, idm_policy: str = "random",
                        idm_collect_steps: int = 2000, n_videos: int = 2,
                        console: Console | None = None) -> dict[str, Any]:
    """Run the benchmark for ``predictors`` and write every artefact into ``out``.

    Args:
        predictors: the models; ``copy-last`` is added when absent (every report has it).
        env, n_branches, horizon, seed: the game, branch points, future steps, seed.
        suite: a suite name, YAML path, ``"auto"`` (built from an ALE game's action groups) or
            :class:`Suite`.
        idm_steps: IDM training steps (0: no IDM, ``idm_accuracy`` and ``idm`` are ``null``); it trains on
            ``idm_store`` if given, else on ``idm_collect_steps`` steps played live by ``idm_policy``.
        n_videos: branches shown as side-by-side videos.

    Returns:
        The ``results.json`` content.

    Example:
        >>> res = run_controllability([CopyLast()], "ALE/Pong-v5", 8, 8, "pong", 0, "out")  # doctest: +SKIP
        >>> res["models"]["copy-last"]["chance"]                                          # doctest: +SKIP
        0.3333333333333333
    """
    console = console or Console(stderr=True)
    suite_obj = resolve_suite(suite, env)
    models = list(predictors)
    if not any(isinstance(p, CopyLast) for p in models):
        models.append(CopyLast())
    names = [p.name for p in models]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique, got {names}")
    for p in models:  # before the slow part: a wrong checkpoint fails at once
        check_compatible(p, env, (frame_size, frame_size, 3))
    with console.status(f"playing {n_branches} branch points of {env}"):
        branches = make_branches(env, n_branches, horizon, suite_obj, seed, context_frames, policy,
                                 frame_size, frameskip)
    predictions = {}
    for p in models:
        with console.status(f"generating with {p.name}"):
            predictions[p.name] = predict_all(p, branches, horizon, seed)
    game = probe_game(env)
    truths = [b.truth for b in branches]
    reference = score_model(branches, truths, game)
    idm = None
    if idm_steps > 0:
        with console.status("training the inverse-dynamics model"):
            idm = _train_idm(env, frame_size, frameskip, seed, idm_steps, idm_store, idm_policy,
                             idm_collect_steps)
    ref_idm = None if idm is None else _idm_scores(idm, branches, truths)
    results: dict[str, Any] = {
        "benchmark": "controllability", "env": env, "suite": suite_obj.name,
        "alternatives": [a.name for a in suite_obj.alternatives], "horizon": horizon, "seed": seed,
        "n_branches": len(branches), "n_alternatives": len(suite_obj.alternatives),
        "context_frames": context_frames, "frame_size": frame_size,
        "frameskip": frameskip, "psnr_cap_db": PSNR_CAP, "tie_rule": "shared",
        "idm_heldout_accuracy": None if idm is None else idm.heldout_accuracy,
        "idm_heldout": None if idm is None else idm.heldout,
        "idm_groups": None if idm is None else idm.groups.describe(),
        "reference": {"probe_follow_rate": reference["probe_follow_rate"],
                      "idm_accuracy": None if idm is None else ref_idm["accuracy"], "idm": ref_idm},
        "models": {},
    }
    for p in models:
        m = score_model(branches, predictions[p.name], game)
        m["idm"] = None if idm is None else _idm_scores(idm, branches, predictions[p.name], m["per_branch"])
        m["idm_accuracy"] = None if idm is None else m["idm"]["accuracy"]
        m["idm_accuracy_ci95"] = None if idm is None else ci95(m["per_branch"]["idm_accuracy"])
        results["models"][p.name] = m
    for p in models:  # think-act consistency of the models that write their own text
        if idm is not None and getattr(p, "writes_text", False):
            with console.status(f"free rollouts of {p.name} (think-act consistency)"):
                results["models"][p.name]["think_act"] = think_act(p, branches, horizon, seed, idm)
    results["comparisons"] = compare_models(results["models"])
    with console.status("writing the report"):
        write_report(results, branches, predictions, out, n_videos)
    return results


def _idm_scores(idm: IDM, branches: Sequence[Branch], futures: Sequence[np.ndarray],
                per_branch: dict[str, Any] | None = None) -> dict[str, Any]:
    """``score_futures`` with its item scores moved to ``per_branch["idm_accuracy"]`` (or dropped)."""
    scores = score_futures(idm, branches, futures)
    items = scores.pop("per_branch")
    if per_branch is not None:
        per_branch["idm_accuracy"] = items
    return scores


def _baseline(value: str) -> tuple[str, str]:
    name, sep, run = value.partition("=")
    if not sep or not name or not run:
        raise argparse.ArgumentTypeError(f"--baseline must be NAME=RUN (e.g. no-text=runs/notext), "
                                         f"got {value!r}")
    return name, run


def _handle(args: argparse.Namespace) -> int:
    predictors = [load_predictor(args.ckpt, args.name)]
    predictors += [load_predictor(run, name) for name, run in args.baseline]
    results = run_controllability(
        predictors, args.env, args.branches, args.horizon, args.suite or default_suite(args.env), args.seed,
        args.out, context_frames=args.context_frames, frame_size=args.frame_size, frameskip=args.frameskip,
        policy=args.policy, idm_steps=args.idm_steps, idm_store=args.idm_store, n_videos=args.videos)
    print_table(results, Console())
    Console(stderr=True).print(f"wrote results.json, report.md, plots and videos to {escape(str(args.out))}")
    return 0


def default_suite(env: str) -> str:
    """The built-in suite of ``env``'s game (``pong`` for ``ALE/Pong-v5``)."""
    from tv2tv.benchmarks.branches import builtin_suites

    game = env.lower().removeprefix("ale/").split("-")[0]
    if game not in builtin_suites():
        raise ValueError(f"no built-in suite for {env!r} (built-in: {builtin_suites()}); "
                         f"pass --suite auto (any ALE game) or --suite PATH")
    return game


def register(bench: Any) -> None:
    """Add ``tv2tv bench controllability``."""
    p = bench.add_parser("controllability", help="steer a model with text and compare with the real game",
                         description=__doc__.split("\n\n")[0])
    p.add_argument("--ckpt", required=True, help="run directory of the model, or 'copy-last'")
    p.add_argument("--name", default=None, help="name of the model in the report (default: the run's name)")
    p.add_argument("--baseline", action="append", default=[], type=_baseline, metavar="NAME=RUN",
                   help="another model to compare (no-text, action-id, ...); repeatable")
    p.add_argument("--env", required=True, help="game, e.g. ALE/Pong-v5")
    p.add_argument("--branches", type=int, default=32, help="branch points (default 32)")
    p.add_argument("--horizon", type=int, default=8, help="future steps per alternative (default 8)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--suite", default=None,
                   help="suite name, YAML path, or 'auto' (an ALE game's action groups; "
                        "default: the game's built-in one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--context-frames", type=int, default=16,
                   help="frames the model sees, branch frame included")
    p.add_argument("--frame-size", type=int, default=64)
    p.add_argument("--frameskip", type=int, default=4)
    p.add_argument("--policy", default=None, help="collection policy (default: the suite's)")
    p.add_argument("--idm-steps", type=int, default=300, help="IDM training steps; 0 skips the IDM")
    p.add_argument("--idm-store", default=None,
                   help="recorded store to train the IDM on (default: live play)")
    p.add_argument("--videos", type=int, default=2, help="branch points shown as videos (default 2)")
    p.set_defaults(func=_handle)

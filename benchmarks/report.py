"""Controllability reports: ``results.json``, ``report.md``, plots, side-by-side videos, a table.

``results.json`` (schema in the README, "Controllability benchmark") holds the run's settings and,
under ``models``, one entry per model with ``counterfactual_accuracy``, ``chance``, ``psnr`` and
``ssim`` by horizon step, ``probe_follow_rate``, ``idm_accuracy`` and ``idm`` (the inverse-dynamics
scores, ``tv2tv.benchmarks.action_groups.group_scores``), ``n_branches`` and a
``per_alternative`` breakdown; each rate has a 95% interval ``<rate>_ci95`` and its item scores in
``per_branch``, and ``comparisons`` holds the paired test of every pair of models
(``tv2tv.benchmarks.stats``). JSON has no ``inf``/``nan``: PSNR is capped (see
``tv2tv.benchmarks.scorers``) and missing values are ``null``.

Example:
    >>> paths = write_report(results, branches, predictions, "runs/bench")   # doctest: +SKIP
    >>> print_table(results)                                                 # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from tv2tv.benchmarks.models import Branch
from tv2tv.recorders.store import atomic_write
from tv2tv.types import TextEvent

PLOTS = {"psnr.png": ("psnr", "PSNR (dB)"), "ssim.png": ("ssim", "SSIM"),
         "accuracy.png": ("counterfactual_accuracy_by_step", "counterfactual accuracy")}
CONTEXT_IN_VIDEO = 4  # context frames shown before the branch in each video


def _json_safe(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(float(x)) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def write_results(results: dict[str, Any], out: Path) -> Path:
    """``results.json`` (atomic write); non-finite numbers become ``null``."""
    path = Path(out) / "results.json"
    text = json.dumps(_json_safe(results), indent=2, allow_nan=False)
    atomic_write(path, lambda f: f.write(text.encode()))
    return path


def write_plots(results: dict[str, Any], out: Path) -> list[Path]:
    """One PNG per metric against horizon step, one line per model (chance dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for fname, (key, label) in PLOTS.items():
        fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
        for name, m in results["models"].items():
            ys = [np.nan if v is None else v for v in m[key]]
            ax.plot(range(1, len(ys) + 1), ys, marker="o", label=name)
        if key == "counterfactual_accuracy_by_step":
            chance = next(iter(results["models"].values()))["chance"]
            ax.axhline(chance, color="grey", linestyle="--", label="chance")
            ax.set_ylim(0, 1.05)
        ax.set_xlabel("horizon step")
        ax.set_ylabel(label)
        ax.set_title(f"{results['env']}: {label}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = Path(out) / fname
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


def write_videos(branches: Sequence[Branch], predictions: Mapping[str, Sequence[np.ndarray]], out: Path,
                 n_branches: int = 2, fps: float = 8) -> list[Path]:
    """Per shown branch and alternative: real future beside every model's, intervention text below.

    Each clip shows the last ``CONTEXT_IN_VIDEO`` context frames, then the futures.
    """
    from tv2tv.recorders.video import side_by_side, write_video

    paths = []
    for i, branch in enumerate(branches[:n_branches]):
        ctx = branch.context_frames[-CONTEXT_IN_VIDEO:]
        for k, script in enumerate(branch.scripts):
            clips = [np.concatenate([ctx, branch.truth[k]])]
            clips += [np.concatenate([ctx, preds[i][k]]) for preds in predictions.values()]
            video = side_by_side(clips, ["real game", *predictions])
            events = [TextEvent(len(ctx) + s, t, "intervention") for s, t in script.steps]
            name = f"branch{branch.index:03d}_{_slug(script.name)}.mp4"
            paths.append(write_video(Path(out) / "videos" / name, video, events, fps=fps, scale=3))
    return paths


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def _fmt(v: Any, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def fmt_ci(v: float | None, ci: Sequence[float] | None) -> str:
    """``0.667 [0.50, 0.83]``: a rate and its 95% interval."""
    return _fmt(v) if v is None or ci is None else f"{v:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def _macro_f1(idm: dict[str, Any] | None) -> float | None:
    return None if idm is None else idm["macro"]["f1"]


def controllability_rows(results: dict[str, Any]) -> list[list[str]]:
    """One row per model: name, counterfactual acc, chance, mean PSNR/SSIM, probe, IDM acc. and macro F1
    (the rates with their 95% intervals)."""
    rows = []
    for name, m in results["models"].items():
        rows.append([name, fmt_ci(m["counterfactual_accuracy"], m["counterfactual_accuracy_ci95"]),
                     _fmt(m["chance"]), _fmt(float(np.mean(m["psnr"])), 2), _fmt(float(np.mean(m["ssim"]))),
                     fmt_ci(m["probe_follow_rate"], m["probe_follow_rate_ci95"]),
                     fmt_ci(m["idm_accuracy"], m["idm_accuracy_ci95"]), _fmt(_macro_f1(m.get("idm")))])
    return rows


SUMMARY_HEADER = ["model", "cf. accuracy [95%]", "chance", "PSNR (dB)", "SSIM", "probe follow [95%]",
                  "IDM acc. [95%]", "IDM macro F1"]
METRIC_LABELS = {"counterfactual_accuracy": "cf. accuracy", "probe_follow_rate": "probe follow",
                 "idm_accuracy": "IDM acc."}
COMPARISON_HEADER = ["rate", "a", "b", "a - b", "95% interval", "p", "branch points", "items"]


def comparison_rows(results: dict[str, Any]) -> list[list[str]]:
    """One row per paired test in ``results["comparisons"]``."""
    return [[METRIC_LABELS[c["metric"]], c["a"], c["b"], f"{c['difference']:+.3f}",
             "-" if c["ci95"] is None else f"[{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}]",
             "-" if c["p_value"] is None else f"{c['p_value']:.3g}", str(c["n_branches"]), str(c["n_items"])]
            for c in results["comparisons"]]


THINK_ACT_HEADER = ["model", "think-act consistency [95%]", "chance [95%]", "difference [95%]", "p",
                    "stated frames", "rollouts"]
THINK_ACT_ABOUT = ("Think-act consistency: in free rollouts from the same branch points (no "
                   "interventions) the model writes its own text; the texter parses its action phrases "
                   "and the IDM reads the action group of each frame it then generates. Chance scores the "
                   "same frames against the model's own frequencies of stated groups; p is the paired "
                   "sign-flip test over branch points.")


def think_act_rows(results: dict[str, Any]) -> list[list[str]]:
    """One row per model with a ``think_act`` score (``tv2tv.benchmarks.think_act``)."""
    rows = []
    for name, m in results["models"].items():
        t = m.get("think_act")
        if t is None:
            continue
        test = t["test"]
        diff = "-" if test["ci95"] is None else (f"{test['difference']:+.3f} "
                                                 f"[{test['ci95'][0]:+.2f}, {test['ci95'][1]:+.2f}]")
        rows.append([name, fmt_ci(t["consistency"], t["consistency_ci95"]),
                     fmt_ci(t["chance"], t["chance_ci95"]), diff,
                     "-" if test["p_value"] is None else f"{test['p_value']:.3g}",
                     f"{t['stated_share']:.0%}", str(t["n_rollouts"])])
    return rows


def think_act_lines(results: dict[str, Any]) -> list[str]:
    """``report.md``'s think-act section (empty when no model has the score)."""
    rows = think_act_rows(results)
    if not rows:
        return []
    return ["## Think-act consistency", "", THINK_ACT_ABOUT, "", md_table(THINK_ACT_HEADER, rows), ""]


def _counts(results: dict[str, Any]) -> str:
    return f"{results['n_branches']} branch points x {results['n_alternatives']} alternatives"


def idm_lines(results: dict[str, Any]) -> list[str]:
    """``report.md``'s inverse-dynamics section: F1 per action group for real frames and each model."""
    sources = {"real held-out": results.get("idm_heldout"), "real futures": results["reference"].get("idm")}
    sources.update({name: m.get("idm") for name, m in results["models"].items()})
    sources = {k: v for k, v in sources.items() if v is not None}
    if not sources:
        return []
    first = next(iter(sources.values()))
    # One task (Atari, Crafter): F1 per group; several (MineRL): macro F1 per task, groups would crowd.
    by_task = len(first["per_task"]) > 1
    cols = list(first["per_task"] if by_task else first["per_group"])

    def f1(v: dict[str, Any], c: str) -> float:
        return v["per_task"][c]["macro"]["f1"] if by_task else v["per_group"][c]["f1"]

    header = ["frames", "accuracy", "micro F1", "macro P", "macro R", "macro F1",
              *(f"{'macro ' if by_task else ''}F1 {c}" for c in cols)]
    rows = [[k, _fmt(v["accuracy"]), _fmt(v["micro"]["f1"]), _fmt(v["macro"]["precision"]),
             _fmt(v["macro"]["recall"]), _fmt(v["macro"]["f1"]), *(_fmt(f1(v, c)) for c in cols)]
            for k, v in sources.items()]
    tasks = results.get("idm_groups") or {}
    about = "; ".join(f"{t}: {', '.join(gs)}" for t, gs in tasks.items())
    return ["## Inverse dynamics by action group", "",
            f"The IDM predicts action groups ({about}); precision, recall and F1 as MineWorld reports "
            "them (per group, micro and macro, averaged over tasks).", "", md_table(header, rows), ""]


def write_markdown(results: dict[str, Any], out: Path, videos: Sequence[Path] = ()) -> Path:
    """``report.md``: settings, summary table, per-alternative table, figures, video list."""
    ref = results["reference"]
    lines = [f"# Controllability: {results['env']}", "",
             f"Suite `{results['suite']}`, {_counts(results)}, horizon "
             f"{results['horizon']} steps, {results['context_frames']} context frames, "
             f"seed {results['seed']}. "
             f"Real game for reference: probe follow rate {_fmt(ref['probe_follow_rate'])}, IDM accuracy "
             f"{_fmt(ref['idm_accuracy'])}, macro F1 {_fmt(_macro_f1(ref.get('idm')))} (IDM on real held-out "
             f"frames: accuracy {_fmt(results['idm_heldout_accuracy'])}, macro F1 "
             f"{_fmt(_macro_f1(results.get('idm_heldout')))}).",
             "", md_table(SUMMARY_HEADER, controllability_rows(results)), "", "## By alternative", ""]
    alt_rows = [[name, alt, _fmt(a["counterfactual_accuracy"]), _fmt(a["psnr_mean"], 2),
                 _fmt(a["ssim_mean"]), _fmt(a["probe_follow_rate"])]
                for name, m in results["models"].items() for alt, a in m["per_alternative"].items()]
    alt_header = ["model", "alternative", "cf. accuracy", "PSNR (dB)", "SSIM", "probe follow"]
    lines += [md_table(alt_header, alt_rows), ""]
    if results["comparisons"]:
        lines += ["## Paired comparisons", "",
                  f"Each pair of models on the same {_counts(results)}: the difference a - b, its 95% "
                  "interval (bootstrap over branch points) and the two-sided p of a sign-flip permutation "
                  "test over branch points; a difference is significant when p < 0.05.", "",
                  md_table(COMPARISON_HEADER, comparison_rows(results)), ""]
    lines += think_act_lines(results)
    lines += idm_lines(results)
    lines += ["## Against the horizon", ""] + [f"![{key}]({fname})" for fname, (key, _) in PLOTS.items()]
    if videos:
        lines += ["", "## Videos (real game left, then each model)", ""]
        lines += [f"- [{p.name}](videos/{p.name})" for p in videos]
    path = Path(out) / "report.md"
    text = "\n".join(lines) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))
    return path


def md_table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table (``report.md`` here and in ``tv2tv quickstart``)."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows])


def print_table(results: dict[str, Any], console: Console | None = None) -> None:
    """The summary and the paired comparisons as rich tables."""
    console = console or Console()
    summary = f"controllability: {results['env']} ({_counts(results)}, horizon {results['horizon']})"
    for title, header, rows in ((summary, SUMMARY_HEADER, controllability_rows(results)),
                                ("paired tests over branch points (p < 0.05: significant)",
                                 COMPARISON_HEADER, comparison_rows(results)),
                                ("think-act consistency (free rollouts, own text, read by the IDM)",
                                 THINK_ACT_HEADER, think_act_rows(results))):
        if not rows:
            continue
        table = Table(title=title)
        for h in header:
            table.add_column(h, justify="right" if h not in ("model", "rate", "a", "b") else "left",
                             no_wrap=h in ("model", "a", "b"))
        for row in rows:
            table.add_row(*row)
        console.print(table)


def write_report(results: dict[str, Any], branches: Sequence[Branch],
                 predictions: Mapping[str, Sequence[np.ndarray]], out: str | Path,
                 n_videos: int = 2) -> dict[str, list[Path]]:
    """Every artefact into ``out``: results.json, plots, videos, report.md."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    videos = write_videos(branches, predictions, out, n_videos) if n_videos > 0 else []
    return {"results": [write_results(results, out)], "plots": write_plots(results, out),
            "videos": videos, "report": [write_markdown(results, out, videos)]}

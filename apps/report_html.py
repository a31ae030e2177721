"""The quickstart's report (and ``tv2tv bench ablation``'s): ``results.json``, ``report.md`` and a
self-contained ``report.html``, for every variant trained.

``report.html`` needs nothing beside it: CSS is inline, the plots are PNG data URIs and the videos
WebM/VP9 data URIs (Debian's Chromium and Firefox play VP9, not always H.264). A small inline
script marks each ``<video>`` with ``data-state="loaded"`` or ``"error"`` once the browser has
tried it, and says so under a video that cannot play. ``report.md`` links the same files.

``results.json`` is the controllability benchmark's (README, "Controllability benchmark") plus a
``quickstart`` entry: ``command`` (``quickstart`` or ``ablation``), ``env``, ``minutes``, ``seed``,
``smoke``, ``device``, ``policy``, ``record_steps``, ``models`` (per variant ``params``, ``steps``,
``train_loss``), ``stage_seconds``, ``held_out`` and ``interpretation`` (``text`` against each other
variant, ``interpretation``).

Example:
    >>> html_table(["a", "b"], [["1", "2"]])
    '<table class="results"><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>'
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tv2tv.apps.quickstart_plan import DEFAULT_VARIANTS, LEARNING_PNG, TRAIN_PREFIX, Context
from tv2tv.progress import progress_bar

TRANSCRIPT_COLORS = {"user": "#d62828", "model": "#b07d00", "context": "#666"}
CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } .lead { color: #555; margin-top: 0; }
table.results { border-collapse: collapse; margin: 1em 0; }
table.results th, table.results td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
table.results th:first-child, table.results td:first-child { text-align: left; }
table.results th { background: #f3f3f3; }
.interpretation { background: #f6f8ff; border-left: 4px solid #4060c0; padding: 0.6em 1em; }
.plots img { width: 32%; min-width: 280px; } .grid { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; } figcaption { font-size: 0.85em; max-width: 480px; }
video { background: #000; image-rendering: pixelated; max-width: 100%; }
.user { color: #d62828; font-weight: 600; } .model { color: #b07d00; } .context { color: #666; }
.video-error { color: #d62828; font-size: 0.85em; }
"""
# Marks every video once the browser has tried it (tests read data-state from the DOM).
SCRIPT = """
document.querySelectorAll('video').forEach(function (v) {
  function mark(state) {
    v.setAttribute('data-state', state);
    if (state === 'error') {
      v.insertAdjacentHTML('afterend',
                           '<div class="video-error">this browser cannot play WebM/VP9 video</div>');
    }
  }
  v.addEventListener('loadeddata', function () { mark('loaded'); });
  v.addEventListener('error', function () { mark('error'); });
  if (v.readyState >= 2) { mark('loaded'); }
});
"""


def data_uri(path: Path, mime: str) -> str:
    """The file as a ``data:`` URI."""
    return f"data:{mime};base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}"


def html_table(header: list[str], rows: list[list[str]]) -> str:
    """A plain HTML table (class ``results``), cells escaped."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="results"><tr>{head}</tr>{body}</table>'


def to_webm(mp4: Path) -> Path:
    """A VP9 copy of an H.264 video, next to it (browsers without H.264 play it)."""
    import imageio.v2 as iio
    import numpy as np

    from tv2tv.recorders.video import write_video

    with iio.get_reader(mp4) as reader:
        fps = float(reader.get_meta_data().get("fps", 8.0))
        frames = np.stack([np.asarray(f) for f in reader])
    return write_video(mp4.with_suffix(".webm"), frames, fps=fps, scale=1)


def paired_test(results: dict[str, Any], a: str, b: str,
                metric: str = "counterfactual_accuracy") -> dict[str, Any]:
    """The benchmark's paired test of ``a`` against ``b`` (``comparisons``), as ``a`` minus ``b``
    whichever way round the benchmark listed them."""
    for c in results.get("comparisons", []):
        if c["metric"] == metric and {c["a"], c["b"]} == {a, b}:
            if c["a"] == a:
                return c
            ci = None if c["ci95"] is None else [-c["ci95"][1], -c["ci95"][0]]
            return {**c, "a": a, "b": b, "difference": -c["difference"], "ci95": ci}
    raise ValueError(f"results.json holds no paired test of {a} against {b} on {metric.replace('_', ' ')} "
                     f"(written before the benchmark had comparisons?); rerun the bench stage")


def _reference(variants: Sequence[str]) -> tuple[str, list[str]]:
    """The model the verdict is about (``text`` when trained, else the first) and those it is compared
    with (the other variants; copy-last when there are none)."""
    ref = "text" if "text" in variants else variants[0]
    return ref, [v for v in variants if v != ref] or ["copy-last"]


def _verdict(results: dict[str, Any], ref: str, other: str, alpha: float) -> tuple[str, bool]:
    """One sentence on ``ref`` against ``other``, and whether ``ref`` was significantly better."""
    models, test = results["models"], paired_test(results, ref, other)
    t, n = models[ref]["counterfactual_accuracy"], models[other]["counterfactual_accuracy"]
    chance, k = models[ref]["chance"], len(results["alternatives"])
    ci, p = test["ci95"], test["p_value"]
    spread = "no interval" if ci is None else f"95% interval [{ci[0]:+.2f}, {ci[1]:+.2f}]"
    base = (f"counterfactual accuracy {t:.2f} for {ref} vs {n:.2f} for {other} (chance {chance:.2f}, "
            f"{results['n_branches']} branch points x {k} alternatives; difference {t - n:+.2f}, {spread}, "
            f"paired test p = {'n/a' if p is None else f'{p:.3g}'})")
    name = ref[:1].upper() + ref[1:]
    if t - n > 0 and p is not None and p < alpha:
        lead = f"{name} steered the model significantly" if other == "no-text" else \
            f"{name} beat {other} significantly"
        return f"{lead}: {base}.", True
    lead = f"{name} was ahead of {other}, but not significantly" if t - n > 0 else \
        f"{name} did not beat {other} here"
    return f"{lead}: {base}.", False


def interpretation(results: dict[str, Any], budget: str, device: str,
                   variants: Sequence[str] = DEFAULT_VARIANTS, alpha: float = 0.05) -> str:
    """One honest sentence per comparison: did text beat each other variant significantly (paired
    test over branch points)? Without ``text``, the first variant; with one variant, copy-last.

    "Significantly" only when the paired test of the benchmark's ``comparisons`` (sign-flip
    permutation over the same branch points, ``tv2tv.benchmarks.stats``) gives ``p < alpha``.
    """
    ref, others = _reference(variants)
    verdicts = [_verdict(results, ref, other, alpha) for other in others]
    text = " ".join(sentence for sentence, _ in verdicts)
    if all(significant for _, significant in verdicts):
        return text
    return (f"{text} With {budget} on {device} the models are barely trained; "
            f"run longer (e.g. --minutes 60) or on a GPU for a clearer answer.")


def _transcript_html(path: Path) -> str:
    data = json.loads(path.read_text())
    rows = []
    for name, rollout in zip(data["info"]["models"], data["rollouts"]):
        parts = [f'<span class="{html.escape(e["source"])}">[{e["frame"]}] {html.escape(e["text"])}</span>'
                 for e in rollout if e["frame"] >= -4]
        rows.append(f"<b>{html.escape(name)}</b>: " + (" · ".join(parts) or "<i>no text</i>"))
    return "<br>".join(rows)


def _script_of(rollout: Path) -> str:
    """The intervention script of a rollout video (from the transcript beside it)."""
    return json.loads(rollout.with_suffix(".json").read_text())["info"]["script"]


def _video(path: Path, caption: str) -> str:
    return (f'<figure><video controls autoplay loop muted playsinline src="{data_uri(path, "video/webm")}">'
            f"</video><figcaption>{caption}</figcaption></figure>")


def quickstart_info(ctx: Context) -> dict[str, Any]:
    """The ``quickstart`` entry of ``results.json``."""
    cfg, plan, stages = ctx.cfg, ctx.plan, ctx.log.stages
    models = {v: {k: stages[f"{TRAIN_PREFIX}{v}"]["outputs"].get(k)
                  for k in ("params", "steps", "train_loss")} for v in plan.variants}
    return {"command": cfg.name, "env": cfg.env, "minutes": cfg.minutes, "seed": cfg.seed,
            "smoke": cfg.smoke, "device": plan.gen_device, "policy": plan.policy,
            "record_steps": stages["record"]["outputs"]["steps"],
            "models": models, "stage_seconds": {s: stages[s].get("seconds") for s in plan.stages},
            "held_out": f"branch points come from fresh live play seeded {plan.bench_seed}; "
                        f"the training data "
                        f"were recorded with seeds {cfg.seed} and {cfg.seed + 1}"}


def _settings_lines(info: dict[str, Any], results: dict[str, Any]) -> list[str]:
    steps = ", ".join(f"{n} {p}" for p, n in info["record_steps"].items())
    models = "; ".join(f"{v}: {m['params']:,} parameters, {m['steps']} training steps"
                       + (f", last loss {m['train_loss']:.3f}" if m["train_loss"] is not None else "")
                       for v, m in info["models"].items())
    times = ", ".join(f"{s} {v:.0f}s" for s, v in info["stage_seconds"].items() if v is not None)
    return [f"Game {info['env']}, budget {info['minutes']:g} min{' (smoke)' if info['smoke'] else ''}, "
            f"seed {info['seed']}, device {info['device']}.",
            f"Recorded {steps} steps (scripted player `{info['policy']}` plus sticky-random play).",
            f"Models (tiny preset): {models}.",
            f"Controllability: suite `{results['suite']}` ({', '.join(results['alternatives'])}), "
            f"{results['n_branches']} branch points, horizon {results['horizon']}; {info['held_out']}.",
            f"Stage wall times: {times}."]


def _rollout_roles(models: Sequence[str]) -> tuple[str, str | None]:
    """Who is where in a rollout video and what each takes of the script (plain text), and the model
    whose text the video shows (the first that reads text; ``stage_rollouts``)."""
    from tv2tv.world_model.variants import variant_of

    def role(name: str) -> str:
        v = variant_of(name)
        if v.plan_first:
            return f"{name} reads the script up front, as its plan"
        if v.reads_text:
            return f"{name} reads the script as interventions"
        if v.takes_actions:
            return f"{name} takes the actions the script's texts stand for"
        return f"{name} takes no text"

    shown = next((m for m in models if variant_of(m).reads_text), None)
    return f"left to right, from the same context: {'; '.join(role(m) for m in models)}", shown


def write_markdown(out: Path, results: dict[str, Any], rollouts: list[Path], videos: list[Path]) -> Path:
    """``report.md``, linking the plots and videos beside it."""
    from tv2tv.benchmarks.report import SUMMARY_HEADER, controllability_rows, md_table, think_act_lines

    info = results["quickstart"]
    roles, _ = _rollout_roles(list(info["models"]))
    lines = [f"# tv2tv {info['command']}", "", *[f"- {s}" for s in _settings_lines(info, results)], "",
             md_table(SUMMARY_HEADER, controllability_rows(results)), "", f"> {info['interpretation']}", "",
             *think_act_lines(results),
             "## Plots", "", *[f"![{p}](bench/{p})" for p in ("accuracy.png", "psnr.png", "ssim.png")],
             f"![training curves]({LEARNING_PNG})", "",
             "## Rollouts with text interventions", "", f"Each video, {roles}.", ""]
    for p in rollouts:
        script = _script_of(p)
        lines.append(f"- [{p.stem}](rollouts/{p.name}) (WebM: [{p.stem}.webm](rollouts/{p.stem}.webm)), "
                     f"script `{script}`, transcript [{p.stem}.json](rollouts/{p.stem}.json)")
    lines += ["", "## Controllability videos (real game, then each model)", ""]
    lines += [f"- [{v.name}](bench/videos/{v.name})" for v in videos]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_html(out: Path, results: dict[str, Any], rollouts: list[Path], videos: list[Path]) -> Path:
    """``report.html``: one self-contained page."""
    from tv2tv.benchmarks.report import (
        SUMMARY_HEADER,
        THINK_ACT_ABOUT,
        THINK_ACT_HEADER,
        controllability_rows,
        think_act_rows,
    )

    info = results["quickstart"]
    settings = "".join(f"<li>{html.escape(s)}</li>" for s in _settings_lines(info, results))
    plots = "".join(f'<img alt="{p}" src="{data_uri(out / "bench" / p, "image/png")}">'
                    for p in ("accuracy.png", "psnr.png", "ssim.png"))
    plots += f'<img alt="training curves" src="{data_uri(out / LEARNING_PNG, "image/png")}">'
    roll = "".join(_video(p.with_suffix(".webm"),
                          f"script <code>{html.escape(_script_of(p))}</code><br>"
                          f"{_transcript_html(p.with_suffix('.json'))}") for p in rollouts)
    bench = "".join(_video(v.with_suffix(".webm"), html.escape(v.stem.replace("_", ": "))) for v in videos)
    roles, shown = _rollout_roles(list(info["models"]))
    text = "no text" if shown is None else (
        f'<span class="user">your text</span> (red, framed red when new) and the {html.escape(shown)} '
        f'model\'s <span class="model">own text</span> (amber)')
    title = f"tv2tv {html.escape(info['command'])}"
    rows = think_act_rows(results)
    think = (f"<h2>Think-act consistency</h2><p>{html.escape(THINK_ACT_ABOUT)}</p>"
             f"{html_table(THINK_ACT_HEADER, rows)}" if rows else "")
    body = f"""<h1>{title}: {html.escape(info['env'])}</h1>
<p class="lead">Gameplay recorded with text, world models trained on it with equal compute
({html.escape(', '.join(info['models']))}), rollouts steered by text, and controllability scored against
the real game, next to copy-last.</p>
<h2>What was run</h2><ul>{settings}</ul>
<h2>Results</h2>{html_table(SUMMARY_HEADER, controllability_rows(results))}
<p class="interpretation">{html.escape(info['interpretation'])}</p>{think}
<h2>Against the horizon</h2><div class="plots">{plots}</div>
<h2>Rollouts with text interventions</h2>
<p>Each video, {html.escape(roles)}. It shows {text}. The first 4 frames are real context.</p>
<div class="grid">{roll}</div>
<h2>Controllability branches</h2><p>Each clip: 4 real context frames, then the real game under the
alternative's text and every model's future for the same text.</p><div class="grid">{bench}</div>"""
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{CSS}</style></head><body>{body}<script>{SCRIPT}</script></body></html>\n")
    path = out / "report.html"
    path.write_text(page)
    return path


LEARNING_METRICS = (("train/flow_loss", "flow loss (frames)"), ("train/text_loss", "text loss (next token)"))


def write_learning_curves(out: Path, variants: Sequence[str]) -> Path:
    """``OUT/learning.png``: each variant's logged training losses against its optimizer steps (the
    flow loss of the frames; the text loss of the variants that write text), from ``runs/<variant>``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tv2tv.apps.quickstart_stages import training_log

    fig, axes = plt.subplots(1, len(LEARNING_METRICS), figsize=(10, 3.2), dpi=100)
    for ax, (key, label) in zip(axes, LEARNING_METRICS):
        for v in variants:
            rows = [r for r in training_log(out / "runs" / v) if r.get(key, 0.0) > 0.0]  # no-text: text 0
            if rows:
                ax.plot([r["step"] for r in rows], [r[key] for r in rows], label=v)
        ax.set_xlabel("optimizer step (every variant: the same minutes)")
        ax.set_ylabel(label)
        ax.set_yscale("log")
        if ax.has_data():
            ax.legend(fontsize=8)
    fig.suptitle("training curves")
    fig.tight_layout()
    path = out / LEARNING_PNG
    fig.savefig(path)
    plt.close(fig)
    return path


def stage_report(ctx: Context) -> dict[str, Any]:
    """Stage 6: ``results.json``, ``report.md`` and ``report.html`` in ``OUT``."""
    out = ctx.out
    results = json.loads((out / "bench" / "results.json").read_text())
    results["quickstart"] = quickstart_info(ctx)
    budget = "a smoke run's 2 training steps" if ctx.cfg.smoke else f"{ctx.cfg.minutes:g} minutes"
    results["quickstart"]["interpretation"] = interpretation(results, budget, ctx.plan.gen_device,
                                                             ctx.plan.variants)
    mp4s = sorted((out / "bench" / "videos").glob("*.mp4"))
    with progress_bar("transcoding videos to WebM", len(mp4s), ctx.cfg.progress, ctx.console) as advance:
        for v in mp4s:
            to_webm(v)
            advance()
    rollouts = sorted((out / "rollouts").glob("rollout*.mp4"))
    (out / "results.json").write_text(json.dumps(results, indent=2, allow_nan=False))
    curves = write_learning_curves(out, ctx.plan.variants)
    md, page = write_markdown(out, results, rollouts, mp4s), write_html(out, results, rollouts, mp4s)
    return {"files": ["results.json", md.name, page.name, curves.name]}

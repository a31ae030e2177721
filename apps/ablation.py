"""``tv2tv bench ablation``: every variant at equal compute, scored against the real game, in one
resumable command.

It is the quickstart (``tv2tv.apps.quickstart``) with more variants: one store is recorded, then
``text``, ``no-text``, ``plan-first`` and ``action-id`` train on it one at a time, each for the same
share of ``--minutes`` (``quickstart_plan.TRAIN_SHARE`` split equally), so they get the same data and
the same CPU-minutes. Every variant is rolled out under the intervention scripts and scored by the
controllability benchmark (counterfactual accuracy, game probes, the IDM, PSNR/SSIM fidelity, paired
tests between models); ``results.json``, ``report.md`` and the self-contained ``report.html`` hold the
table, plots and videos, and the verdict compares ``text`` with each other variant (significant only
at p < 0.05). Outputs, resuming and the refusal of foreign files are the quickstart's::

    data/  runs/<variant>/  rollouts/  bench/  results.json  report.md  report.html  stages.json

Example:
    $ tv2tv bench ablation                                 # ALE/Pong-v5, 40 minutes, runs/ablation
    $ tv2tv bench ablation --env ALE/Breakout-v5 --minutes 60 --variants text,plan-first
"""

from __future__ import annotations

from typing import Any

from tv2tv.apps.quickstart import add_run_flags, handle

ABLATION_VARIANTS = ("text", "no-text", "plan-first", "action-id")


def register(bench: Any) -> None:
    """Add ``tv2tv bench ablation``."""
    p = bench.add_parser("ablation", help="train every variant at equal compute and compare their control",
                         description=__doc__.split("\n\n")[0].replace("``", ""))
    add_run_flags(p, minutes=40.0, out="runs/ablation")
    p.add_argument("--variants", default=",".join(ABLATION_VARIANTS),
                   help="comma-separated variants, trained in this order (default %(default)s)")
    p.set_defaults(func=handle, app="ablation")

"""``tv2tv bench ...``: the benchmark commands.

Each benchmark module in ``BENCH_MODULES`` has ``register(bench_subparsers)`` adding one
``tv2tv bench NAME`` command. They are named, not imported, so ``tv2tv.apps.ablation`` (the top
floor, docs/design.md "Imports run down the flow") can add one without ``benchmarks`` importing it.
"""

from __future__ import annotations

import argparse
from typing import Any

from tv2tv.cli import register_commands

BENCH_MODULES = (
    "tv2tv.benchmarks.record_speed",     # tv2tv bench record ENV
    "tv2tv.benchmarks.train_speed",      # tv2tv bench train
    "tv2tv.benchmarks.rollout_speed",    # tv2tv bench rollout
    "tv2tv.benchmarks.fidelity",         # tv2tv bench fidelity
    "tv2tv.benchmarks.controllability",  # tv2tv bench controllability
    "tv2tv.benchmarks.planning",         # tv2tv bench plan
    "tv2tv.benchmarks.learn",            # tv2tv bench learn
    "tv2tv.apps.ablation",               # tv2tv bench ablation (the quickstart's stages, every variant)
)


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("bench", help="run a benchmark")
    bench = parser.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    register_commands(bench, BENCH_MODULES)

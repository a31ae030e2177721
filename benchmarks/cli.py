"""``tv2tv bench ...``: the benchmark commands.

Each benchmark module in ``BENCH_MODULES`` has ``register(bench_subparsers)`` adding one
``tv2tv bench NAME`` command; a module that is not built yet is left out of the help.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

BENCH_MODULES = (
    "tv2tv.benchmarks.record_speed",     # tv2tv bench record ENV
    "tv2tv.benchmarks.train_speed",      # tv2tv bench train
    "tv2tv.benchmarks.rollout_speed",    # tv2tv bench rollout
    "tv2tv.benchmarks.fidelity",         # tv2tv bench fidelity
    "tv2tv.benchmarks.controllability",  # tv2tv bench controllability
    "tv2tv.benchmarks.planning",         # tv2tv bench plan
)


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("bench", help="run a benchmark")
    bench = parser.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    for name in BENCH_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(bench)

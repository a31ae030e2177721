"""``tv2tv bench record``: what it reports, on the fake game (no timing asserted)."""

from __future__ import annotations

import json
from pathlib import Path

from tv2tv.benchmarks import record_speed
from tv2tv.recorders.record import RecordConfig


def test_measure_reports_both_clocks_writes_and_load(fake_family):
    cfg = RecordConfig(fake_family, Path("unused"), steps=90, policy="fake-random", frame_size=16,
                       frameskip=1, workers=1)
    r = record_speed.measure(cfg, rounds=2)
    assert r["steps"] == 90 and r["rounds"] == 2 and r["background_writes"]
    assert r["bare_steps_per_s"] > 0 and r["record_steps_per_s"] > 0
    assert r["overhead"] > -1 and r["overhead_cpu"] > -1 and 0 < r["write_share_cpu"] < 1
    # every step is stored: the fake game's episodes (20-40 steps) plus the one cut at 90 steps
    assert r["episodes_written"] >= 3 and r["bytes_per_step"] > 0
    assert len(r["load_avg_1min"]) == 2 and min(r["load_avg_1min"]) >= 0
    json.dumps(r)  # what --json writes

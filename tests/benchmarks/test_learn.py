"""``tv2tv bench learn``: every variant trains in turn, is snapshotted by training time and
scored on one fixed set of branch points; curves, CSV and plot are written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tv2tv.benchmarks.learn import LearnConfig, run_learn
from tv2tv.cli import main
from tv2tv.recorders.record import record

TINY = ("model.dim=32", "model.depth=1", "model.heads=2", "sequence.window_frames=4", "sequence.patch=8",
        "data.batch_size=2", "precision=32-true", "optim.warmup_steps=2", "data.val_fraction=0.25")


@pytest.fixture(scope="module")
def pong16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("learn") / "pong"
    record("ALE/Pong-v5", out, steps=160, policy="sticky", frame_size=32, workers=1, max_episode_steps=40,
           progress=False, text_every=1)
    return out


def test_learning_curves_for_two_variants(pong16: Path, tmp_path: Path) -> None:
    lc = LearnConfig(data=str(pong16), out=str(tmp_path / "learn"), variants=("text", "action-id"),
                     minutes=0.04, every=0.02, overrides=TINY, branches=2, horizon=2, context_frames=4,
                     windows=2, ode_steps=1, bench_seed=7)
    res = run_learn(lc)
    rows = res["curves"]
    assert {r["variant"] for r in rows} == {"text", "action-id"}
    for variant in ("text", "action-id"):
        mine = [r for r in rows if r["variant"] == variant]
        assert len(mine) >= 2                                   # two timed snapshots (the last at the end)
        assert [r["minutes"] for r in mine] == sorted(r["minutes"] for r in mine)
        assert all(0 <= r["cf_accuracy"] <= 1 and r["psnr_h1"] > 0 for r in mine)
        assert all(len(r["cf_accuracy_ci95"]) == len(r["probe_follow_ci95"]) == 2 for r in mine)
        assert mine[-1]["step"] > mine[0]["step"] > 0
    assert res["chance"] == pytest.approx(1 / 3) and res["n_branches"] == 2
    assert res["copy_last"]["psnr_h1"] > 0 and res["machine"]["cpus"] >= 1
    out = tmp_path / "learn"
    assert json.loads((out / "curves.json").read_text())["curves"] == rows
    with (out / "curves.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == len(rows)
    assert (out / "learn.png").stat().st_size > 1000
    # Scoring again reuses the trained variants (no second training) and gives the same curve.
    again = run_learn(lc)
    assert [r["step"] for r in again["curves"]] == [r["step"] for r in rows]
    assert [r["cf_accuracy"] for r in again["curves"]] == [r["cf_accuracy"] for r in rows]


def test_bad_settings_and_an_unfinished_run_are_refused(pong16: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "learn", "--data", str(pong16), "--out", str(tmp_path / "a"),
                 "--variants", "txt"]) == 2
    assert "variants must be among" in capsys.readouterr().err
    assert main(["bench", "learn", "--data", str(pong16), "--out", str(tmp_path / "a"), "--minutes", "1",
                 "--every", "2"]) == 2
    assert "every" in capsys.readouterr().err
    (tmp_path / "b" / "text").mkdir(parents=True)
    (tmp_path / "b" / "text" / "mine.txt").write_text("keep")
    lc = LearnConfig(data=str(pong16), out=str(tmp_path / "b"), variants=("text",), minutes=0.02, every=0.01,
                     overrides=TINY, branches=1, horizon=2, context_frames=4, windows=1, ode_steps=1)
    with pytest.raises(FileExistsError, match="unfinished"):
        run_learn(lc)
    assert (tmp_path / "b" / "text" / "mine.txt").read_text() == "keep"

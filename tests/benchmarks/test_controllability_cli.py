"""``tv2tv bench controllability`` end to end with copy-last, and its clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tv2tv.benchmarks.controllability import run_controllability
from tv2tv.benchmarks.models import CopyLast, load_predictor
from tv2tv.cli import main

MODEL_KEYS = {"counterfactual_accuracy", "chance", "psnr", "ssim", "probe_follow_rate", "idm_accuracy",
              "n_branches", "per_alternative", "counterfactual_accuracy_by_step", "per_branch",
              "counterfactual_accuracy_ci95", "probe_follow_rate_ci95", "idm_accuracy_ci95"}


def test_cli_end_to_end_with_copy_last(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench"
    code = main(["bench", "controllability", "--ckpt", "copy-last", "--env", "ALE/Pong-v5", "--branches", "3",
                 "--horizon", "4", "--context-frames", "4", "--out", str(out), "--idm-steps", "5",
                 "--videos", "1"])
    assert code == 0
    assert "copy-last" in capsys.readouterr().out  # the rich table
    res = json.loads((out / "results.json").read_text())
    assert res["env"] == "ALE/Pong-v5" and res["horizon"] == 4 and res["suite"] == "pong"
    assert res["n_branches"] == 3 and res["seed"] == 0
    m = res["models"]["copy-last"]
    assert MODEL_KEYS <= set(m)
    assert len(m["psnr"]) == len(m["ssim"]) == 4 and m["chance"] == pytest.approx(1 / 3)
    assert m["probe_follow_rate"] is not None and m["idm_accuracy"] is not None
    assert set(m["per_alternative"]) == {"up", "down", "stay"}
    assert res["n_alternatives"] == 3 and res["comparisons"] == []      # one model: nothing to compare
    for rate in ("counterfactual_accuracy", "probe_follow_rate", "idm_accuracy"):
        assert np.array(m["per_branch"][rate], float).shape == (3, 3), rate
        low, high = m[f"{rate}_ci95"]
        assert low - 1e-9 <= m[rate] <= high + 1e-9, rate
    for name in ("report.md", "psnr.png", "ssim.png", "accuracy.png"):
        assert (out / name).stat().st_size > 0
    videos = sorted(p.name for p in (out / "videos").iterdir())
    assert videos == ["branch000_down.mp4", "branch000_stay.mp4", "branch000_up.mp4"]
    assert "| copy-last |" in (out / "report.md").read_text()


class _Oracle(CopyLast):
    def predict(self, branch, scripts, horizon, seed):  # noqa: ANN001, ANN201
        return branch.truth


def test_every_pair_of_models_is_compared(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tv2tv.benchmarks.report import print_table

    res = run_controllability([_Oracle("oracle"), CopyLast()], "ALE/Pong-v5", 3, 4, "pong", 0, tmp_path,
                              context_frames=4, idm_steps=0, n_videos=0)
    assert list(res["models"]) == ["oracle", "copy-last"]
    tests = {t["metric"]: t for t in res["comparisons"]}
    assert set(tests) == {"counterfactual_accuracy", "probe_follow_rate"}     # no IDM: no IDM test
    for metric, t in tests.items():
        assert (t["a"], t["b"], t["n_branches"]) == ("oracle", "copy-last", 3)
        gap = res["models"]["oracle"][metric] - res["models"]["copy-last"][metric]
        assert t["difference"] == pytest.approx(gap) and 0 < t["p_value"] <= 1
    assert tests["counterfactual_accuracy"]["n_items"] == 9
    assert json.loads((tmp_path / "results.json").read_text())["comparisons"] == res["comparisons"]
    assert "## Paired comparisons" in (tmp_path / "report.md").read_text()
    print_table(res)
    out = " ".join(capsys.readouterr().out.split())
    assert "3 branch points x 3 alternatives" in out and "paired tests over branch points" in out


def test_cli_missing_checkpoint_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "controllability", "--ckpt", str(tmp_path / "nope"), "--env", "ALE/Pong-v5",
                 "--out", str(tmp_path / "o")])
    assert code == 2
    assert "neither a run directory" in " ".join(capsys.readouterr().err.split())


class _Trained(CopyLast):
    def __init__(self, env: str, frame_shape: tuple[int, int, int]) -> None:
        super().__init__("trained")
        self.env, self.frame_shape = env, frame_shape


@pytest.mark.parametrize("env,shape,match", [("ALE/Breakout-v5", (64, 64, 3), "trained on 'ALE/Breakout-v5'"),
                                             ("ALE/Pong-v5", (32, 32, 3), "frame-size 32")])
def test_incompatible_checkpoint_is_refused(tmp_path: Path, env: str, shape: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        run_controllability([_Trained(env, shape)], "ALE/Pong-v5", 2, 4, "pong", 0, tmp_path)


class _Broken(CopyLast):
    def predict(self, branch, scripts, horizon, seed):  # noqa: ANN001, ANN201
        return np.zeros((1, horizon, 8, 8, 3), np.uint8)


def test_bad_model_output_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="model 'broken' returned"):
        run_controllability([_Broken("broken")], "ALE/Pong-v5", 1, 2, "pong", 0, tmp_path, context_frames=2,
                            idm_steps=0, n_videos=0)


def test_load_predictor_builtin() -> None:
    assert isinstance(load_predictor("copy-last"), CopyLast)

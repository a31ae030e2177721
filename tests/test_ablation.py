"""``tv2tv bench ablation --smoke`` end to end with all four variants: results, report, resume,
equal compute, the verdict and clear errors for bad ``--variants``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tv2tv.apps.ablation import ABLATION_VARIANTS
from tv2tv.apps.quickstart_plan import QuickstartConfig, make_plan
from tv2tv.cli import main

STAGES = ("record", "train-text", "train-no-text", "train-plan-first", "train-action-id", "rollouts",
          "benchmark", "report")
MODEL_KEYS = {"counterfactual_accuracy", "chance", "psnr", "ssim", "probe_follow_rate", "idm_accuracy",
              "per_branch"}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ablation") / "ablation"
    assert main(["bench", "ablation", "--smoke", "--out", str(out), "--no-progress"]) == 0
    return out


def _mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_four_variants_trained_benchmarked_and_reported(smoke: Path) -> None:
    assert ABLATION_VARIANTS == ("text", "no-text", "plan-first", "action-id")
    for v in ABLATION_VARIANTS:
        assert (smoke / "runs" / v / "model.safetensors").stat().st_size > 0, v
    res = json.loads((smoke / "results.json").read_text())
    assert list(res["models"]) == [*ABLATION_VARIANTS, "copy-last"]
    for name, m in res["models"].items():
        assert MODEL_KEYS <= set(m), name
        assert len(m["psnr"]) == res["horizon"] == 4 and m["idm_accuracy"] is not None, name
    pairs = {(c["a"], c["b"]) for c in res["comparisons"] if c["metric"] == "counterfactual_accuracy"}
    assert {("text", v) for v in ABLATION_VARIANTS[1:]} <= pairs
    info = res["quickstart"]
    assert info["command"] == "ablation" and list(info["models"]) == list(ABLATION_VARIANTS)
    assert {m["steps"] for m in info["models"].values()} == {2}               # same data, same steps
    assert list(info["stage_seconds"]) == list(STAGES)
    for v in ABLATION_VARIANTS[1:]:                                           # text against each other
        assert "for text vs " in info["interpretation"] and f"for {v} (chance" in info["interpretation"]
    stages = json.loads((smoke / "stages.json").read_text())["stages"]
    assert [s for s in STAGES if stages[s]["status"] == "done"] == list(STAGES)
    train = [stages[f"train-{v}"]["settings"] for v in ABLATION_VARIANTS]
    assert all(s == train[0] for s in train) and train[0]["train_share"] == pytest.approx(0.82 / 4)
    transcript = json.loads((smoke / "rollouts" / "rollout0.json").read_text())
    assert transcript["info"]["models"] == list(ABLATION_VARIANTS) and len(transcript["rollouts"]) == 4
    told = [any(e["source"] == "user" for e in r) for r in transcript["rollouts"]]
    assert told[0] and not told[1] and not told[3]           # text is told the script; no-text, action-id not
    md, page = (smoke / "report.md").read_text(), (smoke / "report.html").read_text()
    assert md.startswith("# tv2tv ablation") and "<title>tv2tv ablation</title>" in page
    for v in (*ABLATION_VARIANTS, "copy-last"):
        assert f"| {v} |" in md and f"<td>{v}</td>" in page, v
    assert page.count("data:video/webm;base64,") == 4 and page.count("data:image/png;base64,") == 4
    assert 'src="http' not in page and "<link" not in page                       # self-contained
    # Think-act consistency for the variants that write their own text, and only for those.
    assert [v for v, m in res["models"].items() if "think_act" in m] == ["text", "plan-first"]
    for v in ("text", "plan-first"):
        t = res["models"][v]["think_act"]
        assert t["variant"] == v and t["n_rollouts"] == res["n_branches"] * res["n_alternatives"]
    assert "## Think-act consistency" in md and "<h2>Think-act consistency</h2>" in page


def test_crafter_with_goal_text(tmp_path: Path) -> None:
    """The goal-level suite: the goal policy records, a goal text steers the text model, and the
    action-id model, whose text names no action, is rolled out with the recording's own actions."""
    out = tmp_path / "crafter"
    assert main(["bench", "ablation", "--smoke", "--env", "crafter", "--suite", "crafter-goals",
                 "--variants", "text,action-id", "--out", str(out), "--no-progress"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["suite"] == "crafter-goals" and res["alternatives"] == ["wood", "stone", "water", "eat"]
    assert list(res["models"]) == ["text", "action-id", "copy-last"]
    assert res["models"]["text"]["chance"] == 0.25 and "think_act" in res["models"]["text"]
    stages = json.loads((out / "stages.json").read_text())["stages"]
    assert stages["record"]["outputs"]["steps"] == {"crafter-explorer": 120, "sticky": 40}
    transcript = json.loads((out / "rollouts" / "rollout0.json").read_text())
    told = [e["text"] for e in transcript["rollouts"][0] if e["source"] == "user"]
    assert told and told[0].startswith("goal: collect wood")      # the smoke run tells a goal a frame


def test_rerun_skips_every_stage_and_touches_nothing(smoke: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    before = _mtimes(smoke)
    assert main(["bench", "ablation", "--smoke", "--out", str(smoke), "--no-progress"]) == 0
    text = " ".join((lambda c: c.out + c.err)(capsys.readouterr()).split())
    assert all(f"{s}: done, skipped" in text for s in STAGES), text
    assert "ablation stages" in text and "plan-first" in text and "action-id" in text
    assert _mtimes(smoke) == before


@pytest.mark.parametrize("variants,match", [
    ("text,foo", "variants must be one or more of text, no-text, action-id, plan-first, got 'foo'"),
    ("text,no-text,text", "variants must differ, got 'text' more than once"),
    ("", "variants must be one or more of text, no-text, action-id, plan-first, got ''"),
])
def test_bad_variants_are_clean_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], variants: str,
                                       match: str) -> None:
    assert main(["bench", "ablation", "--smoke", "--out", str(tmp_path / "o"), "--variants", variants]) == 2
    assert match in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "o").exists()


def test_every_training_gets_the_same_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Time saved by a stage moves past the trainings: each gets exactly its share (equal compute)."""
    import tv2tv.apps.quickstart as qs

    allots: dict[str, float] = {}

    def fake(stage: str) -> Any:
        def run(ctx: Any) -> dict[str, Any]:
            allots[stage] = ctx.allot_s
            if stage == "report":
                (ctx.out / "results.json").write_text("{}")
            return {"files": []}
        return run

    monkeypatch.setattr(qs, "stage_function", fake)
    monkeypatch.setattr(qs, "_print_summary", lambda *args: None)
    cfg = QuickstartConfig(smoke=True, device="cpu", out=tmp_path / "o", variants=ABLATION_VARIANTS,
                           progress=False)
    qs.run_quickstart(cfg)
    plan = make_plan(cfg)
    assert list(allots) == list(STAGES)
    assert [allots[f"train-{v}"] for v in ABLATION_VARIANTS] == [plan.budget_s["train-text"]] * 4
    # The record stage and the trainings returned at once: their time went to the rollouts.
    assert allots["rollouts"] > plan.budget_s["rollouts"] + 4 * plan.budget_s["train-text"] - 1.0


def _results(accuracy: dict[str, float], p: dict[str, float]) -> dict[str, Any]:
    models = {m: {"counterfactual_accuracy": a, "chance": 1 / 3} for m, a in accuracy.items()}
    tests = []
    for other, pv in p.items():
        a, b = ("text", other) if other != "no-text" else (other, "text")    # listed either way round
        d = accuracy[a] - accuracy[b]
        tests.append({"metric": "counterfactual_accuracy", "a": a, "b": b, "difference": d,
                      "ci95": [d - 0.1, d + 0.1], "p_value": pv, "n_branches": 64, "n_items": 192})
    return {"models": models, "alternatives": ["up", "down", "stay"], "n_branches": 64, "comparisons": tests}


def test_the_verdict_compares_text_with_each_variant() -> None:
    from tv2tv.apps.report_html import interpretation

    res = _results({"text": 0.6, "no-text": 0.4, "plan-first": 0.55, "action-id": 0.7},
                   {"no-text": 0.001, "plan-first": 0.2, "action-id": 0.01})
    sentence = interpretation(res, "40 minutes", "cpu", ABLATION_VARIANTS)
    assert "Text steered the model significantly: counterfactual accuracy 0.60 for text vs 0.40 for no-text" \
        in sentence
    assert "difference +0.20, 95% interval [+0.10, +0.30]" in sentence          # no-text - text, turned round
    assert "Text was ahead of plan-first, but not significantly:" in sentence
    assert "Text did not beat action-id here:" in sentence and "run longer" in sentence
    assert sentence.count("64 branch points x 3 alternatives") == 3
    significant = interpretation(res, "40 minutes", "cpu", ("text", "no-text"))
    assert significant.startswith("Text steered the model significantly:") and "run longer" not in significant
    with pytest.raises(ValueError, match="no paired test of text against plan-first"):
        interpretation({**res, "comparisons": []}, "40 minutes", "cpu", ("text", "plan-first"))

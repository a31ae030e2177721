"""``tv2tv quickstart --smoke`` end to end: artefacts, results keys, resume, and the page in Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tv2tv.apps.quickstart_plan import QuickstartConfig, fingerprint, make_plan, stage_settings
from tv2tv.cli import main

STAGES = ("record", "train-text", "train-no-text", "rollouts", "benchmark", "report")   # the defaults'
CHROMIUM = Path("/usr/bin/chromium")
MODEL_KEYS = {"counterfactual_accuracy", "counterfactual_accuracy_by_step", "chance", "psnr", "ssim",
              "probe_follow_rate", "idm_accuracy", "n_branches", "per_alternative"}
QUICKSTART_KEYS = {"env", "minutes", "seed", "smoke", "device", "policy", "record_steps", "models",
                   "stage_seconds", "held_out", "interpretation"}


def _run(out: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    code = main(["quickstart", "--smoke", "--out", str(out), "--no-progress", *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return " ".join((captured.out + captured.err).split())   # rich wraps lines: compare word runs


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("qs") / "quickstart"
    assert main(["quickstart", "--smoke", "--out", str(out), "--no-progress"]) == 0
    return out


def _mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_every_artefact_and_documented_keys(smoke: Path) -> None:
    for rel in ("data/dataset.json", "runs/text/model.safetensors", "runs/no-text/model.safetensors",
                "rollouts/rollout0.mp4", "rollouts/rollout0.webm", "rollouts/rollout0.json",
                "bench/results.json", "bench/psnr.png", "bench/ssim.png", "bench/accuracy.png",
                "results.json", "report.md", "report.html", "learning.png", "stages.json", "manifest.json"):
        assert (smoke / rel).stat().st_size > 0, rel
    assert list((smoke / "data" / "episodes").glob("*.npz"))
    assert sorted(p.suffix for p in (smoke / "bench" / "videos").iterdir()) == [".mp4"] * 3 + [".webm"] * 3
    res = json.loads((smoke / "results.json").read_text())
    assert set(res["models"]) == {"text", "no-text", "copy-last"}
    for name, m in res["models"].items():
        assert MODEL_KEYS <= set(m), name
        assert len(m["psnr"]) == len(m["ssim"]) == res["horizon"] == 4
    assert res["n_branches"] == 2 and res["seed"] == 1000 and res["env"] == "ALE/Pong-v5"
    info = res["quickstart"]
    assert QUICKSTART_KEYS <= set(info) and info["command"] == "quickstart"
    assert ("counterfactual_accuracy", "text", "no-text") in {(c["metric"], c["a"], c["b"])
                                                             for c in res["comparisons"]}
    assert "2 branch points x 3 alternatives" in info["interpretation"]
    assert "paired test p = " in info["interpretation"]
    assert info["models"]["text"]["steps"] == info["models"]["no-text"]["steps"] == 2
    assert info["models"]["text"]["params"] > 0 and info["record_steps"] == {"pong": 120, "sticky": 40}
    transcript = json.loads((smoke / "rollouts" / "rollout0.json").read_text())
    assert any(e["source"] == "user" and "move paddle up" in e["text"] for e in transcript["rollouts"][0])
    assert not any(e["source"] == "user" for e in transcript["rollouts"][1])    # no-text takes no text
    md = (smoke / "report.md").read_text()
    assert "| text |" in md and "| no-text |" in md and "| copy-last |" in md and "rollout0.mp4" in md
    page = (smoke / "report.html").read_text()
    assert page.count("data:video/webm;base64,") == 4 and page.count("data:image/png;base64,") == 4
    assert 'src="http' not in page and "<link" not in page                       # self-contained
    stages = json.loads((smoke / "stages.json").read_text())["stages"]
    assert [s for s in STAGES if stages[s]["status"] == "done"] == list(STAGES)


def test_rerun_skips_every_stage_and_touches_nothing(smoke: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _mtimes(smoke)
    text = _run(smoke, capsys)
    assert all(f"{s}: done, skipped" in text for s in STAGES)
    assert "report: " in text and "report.html" in text and "copy-last" in text
    assert _mtimes(smoke) == before


def test_changed_and_interrupted_stages_are_redone(smoke: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "qs"
    shutil.copytree(smoke, out)
    log = out / "stages.json"
    data = json.loads(log.read_text())
    data["stages"]["rollouts"]["settings"]["rollout_frames"] = 99     # as if run with other settings
    data["stages"]["rollouts"]["fingerprint"] = "old"
    data["stages"]["train-no-text"].update(status="running", token=None)  # killed while training
    log.write_text(json.dumps(data))
    bench_before = (out / "bench" / "results.json").stat().st_mtime_ns
    text = _run(out, capsys)
    assert "record: done, skipped" in text and "train-text: done, skipped" in text
    assert "train-no-text: interrupted last time: resuming" in text
    assert "resuming no-text training from" in text
    assert "rollouts: settings changed (rollout_frames: 99 -> 4)" in text
    assert "benchmark: train-no-text was redone since" in text
    assert (out / "bench" / "results.json").stat().st_mtime_ns != bench_before
    stages = json.loads(log.read_text())["stages"]
    assert all(stages[s]["status"] == "done" for s in STAGES)
    assert stages["train-no-text"]["outputs"]["steps"] == 2                   # resumed, not restarted
    manifest = json.loads((out / "manifest.json").read_text())["paths"]     # what it wrote, to the file
    for rel in ("data", "runs/text", "runs/no-text", "rollouts", "bench", "report.html"):
        files = [p for p in (out / rel).rglob("*") if p.is_file()] if (out / rel).is_dir() else [out / rel]
        assert manifest[rel]["complete"] and manifest[rel]["files"] == sorted(
            p.relative_to(out).as_posix() for p in files), rel


def test_a_users_files_are_never_deleted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "qs [1]"                                 # rich markup must not eat the path
    mine = out / "data" / "mine" / "dataset.json"             # a user's own store where data/ goes
    mine.parent.mkdir(parents=True)
    mine.write_text("my store")
    assert main(["quickstart", "--smoke", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err             # one line, however long
    assert f"{out / 'data'} holds files tv2tv quickstart did not write (data/mine/dataset.json)" in err
    assert mine.read_text() == "my store" and sorted(p.name for p in out.iterdir()) == ["data"]


def test_a_file_added_to_its_outputs_stops_every_rerun(smoke: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "qs"
    shutil.copytree(smoke, out)
    (out / "bench" / "notes.txt").write_text("mine")
    before = _mtimes(out)
    for extra in ([], ["--force"]):
        assert main(["quickstart", "--smoke", "--out", str(out), "--no-progress", *extra]) == 2
        assert "did not write (bench/notes.txt)" in capsys.readouterr().err
    assert _mtimes(out) == before


def test_settings_fingerprints() -> None:
    a, b = make_plan(QuickstartConfig(smoke=True)), make_plan(QuickstartConfig(smoke=True, seed=3))
    assert fingerprint(stage_settings(QuickstartConfig(smoke=True), a, "record")) != \
        fingerprint(stage_settings(QuickstartConfig(smoke=True, seed=3), b, "record"))
    full = make_plan(QuickstartConfig(minutes=10))
    assert full.record_steps > a.record_steps and full.n_branches > a.n_branches
    assert abs(sum(full.budget_s.values()) - 600) < 1e-6
    assert make_plan(QuickstartConfig(env="ALE/Breakout-v5", smoke=True)).policy == "breakout"
    goals = make_plan(QuickstartConfig(env="crafter", suite="crafter-goals", smoke=True))
    assert (goals.suite, goals.policy, goals.frameskip) == ("crafter-goals", "crafter-explorer", 1)
    assert goals.rollout_scripts == ("0: goal: collect wood; 1: goal: place stone; 2: goal: drink water; "
                                     "3: goal: eat",)
    # The default: 15 minutes in all, the measured data mix (a third scripted, text every second
    # step) and enough branch points for a verdict interval of about ±0.1.
    default = make_plan(QuickstartConfig())
    assert abs(sum(default.budget_s.values()) - 900) < 1e-6 and default.n_branches == 64
    assert default.stages == STAGES and default.budget_s["train-text"] == default.budget_s["train-no-text"]
    assert default.sticky_steps == 2 * default.record_steps and default.text_every == 2


def _verdict_results(text: float, no_text: float, p: float | None) -> dict:
    models = {"text": {"counterfactual_accuracy": text, "chance": 1 / 3},
              "no-text": {"counterfactual_accuracy": no_text, "chance": 1 / 3}}
    test = {"metric": "counterfactual_accuracy", "a": "text", "b": "no-text", "difference": text - no_text,
            "ci95": None if p is None else [text - no_text - 0.1, text - no_text + 0.1], "p_value": p,
            "n_branches": 64, "n_items": 192}
    return {"models": models, "alternatives": ["up", "down", "stay"], "n_branches": 64, "comparisons": [test]}


@pytest.mark.parametrize("text,no_text,p,verdict", [
    (0.60, 0.40, 0.001, "Text steered the model significantly:"),
    (0.60, 0.55, 0.2, "Text was ahead of no-text, but not significantly:"),
    (0.60, 0.40, None, "Text was ahead of no-text, but not significantly:"),    # too few branch points
    (0.40, 0.45, 0.3, "Text did not beat no-text here:"),
])
def test_the_verdict_says_significant_only_when_the_paired_test_does(text: float, no_text: float,
                                                                      p: float | None, verdict: str) -> None:
    from tv2tv.apps.report_html import interpretation

    sentence = interpretation(_verdict_results(text, no_text, p), "15 minutes", "cpu")
    assert sentence.startswith(verdict)
    assert "64 branch points x 3 alternatives" in sentence and "paired test p = " in sentence
    assert ("95% interval [" in sentence) == (p is not None)
    assert ("run longer" in sentence) == (verdict != "Text steered the model significantly:")
    with pytest.raises(ValueError, match="no paired test of text against no-text"):
        interpretation({**_verdict_results(text, no_text, p), "comparisons": []}, "15 minutes", "cpu")


@pytest.mark.parametrize("args,match", [(["--env", "ALE/Tennis-v5"], "no built-in controllability suite"),
                                        (["--minutes", "0"], "minutes must be a number > 0"),
                                        (["--suite", "nope"], "--suite 'nope' is not a built-in suite"),
                                        (["--env", "crafter", "--suite", "pong"],
                                         "the built-in 'pong' suite is for 'ALE/Pong-v5'")])
def test_bad_settings_are_clean_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                       match: str) -> None:
    assert main(["quickstart", "--out", str(tmp_path / "o"), *args]) == 2
    assert match in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium")
def test_report_html_in_headless_chromium(smoke: Path, tmp_path: Path) -> None:
    flags = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
             "--virtual-time-budget=5000"]
    url = (smoke / "report.html").resolve().as_uri()
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert console == [], console                                   # the page logs nothing, throws nothing
    html = dom.stdout
    assert '<table class="results">' in html and ">copy-last<" in html and ">no-text<" in html
    states = re.findall(r'<video[^>]*?data-state="(\w+)"', html)
    assert states == ["loaded"] * 4, states                         # Chromium decoded every WebM
    assert html.count("<img") == 4                                 # 3 benchmark plots, the training curves
    shot = tmp_path / "report.png"
    subprocess.run([*flags, "--hide-scrollbars", "--window-size=1200,2000", f"--screenshot={shot}", url],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10_000


def test_training_curves_read_every_logged_version_in_order(tmp_path: Path) -> None:
    from tv2tv.apps.quickstart_stages import training_log
    from tv2tv.apps.report_html import write_learning_curves

    run = tmp_path / "runs" / "text"
    header = "epoch,step,train/flow_loss,train/text_loss,val/loss\n"
    # A resumed run: version 10 comes after version 2.
    for version, body in ((10, "0,29,0.1,1.0,\n"), (2, "0,9,0.3,2.0,\n0,19,0.2,,0.5\n")):
        (run / "logs" / f"version_{version}").mkdir(parents=True)
        (run / "logs" / f"version_{version}" / "metrics.csv").write_text(header + body)
    log = training_log(run)
    assert [r["step"] for r in log] == [9, 19, 29]
    assert log[1] == {"epoch": 0.0, "step": 19.0, "train/flow_loss": 0.2, "val/loss": 0.5}  # no empty cells
    path = write_learning_curves(tmp_path, ["text", "no-text"])        # no-text has no log: no line
    assert path == tmp_path / "learning.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

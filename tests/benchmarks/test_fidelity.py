"""``tv2tv bench fidelity`` on a random-weight run of synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tv2tv.benchmarks.fidelity import FidelityConfig, evaluate, future_text, parse_horizons, pick_windows
from tv2tv.cli import main
from tv2tv.recorders.store import EpisodeStore
from tv2tv.world_model.generate import Generator
from tv2tv.world_model.rollout_model import SamplingConfig
from tv2tv.world_model.synthetic import export_random_run, write_synthetic_store


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("fid")
    store = write_synthetic_store(root / "data", n=4, steps=12, size=16, seed=1)
    return export_random_run(EpisodeStore.open(store).meta, root / "run", _small(store)), store


def _small(store, *extra: str) -> list[str]:
    """Overrides of a dim-32 run on ``store`` (6-frame windows, a quarter held out)."""
    return ["model.dim=32", "model.depth=2", "model.heads=2", "sequence.window_frames=6",
            "data.val_fraction=0.25", f"data.path={store}", *extra]


def test_cli_scores_model_and_copy_last(run, tmp_path) -> None:
    run_dir, store = run
    out = tmp_path / "fid.json"
    assert main(["bench", "fidelity", "--ckpt", str(run_dir), "--data", str(store), "--horizons", "1,3",
                 "--windows", "2", "--ode-steps", "1", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["split"] == "validation split" and r["windows"] == 2 and r["context_frames"] == 4
    assert [h["horizon"] for h in r["horizons"]] == [1, 3]
    # A fresh model's zero-initialised residual head predicts no change from the last frame: it
    # is copy-last exactly, which does not count as beating it.
    assert all(h["model_psnr"] == pytest.approx(h["copy_psnr"], abs=1e-6) and not h["beats_copy_last"]
               for h in r["horizons"])
    assert all(h["model_psnr"] < 100.0 for h in r["horizons"])      # the frames do change


def test_a_perfect_predictor_beats_copy_last(run, monkeypatch) -> None:
    import tv2tv.benchmarks.fidelity as fid

    run_dir, store = run
    gen = Generator.from_run(run_dir, SamplingConfig(ode_steps=1))
    episodes = list(EpisodeStore.open(store))
    calls = []
    real_prefix = fid.episode_prefix
    monkeypatch.setattr(fid, "episode_prefix",
                        lambda ep, last, n: calls.append((ep, last)) or real_prefix(ep, last, n))

    def oracle(context, n, *args, **kwargs):     # the real future of the window just cut
        ep, last = calls[-1]
        return type("R", (), {"frames": ep.frames[None, last + 1:last + 1 + n]})()

    gen.generate = oracle  # type: ignore[method-assign]
    r = evaluate(gen, episodes, FidelityConfig(horizons=(1, 2), windows=3))
    assert len(calls) == 3
    assert all(h["model_psnr"] == 100.0 and h["model_ssim"] > 0.999 for h in r["horizons"])
    assert all(h["beats_copy_last"] for h in r["horizons"])


def test_helpers() -> None:
    assert parse_horizons("8, 1") == (1, 8)
    with pytest.raises(ValueError, match="horizons"):
        parse_horizons("a")
    from tv2tv.world_model.synthetic import synthetic_episodes
    eps = synthetic_episodes(2, steps=10, size=16)
    wins = pick_windows(eps, 5, context=4, horizon=3)
    assert len(wins) == 5 and all(3 <= s <= 7 for _, s in wins)
    texts = future_text(eps[0], 3, 2)
    assert [t.frame for t in texts] == [0, 1] and all(t.source == "intervention" for t in texts)
    with pytest.raises(ValueError, match="no held-out"):
        pick_windows(eps, 2, context=8, horizon=8)
    assert np.isfinite(len(wins))


def test_action_id_runs_are_given_the_real_actions(run, tmp_path, monkeypatch) -> None:
    """``bench fidelity`` feeds an action-id model the actions that led to the scored frames
    (it needs them, as a text model needs the text)."""
    _, store = run
    run_dir = export_random_run(EpisodeStore.open(store).meta, tmp_path / "aid",
                                _small(store, "variant=action-id"))
    gen = Generator.from_run(run_dir, SamplingConfig(ode_steps=1))
    seen = []
    real = gen.generate
    gen.generate = lambda *a, **k: seen.append(k["actions"]) or real(*a, **k)  # type: ignore[method-assign]
    episodes = list(EpisodeStore.open(store))
    r = evaluate(gen, episodes, FidelityConfig(horizons=(1, 2), windows=2))
    (i, last), = pick_windows(episodes, 2, r["context_frames"], 2)[:1]
    np.testing.assert_array_equal(seen[0], episodes[i].actions[last:last + 2])
    assert r["windows"] == 2 and len(seen) == 2

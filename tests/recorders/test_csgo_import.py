"""CS:GO importer: synthetic HDF5 files in Pearce & Zhu's layout, exact import, all-or-nothing
errors naming the file, and the store trains, rolls out and feeds the IDM."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tv2tv.benchmarks.idm import episode_windows, train_idm
from tv2tv.cli import main
from tv2tv.envs.csgo_texter import MOUSE_X, MOUSE_X_BINS, MOUSE_Y, MOUSE_Y_BINS, CSGOTexter, to_onehot
from tv2tv.recorders.csgo_import import import_csgo
from tv2tv.recorders.store import EpisodeStore

h5py = pytest.importorskip("h5py")

N_FRAMES = 20
# As test_bad_inputs trains: the tiny preset cut down to seconds on CPU.
TRAIN = ["train", "--preset", "tiny", "--accelerator", "cpu", "--no-progress", "--max-steps", "2",
         "model.dim=32", "model.depth=1", "model.heads=2", "sequence.patch=8", "sequence.window_frames=4",
         "data.batch_size=2", "val_every_steps=2", "val_batches=1", "log_every_steps=1",
         # A CS:GO phrase is long and the mouse changes it almost every frame: room for two per chunk.
         "sequence.max_text_bytes=256"]


def write_csgo_file(path: Path, n: int, seed: int) -> SimpleNamespace:
    """A file as dm_pretrain_process.py writes it: BGR frames whose colour encodes the frame index,
    one-hot actions, [kill, death] flags (a kill on frame 3, a death on frame 7), 54 aux values."""
    rng = np.random.default_rng(seed)
    actions = np.zeros((n, 15), np.float32)
    actions[:, :13] = rng.integers(0, 2, (n, 13)) * (rng.random((n, 13)) < 0.3)
    actions[:, MOUSE_X] = rng.choice(MOUSE_X_BINS, n)
    actions[:, MOUSE_Y] = rng.choice(MOUSE_Y_BINS, n)
    helper = np.zeros((n, 2))
    helper[3, 0] = helper[7, 1] = 1
    with h5py.File(path, "w") as f:
        for i in range(n):
            f.create_dataset(f"frame_{i}_x", data=np.full((150, 280, 3), (10 * i, 100, 200 + seed), np.uint8))
            f.create_dataset(f"frame_{i}_xaux", data=np.zeros(54))
            f.create_dataset(f"frame_{i}_y", data=to_onehot(actions[i]).astype(np.float64))
            f.create_dataset(f"frame_{i}_helperarr", data=helper[i])
    return SimpleNamespace(actions=actions, helper=helper)


@pytest.fixture
def src(tmp_path: Path) -> SimpleNamespace:
    """Two files, named so that number order differs from name order."""
    d = tmp_path / "dust2"
    d.mkdir()
    files = {name: write_csgo_file(d / name, N_FRAMES, seed)
             for name, seed in (("hdf5_dm_july2021_10.hdf5", 1), ("hdf5_dm_july2021_2.hdf5", 0))}
    return SimpleNamespace(dir=d, files=files)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 32x32 store of two synthetic files (shared by the train, rollout and IDM checks)."""
    root = tmp_path_factory.mktemp("csgo")
    (root / "src").mkdir()
    for seed in (0, 1):
        write_csgo_file(root / "src" / f"hdf5_dm_july2021_{seed + 1}.hdf5", N_FRAMES, seed)
    import_csgo(root / "src", root / "store", frame_size=32, progress=False)
    return root / "store"


def test_import_is_exact(src: SimpleNamespace, tmp_path: Path) -> None:
    s = import_csgo(src.dir, tmp_path / "store", frame_size=32, text_every=4, progress=False)
    assert (s.files, s.steps, s.kills, s.deaths) == (2, 2 * (N_FRAMES - 1), 2, 2)
    store = EpisodeStore.open(tmp_path / "store")
    meta, texter = store.meta, CSGOTexter(text_every=4)
    assert (meta.env, meta.frame_shape, meta.texter, meta.fps) == ("csgo", (32, 32, 3), "csgo", 16.0)
    assert meta.extra["action_fields"] == texter.vector_fields() and meta.extra["text_every"] == 4
    by_source = {str(ep.extras["source_file"]): ep for ep in store}
    assert set(by_source) == set(src.files)
    for name, ep in by_source.items():
        truth, seed = src.files[name], 1 if name.endswith("_10.hdf5") else 0
        assert ep.frames.shape == (N_FRAMES, 32, 32, 3) and ep.frames.dtype == np.uint8
        assert ep.frames[5, 0, 0].tolist() == [200 + seed, 100, 50]               # BGR stored as RGB
        assert np.array_equal(ep.actions, truth.actions[:-1])                       # action i acts on frame i
        assert ep.truncated and not ep.terminated
        assert ep.rewards[2] == 1 and ep.rewards[6] == -1 and np.abs(ep.rewards).sum() == 2
        assert ("got a kill", "caption") in [(e.text, e.source) for e in ep.events_at(3)]
        assert ("died", "caption") in [(e.text, e.source) for e in ep.events_at(7)]
        said = {e.frame: e.text for e in ep.text_events if e.source == "action"}
        assert said[1] == texter.action_text(truth.actions[0])
        for frame, text in said.items():                                             # text parses back
            assert np.array_equal(texter.parse(text), truth.actions[frame - 1])
    # Files import in the order of their number (episode files sort in writing order).
    assert [str(store.load(i).extras["source_file"]) for i in range(2)] == [
        "hdf5_dm_july2021_2.hdf5", "hdf5_dm_july2021_10.hdf5"]


def test_cli_imports_and_appends(src: SimpleNamespace, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["data", "import-csgo", str(src.dir), str(tmp_path / "store"), "--frame-size", "16",
            "--no-progress"]
    assert main(argv) == 0
    assert "imported 2 CS:GO files (38 steps" in capsys.readouterr().out
    assert main(argv) == 0                                     # same settings: appends
    assert len(EpisodeStore.open(tmp_path / "store")) == 4


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def _foreign(path: Path) -> None:
    path.unlink()
    with h5py.File(path, "w") as f:
        f.create_dataset("observations", data=np.zeros((4, 8)))


def _bad_onehot(path: Path) -> None:
    with h5py.File(path, "a") as f:
        del f["frame_4_y"]
        f.create_dataset("frame_4_y", data=np.zeros(51))


@pytest.mark.parametrize("breaks, message", [
    (_truncate, "it is truncated or not HDF5"),
    (_foreign, "is not a CS:GO deathmatch file: it has no frame_<i>_x datasets (it holds 'observations')"),
    (_bad_onehot, "frame_4_y is not a CS:GO action one-hot"),
], ids=["truncated", "foreign", "bad-onehot"])
def test_bad_file_is_one_line_naming_it_and_changes_nothing(src: SimpleNamespace, tmp_path: Path, breaks,
                                                            message, capsys: pytest.CaptureFixture[str],
                                                            tree_snapshot) -> None:
    store = tmp_path / "store"
    assert main(["data", "import-csgo", str(src.dir), str(store), "--frame-size", "16", "--no-progress"]) == 0
    bad = src.dir / "hdf5_dm_july2021_10.hdf5"          # imported last (number order)
    breaks(bad)
    for dst in (store, tmp_path / "new"):               # an existing store and a new one
        before = tree_snapshot(tmp_path)
        capsys.readouterr()
        assert main(["data", "import-csgo", str(src.dir), str(dst), "--frame-size", "16"]) == 2
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in err, err
        assert str(bad) in errors[0] and message in errors[0], errors[0]
        assert tree_snapshot(tmp_path) == before


def test_missing_source_and_h5py(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError, match="neither an HDF5 file nor a directory"):
        import_csgo(tmp_path / "nope", tmp_path / "store")
    with pytest.raises(ValueError, match=r"no HDF5 files \(\*\.hdf5, \*\.h5\) under"):
        import_csgo(tmp_path, tmp_path / "store")
    write_csgo_file(tmp_path / "one.hdf5", 8, 0)
    monkeypatch.setitem(__import__("sys").modules, "h5py", None)
    with pytest.raises(ValueError, match="needs h5py: pip install h5py"):
        import_csgo(tmp_path / "one.hdf5", tmp_path / "store")
    assert not (tmp_path / "store").exists()


def test_store_trains_rolls_out_and_scores_fidelity(imported: Path, tmp_path: Path) -> None:
    from tv2tv.planners.world_model_env import WorldModelEnv

    run = tmp_path / "run"
    assert main([*TRAIN, "--data", str(imported), "--out", str(run)]) == 0
    sampling = {"ode_steps": 1, "max_text_tokens": 2}
    env = WorldModelEnv(run, action_mode="text", context_frames=2, max_steps=2, sampling=sampling)
    env.reset(seed=0)
    obs, *_ , info = env.step("move forward, fire, turn right 11 degrees")
    assert obs.shape == (32, 32, 3) and info["agent_text"].startswith("move forward, fire")
    menu = WorldModelEnv(run, action_mode="action", context_frames=2, max_steps=2, sampling=sampling)
    assert menu.texter.name == "csgo" and menu.action_space.n == len(menu.texter.action_phrases())
    menu.reset(seed=0)
    assert menu.step(1)[-1]["agent_text"] == "move forward"
    # Fidelity against the store's real futures (no emulator needed).
    assert main(["bench", "fidelity", "--ckpt", str(run), "--data", str(imported), "--horizons", "1",
                 "--windows", "1", "--context-frames", "2", "--ode-steps", "1"]) == 0


def test_idm_trains_and_scores_on_the_store(imported: Path) -> None:
    store = EpisodeStore.open(imported)
    idm = train_idm(store, steps=2, seed=0)
    assert [t.name for t in idm.groups.tasks][-2:] == ["camera pitch", "camera yaw"]
    assert idm.heldout is not None and 0.0 <= idm.heldout["accuracy"] <= 1.0
    windows, actions = episode_windows(store.load(0), idm.n_frames)
    assert idm.score(windows, actions)["n"] == N_FRAMES - 1

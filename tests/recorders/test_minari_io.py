"""Minari import/export: a DataCollector dataset of tv2tv Pong imports as tv2tv records it, a store
survives store -> Minari -> store, and failures are one-line errors that change nothing."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest

minari = pytest.importorskip("minari")

from tv2tv.cli import main  # noqa: E402
from tv2tv.envs import make_env  # noqa: E402
from tv2tv.envs.frames import resize_frames  # noqa: E402
from tv2tv.recorders import minari_io  # noqa: E402
from tv2tv.recorders.minari_io import export_minari, import_minari  # noqa: E402
from tv2tv.recorders.store import DatasetMeta, EpisodeStore, describe_space  # noqa: E402
from tv2tv.recorders.wrapper import RecordEpisodes  # noqa: E402
from tv2tv.types import Episode, TextEvent  # noqa: E402
from tv2tv.world_model.synthetic import synthetic_episode  # noqa: E402

PONG_ID = "tv2tv/pong/collector-v0"
PONG_STEPS = (10, 12, 9)  # steps of each episode (then truncated)


def _episodes_equal(got: Episode, want: Episode) -> None:
    assert np.array_equal(got.frames, want.frames)
    assert np.array_equal(got.actions, want.actions) and got.actions.dtype == want.actions.dtype
    assert np.array_equal(got.rewards, want.rewards)
    assert got.text_events == want.text_events
    assert (got.terminated, got.truncated, got.seed) == (want.terminated, want.truncated, want.seed)


@pytest.fixture(scope="module")
def pong(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A Minari dataset made by ``minari.DataCollector`` around tv2tv Pong (32x32 frames), and the
    same episodes as tv2tv's own recorder wrote them."""
    pytest.importorskip("jax", reason="minari.DataCollector needs minari[create]")
    root = tmp_path_factory.mktemp("minari_pong")
    native: list[Episode] = []
    rng = np.random.default_rng(0)
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        mp.setenv("MINARI_DATASETS_PATH", str(root))
        warnings.simplefilter("ignore")  # Minari's "recommended metadata is None" notes
        collector = minari.DataCollector(make_env("ALE/Pong-v5", frame_size=32), jpeg_encoding=False)
        env = RecordEpisodes(collector, on_episode=native.append)  # outermost: the spec stays JSON
        action = 2
        for seed, steps in enumerate(PONG_STEPS):
            env.reset(seed=seed)
            for _ in range(steps):
                action = action if rng.random() < 0.7 else int(rng.integers(6))
                env.step(action)
            env.truncate_episode()  # the collector marks it truncated too (on reset / create)
        collector.create_dataset(PONG_ID)
        env.close()
    return SimpleNamespace(root=root, native=native)


def test_data_collector_dataset_imports_as_tv2tv_records_it(pong, tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(pong.root))
    with pytest.warns(UserWarning, match=r"records no infos\['lives'\]"):
        s = import_minari(PONG_ID, tmp_path / "store", frame_size=32)
    assert (s.episodes, s.steps) == (3, sum(PONG_STEPS))
    store = EpisodeStore.open(tmp_path / "store")
    meta = store.meta
    # The dataset.json that `tv2tv record ALE/Pong-v5 --frame-size 32` writes.
    assert (meta.env, meta.frame_shape, meta.texter, meta.frameskip, meta.fps) == (
        "ALE/Pong-v5", (32, 32, 3), "atari", 4, 15.0)
    assert meta.extra == {"env_kwargs": {}, "text_every": 8}
    assert meta.action_space == describe_space(gym.spaces.Discrete(6))
    for got, want in zip(store, pong.native, strict=True):
        _episodes_equal(got, want)  # the texter's text, frame for frame
        assert got.events_at(1) and got.events_at(1)[0].source == "action"
        assert str(got.extras["minari_dataset"]) == PONG_ID
    assert store.load(0).events_at(1)[0].text == "move paddle up"  # action 2 is RIGHT: paddle up


def test_import_by_path_resizes_frames(pong, tmp_path, capsys):
    argv = ["data", "import-minari", str(pong.root / PONG_ID), str(tmp_path / "store"), "--no-progress"]
    with pytest.warns(UserWarning, match="lives"):
        assert main(argv) == 0
    assert "imported 3 episodes" in capsys.readouterr().out
    store = EpisodeStore.open(tmp_path / "store")
    assert store.meta.frame_shape == (64, 64, 3)
    assert np.array_equal(store.load(1).frames, resize_frames(pong.native[1].frames, 64))


def test_lives_captions_grey_frames_and_sticky_settings(tmp_path, monkeypatch):
    """A Breakout dataset made the gym.make way (sticky actions 0.25), grey frames, infos with lives."""
    from minari.data_collector import EpisodeBuffer

    from tv2tv.envs import atari  # noqa: F401  (registers the ALE/ ids with gymnasium)

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    grey = np.arange(4 * 16 * 16, dtype=np.uint8).reshape(4, 16, 16)
    buffer = EpisodeBuffer(observations=grey, actions=np.array([1, 3, 3]), rewards=[0.0, 1.0, 0.0],
                           terminations=[False, False, True], truncations=[False] * 3,
                           infos={"lives": np.array([5, 5, 4, 4])})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minari.create_dataset_from_buffers("breakout-v0", [buffer], env=gym.spec("ALE/Breakout-v5"),
                                           observation_space=gym.spaces.Box(0, 255, (16, 16), np.uint8),
                                           action_space=gym.spaces.Discrete(4))
    import_minari("breakout-v0", tmp_path / "store", frame_size=16)
    store = EpisodeStore.open(tmp_path / "store")
    assert store.meta.extra == {"env_kwargs": {"repeat_action_probability": 0.25}, "text_every": 8}
    ep = store.load(0)
    assert np.array_equal(ep.frames, np.repeat(grey[..., None], 3, axis=-1)) and ep.terminated
    assert [(e.frame, e.text) for e in ep.text_events] == [
        (1, "fire"), (2, "move paddle left"), (2, "scored a point"), (2, "lost a life")]


def _text_store(root: Path, size: int = 32) -> Path:
    """Synthetic episodes with rewards, ends, extras and every kind of text (several a frame)."""
    meta = DatasetMeta(env="synthetic", frame_shape=(size, size, 3),
                       action_space=describe_space(gym.spaces.Discrete(3)), texter="synthetic",
                       texter_version="1", fps=20.0, extra={"note": "round trip"})
    store = EpisodeStore.create(root, meta)
    rng = np.random.default_rng(1)
    for i in range(3):
        ep = synthetic_episode(7 + i, size, rng, seed=100 + i)
        extra = (TextEvent(0, "start: «hé» [x]", "caption"), TextEvent(3, "jump, then duck", "intervention"),
                 TextEvent(3, 'say "hi"\nnow', "plan"))
        store.write(replace(ep, rewards=rng.normal(size=ep.num_steps).astype(np.float32), terminated=i == 1,
                            truncated=i != 1, text_events=ep.text_events + extra,
                            extras={"policy": "sticky", "index": i}))
    return root


def test_store_minari_store_round_trip(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    src = _text_store(tmp_path / "src")
    assert main(["data", "export-minari", str(src), "tv2tv/synthetic/rt-v0", "--no-progress"]) == 0
    assert "exported 3 episodes" in capsys.readouterr().out
    ds = minari.load_dataset("tv2tv/synthetic/rt-v0")  # a plain Minari dataset
    assert ds.total_episodes == 3 and ds.observation_space.shape == (32, 32, 3)
    frame3 = json.loads(ds[0].infos["text"][3])  # [text, source] pairs of frame 3, in order
    assert frame3[1:] == [["jump, then duck", "intervention"], ['say "hi"\nnow', "plan"]]
    import_minari("tv2tv/synthetic/rt-v0", tmp_path / "back")
    original, back = EpisodeStore.open(src), EpisodeStore.open(tmp_path / "back")
    assert back.meta == original.meta
    for got, want in zip(back, original, strict=True):
        _episodes_equal(got, want)
        assert str(got.extras["policy"]) == "sticky" and int(got.extras["index"]) == int(want.extras["index"])


def test_round_trip_of_the_imported_pong(pong, tmp_path, monkeypatch):
    """ALE text written by the importer survives an export and re-import (kept, not re-texted)."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(pong.root))
    with pytest.warns(UserWarning, match="lives"):
        import_minari(PONG_ID, tmp_path / "store", frame_size=32)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    export_minari(tmp_path / "store", "pong-again-v1")
    import_minari("pong-again-v1", tmp_path / "back")
    for got, want in zip(EpisodeStore.open(tmp_path / "back"), pong.native, strict=True):
        _episodes_equal(got, want)


# -- all or nothing ---------------------------------------------------------------------------------


def _fail_on_second(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    real, calls = getattr(minari_io, name), []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(minari_io, name, flaky)


def test_failed_import_or_export_changes_nothing(tmp_path, monkeypatch, tree_snapshot):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    src = _text_store(tmp_path / "src")
    export_minari(src, "tv2tv/synthetic/rt-v0")
    dst = _text_store(tmp_path / "dst")  # a store with the same settings: the import would append
    before = tree_snapshot(tmp_path)
    with monkeypatch.context() as mp:
        _fail_on_second(mp, "to_episode")
        with pytest.raises(ValueError, match="disk on fire"):
            import_minari("tv2tv/synthetic/rt-v0", dst)
    with monkeypatch.context() as mp:
        _fail_on_second(mp, "to_buffer")
        with pytest.raises(ValueError, match="disk on fire"):
            export_minari(src, "tv2tv/new/rt-v0")  # its namespace folders go too
    assert tree_snapshot(tmp_path) == before
    import_minari("tv2tv/synthetic/rt-v0", dst)  # and without the fault it appends
    assert len(EpisodeStore.open(dst)) == 6


# -- bad inputs: one line, exit 2, nothing changed (as tests/test_bad_inputs.py) ---------------------

@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Minari root with a vector dataset, an image dataset of no env and an export; a store; a Pong store."""
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    buffer = minari_io.to_buffer(_episode(2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minari.create_dataset_from_buffers(
            "bad/vector-v0", [replace(buffer, observations=np.zeros((3, 4), np.float32))],
            observation_space=gym.spaces.Box(-1, 1, (4,), np.float32), action_space=gym.spaces.Discrete(3))
        minari.create_dataset_from_buffers("bad/noenv-v0", [buffer], observation_space=gym.spaces.Box(
            0, 255, (8, 8, 3), np.uint8), action_space=gym.spaces.Discrete(3))
    store = _text_store(tmp_path / "store", size=16)
    export_minari(store, "tv2tv/synthetic/rt-v0")
    pong = EpisodeStore.create(tmp_path / "pong", replace(EpisodeStore.open(store).meta, env="ALE/Pong-v5"))
    (tmp_path / "afile").write_text("a regular file")
    return SimpleNamespace(root=tmp_path, store=store, pong=pong.root)


def _episode(steps: int) -> Episode:
    return Episode(frames=np.zeros((steps + 1, 8, 8, 3), np.uint8), actions=np.zeros(steps, np.int64),
                   rewards=np.zeros(steps, np.float32), terminated=True, truncated=False)


BAD = [
    ("import-missing-id", lambda w: ["data", "import-minari", "atari/pong/expert-v0", str(w.root / "s")],
     "Minari dataset 'atari/pong/expert-v0' is not in"),
    ("import-malformed-id", lambda w: ["data", "import-minari", "pong", str(w.root / "s")],
     "'pong' is neither a dataset folder nor a Minari dataset id"),
    ("import-folder-not-minari", lambda w: ["data", "import-minari", str(w.store), str(w.root / "s")],
     "is not a Minari dataset: it has no data/metadata.json"),
    ("import-vector-observations", lambda w: ["data", "import-minari", "bad/vector-v0", str(w.root / "s")],
     "has observations Box(-1.0, 1.0, (4,), float32), not images"),
    ("import-no-env", lambda w: ["data", "import-minari", "bad/noenv-v0", str(w.root / "s")],
     "records no env; name its game with --env"),
    ("import-unknown-env",
     lambda w: ["data", "import-minari", "bad/noenv-v0", str(w.root / "s"), "--env", "Pongg"],
     "unknown env 'Pongg'"),
    ("import-into-other-game", lambda w: ["data", "import-minari", "tv2tv/synthetic/rt-v0", str(w.pong)],
     "env: store has 'ALE/Pong-v5', new recording has 'synthetic'"),
    ("import-into-a-file",
     lambda w: ["data", "import-minari", "tv2tv/synthetic/rt-v0", str(w.root / "afile")],
     "exists and is not a directory"),
    ("export-existing-id", lambda w: ["data", "export-minari", str(w.store), "tv2tv/synthetic/rt-v0"],
     "Minari dataset 'tv2tv/synthetic/rt-v0' already exists"),
    ("export-malformed-id", lambda w: ["data", "export-minari", str(w.store), "../up-v0"],
     "a Minari dataset id looks like"),
    ("export-not-a-store", lambda w: ["data", "export-minari", str(w.root / "minari"), "x-v0"],
     "is not a tv2tv-episodes store"),
]


@pytest.mark.parametrize("argv, message", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(ws, argv, message, capsys, tree_snapshot):
    args = argv(ws)
    before = tree_snapshot(ws.root)
    capsys.readouterr()
    code = main([*args, "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 2, err[-2000:]
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err[-2000:]
    assert message in errors[0], errors[0]
    assert tree_snapshot(ws.root) == before


def test_missing_minari_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "minari", None)  # as if not installed
    with pytest.raises(ValueError, match=r"pip install 'tv2tv\[minari\]'"):
        import_minari("atari/pong/expert-v0", tmp_path / "s")

"""The one episode checker: validate, ``data info`` and training's loading agree on every file.

Each corruption is a per-file problem (``validate``) and the same ``EpisodeError`` (``load``),
never a crash; random byte flips and truncations of a recorded episode give the episode back
unchanged or a named problem.
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tv2tv.cli import main
from tv2tv.recorders.cli import store_stats
from tv2tv.recorders.episode_file import EpisodeError, Problem, read_episode_file
from tv2tv.recorders.npz import write_npz
from tv2tv.recorders.store import EPISODE_DIR, EpisodeStore, episode_to_arrays
from tv2tv.recorders.validate import fix, validate
from tv2tv.recorders.wrapper import RecordEpisodes
from tv2tv.types import Episode

KINDS = {"corrupted", "fields", "frames", "actions", "rewards", "text", "env"}


@pytest.fixture
def recorded(fakes, tmp_path: Path) -> tuple[EpisodeStore, Path, Episode, bytes]:
    """A store holding one recorded fake episode of a few steps on 8x8 frames, and its bytes."""
    store = EpisodeStore.create(tmp_path / "store", fakes.meta(8))
    env = RecordEpisodes(fakes.Game(size=8, max_len=6), store=store)
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    while not any(env.step(int(rng.integers(0, 3)))[2:4]):
        pass
    path = env.last_path
    return store, path, store.load(path), path.read_bytes()


def assert_same(a: Episode, b: Episode) -> None:
    for name in ("frames", "actions", "rewards"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), name
    assert (a.terminated, a.truncated, a.seed, a.env, a.text_events) == \
        (b.terminated, b.truncated, b.seed, b.env, b.text_events)
    assert a.extras.keys() == b.extras.keys()
    assert all(np.array_equal(a.extras[k], b.extras[k]) for k in a.extras)


def assert_readers_agree(store: EpisodeStore, path: Path) -> tuple[Episode | None, list[Problem]]:
    """validate, load (training), and data info's statistics say the same of ``path``."""
    episode, problems = read_episode_file(path, store.meta)
    assert validate(store) == problems
    if episode is not None:
        assert problems == []
        assert_same(store.load(path), episode)
        assert_same(list(store)[0], episode)           # what training's data module does
        assert store_stats(store)["lengths"].tolist() == [episode.num_steps]
        return episode, problems
    assert problems and all(p.kind in KINDS and p.message and p.path == path for p in problems)
    with pytest.raises(EpisodeError) as err:
        store.load(path)
    assert err.value.problems == problems and str(path) in str(err.value)
    with pytest.raises(EpisodeError):
        store_stats(store)
    return episode, problems


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_flips_and_truncations_give_the_episode_or_a_named_problem(recorded, data):
    store, path, original, recorded_bytes = recorded
    raw = bytearray(recorded_bytes)                    # examples overwrite the file: start afresh
    if data.draw(st.booleans(), "truncate"):
        raw = raw[:data.draw(st.integers(0, len(raw) - 1), "length")]
    else:
        for _ in range(data.draw(st.integers(1, 3), "flips")):
            raw[data.draw(st.integers(0, len(raw) - 1), "at")] ^= data.draw(st.integers(1, 255), "xor")
    path.write_bytes(bytes(raw))
    episode, _ = assert_readers_agree(store, path)
    if episode is not None:
        assert_same(episode, original)                 # never silently changed data


def _member_offsets(path: Path, name: str) -> tuple[int, int]:
    """(central directory header offset, compressed data offset) of member ``name``."""
    data = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
        central = data.index(b"PK\001\002", zf.start_dir)
        while data[central + 46:central + 46 + len(name)] != name.encode():
            central = data.index(b"PK\001\002", central + 4)
    n, m = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    return central, info.header_offset + 30 + n + m


def _patch(path: Path, at: int, new: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[at:at + len(new)] = new
    path.write_bytes(bytes(data))


def test_unknown_compression_method_is_a_problem_and_fix_runs(recorded):
    store, path, *_ = recorded
    central, _ = _member_offsets(path, "frames.npy")
    _patch(path, central + 10, struct.pack("<H", 99))       # the compression method field
    _, problems = assert_readers_agree(store, path)
    assert [p.kind for p in problems] == ["corrupted"] and "compression" in problems[0].message
    assert fix(store, problems) == [f"moved {path.name} to {store.root / 'rejected' / path.name}"]


def test_corrupted_npy_header_is_a_problem(recorded):
    store, path, original, _ = recorded
    buf = io.BytesIO()
    np.lib.format.write_array(buf, original.frames)
    member = bytearray(buf.getvalue())
    member[8] ^= 64                     # a header length that cuts the dict: np.load raised TokenError
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:    # valid ZIP and CRC
        for key, value in episode_to_arrays(original).items():
            if key == "frames":
                zf.writestr("frames.npy", bytes(member))
            else:
                out = io.BytesIO()
                np.lib.format.write_array(out, value)
                zf.writestr(f"{key}.npy", out.getvalue())
    _, problems = assert_readers_agree(store, path)
    assert [p.kind for p in problems] == ["corrupted"] and "TokenError" in problems[0].message


def test_corrupted_deflate_stream_fails_every_reader_with_a_named_error(recorded, tmp_path, capsys):
    store, path, *_ = recorded
    _, start = _member_offsets(path, "frames.npy")
    _patch(path, start, b"\xff")                            # block type 3: zlib.error "invalid block type"
    _, problems = assert_readers_agree(store, path)
    assert "error" in problems[0].message
    assert main(["data", "info", str(store.root)]) == 2
    assert path.name in " ".join(capsys.readouterr().err.split())
    from tv2tv.config import build_config
    from tv2tv.world_model.config import TrainConfig
    from tv2tv.world_model.data import EpisodeDataModule

    with pytest.raises(EpisodeError, match="corrupted or truncated"):   # training's loading
        EpisodeDataModule(build_config(TrainConfig, "tiny", [f"data.path={store.root}"])).load()


@pytest.mark.parametrize("field,value,match", [
    ("terminated", np.asarray("yes"), "terminated must be a bool"),
    ("seed", np.asarray([1, 2]), "seed must be an integer"),
    ("rewards", None, "rewards <U"),
    ("text_frames", None, "text arrays must be 1-d integer frames"),
    ("actions", None, "are not Discrete actions"),
])
def test_wrongly_typed_field_is_the_same_problem_everywhere(recorded, field, value, match):
    store, path, original, _ = recorded
    arrays = episode_to_arrays(original)
    if value is None:                                       # the same values, as strings or floats
        value = arrays[field].astype(np.float64 if field in ("actions", "text_frames") else str)
    arrays[field] = value
    with open(path, "wb") as f:
        write_npz(f, arrays)
    _, problems = assert_readers_agree(store, path)
    assert len(problems) == 1 and match in problems[0].message, problems


def test_unknown_member_and_objects_are_refused(recorded):
    store, path, original, _ = recorded
    arrays = episode_to_arrays(original) | {"surprise": np.zeros(2)}
    with open(path, "wb") as f:
        write_npz(f, arrays)
    assert "unknown fields ['surprise']" in assert_readers_agree(store, path)[1][0].message
    with zipfile.ZipFile(path, "a") as zf:                  # an object array would need pickle
        out = io.BytesIO()
        np.lib.format.write_array(out, np.array([{}], dtype=object), allow_pickle=True)
        zf.writestr("extra_obj.npy", out.getvalue())
    assert "never unpickled" in assert_readers_agree(store, path)[1][0].message


def test_writer_refuses_what_readers_would_flag(recorded, fakes):
    store, _, original, _ = recorded
    bad = Episode(frames=original.frames, actions=original.actions + 5, rewards=original.rewards,
                  terminated=True, truncated=False, env=fakes.ENV)
    with pytest.raises(ValueError, match="outside the Discrete space"):
        store.write(bad)
    assert len(list((store.root / EPISODE_DIR).iterdir())) == 1

"""The episode store: exact round trips, append checks, crash leftovers, disk full, validation."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tv2tv.cli import main
from tv2tv.recorders import store as store_mod
from tv2tv.recorders.store import EPISODE_DIR, EpisodeStore, StagedStore, StoreError, write_npz
from tv2tv.recorders.validate import check_episode_file, fix, metadata_suspects, validate
from tv2tv.types import TEXT_SOURCES, Episode, TextEvent


def make_episode(steps: int = 5, size: int = 16, seed: int | None = 3, **kw) -> Episode:
    rng = np.random.default_rng(steps)
    events = (TextEvent(0, "start", "caption"), TextEvent(1, "go up ↑ «naïve»", "action"),
              TextEvent(steps, "user says: jump! 🚀", "intervention"))
    defaults = dict(
        frames=rng.integers(0, 256, (steps + 1, size, size, 3), dtype=np.uint8),
        actions=rng.integers(0, 3, steps), rewards=rng.normal(size=steps).astype(np.float32),
        terminated=True, truncated=False, text_events=events, seed=seed, env="Fake-v0",
        extras={"policy": np.asarray("sticky"), "q": np.arange(steps, dtype=np.float64)})
    defaults.update(kw)
    return Episode(**defaults)


def assert_same(a: Episode, b: Episode) -> None:
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.actions, b.actions)
    assert a.actions.dtype == b.actions.dtype
    np.testing.assert_array_equal(a.rewards, b.rewards)
    assert (a.terminated, a.truncated, a.seed, a.env) == (b.terminated, b.truncated, b.seed, b.env)
    assert a.text_events == b.text_events
    assert a.extras.keys() == b.extras.keys()
    for k in a.extras:
        np.testing.assert_array_equal(a.extras[k], b.extras[k])


def test_round_trip_is_exact_with_unicode_text_and_extras(fakes, tmp_path):
    store = EpisodeStore.create(tmp_path / "s", fakes.meta())
    eps = [make_episode(5), make_episode(0, seed=None, text_events=()), make_episode(9)]
    paths = [store.write(ep) for ep in eps]
    reopened = EpisodeStore.open(tmp_path / "s")
    assert len(reopened) == 3
    for ep, path in zip(eps, paths):
        assert_same(ep, reopened.load(path))
    assert reopened.load(paths[1]).seed is None
    assert validate(reopened) == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.integers(0, 6), texts=st.lists(
    st.tuples(st.integers(0, 6), st.text(st.characters(blacklist_characters="\x00"), max_size=12),
              st.sampled_from(TEXT_SOURCES)), max_size=5))
def test_round_trip_property(fakes, tmp_path, steps, texts):
    events = tuple(TextEvent(min(f, steps), t, s) for f, t, s in texts)
    ep = make_episode(steps, text_events=events, truncated=bool(steps % 2))
    store = EpisodeStore.create(tmp_path / f"p{steps}", fakes.meta())
    assert_same(ep, store.load(store.write(ep)))


def test_text_with_nul_is_refused() -> None:
    """numpy str arrays drop trailing NULs, so such a text could not round-trip: refused up front."""
    with pytest.raises(ValueError, match="NUL"):
        TextEvent(0, "a\x00")


def test_written_files_are_plain_npz(tmp_path):
    path = tmp_path / "x.npz"
    with open(path, "wb") as f:
        write_npz(f, {"a": np.arange(4), "s": np.asarray("héllo")})
    with np.load(path, allow_pickle=False) as z:
        assert z["a"].tolist() == [0, 1, 2, 3] and str(z["s"]) == "héllo"


def test_append_needs_same_settings_and_names_the_field(fakes, tmp_path):
    EpisodeStore.create(tmp_path / "s", fakes.meta(16))
    EpisodeStore.create(tmp_path / "s", fakes.meta(16))  # same settings: appending is fine
    with pytest.raises(StoreError,
                       match="frame_shape: store has \\[16, 16, 3\\], new recording has \\[8, 8, 3\\]"):
        EpisodeStore.create(tmp_path / "s", fakes.meta(8))
    with pytest.raises(StoreError, match="frameskip"):
        EpisodeStore.check_target(tmp_path / "s", env="Fake-v0", frameskip=4)
    EpisodeStore.check_target(tmp_path / "s", env="Fake-v0", frame_shape=(16, 16, 3))


def test_refuses_foreign_directory(fakes, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not a tv2tv store.*notes.txt"):
        EpisodeStore.create(tmp_path, fakes.meta())
    with pytest.raises(StoreError, match="no dataset.json"):
        EpisodeStore.open(tmp_path)
    (tmp_path / "notes.txt").unlink()
    (tmp_path / EPISODE_DIR).mkdir()  # what a crash inside create leaves: still usable
    EpisodeStore.create(tmp_path, fakes.meta())


def test_episode_that_does_not_fit_is_refused(fakes, tmp_path):
    store = EpisodeStore.create(tmp_path, fakes.meta(16))
    with pytest.raises(StoreError, match="frame shape \\(8, 8, 3\\)"):
        store.write(make_episode(size=8))
    assert len(store) == 0


def test_disk_full_names_the_problem_and_leaves_nothing_partial(fakes, tmp_path, monkeypatch):
    store = EpisodeStore.create(tmp_path, fakes.meta())
    store.write(make_episode(3))

    def full_disk(f, arrays, level=1):
        f.write(b"PK\x03\x04 half an episode")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_mod, "write_npz", full_disk)
    with pytest.raises(StoreError, match="disk full while writing .*free space"):
        store.write(make_episode(4))
    assert sorted(p.name for p in (tmp_path / EPISODE_DIR).iterdir()) == [store.episode_paths()[0].name]
    assert len(store) == 1 and store.temp_files() == []


def _listing(root):
    """Every path under ``root`` with its bytes (folders as None): what "unchanged" compares."""
    return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes() for p in sorted(root.rglob("*"))}


def test_staged_store_creates_a_new_store_only_on_success(fakes, tmp_path):
    dst = tmp_path / "deep" / "new"
    with StagedStore(dst) as staged:
        store = staged.create(fakes.meta())
        store.write(make_episode(3))
        store.write(make_episode(4))
        assert not dst.exists()                              # nothing in place before the block ends
    done = EpisodeStore.open(dst)
    assert len(done) == 2 and done.meta == fakes.meta()
    assert_same(done.load(0), make_episode(3))              # one writer: its episodes in order
    assert_same(done.load(1), make_episode(4))
    assert sorted(p.name for p in dst.parent.iterdir()) == ["new"]  # the temp dir is gone


def test_staged_store_fills_an_empty_directory(fakes, tmp_path):
    (tmp_path / "empty").mkdir()
    with StagedStore(tmp_path / "empty") as staged:
        staged.create(fakes.meta()).write(make_episode(2))
    assert len(EpisodeStore.open(tmp_path / "empty")) == 1


def test_staged_store_appends_to_an_existing_store(fakes, tmp_path):
    dst = tmp_path / "s"
    first = EpisodeStore.create(dst, fakes.meta()).write(make_episode(3))
    with StagedStore(dst) as staged:
        staged.create(fakes.meta()).write(make_episode(5))
    store = EpisodeStore.open(dst)
    assert len(store) == 2 and first in store.episode_paths()
    assert sorted(ep.num_steps for ep in store) == [3, 5]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_staged_store_refuses_a_store_with_other_settings(fakes, tmp_path):
    dst = tmp_path / "s"
    EpisodeStore.create(dst, fakes.meta(16)).write(make_episode(3))
    before = _listing(dst)
    with pytest.raises(StoreError,
                       match="frame_shape: store has \\[16, 16, 3\\], new recording has \\[8, 8, 3\\]"):
        with StagedStore(dst) as staged:
            staged.create(fakes.meta(8)).write(make_episode(2, size=8))
    assert _listing(dst) == before and sorted(p.name for p in tmp_path.iterdir()) == ["s"]


@pytest.mark.parametrize("existing", [False, True])
def test_an_exception_in_the_block_leaves_dst_unchanged(fakes, tmp_path, existing):
    dst = tmp_path / "s"
    if existing:
        EpisodeStore.create(dst, fakes.meta()).write(make_episode(3))
    before = _listing(dst) if existing else None
    with pytest.raises(ValueError, match="truncated source"):
        with StagedStore(dst) as staged:
            staged.create(fakes.meta()).write(make_episode(4))
            raise ValueError("truncated source")
    assert (_listing(dst) == before) if existing else not dst.exists()
    assert [p.name for p in tmp_path.iterdir()] == (["s"] if existing else [])  # no temp dir behind


def test_staged_store_misuse_is_named(fakes, tmp_path):
    with pytest.raises(RuntimeError, match="inside its with block"):
        StagedStore(tmp_path / "s").create(fakes.meta())
    with pytest.raises(RuntimeError, match="once"):
        with StagedStore(tmp_path / "s") as staged:
            staged.create(fakes.meta())
            staged.create(fakes.meta())
    with pytest.raises(RuntimeError, match="nothing was staged for .*StagedStore.create was never called"):
        with StagedStore(tmp_path / "s"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_truncated_file_fails_load_and_is_flagged(fakes, tmp_path):
    store = EpisodeStore.create(tmp_path, fakes.meta())
    good, bad = store.write(make_episode(6)), store.write(make_episode(7))
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match="corrupted or truncated"):
        store.load(bad)
    problems = validate(store)
    assert [(p.path, p.kind) for p in problems] == [(bad, "corrupted")]
    assert check_episode_file(store, good) == []


def test_bit_rot_is_flagged(fakes, tmp_path):
    store = EpisodeStore.create(tmp_path, fakes.meta())
    path = store.write(make_episode(6))
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside the compressed frames
    path.write_bytes(bytes(data))
    assert [p.kind for p in validate(store)] == ["corrupted"]


def _write_raw(store: EpisodeStore, name: str, **changes) -> None:
    arrays = store_mod.episode_to_arrays(make_episode(4))
    arrays.update(changes)
    with open(store.root / EPISODE_DIR / name, "wb") as f:
        write_npz(f, arrays)


def test_validate_names_each_mismatch(fakes, tmp_path):
    store = EpisodeStore.create(tmp_path, fakes.meta(16))
    _write_raw(store, "shape.npz", frames=np.zeros((5, 8, 8, 3), np.uint8))
    _write_raw(store, "dtype.npz", frames=np.zeros((5, 16, 16, 3), np.float32))
    _write_raw(store, "actions.npz", actions=np.array([0, 1, 7, 0]))
    _write_raw(store, "rewards.npz", rewards=np.zeros(3, np.float32))
    _write_raw(store, "text.npz", text_frames=np.array([0, 1, 9]))
    _write_raw(store, "env.npz", env=np.asarray("Other-v0"))
    found = {(p.path.name, p.kind): p.message for p in validate(store)}
    assert found.keys() == {("shape.npz", "frames"), ("dtype.npz", "frames"),
                            ("actions.npz", "actions"), ("rewards.npz", "rewards"),
                            ("text.npz", "text"), ("env.npz", "env")}
    assert "(8, 8, 3) != store's (16, 16, 3)" in found["shape.npz", "frames"]
    assert "float32" in found["dtype.npz", "frames"]
    assert "outside the Discrete space" in found["actions.npz", "actions"]
    assert "[9]" in found["text.npz", "text"]


def test_temp_files_are_hidden_reported_and_cleaned_when_stale(fakes, tmp_path):
    store = EpisodeStore.create(tmp_path, fakes.meta())
    store.write(make_episode(2))
    host = store_mod._host()
    dead = tmp_path / EPISODE_DIR / f".tmp-{host}-999999999-abc"  # no such pid
    live = tmp_path / EPISODE_DIR / f".tmp-{host}-{os.getpid()}-def"
    dead.write_bytes(b"partial")
    live.write_bytes(b"in progress")
    assert len(store) == 1
    problems = validate(store)
    assert sorted(p.path.name for p in problems if p.kind == "temp-file") == sorted([dead.name, live.name])
    fix(store, problems)
    assert not dead.exists() and live.exists()  # a live writer's temp file is left alone
    dead.write_bytes(b"partial")
    EpisodeStore.create(tmp_path, fakes.meta())  # appending cleans stale temp files too
    assert not dead.exists() and live.exists()


def test_fix_moves_bad_episodes_aside(fakes, tmp_path):
    store = EpisodeStore.create(tmp_path, fakes.meta())
    store.write(make_episode(2))
    bad = store.write(make_episode(3))
    bad.write_bytes(b"garbage")
    done = fix(store, validate(store))
    assert len(done) == 1 and (tmp_path / "rejected" / bad.name).exists()
    assert validate(store) == [] and len(store) == 1


def test_fix_never_empties_a_store_when_dataset_json_is_the_suspect(fakes, tmp_path, capsys):
    store = EpisodeStore.create(tmp_path, fakes.meta())
    paths = [store.write(make_episode(n)) for n in (6, 7, 8, 9)]
    meta = json.loads((tmp_path / "dataset.json").read_text())
    meta["action_space"]["n"] = 2                            # an action count edited by one
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    store = EpisodeStore.open(tmp_path)
    problems = validate(store)
    assert {p.field for p in problems} == {"action_space"} and len({p.path for p in problems}) == 4
    assert metadata_suspects(store, problems)[0].startswith(
        "dataset.json's action_space disagrees with 4 of 4")
    with pytest.raises(StoreError, match="nothing was moved"):
        fix(store, problems)
    capsys.readouterr()
    assert main(["data", "validate", str(tmp_path)]) == 1
    assert "dataset.json is the suspect" in " ".join(capsys.readouterr().out.split())
    assert main(["data", "validate", str(tmp_path), "--fix"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "action_space disagrees with 4 of 4 episodes" in err and "nothing was moved" in err
    assert store.episode_paths() == paths and not (tmp_path / "rejected").exists()


def test_fix_still_moves_a_minority_that_disagrees(fakes, tmp_path):
    store = EpisodeStore.create(tmp_path, fakes.meta())
    for n in (2, 3, 4):
        store.write(make_episode(n))
    _write_raw(store, "wide.npz", frames=np.zeros((5, 8, 8, 3), np.uint8))   # 1 of 4 disagrees
    problems = validate(store)
    assert metadata_suspects(store, problems) == []
    fix(store, problems)
    assert (tmp_path / "rejected" / "wide.npz").exists() and len(store) == 3


def test_fix_never_overwrites_a_rejected_file(fakes, tmp_path):
    store = EpisodeStore.create(tmp_path, fakes.meta())
    for n in (2, 3, 4):
        store.write(make_episode(n))
    (tmp_path / "rejected").mkdir()
    (tmp_path / "rejected" / "bad.npz").write_bytes(b"rejected before")
    for expected in ("bad.1.npz", "bad.2.npz"):
        (tmp_path / EPISODE_DIR / "bad.npz").write_bytes(b"garbage " + expected.encode())
        assert fix(store, validate(store)) == [f"moved bad.npz to {tmp_path / 'rejected' / expected}"]
    assert (tmp_path / "rejected" / "bad.npz").read_bytes() == b"rejected before"
    assert (tmp_path / "rejected" / "bad.2.npz").read_bytes() == b"garbage bad.2.npz"
    assert validate(store) == [] and len(store) == 3


def test_corrupted_dataset_json(fakes, tmp_path):
    EpisodeStore.create(tmp_path, fakes.meta())
    (tmp_path / "dataset.json").write_text("{not json")
    with pytest.raises(StoreError, match="corrupted"):
        EpisodeStore.open(tmp_path)
    meta = fakes.meta().to_json() | {"format_version": 99}
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="version 99"):
        EpisodeStore.open(tmp_path)


def test_extras_must_be_plain_arrays(fakes, tmp_path):
    store = EpisodeStore.create(tmp_path, fakes.meta())
    with pytest.raises(TypeError, match="extras\\['cfg'\\] must be numbers, bools or strings"):
        store.write(make_episode(2, extras={"cfg": {"a": 1}}))
    assert len(store) == 0 and store.temp_files() == []

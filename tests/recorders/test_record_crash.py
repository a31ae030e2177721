"""A recording killed with SIGKILL keeps every finished episode, intact, and can be appended to."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tv2tv.recorders import record
from tv2tv.recorders.store import EpisodeStore
from tv2tv.recorders.validate import fix, validate

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")


def start_recording(out: Path) -> subprocess.Popen:
    """A long ``tv2tv record`` in its own process group (parent and both workers)."""
    argv = ["record", "ALE/Pong-v5", "--steps", "1000000", "--max-episode-steps", "30",
            "--frame-size", "16", "--workers", "2", "--out", str(out), "--no-progress"]
    code = f"import sys; from tv2tv.cli import main; sys.exit(main({argv!r}))"
    return subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_episodes(out: Path, n: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (out / "episodes").is_dir() and len(list((out / "episodes").glob("*.npz"))) >= n:
            return
        assert proc.poll() is None, f"recording exited early with {proc.returncode}"
        time.sleep(0.1)
    raise AssertionError(f"no {n} episodes after {timeout} s")


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def test_sigkill_keeps_finished_episodes_and_a_new_run_appends(tmp_path):
    out = tmp_path / "store"
    proc = start_recording(out)
    try:
        wait_for_episodes(out, 6, proc)
    finally:
        kill_group(proc)  # parent and workers, wherever they are: stepping or writing
    store = EpisodeStore.open(out)
    finished = len(store)
    assert finished >= 6
    for ep in store:  # every visible episode loads and is whole
        assert ep.num_steps == 30 and ep.truncated
    problems = validate(store)
    assert all(p.kind == "temp-file" for p in problems), problems  # at most a write in flight
    fix(store, problems)  # the writers are dead, so their temp files are stale
    assert validate(store) == [] and store.temp_files() == []

    s = record("ALE/Pong-v5", out, episodes=2, frame_size=16, max_episode_steps=30, workers=1,
               seed=1, progress=False)
    assert s.store_episodes == finished + 2 and validate(EpisodeStore.open(out)) == []


def test_workers_stop_when_their_parent_is_killed(tmp_path):
    out = tmp_path / "store"
    proc = start_recording(out)
    try:
        wait_for_episodes(out, 2, proc)
        os.kill(proc.pid, signal.SIGKILL)  # the parent only: its workers are orphaned
        proc.wait()
        time.sleep(3)  # a worker notices within one report interval (64 steps)
        before = len(list((out / "episodes").glob("*.npz")))
        time.sleep(2)
        assert len(list((out / "episodes").glob("*.npz"))) == before
    finally:
        kill_group(proc)

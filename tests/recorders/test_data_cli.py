"""``tv2tv record`` and ``tv2tv data ...`` end to end, and the video helpers."""

from __future__ import annotations

import sys
import types

import imageio.v2 as iio
import numpy as np
import pytest

from tv2tv.cli import build_parser, main
from tv2tv.recorders import cli as recorders_cli
from tv2tv.recorders.store import EpisodeStore
from tv2tv.recorders.video import SOURCE_COLORS, render_frames, side_by_side, write_video
from tv2tv.types import TextEvent


@pytest.fixture(scope="module")
def pong_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "pong"
    argv = ["record", "ALE/Pong-v5", "--steps", "240", "--policy", "sticky", "--out", str(out),
            "--max-episode-steps", "100", "--workers", "2", "--text-every", "4", "--no-progress"]
    assert main(argv) == 0
    return out


def test_record_then_info(pong_store, capsys):
    store = EpisodeStore.open(pong_store)
    assert sum(ep.num_steps for ep in store) == 240
    assert store.meta.extra["text_every"] == 4 and store.meta.fps == 15.0
    assert main(["data", "info", str(pong_store)]) == 0
    out = capsys.readouterr().out
    assert "episodes" in out and "move paddle up" in out and "action:" in out
    assert f"{len(store)}" in out


def test_validate_detects_and_fixes(pong_store, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(pong_store, copy)
    assert main(["data", "validate", str(copy)]) == 0
    victim = EpisodeStore.open(copy).episode_paths()[0]
    victim.write_bytes(victim.read_bytes()[:100])
    capsys.readouterr()
    assert main(["data", "validate", str(copy)]) == 1
    assert victim.name in capsys.readouterr().out
    assert main(["data", "validate", str(copy), "--fix"]) == 1
    assert (copy / "rejected" / victim.name).exists()
    assert main(["data", "validate", str(copy)]) == 0


def test_video_has_one_frame_per_episode_frame(pong_store, tmp_path):
    video = tmp_path / "ep.mp4"
    assert main(["data", "video", str(pong_store), "--episode", "1", "--out", str(video)]) == 0
    ep = EpisodeStore.open(pong_store).load(1)
    reader = iio.get_reader(video)
    assert reader.count_frames() == ep.num_steps + 1
    assert reader.get_meta_data()["fps"] == 15.0
    first = reader.get_data(0)
    assert first.shape[:2][1] == 64 * 4 and first.shape[0] > 64 * 4  # frame plus caption band


def test_cli_errors_exit_2(pong_store, tmp_path, capsys):
    assert main(["record", "ALE/Pong-v5", "--steps", "10", "--out", str(pong_store),
                 "--frame-size", "32", "--no-progress"]) == 2
    assert "frame_shape" in capsys.readouterr().err
    assert main(["data", "info", str(tmp_path / "nothing")]) == 2
    capsys.readouterr()
    assert main(["data", "video", str(pong_store), "--episode", "99", "--out", str(tmp_path / "x.mp4")]) == 2
    assert "--episode must be in 0..3" in capsys.readouterr().err


def test_data_group_loads_extra_command_modules(monkeypatch):
    mod = types.ModuleType("fake_importer")
    mod.register_data = lambda sub: sub.add_parser("import-fake").set_defaults(func=lambda a: 7)
    monkeypatch.setitem(sys.modules, "fake_importer", mod)
    monkeypatch.setattr(recorders_cli, "DATA_COMMAND_MODULES", ("fake_importer",))
    args = build_parser().parse_args(["data", "import-fake"])
    assert args.func(args) == 7
    # a listed module that is missing is an error, not a silently absent command
    monkeypatch.setattr(recorders_cli, "DATA_COMMAND_MODULES", ("tv2tv.recorders.not_built_yet",))
    with pytest.raises(ModuleNotFoundError):
        build_parser()


def test_render_colours_text_by_source():
    frames = np.zeros((4, 8, 8, 3), np.uint8)
    events = [TextEvent(0, "move up", "action"), TextEvent(2, "JUMP NOW", "intervention")]
    video = render_frames(frames, events, scale=4)
    assert video.shape[0] == 4 and video.shape[1] % 2 == 0 and video.shape[2] == 32
    band = video[:, 32:]
    red = (band[..., 0] > 150) & (band[..., 1] < 110)
    assert not red[:2].any() and red[2:].any()  # the intervention line appears at frame 2, in red
    grey = (band[..., 0] > 150) & (np.abs(band[..., 0].astype(int) - band[..., 2]) < 20)
    assert grey[0].any() and grey[3].any()  # the action text persists
    assert SOURCE_COLORS["intervention"] != SOURCE_COLORS["action"]
    border = video[2, 0, :, :]  # a fresh intervention frames the picture in red
    assert (border[:, 0] > 200).all()


def test_write_video_and_side_by_side(tmp_path):
    a = np.full((6, 16, 16, 3), 50, np.uint8)
    b = np.full((4, 32, 32, 3), 200, np.uint8)
    both = side_by_side([a, b], ["real", "model"])
    assert both.shape == (6, 12 + 16, 16 + 2 + 16, 3)
    np.testing.assert_array_equal(both[5, 12:, 18:], 200)  # the shorter one holds its last frame
    path = write_video(tmp_path / "c.mp4", both, [TextEvent(1, "hello ünïcode")], fps=10, scale=2)
    assert iio.get_reader(path).count_frames() == 6
    with pytest.raises(ValueError, match="2 labels for 1 videos"):
        side_by_side([a], ["x", "y"])
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "d.mp4", a.astype(np.float32))
    with pytest.raises(ValueError, match="outside frames 0..5"):
        write_video(tmp_path / "d.mp4", a, [TextEvent(6, "late")])


def test_bench_record_reports_both_rates(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "record", "ALE/Pong-v5", "--steps", "120", "--rounds", "1",
                 "--frame-size", "16", "--json", str(out)]) == 0
    import json

    r = json.loads(out.read_text())
    assert r["bare_steps_per_s"] > 0 and r["record_steps_per_s"] > 0 and r["steps"] == 120
    assert r["episodes_written"] == 1  # the episode cut by the budget is written too
    assert "overhead" in capsys.readouterr().out

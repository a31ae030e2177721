"""MineRL importer: v0.4 and VPT fixtures written here, exact import, all-or-nothing errors."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest

from tv2tv.recorders.minerl_import import VPT_CAMERA_SCALE, import_minerl
from tv2tv.recorders.store import EpisodeStore


def _video(path: Path, n: int, size: int = 64) -> None:
    frames = [np.full((size, size, 3), (i * 20) % 256, np.uint8) for i in range(n)]
    imageio.mimwrite(str(path), frames, fps=20, macro_block_size=1)


def _v04_episode(root: Path, name: str, t: int, lead: int = 2) -> dict:
    d = root / name
    d.mkdir(parents=True)
    _video(d / "recording.mp4", t + 1 + lead)  # the pipeline skips leading frames
    rng = np.random.default_rng(len(name) + t)
    data = {
        "reward": rng.integers(0, 2, t).astype(np.float32),
        "action$forward": rng.integers(0, 2, t), "action$back": np.zeros(t, np.int64),
        "action$left": np.zeros(t, np.int64), "action$right": np.zeros(t, np.int64),
        "action$jump": rng.integers(0, 2, t), "action$sneak": np.zeros(t, np.int64),
        "action$sprint": np.zeros(t, np.int64), "action$attack": rng.integers(0, 2, t),
        "action$camera": rng.uniform(-10, 10, (t, 2)).astype(np.float32),
        "action$place": np.array(["none", "dirt"] * t)[:t],
        "observation$inventory$dirt": np.arange(t + 1),
        "observation$compassAngle": rng.uniform(-180, 180, t + 1).astype(np.float32),
    }
    np.savez(d / "rendered.npz", **data)
    (d / "metadata.json").write_text(json.dumps({"true_video_frame_count": t + 1 + lead, "success": True,
                                                 "duration_steps": t,
                                                 "total_reward": float(data["reward"].sum())}))
    return data


def _vpt_line(i: int) -> dict:
    return {"mouse": {"x": 640.0, "y": 360.0, "dx": 10.0 * (i % 3), "dy": -5.0 * (i % 2), "scaledX": 0.0,
                      "scaledY": 0.0, "dwheel": 0.0, "buttons": [0] if i % 2 else [], "newButtons": []},
            "keyboard": {"keys": ["key.keyboard.w"] + (["key.keyboard.space"] if i == 2 else []),
                         "newKeys": [], "chars": ""},
            "isGuiOpen": i == 3, "hotbar": 0 if i < 4 else 2, "tick": i, "yaw": 0.0, "pitch": 0.0}


def test_import_v04_is_exact(tmp_path):
    src = tmp_path / "MineRLNavigateDense-v0"
    data = {n: _v04_episode(src, n, t) for n, t in (("ep_a", 6), ("ep_b", 9))}
    s = import_minerl(src, tmp_path / "store", frame_size=32)
    assert (s.layout, s.episodes, s.steps) == ("v04", 2, 15)
    store = EpisodeStore.open(tmp_path / "store")
    meta = store.meta
    fields = meta.extra["action_fields"]
    assert meta.env == "MineRLNavigateDense-v0" and meta.frame_shape == (32, 32, 3)
    for ep, name in zip(store, ("ep_a", "ep_b")):
        d = data[name]
        t = len(d["reward"])
        assert ep.frames.shape == (t + 1, 32, 32, 3) and ep.actions.shape == (t, len(fields))
        assert np.array_equal(ep.rewards, d["reward"])
        assert np.array_equal(ep.actions[:, fields.index("forward")], d["action$forward"])
        assert np.array_equal(ep.actions[:, fields.index("camera_yaw")], d["action$camera"][:, 1])
        places = meta.extra["item_names"]["place"]
        assert [places[int(i)] for i in ep.actions[:, fields.index("place")]] == list(d["action$place"])
        # The stored frames are the LAST t+1 video frames (leading frames skipped, as minerl does).
        assert abs(int(ep.frames[0].mean()) - 40) <= 3
        first = [e.text for e in ep.events_at(1)]
        assert "got 1 dirt" in first and any(e.source == "action" for e in ep.events_at(1))


def test_import_vpt_is_exact(tmp_path):
    src = tmp_path / "vpt"
    src.mkdir()
    n = 6
    _video(src / "player-1.mp4", n)
    (src / "player-1.jsonl").write_text("\n".join(json.dumps(_vpt_line(i)) for i in range(n)))
    s = import_minerl(src, tmp_path / "store", frame_size=16, layout="auto")
    assert (s.layout, s.episodes, s.steps) == ("vpt", 1, n - 1)
    store = EpisodeStore.open(tmp_path / "store")
    ep, fields = store.load(0), store.meta.extra["action_fields"]
    assert ep.frames.shape == (n, 16, 16, 3)
    assert ep.actions[:, fields.index("forward")].tolist() == [1] * (n - 1)
    assert ep.actions[:, fields.index("attack")].tolist() == [0, 1, 0, 1, 0]
    assert ep.actions[:, fields.index("camera_yaw")].tolist() == pytest.approx(
        [0, 10 * VPT_CAMERA_SCALE, 20 * VPT_CAMERA_SCALE, 0.0, 10 * VPT_CAMERA_SCALE])  # GUI open at 3
    assert ep.actions[4, fields.index("hotbar.3")] == 1
    texts = [(e.frame, e.text) for e in ep.text_events]
    assert texts[0] == (1, "move forward")
    assert (3, "move forward, jump, turn right 2.5 degrees") in texts


def test_truncated_mp4_fails_and_writes_nothing(tmp_path):
    src = tmp_path / "MineRLTreechop-v0"
    _v04_episode(src, "good", 5)
    _v04_episode(src, "zbad", 8)
    mp4 = src / "zbad" / "recording.mp4"
    mp4.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 3])
    with pytest.raises(ValueError, match="zbad"):
        import_minerl(src, tmp_path / "store")
    assert not (tmp_path / "store").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["MineRLTreechop-v0"]  # no temp left behind


def test_missing_rendered_npz_fails_before_anything(tmp_path):
    src = tmp_path / "MineRLTreechop-v0"
    _v04_episode(src, "a", 4)
    _v04_episode(src, "b", 4)
    (src / "b" / "rendered.npz").unlink()
    with pytest.raises(ValueError, match=r"b is missing rendered\.npz"):
        import_minerl(src, tmp_path / "store")
    assert not (tmp_path / "store").exists()


def test_count_mismatch_and_append(tmp_path):
    src = tmp_path / "vpt"
    src.mkdir()
    _video(src / "p.mp4", 5)
    (src / "p.jsonl").write_text("\n".join(json.dumps(_vpt_line(i)) for i in range(7)))
    with pytest.raises(ValueError, match="5 frames but .* 7 actions"):
        import_minerl(src, tmp_path / "store")
    (src / "p.jsonl").write_text("\n".join(json.dumps(_vpt_line(i)) for i in range(5)))
    import_minerl(src, tmp_path / "store")
    import_minerl(src, tmp_path / "store")  # same settings: appends
    assert len(EpisodeStore.open(tmp_path / "store")) == 2

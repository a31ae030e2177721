"""Every bad input to the command line is one line naming the problem, exit code 2, no traceback,
and no file changed that the command did not own (issue 13, "Nothing runs, nothing is lost").

Each case runs ``tv2tv.cli.main`` in-process on a workspace holding a tiny synthetic store, a
random-weight run exported for it and a regular file; the workspace is snapshot before and after.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from tv2tv.cli import main
from tv2tv.recorders.store import EpisodeStore
from tv2tv.world_model.synthetic import export_random_run, write_synthetic_store

RUN_OVERRIDES = ["model.dim=32", "model.depth=1", "model.heads=2", "sequence.frames_per_chunk=2",
                 "sequence.patch=8"]
TRAIN = ["train", "--preset", "tiny", "--accelerator", "cpu", "--no-progress", "--max-steps", "1",
         "model.dim=32", "model.depth=1", "model.heads=2", "sequence.patch=8"]
LONG_NAME = "n" * 300


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A 3-episode 16x16 store, a store of another game, and a random run exported for the first."""
    root = tmp_path_factory.mktemp("bad_inputs")
    store = write_synthetic_store(root / "store", n=3, steps=10, size=16, seed=0)
    other = write_synthetic_store(root / "other", n=2, steps=10, size=16, seed=1, env="ALE/Breakout-v5")
    run = export_random_run(EpisodeStore.open(store).meta, root / "run",
                            [*RUN_OVERRIDES, f"data.path={store}"])
    return SimpleNamespace(store=store, other=other, run=run)


@pytest.fixture
def ws(originals: SimpleNamespace, tmp_path: Path) -> SimpleNamespace:
    """A fresh workspace: copies of the store, the other-game store and the run, and ``afile``."""
    for name in ("store", "other", "run"):
        shutil.copytree(getattr(originals, name), tmp_path / name)
    (tmp_path / "afile").write_text("a regular file")
    return SimpleNamespace(root=tmp_path, store=tmp_path / "store", other=tmp_path / "other",
                           run=tmp_path / "run", afile=tmp_path / "afile")


def _edit_json(path: Path, edit: Callable[[object], object]) -> None:
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


def _list_meta(ws: SimpleNamespace) -> None:
    _edit_json(ws.store / "dataset.json", lambda d: [d])


def _string_action_space(ws: SimpleNamespace) -> None:
    _edit_json(ws.store / "dataset.json", lambda d: {**d, "action_space": "Discrete(3)"})


def _random_weights(ws: SimpleNamespace) -> None:
    (ws.run / "model.safetensors").write_bytes(os.urandom(4096))


def _variant_over_weights(ws: SimpleNamespace) -> None:
    """config.json says no-text over the text model's weights (same shapes)."""
    _edit_json(ws.run / "config.json", lambda d: {**d, "config": {**d["config"], "variant": "no-text"}})


def _generate(ws: SimpleNamespace, *extra: str, context: str | None = None) -> list[str]:
    return ["generate", "--ckpt", str(ws.run), "--context", context or f"{ws.store}:0:4", "--frames", "2",
            "--ode-steps", "1", "--out", str(ws.root / "g.mp4"), *extra]


# (id, setup that breaks an input (or None), argv, substring of the one-line error)
CASES: list[tuple[str, Callable[[SimpleNamespace], None] | None,
                  Callable[[SimpleNamespace], list[str]], str]] = [
    ("record-frame-size", None,
     lambda w: ["record", "ALE/Pong-v5", "--steps", "4", "--frame-size", "100000",
                "--out", str(w.root / "r")],
     "frame_size must be an int in 8..1024, got 100000"),
    ("record-out-below-file", None,
     lambda w: ["record", "ALE/Pong-v5", "--steps", "4", "--out", str(w.afile / "store")],
     "is a file, not a directory"),
    ("record-long-name", None,
     lambda w: ["record", "ALE/Pong-v5", "--steps", "4", "--out", str(w.root / LONG_NAME)],
     "file name too long"),
    ("record-unknown-env", None,
     lambda w: ["record", "Zzzzzzzz", "--steps", "4", "--out", str(w.root / "r")],
     "unknown env 'Zzzzzzzz'; run `tv2tv envs` to list them"),
    ("video-scale", None,
     lambda w: ["data", "video", str(w.store), "--scale", "1000", "--out", str(w.root / "v.mp4")],
     "a video side is at most 4096"),
    ("video-long-name", None,
     lambda w: ["data", "video", str(w.store), "--out", str(w.root / f"{LONG_NAME}.mp4")],
     "file name too long"),
    ("video-out-below-file", None,
     lambda w: ["data", "video", str(w.store), "--out", str(w.afile / "v.mp4")],
     "is a file, not a directory"),
    ("meta-is-a-list", _list_meta, lambda w: ["data", "info", str(w.store)],
     "dataset.json must hold a JSON object, got a list"),
    ("meta-string-action-space", _string_action_space, lambda w: ["data", "info", str(w.store)],
     "field 'action_space' must be an object, got str"),
    ("train-on-string-action-space", _string_action_space,
     lambda w: [*TRAIN, "--data", str(w.store), "--out", str(w.root / "t")],
     "field 'action_space' must be an object, got str"),
    ("train-workers", None,
     lambda w: [*TRAIN, "--data", str(w.store), "--out", str(w.root / "t"), "--workers", "-1"],
     "data.num_workers must be >= 0, got -1"),
    ("train-max-minutes", None,
     lambda w: [*TRAIN, "--data", str(w.store), "--out", str(w.root / "t"), "--max-minutes", "-1"],
     "max_minutes must be a number of minutes > 0"),
    ("train-lr-nan", None,
     lambda w: [*TRAIN, "optim.lr=nan", "--data", str(w.store), "--out", str(w.root / "t")],
     "optim.lr must be a finite number > 0, got nan"),
    ("train-precision", None,
     lambda w: [*TRAIN, "--data", str(w.store), "--out", str(w.root / "t"), "--precision", "bogus"],
     "precision must be one of"),
    ("train-out-below-file", None,
     lambda w: [*TRAIN, "--data", str(w.store), "--out", str(w.afile / "run")],
     "is a file, not a directory"),
    ("train-long-name", None,
     lambda w: [*TRAIN, "--data", str(w.store), "--out", str(w.root / LONG_NAME)],
     "file name too long"),
    ("generate-long-text", None,
     lambda w: _generate(w, "--interventions", "0: " + "a" * 200_000),
     "text too long"),
    ("generate-random-weights", _random_weights, lambda w: _generate(w),
     "is not a readable model.safetensors"),
    ("generate-variant-over-weights", _variant_over_weights, lambda w: _generate(w),
     "variant differs: config.json says 'no-text', model.safetensors holds a 'text' model"),
    ("generate-other-game", None, lambda w: _generate(w, context=f"{w.other}:0:4"),
     "env: the model was trained on 'synthetic', the data is 'ALE/Breakout-v5'"),
    ("generate-long-name", None,
     lambda w: [*_generate(w)[:-1], str(w.root / f"{LONG_NAME}.mp4")],
     "file name too long"),
    ("fidelity-other-game", None,
     lambda w: ["bench", "fidelity", "--ckpt", str(w.run), "--data", str(w.other), "--windows", "1"],
     "does not fit the model"),
    ("envs-unknown-family", None, lambda w: ["envs", "--family", "nes"], "unknown env family 'nes'"),
]


@pytest.mark.parametrize("setup, argv, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(ws: SimpleNamespace, setup, argv, message: str,
                                                          capsys: pytest.CaptureFixture[str],
                                                          tree_snapshot) -> None:
    if setup is not None:
        setup(ws)
    args = argv(ws)
    before = tree_snapshot(ws.root)
    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 2, (args[:3], err[-2000:])
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err[-2000:]
    assert message in errors[0], errors[0]
    assert tree_snapshot(ws.root) == before


def test_unknown_intervention_phrases_warn_with_the_closest(ws: SimpleNamespace) -> None:
    """Not an error (the model reads any text), but a typo is named with the texter's phrases."""
    with pytest.warns(UserWarning, match=r"'move upp' at frame 0 is not a phrase of the game's texter; "
                                         r"closest: 'move up'"):
        assert main(_generate(ws, "--interventions", "0: move upp; 1: move down")) == 0


def test_envs_lists_the_supported_games(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    assert "atari (104)" in out and "ALE/Pong-v5" in out and "ALE/Breakout-v5" in out

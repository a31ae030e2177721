"""A checkpoint file never runs code: every loader and every ``--ckpt`` command refuses a
``.ckpt`` whose pickle asks for a callable, before the callable can run."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import torch

from tv2tv.apps.quickstart_stages import run_info
from tv2tv.cli import main
from tv2tv.recorders import EpisodeStore
from tv2tv.world_model.checkpoint import load_checkpoint, load_world_model, read_weights
from tv2tv.world_model.synthetic import export_random_run
from tv2tv.world_model.train import CKPT_DIR, LAST_CKPT, load_run_config, train


class _Payload:
    """Unpickles as ``os.system("touch MARKER")``: what a crafted checkpoint would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204 - pickle protocol
        return (os.system, (f"touch {self.marker}",))


def _crafted(path: Path, marker: Path) -> Path:
    """A file shaped like a Lightning checkpoint, with the payload inside its hyper-parameters."""
    torch.save({"state_dict": {}, "global_step": 3, "hyper_parameters": {"cfg": _Payload(marker)}}, path)
    return path


@pytest.fixture
def crafted(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "pwned"
    return _crafted(tmp_path / "evil.ckpt", marker), marker


def test_the_payload_really_runs_under_a_plain_unpickle(crafted: tuple[Path, Path]) -> None:
    """The test's file is dangerous: loading it the unsafe way does run the command."""
    path, marker = crafted
    torch.load(path, weights_only=False)   # the test's own file: it only touches tmp_path/pwned
    assert marker.exists()


@pytest.mark.parametrize("loader", [load_checkpoint, lambda p: read_weights(p),
                                    lambda p: load_world_model(p)])
def test_loaders_refuse_a_crafted_checkpoint(crafted: tuple[Path, Path], loader) -> None:  # noqa: ANN001
    path, marker = crafted
    with pytest.raises(ValueError, match="not a plain tv2tv checkpoint"):
        loader(path)
    assert not marker.exists()


def test_a_truncated_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(64)}}, path)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ValueError, match="cut.ckpt"):
        load_checkpoint(path)


def test_run_info_and_resume_refuse_a_crafted_last_ckpt(tmp_path: Path, synthetic_store: Path,
                                                        make_cfg) -> None:  # noqa: ANN001
    """A run directory someone handed over: the quickstart's summary and ``--resume`` read its
    ``last.ckpt``; neither may run it."""
    marker = tmp_path / "pwned"
    cfg = make_cfg(synthetic_store, "max_steps=2", "val_every_steps=1")
    run = train(cfg, tmp_path / "run")
    _crafted(run / CKPT_DIR / LAST_CKPT, marker)
    with pytest.raises(ValueError, match="not a plain tv2tv checkpoint"):
        run_info(run)
    with pytest.raises(ValueError, match="not a plain tv2tv checkpoint"):
        train(load_run_config(run), run, resume=True)
    assert not marker.exists()


def test_a_real_checkpoint_still_loads_and_resumes(tmp_path: Path, synthetic_store: Path,
                                                   make_cfg) -> None:  # noqa: ANN001
    cfg = make_cfg(synthetic_store, "max_steps=2", "val_every_steps=1")
    run = train(cfg, tmp_path / "run")
    assert load_checkpoint(run / CKPT_DIR / LAST_CKPT)["global_step"] == 2
    assert run_info(run)["steps"] == 2
    state, _ = read_weights(run / CKPT_DIR / LAST_CKPT)
    assert state


def test_every_ckpt_command_refuses_a_crafted_checkpoint(tmp_path: Path, synthetic_store: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "pwned"
    evil = _crafted(tmp_path / "evil.ckpt", marker)
    # a run directory whose files are fine except a crafted .ckpt given by path
    run = export_random_run(EpisodeStore.open(synthetic_store).meta, tmp_path / "run",
                            ["model.dim=32", "model.depth=1", "model.heads=2",
                             f"data.path={synthetic_store}"])
    shutil.copy(evil, run / "evil.ckpt")
    commands = [
        ["generate", "--ckpt", str(evil), "--context", f"{synthetic_store}:0:4", "--frames", "2",
         "--out", str(tmp_path / "g.mp4")],
        ["play", "--ckpt", str(run / "evil.ckpt")],
        ["plan", "--ckpt", str(evil), "--env", "ALE/Pong-v5", "--planner", "model", "--episodes", "1",
         "--out", str(tmp_path / "plan")],
        ["bench", "fidelity", "--ckpt", str(evil), "--data", str(synthetic_store)],
        ["bench", "rollout", "--ckpt", str(evil)],
        ["bench", "plan", "--ckpt", str(evil)],
        ["bench", "controllability", "--ckpt", str(evil), "--env", "ALE/Pong-v5",
         "--out", str(tmp_path / "c")],
    ]
    for argv in commands:
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        assert "Traceback" not in err, argv
        assert not marker.exists(), argv
        # commands that take run directories only say so; the others read the file safely
        assert re.search(r"not a plain tv2tv checkpoint|not a run directory|neither a run directory",
                         " ".join(err.split())), (argv, err)

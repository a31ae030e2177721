"""Generic configs: defaults <- preset <- overrides, type conversion, errors, round trip."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tv2tv.config import build_config, load_config, preset_names, replace_config, save_config
from tv2tv.world_model.config import TrainConfig


@dataclass
class Inner:
    depth: int = 4
    rate: float = 0.5
    mode: str = "a"
    flag: bool = False
    pair: tuple[float, float] = (0.9, 0.95)
    limit: int | None = None


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    name: str = "x"


def test_precedence_defaults_preset_overrides(tmp_path: Path) -> None:
    preset = tmp_path / "p.yaml"
    preset.write_text("inner:\n  depth: 6\n  rate: 0.25\nname: y\n")
    cfg = build_config(Outer, preset, ["inner.rate=0.125", "inner.flag=true", "inner.pair=[0.8, 0.99]",
                                       "inner.limit=7"])
    assert cfg == Outer(Inner(depth=6, rate=0.125, flag=True, pair=(0.8, 0.99), limit=7), name="y")
    assert build_config(Outer, preset, ["inner.limit=none"]).inner.limit is None
    assert build_config(Outer, None, [], name="z").name == "z"


@pytest.mark.parametrize("override, match", [
    ("inner.depht=3", r"unknown config key.*inner\.depht"),
    ("nope=1", "unknown config key"),
    ("inner.depth=deep", "inner.depth must be an integer"),
    ("inner.flag=maybe", "inner.flag must be true or false"),
    ("inner.pair=[1]", "inner.pair must have 2 items"),
    ("inner", "must look like key.sub=value"),
])
def test_bad_overrides_name_the_key(override: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_config(Outer, None, [override])


def test_save_load_round_trip(tmp_path: Path) -> None:
    cfg = replace_config(Outer(), ["inner.depth=2", "inner.pair=[0.1, 0.2]"])
    for name in ("c.yaml", "c.json"):
        save_config(cfg, tmp_path / name)
        assert load_config(Outer, tmp_path / name) == cfg


def test_shipped_presets_build() -> None:
    assert {"tiny", "small", "base"} <= set(preset_names())
    dims = [build_config(TrainConfig, name).model.dim for name in ("tiny", "small", "base")]
    assert dims == sorted(dims) and len(set(dims)) == 3
    tiny = build_config(TrainConfig, "tiny", ["model.depth=6"])
    assert tiny.model.depth == 6
    tiny.validate()
    with pytest.raises(ValueError, match="unknown preset"):
        build_config(TrainConfig, "huge")


def test_train_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="window_frames"):
        build_config(TrainConfig, None,
                     ["sequence.window_frames=5", "sequence.frames_per_chunk=2"]).validate()
    with pytest.raises(ValueError, match="variant must be one of"):
        build_config(TrainConfig, None, ["variant=video"])

"""Dataclass configs: defaults, then a YAML preset, then dotted command-line overrides.

Any (nested) dataclass is a config. ``build_config`` merges, in order of precedence, the
dataclass defaults, a YAML preset (a file path or the name of a preset in ``configs/``) and
``key.sub=value`` overrides, converting each value to the field's annotated type. An unknown
key or a value of the wrong type is a ``ValueError`` that names it. The merged config is
written with ``save_config`` and read back with ``load_config``.

Example:
    >>> from tv2tv.world_model.config import TrainConfig
    >>> cfg = build_config(TrainConfig, "tiny", ["model.depth=6", "optim.lr=3e-4"])
    >>> cfg.model.depth, cfg.optim.lr, cfg.model.dim
    (6, 0.0003, 128)
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import os
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
PRESET_PACKAGE = "tv2tv.configs"
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an ``int`` (numpy integers too, never a bool) if it is ``>= minimum``.

    Raises:
        ValueError: naming ``name`` and ``value``, e.g. ``text_every must be an int >= 1, got 0``.

    Example:
        >>> check_int("frameskip", 4, 1)
        4
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def preset_names() -> list[str]:
    """Names of the YAML presets shipped in ``configs/``."""
    root = resources.files(PRESET_PACKAGE)
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def load_yaml_preset(name_or_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The mapping in a preset: a ``.yaml`` file path, or a preset name such as ``"tiny"``."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        text = path.read_text()
    else:
        names = preset_names()
        if str(name_or_path) not in names:
            raise ValueError(f"unknown preset {str(name_or_path)!r}; choose one of {names} or a .yaml path")
        text = (resources.files(PRESET_PACKAGE) / f"{name_or_path}.yaml").read_text()
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"preset {name_or_path} must hold a mapping, got {type(data).__name__}")
    return data


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain dict (lists for tuples) of a dataclass config, ready for YAML or JSON."""
    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(dataclasses.asdict(cfg))


def _convert(value: Any, tp: Any, key: str) -> Any:
    """``value`` as type ``tp`` (int, float, bool, str, Optional, Literal, tuple, list, dict)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, key)
            except (ValueError, TypeError) as exc:
                errors.append(str(exc))
        raise ValueError(f"{key}: cannot use {value!r} as {tp}: {'; '.join(errors)}")
    if origin is typing.Literal:
        for a in args:
            if value == a or str(value) == str(a):
                return a
        raise ValueError(f"{key} must be one of {list(args)}, got {value!r}")
    if origin in (tuple, list):
        if isinstance(value, str):
            value = yaml.safe_load(value if value.strip().startswith("[") else f"[{value}]")
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{key} must be a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ValueError(f"{key} must have {len(args)} items, got {value!r}")
            return tuple(_convert(v, a, key) for v, a in zip(value, args))
        item = args[0] if args else Any
        return origin(_convert(v, item, key) for v in value)
    if origin is dict or tp is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, dict):
            raise ValueError(f"{key} must be a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ValueError(f"{key} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ValueError(f"{key} must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value))
        except ValueError:
            raise ValueError(f"{key} must be an integer, got {value!r}") from None
    if tp is float:
        if isinstance(value, bool):
            raise ValueError(f"{key} must be a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{key} must be a number, got {value!r}") from None
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ValueError(f"{key} must be a string, got {value!r}")
        return str(value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ValueError(f"{key} must be a mapping of {tp.__name__} fields, got {value!r}")
        return from_dict(tp, value, prefix=f"{key}.")
    raise TypeError(f"{key}: unsupported config field type {tp}")


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from a (nested) mapping; unknown keys are a ``ValueError``."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(
            f"unknown config key(s) {[prefix + k for k in unknown]}; "
            f"valid keys here: {[prefix + k for k in fields]}"
        )
    kwargs = {k: _convert(v, hints[k], prefix + k) for k, v in data.items()}
    return cls(**kwargs)


def merge_dict(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated recursively with ``update`` (neither is modified)."""
    out = dict(base)
    for k, v in update.items():
        out[k] = merge_dict(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["model.depth=6", "lr=3e-4"]`` as a nested dict of YAML-parsed values."""
    out: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} must look like key.sub=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r} conflicts with another override of {p!r}")
        node[parts[-1]] = value
    return out


def build_config(cls: type[T], preset: str | os.PathLike[str] | None = None,
                 overrides: list[str] | None = None, **top: Any) -> T:
    """Dataclass defaults <- YAML preset <- ``key=value`` overrides <- keyword arguments.

    Args:
        cls: the root config dataclass.
        preset: a preset name from ``configs/`` or a YAML path; ``None`` for defaults only.
        overrides: dotted assignments, e.g. ``["model.depth=6"]``; values are YAML-parsed and
            converted to the annotated field type.
        **top: final top-level values (e.g. from dedicated command-line flags).
    """
    data = to_dict(cls())
    if preset is not None:
        data = merge_dict(data, load_yaml_preset(preset))
    data = merge_dict(data, parse_overrides(overrides or []))
    data = merge_dict(data, {k: v for k, v in top.items() if v is not None})
    return from_dict(cls, data)


def replace_config(cfg: T, overrides: list[str]) -> T:
    """A copy of ``cfg`` with dotted overrides applied (same checks as ``build_config``)."""
    data = merge_dict(to_dict(cfg), parse_overrides(overrides))
    return from_dict(type(cfg), data)


def save_config(cfg: Any, path: str | os.PathLike[str]) -> None:
    """Write ``cfg`` as YAML (``.yaml``/``.yml``) or JSON (anything else)."""
    path = Path(path)
    data = to_dict(cfg)
    text = yaml.safe_dump(data, sort_keys=False) if path.suffix in (".yaml", ".yml") else \
        json.dumps(data, indent=2)
    path.write_text(text)


def load_config(cls: type[T], path: str | os.PathLike[str]) -> T:
    """Read a config written by ``save_config`` (YAML or JSON) back into ``cls``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping, got {type(data).__name__}")
    return from_dict(cls, data)

"""The ``SamplingConfig`` command-line flags, defined once from its fields and defaults.

Every command that rolls a world model out (``generate``, ``play``, ``plan``, ``bench plan``,
``bench fidelity``, ``bench rollout``) adds these flags, so a flag's name, help and default
(``SamplingConfig``'s own, unless the command passes another) are the same everywhere.

Example:
    >>> p = argparse.ArgumentParser()
    >>> add_sampling_args(p, ode_steps=4)
    >>> s = sampling_from_args(p.parse_args(["--top-p", "0.5", "--no-cache"]))
    >>> s.top_p, s.ode_steps, s.use_cache, s.max_text_tokens
    (0.5, 4, False, 48)
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from typing import Any

from tv2tv.world_model.flow import METHODS
from tv2tv.world_model.rollout_model import SamplingConfig

# Field -> help, in the order the flags are listed. ``use_cache`` is ``--no-cache``.
FLAG_HELP = {
    "temperature": "text sampling temperature (0: greedy)",
    "top_p": "nucleus sampling mass",
    "max_text_tokens": "ids (bytes or words) the model may write before a chunk",
    "ode_steps": "flow ODE steps per chunk",
    "method": "flow ODE integrator",
    "cfg_scale": "classifier-free guidance on text (1: off)",
    "use_cache": "re-run the whole sequence each step (reference)",
}


def add_sampling_args(p: argparse.ArgumentParser, names: Sequence[str] = tuple(FLAG_HELP),
                      **defaults: Any) -> None:
    """Add the flags of the ``SamplingConfig`` fields ``names`` to ``p``.

    Args:
        p: the command's parser.
        names: which fields get a flag (default: all in ``FLAG_HELP``).
        **defaults: a command's own defaults (e.g. ``ode_steps=4``); the rest are ``SamplingConfig``'s.

    Raises:
        ValueError: a name that is not a flag of ``FLAG_HELP``.
    """
    unknown = sorted(set(names) - set(FLAG_HELP)) + sorted(set(defaults) - set(names))
    if unknown:
        raise ValueError(f"no sampling flag for {unknown}; choose from {list(FLAG_HELP)}")
    base = SamplingConfig(**defaults)
    for name in names:
        value, help_ = getattr(base, name), FLAG_HELP[name]
        if name == "use_cache":
            p.add_argument("--no-cache", dest="use_cache", action="store_false", default=value, help=help_)
        elif name == "method":
            p.add_argument("--method", choices=METHODS, default=value, help=f"{help_} (default {value})")
        else:
            p.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value,
                           help=f"{help_} (default {value})")


def sampling_from_args(args: argparse.Namespace, **fixed: Any) -> SamplingConfig:
    """The ``SamplingConfig`` of the parsed flags (fields without a flag keep their defaults);
    ``fixed`` sets fields the command decides itself."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(SamplingConfig)
             if hasattr(args, f.name)}
    return SamplingConfig(**{**given, **fixed})

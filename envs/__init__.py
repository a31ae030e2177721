"""tv2tv.envs: games as gymnasium envs, each with a texter that writes what happens."""

from tv2tv.envs.registry import get_texter, known_env_names, make_env
from tv2tv.envs.texter import Texter

__all__ = ["Texter", "get_texter", "known_env_names", "make_env"]

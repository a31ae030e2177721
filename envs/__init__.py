"""tv2tv.envs: games as gymnasium envs, each with a texter that writes what happens."""

from tv2tv.envs.registry import clone_state, get_texter, known_env_names, make_env, restore_state
from tv2tv.envs.texter import Texter

__all__ = ["Texter", "clone_state", "get_texter", "known_env_names", "make_env", "restore_state"]

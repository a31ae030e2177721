"""tv2tv: game world models that think in words, then act in pixels.

Importing ``tv2tv`` registers ``tv2tv/WorldModel-v0`` with gymnasium, as ``import ale_py`` does
for ALE. The entry point is a string, so nothing heavy (torch, Lightning, the model) loads until
``gymnasium.make`` builds the env::

    import gymnasium, tv2tv
    env = gymnasium.make("tv2tv/WorldModel-v0", checkpoint="runs/pong-tiny")
"""

from __future__ import annotations

__version__ = "0.1.0"

WORLD_MODEL_ENV_ID = "tv2tv/WorldModel-v0"
WORLD_MODEL_ENV_ENTRY_POINT = "tv2tv.planners.world_model_env:WorldModelEnv"


def register_envs() -> None:
    """Register tv2tv's gymnasium envs; safe to call again (an id already registered is kept).

    Example:
        >>> import gymnasium, tv2tv
        >>> tv2tv.register_envs()
        >>> "tv2tv/WorldModel-v0" in gymnasium.registry
        True
    """
    import gymnasium  # numpy-only import; gymnasium is a core dependency

    # gymnasium warns when an id is registered twice (planners/__init__.py calls this again).
    if WORLD_MODEL_ENV_ID not in gymnasium.registry:
        gymnasium.register(id=WORLD_MODEL_ENV_ID, entry_point=WORLD_MODEL_ENV_ENTRY_POINT)


register_envs()

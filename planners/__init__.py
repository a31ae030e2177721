"""tv2tv.planners: text planners and ``WorldModelEnv``, the world model as a gymnasium env.

Importing this package registers ``tv2tv/WorldModel-v0`` with gymnasium::

    import gymnasium, tv2tv.planners
    env = gymnasium.make("tv2tv/WorldModel-v0", checkpoint="runs/pong-tiny")
"""

import gymnasium

WORLD_MODEL_ENV_ID = "tv2tv/WorldModel-v0"

if WORLD_MODEL_ENV_ID not in gymnasium.registry:
    gymnasium.register(id=WORLD_MODEL_ENV_ID, entry_point="tv2tv.planners.world_model_env:WorldModelEnv")

"""tv2tv.planners: text planners and ``WorldModelEnv``, the world model as a gymnasium env.

``import tv2tv`` registers ``tv2tv/WorldModel-v0`` with gymnasium (``tv2tv.register_envs``)::

    import gymnasium, tv2tv
    env = gymnasium.make("tv2tv/WorldModel-v0", checkpoint="runs/pong-tiny")
"""

from tv2tv import WORLD_MODEL_ENV_ID, register_envs  # noqa: F401  (re-exported)

register_envs()  # done by `import tv2tv` already; a no-op kept for this module's contract

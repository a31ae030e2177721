"""``texter_for(meta)``: the texter that wrote a store's text, rebuilt from its ``dataset.json``,
for rollouts that turn a model's words back into actions (``planners.world_model_env``) and for
checking intervention phrases (``world_model.generate_cli``).

Example:
    >>> texter_for(meta).action_phrases()[:2]          # doctest: +SKIP
    ['do nothing', 'fire']
"""

from __future__ import annotations

from typing import Any

from tv2tv.recorders.store import DatasetMeta


def texter_for(meta: DatasetMeta) -> Any:
    """The texter that wrote a store's text (rebuilt from ``dataset.json``)."""
    if meta.texter == "synthetic":
        from tv2tv.world_model.synthetic import SyntheticTexter

        return SyntheticTexter()
    if meta.texter in ("atari", "crafter"):  # the game rebuilt as recorded
        from tv2tv.envs.registry import get_texter
        from tv2tv.recorders.record import env_for

        env = env_for(meta)
        try:
            return get_texter(env)
        finally:
            env.close()
    if meta.texter == "csgo":  # imported recordings (recorders/csgo_import.py): no game to build
        from tv2tv.envs.csgo_texter import CSGOTexter

        return CSGOTexter(text_every=int(meta.extra.get("text_every", 8)))
    raise ValueError(f"no texter {meta.texter!r} for action_mode='action' (store env {meta.env!r}); "
                     f"use action_mode='text'")

"""``ScriptedPlanner``: a fixed text script, played against the real game.

The script is an intervention script (``world_model.interventions.parse_script``: ``"0: move
paddle up; 30: move paddle down"``, a YAML/JSON list or a file) whose frames count real env
steps from the start of the episode. Each phrase must be one of the game's action phrases,
checked against the texter on the first ``plan`` call so that a typo fails before the game runs.

Example:
    >>> planner = ScriptedPlanner("0: move paddle up; 8: move paddle down")
    >>> [e.text for e in planner.events]
    ['move paddle up', 'move paddle down']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from tv2tv.config import check_int
from tv2tv.planners.base import PlanContext, shift_plan
from tv2tv.types import TextEvent
from tv2tv.world_model.interventions import parse_script


class ScriptedPlanner:
    """Plays a fixed script; optionally ``loop``s it with period ``period`` steps.

    Args:
        script: an intervention script (string, list or file path).
        replan_every: real steps between ``plan`` calls (the script is fixed, so this only
            sets how often the act loop asks).
        period: repeat the script every this many steps (``None``: play it once, then the
            last phrase holds).
    """

    def __init__(self, script: str | os.PathLike[str] | Sequence[Any], replan_every: int = 8,
                 period: int | None = None) -> None:
        events = parse_script(script)
        if not events:
            raise ValueError(f"the script {script!r} has no entries")
        self.events = [TextEvent(e.frame, e.text, "plan") for e in events]
        self.replan_every = check_int("replan_every", replan_every, 1)
        if period is not None:
            check_int("period", period, 1)
            if self.events[-1].frame >= period:
                raise ValueError(f"period {period} must be longer than the script's last frame "
                                 f"{self.events[-1].frame}")
        self.period = period
        self._checked: int | None = None

    def _check(self, texter: Any) -> None:
        if self._checked == id(texter):
            return
        for e in self.events:
            try:
                texter.parse(e.text)
            except ValueError as exc:
                raise ValueError(f"script entry at frame {e.frame} is not an action phrase: {exc}") from None
        self._checked = id(texter)

    def _at(self, step: int) -> list[TextEvent]:
        """The script's events as seen from real step ``step`` (the phrase in force first)."""
        if self.period is not None:
            base, step = step - step % self.period, step % self.period
            later = [TextEvent(e.frame + base + self.period, e.text, "plan") for e in self.events]
        else:
            base, later = 0, []
        events = [TextEvent(e.frame + base, e.text, "plan") for e in self.events] + later
        return shift_plan(events, step + base)

    def plan(self, context: PlanContext) -> list[TextEvent]:
        """The script from the current step on (frames relative to now)."""
        self._check(context.texter)
        return self._at(context.frame_index)

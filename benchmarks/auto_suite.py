"""``--suite auto``: a controllability suite for any ALE game, from its texter's action groups.

A hand-written suite (``suites/*.yaml``, docs/design.md "Controllability") names K alternatives
and the text each holds. For an ALE game without one, :func:`auto_suite` builds the same
:class:`~tv2tv.benchmarks.branches.Suite` in memory, so branches, models and scorers run one code
path after construction:

* one alternative per action group of the game's texter (``action_groups.atari_groups``: moves
  with one visible effect; fire is folded into its move, so a bare "fire" is in "do nothing");
* each alternative holds the group's phrase for the whole horizon (``{step: 0, text}``, as the
  hand-written suites do); the group's name when it is an action phrase (it is for every ALE
  action set: the plain move or "do nothing"), else its first phrase in action order;
* names: "do nothing" is ``stay``, a move is its last word ("move paddle up" -> ``up``, "move
  up-right" -> ``up-right``); moves in action order, ``stay`` last, as the hand-written suites
  list them;
* ``probe``: the name, where the game has a paddle probe that knows that direction (Pong,
  Breakout); elsewhere the inverse-dynamics model, trained on the same action groups, scores;
* collection policy: the game's scripted player when there is one (``pong``, ``breakout``),
  else ``random``; horizon ``AUTO_HORIZON``.

Pong's auto suite equals ``pong.yaml``. Breakout's differs in one alternative: ``breakout.yaml``
has ``fire`` (the paddle stays, the ball is served), the auto suite ``stay`` ("do nothing").

Example:
    >>> [(a.name, a.steps[0][1]) for a in auto_suite("ALE/Freeway-v5").alternatives]  # doctest: +SKIP
    [('up', 'move up'), ('down', 'move down'), ('stay', 'do nothing')]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tv2tv.benchmarks.action_groups import groups_for_texter
from tv2tv.benchmarks.branches import Alternative, Suite, builtin_suites, load_suite
from tv2tv.benchmarks.probes import PADDLES, probe_game
from tv2tv.envs.atari_texter import game_key
from tv2tv.envs.registry import family_of, get_texter, make_env
from tv2tv.recorders.policies import policy_names

AUTO = "auto"
AUTO_HORIZON = 8
STAY = "do nothing"


def group_phrases(texter: Any) -> dict[str, str]:
    """Group name -> the phrase that stands for it, in the group order of a one-task texter (Atari).

    Example:
        >>> from tv2tv.envs.atari_texter import AtariTexter
        >>> group_phrases(AtariTexter(["NOOP", "FIRE", "RIGHT", "LEFTFIRE"]))
        {'do nothing': 'do nothing', 'move right': 'move right', 'move left': 'move left and fire'}
    """
    tasks = groups_for_texter(texter).tasks
    if len(tasks) != 1:
        raise ValueError(f"the {texter.name} texter's actions form {len(tasks)} tasks, not one choice")
    (task,) = tasks
    phrases = texter.action_phrases()
    out = {}
    for g, group in enumerate(task.groups):
        members = [p for p, i in zip(phrases, task.index) if i == g]
        out[group] = group if group in members else members[0]
    return out


def _names(groups: list[str]) -> list[str]:
    """Short alternative names (``stay``, ``up``, ``up-right``); the groups' own when those clash."""
    short = ["stay" if g == STAY else g.split()[-1] for g in groups]
    return short if len(set(short)) == len(short) else list(groups)


def auto_suite(env_name: str, horizon: int = AUTO_HORIZON) -> Suite:
    """The suite of an ALE game built from its texter's action groups (see the module docstring).

    Raises:
        ValueError: for a non-ALE env (naming the env and the suites that exist), or a game whose
            actions form fewer than two groups.
    """
    family = family_of(env_name).family
    if family != "atari":
        own = [n for n in builtin_suites() if load_suite(n).env == env_name]
        raise ValueError(f"suite {AUTO!r} is built for ALE games only, not {env_name!r} ({family}); "
                         f"its suites: {own or 'none'} (built-in: {builtin_suites()}), or pass a YAML path")
    env = make_env(env_name)
    try:
        texter = get_texter(env)
    finally:
        env.close()
    phrases = group_phrases(texter)
    groups = [g for g in phrases if g != STAY] + [g for g in phrases if g == STAY]
    if len(groups) < 2:
        raise ValueError(f"{env_name}: its actions form {len(groups)} group ({groups}), "
                         f"nothing to compare; write a suite YAML")
    game = probe_game(env_name)
    directions = PADDLES[game].directions if game else {}
    alts = tuple(Alternative(name, ((0, phrases[g]),), name if name in directions else None)
                 for name, g in zip(_names(groups), groups))
    key = game_key(env_name)
    policy = key if key in policy_names() else "random"
    suite = Suite(AUTO, env_name, policy, horizon, alts, f"{AUTO} ({env_name} action groups)")
    suite.check_texts(texter)
    return suite


def resolve_suite(suite: str | Path | Suite, env_name: str) -> Suite:
    """The suite a benchmark runs on ``env_name``: a :class:`Suite` as given, ``"auto"`` built by
    :func:`auto_suite`, else a built-in name or YAML path loaded by ``load_suite``.

    Example:
        >>> resolve_suite("pong", "ALE/Pong-v5").name
        'pong'
    """
    if isinstance(suite, Suite):
        return suite
    return auto_suite(env_name) if str(suite) == AUTO else load_suite(suite)

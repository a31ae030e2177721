"""``crafter-explorer``: a scripted Crafter player that pursues the achievement chain.

It reads the game state of the unwrapped :class:`tv2tv.envs.crafter.CrafterEnv` directly (world
materials, creatures, the player's position, facing and inventory), not pixels, so recordings
hold purposeful play: collect wood, place a table, make a wood pickaxe and sword, collect stone,
place stone, make stone tools, collect coal and iron, place a furnace, make iron tools, collect
diamonds. Needs come first: fight an adjacent zombie or skeleton, drink when thirsty, hunt cows or
eat ripe plants when hungry, sleep when tired. Targets are reached by breadth-first search over
walkable tiles within ``search_radius``; with no target in reach it explores in a straight line
for a few steps in a random direction. With probability ``epsilon`` it takes a random move, so
episodes branch.

Each step it writes its plan into the env with ``CrafterEnv.set_plan``, e.g.
``"goal: make wood pickaxe; next: collect wood, place table"``; the Crafter texter emits it (source
``"plan"``) whenever the goal changes.

A *fixed goal* (``ExplorerConfig.goal``, one of :data:`GOALS`) pins the explorer to one goal:
it ignores its needs and pursues that goal forever, working first through the chain steps before
it that are not unlocked yet and the materials it uses (so "place stone" from scratch collects
wood, places a table, makes a pickaxe and collects stone first), and repeats it once done. Its
plan is then always ``"goal: <goal>"`` (``"goal: eat; next: hunt a cow"`` for eating), the same
wording as in recordings. The controllability benchmark plays ``goal:`` alternatives this way.

Example:
    >>> from tv2tv.envs import make_env
    >>> env = make_env("crafter", seed=0)
    >>> policy = make_crafter_explorer(env, seed=0)
    >>> obs, info = env.reset()
    >>> 0 <= policy(obs) < 17
    True
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from tv2tv.envs.crafter import CrafterEnv
from tv2tv.envs.crafter_texter import CRAFTER_ACTIONS
from tv2tv.recorders.policies.base import register_policy

A = {name: i for i, name in enumerate(CRAFTER_ACTIONS)}
_MOVES = {(-1, 0): A["move_left"], (1, 0): A["move_right"], (0, -1): A["move_up"], (0, 1): A["move_down"]}
_WALKABLE = {"grass", "sand", "path"}


@dataclass(frozen=True)
class Step:
    """One goal of the chain: done when ``done(inv, ach)``; reached by collecting, placing or making."""

    goal: str            # phrase for the plan text, e.g. "make wood pickaxe"
    kind: str            # "collect" | "place" | "make"
    item: str            # material to collect, thing to place, tool to make
    needs: tuple[tuple[str, int], ...] = ()   # inventory needed first


# The achievement chain, in order. A step is skipped once its achievement is unlocked, except
# collection steps that also stock material for later steps (``needs`` of the next ones).
CHAIN: tuple[Step, ...] = (
    Step("collect wood", "collect", "tree"),
    Step("place table", "place", "table", (("wood", 2),)),
    Step("make wood pickaxe", "make", "wood_pickaxe", (("wood", 1),)),
    Step("make wood sword", "make", "wood_sword", (("wood", 1),)),
    Step("collect stone", "collect", "stone", (("wood_pickaxe", 1),)),
    Step("place stone", "place", "stone", (("stone", 1),)),
    Step("make stone pickaxe", "make", "stone_pickaxe", (("wood", 1), ("stone", 1))),
    Step("make stone sword", "make", "stone_sword", (("wood", 1), ("stone", 1))),
    Step("collect coal", "collect", "coal", (("wood_pickaxe", 1),)),
    Step("collect iron", "collect", "iron", (("stone_pickaxe", 1),)),
    Step("place furnace", "place", "furnace", (("stone", 1),)),
    Step("make iron pickaxe", "make", "iron_pickaxe", (("wood", 1), ("coal", 1), ("iron", 1))),
    Step("make iron sword", "make", "iron_sword", (("wood", 1), ("coal", 1), ("iron", 1))),
    Step("collect diamond", "collect", "diamond", (("iron_pickaxe", 1),)),
)
_SOURCE = {"wood": "tree", "stone": "stone", "coal": "coal", "iron": "iron"}
# Goals of the needs (the plan's "next" part as written in recordings), and every goal the
# explorer can be fixed to.
_NEED_GOALS: dict[str, tuple[str, ...]] = {"drink water": (), "eat": ("hunt a cow",), "sleep": ()}
GOALS: tuple[str, ...] = tuple(s.goal for s in CHAIN) + tuple(_NEED_GOALS)
_NEAR = {"wood_pickaxe": ("table",), "stone_pickaxe": ("table",), "wood_sword": ("table",),
         "stone_sword": ("table",), "iron_pickaxe": ("table", "furnace"), "iron_sword": ("table", "furnace")}


@dataclass(frozen=True)
class ExplorerConfig:
    """Settings of the explorer.

    Args:
        epsilon: probability of a random move instead of the scripted action.
        search_radius: how far (in tiles, Manhattan) targets are searched for.
        explore_steps: how many steps one exploration leg walks straight.
        thirst, hunger, fatigue: drink / eat / sleep when that vital is at or below this.
        safe_distance: do not fall asleep with a zombie this close (tiles, per axis).
        goal: a fixed goal from :data:`GOALS` ("collect wood"), pursued for good (see the
            module docstring); ``None`` follows the chain and the needs.

    Example:
        >>> ExplorerConfig(goal="collect wood", epsilon=0.0).goal
        'collect wood'
    """

    epsilon: float = 0.05
    search_radius: int = 12
    explore_steps: int = 8
    thirst: int = 4
    hunger: int = 4
    fatigue: int = 2
    safe_distance: int = 6
    goal: str | None = None

    def __post_init__(self) -> None:
        if self.goal is not None and self.goal not in GOALS:
            raise ValueError(f"unknown explorer goal {self.goal!r}; known goals: {list(GOALS)}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {self.epsilon!r}")
        if self.search_radius < 1 or self.explore_steps < 1:
            raise ValueError(f"search_radius and explore_steps must be >= 1, got "
                             f"{self.search_radius!r}, {self.explore_steps!r}")


class CrafterExplorer:
    """The scripted explorer (see the module docstring). Call it with an observation.

    Args:
        env: an env built by ``make_env("crafter")`` (any wrappers around it are fine).
        seed: seeds the random moves and exploration directions.
        config: an :class:`ExplorerConfig`.

    ``goals`` lists the goals ``config.goal`` may be fixed to (what the benchmark checks).
    """

    goals: tuple[str, ...] = GOALS

    def __init__(self, env: gym.Env, seed: int | None = None, config: ExplorerConfig | None = None) -> None:
        inner = env.unwrapped
        if not isinstance(inner, CrafterEnv):
            raise TypeError(f"crafter-explorer needs a Crafter env, got {type(inner).__name__}")
        self.env = inner
        self.chain = _chain_with_costs()
        self.config = config or ExplorerConfig()
        self.rng = np.random.default_rng(seed)
        self.plan = ""
        self._explore_dir: tuple[int, int] = (1, 0)
        self._explore_left = 0

    def __call__(self, obs: Any) -> int:
        game = self.env.game
        player = game._player
        inv = player.inventory
        goal, nxt, action = self._decide(game, player, inv)
        plan = f"goal: {goal}" + (f"; next: {', '.join(nxt)}" if nxt else "")
        if plan != self.plan:
            self.plan = plan
            self.env.set_plan(plan)
        if not player.sleeping and self.rng.random() < self.config.epsilon:
            action = self._random_move()
        return self._safe(game, player, int(action))

    def _safe(self, game: Any, player: Any, action: int) -> int:
        """Never walk into lava (Crafter kills the player at once); pick another safe move."""
        def lava(a: int) -> bool:
            d = next((d for d, m in _MOVES.items() if m == a), None)
            return d is not None and game._world[(player.pos[0] + d[0], player.pos[1] + d[1])][0] == "lava"

        if not lava(action):
            return action
        safe = [m for m in _MOVES.values() if not lava(m)]
        return int(self.rng.choice(safe)) if safe else A["noop"]

    # -- deciding --------------------------------------------------------------------------

    def _decide(self, game: Any, player: Any, inv: dict[str, int]) -> tuple[str, list[str], int]:
        c = self.config
        if c.goal is not None:
            return self._decide_fixed(game, player, inv, c.goal)
        if player.sleeping:
            return "sleep until rested", [], A["noop"]
        for kind in ("zombie", "skeleton"):
            act = self._adjacent_object(game, player, kind)
            if act is not None:
                return f"defeat the {kind}", [], act
        if inv["drink"] <= c.thirst:
            return "drink water", [], self._need(game, player, "drink water")
        if inv["food"] <= c.hunger:
            return "eat", ["hunt a cow"], self._need(game, player, "eat")
        if inv["energy"] <= c.fatigue and not self._zombie_near(game, player):
            return "sleep", [], self._need(game, player, "sleep")
        step, todo = self._next_step(player)
        if step is None:
            return "explore", [], self._explore(player)
        return step.goal, todo, self._pursue(game, player, inv, step)

    def _decide_fixed(self, game: Any, player: Any, inv: dict[str, int],
                      goal: str) -> tuple[str, list[str], int]:
        """The fixed ``goal``: its own step once the chain steps before it are unlocked."""
        if player.sleeping:
            return goal, list(_NEED_GOALS.get(goal, ())), A["noop"]
        if goal in _NEED_GOALS:
            return goal, list(_NEED_GOALS[goal]), self._need(game, player, goal)
        i = next(i for i, s in enumerate(self.chain) if s.goal == goal)
        ach = player.achievements
        target = next((s for s in self.chain[:i] if ach[_achievement(s)] == 0), self.chain[i])
        first = (self._requirements(target, inv) + [target])[0]
        return goal, [], self._pursue(game, player, inv, first)

    def _need(self, game: Any, player: Any, goal: str) -> int:
        if goal == "drink water":
            return self._go_do(game, player, {"water"})
        if goal == "eat":
            return self._go_do(game, player, set(), objects={"cow"})
        return A["sleep"]

    def _next_step(self, player: Any) -> tuple[Step | None, list[str]]:
        """The first step to work on now, and the names of the steps after it (up to 2)."""
        ach, inv = player.achievements, player.inventory
        pending = [s for s in self.chain if ach[_achievement(s)] == 0]
        if not pending:
            return None, []
        target = pending[0]
        chain = self._requirements(target, inv) + [target]
        first = chain[0]
        later = [s.goal for s in chain[1:]][:2]
        return first, later

    def _requirements(self, step: Step, inv: dict[str, int]) -> list[Step]:
        """Collection steps needed before ``step`` can be done (missing wood, stone, ...)."""
        out = []
        for item, count in step.needs:
            if inv.get(item, 0) >= count:
                continue
            if item in _SOURCE:
                out.append(Step(f"collect {item}", "collect", _SOURCE[item], ()))
            else:  # a tool: make it first
                tool = next(s for s in self.chain if s.kind == "make" and s.item == item)
                out += self._requirements(tool, inv) + [tool]
        return out

    def _pursue(self, game: Any, player: Any, inv: dict[str, int], step: Step) -> int:
        if step.kind == "collect":
            return self._go_do(game, player, {step.item})
        if step.kind == "place":
            return self._place(game, player, step.item)
        near = _NEAR[step.item]
        nearby, _ = game._world.nearby(player.pos, 1)
        missing = [n for n in near if n not in nearby]
        if not missing:
            return A[f"make_{step.item}"]
        cost = next((s.needs for s in self.chain if s.kind == "place" and s.item == missing[0]), None)
        if cost is not None and all(inv[k] >= v for k, v in cost) \
                and not self._visible(game, player, missing[0]):
            return self._place(game, player, missing[0])
        return self._go_to(game, player, {missing[0]})

    # -- acting ----------------------------------------------------------------------------

    def _place(self, game: Any, player: Any, item: str) -> int:
        target = tuple(np.asarray(player.pos) + np.asarray(player.facing))
        material, obj = game._world[target]
        where = {"stone": {"grass", "sand", "path", "water", "lava"}}.get(item, _WALKABLE)
        if obj is None and material in where:
            return A[f"place_{item}"]
        return self._random_move()

    def _zombie_near(self, game: Any, player: Any) -> bool:
        _, objs = game._world.nearby(player.pos, self.config.safe_distance)
        return any(type(o).__name__ == "Zombie" for o in objs)

    def _adjacent_object(self, game: Any, player: Any, kind: str) -> int | None:
        for d, move in _MOVES.items():
            _, obj = game._world[(player.pos[0] + d[0], player.pos[1] + d[1])]
            if obj is not None and type(obj).__name__.lower() == kind:
                return A["do"] if tuple(player.facing) == d else move
        return None

    def _go_do(self, game: Any, player: Any, materials: set[str], objects: set[str] = frozenset()) -> int:
        """Walk next to the nearest target, face it and interact."""
        path_first, facing_dir = self._search(game, player, materials, objects)
        if facing_dir is not None:
            return A["do"] if tuple(player.facing) == facing_dir else _MOVES[facing_dir]
        if path_first is not None:
            return _MOVES[path_first]
        return self._explore(player)

    def _go_to(self, game: Any, player: Any, materials: set[str]) -> int:
        path_first, facing_dir = self._search(game, player, materials, set())
        if facing_dir is not None:  # already adjacent: nearby() sees it, so this is rare
            return _MOVES[facing_dir]
        return _MOVES[path_first] if path_first is not None else self._explore(player)

    def _visible(self, game: Any, player: Any, material: str) -> bool:
        nearby, _ = game._world.nearby(player.pos, self.config.search_radius // 2)
        return material in nearby

    def _search(self, game: Any, player: Any, materials: set[str], objects: set[str]):
        """BFS over walkable free tiles. Returns (first move, None) toward the nearest tile next to
        a target, or (None, direction) when the player already stands next to one."""
        world, start = game._world, (int(player.pos[0]), int(player.pos[1]))

        def is_target(cell: tuple[int, int]) -> bool:
            material, obj = world[cell]
            if obj is not None:
                return type(obj).__name__.lower() in objects
            return material in materials

        for d in _MOVES:
            if is_target((start[0] + d[0], start[1] + d[1])):
                return None, d
        first: dict[tuple[int, int], tuple[int, int]] = {start: (0, 0)}
        queue = deque([start])
        r = self.config.search_radius
        while queue:
            cell = queue.popleft()
            for d in _MOVES:
                nxt = (cell[0] + d[0], cell[1] + d[1])
                if nxt in first or abs(nxt[0] - start[0]) + abs(nxt[1] - start[1]) > r:
                    continue
                material, obj = world[nxt]
                if is_target(nxt):
                    return (first[cell] if cell != start else d), None
                if obj is None and material in _WALKABLE:
                    first[nxt] = first[cell] if cell != start else d
                    queue.append(nxt)
        return None, None

    def _explore(self, player: Any) -> int:
        if self._explore_left <= 0:
            dirs = list(_MOVES)
            self._explore_dir = dirs[int(self.rng.integers(len(dirs)))]
            self._explore_left = self.config.explore_steps
        self._explore_left -= 1
        target = (player.pos[0] + self._explore_dir[0], player.pos[1] + self._explore_dir[1])
        if self.env.game._world[target][0] not in _WALKABLE:
            self._explore_left = 0  # blocked: pick another direction next step
        return _MOVES[self._explore_dir]

    def _random_move(self) -> int:
        return int(self.rng.choice(list(_MOVES.values())))


def _chain_with_costs() -> tuple[Step, ...]:
    """``CHAIN`` with each place/make step's inventory needs read from Crafter's recipes
    (``crafter/data.yaml``: e.g. a table costs wood, a furnace several stones)."""
    from crafter import constants

    out = []
    for s in CHAIN:
        if s.kind in ("place", "make"):
            recipe = (constants.place if s.kind == "place" else constants.make)[s.item]
            s = Step(s.goal, s.kind, s.item, tuple((k, int(v)) for k, v in recipe["uses"].items()))
        out.append(s)
    return tuple(out)


def _achievement(step: Step) -> str:
    if step.kind == "collect":
        return "collect_" + {"tree": "wood"}.get(step.item, step.item)
    return f"{step.kind}_{step.item}"


def make_crafter_explorer(env: gym.Env, seed: int | None = None, **kwargs: Any) -> CrafterExplorer:
    """Policy factory for ``make_policy("crafter-explorer", env, seed, **ExplorerConfig fields)``."""
    return CrafterExplorer(env, seed=seed, config=ExplorerConfig(**kwargs))


register_policy("crafter-explorer", make_crafter_explorer)

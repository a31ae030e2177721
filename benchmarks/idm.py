"""Inverse-dynamics model (IDM): which action group turned frame ``t`` into frame ``t + 1``?

Where the game's state cannot be cloned (MineRL data) there is no real-game ground truth for a
generated future, so docs/design.md ("Controllability") scores the *action* a generated clip shows: a
small CNN trained on real frames labels the generated ones, and its scores there are reported
beside its scores on real held-out frames (the ceiling), as MineWorld does: precision, recall and
F1 per action group, micro and macro, averaged over tasks (``action_groups.py``). The benchmark
reports it for every game as a secondary scorer.

The IDM predicts *groups* directly, not actions: the metric is per group, and actions of one
group look the same on screen (Pong's FIRE moves nothing, so NOOP and FIRE only split the labels
of one visible effect), so a per-action head would spend its capacity and its training signal
telling apart what cannot be seen. One softmax head per task (Atari and Crafter: one task;
MineRL: MineWorld's key, button and camera tasks).

It sees a *window* of ``F`` frames (``IDMConfig.frames``, default 3), ``t + 2 - F`` .. ``t + 1``
for the action of step ``t``: with ``F = 3`` the frame before ``t`` shows the velocity the action
changed. Pong's paddle has inertia, so its position change mixes the last action with earlier
ones; its change of velocity is what the action sets (measured on RAM paddle positions: from two
frames a classifier tells the group 58 % of the time, from three 75 %). Windows that reach
before an episode's first frame repeat it (no motion), for real and generated clips alike.

Measured (default config, 4000 random steps at 64 x 64, the last >= 20 % of steps held out):
Pong 0.89 accuracy and macro F1 (0.81 from two frames; 0.15 action accuracy, 0.16 group macro
F1 for the pair-of-frames, per-action IDM before this design); Breakout 0.82 / 0.81 (was 0.76).

Legend: N windows, F frames per window, H x W frames, C = 3 colours; the network sees the F
frames and their F - 1 differences stacked on channels, ``(N, (2F - 1) C, H, W)``.

Example:
    >>> idm = train_idm(EpisodeStore.open("data/pong"), steps=300, seed=0)   # doctest: +SKIP
    >>> idm.heldout["macro"]["f1"], idm.score(windows, actions)["accuracy"]   # doctest: +SKIP
    (0.89, 0.75)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from tv2tv.benchmarks.action_groups import ActionGroups, group_scores, groups_for_store
from tv2tv.config import check_int
from tv2tv.types import Episode


@dataclass(frozen=True)
class IDMConfig:
    """The IDM and its training.

    Args:
        frames: frames per window (>= 2): the pair around the action and ``frames - 2`` before it.
        channels: width of the first conv layer (doubled in later ones).
        hidden: width of the classifier's hidden layer.
        steps: optimiser steps; ``batch_size``, ``lr`` (AdamW, constant) as usual.
        holdout: share of real steps kept out of training to measure the IDM itself.
    """

    frames: int = 3
    channels: int = 32
    hidden: int = 128
    steps: int = 300
    batch_size: int = 64
    lr: float = 1e-3
    holdout: float = 0.2

    def __post_init__(self) -> None:
        check_int("frames", self.frames, 2)


class IDMNet(nn.Module):
    """Three strided convs with BatchNorm, an 8 x 8 grid of features, an MLP over all tasks' groups.

    Why this shape (measured on Pong, where the action shows in a paddle 2 pixels wide): global
    pooling averaged the paddle away and GroupNorm drowned its sparse features in the background's
    statistics (the net predicted the label prior for 800 steps); keeping the feature grid and
    BatchNorm lets it learn, and scaling the frame differences by ``DIFF_GAIN`` makes it leave
    that plateau after ~50 steps instead of ~250.
    """

    DIFF_GAIN = 4.0

    def __init__(self, n_outputs: int, cfg: IDMConfig, colours: int = 3) -> None:
        super().__init__()
        c, k = cfg.channels, (2 * cfg.frames - 1) * colours
        self.body = nn.Sequential(
            nn.Conv2d(k, c, 4, stride=2, padding=1),                # (N, c, H/2, W/2)
            nn.BatchNorm2d(c), nn.GELU(),
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1),            # (N, 2c, H/4, W/4)
            nn.BatchNorm2d(2 * c), nn.GELU(),
            nn.Conv2d(2 * c, 2 * c, 3, stride=2, padding=1),        # (N, 2c, H/8, W/8)
            nn.BatchNorm2d(2 * c), nn.GELU(),
            nn.AdaptiveAvgPool2d(8), nn.Flatten(),                  # (N, 128c)
        )
        self.head = nn.Sequential(nn.Linear(128 * c, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, n_outputs))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, F, H, W, C)`` -> logits ``(N, n_outputs)`` (all tasks' groups, concatenated)."""
        x = windows.float().div(255.0).permute(0, 1, 4, 2, 3)           # (N, F, C, H, W)
        diffs = (x[:, 1:] - x[:, :-1]) * self.DIFF_GAIN                  # (N, F-1, C, H, W)
        return self.head(self.body(torch.cat([x.flatten(1, 2), diffs.flatten(1, 2)], dim=1)))


class IDM:
    """A trained inverse-dynamics model over action groups.

    Attributes:
        groups: the tasks and groups it predicts; ``frame_shape`` ``(H, W, C)`` it was trained
            on; ``n_frames`` frames per window; ``heldout`` its :func:`group_scores` on real
            held-out steps (``None`` when nothing was held out).
    """

    def __init__(self, net: IDMNet, cfg: IDMConfig, groups: ActionGroups, frame_shape: tuple[int, int, int],
                 heldout: dict[str, Any] | None = None) -> None:
        self.net, self.cfg, self.groups = net.eval(), cfg, groups
        self.frame_shape = tuple(frame_shape)
        self.heldout = heldout

    @property
    def n_frames(self) -> int:
        return self.cfg.frames

    @property
    def heldout_accuracy(self) -> float | None:
        """Group accuracy on real held-out steps (mean over tasks)."""
        return None if self.heldout is None else self.heldout["accuracy"]

    @torch.no_grad()
    def predict(self, windows: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Group labels ``int64 (N, n_tasks)`` for ``uint8 (N, F, H, W, C)`` frame windows."""
        want = (self.n_frames, *self.frame_shape)
        if windows.ndim != 5 or tuple(windows.shape[1:]) != want:
            raise ValueError(f"windows must be (N, {', '.join(map(str, want))}), got {windows.shape}")
        out = [_split_argmax(self.net(torch.from_numpy(windows[i:i + batch_size])), self.groups.sizes)
               for i in range(0, len(windows), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(self.groups.tasks)), np.int64)

    def score(self, windows: np.ndarray, actions: np.ndarray) -> dict[str, Any]:
        """:func:`group_scores` of the predictions against the groups of ``actions`` (``(N, ...)``)."""
        if len(windows) != len(actions) or len(windows) == 0:
            raise ValueError(f"need as many actions as windows (> 0), got {len(actions)} and {len(windows)}")
        return group_scores(self.groups, self.groups.labels(np.asarray(actions)), self.predict(windows))

    def accuracy(self, windows: np.ndarray, actions: np.ndarray) -> float:
        """Share of steps whose group is predicted right (mean over tasks)."""
        return self.score(windows, actions)["accuracy"]

    def save(self, path: str | Path) -> None:
        """Weights and settings in one safetensors file (settings in its metadata)."""
        meta = {"config": asdict(self.cfg), "groups": self.groups.to_json(),
                "frame_shape": list(self.frame_shape), "heldout": self.heldout}
        save_file({k: v.contiguous() for k, v in self.net.state_dict().items()}, str(path),
                  metadata={"tv2tv_idm": json.dumps(meta)})

    @classmethod
    def load(cls, path: str | Path) -> IDM:
        """Inverse of :meth:`save`."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("tv2tv_idm")
        if raw is None:
            raise ValueError(f"{path} is not a tv2tv IDM file (no 'tv2tv_idm' metadata)")
        meta = json.loads(raw)
        if "groups" not in meta:
            raise ValueError(f"{path} is an IDM from before action groups; train it again")
        cfg, groups = IDMConfig(**meta["config"]), ActionGroups.from_json(meta["groups"])
        net = IDMNet(sum(groups.sizes), cfg, meta["frame_shape"][2])
        net.load_state_dict(load_file(str(path)))
        return cls(net, cfg, groups, tuple(meta["frame_shape"]), meta["heldout"])


def _split_argmax(logits: torch.Tensor, sizes: list[int]) -> np.ndarray:
    return torch.stack([part.argmax(1) for part in logits.split(sizes, dim=1)], dim=1).numpy()  # (N, tasks)


def _window_index(n_steps: int, n_frames: int, first: int = 0) -> np.ndarray:
    """``(T, F)`` indices of each step's window, step 0 starting at frame ``first``, clamped at 0."""
    offsets = np.arange(2 - n_frames, 2)                                    # (F,): t+2-F .. t+1
    return np.clip(first + np.arange(n_steps)[:, None] + offsets[None], 0, None)


def episode_windows(ep: Episode, n_frames: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Each step's frame window and its action: ``uint8 (T, F, H, W, C)``, ``(T, ...)``.

    Example:
        >>> ep = Episode(np.arange(4, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8),
        ...              np.array([0, 1, 0]), np.zeros(3, np.float32), True, False)
        >>> episode_windows(ep, 3)[0][:, :, 0, 0, 0].tolist()
        [[0, 0, 1], [0, 1, 2], [1, 2, 3]]
    """
    return ep.frames[_window_index(ep.num_steps, n_frames)], np.asarray(ep.actions)


def future_windows(context: np.ndarray, future: np.ndarray, n_frames: int = 3) -> np.ndarray:
    """Windows along a generated future: ``(horizon, F, H, W, C)``.

    Args:
        context: the frames up to and including the branch frame, ``(Tc >= 1, H, W, C)``: the
            first future step's window is ``(..., frame before the branch, branch frame, future[0])``,
            repeating the first context frame where the context is shorter.
        future: ``(horizon, H, W, C)``, frame ``i`` is the result of the future's step ``i``.
    """
    if context.ndim != 4 or len(context) == 0 or future.ndim != 4 or context.shape[1:] != future.shape[1:]:
        raise ValueError(f"need context (Tc >= 1, H, W, C) and future (horizon, H, W, C), "
                         f"got {context.shape} and {future.shape}")
    past = context[-(n_frames - 1):]
    frames = np.concatenate([past, future])                                 # (P + horizon, H, W, C)
    # step 0: branch frame -> future[0]
    return frames[_window_index(len(future), n_frames, first=len(past) - 1)]


class _Steps:
    """Real steps of several episodes without copying windows: frames plus ``(N, F)`` indices.

    ``episode[i]`` is the position of step ``i``'s episode among the non-empty ones.
    """

    def __init__(self, episodes: Iterable[Episode], n_frames: int) -> None:
        frames, index, actions, episode, base = [], [], [], [], 0
        for ep in episodes:
            if ep.num_steps == 0:
                continue
            frames.append(ep.frames)
            index.append(_window_index(ep.num_steps, n_frames) + base)
            actions.append(np.asarray(ep.actions))
            episode.append(np.full(ep.num_steps, len(frames) - 1))
            base += len(ep.frames)
        if not frames:
            raise ValueError("no steps to train or score the inverse-dynamics model on")
        self.frames, self.index = np.concatenate(frames), np.concatenate(index)
        self.actions, self.episode = np.concatenate(actions), np.concatenate(episode)

    def __len__(self) -> int:
        return len(self.index)

    def windows(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        return self.frames[self.index[rows]]                                # (n, F, H, W, C)

    def split(self, holdout: float) -> tuple[np.ndarray, np.ndarray]:
        """Train and held-out rows: the fewest last whole episodes that hold ``holdout`` of the
        steps (the first episode always trains), or the end of the only episode."""
        n_eps = int(self.episode[-1]) + 1
        if n_eps >= 2:
            steps_from = np.cumsum(np.bincount(self.episode)[::-1])[::-1]   # steps in episodes e.. last
            first_out = max(1, int(np.flatnonzero(steps_from >= holdout * len(self))[-1]))
            test = self.episode >= first_out
        else:
            test = np.arange(len(self)) >= max(1, int(len(self) * (1 - holdout)))
        return np.flatnonzero(~test), np.flatnonzero(test)


def train_idm(episodes: Iterable[Episode], steps: int | None = None, seed: int = 0,
              groups: ActionGroups | None = None, cfg: IDMConfig = IDMConfig()) -> IDM:
    """Train an IDM on real episodes (e.g. an ``EpisodeStore``), keeping some out to score it.

    Args:
        episodes: real episodes of one frame shape.
        steps: optimiser steps (overrides ``cfg.steps``); ``seed`` seeds init and batches.
        groups: the tasks to predict; by default read from the store (``episodes`` is an
            ``EpisodeStore``, see :func:`~tv2tv.benchmarks.action_groups.groups_for_store`).

    Returns:
        The trained :class:`IDM`, ``heldout`` scored on held-out real steps.

    Example:
        >>> episodes = collect_episodes("ALE/Pong-v5", steps=4000)                  # doctest: +SKIP
        >>> idm = train_idm(episodes, groups=groups_for_env("ALE/Pong-v5"))        # doctest: +SKIP
    """
    if groups is None:
        if not hasattr(episodes, "meta"):
            raise ValueError("pass groups: the episodes are not an EpisodeStore to read them from")
        groups = groups_for_store(episodes)
    if not 0.0 < cfg.holdout < 1.0:
        raise ValueError(f"holdout must be in (0, 1), got {cfg.holdout}")
    data = _Steps(episodes, cfg.frames)
    train, test = data.split(cfg.holdout)
    labels = torch.from_numpy(groups.labels(data.actions))                  # (N, tasks); checks the actions
    torch.manual_seed(seed)
    net = IDMNet(sum(groups.sizes), cfg, data.frames.shape[-1])
    n_steps = cfg.steps if steps is None else steps
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr)
    rng = np.random.default_rng(seed)
    net.train()
    for _ in range(n_steps):
        rows = train[rng.integers(0, len(train), min(cfg.batch_size, len(train)))]
        logits = net(torch.from_numpy(data.windows(rows))).split(groups.sizes, dim=1)
        y = labels[torch.from_numpy(rows)]
        loss = sum(nn.functional.cross_entropy(lg, y[:, j]) for j, lg in enumerate(logits))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    idm = IDM(net, cfg, groups, data.frames.shape[1:])
    if len(test):
        idm.heldout = idm.score(data.windows(test), data.actions[test])
    return idm


def score_futures(idm: IDM, branches: Sequence[Any], futures: Sequence[np.ndarray]) -> dict[str, Any]:
    """The IDM's :func:`group_scores` (accuracy, micro/macro/per-group precision, recall, F1) on
    futures ``(K, horizon, H, W, C)`` per branch, against each script's intended actions; windows
    start from the branch's context frames (``branch.context_frames``).

    The scripts are the branch's own (``branch.scripts[k].actions``): a goal alternative's actions
    are the ones its goal policy took at that branch point, not one list shared by every branch.
    ``per_branch`` adds each alternative's share of (step, task) labels predicted right,
    ``(branches, alternatives)``: the items of ``tv2tv.benchmarks.stats``.
    """
    windows, actions = [], []
    for b, fut in zip(branches, futures):
        for k, script in enumerate(b.scripts):
            windows.append(future_windows(b.context_frames, fut[k], idm.n_frames))
            actions.append(np.asarray(script.actions)[:len(fut[k])])
    true, pred = idm.groups.labels(np.concatenate(actions)), idm.predict(np.concatenate(windows))
    scores = group_scores(idm.groups, true, pred)              # checks the shapes
    right = (true == pred).mean(axis=1).reshape(len(branches), len(branches[0].scripts), -1)  # (B, K, h)
    return {**scores, "per_branch": right.mean(axis=2).tolist()}


def collect_episodes(env_name: str, policy: str = "random", steps: int = 2000, seed: int = 0,
                     frame_size: int = 64, frameskip: int = 4, max_len: int = 500) -> list[Episode]:
    """Play ``steps`` real steps with a collection policy, as episodes of at most ``max_len`` steps.

    For training an IDM when no recorded store is at hand. A game episode longer than
    ``max_len`` is cut into pieces (the last may be shorter); only the last piece of one the game
    terminated is ``terminated``. The next game episode resets with ``seed`` plus the pieces so far.

    Example:
        >>> eps = collect_episodes("ALE/Pong-v5", "random", steps=100, seed=0)   # doctest: +SKIP
    """
    from tv2tv.envs.registry import make_env
    from tv2tv.envs.runner import GameRun, episode_prefix
    from tv2tv.recorders.policies import make_policy

    env = make_env(env_name, frame_size=frame_size, frameskip=frameskip, seed=seed)
    player = make_policy(policy, env, seed=seed)
    episodes: list[Episode] = []
    left = steps
    try:
        while left > 0:
            run = GameRun(env, seed + len(episodes))
            while not run.ended and run.steps < left:
                run.step(player(run.frames[-1]))
            left -= run.steps
            ep = run.episode(env_name)
            for lo in range(0, ep.num_steps, max_len):
                last = min(lo + max_len, ep.num_steps)
                ended = run.terminated and last == ep.num_steps
                episodes.append(replace(episode_prefix(ep, last, last - lo + 1), terminated=ended,
                                        truncated=not ended))
    finally:
        env.close()
    return episodes

"""Episode windows as training sequences: ``WindowDataset`` and ``EpisodeDataModule``.

The store is split by episode (seeded). Training windows are drawn uniformly over every
(episode, start) pair by a generator seeded with ``(seed, index)``, so item ``i`` is the same
in any process or worker. The train loader reads the stream from item ``global_step x batch``
on (each rank takes every ``world``-th item), so a resumed run continues exactly where it
stopped. Validation uses fixed, evenly spaced windows of the held-out episodes.

Example:
    >>> dm = EpisodeDataModule(cfg)        # cfg: a TrainConfig with data.path set   # doctest: +SKIP
    >>> dm.setup("fit"); batch = next(iter(dm.train_dataloader()))                   # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import lightning as L
import numpy as np
from torch.utils.data import DataLoader, Dataset, Sampler

from tv2tv.recorders.store import DatasetMeta, EpisodeStore
from tv2tv.types import Episode
from tv2tv.world_model.codec import FrameCodec, make_codec
from tv2tv.world_model.config import TrainConfig
from tv2tv.world_model.sequence import SequenceBatch, build_sequence, collate_sequences
from tv2tv.world_model.tokenizer import ByteTokenizer, learn_words
from tv2tv.world_model.variants import variant_of

# Random windows are indexed by a seed, so the training set is as long as we like.
RANDOM_ITEMS = 2**62


def make_tokenizer(cfg: TrainConfig, meta: DatasetMeta) -> ByteTokenizer:
    """The tokenizer of a run: action ids only for the ``action-id`` variant, the words of
    ``cfg.model.words`` (``EpisodeDataModule.words``) for the others."""
    return variant_of(cfg).tokenizer(meta, cfg.model.words)


def resolve_config(cfg: TrainConfig, meta: DatasetMeta) -> TrainConfig:
    """``cfg`` with the data-derived model fields set from the store (``model.words`` is the
    data module's: ``with_words``); validates both."""
    cfg.validate()
    codec = make_codec(cfg.sequence.patch, meta.frame_shape)
    model = replace(cfg.model, vocab_size=make_tokenizer(cfg, meta).vocab_size, token_dim=codec.token_dim,
                    tokens_per_frame=codec.tokens_per_frame, frames_per_chunk=cfg.sequence.frames_per_chunk)
    model.validate()
    return replace(cfg, model=model)


def with_words(cfg: TrainConfig, words: tuple[str, ...]) -> TrainConfig:
    """``cfg`` with ``model.words`` set (``EpisodeDataModule.words``)."""
    return replace(cfg, model=replace(cfg.model, words=tuple(words)))


class WindowEncoder:
    """Turns ``(episode, start)`` into a ``SequenceBatch`` for one variant."""

    def __init__(self, cfg: TrainConfig, codec: FrameCodec, tokenizer: ByteTokenizer,
                 action_start: int = 0) -> None:
        self.cfg, self.codec, self.tok, self.action_start = cfg, codec, tokenizer, action_start
        self.variant = variant_of(cfg)

    def chunk_text(self, ep: Episode, start: int, k: int) -> list[int]:
        """Token ids of chunk ``k`` of the window starting at frame ``start`` (``Variant.chunk_ids``):
        placed before the chunk, or in the window's plan for ``plan-first`` (``sequence.plan_ids``)."""
        f = self.cfg.sequence.frames_per_chunk
        return self.variant.chunk_ids(ep, start + k * f, f, self.tok, self.cfg.sequence, self.action_start)

    def encode(self, ep: Episode, start: int, drop_text: bool = False) -> SequenceBatch:
        s = self.cfg.sequence
        k = s.chunks_per_window
        frames = ep.frames[start:start + s.window_frames]                       # (T, H, W, C)
        x0 = self.codec.encode(frames[None])[0]                                 # (T, N, D)
        x0 = x0.reshape(k, s.frames_per_chunk * x0.shape[1], x0.shape[2])       # (K, n, D)
        texts = [[] if drop_text else self.chunk_text(ep, start, c) for c in range(k)]
        text_loss = self.variant.reads_text and not drop_text
        return build_sequence(texts, x0, self.codec.tokens_per_frame, text_loss=text_loss,
                              context_chunks=s.context_chunks, layout=self.variant.layout,
                              separator=self.tok.encode(s.text_separator), video_positions=s.video_positions)


class WindowDataset(Dataset[SequenceBatch]):
    """Random training windows (``windows=None``) or a fixed list of ``(episode, start)``."""

    def __init__(self, episodes: Sequence[Episode], encoder: WindowEncoder, seed: int,
                 windows: list[tuple[int, int]] | None = None, length: int = 0) -> None:
        self.episodes, self.encoder, self.seed, self.windows = list(episodes), encoder, seed, windows
        w = encoder.cfg.sequence.window_frames
        self.starts = np.asarray([ep.frames.shape[0] - w + 1 for ep in self.episodes])   # windows per episode
        self.cum = np.cumsum(self.starts)
        self.length = len(windows) if windows is not None else length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> SequenceBatch:
        if self.windows is not None:
            ep, start = self.windows[index]
            return self.encoder.encode(self.episodes[ep], start)
        rng = np.random.default_rng([self.seed, int(index)])
        r = int(rng.integers(self.cum[-1]))
        ep = int(np.searchsorted(self.cum, r, side="right"))
        start = r - (int(self.cum[ep - 1]) if ep else 0)
        drop = self.encoder.variant.reads_text and rng.random() < self.encoder.cfg.sequence.p_uncond
        return self.encoder.encode(self.episodes[ep], start, drop_text=drop)


class StepSampler(Sampler[int]):
    """Items ``p * world + rank`` for per-rank positions ``p`` in ``[start, total)``."""

    def __init__(self, total: int, start: int = 0, rank: int = 0, world: int = 1) -> None:
        self.total, self.start, self.rank, self.world = total, start, rank, world

    def __iter__(self) -> Iterator[int]:
        return (p * self.world + self.rank for p in range(self.start, self.total))

    def __len__(self) -> int:
        # The full epoch length, so Lightning's batch counter stays aligned after a resume.
        return self.total


class ResumableLoader(DataLoader):
    """A DataLoader Lightning treats as resumable: its position is derived from
    ``trainer.global_step`` when the loader is built, so the saved state is empty."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        pass


def split_episodes(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded split of episode indices into (train, val); val is empty for fewer than 2 episodes."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"data.val_fraction must be in [0, 1), got {val_fraction}")
    order = np.random.default_rng([seed, 12345]).permutation(n).tolist()
    n_val = 0 if n < 2 or val_fraction == 0 else min(n - 1, max(1, round(val_fraction * n)))
    return sorted(order[n_val:]), sorted(order[:n_val])


class EpisodeDataModule(L.LightningDataModule):
    """Loads an episode store and serves training and validation sequences.

    Args:
        cfg: the run config (``data.path``, ``sequence``, ``variant``, ``seed`` are used).
        episodes: optional in-memory episodes (with ``meta``) instead of reading ``data.path``.
    """

    def __init__(self, cfg: TrainConfig, episodes: Sequence[Episode] | None = None,
                 meta: DatasetMeta | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self._given = (list(episodes), meta) if episodes is not None else None
        self.meta: DatasetMeta | None = meta
        self.train_set: WindowDataset | None = None
        self.val_set: WindowDataset | None = None
        self.words: tuple[str, ...] = ()   # set by setup: model.words (learned when text_words > 0)

    def load(self) -> tuple[list[Episode], DatasetMeta]:
        if self._given is not None:
            eps, meta = self._given
            if meta is None:
                raise ValueError("in-memory episodes need their DatasetMeta")
            return eps, meta
        if not self.cfg.data.path:
            raise ValueError("no episode store given: set --data DIR (data.path)")
        store = EpisodeStore.open(self.cfg.data.path)
        if len(store) == 0:
            raise ValueError(f"episode store {self.cfg.data.path} has no episodes; record some first")
        return list(store), store.meta

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        episodes, meta = self.load()
        self.meta = meta
        cfg = self.cfg
        w = cfg.sequence.window_frames
        longest = max(ep.frames.shape[0] for ep in episodes)
        if longest < w:
            raise ValueError(f"sequence.window_frames={w} is longer than every episode (the longest has "
                             f"{longest} frames); use a shorter window or longer episodes")
        train_idx, val_idx = split_episodes(len(episodes), cfg.data.val_fraction, cfg.seed)
        if cfg.data.val_fraction > 0 and not val_idx:
            warnings.warn("only one episode: no validation split, validation is skipped", stacklevel=2)
        train_eps = [episodes[i] for i in train_idx if episodes[i].frames.shape[0] >= w]
        if len(train_eps) < len(train_idx):
            warnings.warn(f"{len(train_idx) - len(train_eps)} training episodes are shorter than the "
                          f"{w}-frame window and are skipped", stacklevel=2)
        if not train_eps:
            raise ValueError(f"no training episode has {w} frames (sequence.window_frames); the held-out "
                             f"episodes are the only long ones: lower data.val_fraction or the window")
        if not cfg.model.words and cfg.sequence.text_words and variant_of(cfg).reads_text:
            texts = (e.text for ep in train_eps for e in ep.text_events)
            self.words = learn_words(texts, cfg.sequence.text_words)
        else:
            self.words = tuple(cfg.model.words)
        cfg = self.cfg = with_words(cfg, self.words)
        codec = make_codec(cfg.sequence.patch, meta.frame_shape)
        encoder = WindowEncoder(cfg, codec, make_tokenizer(cfg, meta), variant_of(cfg).action_start(meta))
        self.train_set = WindowDataset(train_eps, encoder, cfg.seed, length=RANDOM_ITEMS)
        val_eps = [episodes[i] for i in val_idx if episodes[i].frames.shape[0] >= w]
        windows = [(i, int(s)) for i, ep in enumerate(val_eps)
                   for s in np.unique(np.linspace(0, ep.frames.shape[0] - w, cfg.data.val_windows_per_episode)
                                      .round().astype(int))]
        self.val_set = WindowDataset(val_eps, encoder, cfg.seed, windows=windows) if windows else None

    def _loader(self, dataset: Dataset, sampler: Sampler[int] | None, cls: type[DataLoader]) -> DataLoader:
        workers = self.cfg.data.num_workers
        return cls(dataset, batch_size=self.cfg.data.batch_size, sampler=sampler, shuffle=False,
                   collate_fn=collate_sequences, num_workers=workers, persistent_workers=workers > 0)

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None, "call setup() first"
        trainer = self.trainer
        step, rank, world, accum = 0, 0, 1, 1
        if trainer is not None:
            step, rank, world = trainer.global_step, trainer.global_rank, trainer.world_size
            accum = trainer.accumulate_grad_batches
        b = self.cfg.data.batch_size
        total = self.cfg.max_steps * accum * b          # max_steps always bounds a run
        sampler = StepSampler(total, start=step * accum * b, rank=rank, world=world)
        return self._loader(self.train_set, sampler, ResumableLoader)

    def val_dataloader(self) -> DataLoader | list[DataLoader]:
        if self.val_set is None:
            return []
        return self._loader(self.val_set, None, DataLoader)


def sample_batch(dm: EpisodeDataModule, n: int = 1) -> SequenceBatch:
    """The first ``n`` training items as a batch (for tests, benchmarks and tools)."""
    dm.setup("fit")
    assert dm.train_set is not None
    return collate_sequences([dm.train_set[i] for i in range(n)])


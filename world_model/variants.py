"""The training variants as objects: what each puts before a chunk and what its rollouts take
(docs/design.md, "Variants").

Legend: F frames per chunk.

One network and one training loop serve every variant; a ``Variant`` owns what differs, and
callers ask it (``variant_of(cfg)``), never the variant's name:

=============  ============================================  ==========  =============  ==========
variant        ``chunk_ids`` (before each chunk)              reads_text  takes_actions  plan_first
=============  ============================================  ==========  =============  ==========
``text``       the chunk's text bytes                         yes         no             no
``no-text``    nothing                                        no          no             no
``action-id``  F action ids (the action that led to a frame)  no          yes            no
``plan-first`` the chunk's text bytes, in the window's plan   yes         no             yes
=============  ============================================  ==========  =============  ==========

``chunk_ids`` is the one placement of text (or action ids) for training windows
(``data.WindowEncoder``) and rollout contexts (``generate.Generator.context``).

Example:
    >>> variant_of("plan-first").layout, variant_of("action-id").takes_actions
    ('plan-first', True)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from tv2tv.recorders.store import DatasetMeta
from tv2tv.types import Episode
from tv2tv.world_model.config import VARIANTS, ModelConfig, SequenceConfig, TrainConfig
from tv2tv.world_model.sequence import Layout
from tv2tv.world_model.tokenizer import ACTION_OFFSET, ByteTokenizer


@dataclass(frozen=True)
class Variant:
    """The ``text`` variant (TV2TV) and the base of the others.

    Attributes:
        name: as in ``TrainConfig.variant``.
        reads_text: the model reads and writes text: text loss and text dropout in training;
            interventions, guidance (``cfg_scale``) and its own text in rollouts.
        takes_actions: rollouts take the env actions (``actions=``), fed as action ids.
        plan_first: all text of a window goes before its frames (``sequence`` layout
            ``plan-first``); rollouts take it up front (``start(plan=)``), never per step.
    """

    name: str = "text"
    reads_text: bool = True
    takes_actions: bool = False
    plan_first: bool = False

    @property
    def layout(self) -> Layout:
        """The sequence layout (``sequence.build_sequence``)."""
        return "plan-first" if self.plan_first else "interleaved"

    def chunk_ids(self, ep: Episode, lo: int, frames: int, tok: ByteTokenizer, seq: SequenceConfig,
                  action_start: int = 0) -> list[int]:
        """Ids placed before the chunk of frames ``lo .. lo + frames - 1`` of ``ep``: its texts
        joined by ``seq.text_separator``, cut to ``seq.max_text_bytes`` (with a warning).

        Example:
            >>> import numpy as np
            >>> from tv2tv.types import TextEvent
            >>> ep = Episode(np.zeros((3, 1, 1, 3), np.uint8), np.zeros(2, np.int64), np.zeros(2, np.float32),
            ...              False, False, (TextEvent(1, "up", "action"), TextEvent(2, "hit", "caption")))
            >>> tok = ByteTokenizer()
            >>> tok.decode(variant_of("text").chunk_ids(ep, 1, 2, tok, SequenceConfig()))
            'up; hit'
        """
        texts = [e.text for e in ep.text_events if lo <= e.frame < lo + frames]
        ids = tok.encode(seq.text_separator.join(texts))
        if len(ids) > seq.max_text_bytes:
            warnings.warn(f"text before one chunk is cut to sequence.max_text_bytes={seq.max_text_bytes} "
                          f"bytes", stacklevel=2)
            ids = ids[:seq.max_text_bytes]
        return ids

    def tokenizer(self, meta: DatasetMeta, words: tuple[str, ...] = ()) -> ByteTokenizer:
        """The tokenizer of a run on the store ``meta`` (action ids only for ``action-id``;
        ``words``, from ``ModelConfig.words``, only for variants that read text)."""
        return ByteTokenizer(words=words)

    def rollout_tokenizer(self, model: ModelConfig) -> ByteTokenizer:
        """The tokenizer of a trained network (its ``vocab_size`` and ``words``)."""
        tok = ByteTokenizer(words=model.words)
        if tok.vocab_size != model.vocab_size:
            raise ValueError(f"model.vocab_size {model.vocab_size} does not fit a {self.name} tokenizer "
                             f"with {len(model.words)} words ({tok.vocab_size} ids)")
        return tok

    def action_start(self, meta: DatasetMeta | None) -> int:
        """The env id of action 0 (``Discrete.start``), 0 for variants without actions."""
        return 0


@dataclass(frozen=True)
class NoText(Variant):
    """``no-text``: nothing before a chunk (video only)."""

    name: str = "no-text"
    reads_text: bool = False

    def chunk_ids(self, ep: Episode, lo: int, frames: int, tok: ByteTokenizer, seq: SequenceConfig,
                  action_start: int = 0) -> list[int]:
        return []


@dataclass(frozen=True)
class ActionId(Variant):
    """``action-id``: before a chunk, the F action ids that led to its frames (``no_action``
    for frame 0 of an episode); needs a ``Discrete`` action space."""

    name: str = "action-id"
    reads_text: bool = False
    takes_actions: bool = True

    def chunk_ids(self, ep: Episode, lo: int, frames: int, tok: ByteTokenizer, seq: SequenceConfig,
                  action_start: int = 0) -> list[int]:
        return [tok.action(int(ep.actions[i - 1]) - action_start if i >= 1 else -1)
                for i in range(lo, lo + frames)]

    def tokenizer(self, meta: DatasetMeta, words: tuple[str, ...] = ()) -> ByteTokenizer:
        if words:
            raise ValueError("an action-id model reads action ids, not words: model.words must be empty")
        return ByteTokenizer(_discrete(meta)[0])

    def rollout_tokenizer(self, model: ModelConfig) -> ByteTokenizer:
        n = model.vocab_size - ACTION_OFFSET - 1      # the tokenizer adds n + 1 action ids
        if n < 1:
            raise ValueError(f"an action-id model needs action ids in its vocabulary; "
                             f"vocab_size {model.vocab_size} has none")
        return ByteTokenizer(n)

    def action_start(self, meta: DatasetMeta | None) -> int:
        return 0 if meta is None else int(meta.action_space.get("start", 0))


@dataclass(frozen=True)
class PlanFirst(Variant):
    """``plan-first`` (the paper's Think2V): the chunks' texts as one plan after ``BOS``."""

    name: str = "plan-first"
    plan_first: bool = True


_BY_NAME: dict[str, Variant] = {v.name: v for v in (Variant(), NoText(), ActionId(), PlanFirst())}
assert tuple(_BY_NAME) == VARIANTS, "config.VARIANTS and the variant objects must list the same names"


def variant_of(what: TrainConfig | str) -> Variant:
    """The variant of a run config, or of a name.

    Raises:
        ValueError: an unknown name, naming it and the known ones.
    """
    name = what if isinstance(what, str) else what.variant
    if name not in _BY_NAME:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {name!r}")
    return _BY_NAME[name]


def _discrete(meta: DatasetMeta) -> tuple[int, int]:
    """``(n, start)`` of a ``Discrete`` action space; ``ValueError`` for any other space."""
    space = meta.action_space
    if space.get("type") != "Discrete":
        raise ValueError(f"the action-id variant needs a Discrete action space; store {meta.env!r} has "
                         f"{space.get('type')!r} ({space}). Use --variant text or no-text")
    return int(space["n"]), int(space.get("start", 0))

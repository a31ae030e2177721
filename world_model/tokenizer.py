"""Byte-level text tokenizer with the structural specials of TV2TV (docs/design.md, "Tokens").

Ids ``0..255`` are UTF-8 bytes; then ``BOS``, ``BOF`` (begin frame chunk), ``EOF`` (end frame
chunk) and ``PAD``; then either, for the ``action-id`` baseline, one id per discrete action plus
one "no action" id (the first frame of an episode has no action that led to it), or, for a
text model with ``sequence.text_words > 0``, one id per whole *word* learned from the store's
own texts (``learn_words``): a known word is one id, anything else stays bytes, so every text
still encodes and decodes exactly (interventions may use words the store never had). No
vocabulary is downloaded.

A word is a piece of ``PIECE``: an optional space and a run of letters/digits, or of
punctuation, or a run of whitespace (``"move paddle up"`` is ``"move", " paddle", " up"``).
Words cut the text before one Pong chunk from 29 bytes to 10 ids on average (issue 12: the
sequence's length sets a step's cost on a CPU).

Example:
    >>> tok = ByteTokenizer()
    >>> ids = tok.encode("move up")
    >>> tok.decode([tok.bos, *ids, tok.bof])
    'move up'
    >>> tok.vocab_size
    260
    >>> words = ByteTokenizer(words=learn_words(["move up", "move down"], 8, min_count=1))
    >>> words.words, words.encode("move up!"), words.decode(words.encode("move up!"))
    (('move', ' down', ' up'), [260, 262, 33], 'move up!')
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

NUM_BYTES = 256
BOS, BOF, EOF, PAD = 256, 257, 258, 259
SPECIAL_NAMES = {BOS: "<bos>", BOF: "<bof>", EOF: "<eof>", PAD: "<pad>"}
ACTION_OFFSET = 260   # the first action id (action-id) or word id (text with words)
PIECE = re.compile(r"\s?\w+|\s?[^\w\s]+|\s+")


def learn_words(texts: Iterable[str], limit: int, min_count: int = 2) -> tuple[str, ...]:
    """The ``limit`` most frequent pieces (``PIECE``) of ``texts`` that are longer than one
    byte and occur at least ``min_count`` times; most frequent first, ties in string order."""
    if limit < 0 or min_count < 1:
        raise ValueError(f"limit must be >= 0 and min_count >= 1, got {limit} and {min_count}")
    counts = Counter(p for t in texts for p in PIECE.findall(t) if len(p.encode("utf-8")) > 1)
    ranked = sorted((p for p, n in counts.items() if n >= min_count), key=lambda p: (-counts[p], p))
    return tuple(ranked[:limit])


@dataclass(frozen=True)
class ByteTokenizer:
    """UTF-8 bytes + ``BOS/BOF/EOF/PAD`` (+ ``num_actions + 1`` action ids when > 0, or + one id
    per word of ``words``).

    Args:
        num_actions: size of a discrete action space for the ``action-id`` variant (0: none).
        words: pieces (``PIECE``, more than one byte each, no NUL) that are one id each.
    """

    num_actions: int = 0
    words: tuple[str, ...] = ()

    bos: ClassVar[int] = BOS
    bof: ClassVar[int] = BOF
    eof: ClassVar[int] = EOF
    pad: ClassVar[int] = PAD

    def __post_init__(self) -> None:
        if self.num_actions < 0:
            raise ValueError(f"num_actions must be >= 0, got {self.num_actions}")
        if self.words and self.num_actions:
            raise ValueError("a tokenizer has action ids or words, not both")
        if len(set(self.words)) != len(self.words):
            raise ValueError(f"words must be distinct, got {self.words!r:.200}")
        for w in self.words:
            if not isinstance(w, str) or PIECE.fullmatch(w) is None or len(w.encode("utf-8")) < 2 \
                    or "\x00" in w:
                raise ValueError(f"a word must be one piece of text longer than one byte, without NUL, "
                                 f"got {w!r}")

    @property
    def vocab_size(self) -> int:
        return ACTION_OFFSET + (self.num_actions + 1 if self.num_actions else len(self.words))

    @cached_property
    def _word_id(self) -> dict[str, int]:
        return {w: ACTION_OFFSET + i for i, w in enumerate(self.words)}

    @property
    def writable(self) -> list[int]:
        """The ids a model may write as text: bytes but NUL (``TextEvent`` refuses it), the
        words, and ``BOF`` (the text before a chunk ends)."""
        return [*range(1, NUM_BYTES), *range(ACTION_OFFSET, ACTION_OFFSET + len(self.words)), BOF]

    @property
    def no_action(self) -> int:
        """The id standing for "no action led to this frame" (episode start)."""
        self._need_actions()
        return ACTION_OFFSET + self.num_actions

    def _need_actions(self) -> None:
        if not self.num_actions:
            raise ValueError("this tokenizer has no action ids (num_actions=0)")

    def encode(self, text: str) -> list[int]:
        """``text`` as ids (no specials added): its UTF-8 bytes, each known word one id."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        if not self.words:
            return list(text.encode("utf-8"))
        ids: list[int] = []
        for piece in PIECE.findall(text):
            word = self._word_id.get(piece)
            ids.extend(piece.encode("utf-8") if word is None else (word,))
        return ids

    def action(self, a: int) -> int:
        """The id of discrete action ``a`` (0-based); ``a = -1`` gives ``no_action``."""
        self._need_actions()
        if a == -1:
            return self.no_action
        if not 0 <= a < self.num_actions:
            raise ValueError(f"action {a} is outside [0, {self.num_actions})")
        return ACTION_OFFSET + int(a)

    def is_byte(self, i: int) -> bool:
        return 0 <= i < NUM_BYTES

    def decode(self, ids: Iterable[int], specials: bool = False) -> str:
        """Text of the byte and word ids; specials are dropped, or written as ``<bof>`` etc. if asked.

        Invalid UTF-8 (a model can emit any byte sequence) is replaced by U+FFFD.
        """
        out, buf = [], bytearray()
        for i in (int(x) for x in ids):
            if self.is_byte(i):
                buf.append(i)
                continue
            if 0 <= i - ACTION_OFFSET < len(self.words):
                buf += self.words[i - ACTION_OFFSET].encode("utf-8")
                continue
            if specials:
                out.append(buf.decode("utf-8", errors="replace"))
                buf = bytearray()
                name = SPECIAL_NAMES.get(i) or (f"<act{i - ACTION_OFFSET}>" if i >= ACTION_OFFSET
                                                else f"<{i}>")
                out.append(name)
        out.append(buf.decode("utf-8", errors="replace"))
        return "".join(out)

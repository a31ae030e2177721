"""Byte-level text tokenizer with the structural specials of TV2TV (docs/design.md, "Tokens").

Ids ``0..255`` are UTF-8 bytes; then ``BOS``, ``BOF`` (begin frame chunk), ``EOF`` (end frame
chunk) and ``PAD``; then, for the ``action-id`` baseline only, one id per discrete action plus
one "no action" id (the first frame of an episode has no action that led to it). No
vocabulary is downloaded.

Example:
    >>> tok = ByteTokenizer()
    >>> ids = tok.encode("move up")
    >>> tok.decode([tok.bos, *ids, tok.bof])
    'move up'
    >>> tok.vocab_size
    260
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

NUM_BYTES = 256
BOS, BOF, EOF, PAD = 256, 257, 258, 259
SPECIAL_NAMES = {BOS: "<bos>", BOF: "<bof>", EOF: "<eof>", PAD: "<pad>"}
ACTION_OFFSET = 260


@dataclass(frozen=True)
class ByteTokenizer:
    """UTF-8 bytes + ``BOS/BOF/EOF/PAD`` (+ ``num_actions + 1`` action ids when > 0).

    Args:
        num_actions: size of a discrete action space for the ``action-id`` variant (0: none).
    """

    num_actions: int = 0

    bos: ClassVar[int] = BOS
    bof: ClassVar[int] = BOF
    eof: ClassVar[int] = EOF
    pad: ClassVar[int] = PAD

    def __post_init__(self) -> None:
        if self.num_actions < 0:
            raise ValueError(f"num_actions must be >= 0, got {self.num_actions}")

    @property
    def vocab_size(self) -> int:
        return ACTION_OFFSET + (self.num_actions + 1 if self.num_actions else 0)

    @property
    def no_action(self) -> int:
        """The id standing for "no action led to this frame" (episode start)."""
        self._need_actions()
        return ACTION_OFFSET + self.num_actions

    def _need_actions(self) -> None:
        if not self.num_actions:
            raise ValueError("this tokenizer has no action ids (num_actions=0)")

    def encode(self, text: str) -> list[int]:
        """The UTF-8 bytes of ``text`` as ids (no specials added)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        return list(text.encode("utf-8"))

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
        """Text of the byte ids; specials are dropped, or written as ``<bof>`` etc. if asked.

        Invalid UTF-8 (a model can emit any byte sequence) is replaced by U+FFFD.
        """
        out, buf = [], bytearray()
        for i in (int(x) for x in ids):
            if self.is_byte(i):
                buf.append(i)
                continue
            if specials:
                out.append(buf.decode("utf-8", errors="replace"))
                buf = bytearray()
                name = SPECIAL_NAMES.get(i) or (f"<act{i - ACTION_OFFSET}>" if i >= ACTION_OFFSET
                                                else f"<{i}>")
                out.append(name)
        out.append(buf.decode("utf-8", errors="replace"))
        return "".join(out)

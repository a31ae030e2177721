"""Text interventions (scripts a user writes) and rollout transcripts.

An *intervention* is a text a user injects at a frame of a rollout: it replaces the model's own
next text segment there (docs/design.md, "Rollout"). Two equivalent script forms:

* the string form ``"8: move paddle up; 16: move paddle down"``: entries ``FRAME: TEXT``
  separated by ``;`` or newlines; a line starting with ``#`` is a comment; a text that has a
  ``;``, a newline or surrounding spaces is written as a JSON string (``4: "a; b"``);
* a YAML/JSON list ``[{frame: 8, text: "move paddle up"}, ...]``.

Frames count generated frames: 0 is the first frame after the context. Errors are
``ValueError``s that name the entry index (and, in the string form, its character position).

A *transcript* lists every text segment of a rollout with its frame and who wrote it
(``TranscriptEntry``; ``"context"`` for text of the real context, at negative frames).

Example:
    >>> events = parse_script("8: move paddle up; 16: move paddle down")
    >>> [(e.frame, e.text, e.source) for e in events]
    [(8, 'move paddle up', 'intervention'), (16, 'move paddle down', 'intervention')]
    >>> format_script(events)
    '8: move paddle up; 16: move paddle down'
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from tv2tv.config import check_int
from tv2tv.types import TextEvent

SCRIPT_SUFFIXES = (".yaml", ".yml", ".json", ".txt")
_DIGITS = "0123456789"
_SEPARATORS = ";\n"

TranscriptSource = Literal["model", "user", "context"]
TRANSCRIPT_SOURCES: tuple[str, ...] = get_args(TranscriptSource)
TRANSCRIPT_FORMAT = "tv2tv-transcript"
TRANSCRIPT_VERSION = 1
# How each writer's text is drawn by ``tv2tv.recorders.video.write_video``.
VIDEO_SOURCE = {"model": "plan", "user": "intervention", "context": "action"}


# -- the string form ----------------------------------------------------------------------------
class _Scanner:
    """Reads ``FRAME: TEXT`` entries of the string form, tracking the character position."""

    def __init__(self, text: str) -> None:
        self.s, self.pos, self.index = text, 0, 0

    def error(self, pos: int, problem: str) -> ValueError:
        end = min((i for i in (self.s.find(";", pos), self.s.find("\n", pos)) if i >= 0),
                  default=len(self.s))
        return ValueError(f"intervention entry {self.index} (character {pos}): "
                          f"{problem}: {self.s[pos:end]!r}")

    def skip(self, chars_ok: Any) -> None:
        while self.pos < len(self.s) and chars_ok(self.s[self.pos]):
            self.pos += 1

    def entries(self) -> list[TextEvent]:
        out: list[TextEvent] = []
        while True:
            self.skip(lambda c: c.isspace() or c == ";")
            if self.pos >= len(self.s):
                return out
            if self.s[self.pos] == "#":                     # a comment runs to the end of the line
                nl = self.s.find("\n", self.pos)
                self.pos = len(self.s) if nl < 0 else nl
                continue
            out.append(self.entry())
            self.index += 1

    def entry(self) -> TextEvent:
        start = self.pos
        colon = self.s.find(":", start)
        stop = min((i for i in (self.s.find(";", start), self.s.find("\n", start)) if i >= 0),
                   default=len(self.s))
        if colon < 0 or colon > stop:
            raise self.error(start, "expected 'FRAME: TEXT'")
        frame_text = self.s[start:colon].strip()
        if not frame_text or any(c not in _DIGITS for c in frame_text):
            raise self.error(start, f"frame {frame_text!r} is not a non-negative integer")
        self.pos = colon + 1
        self.skip(lambda c: c.isspace() and c != "\n")
        text_pos = self.pos
        if self.s.startswith('"', self.pos):
            try:
                text, self.pos = json.JSONDecoder().raw_decode(self.s, self.pos)
            except json.JSONDecodeError as exc:
                raise self.error(text_pos, f"bad quoted text ({exc.msg})") from None
            self.skip(lambda c: c.isspace() and c != "\n")
            if self.pos < len(self.s) and self.s[self.pos] not in _SEPARATORS:
                raise self.error(text_pos, "text after the closing quote")
        else:
            end = min((i for i in (self.s.find(";", self.pos), self.s.find("\n", self.pos)) if i >= 0),
                      default=len(self.s))
            text, self.pos = self.s[self.pos:end].strip(), end
        if not text:
            raise self.error(start, "empty text")
        return TextEvent(int(frame_text), text, "intervention")


def _needs_quotes(text: str) -> bool:
    return (not text or text != text.strip() or text.startswith('"')
            or any(c in text for c in _SEPARATORS) or "\r" in text)


def format_script(events: Sequence[TextEvent]) -> str:
    """The string form of ``events`` (texts are quoted where the plain form would be ambiguous).

    Example:
        >>> format_script([TextEvent(0, "fire"), TextEvent(4, "a; b")])
        '0: fire; 4: "a; b"'
    """
    parts = []
    for i, e in enumerate(events):
        if not isinstance(e, TextEvent):
            raise TypeError(f"events[{i}] must be a TextEvent, got {type(e).__name__}")
        if not e.text:
            raise ValueError(f"events[{i}] has an empty text; an intervention needs words")
        text = json.dumps(e.text, ensure_ascii=False) if _needs_quotes(e.text) else e.text
        parts.append(f"{int(e.frame)}: {text}")
    return "; ".join(parts)


# -- the list form and the entry point ----------------------------------------------------------
def parse_entries(entries: Sequence[Any]) -> list[TextEvent]:
    """Interventions from a list of ``{frame: int, text: str}`` mappings (the YAML/JSON form)."""
    if not isinstance(entries, (list, tuple)):
        raise ValueError(f"an intervention list must be a list of {{frame, text}} mappings, got "
                         f"{type(entries).__name__}")
    out = []
    for i, item in enumerate(entries):
        if not isinstance(item, dict) or set(item) != {"frame", "text"}:
            raise ValueError(f"intervention entry {i}: expected a mapping with keys 'frame' and 'text', "
                             f"got {item!r}")
        frame, text = item["frame"], item["text"]
        check_int(f"intervention entry {i}: frame", frame, 0)
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"intervention entry {i}: text must be a non-empty string, got {text!r}")
        out.append(TextEvent(frame, text, "intervention"))
    return out


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # e.g. a script string longer than a file name may be
        return False


def _parse_data(data: Any, where: str) -> list[TextEvent]:
    if data is None:
        return []
    if isinstance(data, str):
        return _Scanner(data).entries()
    if isinstance(data, (list, tuple)):
        return parse_entries(data)
    raise ValueError(f"{where} must hold a script string or a list of {{frame, text}}, "
                     f"got {type(data).__name__}")


def parse_script(script: str | os.PathLike[str] | Sequence[Any]) -> list[TextEvent]:
    """Interventions (source ``"intervention"``, sorted by frame) from a script.

    Args:
        script: the string form; a YAML/JSON list as a string (starting with ``[``) or as a
            Python list; or the path of a ``.yaml``/``.yml``/``.json``/``.txt`` file holding either.

    Raises:
        ValueError: a bad entry, named by its index (and character position in the string form).
        FileNotFoundError: a script path with a known suffix that does not exist.

    Example:
        >>> parse_script('[{"frame": 2, "text": "fire"}]')
        [TextEvent(frame=2, text='fire', source='intervention')]
    """
    if isinstance(script, (list, tuple)):
        events = parse_entries(script)
    else:
        path = Path(script)
        text = str(script)
        looks_like_path = path.suffix.lower() in SCRIPT_SUFFIXES and ":" not in text and "\n" not in text
        if isinstance(script, os.PathLike) or looks_like_path or ("\n" not in text and _is_file(path)):
            if not path.is_file():
                raise FileNotFoundError(f"intervention script {path} does not exist")
            raw = path.read_text()
            data = json.loads(raw) if path.suffix.lower() == ".json" else (
                yaml.safe_load(raw) if path.suffix.lower() in (".yaml", ".yml") else raw)
            events = _parse_data(data, str(path))
        elif text.lstrip().startswith("["):
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ValueError(f"intervention list is not valid YAML/JSON: {exc}") from None
            events = _parse_data(data, "the intervention list")
        else:
            events = _Scanner(text).entries()
    return sorted(events, key=lambda e: e.frame)


def _phrase_key(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(".")


def unknown_phrases(events: Sequence[TextEvent], phrases: Sequence[str], separator: str = "; ") -> list[str]:
    """One message per piece of an intervention's text (split at ``separator``) that is none of
    ``phrases`` (case, spacing and a final period ignored), naming the closest phrases.

    A model learned the phrases its game's texter wrote; other words are not an error (the model
    reads any bytes) but often a typo, so callers warn with these messages.

    Example:
        >>> unknown_phrases(parse_script("0: fier"), ["move paddle up", "fire"])
        ["intervention 'fier' at frame 0 is not a phrase of the game's texter; closest: 'fire'"]
    """
    phrases = list(dict.fromkeys(phrases))
    known = {_phrase_key(p): p for p in phrases}
    out = []
    for e in events:
        for piece in e.text.split(separator.strip() or separator):
            key = _phrase_key(piece)
            if not key or key in known:
                continue
            close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.6)
            hint = (f"closest: {', '.join(repr(known[c]) for c in close)}" if close
                    else f"its phrases include {', '.join(repr(p) for p in phrases[:6])}")
            shown = piece.strip() if len(piece.strip()) <= 60 else piece.strip()[:57] + "..."
            out.append(f"intervention {shown!r} at frame {e.frame} "
                       f"is not a phrase of the game's texter; {hint}")
    return out


# -- transcripts --------------------------------------------------------------------------------
@dataclass(frozen=True)
class TranscriptEntry:
    """One text segment of a rollout.

    Args:
        frame: the generated frame the text comes before (0 = first generated frame; context
            text has negative frames, counted back from the first generated frame).
        text: the segment's words.
        source: ``"model"`` (sampled), ``"user"`` (an intervention) or ``"context"`` (real data).
    """

    frame: int
    text: str
    source: TranscriptSource

    def __post_init__(self) -> None:
        if self.source not in TRANSCRIPT_SOURCES:
            raise ValueError(f"TranscriptEntry.source must be one of {TRANSCRIPT_SOURCES}, "
                             f"got {self.source!r}")

    def to_event(self) -> TextEvent:
        """A ``TextEvent`` for videos: model text as ``plan``, user text as ``intervention``."""
        return TextEvent(max(0, self.frame), self.text, VIDEO_SOURCE[self.source])  # type: ignore[arg-type]


def save_transcripts(path: str | os.PathLike[str], transcripts: Sequence[Sequence[TranscriptEntry]],
                     info: dict[str, Any] | None = None) -> Path:
    """Write one transcript per rollout of a batch as JSON; returns the path.

    Example:
        >>> save_transcripts("out.json", [[TranscriptEntry(0, "fire", "user")]])   # doctest: +SKIP
    """
    data = {"format": TRANSCRIPT_FORMAT, "version": TRANSCRIPT_VERSION, "info": dict(info or {}),
            "rollouts": [[asdict(e) for e in t] for t in transcripts]}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    return path


def load_transcripts(path: str | os.PathLike[str]) -> tuple[list[list[TranscriptEntry]], dict[str, Any]]:
    """Read ``save_transcripts`` output: ``(transcripts, info)``."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or data.get("format") != TRANSCRIPT_FORMAT:
        raise ValueError(f"{path} is not a {TRANSCRIPT_FORMAT} file")
    if data.get("version") != TRANSCRIPT_VERSION:
        raise ValueError(f"{path}: transcript version {data.get('version')} is not supported")
    rollouts = [[TranscriptEntry(int(e["frame"]), str(e["text"]), e["source"]) for e in r]
                for r in data["rollouts"]]
    return rollouts, dict(data.get("info", {}))

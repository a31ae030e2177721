"""Videos of frames with their text: ``write_video`` and ``side_by_side``.

``write_video`` upscales frames (nearest neighbour, so pixels stay crisp), adds a caption band
under them with one line per text source present ("action", "caption", "plan", "intervention"),
and writes an H.264 ``.mp4`` with imageio's ffmpeg plugin (other extensions imageio knows, such
as ``.gif``, work too). A text persists until the next text of the same source. Each source has
its own colour; ``intervention`` text (a user's words) is drawn in red with a red frame border
while it is new, so it stands apart from the model's or the texter's own text. Used by
``tv2tv data video``, ``tv2tv generate`` and the benchmarks.

Example:
    >>> ep = EpisodeStore.open("data/pong").load(0)                        # doctest: +SKIP
    >>> write_video("pong.mp4", ep.frames, ep.text_events, fps=15)         # doctest: +SKIP
    >>> both = side_by_side([real, generated], ["real", "model"])          # doctest: +SKIP
    >>> write_video("compare.mp4", both)                                   # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from tv2tv.config import check_int
from tv2tv.paths import check_output_path
from tv2tv.types import TEXT_SOURCES, TextEvent

# RGB, like the frames.
SOURCE_COLORS: dict[str, tuple[int, int, int]] = {
    "action": (235, 235, 235),        # light grey: the texter's description of the input
    "caption": (120, 200, 255),       # light blue: what happened
    "plan": (255, 215, 80),           # amber: a planner's or the model's own plan
    "intervention": (255, 70, 70),    # red: a user's words
}
SOURCE_LABELS = {"action": "act", "caption": "cap", "plan": "plan", "intervention": "user"}
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_SCALE = 0.4
_LINE_HEIGHT = 14
_HIGHLIGHT_FRAMES = 8  # how long the red border shows after an intervention
# The longest side of a written video, in pixels (4K); a larger one is a typo in --scale that
# would exhaust memory and which H.264 players refuse anyway.
MAX_VIDEO_SIDE = 4096


def _check_frames(frames: np.ndarray, what: str = "frames") -> np.ndarray:
    if not isinstance(frames, np.ndarray):
        raise TypeError(f"{what} must be a numpy array, got {type(frames).__name__}")
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"{what} must be a non-empty uint8 (T, H, W, 3) array, got "
                         f"{frames.dtype} {frames.shape}")
    return frames


def _ascii(text: str) -> str:
    # Hershey fonts draw ASCII only; anything else would come out as '?' anyway.
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)


def _fit(text: str, width: int) -> str:
    """Cut ``text`` with '...' so that it fits ``width`` pixels."""
    text = _ascii(text)
    if cv2.getTextSize(text, _FONT, _FONT_SCALE, 1)[0][0] <= width:
        return text
    while text and cv2.getTextSize(text + "...", _FONT, _FONT_SCALE, 1)[0][0] > width:
        text = text[:-1]
    return text + "..."


def current_texts(events: Sequence[TextEvent], num_frames: int) -> list[dict[str, tuple[str, int]]]:
    """Per frame, ``{source: (text, frame it started)}`` of the texts showing at that frame.

    Several events of one source on one frame are joined with " / ".

    Example:
        >>> current_texts([TextEvent(1, "up")], 3)[2]
        {'action': ('up', 1)}
    """
    by_frame: dict[int, dict[str, list[str]]] = {}
    for e in events:
        if not 0 <= e.frame < num_frames:
            raise ValueError(f"text event {e} is outside frames 0..{num_frames - 1}")
        by_frame.setdefault(e.frame, {}).setdefault(e.source, []).append(e.text)
    shown: dict[str, tuple[str, int]] = {}
    out = []
    for t in range(num_frames):
        for source, texts in by_frame.get(t, {}).items():
            shown[source] = (" / ".join(texts), t)
        out.append(dict(shown))
    return out


def iter_rendered(frames: np.ndarray, events: Iterable[TextEvent] = (), scale: int = 4,
                  caption_height: int | None = None) -> Iterator[np.ndarray]:
    """Yield the video frames ``write_video`` writes, one ``uint8 (H', W', 3)`` at a time.

    ``H' = H * scale + caption_height`` and ``W' = W * scale``, each rounded up to even (H.264
    in yuv420p needs even sides), at most ``MAX_VIDEO_SIDE`` a side. Streaming keeps long episodes
    out of memory. The arguments are checked when it is called, before the first frame.

    Args:
        frames: ``uint8 (T, H, W, 3)``.
        events: text events with ``frame`` in ``0..T-1``.
        scale: integer upscaling factor (nearest neighbour).
        caption_height: pixel height of the text band; default one line per source present.
    """
    frames = _check_frames(frames)
    check_int("scale", scale, 1)
    events = list(events)
    sources = [s for s in TEXT_SOURCES if any(e.source == s for e in events)]
    if caption_height is None:
        caption_height = _LINE_HEIGHT * len(sources) + (4 if sources else 0)
    if not 0 <= caption_height <= MAX_VIDEO_SIDE:
        raise ValueError(f"caption_height must be in 0..{MAX_VIDEO_SIDE}, got {caption_height}")
    t, h, w = frames.shape[:3]
    if max(h, w) * scale > MAX_VIDEO_SIDE:
        raise ValueError(f"scale {scale} would make {w}x{h} frames {w * scale}x{h * scale} pixels; a video "
                         f"side is at most {MAX_VIDEO_SIDE} (scale <= {max(1, MAX_VIDEO_SIDE // max(h, w))})")
    shown = current_texts(events, t)   # checked here, before the first frame is asked for
    return _render(frames, shown, sources, scale, caption_height)


def _render(frames: np.ndarray, shown: list[dict[str, tuple[str, int]]], sources: list[str], scale: int,
            caption_height: int) -> Iterator[np.ndarray]:
    t, h, w = frames.shape[:3]
    hh, ww = h * scale, w * scale
    canvas_h, canvas_w = hh + caption_height, ww
    canvas_h, canvas_w = canvas_h + canvas_h % 2, canvas_w + canvas_w % 2
    for i in range(t):
        img = np.zeros((canvas_h, canvas_w, 3), np.uint8)
        img[:hh, :ww] = np.repeat(np.repeat(frames[i], scale, axis=0), scale, axis=1)
        _draw_captions(img, shown[i], sources, top=hh, frame=i, bottom=hh + caption_height)
        yield img


def render_frames(frames: np.ndarray, events: Iterable[TextEvent] = (), scale: int = 4,
                  caption_height: int | None = None) -> np.ndarray:
    """All of ``iter_rendered`` as one ``uint8 (T, H', W', 3)`` array (for short clips).

    Example:
        >>> render_frames(np.zeros((2, 8, 8, 3), np.uint8), [TextEvent(0, "up")], scale=2).shape
        (2, 34, 16, 3)
    """
    return np.stack(list(iter_rendered(frames, events, scale, caption_height)))


def _draw_captions(img: np.ndarray, shown: dict[str, tuple[str, int]], sources: list[str],
                   top: int, frame: int, bottom: int) -> None:
    width = img.shape[1]
    for row, source in enumerate(sources):
        if source not in shown:
            continue
        text, since = shown[source]
        y = top + 2 + _LINE_HEIGHT * (row + 1) - 4
        if y > bottom:
            break
        color = SOURCE_COLORS[source]
        label = _fit(f"{SOURCE_LABELS[source]}: {text}", width - 6)
        cv2.putText(img, label, (3, y), _FONT, _FONT_SCALE, color, 1, cv2.LINE_AA)
        if source == "intervention" and frame - since < _HIGHLIGHT_FRAMES:
            cv2.rectangle(img, (0, 0), (width - 1, top - 1), color, 2)


def write_video(path: str | os.PathLike[str], frames: np.ndarray, events: Iterable[TextEvent] = (),
                fps: float = 15, scale: int = 4, caption_height: int | None = None) -> Path:
    """Write ``frames`` with their text events to a video file; returns the path.

    Args:
        path: output file; ``.mp4`` gives H.264, ``.webm`` VP9 (imageio-ffmpeg).
        frames: ``uint8 (T, H, W, 3)``; text event frames index into it.
        events: ``TextEvent``s to draw under the frames (current text persists until the next).
        fps: playback rate.
        scale: integer upscaling factor.
        caption_height: pixel height of the text band (default: one line per source present).

    Example:
        >>> write_video("out.mp4", np.zeros((10, 64, 64, 3), np.uint8),
        ...             [TextEvent(0, "move paddle up"), TextEvent(5, "jump", "intervention")])
        ... # doctest: +SKIP
    """
    import imageio.v2 as iio  # lazy: imageio is only needed when a video is written

    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    video = iter_rendered(frames, events, scale=scale, caption_height=caption_height)
    path = check_output_path(path, "video")
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"macro_block_size": 1, "codec": "libx264", "pixelformat": "yuv420p",
              "quality": 8} if path.suffix.lower() in (".mp4", ".m4v", ".mov", ".mkv") else {}
    if path.suffix.lower() == ".webm":  # VP9: plays in browsers without H.264 (e.g. Debian's chromium)
        kwargs = {"macro_block_size": 1, "codec": "libvpx-vp9", "pixelformat": "yuv420p",
                  "ffmpeg_params": ["-deadline", "realtime", "-cpu-used", "8", "-b:v", "0", "-crf", "32"]}
    with iio.get_writer(path, fps=fps, **kwargs) as writer:
        for frame in video:
            writer.append_data(frame)
    return path


def side_by_side(videos: Sequence[np.ndarray], labels: Sequence[str] | None = None,
                 gap: int = 2, label_height: int = 12) -> np.ndarray:
    """Put several frame arrays next to each other, each under its label.

    Args:
        videos: ``uint8 (T_i, H_i, W_i, 3)`` arrays. Shorter ones hold their last frame to the
            longest length; all are resized (nearest) to the first one's height.
        labels: one label per video, drawn above it (``None``: no label band).
        gap: black pixels between videos.
        label_height: height of the label band in source pixels.

    Returns:
        ``uint8 (max T_i, label_height + H_0, sum W_i' + gaps, 3)``.

    Example:
        >>> a = np.zeros((4, 8, 8, 3), np.uint8); b = np.zeros((2, 16, 16, 3), np.uint8)
        >>> side_by_side([a, b], ["real", "model"]).shape
        (4, 20, 18, 3)
    """
    if len(videos) == 0:
        raise ValueError("side_by_side needs at least one video, got none")
    videos = [_check_frames(v, f"videos[{i}]") for i, v in enumerate(videos)]
    if labels is not None and len(labels) != len(videos):
        raise ValueError(f"got {len(labels)} labels for {len(videos)} videos")
    band = label_height if labels is not None else 0
    t, h = max(len(v) for v in videos), videos[0].shape[1]
    parts = []
    for i, v in enumerate(videos):
        if v.shape[1] != h:
            w = max(1, round(v.shape[2] * h / v.shape[1]))
            v = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_NEAREST) for f in v])
        v = np.concatenate([v, np.repeat(v[-1:], t - len(v), axis=0)]) if len(v) < t else v
        part = np.zeros((t, band + h, v.shape[2], 3), np.uint8)
        part[:, band:] = v
        if labels is not None:
            text = _fit(labels[i], v.shape[2] - 2)
            cv2.putText(part[0], text, (1, band - 3), _FONT, 0.3, (255, 255, 255), 1, cv2.LINE_AA)
            part[1:, :band] = part[0, :band]
        parts.append(part)
        if i < len(videos) - 1 and gap > 0:
            parts.append(np.zeros((t, band + h, gap, 3), np.uint8))
    return np.concatenate(parts, axis=2)

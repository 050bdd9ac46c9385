"""Writing sequences to disk: in a benchmark layout the readers read back, or as a video file
plus a box file.

Every writer takes the frames as an iterable of ``(frame, box, visible)`` — frame ``(H, W, 3)``
uint8 BGR, box ``(4,)`` xywh pixels (NaN when absent) — so that long sequences stream through
without being held in memory. Output appears complete or not at all
(:func:`hart.atomic.atomic_output`), and replaces what was there.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from hart.atomic import atomic_output, check_output_file
from hart.boxes import format_box
from hart.errors import InputError
from hart.media.writer import FrameWriter

LAYOUTS = ("otb", "got10k", "video")

Item = tuple[np.ndarray, np.ndarray, bool]


def _box_line(box: np.ndarray, visible: bool) -> str:
    return format_box(box if visible else np.full(4, np.nan))


def _write_image(path: Path, frame: np.ndarray, quality: int) -> None:
    if not cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise InputError(f"{path}: could not write this image")


def write_otb_sequence(folder: str | Path, items: Iterable[Item], quality: int = 95) -> Path:
    """``folder/img/0001.jpg …`` + ``folder/groundtruth_rect.txt`` (``x,y,w,h`` per frame,
    ``nan,nan,nan,nan`` where the target is absent) → ``folder``."""
    folder = Path(folder)
    with atomic_output(folder, folder=True) as partial:
        (partial / "img").mkdir()
        lines = []
        for number, (frame, box, visible) in enumerate(items, 1):
            _write_image(partial / "img" / f"{number:04d}.jpg", frame, quality)
            lines.append(_box_line(box, visible))
        (partial / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")
    return folder


def write_got10k_sequence(folder: str | Path, items: Iterable[Item], quality: int = 95) -> Path:
    """``folder/00000001.jpg …`` + ``groundtruth.txt`` + ``absence.label`` → ``folder``."""
    folder = Path(folder)
    with atomic_output(folder, folder=True) as partial:
        lines, absence = [], []
        for number, (frame, box, visible) in enumerate(items, 1):
            _write_image(partial / f"{number:08d}.jpg", frame, quality)
            lines.append(_box_line(box, visible))
            absence.append("0" if visible else "1")
        (partial / "groundtruth.txt").write_text("\n".join(lines) + "\n")
        (partial / "absence.label").write_text("\n".join(absence) + "\n")
    return folder


def write_video(path: str | Path, items: Iterable[Item], fps: float = 30.0) -> Path:
    """``path`` (a video in any format :class:`hart.media.writer.FrameWriter` writes, by its suffix)
    and beside it ``<stem>.txt`` with one ``x,y,w,h`` line per frame → ``path``."""
    path = Path(path)
    if not path.suffix:
        raise InputError(f"{path}: a video name needs an extension such as .mp4")
    # Before any frame is drawn: otherwise found when the boxes are moved into place, after
    # the whole video. (Missing parent folders are made when the files are written.)
    check_output_file(path.with_suffix(".txt"))
    items = iter(items)
    first = next(items, None)
    if first is None:
        raise InputError(f"{path}: no frames to write")
    lines = []
    # The boxes' block holds the video's: each is moved into place only once both are complete
    # (the video last checks that it reads back whole), so that a failure or Ctrl-C leaves no
    # video without its boxes, and no boxes beside an earlier run's video.
    with atomic_output(path.with_suffix(".txt")) as boxes:
        with FrameWriter(path, first[0].shape[:2], fps) as writer:
            for frame, box, visible in itertools.chain([first], items):
                writer.write(frame)
                lines.append(_box_line(box, visible))
            boxes.write_text("\n".join(lines) + "\n")
    return path


def write_sequence(path: str | Path, items: Iterable[Item], layout: str = "otb", **options) -> Path:
    """Write ``items`` in ``layout`` (``otb``, ``got10k`` or ``video``) at ``path``."""
    writers = {"otb": write_otb_sequence, "got10k": write_got10k_sequence, "video": write_video}
    if layout not in writers:
        raise InputError(f"unknown layout {layout!r} to write; known: {', '.join(writers)}")
    return writers[layout](path, items, **options)

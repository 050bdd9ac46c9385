"""Writing sequences to disk: in a benchmark layout the readers read back, or as a video file
plus a box file.

Every writer takes the frames as an iterable of ``(frame, box, visible)`` — frame ``(H, W, 3)``
uint8 BGR, box ``(4,)`` xywh pixels (NaN when absent) — so that long sequences stream through
without being held in memory. Output appears complete or not at all: it is written under a
temporary name and renamed at the end.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from hart.errors import InputError

LAYOUTS = ("otb", "got10k", "video")

Item = tuple[np.ndarray, np.ndarray, bool]


def _box_line(box: np.ndarray, visible: bool) -> str:
    if not visible or not np.isfinite(box).all():
        return "NaN,NaN,NaN,NaN"
    return ",".join(f"{v:.2f}" for v in box)


def _write_image(path: Path, frame: np.ndarray, quality: int) -> None:
    if not cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise InputError(f"{path}: could not write this image")


def _replace(partial: Path, final: Path) -> None:
    if final.is_dir():
        shutil.rmtree(final)
    elif final.exists():
        final.unlink()
    partial.rename(final)


def write_otb_sequence(folder: str | Path, items: Iterable[Item], quality: int = 95) -> Path:
    """``folder/img/0001.jpg …`` + ``folder/groundtruth_rect.txt`` (``x,y,w,h`` per frame,
    ``NaN,NaN,NaN,NaN`` where the target is absent) → ``folder``."""
    folder = Path(folder)
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "img").mkdir(parents=True)
    lines = []
    for number, (frame, box, visible) in enumerate(items, 1):
        _write_image(partial / "img" / f"{number:04d}.jpg", frame, quality)
        lines.append(_box_line(box, visible))
    (partial / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")
    _replace(partial, folder)
    return folder


def write_got10k_sequence(folder: str | Path, items: Iterable[Item], quality: int = 95) -> Path:
    """``folder/00000001.jpg …`` + ``groundtruth.txt`` + ``absence.label`` → ``folder``."""
    folder = Path(folder)
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    lines, absence = [], []
    for number, (frame, box, visible) in enumerate(items, 1):
        _write_image(partial / f"{number:08d}.jpg", frame, quality)
        lines.append(_box_line(box, visible))
        absence.append("0" if visible else "1")
    (partial / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    (partial / "absence.label").write_text("\n".join(absence) + "\n")
    _replace(partial, folder)
    return folder


def write_video(path: str | Path, items: Iterable[Item], fps: float = 30.0) -> Path:
    """``path`` (an .mp4 with the mp4v codec, or whatever container the suffix names) and
    beside it ``<stem>.txt`` with one ``x,y,w,h`` line per frame → ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    writer = None
    lines = []
    try:
        for frame, box, visible in items:
            if writer is None:
                height, width = frame.shape[:2]
                fourcc = cv2.VideoWriter_fourcc(
                    *("mp4v" if path.suffix.lower() == ".mp4" else "MJPG")
                )
                writer = cv2.VideoWriter(str(partial), fourcc, fps, (width, height))
                if not writer.isOpened():
                    raise InputError(f"{path}: OpenCV cannot write a video here")
            writer.write(frame)
            lines.append(_box_line(box, visible))
    finally:
        if writer is not None:
            writer.release()
    if not lines:
        partial.unlink(missing_ok=True)
        raise InputError(f"{path}: no frames to write")
    path.with_suffix(".txt").write_text("\n".join(lines) + "\n")
    _replace(partial, path)
    return path


def write_sequence(path: str | Path, items: Iterable[Item], layout: str = "otb", **options) -> Path:
    """Write ``items`` in ``layout`` (``otb``, ``got10k`` or ``video``) at ``path``."""
    writers = {"otb": write_otb_sequence, "got10k": write_got10k_sequence, "video": write_video}
    if layout not in writers:
        raise InputError(f"unknown layout {layout!r} to write; known: {', '.join(writers)}")
    return writers[layout](path, items, **options)

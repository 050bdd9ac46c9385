"""A video file plus a box file: the layout of anything a user films and annotates.

::

    clips/
      street.mp4                    any video OpenCV reads (.mp4 .avi .mov .mkv …)
      street.txt                    the target's box in every frame, one line per frame:
                                    "x,y,w,h" (NaN,NaN,NaN,NaN = absent)
                                    or "frame,x,y,w,h" with 1-based frame numbers; frames
                                    that are not listed are absent

``Sequence.frames`` are image paths, so a video is decoded once into numbered JPEG frames
(quality 95) in a cache folder — ``cache_dir``, by default ``$XDG_CACHE_HOME/hart/frames`` or
``~/.cache/hart/frames`` — keyed by the video's path, size and modification time, and reused.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np

from hart.atomic import atomic_output
from hart.datasets.annotations import (
    absent_as_nan,
    box_visibility,
    check_box_sizes,
    check_nan_rows,
    float32_rows,
    read_rows,
)
from hart.datasets.sequence import Sequence
from hart.errors import InputError
from hart.media.frames import is_video_file, list_frames, open_frames

_DONE = "frames.done"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hart" / "frames"


def box_file_for(video: Path) -> Path | None:
    """The box file of ``video``: ``<stem>.txt`` beside it, or in a ``boxes/`` or
    ``annotations/`` folder beside it or one level up."""
    video = Path(video)
    for folder in (
        video.parent,
        *(video.parent / d for d in ("boxes", "annotations")),
        *(video.parent.parent / d for d in ("boxes", "annotations")),
    ):
        candidate = folder / f"{video.stem}.txt"
        if candidate.is_file():
            return candidate
    return None


def read_box_file(path: Path, frame_count: int | None = None) -> np.ndarray:
    """A box file → ``(N, 4)`` float32 ``x, y, w, h`` (NaN rows where absent).

    4 numbers per line: one line per frame. 5 numbers: ``frame, x, y, w, h`` with 1-based frame
    numbers, each on one line at most; ``frame_count`` (default: the largest frame number) sets N.
    """
    rows, lines = read_rows(path, (4, 5))
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        line = lines[next(i for i, row in enumerate(rows) if len(row) != len(rows[0]))]
        raise InputError(f"{path}:{line}: mixes 4- and 5-number lines; use one form throughout")
    values = float32_rows(rows, lines, path)
    given = values if widths == {4} else values[:, 1:]  # (N, 4) x, y, w, h
    check_nan_rows(given, lines, path)
    check_box_sizes(given, lines, path)
    if widths == {4}:
        return values
    for line, row in zip(lines, rows, strict=True):
        # Checked before any is used: a NaN one would otherwise escape as int()'s ValueError.
        if not (row[0].is_integer() and row[0] >= 1):
            raise InputError(f"{path}:{line}: frame number {row[0]:g} is not a whole number ≥ 1")
    numbers = [int(row[0]) for row in rows]
    count = frame_count if frame_count is not None else max(numbers)
    boxes = np.full((count, 4), np.nan, np.float32)
    given_on: dict[int, int] = {}  # frame number → the line that gave it
    for line, number, row in zip(lines, numbers, rows, strict=True):
        if number > count:
            raise InputError(f"{path}:{line}: frame number {number} is not in 1…{count}")
        # A second row for a frame would silently replace the first: which one is right?
        if number in given_on:
            raise InputError(
                f"{path}:{line}: frame {number} is given twice (lines {given_on[number]} and "
                f"{line}); keep one"
            )
        given_on[number] = line
        boxes[number - 1] = row[1:]
    return boxes


def _cache_folder(video: Path, cache_dir: str | Path | None) -> Path:
    """``video``'s frame folder in ``cache_dir`` (None: :func:`default_cache_dir`), named by
    its path, size and modification time.

    A leading ``~`` in ``cache_dir`` is the home folder, as in ``load_sequences``'s root:
    taken as it was, ``cache_dir="~/cache"`` filled a folder named ``~`` in the current one.
    """
    stat = video.stat()
    key = f"{video.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    folder = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    return folder / f"{video.stem}-{digest}"


def extract_frames(video: Path, cache_dir: Path | None = None) -> list[Path]:
    """Decode ``video`` into numbered JPEGs (once; later calls reuse them) → their paths."""
    video = Path(video)
    if not video.is_file():
        raise InputError(f"{video}: no such video file")
    folder = _cache_folder(video, cache_dir)
    if (folder / _DONE).is_file():
        return list_frames(folder)
    source = open_frames(video)  # fails here, before any folder is made, if it is no video
    # An interrupted run never leaves a half-filled folder that looks complete.
    with atomic_output(folder, folder=True) as partial:
        count = 0
        for count, frame in enumerate(source, 1):
            path = partial / f"{count:06d}.jpg"
            # imwrite says False (a full disk) and raises nothing: a frame skipped in silence
            # would leave a cache marked done that every later run reads a frame short.
            if not cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, 95]):
                raise InputError(
                    f"{folder / path.name}: could not write this frame of {video} (is the disk "
                    "full?)"
                )
        (partial / _DONE).write_text(f"{count}\n")
    return list_frames(folder)


def read_video_sequence(
    video: Path,
    box_file: Path | None = None,
    cache_dir: Path | None = None,
    name: str | None = None,
) -> Sequence:
    """A video and its box file (default: :func:`box_file_for`) → one Sequence."""
    video = Path(video)
    if not video.is_file():
        raise InputError(f"{video}: no such video file")
    box_file = Path(box_file) if box_file is not None else box_file_for(video)
    if box_file is None:
        raise InputError(f"{video}: no box file {video.stem}.txt beside it (one x,y,w,h per frame)")
    frames = extract_frames(video, cache_dir)
    boxes = read_box_file(box_file, len(frames))
    if len(boxes) != len(frames):
        raise InputError(f"{box_file}: {len(boxes)} rows but {video} has {len(frames)} frames")
    visible = box_visibility(boxes)
    return Sequence(
        name=name or video.stem,
        frames=frames,
        boxes=absent_as_nan(boxes, visible),
        visible=visible,
        attributes={"dataset": "video", "video": str(video), "ground_truth": str(box_file)},
    )


def _annotated_videos(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if is_video_file(p) and box_file_for(p) is not None)


def is_videos(root: Path) -> bool:
    """A video file, or a folder with at least one video that has a box file."""
    root = Path(root)
    return is_video_file(root) or (root.is_dir() and bool(_annotated_videos(root)))


def read_videos(root: Path, cache_dir: Path | None = None) -> list[Sequence]:
    """One Sequence per annotated video: ``root`` is a video file or a folder of them."""
    root = Path(root)
    if is_video_file(root):
        return [read_video_sequence(root, cache_dir=cache_dir)]
    if not root.is_dir():
        raise InputError(f"{root}: no such file or folder")
    videos = _annotated_videos(root)
    if not videos:
        raise InputError(f"{root}: no video file with a box file (<video stem>.txt) beside it")
    return [read_video_sequence(video, cache_dir=cache_dir) for video in videos]

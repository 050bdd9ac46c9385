"""Frames out: a video file or a folder of PNG frames, frame-exact and written atomically.

:class:`FrameWriter` writes under a temporary name beside the destination and moves it into
place only when complete; on any error or Ctrl-C the partial output is removed
(:func:`hart.atomic.atomic_output`). :func:`check_output_path` says beforehand whether a path
can be written, so that a command fails before its expensive work.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import cv2
import numpy as np

from hart.atomic import atomic_output, check_parent
from hart.errors import InputError

# The codec is chosen by the output's extension; both ship with every OpenCV wheel's FFmpeg.
VIDEO_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


def check_output_path(path: str | os.PathLike) -> None:
    """Raise :class:`~hart.errors.InputError` if :class:`FrameWriter` could not write ``path``:
    an unknown extension, a missing parent folder, a video name that is a folder, or a
    non-empty folder. Cheap; call it before the expensive work."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix and suffix not in VIDEO_CODECS:
        choices = ", ".join(VIDEO_CODECS)
        raise InputError(
            f"cannot write {path}: unknown video extension {path.suffix!r} (use {choices}, or a "
            "name without extension for a folder of PNG frames)"
        )
    check_parent(path)
    if suffix and path.is_dir():
        raise InputError(f"cannot write video {path}: a folder of that name exists")
    if not suffix and path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InputError(f"cannot write frames to {path}: it exists and is not an empty folder")


class FrameWriter:
    """Write BGR uint8 frames of one size to a video or a folder of PNG frames, atomically.

    The format follows ``path``'s extension: ``.mp4``/``.m4v``/``.mov`` (MPEG-4 part 2,
    ``mp4v``), ``.avi``/``.mkv`` (Motion JPEG), or no extension: a folder of ``000001.png``, ….
    Use as a context manager: frames go to a temporary name beside ``path``, which is moved
    into place when the block exits cleanly and removed when it raises.

    Video codecs need even sizes: an odd-sized frame is padded by one replicated pixel row or
    column on the bottom/right, so boxes keep their pixel coordinates (``video_size`` says
    what was written). A folder of frames keeps every size exactly.
    """

    def __init__(self, path: str | os.PathLike, frame_size: tuple[int, int], fps: float):
        self.path = Path(path)
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))  # (height, width)
        self.fps = float(fps)
        self.frames_written = 0
        check_output_path(self.path)
        self.is_folder = not self.path.suffix
        height, width = self.frame_size
        self.video_size = (
            self.frame_size if self.is_folder else (height + height % 2, width + width % 2)
        )
        self._stack = contextlib.ExitStack()
        self._temporary: Path | None = None
        self._video: cv2.VideoWriter | None = None

    def __enter__(self) -> FrameWriter:
        with self._stack as stack:
            self._temporary = stack.enter_context(atomic_output(self.path, folder=self.is_folder))
            if not self.is_folder:
                height, width = self.video_size
                codec = VIDEO_CODECS[self.path.suffix.lower()]
                fourcc = cv2.VideoWriter_fourcc(*codec)
                self._video = cv2.VideoWriter(
                    str(self._temporary), fourcc, self.fps, (width, height)
                )
                stack.callback(self._video.release)  # runs before the move: LIFO
                if not self._video.isOpened():
                    raise InputError(f"cannot write {self.path}: OpenCV has no {codec} encoder")
            self._stack = stack.pop_all()
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append one BGR uint8 ``(height, width, 3)`` frame."""
        if frame.shape != (*self.frame_size, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"frame of shape {frame.shape} {frame.dtype}; this writer takes "
                f"{(*self.frame_size, 3)} uint8"
            )
        self.frames_written += 1
        if self.is_folder:
            name = self._temporary / f"{self.frames_written:06d}.png"
            if not cv2.imwrite(str(name), frame):
                raise OSError(f"cannot write {name}")
            return
        pad_rows = self.video_size[0] - self.frame_size[0]
        pad_columns = self.video_size[1] - self.frame_size[1]
        if pad_rows or pad_columns:
            frame = cv2.copyMakeBorder(frame, 0, pad_rows, 0, pad_columns, cv2.BORDER_REPLICATE)
        self._video.write(frame)

    def __exit__(self, *exc_info) -> bool | None:
        return self._stack.__exit__(*exc_info)

"""Frames out: a video file or a folder of PNG frames, frame-exact and written atomically.

:class:`FrameWriter` writes under a temporary name beside the destination and moves it into
place only when complete; on any error or Ctrl-C the partial output is removed
(:func:`hart.atomic.atomic_output`). :func:`check_output_path` and :func:`check_frame_rate` say
beforehand whether a path can be written, so that a command fails before its expensive work.
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
MAX_MPEG4_FPS = 65535
"""The highest frame rate an ``mp4v`` video can declare (its time base is 16 bits)."""
MAX_MJPEG_FPS = 1000
"""The highest frame rate OpenCV writes a Motion JPEG video at as asked: above it an ``.avi``
reads back at 600 frames/s, frames lost or added, and an ``.mkv`` without its frame count."""
MIN_VIDEO_FPS = 0.001
"""OpenCV's video writer takes frame rates above this (its time base is in milliseconds), and
fails to open at or below it, naming nothing but FFmpeg's "Unspecified error"."""


def check_output_path(path: str | os.PathLike) -> None:
    """Raise :class:`~hart.errors.InputError` if :class:`FrameWriter` could not write ``path``:
    an unknown extension, a parent folder that cannot be made or written
    (:func:`hart.atomic.check_parent`; missing ones are made when the video is written), a video
    name that is a folder, or a non-empty folder. Cheap; call it before the expensive work."""
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


def check_frame_rate(path: str | os.PathLike, fps: float) -> None:
    """Raise :class:`~hart.errors.InputError` for a frame rate the codec of the video ``path``
    cannot declare: OpenCV's writer fails to open (after FFmpeg's own error lines), or writes a
    video that reads back with another rate or frame count, taken for a full disk. A folder of
    frames (no extension) has no frame rate. Cheap; call it before the expensive work."""
    path = Path(path)
    codec = VIDEO_CODECS.get(path.suffix.lower())
    if codec is None:
        return
    if fps <= MIN_VIDEO_FPS:
        raise InputError(
            f"cannot write {path} at {fps:g} frames/s: video needs more than "
            f"{MIN_VIDEO_FPS:g} (give a higher --fps, or write a folder of frames)"
        )
    if codec == "mp4v" and fps > MAX_MPEG4_FPS:
        # MPEG-4 part 2 keeps its time base in 16 bits; OpenCV's writer just fails to open.
        raise InputError(
            f"cannot write {path} at {fps:g} frames/s: MPEG-4 video allows at most "
            f"{MAX_MPEG4_FPS} (give a lower --fps, or write a folder of frames)"
        )
    if codec == "MJPG" and fps > MAX_MJPEG_FPS:
        raise InputError(
            f"cannot write {path} at {fps:g} frames/s: Motion JPEG video (.avi, .mkv) is "
            f"written at most at {MAX_MJPEG_FPS} (give a lower --fps, or write .mp4)"
        )


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
        check_frame_rate(self.path, self.fps)
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
                # Exits run last-in first-out: release, then the read-back, then the move.
                stack.push(self._check_complete)
                stack.callback(self._video.release)
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
            # Encoded here and written by Python, so a full disk is an OSError naming the
            # output (cv2.imwrite only returns False, after libpng prints its own line).
            encoded, data = cv2.imencode(".png", frame)
            if not encoded:
                raise ValueError(f"OpenCV cannot encode frame {self.frames_written} as PNG")
            try:
                name.write_bytes(data.tobytes())
            except OSError as error:
                raise OSError(error.errno, error.strerror, str(self.path)) from None
            return
        pad_rows = self.video_size[0] - self.frame_size[0]
        pad_columns = self.video_size[1] - self.frame_size[1]
        if pad_rows or pad_columns:
            frame = cv2.copyMakeBorder(frame, 0, pad_rows, 0, pad_columns, cv2.BORDER_REPLICATE)
        self._video.write(frame)

    def _check_complete(self, exc_type, exc, traceback) -> None:
        """After a clean exit, read the video back: OpenCV's writer reports no error (a full
        disk leaves a file cut short, without the index an mp4 needs), so a video that does not
        open with every frame written is an :class:`OSError`, and is not moved into place."""
        if exc_type is not None or self.frames_written == 0:
            return
        video = cv2.VideoCapture(str(self._temporary))
        frames = int(video.get(cv2.CAP_PROP_FRAME_COUNT)) if video.isOpened() else 0
        video.release()
        if frames != self.frames_written:
            raise OSError(
                f"cannot write {self.path}: the video reads back with {frames} of its "
                f"{self.frames_written} frames (is the disk full?)"
            )

    def __exit__(self, *exc_info) -> bool | None:
        return self._stack.__exit__(*exc_info)

"""Frames in: a folder's image files, and videos or folders read as one stream of frames.

One rule for what a frame file is, used by ``hart track DIR``, every data set reader and the
photo library alike: a file directly in the folder whose suffix is in :data:`IMAGE_SUFFIXES`
(any case) and whose name does not start with a dot (macOS leaves ``._0001.jpg`` companions
that are not images), taken in natural order (:func:`natural_sort_key`: ``2.jpg`` before
``10.jpg``).

:func:`open_frames` reads a video file (whatever OpenCV reads) or a folder of images as BGR
uint8 ``(H, W, 3)`` frames, one at a time, with size, frame rate and (where the container knows
it) frame count known before the first frame is used.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from hart.errors import InputError
from hart.media.containers import file_cut_short

IMAGE_SUFFIXES = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".ppm",
    ".pgm",
    ".pbm",
)
VIDEO_SUFFIXES = (
    ".mp4",
    ".avi",
    ".mov",
    ".mkv",
    ".webm",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".ts",  # MPEG-TS: broadcast and dash-cam recordings
    ".mts",  # AVCHD camcorders
    ".m2ts",
    ".flv",
    ".3gp",  # older phones
    ".ogv",
)
DEFAULT_FOLDER_FPS = 30.0

_DIGITS = re.compile(r"(\d+)")


def natural_sort_key(path: Path) -> tuple:
    """Order file names as people do: ``2.jpg`` before ``10.jpg``, case-insensitive."""
    parts = _DIGITS.split(Path(path).name.lower())
    # re.split with a group alternates text, number, text…, so positions compare like with like.
    return tuple(int(part) if index % 2 else part for index, part in enumerate(parts))


def frame_number(path: Path) -> int | None:
    """The frame number a file name carries: its last run of digits (``img0042.jpg`` → 42)."""
    numbers = _DIGITS.findall(Path(path).stem)
    return int(numbers[-1]) if numbers else None


def is_image_file(path: Path) -> bool:
    """Whether ``path`` is a frame file: an image suffix, not hidden, a file, or a link to one
    that is gone (a folder of links into a store that moved): counted, so that reading it fails
    naming it, where leaving it out dropped that frame in silence."""
    path = Path(path)
    named = path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
    return named and (path.is_file() or (path.is_symlink() and not path.exists()))


def is_video_file(path: Path) -> bool:
    """Whether ``path`` is a file with a video suffix (:data:`VIDEO_SUFFIXES`)."""
    path = Path(path)
    return path.suffix.lower() in VIDEO_SUFFIXES and path.is_file()


def image_files(folder: Path) -> list[Path]:
    """The frame files directly inside ``folder`` (:func:`is_image_file`), in natural order."""
    return sorted((p for p in Path(folder).iterdir() if is_image_file(p)), key=natural_sort_key)


def has_frames(folder: Path) -> bool:
    """Whether ``folder`` exists and holds at least one frame file (for layout detection)."""
    folder = Path(folder)
    return folder.is_dir() and any(is_image_file(p) for p in folder.iterdir())


def first_with_frames(folders: Iterable[Path]) -> Path | None:
    """The first of ``folders`` that :func:`has_frames`, or None: where a sequence's frames
    are, among the folders a layout (or a re-hosted copy of it) may keep them in."""
    return next((folder for folder in folders if has_frames(folder)), None)


def list_frames(folder: Path) -> list[Path]:
    """:func:`image_files` of ``folder``; an :class:`~hart.errors.InputError` when it is not a
    folder or holds none (naming a sub-folder that does, such as an OTB sequence's ``img``), or
    holds one frame in two files (:func:`check_one_file_per_frame`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder of frames")
    frames = image_files(folder)
    if not frames:
        hint = next(
            (f" (did you mean {sub}?)" for sub in sorted(folder.iterdir()) if has_frames(sub)), ""
        )
        suffixes = ", ".join(IMAGE_SUFFIXES[:4])
        raise InputError(f"folder {folder} holds no images ({suffixes}, …){hint}")
    check_one_file_per_frame(folder, frames)
    return frames


def check_one_file_per_frame(folder: Path, frames: list[Path]) -> None:
    """Raise :class:`~hart.errors.InputError` when two of ``frames`` differ only in their
    suffix (``0001.png`` and ``0001.jpg``: a conversion that kept its originals). Both would be
    read, one after the other, as two frames: a video tracked twice over, and its boxes no
    longer one per frame of the ground truth."""
    seen: dict[str, Path] = {}
    for frame in frames:
        stem = frame.stem.lower()
        if stem in seen:
            raise InputError(
                f"{folder}: {seen[stem].name} and {frame.name} are one frame in two files; "
                "keep one of them"
            )
        seen[stem] = frame


# Decoding at 1/n scale → OpenCV's flag for it.
_REDUCED_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def read_image(path: Path, reduction: int = 1) -> np.ndarray:
    """The image at ``path`` as BGR uint8 ``(H, W, 3)``; an InputError naming it if unreadable.

    ``reduction`` (1, 2, 4 or 8) decodes it at that fraction of its size, ``(H / n, W / n, 3)``
    rounded: libjpeg does it in the DCT, several times faster than decoding a JPEG in full and
    shrinking it (other formats are decoded in full, then shrunk).
    """
    if not os.path.isfile(path):  # before OpenCV, which prints a warning line of its own
        raise InputError(f"{path}: no such image (missing, or a link to a file that is gone)")
    image = cv2.imread(str(path), _REDUCED_FLAGS[reduction])
    if image is None:
        raise InputError(f"{path}: cannot read this image (missing, or not an image)")
    return image


@dataclass(frozen=True, eq=False)
class FrameSource:
    """A video file or a folder of images, read as BGR uint8 ``(height, width, 3)`` frames.

    Iterating reads the frames one at a time from the start (each iteration starts over), so
    memory stays constant however long the video. ``frame_count`` is exact for a folder and
    OpenCV's count for a video (``None`` when it has none): what the container declares, or an
    estimate from its duration and frame rate, so fewer frames may decode from a whole file.
    ``truncated`` says whether the video file ends before its container's sizes say it does
    (:func:`~hart.media.containers.file_cut_short`; ``None`` for a folder, or where that cannot
    be told). Iterating a video raises :class:`DamagedVideo` at a frame that cannot be decoded
    when frames follow it. ``first_frame`` is kept for choosing the first box. Make one with
    :func:`open_frames`.
    """

    path: Path
    height: int
    width: int
    fps: float
    frame_count: int | None
    first_frame: np.ndarray = field(repr=False)
    images: tuple[Path, ...] = field(default=(), repr=False)  # a folder's frames, in order
    truncated: bool | None = None

    @property
    def is_folder(self) -> bool:
        return bool(self.images)

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` in pixels, the order :mod:`hart.boxes` uses."""
        return self.height, self.width

    def __iter__(self) -> Iterator[np.ndarray]:
        return self._read_folder() if self.is_folder else self._read_video()

    def _read_folder(self) -> Iterator[np.ndarray]:
        for image_path in self.images:
            frame = read_image(image_path)
            if frame.shape[:2] != self.size:
                raise InputError(
                    f"{image_path} is {_size_text(frame.shape[:2])} but {self.images[0].name} is "
                    f"{_size_text(self.size)}: all frames in a folder must have one size"
                )
            yield frame

    def _read_video(self) -> Iterator[np.ndarray]:
        capture = _open_capture(self.path)
        try:
            for read in itertools.count():
                ok, frame = capture.read()
                if not ok:
                    # OpenCV says False alike at the end and at a frame it cannot decode, and
                    # reads on past the latter: stopping there dropped the rest in silence.
                    if capture.grab():
                        raise DamagedVideo(
                            f"{self.path}: frame {read + 1} cannot be decoded, though frames "
                            "follow it (the file is damaged)"
                        )
                    return
                yield frame
        finally:
            capture.release()


class DamagedVideo(InputError):
    """A video file with a frame that cannot be decoded, and frames after it (a damaged file:
    a bad sector, a download patched together)."""


def open_frames(path: str | os.PathLike, fps: float | None = None) -> FrameSource:
    """Open a video file or a folder of images as a :class:`FrameSource`.

    A folder's frames are :func:`list_frames` (other files such as a ``groundtruth.txt`` are
    ignored); their frame rate is ``fps`` or 30. A video keeps its own frame rate unless
    ``fps`` is given. The first frame is read here, so a file that is not a video fails now; a
    later folder image of another size fails when reached.

    Raises :class:`~hart.errors.InputError` naming the file: a missing path, a file OpenCV cannot
    read as a video, a single image, a folder without images, an unreadable image.
    """
    path = Path(path)
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise InputError(f"frame rate must be a positive number, got {fps}")
    if not path.exists():
        raise InputError(f"{path} does not exist")
    if path.is_dir():
        images = list_frames(path)
        first = read_image(images[0])
        return FrameSource(
            path=path,
            height=first.shape[0],
            width=first.shape[1],
            fps=float(fps or DEFAULT_FOLDER_FPS),
            frame_count=len(images),
            first_frame=first,
            images=tuple(images),
        )
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise InputError(f"{path} is a single image; give a video file or a folder of frames")
    capture = _open_capture(path)
    try:
        ok, first = capture.read()
        if not ok and capture.grab():  # OpenCV reads on past a frame it cannot decode
            raise InputError(
                f"{path}: frame 1 cannot be decoded, though frames follow it (the file is damaged)"
            )
        if not ok:
            raise InputError(f"{path}: no frame could be read (not a video, or an empty one)")
        container_fps = capture.get(cv2.CAP_PROP_FPS)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    if fps is None:
        fps = container_fps if np.isfinite(container_fps) and container_fps > 0 else 30.0
    return FrameSource(
        path=path,
        height=first.shape[0],
        width=first.shape[1],
        fps=float(fps),
        frame_count=count if count > 0 else None,
        first_frame=first,
        truncated=file_cut_short(path),
    )


def quiet_ffmpeg_log() -> None:
    """From now on, keep FFmpeg's own messages off stderr, unless the user has set
    ``OPENCV_FFMPEG_LOGLEVEL`` (their setting wins).

    On a file that is not a video FFmpeg prints its complaint ("moov atom not found") straight
    to stderr before OpenCV gives up; the one-line :class:`~hart.errors.InputError` that follows
    says it better. For commands, which call it before they open any video: OpenCV reads the
    setting when it first opens one in a process (importing cv2 earlier is fine), and it
    changes the process's environment, which a library should not do on its own.
    """
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


def _open_capture(path: Path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise InputError(f"{path}: not a video OpenCV can read")
    return capture


def _size_text(size: tuple[int, int]) -> str:
    height, width = size
    return f"{width}×{height}"

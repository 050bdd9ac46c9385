"""Video in and out for ``hart track``: frame sources, the annotated writer, the tracking loop.

- :func:`open_frames` reads a video file (whatever OpenCV reads) or a folder of images as one
  stream of BGR uint8 ``(H, W, 3)`` frames, one at a time, with size, frame rate and (where the
  container knows it) frame count known before the first frame is tracked.
- :class:`FrameWriter` writes frames to a video file or a folder of PNG frames under a temporary
  name beside the destination and moves it into place only when complete; on any error or Ctrl-C
  the partial output is removed (:func:`hart.atomic.atomic_output`).
- :func:`draw_tracking` draws the predicted box, the tracker's attention box, a legend and an inset
  of the glimpse and object mask.
- :func:`run_tracking` streams a source through any tracker with ``init(frame, box)`` /
  ``update(frame) -> box`` (``hart.tracking.Tracker``, OpenCV's trackers, got10k's) into the
  writer and a boxes file.

Boxes are ``x, y, w, h`` floats in pixels of the frame (top-left corner); a lost target is NaN.
Nothing here imports torch or the model: any tracker with that contract works.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from tqdm import tqdm

from hart.atomic import atomic_output
from hart.drawing import draw_tracking
from hart.errors import InputError

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)
# The codec is chosen by the output's extension; both ship with every OpenCV wheel's FFmpeg.
VIDEO_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
DEFAULT_FOLDER_FPS = 30.0

# Okabe–Ito colours (distinguishable with colour-blindness), as OpenCV's BGR.


class TrackerLike(Protocol):
    """What :func:`run_tracking` needs; ``hart.tracking.Tracker`` and OpenCV wrappers fit.

    After each ``init``/``update`` a tracker may also offer, for drawing: ``attention_box``
    (``(4,)`` xywh px), ``glimpse`` (uint8 BGR ``(h, w, 3)``) and ``object_mask`` (float in
    ``[0, 1]``, ``(h, w)``).
    """

    def init(self, frame: np.ndarray, box: np.ndarray) -> None: ...

    def update(self, frame: np.ndarray) -> np.ndarray: ...


# ----------------------------------------------------------------------------- frame sources


def natural_sort_key(path: Path) -> tuple:
    """Order file names as people do: ``2.jpg`` before ``10.jpg``, case-insensitive."""
    parts = re.split(r"(\d+)", path.name.lower())
    # re.split with a group alternates text, number, text…, so positions compare like with like.
    return tuple(int(part) if index % 2 else part for index, part in enumerate(parts))


@dataclass(frozen=True, eq=False)
class FrameSource:
    """A video file or a folder of images, read as BGR uint8 ``(height, width, 3)`` frames.

    Iterating reads the frames one at a time from the start (each iteration starts over), so
    memory stays constant however long the video. ``frame_count`` is exact for a folder and the
    container's count for a video (``None`` when the container does not say). ``first_frame`` is
    kept for choosing the first box. Make one with :func:`open_frames`.
    """

    path: Path
    height: int
    width: int
    fps: float
    frame_count: int | None
    first_frame: np.ndarray = field(repr=False)
    images: tuple[Path, ...] = field(default=(), repr=False)  # a folder's frames, in order

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
            frame = _read_image(image_path)
            if frame.shape[:2] != self.size:
                raise InputError(
                    f"{image_path} is {_size_text(frame.shape[:2])} but {self.images[0].name} is "
                    f"{_size_text(self.size)}: all frames in a folder must have one size"
                )
            yield frame

    def _read_video(self) -> Iterator[np.ndarray]:
        capture = _open_capture(self.path)
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    return
                yield frame
        finally:
            capture.release()


def open_frames(path: str | os.PathLike, fps: float | None = None) -> FrameSource:
    """Open a video file or a folder of images as a :class:`FrameSource`.

    A folder's frames are its image files (``.jpg``, ``.png``, …; other files such as a
    ``groundtruth.txt`` are ignored) in natural order; their frame rate is ``fps`` or 30. A
    video keeps its own frame rate unless ``fps`` is given. The first frame is read here, so a
    file that is not a video fails now; a later folder image of another size fails when reached.

    Raises :class:`~hart.errors.InputError` naming the file: a missing path, a file OpenCV cannot
    read as a video, a single image, a folder without images, an unreadable image.
    """
    path = Path(path)
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise InputError(f"frame rate must be a positive number, got {fps}")
    if not path.exists():
        raise InputError(f"{path} does not exist")
    if path.is_dir():
        return _open_folder(path, fps)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise InputError(f"{path} is a single image; give a video file or a folder of frames")
    capture = _open_capture(path)
    try:
        ok, first = capture.read()
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
    )


def _open_folder(path: Path, fps: float | None) -> FrameSource:
    images = sorted(_images_in(path), key=natural_sort_key)
    if not images:
        hint = next(
            (
                f" (did you mean {sub}?)"
                for sub in sorted(path.iterdir())
                if sub.is_dir() and any(_images_in(sub))
            ),
            "",
        )
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES)[:4])
        raise InputError(f"folder {path} holds no images ({suffixes}, …){hint}")
    first = _read_image(images[0])
    return FrameSource(
        path=path,
        height=first.shape[0],
        width=first.shape[1],
        fps=float(fps or DEFAULT_FOLDER_FPS),
        frame_count=len(images),
        first_frame=first,
        images=tuple(images),
    )


def _images_in(folder: Path) -> Iterator[Path]:
    # Hidden files are skipped: macOS leaves "._0001.jpg" companions that are not images.
    return (
        entry
        for entry in folder.iterdir()
        if entry.suffix.lower() in IMAGE_SUFFIXES
        and not entry.name.startswith(".")
        and entry.is_file()
    )


def _read_image(path: Path) -> np.ndarray:
    frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if frame is None:
        raise InputError(f"{path}: not a readable image")
    return frame


def _open_capture(path: Path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise InputError(f"{path}: not a video OpenCV can read")
    return capture


def _size_text(size: tuple[int, int]) -> str:
    height, width = size
    return f"{width}×{height}"


# ----------------------------------------------------------------------------- boxes from users


def parse_box(text: str) -> np.ndarray:
    """``"X,Y,W,H"`` (pixels, top-left corner; ints or floats) → ``(4,)`` float64 xywh.

    Raises :class:`~hart.errors.InputError` for anything else, or a width or height ≤ 0.
    """
    parts = [part.strip() for part in str(text).split(",")]
    try:
        box = np.array([float(part) for part in parts], dtype=np.float64)
    except ValueError:
        box = np.array([])
    if box.shape != (4,) or not np.isfinite(box).all():
        raise InputError(f"box {text!r} is not X,Y,W,H (four numbers, e.g. 120,80,40,60)")
    if box[2] <= 0 or box[3] <= 0:
        raise InputError(
            f"box {text!r} has width {box[2]:g} and height {box[3]:g}; both must be > 0"
        )
    return box


def check_box_in_frame(box: np.ndarray, frame_size: tuple[int, int]) -> None:
    """Raise :class:`~hart.errors.InputError` unless the xywh box has a positive size and lies
    inside a frame of ``frame_size = (height, width)``."""
    height, width = frame_size
    x, y, w, h = (float(value) for value in box)
    text = f"box {_box_text(box)}"
    if not (w > 0 and h > 0):
        raise InputError(f"{text} has width {w:g} and height {h:g}; both must be > 0")
    if x < 0 or y < 0 or x + w > width or y + h > height:
        raise InputError(
            f"{text} is not inside the {width}×{height} frame (it spans x {x:g}–{x + w:g}, "
            f"y {y:g}–{y + h:g})"
        )


def display_available() -> bool:
    """Whether a window can open: on Linux and other X11/Wayland systems, DISPLAY or
    WAYLAND_DISPLAY must be set; macOS and Windows always have a desktop."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def select_box(frame: np.ndarray) -> np.ndarray:
    """Let the user drag the target's box on ``frame`` in a window; ``(4,)`` float64 xywh.

    Interactive only: raises :class:`~hart.errors.InputError` without a display, with an OpenCV
    build that has no GUI (opencv-python-headless), or when the user selects nothing.
    """
    if not display_available():
        raise InputError(
            "selecting the box with the mouse needs a display, and neither DISPLAY nor "
            "WAYLAND_DISPLAY is set; give the box as X,Y,W,H instead"
        )
    window = "hart track: drag a box around the target, then press Enter (c cancels)"
    try:
        x, y, w, h = cv2.selectROI(window, frame, showCrosshair=True, fromCenter=False)
        cv2.destroyWindow(window)
    except cv2.error as error:
        raise InputError(
            f"cannot open a window to select the box ({str(error).strip().splitlines()[-1]}); "
            "give the box as X,Y,W,H instead"
        ) from error
    if w <= 0 or h <= 0:
        raise InputError("no box was selected")
    return np.array([x, y, w, h], dtype=np.float64)


def _box_text(box: np.ndarray) -> str:
    """``x,y,w,h`` with at most two decimals and no trailing zeros (``nan`` when lost)."""
    return ",".join(np.format_float_positional(round(float(value), 2), trim="-") for value in box)


def _check_parent(path: Path) -> None:
    if not path.parent.is_dir():
        raise InputError(f"cannot write {path}: folder {path.parent} does not exist")


# ----------------------------------------------------------------------------- writer


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
    _check_parent(path)
    if suffix and path.is_dir():
        raise InputError(f"cannot write video {path}: a folder of that name exists")
    if not suffix and path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InputError(f"cannot write frames to {path}: it exists and is not an empty folder")


def check_outputs(
    source: FrameSource,
    output: str | os.PathLike | None,
    boxes_out: str | os.PathLike | None,
) -> None:
    """Raise :class:`~hart.errors.InputError` if :func:`run_tracking` could not write its
    outputs (see :func:`check_output_path`), or if one of them would overwrite the input or the
    other."""
    paths = [Path(path) for path in (output, boxes_out) if path is not None]
    for path in paths:
        if path.resolve() == source.path.resolve():
            raise InputError(f"{path} is the input; choose another output name")
    if len(paths) == 2 and paths[0].resolve() == paths[1].resolve():
        raise InputError(f"the video and the boxes would both be written to {paths[0]}")
    if output is not None:
        check_output_path(output)
    if boxes_out is not None:
        _check_parent(Path(boxes_out))
        if Path(boxes_out).is_dir():
            raise InputError(f"cannot write boxes to {boxes_out}: it is a folder")


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


# ----------------------------------------------------------------------------- tracking loop


@dataclass
class TrackingRun:
    """What :func:`run_tracking` did: ``boxes`` ``(N, 4)`` float64 xywh px, one per frame
    (row 0 is the given box, NaN where the tracker lost the target), and wall-clock seconds
    spent in the tracker's ``init``/``update`` alone and in the whole loop (reading, drawing
    and writing included)."""

    boxes: np.ndarray
    tracking_seconds: float
    total_seconds: float

    @property
    def frame_count(self) -> int:
        return len(self.boxes)

    @property
    def tracking_fps(self) -> float:
        return self.frame_count / max(self.tracking_seconds, 1e-9)

    @property
    def overall_fps(self) -> float:
        return self.frame_count / max(self.total_seconds, 1e-9)


def run_tracking(
    source: FrameSource,
    tracker: TrackerLike,
    box: np.ndarray,
    output: str | os.PathLike | None = None,
    boxes_out: str | os.PathLike | None = None,
    *,
    progress: bool = True,
) -> TrackingRun:
    """Track the target through ``source``, one frame at a time.

    ``tracker.init(first frame, box)``, then ``tracker.update(frame)`` for every later frame.
    ``output`` (optional) receives every frame annotated by :func:`draw_tracking` through a
    :class:`FrameWriter` (same frame count, size and frame rate as ``source``); ``boxes_out``
    (optional) one ``x,y,w,h`` line per frame, the first being ``box``. Both appear only when
    the whole source has been tracked; on any error or Ctrl-C neither is left behind. A
    progress bar goes to stderr unless ``progress=False``.

    Raises :class:`~hart.errors.InputError` for a box outside the frame or a bad output path
    (before any frame is tracked), or a folder frame that cannot be read or differs in size.
    """
    box = np.asarray(box, dtype=np.float64).reshape(4)
    check_box_in_frame(box, source.size)
    check_outputs(source, output, boxes_out)

    boxes = []
    tracking_seconds = 0.0
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        writer = None
        if output is not None:
            writer = stack.enter_context(FrameWriter(output, source.size, source.fps))
        lines = None
        if boxes_out is not None:
            temporary = stack.enter_context(atomic_output(boxes_out))
            lines = stack.enter_context(open(temporary, "x", encoding="utf-8"))
        frames = stack.enter_context(
            tqdm(
                source,
                total=source.frame_count,
                desc=f"tracking {source.path.name}",
                unit="frame",
                file=sys.stderr,
                disable=not progress,
                dynamic_ncols=True,
            )
        )
        for index, frame in enumerate(frames):
            tick = time.perf_counter()
            if index == 0:
                tracker.init(frame, box.copy())
                predicted = box
            else:
                predicted = np.asarray(tracker.update(frame), dtype=np.float64).reshape(4)
            tracking_seconds += time.perf_counter() - tick
            boxes.append(predicted)
            if lines is not None:
                lines.write(_box_text(predicted) + "\n")
            if writer is not None:
                writer.write(
                    draw_tracking(
                        frame,
                        predicted,
                        getattr(tracker, "attention_box", None),
                        getattr(tracker, "glimpse", None),
                        getattr(tracker, "object_mask", None),
                    )
                )
        if not boxes:
            raise InputError(f"{source.path}: no frame could be read")
    return TrackingRun(
        boxes=np.stack(boxes),
        tracking_seconds=tracking_seconds,
        total_seconds=time.perf_counter() - start,
    )

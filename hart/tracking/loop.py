"""The tracking loop of ``hart track``: a frame source through a tracker into outputs.

:func:`run_tracking` streams a :class:`~hart.media.frames.FrameSource` through any tracker with
``init(frame, box)`` / ``update(frame) -> box`` (:class:`hart.tracking.Tracker`, OpenCV's
trackers, got10k's) into an annotated video (:class:`~hart.media.writer.FrameWriter`) and a boxes
file. Nothing here imports torch or the model: any tracker with that contract works.

Boxes are ``x, y, w, h`` floats in pixels of the frame (top-left corner); a lost target is NaN.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from hart.atomic import atomic_output, check_not_input, check_output_file
from hart.boxes import check_first_box, format_box
from hart.errors import InputError
from hart.media.drawing import draw_tracking
from hart.media.frames import DamagedVideo, FrameSource
from hart.media.writer import FrameWriter, check_frame_rate, check_output_path


class TrackerLike(Protocol):
    """What :func:`run_tracking` needs; :class:`hart.tracking.Tracker` and OpenCV wrappers fit.

    After each ``init``/``update`` a tracker may also offer, for drawing: ``attention_box``
    (``(4,)`` xywh px), ``glimpse`` (uint8 BGR ``(h, w, 3)``) and ``object_mask`` (float in
    ``[0, 1]``, ``(h, w)``).
    """

    def init(self, frame: np.ndarray, box: np.ndarray) -> None: ...

    def update(self, frame: np.ndarray) -> np.ndarray: ...


def check_outputs(
    source: FrameSource,
    output: str | os.PathLike | None,
    boxes_out: str | os.PathLike | None,
    inputs: Sequence[str | os.PathLike] = (),
) -> None:
    """Raise :class:`~hart.errors.InputError` if :func:`run_tracking` could not write its
    outputs (see :func:`~hart.media.writer.check_output_path`; the video at the source's frame
    rate, :func:`~hart.media.writer.check_frame_rate`), or if one of them would
    overwrite the input (or one of its frames), one of the other files read (``inputs``: a box
    file), or the other."""
    paths = [Path(path) for path in (output, boxes_out) if path is not None]
    for path in paths:
        for read in (source.path, *inputs):
            check_not_input(path, read)
        check_not_a_frame(path, source)
    if len(paths) == 2 and paths[0].resolve() == paths[1].resolve():
        raise InputError(f"the video and the boxes would both be written to {paths[0]}")
    if output is not None:
        check_output_path(output)
        check_frame_rate(output, source.fps)
    if boxes_out is not None:
        check_output_file(boxes_out)


def check_not_a_frame(output: Path, source: FrameSource) -> None:
    """Raise :class:`~hart.errors.InputError` if writing ``output`` would replace one of a
    folder source's frames (``--boxes-out DIR/0003.jpg``): the folder is the input named, but
    its frames are what is read. Only frames of the output's name are compared (in any case:
    ``0003.JPG`` is ``0003.jpg`` on macOS's and Windows' disks), so that a long folder costs no
    system call per frame."""
    for frame in source.images:
        if frame.name.lower() != output.name.lower():
            continue
        same = output.resolve() == frame.resolve()
        if same or (output.exists() and os.path.samefile(output, frame)):
            raise InputError(
                f"{output} is one of the input frames in {source.path}; choose another output name"
            )


@dataclass
class TrackingRun:
    """What :func:`run_tracking` did: ``boxes`` ``(N, 4)`` float64 xywh px, one per frame
    (row 0 is the given box, NaN where the tracker lost the target), and wall-clock seconds
    spent in the tracker's ``init``/``update`` alone and in the whole loop (reading, drawing
    and writing included)."""

    boxes: np.ndarray
    tracking_seconds: float
    total_seconds: float
    declared_frames: int | None = None  # what a video's container said it holds, if it said
    truncated: bool | None = None  # FrameSource.truncated: the file ends before its container
    damaged: bool = False  # the video stopped at a frame that cannot be decoded, frames after it

    @property
    def cut_short(self) -> bool:
        """Whether the video stopped at a damaged frame, or fewer frames decoded than its
        container declares from a file that may be cut short. A file whose container accounts
        for every byte is whole: its count was an estimate (a variable frame rate, an audio
        track longer than the video) or includes frames an edit list hides."""
        return self.damaged or (
            self.declared_frames is not None
            and self.frame_count < self.declared_frames
            and self.truncated is not False
        )

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
    accept_short: bool = False,
) -> TrackingRun:
    """Track the target through ``source``, one frame at a time.

    ``tracker.init(first frame, box)``, then ``tracker.update(frame)`` for every later frame.
    ``output`` (optional) receives every frame annotated by
    :func:`~hart.media.drawing.draw_tracking` through a :class:`~hart.media.writer.FrameWriter`
    (same frame count, size and frame rate as ``source``); ``boxes_out`` (optional) one
    ``x,y,w,h`` line per frame, the first being ``box``. Both appear only when the whole source
    has been tracked; on any error or Ctrl-C neither is left behind. A progress bar goes to
    stderr unless ``progress=False``.

    A video that decodes fewer frames than its container declares, from a file cut short, or
    that stops at a frame that cannot be decoded with frames after it (a damaged file:
    :attr:`TrackingRun.cut_short`), is an error, and nothing is written, unless
    ``accept_short``: then the frames that decode (up to the damaged one) are tracked and
    ``cut_short`` says so.

    Raises :class:`~hart.errors.InputError` for a bad first box or output path (before any
    frame is tracked), a folder frame that cannot be read or differs in size, or a video cut
    short.
    """
    box = check_first_box(box, source.size)
    check_outputs(source, output, boxes_out)

    boxes = []
    damage: list[DamagedVideo] = []
    tracking_seconds = 0.0
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        writer = None
        if output is not None:
            writer = stack.enter_context(FrameWriter(output, source.size, source.fps))
        lines = None
        if boxes_out is not None:
            temporary = stack.enter_context(atomic_output(boxes_out))
            lines = stack.enter_context(open(temporary, "w", encoding="utf-8"))
        frames = stack.enter_context(
            tqdm(
                _until_damaged(source, damage),
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
                lines.write(format_box(predicted) + "\n")
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
        run = TrackingRun(
            boxes=np.stack(boxes),
            tracking_seconds=tracking_seconds,
            total_seconds=time.perf_counter() - start,
            declared_frames=None if source.is_folder else source.frame_count,
            truncated=source.truncated,
            damaged=bool(damage),
        )
        if run.damaged and not accept_short:
            raise InputError(
                f"{damage[0]}; nothing was written (to track the {run.frame_count} frames before "
                "it: --accept-short, or accept_short=True)"
            )
        if run.cut_short and not accept_short:
            raise InputError(
                f"{source.path}: only {run.frame_count} of the {run.declared_frames} frames its "
                "container declares could be decoded (the file is cut short or damaged); "
                "nothing was written (to track the frames that decode: --accept-short, or "
                "accept_short=True)"
            )
    return run


def _until_damaged(source: FrameSource, damage: list[DamagedVideo]) -> Iterator[np.ndarray]:
    """``source``'s frames up to a frame that cannot be decoded, if it has one: that error is
    appended to ``damage``, for :func:`run_tracking` to refuse or accept the frames before it
    as it does a video cut short."""
    try:
        yield from source
    except DamagedVideo as error:
        damage.append(error)

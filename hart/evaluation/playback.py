"""One tracker over one run of frames, here or in a new Python process.

Kept free of torch (and of the dataset readers) so that a new process starts in a fraction of a
second: it imports only OpenCV, numpy, this and :mod:`hart.media.frames`.
"""

from __future__ import annotations

import pickle
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hart.evaluation.trackers import InitUpdateTracker
from hart.media.frames import read_image


@dataclass
class TrackRun:
    """What a tracker did on one sequence: ``boxes`` ``(N, 4)`` xywh pixels (row 0 is the
    given box) and ``seconds`` ``(N,)`` spent in ``init``/``update`` on each frame."""

    boxes: np.ndarray
    seconds: np.ndarray


def track_frames(tracker: InitUpdateTracker, frames: list[Path], first_box: np.ndarray) -> TrackRun:
    """``init`` on ``frames[0]`` with ``first_box`` (xywh pixels), ``update`` on each later
    frame; time only the tracker's calls, not reading the frames."""
    first_box = np.asarray(first_box, dtype=np.float64).reshape(4)
    boxes = np.empty((len(frames), 4))  # (N, 4)
    seconds = np.empty(len(frames))
    for index, path in enumerate(frames):
        frame = read_image(path)
        start = time.perf_counter()
        if index == 0:
            tracker.init(frame, first_box.copy())
            box = first_box
        else:
            box = tracker.update(frame)
        seconds[index] = time.perf_counter() - start
        boxes[index] = np.asarray(box, dtype=np.float64).reshape(4)
    return TrackRun(boxes, seconds)


# What the new process runs: take sys.path from the parent (so that it imports the same hart, and
# the module that defines the tracker), then the job.
_BOOTSTRAP = (
    "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
    "from hart.evaluation.playback import serve; serve(sys.stdin.buffer)"
)


def track_in_a_new_process(
    make: Callable[[], InitUpdateTracker], frames: list[Path], first_box: np.ndarray
) -> TrackRun:
    """:func:`track_frames` with ``make()`` in a new Python process; ``make`` must be picklable.

    An exception in the tracker is raised here as if it had happened here. A process that dies
    (a segfault in native code) raises :class:`RuntimeError` naming the signal.

    A plain subprocess rather than :mod:`multiprocessing`: no fork of a process whose OpenCV or
    torch thread pools are running (which can deadlock), and no re-import of the caller's main
    script (which :mod:`multiprocessing`'s spawn does, running an unguarded script again).
    """
    with tempfile.TemporaryDirectory(prefix="hart-track-") as folder:
        result_path = Path(folder) / "result.pickle"
        job = pickle.dumps(sys.path) + pickle.dumps((make, frames, first_box, result_path))
        done = subprocess.run(
            [sys.executable, "-c", _BOOTSTRAP], input=job, capture_output=True, check=False
        )
        if done.returncode != 0 or not result_path.is_file():
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            if done.returncode < 0:
                name = signal.Signals(-done.returncode).name
                cause = f"{name}, a fault in native code such as OpenCV's"
            else:
                cause = f"exit status {done.returncode}" + (f": {lines[-1]}" if lines else "")
            raise RuntimeError(f"the tracker crashed its process ({cause})")
        outcome = pickle.loads(result_path.read_bytes())
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def serve(stream) -> None:
    """The new process's side of :func:`track_in_a_new_process`: read the job from ``stream``,
    write the :class:`TrackRun` or the exception to the result file."""
    make, frames, first_box, result_path = pickle.load(stream)
    try:
        outcome = track_frames(make(), frames, first_box)
    # Hand any failure of the tracker back to the parent, which reports it and goes on.
    except Exception as error:
        outcome = error
    try:
        payload = pickle.dumps(outcome)
    except (pickle.PicklingError, TypeError, AttributeError):  # an exception pickle cannot carry
        payload = pickle.dumps(RuntimeError(f"{type(outcome).__name__}: {outcome}"))
    Path(result_path).write_bytes(payload)

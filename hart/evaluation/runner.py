"""Run trackers over sequences, cache what they did, and score it.

Each tracker is run on each sequence once: ``init`` on the first frame with the true box, then
``update`` on every later frame. What it returned and how long it took are written to
``<cache>/<tracker>/<sequence>.txt`` (atomically, so an interrupted run leaves no half file), and
a later run reuses them when nothing the run depended on changed: the tracker (and its
checkpoint; for ours also the device, threads and glimpse path, which move its boxes by float
rounding: :func:`hart.evaluation.trackers.compute_setting`), the frames (names, sizes,
modification times) and the first box, the only part of the ground truth a tracker sees.
Scores are computed afresh from the ground truth every time. A tracker that fails on a sequence
is reported and the run goes on with the next one. Trackers whose spec asks for it (OpenCV's:
some of its legacy trackers segfault on some sequences) run in a separate process, so that even
a crash in native code costs one sequence, not the run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from hart.atomic import atomic_output, file_in_the_way
from hart.datasets.sequence import Sequence
from hart.errors import InputError
from hart.evaluation.metrics import SequenceScores, score_sequence
from hart.evaluation.playback import TrackRun, track_frames, track_in_a_new_process
from hart.evaluation.trackers import InitUpdateTracker, TrackerSpec

CACHE_HEADER = "# hart evaluate cache: "


@dataclass
class Evaluation:
    """Everything one evaluation produced; :mod:`hart.evaluation.report` turns it into files."""

    trackers: list[str]
    sequences: list[str]  # evaluated, in order
    steps: int  # the length the IoU-over-time curve covers
    scores: dict[str, dict[str, SequenceScores]] = field(default_factory=dict)  # tracker → seq
    overlaps: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # (N,) per frame
    # (N,) per frame; NaN for a tracker whose time means nothing (TrackerSpec.timed False)
    seconds: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # sequence → why
    failures: dict[str, dict[str, str]] = field(default_factory=dict)  # tracker → seq → error


def first_box_problem(sequence: Sequence) -> str | None:
    """Why a sequence cannot be tracked (no frames; no first box to start from), or None."""
    if len(sequence) == 0:
        return "it has no frames"
    if not sequence.visible[0] or not np.all(np.isfinite(sequence.boxes[0])):
        return "the target is not visible in its first frame, so there is no box to start from"
    if np.any(sequence.boxes[0, 2:] <= 0):
        return f"its first box {sequence.boxes[0].tolist()} has no area"
    return None


def nothing_to_score(sequence: Sequence) -> str | None:
    """Why a sequence that can be tracked has nothing to score (one frame: the first, whose box
    the tracker was given), or None. Evaluated, it scored nothing, and as the shortest sequence
    it cut the IoU-over-time curve and the average IoU to that one unscored frame, for every
    tracker."""
    if len(sequence) == 1:
        return "it has one frame, the first, which is not scored"
    return None


def shift_first_boxes(sequences: list[Sequence], shift: tuple[float, float]) -> list[Sequence]:
    """Copies of ``sequences`` whose first box is moved by ``shift`` (dx, dy pixels); every
    other box, the ground truth that is scored, stays as it is.

    Scores over many sequences move by far more than a method's worth when the start moves by
    a pixel (a target held or lost); tracking the same sequences from starts a pixel apart shows
    how much (OTB's spatial robustness evaluation perturbs the first box the same way, by a tenth
    of its size). The first frame is never scored, so only where tracking starts changes.
    """
    if shift == (0.0, 0.0):
        return sequences
    moved = []
    for sequence in sequences:
        boxes = sequence.boxes.copy()  # (N, 4) xywh
        boxes[0, :2] += np.asarray(shift, dtype=np.float32)
        moved.append(replace(sequence, boxes=boxes))
    return moved


def track_sequence(
    tracker: InitUpdateTracker, sequence: Sequence, frames: int | None = None
) -> TrackRun:
    """Run ``tracker`` over the first ``frames`` frames of ``sequence`` (all if None)."""
    problem = first_box_problem(sequence)
    if problem is not None:
        raise InputError(f"sequence {sequence.name!r}: {problem}")
    count = len(sequence) if frames is None else min(frames, len(sequence))
    return track_frames(tracker, sequence.frames[:count], sequence.boxes[0])


class _SameProcess:
    """Runs one tracker here; it is made on first use (all results may come from the cache)."""

    def __init__(self, make: Callable[[], InitUpdateTracker]):
        self._make = make
        self._tracker: InitUpdateTracker | None = None

    def run(self, sequence: Sequence, frames: int) -> TrackRun:
        if self._tracker is None:
            self._tracker = self._make()
        return track_sequence(self._tracker, sequence, frames)

    def close(self) -> None:
        self._tracker = None


class _SeparateProcess:
    """Runs one tracker on each sequence in a new Python process (:func:`track_in_a_new_process`).

    Why a process per sequence: a crash in native code (a segfault in one of OpenCV's legacy
    trackers) then fails that sequence only; and a randomised tracker (MIL, whose random state
    OpenCV does not let us seed) starts every sequence from the same state, so its result on a
    sequence does not depend on which sequences ran before it. ``make`` must be picklable.
    """

    def __init__(self, make: Callable[[], InitUpdateTracker]):
        self._make = make

    def run(self, sequence: Sequence, frames: int) -> TrackRun:
        count = min(frames, len(sequence))
        return track_in_a_new_process(self._make, sequence.frames[:count], sequence.boxes[0])

    def close(self) -> None:
        pass


def _safe_name(name: str) -> str:
    """``name`` as a file name: unsafe characters replaced, and then a short hash of the name
    added so that two names cannot share a file."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "_"
    if cleaned == name:
        return name
    return f"{cleaned}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def tracker_cache_folder(cache_dir: Path, tracker: str) -> Path:
    """``<cache_dir>/<tracker>``: where one tracker's runs are cached."""
    return cache_dir / _safe_name(tracker)


def cache_path(cache_dir: Path, tracker: str, sequence: str) -> Path:
    """``<cache_dir>/<tracker>/<sequence>.txt``, both names made safe as file names."""
    return tracker_cache_folder(cache_dir, tracker) / f"{_safe_name(sequence)}.txt"


def check_cache_folders(cache_dir: Path, trackers: list[str]) -> None:
    """Raise :class:`InputError` if a file stands where the cache keeps a folder, so that a run
    stops before any work rather than after its first tracked sequence."""
    for tracker in trackers:
        folder = tracker_cache_folder(cache_dir, tracker)
        blocker = file_in_the_way(folder)
        if blocker == folder or blocker == cache_dir:
            raise InputError(f"{blocker} is a file where hart keeps its cache folder; remove it")
        if blocker is not None:
            raise InputError(f"cannot make the cache folder {folder}: {blocker} is not a folder")


def check_cache_files(cache_dir: Path, trackers: list[str], sequences: list[str]) -> None:
    """Raise :class:`InputError` if a folder stands where a tracker's run on a sequence is
    cached (:func:`cache_path`): checked once the sequences are known, before any tracker runs,
    rather than when the run is written, after minutes of tracking."""
    for tracker in trackers:
        for sequence in sequences:
            path = cache_path(cache_dir, tracker, sequence)
            if path.is_dir():
                raise InputError(f"{path} is a folder where hart keeps a cached result; remove it")


def sequence_fingerprint(sequence: Sequence) -> str:
    """A short hash of what a tracker's run on ``sequence`` depends on: each frame file's name,
    size and modification time, and the first box. Another video of the same name, a re-encoded
    frame or a corrected first box all change it."""
    digest = hashlib.sha1()
    for path in sequence.frames:
        try:
            stat = Path(path).stat()
            digest.update(f"{Path(path).name}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        except OSError:  # tracking will fail on it and say so; no result is cached then
            digest.update(f"{Path(path).name}|missing\n".encode())
    digest.update(np.asarray(sequence.boxes[0], dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


def write_cached(path: Path, key: str, run: TrackRun) -> None:
    """Write a run as text: a header naming the tracker, then ``x,y,w,h,seconds`` per frame."""
    rows = np.column_stack([run.boxes, run.seconds])  # (N, 5)
    header = f"{CACHE_HEADER}{key}\n# x,y,w,h,seconds (one line per frame)"

    fmt = ["%.10g"] * 4 + ["%.6e"]  # boxes to 1e-10 px; seconds to 7 digits
    with atomic_output(path) as temporary:
        np.savetxt(temporary, rows, fmt=fmt, delimiter=",", header=header, comments="")


def read_cached(path: Path, key: str, frames: int) -> TrackRun | None:
    """The first ``frames`` rows of a cached run whose header holds ``key``, or None when
    there is none, it came from another tracker, checkpoint or sequence content, it is too
    short, or it is damaged."""
    if not path.is_file():
        return None
    try:
        with path.open() as file:
            if file.readline().rstrip("\n") != f"{CACHE_HEADER}{key}":
                return None
            rows = np.loadtxt(file, delimiter=",", comments="#", ndmin=2)
    # Damaged (cut short, text junk, or bytes that are no text at all, whose UnicodeDecodeError
    # is a ValueError too): the entry is as good as absent, so the sequence is run again.
    except ValueError:
        return None
    if rows.shape[1:] != (5,) or len(rows) < frames:
        return None
    rows = rows[:frames]  # (frames, 5)
    return TrackRun(rows[:, :4], rows[:, 4])


def unique_names(sequences: list[Sequence], log: Callable[[str], None]) -> list[Sequence]:
    """The sequences, a repeated name (one sequence in two benchmarks) suffixed ``#2``, ``#3``
    so that results and cache files stay apart."""
    seen: dict[str, int] = {}
    unique = []
    for sequence in sequences:
        seen[sequence.name] = seen.get(sequence.name, 0) + 1
        if seen[sequence.name] > 1:
            name = f"{sequence.name}#{seen[sequence.name]}"
            log(f"two sequences are named {sequence.name!r}: calling the later one {name!r}")
            sequence = replace(sequence, name=name)
        unique.append(sequence)
    return unique


def _evaluate_one(
    evaluation: Evaluation,
    spec: TrackerSpec,
    runner: _SameProcess | _SeparateProcess,
    sequence: Sequence,
    fingerprint: str,
    length: int,
    cache_dir: Path,
    rerun: bool,
    log: Callable[[str], None],
) -> None:
    """Track (or read from the cache) and score one sequence; record a failure in
    ``evaluation`` instead of raising."""
    path = cache_path(cache_dir, spec.name, sequence.name)
    key = f"{spec.cache_key} | sequence {fingerprint}"
    run = None if rerun else read_cached(path, key, length)
    origin = "cached"
    if run is None:
        origin = "tracked"
        try:
            run = runner.run(sequence, length)
        # Any tracker, ours or OpenCV's or a user's, may fail in its own way on one
        # sequence; report it and go on with the others.
        except Exception as error:
            lines = str(error).strip().splitlines() or [""]
            message = f"{type(error).__name__}: {lines[0]}"
            evaluation.failures.setdefault(spec.name, {})[sequence.name] = message
            log(f"{spec.name} failed on {sequence.name!r}: {message}")
            return
        write_cached(path, key, run)
    # The cache keeps the time measured; an untimed tracker's is dropped here, so that its
    # fps is NaN in every score computed from it (per sequence and overall): "—" and null.
    seconds = run.seconds if spec.timed else np.full(len(run.seconds), np.nan)
    scores, overlaps = score_sequence(
        run.boxes, sequence.boxes[:length], sequence.visible[:length], seconds
    )
    evaluation.scores[spec.name][sequence.name] = scores
    evaluation.overlaps[spec.name][sequence.name] = overlaps
    evaluation.seconds[spec.name][sequence.name] = seconds
    fps = "—" if np.isnan(scores.fps) else f"{scores.fps:.1f}"
    log(
        f"{spec.name:>10}  {sequence.name:<24} {length:5d} frames  "
        f"AUC {scores.success_auc:.3f}  {fps:>7} fps  ({origin})"
    )


def _curve_length(lengths: list[int], steps: int | None, log: Callable[[str], None]) -> int:
    """How many frames the IoU-over-time curve covers: ``steps``, the shortest of ``lengths``
    when None, and never more than the longest (past it there is nothing to average, and the
    table's "avg IoU (N frames)" would name frames that were never tracked)."""
    if steps is None:
        return min(lengths)
    if steps > max(lengths):
        log(
            f"the IoU-over-time curve covers {max(lengths)} frames, the longest sequence "
            f"evaluated, not the {steps} asked for"
        )
        return max(lengths)
    return steps


def evaluate(
    sequences: list[Sequence],
    trackers: list[TrackerSpec],
    cache_dir: Path,
    frames: int | None = None,
    steps: int | None = None,
    rerun: bool = False,
    log: Callable[[str], None] = print,
) -> Evaluation:
    """Run and score every tracker on every sequence.

    ``frames``: track only the first N frames of each sequence (None: all). ``steps``: how many
    frames the IoU-over-time curve covers (None: the shortest sequence, so every point averages
    every sequence, as the HART paper's fixed-length protocol does; at most the longest, to
    which a larger number is cut, with a message). ``rerun``: ignore the cache. Sequences that
    cannot start (no first box) or have nothing to score (one frame) are skipped with a
    message; a tracker that fails on a sequence is reported through ``log`` and recorded, and
    the run goes on.
    Raises :class:`InputError` when no sequence can be evaluated, or when a file stands where
    the cache keeps a folder or a folder where it keeps a file (before any tracker runs).
    """
    usable: list[Sequence] = []
    skipped: dict[str, str] = {}
    for sequence in unique_names(sequences, log):
        problem = first_box_problem(sequence) or nothing_to_score(sequence)
        if problem is None:
            usable.append(sequence)
        else:
            skipped[sequence.name] = problem
            log(f"skipping sequence {sequence.name!r}: {problem}")
    if not usable:
        raise InputError(f"none of the {len(sequences)} sequences can be evaluated")
    check_cache_folders(cache_dir, [t.name for t in trackers])
    check_cache_files(cache_dir, [t.name for t in trackers], [s.name for s in usable])
    lengths = [len(s) if frames is None else min(frames, len(s)) for s in usable]
    evaluation = Evaluation(
        trackers=[t.name for t in trackers],
        sequences=[s.name for s in usable],
        steps=_curve_length(lengths, steps, log),
        skipped=skipped,
    )
    fingerprints = [sequence_fingerprint(s) for s in usable]
    for spec in trackers:
        for results in (evaluation.scores, evaluation.overlaps, evaluation.seconds):
            results[spec.name] = {}
        runner = _SeparateProcess(spec.make) if spec.isolated else _SameProcess(spec.make)
        try:
            for sequence, fingerprint, length in zip(usable, fingerprints, lengths, strict=True):
                _evaluate_one(
                    evaluation, spec, runner, sequence, fingerprint, length, cache_dir, rerun, log
                )
        finally:
            runner.close()
    return evaluation

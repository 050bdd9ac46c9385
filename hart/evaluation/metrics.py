"""Tracking metrics: the HART paper's, OTB's, GOT-10k's, and speed.

Every metric scores a tracker's boxes against the ground truth of one sequence and follows the
same two rules, as the got10k toolkit does:

- the **first frame is not scored**: the tracker was given its box;
- frames where the **target is not visible** are not scored (there is nothing to overlap with).

Per-frame scores are arrays of shape ``(N,)`` over the sequence's frames with NaN on the frames
that are not scored, so one sequence's frame ``t`` lines up with another's. A tracker that gives
no box (a NaN row) on a scored frame has missed it: overlap 0 and an infinite centre error.

Boxes are ``(N, 4)`` ``x, y, w, h`` pixels (:mod:`hart.boxes`). Each aggregate's docstring says
how it combines sequences, since benchmarks differ: OTB and LaSOT average per-sequence curves,
GOT-10k pools the frames of all sequences.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import asdict, dataclass

import numpy as np

from hart.boxes import centre_distance, centres, iou

OTB_IOU_THRESHOLDS = np.linspace(0.0, 1.0, 21)  # 0, 0.05, …, 1 as in OTB's toolkit
PRECISION_THRESHOLD_PX = 20.0
NORMALISED_PRECISION_THRESHOLDS = np.linspace(0.0, 0.5, 51)  # 0, 0.01, …, 0.5 (TrackingNet)


def scored_frames(visible: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: the frames a metric scores — visible, and not the first."""
    scored = np.asarray(visible, dtype=bool).copy()
    scored[:1] = False
    return scored


def frame_overlaps(predicted: np.ndarray, truth: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """IoU of each predicted box with the true one: ``(N, 4), (N, 4), (N,) → (N,)`` float64.

    NaN on frames not scored (:func:`scored_frames`); 0 where the tracker gave a NaN box.
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    scored = scored_frames(visible)
    overlaps = iou(predicted, truth)
    overlaps = np.where(np.isnan(overlaps), 0.0, overlaps)
    return np.where(scored, overlaps, np.nan)


def centre_errors(predicted: np.ndarray, truth: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Distance in pixels between predicted and true box centres: ``→ (N,)`` float64.

    NaN on frames not scored; infinite where the tracker gave a NaN box.
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    errors = centre_distance(predicted, truth)
    errors = np.where(np.isnan(errors), np.inf, errors)
    return np.where(scored_frames(visible), errors, np.nan)


def normalised_centre_errors(
    predicted: np.ndarray, truth: np.ndarray, visible: np.ndarray
) -> np.ndarray:
    """Centre error measured in units of the true box's size (TrackingNet): ``→ (N,)``.

    The offset between centres is divided by the true box's width (x) and height (y) before
    taking its length, so that a 10-pixel miss on a small target counts more than on a large
    one. NaN on frames not scored; infinite where the tracker gave a NaN box.
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero-size true box: a miss
        offset = (centres(predicted) - centres(truth)) / truth[:, 2:]  # (N, 2) in box sizes
        errors = np.linalg.norm(offset, axis=1)
    errors = np.where(np.isnan(errors), np.inf, errors)
    return np.where(scored_frames(visible), errors, np.nan)


def _scored(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[~np.isnan(values)]


def success_curve(overlaps: np.ndarray, thresholds: np.ndarray = OTB_IOU_THRESHOLDS) -> np.ndarray:
    """OTB success curve of one sequence: ``(N,) overlaps → (len(thresholds),)``.

    Protocol (Wu et al., OTB 2013/2015, one-pass evaluation): for each IoU threshold in
    0, 0.05, …, 1 the fraction of scored frames whose overlap is *greater than* the threshold.
    All NaN if no frame is scored.
    """
    scored = _scored(overlaps)
    if scored.size == 0:
        return np.full(len(thresholds), np.nan)
    return (scored[None, :] > np.asarray(thresholds)[:, None]).mean(axis=1)


def success_auc(overlaps: np.ndarray) -> float:
    """OTB's success score: the area under :func:`success_curve`, i.e. its mean over the 21
    thresholds (OTB ranks trackers by it). Across sequences, average the per-sequence curves
    (:func:`mean_curve`) and take the curve's mean."""
    return float(np.mean(success_curve(overlaps)))


def precision(errors: np.ndarray, threshold: float = PRECISION_THRESHOLD_PX) -> float:
    """OTB precision: the fraction of scored frames whose centre error is at most
    ``threshold`` pixels (20 px is OTB's reported point). NaN if no frame is scored. Across
    sequences OTB averages the per-sequence values."""
    scored = _scored(errors)
    return float(np.mean(scored <= threshold)) if scored.size else float("nan")


def normalised_precision(normalised_errors: np.ndarray) -> float:
    """Normalised precision (TrackingNet, Müller et al. 2018; LaSOT): the area under the
    precision curve of :func:`normalised_centre_errors` over thresholds 0, 0.01, …, 0.5 box
    sizes, i.e. the mean over those 51 thresholds of the fraction of scored frames within the
    threshold. NaN if no frame is scored. Across sequences, average the per-sequence values."""
    scored = _scored(normalised_errors)
    if scored.size == 0:
        return float("nan")
    within = scored[None, :] <= NORMALISED_PRECISION_THRESHOLDS[:, None]  # (51, frames)
    return float(within.mean())


def average_overlap(overlaps: np.ndarray | Seq[np.ndarray]) -> float:
    """GOT-10k's AO: the mean overlap over scored frames.

    Given several sequences' overlaps, the frames of all of them are pooled (as the got10k
    toolkit does), so a long sequence weighs more than a short one. NaN if nothing is scored.
    """
    scored = _scored(_pooled(overlaps))
    return float(scored.mean()) if scored.size else float("nan")


def success_rate(overlaps: np.ndarray | Seq[np.ndarray], threshold: float) -> float:
    """GOT-10k's SR at ``threshold`` (0.5 and 0.75 are reported): the fraction of scored frames
    whose overlap is greater than the threshold, frames of several sequences pooled as in
    :func:`average_overlap`. NaN if nothing is scored."""
    scored = _scored(_pooled(overlaps))
    return float(np.mean(scored > threshold)) if scored.size else float("nan")


def _pooled(overlaps: np.ndarray | Seq[np.ndarray]) -> np.ndarray:
    if isinstance(overlaps, np.ndarray):
        return overlaps.reshape(-1)
    return np.concatenate([np.asarray(o, dtype=np.float64).reshape(-1) for o in overlaps])


def iou_over_time(overlaps: Seq[np.ndarray], steps: int) -> np.ndarray:
    """The HART paper's IoU curve: mean overlap at each time step across sequences → ``(steps,)``.

    Protocol (Kosiorek et al. 2017, the KITTI and KTH figures): every sequence is cut to its
    first ``steps`` frames; at time step ``t`` the curve is the mean over sequences of the
    overlap at frame ``t``. Time step 0 is the given box and is NaN, as is any step at which no
    sequence has a scored frame (all shorter, or the target absent in all of them).
    """
    stacked = np.full((len(overlaps), steps), np.nan)  # (sequences, steps)
    for row, sequence_overlaps in zip(stacked, overlaps, strict=True):
        length = min(steps, len(sequence_overlaps))
        row[:length] = sequence_overlaps[:length]
    counts = (~np.isnan(stacked)).sum(axis=0)
    sums = np.nansum(stacked, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def average_iou(overlaps: Seq[np.ndarray], steps: int) -> float:
    """The HART paper's average IoU: the mean overlap over every scored frame among the first
    ``steps`` frames of every sequence (the mean of :func:`iou_over_time`'s points weighted by
    how many sequences each averages; with fixed-length, fully visible sequences, the plain
    mean of the curve). NaN if nothing is scored."""
    return average_overlap([np.asarray(o, dtype=np.float64)[:steps] for o in overlaps])


def frames_per_second(seconds: np.ndarray | Seq[np.ndarray]) -> float:
    """Speed: frames tracked per second of the tracker's own time (``init`` on the first frame
    and ``update`` on the rest; reading and decoding frames excluded). Several sequences' times
    are pooled: total frames over total seconds. NaN if no time was measured."""
    pooled = _pooled(seconds)
    total = float(np.sum(pooled))
    return pooled.size / total if total > 0 else float("nan")


def mean_curve(curves: Seq[np.ndarray]) -> np.ndarray:
    """Average per-sequence curves point by point (OTB's overall success plot), ignoring
    sequences with no scored frame."""
    stacked = np.stack([np.asarray(c, dtype=np.float64) for c in curves])
    usable = stacked[~np.isnan(stacked).all(axis=1)]
    if usable.size == 0:
        return np.full(stacked.shape[1], np.nan)
    return usable.mean(axis=0)


@dataclass(frozen=True)
class SequenceScores:
    """Every metric for one tracker on one sequence (see the functions for each protocol)."""

    frames: int  # frames tracked
    scored_frames: int  # frames scored: visible, and not the first
    success_auc: float  # OTB success AUC
    precision_20px: float  # OTB precision at 20 px
    normalised_precision: float  # TrackingNet / LaSOT
    average_overlap: float  # GOT-10k AO (= the HART paper's average IoU on this sequence)
    success_rate_50: float  # GOT-10k SR0.5
    success_rate_75: float  # GOT-10k SR0.75
    fps: float

    def as_dict(self) -> dict:
        return asdict(self)


def score_sequence(
    predicted: np.ndarray, truth: np.ndarray, visible: np.ndarray, seconds: np.ndarray
) -> tuple[SequenceScores, np.ndarray]:
    """All per-sequence metrics, and the per-frame overlaps ``(N,)`` they came from.

    ``predicted``, ``truth``: ``(N, 4)`` xywh pixels; ``visible``: ``(N,)`` bool;
    ``seconds``: ``(N,)`` the tracker's time per frame.
    """
    overlaps = frame_overlaps(predicted, truth, visible)
    scores = SequenceScores(
        frames=len(predicted),
        scored_frames=int((~np.isnan(overlaps)).sum()),
        success_auc=success_auc(overlaps),
        precision_20px=precision(centre_errors(predicted, truth, visible)),
        normalised_precision=normalised_precision(
            normalised_centre_errors(predicted, truth, visible)
        ),
        average_overlap=average_overlap(overlaps),
        success_rate_50=success_rate(overlaps, 0.5),
        success_rate_75=success_rate(overlaps, 0.75),
        fps=frames_per_second(seconds),
    )
    return scores, overlaps


@dataclass(frozen=True)
class OverallScores:
    """One tracker over a set of sequences, each metric combined as its benchmark does."""

    sequences: int
    frames: int
    scored_frames: int
    success_auc: float  # OTB: area under the mean of the per-sequence success curves
    precision_20px: float  # OTB: mean over sequences
    normalised_precision: float  # TrackingNet / LaSOT: mean over sequences
    average_overlap: float  # GOT-10k: frames of all sequences pooled
    success_rate_50: float  # GOT-10k: pooled
    success_rate_75: float  # GOT-10k: pooled
    average_iou: float  # HART paper: pooled over the first `steps` frames of each sequence
    fps: float  # total frames / total seconds
    success_curve: list[float]  # (21,) OTB_IOU_THRESHOLDS
    iou_over_time: list[float]  # (steps,) NaN at step 0

    def as_dict(self) -> dict:
        return asdict(self)


def overall_scores(
    per_sequence: Seq[SequenceScores],
    overlaps: Seq[np.ndarray],
    seconds: Seq[np.ndarray],
    steps: int,
) -> OverallScores:
    """Combine one tracker's per-sequence results (the three lists in the same order) as each
    benchmark does; ``steps`` is the length of the IoU-over-time curve."""
    if not per_sequence:
        nan = float("nan")
        curve = [nan] * len(OTB_IOU_THRESHOLDS)
        return OverallScores(0, 0, 0, *([nan] * 8), curve, [nan] * steps)
    curve = mean_curve([success_curve(o) for o in overlaps])
    return OverallScores(
        sequences=len(per_sequence),
        frames=sum(s.frames for s in per_sequence),
        scored_frames=sum(s.scored_frames for s in per_sequence),
        success_auc=float(np.mean(curve)),
        precision_20px=float(np.nanmean([s.precision_20px for s in per_sequence])),
        normalised_precision=float(np.nanmean([s.normalised_precision for s in per_sequence])),
        average_overlap=average_overlap(overlaps),
        success_rate_50=success_rate(overlaps, 0.5),
        success_rate_75=success_rate(overlaps, 0.75),
        average_iou=average_iou(overlaps, steps),
        fps=frames_per_second(seconds),
        success_curve=curve.tolist(),
        iou_over_time=iou_over_time(overlaps, steps).tolist(),
    )

"""Every metric against values worked out by hand on small made-up sequences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hart.evaluation import metrics

NAN_BOX = [np.nan] * 4

# A 10×10 target that stays put; frame 3 it is hidden. The tracker: frame 0 is the given box,
# frame 1 exact, frame 2 half a box to the right, frame 3 anywhere (not scored), frame 4 3.33 px
# low, frame 5 no box at all.
TRUTH = np.array([[0, 0, 10, 10]] * 3 + [NAN_BOX] + [[0, 0, 10, 10]] * 2, dtype=np.float32)
VISIBLE = np.array([True, True, True, False, True, True])
PREDICTED = np.array(
    [[0, 0, 10, 10], [0, 0, 10, 10], [5, 0, 10, 10], [90, 90, 10, 10], [0, 3.33, 10, 10], NAN_BOX]
)
# By hand: overlaps of the scored frames 1, 2, 4, 5.
IOU_LOW = 10 * 6.67 / (200 - 10 * 6.67)  # 66.7 / 133.3 = 0.50038 (just above 0.5)
OVERLAPS = [np.nan, 1.0, 1 / 3, np.nan, IOU_LOW, 0.0]
CENTRE_ERRORS = [np.nan, 0.0, 5.0, np.nan, 3.33, np.inf]
NORMALISED_ERRORS = [np.nan, 0.0, 0.5, np.nan, 0.333, np.inf]

# A tracker that loses the target: the target moves 5 px right per frame, the box stays.
LOST_TRUTH = np.array([[5 * t, 0, 10, 10] for t in range(5)], dtype=np.float32)
LOST_PREDICTED = np.array([[0, 0, 10, 10]] * 5, dtype=np.float64)
LOST_VISIBLE = np.ones(5, dtype=bool)


def test_scored_frames_skip_the_first_and_absent_frames():
    assert metrics.scored_frames(VISIBLE).tolist() == [False, True, True, False, True, True]


def test_per_frame_overlaps_and_centre_errors():
    np.testing.assert_allclose(metrics.frame_overlaps(PREDICTED, TRUTH, VISIBLE), OVERLAPS)
    np.testing.assert_allclose(metrics.centre_errors(PREDICTED, TRUTH, VISIBLE), CENTRE_ERRORS)
    np.testing.assert_allclose(
        metrics.normalised_centre_errors(PREDICTED, TRUTH, VISIBLE), NORMALISED_ERRORS
    )


def test_success_curve_and_auc():
    curve = metrics.success_curve(np.array(OVERLAPS))
    # IoU > t for t = 0 .. 0.30 (7 thresholds): 1, 1/3, 0.50038 of 4 → 0.75;
    # t = 0.35 .. 0.50 (4): 1 and 0.50038 → 0.5; t = 0.55 .. 0.95 (9): 1 → 0.25; t = 1: 0.
    expected = [0.75] * 7 + [0.5] * 4 + [0.25] * 9 + [0.0]
    np.testing.assert_allclose(curve, expected)
    assert metrics.success_auc(np.array(OVERLAPS)) == pytest.approx(9.5 / 21)


def test_precision_at_20_pixels_and_at_other_thresholds():
    errors = np.array(CENTRE_ERRORS)
    assert metrics.precision(errors) == pytest.approx(3 / 4)  # the missed frame is never close
    assert metrics.precision(errors, threshold=4) == pytest.approx(2 / 4)
    assert metrics.precision(errors, threshold=5) == pytest.approx(3 / 4)  # at most, inclusive


def test_normalised_precision():
    # Thresholds 0, 0.01, …, 0.5 (51). Error 0 is within all 51, 0.5 only the last, 0.333 the
    # 17 from 0.34 to 0.5, the miss none: (51 + 1 + 17 + 0) / (51 · 4).
    assert metrics.normalised_precision(np.array(NORMALISED_ERRORS)) == pytest.approx(69 / 204)


def test_got10k_average_overlap_and_success_rates():
    overlaps = np.array(OVERLAPS)
    assert metrics.average_overlap(overlaps) == pytest.approx((1 + 1 / 3 + IOU_LOW + 0) / 4)
    assert metrics.success_rate(overlaps, 0.5) == pytest.approx(2 / 4)
    assert metrics.success_rate(overlaps, 0.75) == pytest.approx(1 / 4)


def test_a_tracker_that_loses_the_target():
    overlaps = metrics.frame_overlaps(LOST_PREDICTED, LOST_TRUTH, LOST_VISIBLE)
    np.testing.assert_allclose(overlaps, [np.nan, 1 / 3, 0, 0, 0])
    assert metrics.success_auc(overlaps) == pytest.approx(7 * 0.25 / 21)
    assert metrics.average_overlap(overlaps) == pytest.approx(1 / 12)
    assert metrics.success_rate(overlaps, 0.5) == 0.0
    # Centres 5, 10, 15, 20 px away: all within OTB's 20 px, which is why OTB also reports AUC.
    errors = metrics.centre_errors(LOST_PREDICTED, LOST_TRUTH, LOST_VISIBLE)
    assert metrics.precision(errors) == 1.0
    # In box sizes 0.5, 1, 1.5, 2: only 0.5, at the last threshold.
    normalised = metrics.normalised_centre_errors(LOST_PREDICTED, LOST_TRUTH, LOST_VISIBLE)
    assert metrics.normalised_precision(normalised) == pytest.approx(1 / 204)


def test_iou_over_time_averages_sequences_at_each_step():
    first = np.array([np.nan, 1.0, 0.5, np.nan])  # target absent at step 3
    second = np.array([np.nan, 0.0, 1.0])  # shorter
    curve = metrics.iou_over_time([first, second], steps=4)
    np.testing.assert_allclose(curve, [np.nan, 0.5, 0.75, np.nan])
    np.testing.assert_allclose(metrics.iou_over_time([first, second], steps=2), [np.nan, 0.5])
    assert metrics.average_iou([first, second], steps=4) == pytest.approx((1 + 0.5 + 0 + 1) / 4)
    assert metrics.average_iou([first, second], steps=2) == pytest.approx(0.5)


def test_frames_per_second_pools_sequences():
    assert metrics.frames_per_second([np.array([0.1, 0.1]), np.array([0.2])]) == 7.5
    assert math.isnan(metrics.frames_per_second(np.zeros(3)))


def test_nothing_scored_gives_nan_not_an_error():
    only_first = np.array([True, False, False])
    boxes = np.array([[0, 0, 10, 10]] * 3, dtype=np.float64)
    scores, overlaps = metrics.score_sequence(boxes, boxes, only_first, np.ones(3))
    assert scores.scored_frames == 0
    assert np.isnan(overlaps).all()
    assert math.isnan(scores.success_auc) and math.isnan(scores.average_overlap)
    assert math.isnan(scores.precision_20px) and math.isnan(scores.normalised_precision)


def test_score_sequence_gathers_every_metric():
    seconds = np.array([0.5, 0.1, 0.1, 0.1, 0.1, 0.1])
    scores, overlaps = metrics.score_sequence(PREDICTED, TRUTH, VISIBLE, seconds)
    np.testing.assert_allclose(overlaps, OVERLAPS)
    assert scores.frames == 6 and scores.scored_frames == 4
    assert scores.success_auc == pytest.approx(9.5 / 21)
    assert scores.precision_20px == pytest.approx(0.75)
    assert scores.normalised_precision == pytest.approx(69 / 204)
    assert scores.success_rate_50 == pytest.approx(0.5)
    assert scores.success_rate_75 == pytest.approx(0.25)
    assert scores.fps == pytest.approx(6 / 1.0)


def test_overall_scores_combine_each_metric_as_its_benchmark_does():
    first, first_overlaps = metrics.score_sequence(PREDICTED, TRUTH, VISIBLE, np.full(6, 0.1))
    lost, lost_overlaps = metrics.score_sequence(
        LOST_PREDICTED, LOST_TRUTH, LOST_VISIBLE, np.full(5, 0.2)
    )
    combined = metrics.overall_scores(
        [first, lost], [first_overlaps, lost_overlaps], [np.full(6, 0.1), np.full(5, 0.2)], 5
    )
    assert combined.sequences == 2 and combined.frames == 11 and combined.scored_frames == 8
    # OTB: the mean of the two curves' areas (each sequence counts once).
    assert combined.success_auc == pytest.approx((9.5 / 21 + 1.75 / 21) / 2)
    assert combined.precision_20px == pytest.approx((0.75 + 1.0) / 2)
    assert combined.normalised_precision == pytest.approx((69 / 204 + 1 / 204) / 2)
    # GOT-10k: the 8 scored frames pooled.
    assert combined.average_overlap == pytest.approx((1 + 1 / 3 + IOU_LOW + 1 / 3) / 8)
    assert combined.success_rate_50 == pytest.approx(2 / 8)
    assert combined.fps == pytest.approx(11 / 1.6)
    # HART: steps 1..4 of both; the first sequence's frame 3 is absent, frame 5 is cut off.
    assert combined.average_iou == pytest.approx((1 + 1 / 3 + IOU_LOW + 1 / 3) / 7)
    np.testing.assert_allclose(
        combined.iou_over_time, [np.nan, (1 + 1 / 3) / 2, (1 / 3 + 0) / 2, 0, IOU_LOW / 2]
    )
    assert len(combined.success_curve) == 21


def test_overlap_agrees_with_a_slow_reference_on_random_boxes():
    generator = np.random.default_rng(0)
    predicted = generator.uniform([0, 0, 1, 1], [50, 50, 30, 30], size=(1000, 4))
    truth = generator.uniform([0, 0, 1, 1], [50, 50, 30, 30], size=(1000, 4))

    def reference(a, b):
        width = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
        height = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
        inter = width * height
        return inter / (a[2] * a[3] + b[2] * b[3] - inter)

    overlaps = metrics.frame_overlaps(predicted, truth, np.ones(1000, dtype=bool))
    expected = [reference(a, b) for a, b in zip(predicted, truth, strict=True)]
    np.testing.assert_allclose(overlaps[1:], expected[1:], rtol=1e-12)

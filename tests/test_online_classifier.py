"""The online classifier: its correlation and adjoint agree, the fit solves the ridge regression,
it tells the target from a lookalike better than the template's NCC, its memory keeps the first
frame and the newest ones, and a tracker with it streams as it unrolls, trains, and never reads a
value on the host."""

from __future__ import annotations

import pytest
import torch

from hart.model.correlation import crop_template, normalised_cross_correlation
from hart.model.hart import HARTConfig, build_hart
from hart.model.online_classifier import (
    FIRST_SHARE,
    OnlineClassifier,
    filter_response,
    gaussian_labels,
    response_adjoint,
    rms_normalised,
)
from tests.correlation_fixtures import features_with_a_lookalike, untrained_correlation_config
from tests.tracker_checks import check_streams_as_unrolled_and_trains


def test_the_adjoint_is_the_transpose_of_the_response():
    # <X ⋆ w, r> = <w, Xᵀ r> for every filter w and residual r: what conjugate gradients needs.
    torch.manual_seed(0)
    features = torch.randn(2, 3, 4, 9, 11, dtype=torch.float64)
    filters = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    residuals = torch.randn(2, 3, 9, 11, dtype=torch.float64)
    response = filter_response(features, filters)
    assert response.shape == (2, 3, 9, 11)
    adjoint = response_adjoint(features, residuals, 5)
    assert adjoint.shape == (2, 4, 5, 5)
    assert torch.allclose((response * residuals).sum(), (filters * adjoint).sum())
    # and each sample uses its own filter: sample 1 alone gives the same
    alone = filter_response(features[1:], filters[1:])
    assert torch.allclose(alone, response[1:])


def test_the_fit_converges_to_the_ridge_regression_solution():
    # A problem small enough to solve directly: 2 channels, a 3×3 filter, 3 samples of 6×6.
    torch.manual_seed(0)
    classifier = OnlineClassifier(samples=3, filter_size=3, regularisation=0.05)
    samples = torch.randn(1, 3, 2, 6, 6)
    labels = torch.rand(1, 3, 6, 6)
    weights = torch.tensor([2.0, 1.0, 0.5])
    # The design matrix column by column: the response to each unit filter.
    basis = torch.eye(18).view(18, 1, 2, 3, 3)
    design = torch.stack([filter_response(samples, b).flatten() for b in basis], 1)  # (108, 18)
    row_weights = (weights / weights.sum() / 36).repeat_interleave(36)  # (108,)
    normal = design.T @ (row_weights[:, None] * design) + 0.05 * torch.eye(18)
    exact = torch.linalg.solve(normal, design.T @ (row_weights * labels.flatten()))
    fitted = classifier.fit(torch.zeros(1, 2, 3, 3), samples, labels, weights, iterations=18)
    assert torch.allclose(fitted.flatten(), exact, atol=1e-4)
    few = classifier.fit(torch.zeros(1, 2, 3, 3), samples, labels, weights, iterations=2)
    again = classifier.fit(few, samples, labels, weights, iterations=16)  # warm start
    assert torch.allclose(again.flatten(), exact, atol=1e-4)


def test_the_labels_peak_on_the_box_centre():
    labels = gaussian_labels(torch.tensor([[2.0, 4.0, 6.0, 12.0]]), (14, 14), cell_centre=0.5)
    assert labels.shape == (1, 14, 14)
    row, column = divmod(int(labels[0].argmax()), 14)
    assert (row, column) in {(7, 3), (7, 4), (8, 3), (8, 4)}  # centre (4, 8) lies between cells
    assert labels.max() <= 1.0 and labels[0, 0, 13] < 1e-3


def test_the_classifier_tells_the_target_from_a_lookalike_better_than_the_template():
    # A target and, beside it, a lookalike that shares most of its features (the template's NCC
    # scores both high). The fitted filter learns what the lookalike lacks: the gap between the
    # target and the lookalike is far wider in its response than in the NCC.
    features = features_with_a_lookalike(0.8, 0.3)  # target on cell (6, 3), lookalike (6, 10)
    box = torch.tensor([[2.0, 5.0, 5.0, 8.0]])  # the target's middle 3×3 cells
    template = crop_template(features, box, 5)
    ncc = normalised_cross_correlation(features, template)[0, 0]
    classifier = OnlineClassifier(samples=4, filter_size=5, regularisation=0.01, iterations=20)
    state = classifier.remember(features, box, *classifier.empty(features), frames=0)
    response = classifier.response(features, state[0])[0, 0]
    assert ncc[6, 10] > 0.6 * ncc[6, 3]
    assert response[6, 3] > 0.5  # the label peaks at 1; the ridge penalty shrinks it
    assert response[6, 10] < 0.3 * response[6, 3]


def test_the_memory_keeps_the_first_frame_and_overwrites_the_oldest_of_the_others():
    classifier = OnlineClassifier(samples=4, filter_size=3, rate=0.5)
    assert [classifier._slot(frame) for frame in range(8)] == [0, 1, 2, 3, 1, 2, 3, 1]
    like = torch.zeros(1)
    assert classifier._weights(1, like).tolist() == [1.0, 0.0, 0.0, 0.0]  # the first frame only
    # Five frames remembered: slot 1 holds frame 4 (the newest), 2 and 3 frames 2 and 3.
    weights = classifier._weights(5, like)
    recent = torch.tensor([1.0, 0.25, 0.5])
    assert torch.allclose(weights[1:], recent)
    assert torch.isclose(weights[0] / weights.sum(), torch.tensor(FIRST_SHARE))
    # and what is written where: each frame's features land in its slot
    features = torch.rand(5, 1, 2, 6, 6)
    box = torch.tensor([[1.0, 1.0, 4.0, 4.0]])
    state = classifier.empty(features[0])
    for frame in range(5):
        state = classifier.remember(features[frame], box, *state, frames=frame)
    samples = state[1]
    for slot, frame in enumerate([0, 4, 2, 3]):
        assert torch.allclose(samples[0, slot], rms_normalised(features[frame])[0])


def test_a_refit_reads_no_value_on_the_host():
    # The fit runs every few frames inside a step: on the meta device (where reading a value
    # fails) it must still run.
    classifier = OnlineClassifier(samples=3, filter_size=3)
    features = torch.rand(2, 4, 8, 8, device="meta")
    boxes = torch.rand(2, 4, device="meta")
    filters, samples, labels = classifier.remember(
        features, boxes, *classifier.empty(features), frames=classifier.interval
    )
    assert filters.shape == (2, 4, 3, 3) and filters.device.type == "meta"


@pytest.mark.parametrize(
    "args",
    [dict(samples=1), dict(filter_size=4), dict(regularisation=0.0), dict(rate=0.0)],
    ids=["samples", "filter-size", "regularisation", "rate"],
)
def test_a_classifier_that_cannot_work_is_refused(args):
    with pytest.raises(ValueError, match="classifier"):
        OnlineClassifier(**{"samples": 4, "filter_size": 3, **args})


def test_an_online_classifier_needs_the_correlation_attention():
    with pytest.raises(ValueError, match="online classifier"):
        build_hart(HARTConfig(classifier=10))


def test_a_tracker_with_a_classifier_streams_exactly_as_it_unrolls_and_trains():
    torch.manual_seed(0)
    config = untrained_correlation_config(
        feature_weights=None,
        glimpse_gradient=False,
        glimpse_size=(64, 64),
        template_size=3,
        distractors=2,
        classifier=3,
    )
    model = build_hart(config)
    frames = torch.rand(2, 7, 3, 72, 96)  # past the first refit after the first frame
    box0 = torch.tensor([[20.0, 16.0, 24.0, 30.0], [50.0, 30.0, 20.0, 16.0]])
    state = check_streams_as_unrolled_and_trains(model, frames, box0)
    assert state.frames == 7
    assert state.classifier_filters.shape == (2, model.features.out_channels, 3, 3)
    assert state.classifier_filters.abs().sum() > 0

"""The pull of the box's size back towards the first box's (``size_pull``): what one pull does,
that a size change made every frame then settles instead of compounding, and that a tracker
with it still streams as it unrolls and trains."""

from __future__ import annotations

import math

import pytest
import torch

from hart.boxes import centres
from hart.model.hart import HARTConfig, build_hart
from hart.model.readouts import BOX_STEP_LOG_SCALE, pull_size
from tests.correlation_fixtures import texture, untrained_correlation_config
from tests.tracker_checks import check_streams_as_unrolled_and_trains


def test_a_pull_moves_the_log_size_that_fraction_of_the_way_back_about_the_same_centre():
    boxes = torch.tensor([[10.0, 20.0, 40.0, 10.0], [0.0, 0.0, 8.0, 8.0]])
    first = torch.tensor([[10.0, 40.0], [8.0, 8.0]])
    pulled = pull_size(boxes, first, 0.25)
    torch.testing.assert_close(
        pulled[:, 2:].log(), boxes[:, 2:].log() - 0.25 * (boxes[:, 2:] / first).log()
    )
    torch.testing.assert_close(centres(pulled), centres(boxes))
    torch.testing.assert_close(pull_size(boxes, first, 0.0), boxes)
    torch.testing.assert_close(pull_size(boxes, first, 1.0)[:, 2:], first)


def _growing_tracker(size_pull: float, growth: float):
    """An untrained correlation tracker whose box readout adds ``growth`` to the box's
    log-size every frame, as a trained readout with a bias does."""
    torch.manual_seed(0)
    config = untrained_correlation_config(
        context=3.0, template_size=5, template_margin=0.5, peak="parabola", size_pull=size_pull
    )
    model = build_hart(config).eval()
    with torch.no_grad():
        model.box_readout[-1].bias[2:] = math.atanh(growth / BOX_STEP_LOG_SCALE)
    return model


def test_a_size_change_made_every_frame_settles_with_the_pull_and_compounds_without():
    # A target that keeps still, and a readout that widens the box by 2% a frame whatever it
    # sees: without the pull the box doubles in 35 frames; with a pull of 0.1 each frame's
    # change is followed by a step back, and the size settles where the two balance,
    # (1 - pull) * change / pull above the first (log-size).
    side, steps, growth, pull = 32, 40, 0.02, 0.1
    frame = texture(200, 400, seed=1)
    frame[:, 84 : 84 + side, 184 : 184 + side] = texture(side, side, seed=2)
    frames = frame.expand(1, steps, *frame.shape)
    box0 = torch.tensor([[184.0, 84.0, side, side]])
    log_growth = {}
    for size_pull in (0.0, pull):
        with torch.no_grad():
            boxes = _growing_tracker(size_pull, growth)(frames, box0).boxes[0]
        log_growth[size_pull] = (boxes[-1, 2:] / side).log()
    # The first frame's answer is the given box; the 39 steps after it each add the change.
    expected = (steps - 1) * growth
    torch.testing.assert_close(log_growth[0.0], torch.full((2,), expected), rtol=0.02, atol=0)
    settled = (1 - pull) * growth / pull
    torch.testing.assert_close(log_growth[pull], torch.full((2,), settled), rtol=0.05, atol=0)


def test_a_tracker_with_the_pull_streams_as_it_unrolls_and_trains():
    frame = texture(200, 400, seed=1)
    frames = frame.expand(1, 4, *frame.shape).clone()
    check_streams_as_unrolled_and_trains(
        _growing_tracker(size_pull=0.1, growth=0.02), frames, torch.tensor([[184.0, 84.0, 32, 32]])
    )


@pytest.mark.parametrize(
    "changes,message",
    [
        (dict(size_pull=-0.1, anchor="box"), "size_pull must be in"),
        (dict(size_pull=1.5, anchor="box"), "size_pull must be in"),
        (dict(size_pull=0.1, anchor="attention"), 'size_pull needs anchor "box"'),
    ],
    ids=["negative", "beyond-the-first-size", "attention-anchor"],
)
def test_a_pull_that_cannot_work_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        build_hart(HARTConfig(**changes))

"""The damped constant-velocity motion model (``velocity``): where the next glimpse is centred,
that a steadily moving target is then followed, and that a tracker with it still streams as it
unrolls and trains."""

from __future__ import annotations

import pytest
import torch

from hart.boxes import iou
from hart.model.hart import HARTConfig, build_hart
from tests.correlation_fixtures import texture, untrained_correlation_config
from tests.tracker_checks import check_streams_as_unrolled_and_trains


def _moving_target(steps: int, speed: int, side: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """A textured target sliding right by ``speed`` px a frame over another texture → frames
    ``(1, T, 3, 200, 400)`` and boxes ``(1, T, 4)`` xywh px."""
    background = texture(200, 400, seed=1)
    target = texture(side, side, seed=2)
    frames, boxes = [], []
    for t in range(steps):
        x, y = 20 + speed * t, 84
        frame = background.clone()
        frame[:, y : y + side, x : x + side] = target
        frames.append(frame)
        boxes.append([x, y, side, side])
    return torch.stack(frames)[None], torch.tensor(boxes, dtype=torch.float32)[None]


def _tracker(velocity: float):
    torch.manual_seed(0)
    config = untrained_correlation_config(
        context=3.0, template_size=5, template_margin=0.5, peak="parabola", velocity=velocity
    )
    return build_hart(config).eval()


def test_the_next_glimpse_is_centred_ahead_of_the_box_by_velocity_times_its_last_move():
    frames, truth = _moving_target(steps=6, speed=4)
    model = _tracker(velocity=0.5)
    with torch.no_grad():
        out = model(frames, truth[:, 0])
    centres = out.boxes[0, :, :2] + out.boxes[0, :, 2:] / 2  # (T, 2)
    glimpses = out.attention_boxes[0, :, :2] + out.attention_boxes[0, :, 2:] / 2
    # Frame 1's glimpse is centred on the first frame's box, the model's reading of the given
    # one: that step is no motion.
    torch.testing.assert_close(glimpses[1], centres[0])
    # Frame 2's on frame 1's box moved on by half its move from the given box (the first
    # frame's answer, which is known), and so on.
    given = truth[0, 0, :2] + truth[0, 0, 2:] / 2
    torch.testing.assert_close(glimpses[2], centres[1] + 0.5 * (centres[1] - given))
    ahead = centres[2:-1] + 0.5 * (centres[2:-1] - centres[1:-2])
    torch.testing.assert_close(glimpses[3:], ahead)


@pytest.mark.parametrize("speed", [4, 6, 8])
def test_a_target_that_keeps_moving_is_followed_with_the_motion_model(speed):
    # Nothing is trained. Centred where the box was, each glimpse finds the target off-centre,
    # where the correlation's prior and the template's background both pull it back, and the
    # box falls behind and is lost; centred where it is heading, the box keeps up.
    frames, truth = _moving_target(steps=12, speed=speed)
    overlaps = {}
    for velocity in (0.0, 1.0):
        with torch.no_grad():
            boxes = _tracker(velocity)(frames, truth[:, 0]).boxes[0]
        overlaps[velocity] = iou(boxes[1:].numpy(), truth[0, 1:].numpy()).mean()
    assert overlaps[1.0] > 0.8 and overlaps[0.0] < 0.35, overlaps


def test_a_tracker_with_the_motion_model_streams_as_it_unrolls_and_trains():
    frames, truth = _moving_target(steps=4, speed=4)
    check_streams_as_unrolled_and_trains(_tracker(velocity=0.5), frames, truth[:, 0])


@pytest.mark.parametrize(
    "changes,message",
    [
        (dict(velocity=-0.1, anchor="box"), "velocity must be in"),
        (dict(velocity=1.5, anchor="box"), "velocity must be in"),
        (dict(velocity=0.5, anchor="attention"), 'velocity needs anchor "box"'),
    ],
    ids=["negative", "beyond-constant-velocity", "attention-anchor"],
)
def test_a_motion_model_that_cannot_work_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        build_hart(HARTConfig(**changes))

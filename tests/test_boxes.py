"""Box formats and overlap: round trips, known values, and IoU against a slow reference."""

from __future__ import annotations

import math
import random
import re

import numpy as np
import pytest
import torch

from hart import boxes as B
from hart.errors import InputError

CONVERSIONS = [
    (B.xywh_to_xyxy, B.xyxy_to_xywh),
    (B.xywh_to_cxcywh, B.cxcywh_to_xywh),
]


def random_xywh(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-50, 500, size=(n, 2))
    wh = rng.uniform(0.5, 300, size=(n, 2))
    return np.concatenate([xy, wh], axis=1)  # (n, 4) float64


def slow_iou(a, b) -> float:
    """Overlap of two xywh boxes, written out longhand as the reference."""
    ax1, ay1, aw, ah = a
    bx1, by1, bw, bh = b
    ax2, ay2, bx2, by2 = ax1 + aw, ay1 + ah, bx1 + bw, by1 + bh
    inter_w = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    inter_h = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = inter_w * inter_h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def test_known_conversions():
    box = np.array([10.0, 20.0, 30.0, 40.0])
    np.testing.assert_allclose(B.xywh_to_xyxy(box), [10, 20, 40, 60])
    np.testing.assert_allclose(B.xywh_to_cxcywh(box), [25, 40, 30, 40])
    np.testing.assert_allclose(B.xyxy_to_xywh(np.array([10.0, 20.0, 40.0, 60.0])), box)
    np.testing.assert_allclose(B.cxcywh_to_xywh(np.array([25.0, 40.0, 30.0, 40.0])), box)


@pytest.mark.parametrize(("forward", "backward"), CONVERSIONS)
def test_conversions_round_trip_numpy(forward, backward):
    boxes = random_xywh(100).reshape(4, 25, 4)  # any leading shape
    converted = forward(boxes)
    assert isinstance(converted, np.ndarray) and converted.shape == boxes.shape
    assert not np.allclose(converted, boxes)  # it did something
    np.testing.assert_allclose(backward(converted), boxes, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize(("forward", "backward"), CONVERSIONS)
def test_conversions_round_trip_torch(forward, backward):
    boxes = torch.from_numpy(random_xywh(50)).float().requires_grad_()
    converted = forward(boxes)
    assert isinstance(converted, torch.Tensor) and converted.dtype == torch.float32
    torch.testing.assert_close(backward(converted), boxes.detach(), rtol=1e-5, atol=1e-4)
    converted.sum().backward()  # differentiable
    assert boxes.grad is not None and torch.isfinite(boxes.grad).all()


def test_normalize_round_trip_and_values():
    frame_size = (480, 640)  # (H, W)
    boxes = random_xywh(20)
    normalised = B.normalize(boxes, frame_size)
    np.testing.assert_allclose(normalised[:, 0], boxes[:, 0] / 640)
    np.testing.assert_allclose(normalised[:, 1], boxes[:, 1] / 480)
    np.testing.assert_allclose(normalised[:, 2], boxes[:, 2] / 640)
    np.testing.assert_allclose(normalised[:, 3], boxes[:, 3] / 480)
    np.testing.assert_allclose(B.denormalize(normalised, frame_size), boxes)
    tensor = torch.from_numpy(boxes)
    torch.testing.assert_close(B.denormalize(B.normalize(tensor, frame_size), frame_size), tensor)


def test_iou_matches_slow_reference_on_1000_random_boxes():
    a, b = random_xywh(1000, seed=1), random_xywh(1000, seed=2)
    # Make a good share of the pairs overlap (independent random boxes rarely do).
    b[:500, :2] = a[:500, :2] + np.random.default_rng(3).uniform(-20, 20, size=(500, 2))
    expected = np.array([slow_iou(p, q) for p, q in zip(a, b, strict=True)])
    assert (expected > 0).sum() > 400 and (expected == 0).sum() > 100
    np.testing.assert_allclose(B.iou(a, b), expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(
        B.iou(torch.from_numpy(a), torch.from_numpy(b)), torch.from_numpy(expected)
    )


def test_pairwise_iou_matches_slow_reference():
    a, b = random_xywh(30, seed=4), random_xywh(20, seed=5)
    b[:10, :2] = a[:10, :2] + 5
    expected = np.array([[slow_iou(p, q) for q in b] for p in a])
    result = B.pairwise_iou(a, b)
    assert result.shape == (30, 20)
    np.testing.assert_allclose(result, expected, rtol=1e-10, atol=1e-12)


def test_iou_special_cases():
    box = np.array([0.0, 0.0, 10.0, 10.0])
    assert B.iou(box, box) == pytest.approx(1.0)
    assert B.iou(box, np.array([5.0, 0.0, 10.0, 10.0])) == pytest.approx(50 / 150)
    assert B.iou(box, np.array([20.0, 20.0, 5.0, 5.0])) == 0.0
    assert B.iou(np.zeros(4), np.zeros(4)) == 0.0  # zero-area pair: no overlap, not NaN
    assert math.isnan(B.iou(box, np.full(4, np.nan)))  # absent target


def test_iou_is_differentiable():
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([[3.0, 2.0, 9.0, 12.0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: B.iou(t, b), (a,))


def test_centre_distance():
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[3.0, 4.0, 10.0, 10.0]])
    np.testing.assert_allclose(B.centre_distance(a, b), [5.0])


def test_clip_to_frame():
    frame_size = (100, 200)  # (H, W)
    boxes = np.array(
        [
            [10.0, 10.0, 20.0, 20.0],  # inside: unchanged
            [-10.0, 90.0, 30.0, 30.0],  # over the left and bottom edges
            [250.0, 10.0, 20.0, 20.0],  # entirely right of the frame
        ]
    )
    clipped = B.clip_to_frame(boxes, frame_size)
    np.testing.assert_allclose(clipped[0], boxes[0])
    np.testing.assert_allclose(clipped[1], [0, 90, 20, 10])
    np.testing.assert_allclose(clipped[2], [200, 10, 0, 20])
    assert isinstance(B.clip_to_frame(torch.from_numpy(boxes), frame_size), torch.Tensor)


def test_random_reference_is_not_trivial():
    # Guard for the reference itself: a hand-checked value.
    rng = random.Random(0)
    for _ in range(10):
        x, y = rng.uniform(0, 10), rng.uniform(0, 10)
        assert slow_iou((x, y, 4, 4), (x + 2, y, 4, 4)) == pytest.approx(8 / 24)


# ----------------------------------------------------------------------------- boxes as text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10,20,30,40", [10, 20, 30, 40]), (" 1.5, 2 ,3.25,4 ", [1.5, 2, 3.25, 4])],
)
def test_parse_box(text, expected):
    np.testing.assert_array_equal(B.parse_box(text), expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10,20,30", "not X,Y,W,H"),
        ("10,20,30,40,50", "not X,Y,W,H"),
        ("a,b,c,d", "not X,Y,W,H"),
        ("10;20;30;40", "not X,Y,W,H"),
        ("10,20,nan,40", "not X,Y,W,H"),
        ("10,20,0,40", "width 0 and height 40; both must be > 0"),
        ("10,20,30,-4", "width 30 and height -4"),
    ],
)
def test_parse_box_rejects(text, message):
    with pytest.raises(InputError, match=re.escape(message)):
        B.parse_box(text)


def test_box_must_lie_inside_the_frame():
    B.check_box_in_frame(np.array([0, 0, 360, 240]), (240, 360))  # the whole frame is fine
    with pytest.raises(InputError, match=r"box 300,200,100,50 is not inside the 360×240 frame"):
        B.check_box_in_frame(np.array([300, 200, 100, 50]), (240, 360))
    with pytest.raises(InputError, match=r"box -5,10,20,20 is not inside"):
        B.check_box_in_frame(np.array([-5, 10, 20, 20]), (240, 360))
    with pytest.raises(InputError, match=r"box 500,500,10,10 is not inside"):
        B.check_box_in_frame(np.array([500, 500, 10, 10]), (240, 360))
    with pytest.raises(InputError, match=r"box 5,5,0,10 has width 0"):
        B.check_box_in_frame(np.array([5, 5, 0, 10]), (240, 360))

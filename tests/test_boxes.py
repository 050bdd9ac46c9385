"""Box arithmetic against slow references, numpy and torch alike; box text; the first-box rule."""

from __future__ import annotations

import math
import random
import re

import numpy as np
import pytest
import torch

from hart import boxes as B
from hart.errors import InputError


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


def test_intersection_matches_slow_reference_and_is_symmetric():
    a, b = random_xywh(300, seed=6), random_xywh(300, seed=7)
    b[:150, :2] = a[:150, :2] + np.random.default_rng(8).uniform(-30, 30, size=(150, 2))
    expected = [
        max(0.0, min(p[0] + p[2], q[0] + q[2]) - max(p[0], q[0]))
        * max(0.0, min(p[1] + p[3], q[1] + q[3]) - max(p[1], q[1]))
        for p, q in zip(a, b, strict=True)
    ]
    np.testing.assert_allclose(B.intersection(a, b), expected, rtol=1e-12)
    np.testing.assert_array_equal(B.intersection(a, b), B.intersection(b, a))


def test_numpy_and_torch_give_the_same_numbers_and_kinds():
    a, b = random_xywh(200, seed=9), random_xywh(200, seed=10)
    b[:100, :2] = a[:100, :2] + 7
    for function in (B.intersection, B.iou, B.centre_distance, B.diou_penalty):
        numpy_result = function(a.astype(np.float32), b.astype(np.float32))
        torch_result = function(torch.from_numpy(a).float(), torch.from_numpy(b).float())
        assert isinstance(numpy_result, np.ndarray) and numpy_result.dtype == np.float32
        assert isinstance(torch_result, torch.Tensor) and torch_result.dtype == torch.float32
        np.testing.assert_allclose(numpy_result, torch_result.numpy(), rtol=1e-6, atol=1e-4)
    assert B.iou(np.array([0, 0, 4, 4]), np.array([2, 0, 4, 4])) == pytest.approx(1 / 3)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32, torch.int64])
def test_integer_tensors_give_the_numbers_of_integer_arrays(dtype):
    # Boxes read as integers: in uint8, 250 + 10 wrapped to 4 and the area came out wrong in
    # silence; iou raised a TypeError from torch.finfo. They compute in floats, as numpy's do.
    a, b = np.array([[250, 0, 10, 10], [0, 0, 4, 4]]), np.array([[245, 0, 10, 10], [2, 0, 4, 4]])
    for function in (B.intersection, B.iou, B.centre_distance, B.diou_penalty):
        result = function(torch.as_tensor(a, dtype=dtype), torch.as_tensor(b, dtype=dtype))
        assert result.dtype == torch.float32, function.__name__
        np.testing.assert_allclose(result.numpy(), function(a, b), rtol=1e-6)
    np.testing.assert_allclose(B.iou(torch.as_tensor(a, dtype=dtype), b), [1 / 3, 1 / 3])


def test_centres_and_the_two_centre_measures():
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[3.0, 4.0, 10.0, 10.0]])
    np.testing.assert_allclose(B.centres(a), [[5.0, 5.0]])
    # Pixels between centres, and DIoU's unitless ratio: 5² over the enclosing box's 13² + 14².
    np.testing.assert_allclose(B.centre_distance(a, b), [5.0])
    np.testing.assert_allclose(B.diou_penalty(a, b), [25.0 / (13**2 + 14**2)])
    assert math.isnan(B.centre_distance(a[0], np.full(4, np.nan)))


def test_a_box_about_its_centre_is_the_inverse_of_centres_for_numpy_and_torch():
    boxes = np.array([[3.0, 4.0, 10.0, 6.0], [-2.5, 1.0, 0.5, 7.0]])
    rebuilt = B.boxes_about(B.centres(boxes), boxes[:, 2:])
    np.testing.assert_allclose(rebuilt, boxes)
    tensor = torch.as_tensor(boxes, dtype=torch.float32)
    rebuilt = B.boxes_about(B.centres(tensor), tensor[:, 2:])
    assert isinstance(rebuilt, torch.Tensor) and torch.equal(rebuilt, tensor)


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
    ],
)
def test_parse_box_rejects(text, message):
    with pytest.raises(InputError, match=re.escape(message)):
        B.parse_box(text)


def test_format_box_writes_two_decimals_at_most_and_nan_for_a_lost_target():
    assert B.format_box(np.array([10, 20.5, 30.125, 40.0])) == "10,20.5,30.12,40"
    assert B.format_box(np.full(4, np.nan)) == "nan,nan,nan,nan"
    assert B.format_box(torch.tensor([1.0, 2.0, 3.0, 4.0])) == "1,2,3,4"
    np.testing.assert_allclose(B.parse_box(B.format_box([1.234, 5, 6.789, 8])), [1.23, 5, 6.79, 8])


@pytest.mark.parametrize(
    "box",
    [
        [0, 0, 360, 240],  # the whole frame
        [100, 50, 20, 30],  # inside
        [-5, 10, 20, 20],  # over the left edge: a target entering the view
        [340, 220, 100, 100],  # over the bottom-right corner
        [-100, -100, 1000, 1000],  # larger than the frame
    ],
)
def test_a_first_box_may_reach_beyond_the_frame(box):
    checked = B.check_first_box(box, (240, 360))
    assert checked.dtype == np.float64 and checked.shape == (4,)
    np.testing.assert_array_equal(checked, box)


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ([360, 10, 20, 20], "box 360,10,20,20 is outside the 360×240 frame (it spans x 360–380"),
        ([500, 500, 10, 10], "box 500,500,10,10 is outside the 360×240 frame"),
        ([1e308, 1, 2, 3], "box 1e+308,1,2,3 is outside the 360×240 frame"),  # not 309 digits
        ([-30, 10, 30, 20], "box -30,10,30,20 is outside"),  # touching the edge is not inside
        ([5, 5, 0, 10], "box 5,5,0,10 has width 0 and height 10; both must be > 0"),
        ([5, 5, 10, -4], "has width 10 and height -4"),
        ([5, 5, np.nan, 10], "4 finite numbers"),
        ([5, 5, 10], "4 finite numbers"),
    ],
)
def test_a_first_box_must_have_a_size_and_overlap_the_frame(box, message):
    with pytest.raises(InputError, match=re.escape(message)):
        B.check_first_box(box, (240, 360))

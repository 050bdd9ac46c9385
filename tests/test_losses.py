"""HART's losses: zero (or least) on a perfect prediction, growing as it moves away; masking."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hart.boxes import diou_penalty
from hart.model.hart import HARTOutput
from hart.model.losses import (
    AdaptiveLossWeights,
    attention_loss,
    box_loss,
    hart_losses,
    l2_penalty,
    mask_loss,
    mask_target,
    mean_iou,
    time_weights,
)

TARGET = torch.tensor([[[20.0, 30.0, 40.0, 20.0]]])  # (B=1, T=1, 4) xywh px
VISIBLE = torch.ones(1, 1, dtype=torch.bool)


def shifted(box: torch.Tensor, dx: float = 0.0, dy: float = 0.0) -> torch.Tensor:
    return box + torch.tensor([dx, dy, 0.0, 0.0])


def scaled(box: torch.Tensor, factor: float) -> torch.Tensor:
    """The same centre, each side times ``factor``."""
    centre, size = box[..., :2] + box[..., 2:] / 2, box[..., 2:] * factor
    return torch.cat([centre - size / 2, size], -1)


def increasing(values: list[float]) -> bool:
    return all(b > a for a, b in zip(values, values[1:], strict=False))


def test_time_weights_rise_from_one():
    torch.testing.assert_close(time_weights(3, ramp=1.0), torch.tensor([1.0, 1.5, 2.0]))
    torch.testing.assert_close(time_weights(1), torch.tensor([1.0]))


def test_box_loss_is_zero_when_perfect_and_grows_with_shift_and_scale():
    assert box_loss(TARGET, TARGET, VISIBLE).item() == pytest.approx(0.0, abs=1e-6)
    by_shift = [
        box_loss(shifted(TARGET, d, d / 2), TARGET, VISIBLE).item() for d in (1, 2, 4, 8, 16)
    ]
    by_scale = [box_loss(scaled(TARGET, f), TARGET, VISIBLE).item() for f in (1.1, 1.3, 1.6, 2.0)]
    shrink = [box_loss(scaled(TARGET, f), TARGET, VISIBLE).item() for f in (0.9, 0.7, 0.5)]
    assert increasing(by_shift) and increasing(by_scale) and increasing(shrink)
    # It is −log IoU: a box twice the target's area has IoU 1/2.
    double = scaled(TARGET, math.sqrt(2.0))
    assert box_loss(double, TARGET, VISIBLE).item() == pytest.approx(math.log(2.0), abs=2e-3)
    # No overlap at all: large but finite, and still a gradient-safe number.
    far = shifted(TARGET, 500.0)
    assert 6.0 < box_loss(far, TARGET, VISIBLE).item() < 7.0


def test_the_diou_penalty_has_a_gradient_where_the_boxes_do_not_overlap():
    target = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    far = torch.tensor([[30.0, 0.0, 10.0, 10.0]], requires_grad=True)
    # Centres 30 px apart; the enclosing box is 40 × 10: 900 / (1600 + 100).
    distance = diou_penalty(far, target)
    torch.testing.assert_close(distance, torch.tensor([900.0 / 1700.0]))
    distance.sum().backward()
    assert far.grad[0, 0] > 0  # moving right (away) costs more
    assert diou_penalty(target, target).item() == 0.0
    visible = torch.ones(1, 1, dtype=torch.bool)
    plain = box_loss(far[None].detach(), target[None], visible)
    with_centre = box_loss(far[None].detach(), target[None], visible, centre_weight=2.0)
    torch.testing.assert_close(with_centre, plain + 2.0 * distance.detach()[0])


def test_box_loss_ignores_absent_frames_and_weighs_later_frames_more():
    targets = TARGET.repeat(1, 3, 1)  # (1, 3, 4)
    visible = torch.tensor([[True, False, True]])
    targets[0, 1] = float("nan")
    predicted = targets.nan_to_num(0.0).clone().requires_grad_(True)
    with torch.no_grad():
        predicted[0, 1] = torch.tensor([1e4, -1e4, 1.0, 1.0])  # garbage where absent
    loss = box_loss(predicted, targets, visible)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    loss.backward()
    assert torch.isfinite(predicted.grad).all() and (predicted.grad[0, 1] == 0).all()

    error = shifted(TARGET[0, 0], 8.0)
    first_wrong = torch.stack([error, TARGET[0, 0], TARGET[0, 0]])[None]
    last_wrong = torch.stack([TARGET[0, 0], TARGET[0, 0], error])[None]
    all_visible = torch.ones(1, 3, dtype=torch.bool)
    clean = TARGET.repeat(1, 3, 1)
    assert box_loss(last_wrong, clean, all_visible) > box_loss(first_wrong, clean, all_visible)


def test_box_loss_without_any_visible_frame_is_zero():
    targets = torch.full((1, 2, 4), float("nan"))
    assert box_loss(TARGET.repeat(1, 2, 1), targets, torch.zeros(1, 2, dtype=torch.bool)) == 0


def test_attention_loss_is_zero_on_the_target_and_grows_away_from_it():
    assert attention_loss(TARGET, TARGET, VISIBLE).item() == pytest.approx(0.0, abs=1e-6)
    by_shift = [attention_loss(shifted(TARGET, d), TARGET, VISIBLE).item() for d in (2, 5, 10, 20)]
    bigger = [
        attention_loss(scaled(TARGET, f), TARGET, VISIBLE).item() for f in (1.2, 1.5, 2.0, 3.0)
    ]
    smaller = [attention_loss(scaled(TARGET, f), TARGET, VISIBLE).item() for f in (0.9, 0.7, 0.5)]
    assert increasing(by_shift) and increasing(bigger) and increasing(smaller)
    # Containing the target is worth more than tightness: losing a quarter of it costs more
    # than doubling the attention's area (area_weight 0.25: 0.25·log 2 ≈ 0.17 < −log 0.75 ≈ 0.29).
    cut = shifted(TARGET, 10.0)  # 3/4 of the target inside
    double = scaled(TARGET, math.sqrt(2.0))
    assert attention_loss(cut, TARGET, VISIBLE) > attention_loss(double, TARGET, VISIBLE)
    assert attention_loss(double, TARGET, VISIBLE).item() == pytest.approx(
        0.25 * math.log(2), abs=1e-4
    )


def test_mask_target_for_a_box_half_outside_the_glimpse():
    attention = torch.tensor([0.0, 0.0, 56.0, 56.0])  # a 14×14 grid of 4-pixel cells
    # From the middle column to beyond the right edge, from above the top to 20 px down.
    target = mask_target(torch.tensor([28.0, -10.0, 60.0, 30.0]), attention, (14, 14))
    expected = torch.zeros(1, 14, 14)
    expected[0, :5, 7:] = 1.0
    torch.testing.assert_close(target, expected)


def test_mask_target_cells_hold_the_covered_fraction():
    attention = torch.tensor([100.0, 50.0, 56.0, 28.0])  # cells 4 px wide, 2 px tall
    target = mask_target(torch.tensor([130.0, 51.0, 10.0, 4.0]), attention, (14, 14))[0]
    # x: 30..40 px into the glimpse → columns 7.5..10; y: 1..5 px → rows 0.5..2.5.
    cols = torch.zeros(14)
    cols[7], cols[8], cols[9] = 0.5, 1.0, 1.0
    rows = torch.zeros(14)
    rows[0], rows[1], rows[2] = 0.5, 1.0, 0.5
    torch.testing.assert_close(target, rows[:, None] * cols[None, :])
    outside = mask_target(torch.tensor([0.0, 0.0, 10.0, 10.0]), attention, (14, 14))
    assert outside.sum() == 0


def _mask_case(cells_from=4, cells_to=9):
    """A target filling rows and columns [cells_from, cells_to) of a 14×14 grid over (0,0,56,56)."""
    attention = torch.tensor([[[0.0, 0.0, 56.0, 56.0]]])  # (1, 1, 4)
    side = 4.0 * (cells_to - cells_from)
    target = torch.tensor([[[4.0 * cells_from, 4.0 * cells_from, side, side]]])
    grid = mask_target(target, attention, (14, 14))  # (1, 1, 1, 14, 14), exactly 0 or 1
    return attention, target, grid


def test_mask_loss_is_least_on_the_target_mask_and_grows_as_it_shifts():
    attention, target, grid = _mask_case()
    perfect = 20.0 * (2 * grid - 1)
    assert mask_loss(perfect, attention, target, VISIBLE).item() < 1e-6
    by_shift = [
        mask_loss(torch.roll(perfect, shifts=k, dims=-1), attention, target, VISIBLE).item()
        for k in (1, 2, 3, 5)
    ]
    assert by_shift[0] > 1.0 and increasing(by_shift)


def test_mask_loss_is_class_balanced():
    # A one-cell target: predicting "all background" must cost as much as "all object",
    # however few object cells there are.
    attention, target, grid = _mask_case(6, 7)
    all_background = torch.full_like(grid, -10.0)
    all_object = torch.full_like(grid, 10.0)
    loss_background = mask_loss(all_background, attention, target, VISIBLE)
    loss_object = mask_loss(all_object, attention, target, VISIBLE)
    torch.testing.assert_close(loss_background, loss_object, rtol=1e-4, atol=0)
    assert loss_background.item() == pytest.approx(5.0, abs=1e-3)  # half of −log σ(−10)


def test_mask_loss_with_the_target_outside_the_glimpse_counts_the_background():
    attention = torch.tensor([[[0.0, 0.0, 56.0, 56.0]]])
    target = torch.tensor([[[100.0, 100.0, 10.0, 10.0]]])
    background = torch.full((1, 1, 1, 14, 14), -10.0)
    assert mask_loss(background, attention, target, VISIBLE).item() < 1e-4
    assert mask_loss(-background, attention, target, VISIBLE).item() == pytest.approx(
        10.0, abs=1e-3
    )


def test_l2_penalty_counts_trainable_weights_and_dynamic_filters():
    layer = nn.Linear(3, 2)
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with torch.no_grad():
        layer.weight.fill_(2.0)
        layer.bias.fill_(100.0)  # biases are not decayed
    filters = torch.tensor([[1.0, 3.0]])  # (B, T) squared norms
    penalty = l2_penalty([*layer.parameters(), *frozen.parameters()], filters)
    assert penalty.item() == pytest.approx(6 * 4.0 + 2.0)


def test_adaptive_weights_settle_at_the_inverse_of_each_loss():
    weighting = AdaptiveLossWeights(["a", "b"])
    terms = {"a": torch.tensor(0.5), "b": torch.tensor(4.0)}
    assert weighting(terms).item() == pytest.approx(4.5)  # weights start at 1
    with torch.no_grad():
        weighting.log_weights["a"].fill_(-math.log(0.5))
        weighting.log_weights["b"].fill_(-math.log(4.0))
    weighting(terms).backward()
    for name in ("a", "b"):
        assert weighting.log_weights[name].grad.item() == pytest.approx(0.0, abs=1e-6)
    assert weighting.weights() == pytest.approx({"a": 2.0, "b": 0.25})


def test_hart_losses_names_every_term_and_totals_them():
    steps = 2
    targets = TARGET.repeat(1, steps, 1)
    output = HARTOutput(
        boxes=shifted(targets, 3.0),
        attention_boxes=scaled(targets, 1.5),
        glimpses=torch.zeros(1, steps, 3, 56, 56),
        mask_logits=torch.zeros(1, steps, 1, 14, 14),
        dynamic_filter_sq=torch.ones(1, steps),
    )
    visible = torch.ones(1, steps, dtype=torch.bool)
    losses = hart_losses(output, targets, visible, weight_decay=0.1)
    assert set(losses) == {"box", "attention", "mask", "weight_decay", "total"}
    assert losses["weight_decay"].item() == pytest.approx(0.1)
    parts = losses["box"] + losses["attention"] + losses["mask"] + losses["weight_decay"]
    torch.testing.assert_close(losses["total"], parts)
    assert losses["mask"].item() == pytest.approx(math.log(2.0), abs=1e-5)  # logits 0 everywhere


def test_mean_iou_ignores_absent_frames():
    targets = TARGET.repeat(1, 2, 1)
    targets[0, 1] = float("nan")
    visible = torch.tensor([[True, False]])
    predicted = torch.cat([scaled(TARGET, math.sqrt(2.0)), TARGET], 1)
    assert mean_iou(predicted, targets, visible).item() == pytest.approx(0.5, abs=1e-4)

"""The correlation appearance attention: NCC against a slow reference, where the mask says the
target is, and an untrained correlation HART following a moving real texture."""

from __future__ import annotations

import pytest
import torch

from hart.boxes import iou
from hart.model.correlation import TemplateMatcher, boxes_in_glimpse, normalised_cross_correlation
from hart.model.hart import build_hart
from tests.correlation_fixtures import texture, untrained_correlation_config


def _slow_ncc(features: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of the template with each zero-padded window, one window at a time."""
    batch, channels, height, width = features.shape
    k = template.shape[-1]
    padded = torch.nn.functional.pad(features, [k // 2] * 4)
    out = torch.zeros(batch, 1, height, width, dtype=torch.float64)
    for b in range(batch):
        t = template[b].double().flatten()
        t = t - t.mean()
        for y in range(height):
            for x in range(width):
                w = padded[b, :, y : y + k, x : x + k].double().flatten()
                w = w - w.mean()
                out[b, 0, y, x] = (t @ w) / (t.norm() * w.norm().clamp(min=1e-2))
    return out


def test_ncc_matches_a_slow_reference_and_peaks_where_the_template_came_from():
    torch.manual_seed(0)
    features = torch.rand(2, 6, 10, 12)
    template = features[:, :, 2:7, 4:9].clone()  # centred on cell (4, 6)
    fast = normalised_cross_correlation(features, template)
    slow = _slow_ncc(features, template)
    assert torch.allclose(fast.double(), slow, atol=1e-4)
    for b in range(2):
        assert divmod(int(fast[b, 0].argmax()), 12) == (4, 6)
        assert fast[b, 0, 4, 6] == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("cell_centre", [0.5, 1 / 16])
def test_a_peaked_mask_says_where_in_the_glimpse_the_target_is(cell_centre):
    matcher = TemplateMatcher(8, 4, (14, 14), cell_centre=cell_centre)
    logits = torch.full((1, 1, 14, 14), -20.0)
    logits[0, 0, 3, 10] = 20.0  # row 3, column 10
    offset = matcher.peak_offset(logits)
    expected = torch.tensor([[(10 + cell_centre) / 14 - 0.5, (3 + cell_centre) / 14 - 0.5]])
    assert torch.allclose(offset, expected, atol=1e-5)


def _quadratic_peak(column: float, row: float, size: int = 14) -> torch.Tensor:
    """Logits ``(1, 1, size, size)`` that fall off quadratically from a point between cells."""
    cells = torch.arange(size, dtype=torch.float32)
    return -(((cells[None, :] - column) ** 2) + ((cells[:, None] - row) ** 2))[None, None]


def test_the_parabola_finds_a_peak_between_cells_where_the_softmax_snaps_to_one():
    column, row = 6.3, 3.8
    logits = _quadratic_peak(column, row)
    expected = torch.tensor([[(column + 0.35) / 14 - 0.5, (row + 0.35) / 14 - 0.5]])
    parabola = TemplateMatcher(8, 4, (14, 14), cell_centre=0.35, peak="parabola")
    assert torch.allclose(parabola.peak_offset(logits), expected, atol=1e-5)
    # The sharpened softmax is pulled most of the way to the best cell's centre (6, 4).
    softmax = TemplateMatcher(8, 4, (14, 14), cell_centre=0.35, peak="softmax")
    error_in_cells = (softmax.peak_offset(logits) - expected).abs() * 14
    assert (error_in_cells > 0.1).all(), error_in_cells


def test_the_parabola_keeps_a_peak_on_the_edge_in_its_cell_and_passes_gradients():
    matcher = TemplateMatcher(8, 4, (14, 14), cell_centre=0.5, peak="parabola")
    logits = _quadratic_peak(-0.4, 7.2).requires_grad_()  # best column 0: no neighbour left
    offset = matcher.peak_offset(logits)
    expected = torch.tensor([[0.5 / 14 - 0.5, 7.7 / 14 - 0.5]])
    assert torch.allclose(offset, expected, atol=1e-5)
    offset[0, 1].backward()
    assert logits.grad.abs().sum() > 0  # the row's vertex moves with its three cells
    with pytest.raises(ValueError, match="peak"):
        TemplateMatcher(8, 4, (14, 14), peak="argmax")


@pytest.mark.parametrize("peak", ["softmax", "parabola"])
def test_a_correlation_hart_on_a_still_frame(peak):
    # The same frame again and again: the target has not moved, and the box should not either.
    # The softmax snaps to cell centres, and as the glimpse re-centres on its answer the box
    # jumps back and forth; the parabola's sub-cell peak holds it still.
    frame = texture(160, 240, seed=1)
    frame[:, 50:90, 100:133] = texture(40, 33, seed=2)  # a target between cell centres
    frames = frame.expand(1, 8, *frame.shape)
    box0 = torch.tensor([[100.0, 50.0, 33.0, 40.0]])
    model = build_hart(untrained_correlation_config(context=3.0, peak=peak)).eval()
    with torch.no_grad():
        boxes = model(frames, box0).boxes[0]  # (T, 4)
    cell = 3.0 * box0[0, 2:] / 14  # px per feature cell (x, y)
    motion = ((boxes[2:, :2] - boxes[1:-1, :2]).abs() / cell).max()
    if peak == "parabola":
        assert motion < 0.02, motion
    else:
        assert motion > 0.15, motion


@pytest.mark.parametrize("margin", [0.0, 1.0])
def test_the_template_holds_the_box_and_its_margin_of_background(margin):
    # Channel 0 is 1 on the target's 5×5 cells and 0 elsewhere; a template as many cells wide as
    # the box and its margin has a cell for each: the target's, and a ring of background. (The
    # bilinear samples, a quarter cell in from each bin's edge, mix in a quarter of the
    # neighbouring cell.)
    features = torch.zeros(1, 4, 14, 14)
    features[0, 0, 4:9, 6:11] = 1.0  # rows 4-8, columns 6-10
    box = torch.tensor([[6.0, 4.0, 11.0, 9.0]])  # x1, y1, x2, y2 in cells
    ring = int(margin)
    size = 5 + 2 * ring
    matcher = TemplateMatcher(8, 4, (14, 14), size, cell_centre=0.5, template_margin=margin)
    template = matcher.template(features, box)[0, 0]  # (size, size)
    target = template[ring : size - ring, ring : size - ring]
    assert target.min() >= 0.76 and target[1:-1, 1:-1].min() == pytest.approx(1.0)
    if ring:
        background = torch.cat([template[0], template[-1], template[:, 0], template[:, -1]])
        assert background.max() <= 0.13
    with pytest.raises(ValueError, match="template_margin"):
        TemplateMatcher(8, 4, (14, 14), template_margin=-0.5)


def test_boxes_in_glimpse_are_in_feature_cells():
    attention = torch.tensor([[100.0, 50.0, 80.0, 40.0]])
    box = torch.tensor([[120.0, 60.0, 40.0, 20.0]])  # the middle half of the attention box
    assert torch.allclose(
        boxes_in_glimpse(box, attention, (14, 14)), torch.tensor([[3.5, 3.5, 10.5, 10.5]])
    )


def test_an_untrained_correlation_hart_follows_a_target_moving_over_clutter():
    # A textured target (one patch of texture) slides over another texture. Nothing is trained:
    # the ImageNet features, the template and the mask's peak alone must follow it.
    torch.manual_seed(0)
    background = texture(160, 240, seed=1)
    target = texture(40, 32, seed=2)
    steps, velocity = 12, torch.tensor([5.0, 3.0])  # px per frame (x, y)
    frames, boxes = [], []
    for t in range(steps):
        frame = background.clone()
        x, y = (torch.tensor([60.0, 40.0]) + t * velocity).round().int().tolist()
        frame[:, y : y + 40, x : x + 32] = target
        frames.append(frame)
        boxes.append([x, y, 32, 40])
    frames = torch.stack(frames)[None]  # (1, T, 3, H, W)
    truth = torch.tensor(boxes, dtype=torch.float32)[None]
    model = build_hart(untrained_correlation_config()).eval()
    with torch.no_grad():
        predicted = model(frames, truth[:, 0]).boxes
    overlaps = iou(predicted[0, 1:], truth[0, 1:])
    static = iou(truth[0, :1].expand(steps - 1, 4), truth[0, 1:])
    assert overlaps.mean() > 0.6, overlaps
    assert overlaps[-1] > 0.5 and static[-1] == 0.0

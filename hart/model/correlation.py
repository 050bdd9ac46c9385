"""Appearance attention by template matching: the glimpse's features against the target's.

HART's appearance attention (:mod:`hart.model.appearance`) generates its mask filters from the
LSTM's memory, which has to learn from scratch what the target looks like. With pretrained
features a stronger signal is at hand from the first frame on: the target's own features. This
module keeps a *template* — the feature cells under the target's box, plus ``template_margin``
cells of background on every side, resampled to ``k × k`` — and scores every cell of each new
glimpse by normalised cross-correlation with it (as SiamFC and correlation-filter trackers do).
The object-mask logit is then

    scale · (NCC + prior) + bias + dynamic filters(features, h_{t-1})

(with a memory of lookalikes, :mod:`hart.model.distractors`, NCC less how well each cell
matches them)

where ``prior`` is a learned map over the glimpse (it starts as a cosine window: the target is
more likely near where it was) and the dynamic-filter term is HART's own, started small, so
the memory can learn what the template misses. The template drifts slowly towards the target's
current look (``template_rate`` per frame) — the tracker's long-term appearance memory.

:meth:`TemplateMatcher.peak_offset` turns the logits into where the target is, as an offset
from the glimpse's centre in fractions of its side, in one of two ways (``peak``):

- ``"softmax"``: the mean cell under a sharpened softmax of the logits. Sharp enough that the
  many background cells do not pull it to the glimpse's centre, it is nearly an argmax, so it
  snaps to cell centres: a target between two cells is placed on one of them, and as the glimpse
  re-centres on that answer the next frame snaps back — on a still frame the box jumps by a third
  of a cell and back, every frame (0.43 cells a frame on the first frames of 23 real sequences;
  a cell is a fifth of the box at context 3), and a target that moves by less than that is
  not followed.
- ``"parabola"``: the best cell, refined along each axis by the vertex of the parabola through
  it and its two neighbours (sub-cell peak interpolation, as correlation-filter trackers do).
  On the same still frames the box moves 0.003 cells a frame.

Both are differentiable in the logits (the parabola in the best cell's and its neighbours'), so
the box readout can learn to correct them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from hart.model.appearance import DynamicMaskNet
from hart.model.constants import constant_like

PEAKS = ("softmax", "parabola")
"""How :meth:`TemplateMatcher.peak_offset` reads the target's location off the mask."""

NCC_EPS = 1e-4
"""Floor on a window's variance in the normalised cross-correlation (featureless windows)."""


def boxes_in_glimpse(
    boxes: torch.Tensor, attention_boxes: torch.Tensor, map_size: tuple[int, int]
) -> torch.Tensor:
    """xywh px boxes ``(B, 4)`` → ``(B, 4)`` x1, y1, x2, y2 in feature cells of the glimpse
    that ``attention_boxes`` ``(B, 4)`` xywh px covered (its ``map_size`` ``(h, w)`` grid)."""
    cells = constant_like(boxes, [map_size[1], map_size[0]])  # (2,) cells per glimpse side (x, y)
    scale = cells / attention_boxes[:, 2:]  # (B, 2) cells per pixel
    top_left = (boxes[:, :2] - attention_boxes[:, :2]) * scale
    return torch.cat([top_left, top_left + boxes[:, 2:] * scale], -1)


def crop_template(
    features: torch.Tensor,
    cell_boxes: torch.Tensor,
    size: int,
    cell_centre: float = 0.5,
    margin: float = 1.0,
) -> torch.Tensor:
    """The features ``(B, C, h, w)`` under each box ``(B, 4)`` x1, y1, x2, y2 in cells, grown by
    ``margin`` cells on every side, resampled bilinearly to ``(B, C, size, size)``; with
    ``N`` boxes per sample ``(B, N, 4)``, ``(B, N, C, size, size)``.

    ``cell_centre``: where in the glimpse cell ``j``'s features are centred, ``j + cell_centre``
    (a trunk's padding moves it off ``j + 1/2``)."""
    boxes = cell_boxes if cell_boxes.dim() == 3 else cell_boxes[:, None]  # (B, N, 4)
    batch, count = boxes.shape[:2]
    grown = boxes + constant_like(boxes, [-margin, -margin, margin, margin])
    # roi_align(aligned=True) puts cell j's centre at j + 1/2: move the boxes to match.
    grown = grown + (0.5 - cell_centre)
    index = torch.arange(batch, device=grown.device, dtype=grown.dtype).repeat_interleave(count)
    rois = torch.cat([index[:, None], grown.reshape(-1, 4)], -1).to(features.dtype)  # (B·N, 5)
    crops = roi_align(
        features, rois, (size, size), spatial_scale=1.0, sampling_ratio=2, aligned=True
    ).view(batch, count, features.shape[1], size, size)
    return crops if cell_boxes.dim() == 3 else crops[:, 0]


def normalised_cross_correlation(features: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """Each sample's template ``(B, C, k, k)`` (odd ``k``) slid over its features
    ``(B, C, h, w)`` → ``(B, 1, h, w)`` in [-1, 1]: the Pearson correlation of the template with
    the ``C × k × k`` window centred on each cell (zero padding beyond the map). ``N`` templates
    per sample ``(B, N, C, k, k)`` give ``(B, N, h, w)``; an all-zero template scores 0."""
    templates = template if template.dim() == 5 else template[:, None]  # (B, N, C, k, k)
    batch, channels, height, width = features.shape
    count, k = templates.shape[1], templates.shape[-1]
    size = channels * k * k
    centred = templates - templates.mean((2, 3, 4), keepdim=True)
    norm = centred.flatten(2).norm(dim=2).clamp(min=1e-6)  # (B, N)
    unit = (centred / norm[..., None, None, None]).reshape(batch * count, channels, k, k)
    # One correlation per sample: fold the batch into channels and use groups=B. The templates
    # have zero mean, so this is already the correlation with the window's centred values.
    dot = F.conv2d(
        features.reshape(1, batch * channels, height, width), unit, padding=k // 2, groups=batch
    ).view(batch, count, height, width)
    ones = features.new_ones(1, 1, k, k)
    total = F.conv2d(features.sum(1, keepdim=True), ones, padding=k // 2)  # (B, 1, h, w)
    total_sq = F.conv2d(features.square().sum(1, keepdim=True), ones, padding=k // 2)
    variance = (total_sq - total.square() / size).clamp(min=NCC_EPS)
    return dot / variance.sqrt()


def cosine_window(map_size: tuple[int, int]) -> torch.Tensor:
    """The outer product of two Hann windows ``(h, w)``, 1 at the centre, small at the edges."""
    rows, cols = (torch.hann_window(n + 2, periodic=False)[1:-1] for n in map_size)
    return rows[:, None] * cols[None, :]


class TemplateMatcher(nn.Module):
    """Features ``(B, C, h, w)``, appearance ``(B, S)`` and the template's match over the
    features ``(B, 1, h, w)`` (:func:`normalised_cross_correlation`, less any suppression of
    lookalikes, :mod:`hart.model.distractors`) → mask logits ``(B, 1, h, w)`` and the squared
    L2 norm of the generated filters ``(B,)``.

    Args:
        appearance_size: the LSTM's width (the dynamic filters' input).
        feature_channels: ``C``.
        map_size: the feature grid ``(h, w)``.
        template_size: ``k``, odd.
        mask_channels: the dynamic filter network's hidden channels.
        template_rate: how far the template moves towards the current target per frame.
        template_margin: cells of background around the box that the template holds.
        cell_centre: cell ``j``'s features are centred at ``j + cell_centre`` cells of the
            glimpse (the trunk's ``cell_centre``).
        peak: how :meth:`peak_offset` locates the target, one of :data:`PEAKS` (module
            docstring).
    """

    def __init__(
        self,
        appearance_size: int,
        feature_channels: int,
        map_size: tuple[int, int],
        template_size: int = 9,
        mask_channels: int = 5,
        template_rate: float = 0.01,
        cell_centre: float = 0.5,
        peak: str = "softmax",
        template_margin: float = 1.0,
    ) -> None:
        super().__init__()
        if peak not in PEAKS:
            raise ValueError(f"peak must be one of {PEAKS}, got {peak!r}")
        if template_size % 2 != 1:
            raise ValueError(f"template_size must be odd, got {template_size}")
        if not 0.0 <= template_rate <= 1.0:
            raise ValueError(f"template_rate must be in [0, 1], got {template_rate}")
        if template_margin < 0.0:
            raise ValueError(f"template_margin must be >= 0 cells, got {template_margin}")
        self.map_size = (int(map_size[0]), int(map_size[1]))
        self.template_size = template_size
        self.template_rate = template_rate
        self.template_margin = template_margin
        self.cell_centre = cell_centre
        # NCC is in [-1, 1]; a scale of 10 makes a clear peak hold most of the softmax's mass.
        self.scale = nn.Parameter(torch.tensor(10.0))
        self.prior = nn.Parameter(0.2 * cosine_window(self.map_size)[None, None])  # (1, 1, h, w)
        # The mask is about half on at NCC 0.5 (the target is a quarter of a context-2 glimpse).
        self.bias = nn.Parameter(torch.tensor(-5.0))
        self.peak = peak
        if peak == "softmax":
            # The location is the mean cell under softmax(sharpness · logits): sharper than the
            # mask, so that the many background cells do not pull it towards the glimpse's centre.
            self.sharpness = nn.Parameter(torch.tensor(5.0))
        self.dynamic = DynamicMaskNet(appearance_size, feature_channels, mask_channels)
        with torch.no_grad():  # the memory's term starts small beside the template's
            self.dynamic.generator.weight.mul_(0.01)
            self.dynamic.generator.bias.zero_()

    def template(self, features: torch.Tensor, cell_boxes: torch.Tensor) -> torch.Tensor:
        """The template of the target in ``cell_boxes`` ``(B, 4)`` of ``features``."""
        return crop_template(
            features, cell_boxes, self.template_size, self.cell_centre, self.template_margin
        )

    def update_template(
        self, template: torch.Tensor, features: torch.Tensor, cell_boxes: torch.Tensor
    ) -> torch.Tensor:
        """The template moved ``template_rate`` of the way towards the target now."""
        if self.template_rate == 0.0:
            return template
        current = self.template(features, cell_boxes)
        return torch.lerp(template, current, self.template_rate)

    def forward(
        self, features: torch.Tensor, appearance: torch.Tensor, match: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        dynamic, filter_sq = self.dynamic(features, appearance)  # (B, 1, h, w), (B,)
        return self.scale * (match + self.prior) + self.bias + dynamic, filter_sq

    def peak_offset(self, mask_logits: torch.Tensor) -> torch.Tensor:
        """Mask logits ``(B, 1, h, w)`` → where the target is, as an offset from the glimpse's
        centre ``(B, 2)`` (x, y), in fractions of the glimpse's width and height."""
        batch, _, height, width = mask_logits.shape
        if self.peak == "parabola":
            column, row = _parabola_peak(mask_logits.float()[:, 0])  # (B,) cells each
            # Cell j's centre is j + cell_centre cells from the glimpse's edge.
            offset_x = (column + self.cell_centre) / width - 0.5
            offset_y = (row + self.cell_centre) / height - 0.5
            return torch.stack([offset_x, offset_y], -1).to(mask_logits.dtype)
        sharpened = self.sharpness * mask_logits.float().flatten(1)  # (B, h·w)
        weights = torch.softmax(sharpened, -1).view(batch, height, width)
        cells = torch.arange(max(height, width), device=weights.device) + self.cell_centre
        xs = cells[:width] / width - 0.5  # (w,) each cell's centre, from the glimpse's centre
        ys = cells[:height] / height - 0.5  # (h,)
        offset_x = (weights.sum(1) * xs).sum(-1)  # (B,)
        offset_y = (weights.sum(2) * ys).sum(-1)
        return torch.stack([offset_x, offset_y], -1).to(mask_logits.dtype)


def _parabola_peak(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Maps ``(B, h, w)`` → the column and row ``(B,)``, in cells, of each map's best cell moved
    to the vertex of the parabola through it and its two neighbours along that axis (at most half
    a cell; a best cell on the map's edge is not moved along the axis it has one neighbour on)."""
    batch, height, width = logits.shape
    best = logits.flatten(1).argmax(-1)  # (B,) no host synchronisation: indices stay on device
    row, column = best // width, best % width
    samples = torch.arange(batch, device=logits.device)

    def at(rows: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
        return logits[samples, rows.clamp(0, height - 1), columns.clamp(0, width - 1)]

    peak = at(row, column)

    def vertex(before: torch.Tensor, after: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
        # The best cell is a maximum, so the curvature is ≤ 0; a flat triple stays put.
        curvature = (before - 2 * peak + after).clamp(max=-1e-6)
        shift = (0.5 * (before - after) / curvature).clamp(-0.5, 0.5)
        return torch.where(inside, shift, torch.zeros_like(shift))

    column_inside = (column > 0) & (column < width - 1)
    row_inside = (row > 0) & (row < height - 1)
    column_shift = vertex(at(row, column - 1), at(row, column + 1), column_inside)
    row_shift = vertex(at(row - 1, column), at(row + 1, column), row_inside)
    return column.to(logits.dtype) + column_shift, row.to(logits.dtype) + row_shift

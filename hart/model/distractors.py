"""A memory of lookalikes: what else in the glimpse matches the target (DaSiamRPN's idea).

The correlation attention (:mod:`hart.model.correlation`) loses targets to background that
matches the template well: over the 23 real sequences of ``../shared/training`` the peak NCC was
no lower on frames where the target was lost than where it was held (median 0.68 against 0.61).
A template alone cannot tell the target from a lookalike; remembering the lookalikes seen so far
and asking how much each cell matches *them* can. As DaSiamRPN does (Zhu et al., ECCV 2018),
but with no training:

- after each frame's box is placed (the first frame's step included; the memory starts
  empty), the strong local maxima of the template's NCC (above ``threshold``) that lie farther
  from the box than three quarters of its size are lookalikes; the strongest ``per_frame`` of
  them are cut out of the features (a box of the target's size, centred on the peak, cut as
  the target's template is, so the two compare like for like) and pushed into a memory of
  ``slots`` templates, the newest kept;
- every later frame's NCC then becomes ``NCC(target) − weight · max_d relu(NCC(lookalike d))``:
  a cell that matches a remembered lookalike at least as well as the target scores low.

The memory is a tracking heuristic, not learned: its templates are cut from detached features.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from hart.model.correlation import normalised_cross_correlation

TemplateCut = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""Cuts templates out of features ``(B, C, h, w)`` at boxes ``(B, N, 4)`` x1, y1, x2, y2 in
cells → ``(B, N, C, k, k)``: the target's own cut (:meth:`TemplateMatcher.template
<hart.model.correlation.TemplateMatcher.template>`)."""

FAR = 0.75
"""A peak is a lookalike, not the target, when it is this many box sizes from the box's centre
(along x or y)."""


def lookalike_boxes(
    ncc: torch.Tensor, cell_boxes: torch.Tensor, threshold: float, count: int, cell_centre: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``count`` strongest lookalikes in a template's NCC map ``(B, 1, h, w)``, given the
    target's box ``(B, 4)`` x1, y1, x2, y2 in cells → their boxes ``(B, count, 4)`` (the target
    box's size, centred on each peak) and whether each was found ``(B, count)`` (bool): a local
    maximum (3×3) above ``threshold``, at least :data:`FAR` box sizes from the box's centre."""
    height, width = ncc.shape[-2:]
    ncc = ncc.detach()[:, 0].float()  # (B, h, w)
    peaks = (ncc == F.max_pool2d(ncc[:, None], 3, 1, 1)[:, 0]) & (ncc > threshold)
    centre = (cell_boxes[:, :2] + cell_boxes[:, 2:]).float() / 2  # (B, 2) x, y
    size = (cell_boxes[:, 2:] - cell_boxes[:, :2]).float()  # (B, 2)
    xs = torch.arange(width, device=ncc.device) + cell_centre  # (w,) cell centres
    ys = torch.arange(height, device=ncc.device) + cell_centre  # (h,)
    far_x = (xs[None] - centre[:, :1]).abs() >= FAR * size[:, :1]  # (B, w)
    far_y = (ys[None] - centre[:, 1:]).abs() >= FAR * size[:, 1:]  # (B, h)
    far = far_x[:, None, :] | far_y[:, :, None]  # (B, h, w)
    score = ncc.masked_fill(~(peaks & far), float("-inf")).flatten(1)  # (B, h·w)
    values, index = score.topk(count, dim=1)  # (B, count); no host synchronisation
    found = torch.isfinite(values)
    peak = torch.stack([index % width, index // width], -1) + cell_centre  # (B, count, 2) x, y
    half = size[:, None] / 2  # (B, 1, 2)
    boxes = torch.cat([peak - half, peak + half], -1).to(cell_boxes.dtype)  # (B, count, 4)
    return boxes, found


class DistractorMemory:
    """Remembers up to ``slots`` lookalike templates per sample and suppresses cells that match
    them.

    The memory travels in the tracker's state as ``templates`` ``(B, slots, C, k, k)`` (zeros in
    empty slots) and ``present`` ``(B, slots)`` (1 where a slot holds a lookalike, else 0).

    Args:
        slots: how many lookalikes are remembered (the newest).
        weight: how much a lookalike's NCC is subtracted from the target's.
        threshold: the NCC a peak away from the target needs to count as a lookalike.
        cut: how a lookalike's template is cut out of the features: the target template's
            cut (:data:`TemplateCut`), so its size and margin of background are the target's.
        cell_centre: where in the glimpse cell ``j``'s features are centred (the trunk's).
        per_frame: the most lookalikes taken from one frame.
    """

    def __init__(
        self,
        slots: int,
        weight: float,
        threshold: float,
        cut: TemplateCut,
        cell_centre: float,
        per_frame: int = 2,
    ) -> None:
        if slots < 1:
            raise ValueError(f"distractor slots must be at least 1, got {slots}")
        if weight < 0.0:
            raise ValueError(f"distractor weight must be >= 0, got {weight}")
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f"distractor threshold must be an NCC in [-1, 1], got {threshold}")
        self.slots = slots
        self.weight = weight
        self.threshold = threshold
        self.cut = cut
        self.cell_centre = cell_centre
        self.per_frame = min(per_frame, slots)

    def empty(self, template: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """An empty memory for the batch of target templates ``(B, C, k, k)``."""
        batch = template.shape[0]
        templates = template.new_zeros(batch, self.slots, *template.shape[1:])
        return templates, template.new_zeros(batch, self.slots)

    def suppression(
        self, features: torch.Tensor, templates: torch.Tensor, present: torch.Tensor
    ) -> torch.Tensor:
        """How much each cell of ``features`` ``(B, C, h, w)`` matches a remembered lookalike:
        ``weight · max_d present_d · relu(NCC_d)`` ``(B, 1, h, w)``."""
        ncc = normalised_cross_correlation(features, templates)  # (B, slots, h, w)
        matched = (ncc.clamp(min=0.0) * present[:, :, None, None]).amax(1, keepdim=True)
        return self.weight * matched

    def remember(
        self,
        features: torch.Tensor,
        ncc: torch.Tensor,
        cell_boxes: torch.Tensor,
        templates: torch.Tensor,
        present: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The memory with this frame's lookalikes pushed in: ``features`` ``(B, C, h, w)``, the
        target template's NCC over them ``(B, 1, h, w)``, the target's box there ``(B, 4)`` in
        cells, and the memory so far → the new ``templates`` and ``present``."""
        boxes, found = lookalike_boxes(
            ncc, cell_boxes, self.threshold, self.per_frame, self.cell_centre
        )
        new = self.cut(features.detach(), boxes)  # (B, per_frame, C, k, k)
        candidates = torch.cat([new.to(templates.dtype), templates], 1)  # newest first
        flags = torch.cat([found.to(present.dtype), present], 1)  # (B, per_frame + slots)
        # Keep the newest present ones: a stable sort moves the empty slots to the end.
        order = torch.argsort(flags, dim=1, descending=True, stable=True)[:, : self.slots]
        batch = torch.arange(flags.shape[0], device=flags.device)[:, None]
        return candidates[batch, order], flags[batch, order]

    def __repr__(self) -> str:
        return (
            f"DistractorMemory(slots={self.slots}, weight={self.weight}, "
            f"threshold={self.threshold}, per_frame={self.per_frame})"
        )

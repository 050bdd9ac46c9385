"""HART's training losses: pure functions of the model's outputs and the targets.

Every term is averaged over the samples and frames where the target is visible, with later frames
weighted more (:func:`time_weights`: errors compound over a clip, and frame 0's box is nearly
given). Targets are xywh pixel boxes ``(B, T, 4)``, NaN where absent, with ``visible (B, T)``;
absent frames contribute nothing, and their NaN never reaches a gradient.

- :func:`box_loss`: ``−log IoU`` of the predicted box.
- :func:`attention_loss`: "tight intersection": ``−log`` of the fraction of the target inside the
  attention box, plus ``area_weight · log(area(attention) / area(target))``. The first term wants
  the target inside the glimpse; the second keeps the glimpse from growing beyond what that needs.
  With ``area_weight < 1`` the sum is smallest, and zero, when the attention box is the target box.
- :func:`mask_loss`: class-balanced binary cross-entropy of the object mask against the target box
  rasterised into the glimpse's grid (:func:`mask_target`, the fraction of each cell the box
  covers).
- :func:`l2_penalty`: squared L2 norm of the weights, plus that of the dynamic filters the
  appearance network generated (averaged over samples and frames).
- :class:`AdaptiveLossWeights`: learned loss weights ``exp(s_i)`` with the penalty ``−s_i``, which
  drives each weight towards ``1 / loss_i`` so no term drowns the others.

:func:`hart_losses` puts them together and returns a dict of named terms plus ``"total"``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from hart.boxes import diou_penalty, intersection, iou
from hart.model.hart import HARTOutput

EPS = 1e-3
"""Floor inside the logs: keeps ``−log`` finite, and its gradient bounded, at zero overlap."""

TASK_TERMS = ("box", "attention", "mask")


def time_weights(steps: int, ramp: float = 1.0, device: torch.device | None = None) -> torch.Tensor:
    """Per-frame weights ``(T,)`` rising linearly from 1 (frame 0) to ``1 + ramp`` (last)."""
    if steps == 1:
        return torch.ones(1, device=device)
    return 1.0 + ramp * torch.linspace(0.0, 1.0, steps, device=device)


def _valid(targets: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    return visible.bool() & torch.isfinite(targets).all(-1) & (targets[..., 2:] > 0).all(-1)


def _safe_targets(targets: torch.Tensor, valid: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """Targets with invalid rows replaced by ``fill`` (detached): NaN must not reach autograd,
    even multiplied by zero (``0 · NaN`` is NaN in the backward pass too)."""
    return torch.where(valid[..., None], targets, fill.detach())


def _weighted_mean(values: torch.Tensor, valid: torch.Tensor, ramp: float) -> torch.Tensor:
    """Mean of ``(B, T)`` values over valid entries, frames weighted by :func:`time_weights`."""
    weights = time_weights(values.shape[1], ramp, values.device) * valid  # (B, T)
    return (values * weights).sum() / weights.sum().clamp(min=1e-12)


def _neg_log(fraction: torch.Tensor) -> torch.Tensor:
    """``−log`` of a fraction in [0, 1], floored by ``EPS`` and shifted to be 0 at 1."""
    return math.log1p(EPS) - torch.log(fraction + EPS)


def box_loss(
    boxes: torch.Tensor,
    targets: torch.Tensor,
    visible: torch.Tensor,
    time_weight_ramp: float = 1.0,
    centre_weight: float = 0.0,
) -> torch.Tensor:
    """``−log IoU + centre_weight · diou_penalty``: predicted ``(B, T, 4)`` vs target
    ``(B, T, 4)`` xywh px → scalar. :func:`~hart.boxes.diou_penalty` (DIoU's normalised squared
    centre distance) still pulls a box that no longer overlaps its target."""
    valid = _valid(targets, visible)
    targets = _safe_targets(targets, valid, boxes)
    per_frame = _neg_log(iou(boxes, targets))  # (B, T)
    if centre_weight:
        per_frame = per_frame + centre_weight * diou_penalty(boxes, targets)
    return _weighted_mean(per_frame, valid, time_weight_ramp)


def _area(boxes: torch.Tensor) -> torch.Tensor:
    return boxes[..., 2] * boxes[..., 3]


def attention_loss(
    attention_boxes: torch.Tensor,
    targets: torch.Tensor,
    visible: torch.Tensor,
    area_weight: float = 0.25,
    time_weight_ramp: float = 1.0,
) -> torch.Tensor:
    """Tight intersection: attention ``(B, T, 4)`` vs target ``(B, T, 4)`` xywh px → scalar."""
    valid = _valid(targets, visible)
    targets = _safe_targets(targets, valid, attention_boxes)
    target_area = _area(targets)
    covered = intersection(attention_boxes, targets) / target_area  # (B, T) in [0, 1]
    area_ratio = _area(attention_boxes) / target_area
    per_frame = _neg_log(covered) + area_weight * torch.log(area_ratio)
    return _weighted_mean(per_frame, valid, time_weight_ramp)


def mask_target(
    targets: torch.Tensor, attention_boxes: torch.Tensor, mask_size: tuple[int, int]
) -> torch.Tensor:
    """The target box rasterised into the glimpse: ``(..., 4), (..., 4) xywh → (..., 1, h, w)``.

    The glimpse covers the attention box split into an ``h × w`` grid; each cell holds the
    fraction of its area that the target box covers (1 inside, 0 outside, fractional on the
    border), so a box half outside the glimpse fills exactly its inside half.
    """
    height, width = mask_size
    ax, ay, aw, ah = attention_boxes.unbind(-1)
    tx, ty, tw, th = targets.unbind(-1)

    def coverage(start, length, origin, extent, cells):
        # Box interval in cell units, then its overlap with each cell [j, j + 1].
        lo = ((start - origin) / extent * cells)[..., None]
        hi = ((start + length - origin) / extent * cells)[..., None]
        j = torch.arange(cells, device=targets.device, dtype=targets.dtype)
        return (torch.minimum(hi, j + 1) - torch.maximum(lo, j)).clamp(0, 1)  # (..., cells)

    cov_y = coverage(ty, th, ay, ah, height)  # (..., h)
    cov_x = coverage(tx, tw, ax, aw, width)  # (..., w)
    return (cov_y[..., :, None] * cov_x[..., None, :]).unsqueeze(-3)  # (..., 1, h, w)


def mask_loss(
    mask_logits: torch.Tensor,
    attention_boxes: torch.Tensor,
    targets: torch.Tensor,
    visible: torch.Tensor,
    time_weight_ramp: float = 1.0,
) -> torch.Tensor:
    """Class-balanced cross-entropy of the object mask ``(B, T, 1, h, w)`` logits → scalar.

    Object and background cells count equally however many there are of each: each class's
    cross-entropy is averaged over its own (soft) cell count, and the two averages are averaged.
    A glimpse without any of the target counts only its background.
    """
    valid = _valid(targets, visible)
    targets = _safe_targets(targets, valid, attention_boxes)
    target = mask_target(targets, attention_boxes, mask_logits.shape[-2:]).detach()
    target = target.to(mask_logits.dtype)
    cells = (-3, -2, -1)
    positive = (target * F.softplus(-mask_logits)).sum(cells)  # −log σ(l) on the object
    negative = ((1 - target) * F.softplus(mask_logits)).sum(cells)  # −log(1 − σ(l)) elsewhere
    n_positive, n_negative = target.sum(cells), (1 - target).sum(cells)  # (B, T)
    has_positive, has_negative = (n_positive > 1e-6).float(), (n_negative > 1e-6).float()
    per_frame = (
        has_positive * positive / n_positive.clamp(min=1e-6)
        + has_negative * negative / n_negative.clamp(min=1e-6)
    ) / (has_positive + has_negative)
    return _weighted_mean(per_frame, valid, time_weight_ramp)


def l2_penalty(parameters: Iterable[torch.Tensor], dynamic_filter_sq: torch.Tensor) -> torch.Tensor:
    """Squared L2 norm of trainable weights (tensors of 2+ dims: not biases or norms' scales)
    plus the mean squared norm of the generated dynamic filters ``(B, T)``."""
    penalty = dynamic_filter_sq.mean()
    for parameter in parameters:
        if parameter.requires_grad and parameter.dim() >= 2:
            penalty = penalty + parameter.square().sum()
    return penalty


class AdaptiveLossWeights(nn.Module):
    """Learned loss weights: ``Σ exp(s_i) · loss_i − s_i`` over named terms.

    Minimising over ``s_i`` gives ``exp(s_i) = 1 / loss_i``: every term is brought to the same
    scale, and its weight follows it as training goes. ``s_i`` is clamped to ``±LOG_WEIGHT_LIMIT``
    so a term that reaches zero cannot send its weight to infinity.
    """

    LOG_WEIGHT_LIMIT = 6.0

    def __init__(self, names: Iterable[str] = TASK_TERMS) -> None:
        super().__init__()
        self.log_weights = nn.ParameterDict({name: nn.Parameter(torch.zeros(())) for name in names})

    def weights(self) -> dict[str, float]:
        """The current weights ``exp(s_i)``, for logging."""
        limit = self.LOG_WEIGHT_LIMIT
        return {
            n: float(s.detach().clamp(-limit, limit).exp()) for n, s in self.log_weights.items()
        }

    def forward(self, terms: Mapping[str, torch.Tensor]) -> torch.Tensor:
        total = torch.zeros((), device=next(iter(terms.values())).device)
        for name, log_weight in self.log_weights.items():
            s = log_weight.clamp(-self.LOG_WEIGHT_LIMIT, self.LOG_WEIGHT_LIMIT)
            total = total + s.exp() * terms[name] - s
        return total


def hart_losses(
    output: HARTOutput,
    targets: torch.Tensor,
    visible: torch.Tensor,
    parameters: Iterable[torch.Tensor] = (),
    *,
    weighting: AdaptiveLossWeights | None = None,
    weight_decay: float = 1e-5,
    area_weight: float = 0.25,
    time_weight_ramp: float = 1.0,
    centre_weight: float = 0.0,
) -> dict[str, torch.Tensor]:
    """All of HART's losses: ``{"box", "attention", "mask", "weight_decay", "total"}``.

    ``targets (B, T, 4)`` xywh px (NaN where absent) and ``visible (B, T)`` bool describe the
    frames the model saw. ``parameters`` are the model's (for weight decay). The task terms are
    combined by ``weighting`` if given, else summed; ``"weight_decay"`` is ``weight_decay`` times
    :func:`l2_penalty`, added to the total unweighted.
    """
    terms = {
        "box": box_loss(output.boxes, targets, visible, time_weight_ramp, centre_weight),
        "attention": attention_loss(
            output.attention_boxes, targets, visible, area_weight, time_weight_ramp
        ),
        "mask": mask_loss(
            output.mask_logits, output.attention_boxes, targets, visible, time_weight_ramp
        ),
    }
    task = weighting(terms) if weighting is not None else sum(terms.values())
    decay = weight_decay * l2_penalty(parameters, output.dynamic_filter_sq)
    return {**terms, "weight_decay": decay, "total": task + decay}


def scored_frames(targets: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """How many frames :func:`mean_iou` averages over: ``(B, T, 4), (B, T) → int scalar``."""
    return _valid(targets, visible).sum()


@torch.no_grad()
def mean_iou(boxes: torch.Tensor, targets: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Mean IoU over visible frames (unweighted): ``(B, T, 4), (B, T, 4), (B, T) → scalar``."""
    valid = _valid(targets, visible)
    overlap = iou(boxes, _safe_targets(targets, valid, boxes))
    return (overlap * valid).sum() / valid.sum().clamp(min=1)

"""HART's readouts: MLPs on the core's output, and how their bounded outputs move the box.

:func:`move_box` (``anchor="box"``) moves the previous box; :func:`correct_box` (the paper's
``anchor="attention"``) corrects the attention box. Both take an optional ``shift``: the
target's offset from the glimpse's centre as the appearance attention located it
(:meth:`hart.model.correlation.TemplateMatcher.peak_offset`), which the readout then corrects.
"""

from __future__ import annotations

import torch
from torch import nn

from hart.boxes import boxes_about, centres
from hart.model.attention import MAX_SIZE, MIN_SIZE
from hart.model.constants import constant_like

BOX_LOG_SCALE_RANGE = 1.3862943611198906  # log(4): a box is 1/4 to 4 times its attention's side
"""The box readout may scale the attention box by ``exp(±BOX_LOG_SCALE_RANGE)`` per side."""
BOX_STEP_LOG_SCALE = 0.4054651081081644  # log(1.5)
"""With ``anchor="box"``, a box side may change by ``exp(±BOX_STEP_LOG_SCALE)`` per frame."""


def readout_mlp(in_size: int, hidden: int, out_size: int, last_scale: float = 1.0) -> nn.Sequential:
    """``Linear → ELU → Linear`` with the last layer's weights scaled by ``last_scale`` and its
    bias zero: a small ``last_scale`` starts the readout near "no change"."""
    mlp = nn.Sequential(nn.Linear(in_size, hidden), nn.ELU(), nn.Linear(hidden, out_size))
    with torch.no_grad():
        mlp[-1].weight.mul_(last_scale)
        mlp[-1].bias.zero_()
    return mlp


def move_box(
    boxes: torch.Tensor,
    attention_boxes: torch.Tensor,
    raw: torch.Tensor,
    frame_size: tuple[int, int],
    shift: torch.Tensor | None = None,
    log_scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """The predicted box: the previous box moved and rescaled by a bounded readout.

    ``(B, 4) xywh, (B, 4) xywh, (B, 4) raw → (B, 4) xywh``: the centre moves by up to half the
    attention's side (anywhere within a glimpse centred on the box), each side scales by
    ``exp(±BOX_STEP_LOG_SCALE)``; ``raw = 0`` keeps the box where it was. With ``shift``
    ``(B, 2)`` (x, y fractions of the glimpse) the centre starts from that point of the glimpse
    instead of the previous box's centre, and the readout corrects it; likewise ``log_scale``
    ``(B,)`` (a scale search's estimate of the target's growth) rescales the box before the
    readout does. As for the attention,
    sides stay within ``[MIN_SIZE, MAX_SIZE]`` of the frame's and the centre within
    ``[-0.5, 1.5]`` of it, so a lost tracker's box cannot shrink to nothing or grow without end.
    """
    bounded = torch.tanh(raw)
    frame = constant_like(boxes, [frame_size[1], frame_size[0]])  # (W, H) px
    if shift is None:
        start = centres(boxes)
    else:
        start = attention_boxes[:, :2] + (0.5 + shift) * attention_boxes[:, 2:]
    centre = start + 0.5 * bounded[:, :2] * attention_boxes[:, 2:]
    log_size = BOX_STEP_LOG_SCALE * bounded[:, 2:]
    if log_scale is not None:
        log_size = log_size + log_scale[:, None]
    size = boxes[:, 2:] * torch.exp(log_size)
    centre = torch.clamp(centre, -0.5 * frame, 1.5 * frame)
    size = torch.clamp(size, MIN_SIZE * frame, MAX_SIZE * frame)
    return boxes_about(centre, size)


def correct_box(
    attention_boxes: torch.Tensor, raw: torch.Tensor, shift: torch.Tensor | None = None
) -> torch.Tensor:
    """The predicted box: the attention box moved and rescaled by a bounded readout.

    ``(B, 4) xywh, (B, 4) raw → (B, 4) xywh``: the centre moves by up to half the attention's
    side (anywhere within the glimpse), each side scales by ``exp(±BOX_LOG_SCALE_RANGE)``.
    ``shift`` ``(B, 2)`` moves the starting point from the glimpse's centre, as for
    :func:`move_box`.
    Working relative to the attention box, in whatever units it is given, keeps the readout the
    same at every object size and frame resolution.
    """
    bounded = torch.tanh(raw)
    size = attention_boxes[:, 2:]
    offset = 0.5 if shift is None else 0.5 + shift
    centre = attention_boxes[:, :2] + offset * size + 0.5 * bounded[:, :2] * size
    size = size * torch.exp(BOX_LOG_SCALE_RANGE * bounded[:, 2:])
    return boxes_about(centre, size)


def pull_size(boxes: torch.Tensor, first_sizes: torch.Tensor, pull: float) -> torch.Tensor:
    """The boxes resized ``pull`` of the way back (in log-size) towards ``first_sizes``, about
    their own centres: ``(B, 4) xywh, (B, 2) wh, pull in [0, 1] → (B, 4) xywh``.

    Each frame's size change is then followed by a step back, so a change made every frame
    settles at ``(1 - pull) · change / pull`` from the first size (log-size) instead of
    compounding: a scale search's bias, or a trained readout's, would otherwise grow a box
    away from its target.
    """
    centre = centres(boxes)
    size = boxes[:, 2:] ** (1.0 - pull) * first_sizes.to(boxes.dtype) ** pull
    return boxes_about(centre, size)

"""Boxes: the one place box arithmetic, box text and the rule for a first box live.

Every box in hart outside ``hart.model.glimpse`` is ``x, y, w, h``: the top-left corner and the
size, float, in pixels of the original frame. An absent target is a row of NaN.

The arithmetic (:func:`intersection`, :func:`iou`, :func:`centres`, :func:`boxes_about`,
:func:`centre_distance`, :func:`diou_penalty`) takes numpy arrays or torch tensors of shape
``(..., 4)`` (or centres and sizes, ``(..., 2)``) and returns the same kind: readers and
metrics (numpy) and the losses (torch, differentiable) share one implementation. This module
imports torch only through its callers' tensors, so numpy users (the tracking loop, data set
readers) do not pay for importing it.

Boxes as text (:func:`parse_box`, :func:`format_box`) and the rule for a box a tracker may
start from (:func:`check_first_box`) are here too, so that ``hart track``, the box files it
writes, the data set writers and :meth:`hart.tracking.Tracker.init` agree; and frame sizes as
text (:func:`parse_size`), which every command and script that takes one reads alike.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from hart.errors import InputError

ArrayOrTensor = Any  # np.ndarray | torch.Tensor (torch is not imported here)


def _is_tensor(value) -> bool:
    torch = sys.modules.get("torch")  # a tensor exists only if its caller imported torch
    return torch is not None and isinstance(value, torch.Tensor)


def _pair(boxes_a: ArrayOrTensor, boxes_b: ArrayOrTensor):
    """Both as float tensors if either is a tensor, else both as float numpy arrays; and the
    module.

    Integer boxes (annotations read as ints) compute in floats, tensors as numpy arrays: in
    their own type a uint8 ``x + w`` wraps past 255 and gives a wrong area without a word,
    and :func:`iou` cannot take the float ``tiny`` of an integer type.
    """
    if _is_tensor(boxes_a) or _is_tensor(boxes_b):
        torch = sys.modules["torch"]
        a, b = torch.as_tensor(boxes_a), torch.as_tensor(boxes_b)
        dtype = torch.promote_types(a.dtype, b.dtype)
        if not dtype.is_floating_point:  # torch's own rule for integers divided: its default
            dtype = torch.get_default_dtype()
        return a.to(dtype), b.to(dtype), torch
    a, b = np.asarray(boxes_a), np.asarray(boxes_b)
    dtype = np.result_type(a, b, np.float32)  # integers compute in float64
    return a.astype(dtype, copy=False), b.astype(dtype, copy=False), np


def _at_least(values: ArrayOrTensor, low: float) -> ArrayOrTensor:
    """``max(values, low)`` element-wise; NaN stays NaN, gradients flow above ``low``."""
    return values.clamp(min=low) if _is_tensor(values) else np.maximum(values, low)


def centres(boxes: ArrayOrTensor) -> ArrayOrTensor:
    """``(..., 4)`` x, y, w, h → ``(..., 2)`` centre x, centre y."""
    return boxes[..., :2] + boxes[..., 2:] / 2


def boxes_about(centre: ArrayOrTensor, size: ArrayOrTensor) -> ArrayOrTensor:
    """``(..., 2)`` centre x, y and ``(..., 2)`` w, h → ``(..., 4)`` x, y, w, h: the inverse of
    :func:`centres` for a box of that size. Either axis order works if both inputs share it
    (HART's attention passes y, x and h, w, and gets its y, x, h, w)."""
    if _is_tensor(centre) or _is_tensor(size):
        return sys.modules["torch"].cat([centre - size / 2, size], -1)
    return np.concatenate([centre - size / 2, size], -1)


def intersection(boxes_a: ArrayOrTensor, boxes_b: ArrayOrTensor) -> ArrayOrTensor:
    """Area shared by paired xywh boxes: ``(..., 4), (..., 4) → (...)``, 0 where they do not
    meet, NaN where a box is NaN. Differentiable for tensors."""
    a, b, xp = _pair(boxes_a, boxes_b)
    x1, y1 = xp.maximum(a[..., 0], b[..., 0]), xp.maximum(a[..., 1], b[..., 1])
    x2 = xp.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2])
    y2 = xp.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3])
    return _at_least(x2 - x1, 0) * _at_least(y2 - y1, 0)


def iou(boxes_a: ArrayOrTensor, boxes_b: ArrayOrTensor) -> ArrayOrTensor:
    """Overlap of paired ``x, y, w, h`` boxes: ``(..., 4), (..., 4) → (...)``.

    Intersection over union of each box in ``boxes_a`` with the box at the same index in
    ``boxes_b`` (not all pairs). Boxes of zero area give 0, and a NaN box (absent target) gives
    NaN. Differentiable for tensors.
    """
    a, b, xp = _pair(boxes_a, boxes_b)
    shared = intersection(a, b)
    areas = [_at_least(box[..., 2], 0) * _at_least(box[..., 3], 0) for box in (a, b)]
    union = areas[0] + areas[1] - shared
    # A zero-area pair has no overlap; the tiny floor only avoids 0/0.
    return shared / _at_least(union, float(xp.finfo(union.dtype).tiny))


def centre_distance(boxes_a: ArrayOrTensor, boxes_b: ArrayOrTensor) -> ArrayOrTensor:
    """Distance in pixels between the centres of paired xywh boxes: ``(..., 4) → (...)``
    (OTB's centre error)."""
    a, b, xp = _pair(boxes_a, boxes_b)
    offset = centres(a) - centres(b)
    return xp.hypot(offset[..., 0], offset[..., 1])


def diou_penalty(boxes_a: ArrayOrTensor, boxes_b: ArrayOrTensor) -> ArrayOrTensor:
    """DIoU's penalty (Zheng et al. 2020): the squared distance of the centres over the squared
    diagonal of the smallest box enclosing both, ``(..., 4), (..., 4) xywh → (...)`` in [0, 1).

    Unitless, unlike :func:`centre_distance`; and unlike the IoU it still has a gradient when
    the boxes do not overlap at all."""
    a, b, xp = _pair(boxes_a, boxes_b)
    low = xp.minimum(a[..., :2], b[..., :2])
    high = xp.maximum(a[..., :2] + a[..., 2:], b[..., :2] + b[..., 2:])
    diagonal_sq = ((high - low) ** 2).sum(-1)
    return ((centres(a) - centres(b)) ** 2).sum(-1) / _at_least(diagonal_sq, 1e-6)


# ----------------------------------------------------------------------------- boxes as text


def parse_box(text: str) -> np.ndarray:
    """``"X,Y,W,H"`` (pixels, top-left corner; ints or floats) → ``(4,)`` float64 xywh.

    Raises :class:`~hart.errors.InputError` unless it is four finite numbers; whether the box
    can start tracking is :func:`check_first_box`'s to say.
    """
    box = comma_numbers(text, 4)
    if box is None:
        raise InputError(f"box {text!r} is not X,Y,W,H (four numbers, e.g. 120,80,40,60)")
    return box


def parse_size(
    text: str, option: str, form: str = "HxW", example: str = "360x640", smallest: int | None = None
) -> tuple[int, int]:
    """A frame size given as ``"AxB"`` → ``(A, B)`` ints in the order written (``form`` says
    which: ``HxW`` or ``WxH``), each at least ``smallest`` when given (callers with a range of
    their own check it themselves); an :class:`~hart.errors.InputError` naming ``option``
    otherwise."""
    try:
        first, second = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise InputError(f"{option} {text!r} is not {form} (e.g. {example})") from None
    if smallest is not None and min(first, second) < smallest:
        raise InputError(f"{option} {text!r} is smaller than {smallest}x{smallest}")
    return first, second


def comma_numbers(text: str, count: int) -> np.ndarray | None:
    """``"A,B,…"`` → ``(count,)`` float64 when it is exactly ``count`` finite numbers separated
    by commas (spaces allowed), else None: a command-line value such as a box or a shift."""
    try:
        values = np.array([float(part) for part in str(text).split(",")], dtype=np.float64)
    except ValueError:
        return None
    if values.shape != (count,) or not np.isfinite(values).all():
        return None
    return values


def format_box(box: ArrayOrTensor) -> str:
    """``x,y,w,h`` with at most two decimals and no trailing zeros (``nan,nan,nan,nan`` for an
    absent target): how hart writes a box in every text file."""
    return ",".join(
        np.format_float_positional(round(float(value), 2), trim="-") for value in np.ravel(box)
    )


MAX_BOX_FRAMES = 10
"""How many times the frame's width (height) a first box may be: a target is seen in the frame,
and a box of 1e39 pixels would overflow the network's float32 (benchmarks' boxes stay within
about twice the frame)."""


def _shown(box: np.ndarray) -> str:
    """``x,y,w,h`` as a message shows a box: :func:`format_box` writes every digit of a number,
    309 of them for ``1e308``; six significant digits say which box it was."""
    return ",".join(f"{value:g}" for value in box)


def check_first_box(box, frame_size: tuple[int, int]) -> np.ndarray:
    """The box a tracker starts from, checked: ``(4,)`` float64 xywh.

    It must be four finite numbers with a positive width and height, at most
    :data:`MAX_BOX_FRAMES` times the frame's, and overlap a frame of
    ``frame_size = (height, width)``; a box that reaches beyond the frame's edge is fine (a
    target entering the view, or a benchmark's ground truth). Raises
    :class:`~hart.errors.InputError` naming the box otherwise.
    """
    try:
        values = np.asarray(box, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):  # a string, a dict …
        values = np.array([])
    if values.shape != (4,) or not np.isfinite(values).all():
        raise InputError(f"the first box must be 4 finite numbers x,y,w,h, got {box}")
    x, y, w, h = values
    if w <= 0 or h <= 0:
        raise InputError(f"box {_shown(values)} has width {w:g} and height {h:g}; both must be > 0")
    height, width = frame_size
    if w > MAX_BOX_FRAMES * width or h > MAX_BOX_FRAMES * height:
        raise InputError(
            f"box of {w:g}×{h:g} px is more than {MAX_BOX_FRAMES} times the size of the "
            f"{width}×{height} frame"
        )
    if not intersection(values, np.array([0.0, 0.0, width, height])) > 0:
        raise InputError(
            f"box {_shown(values)} is outside the {width}×{height} frame (it spans "
            f"x {x:g}–{x + w:g}, y {y:g}–{y + h:g})"
        )
    return values

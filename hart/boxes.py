"""Box formats and overlap: the one place boxes change format.

Outside ``hart.model.glimpse`` every box in hart is ``x, y, w, h``: the top-left corner and the
size, float, in pixels of the original frame. An absent target is a row of NaN.

Other formats appear only at the edges:

- ``xyxy``: top-left and bottom-right corners (torchvision's ops, drawing with OpenCV);
- ``cxcywh``: centre and size;
- normalised: ``x, y, w, h`` divided by the frame's width and height, so that a box does not
  change when the frame is resized (what the model sees).

Every function takes a numpy array or a torch tensor of shape ``(..., 4)`` and returns the same
kind, so readers and metrics (numpy) and the model (torch, differentiable) share one
implementation.
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import box_convert, box_iou

from hart.errors import InputError

ArrayOrTensor = np.ndarray | torch.Tensor


def _as_tensor(boxes: ArrayOrTensor) -> torch.Tensor:
    return torch.from_numpy(np.asarray(boxes)) if isinstance(boxes, np.ndarray) else boxes


def _like(result: torch.Tensor, boxes: ArrayOrTensor) -> ArrayOrTensor:
    return result.numpy() if isinstance(boxes, np.ndarray) else result


def _convert(boxes: ArrayOrTensor, in_fmt: str, out_fmt: str) -> ArrayOrTensor:
    tensor = _as_tensor(boxes)
    # torchvision's box_convert wants (N, 4); keep any leading shape.
    flat = tensor.reshape(-1, 4)
    return _like(box_convert(flat, in_fmt, out_fmt).reshape(tensor.shape), boxes)


def xywh_to_xyxy(boxes: ArrayOrTensor) -> ArrayOrTensor:
    """``(..., 4)`` x, y, w, h → x1, y1, x2, y2."""
    return _convert(boxes, "xywh", "xyxy")


def xyxy_to_xywh(boxes: ArrayOrTensor) -> ArrayOrTensor:
    """``(..., 4)`` x1, y1, x2, y2 → x, y, w, h."""
    return _convert(boxes, "xyxy", "xywh")


def xywh_to_cxcywh(boxes: ArrayOrTensor) -> ArrayOrTensor:
    """``(..., 4)`` x, y, w, h → centre x, centre y, w, h."""
    return _convert(boxes, "xywh", "cxcywh")


def cxcywh_to_xywh(boxes: ArrayOrTensor) -> ArrayOrTensor:
    """``(..., 4)`` centre x, centre y, w, h → x, y, w, h."""
    return _convert(boxes, "cxcywh", "xywh")


def _frame_scale(boxes: ArrayOrTensor, frame_size: tuple[float, float]) -> ArrayOrTensor:
    height, width = frame_size
    scale = [width, height, width, height]
    if isinstance(boxes, np.ndarray):
        return np.asarray(scale, dtype=boxes.dtype)
    return torch.tensor(scale, dtype=boxes.dtype, device=boxes.device)


def normalize(boxes: ArrayOrTensor, frame_size: tuple[float, float]) -> ArrayOrTensor:
    """Pixel ``x, y, w, h`` → fractions of a frame of ``frame_size = (height, width)``."""
    return boxes / _frame_scale(boxes, frame_size)


def denormalize(boxes: ArrayOrTensor, frame_size: tuple[float, float]) -> ArrayOrTensor:
    """Fractions of a frame of ``frame_size = (height, width)`` → pixel ``x, y, w, h``."""
    return boxes * _frame_scale(boxes, frame_size)


def iou(boxes_a: ArrayOrTensor, boxes_b: ArrayOrTensor) -> ArrayOrTensor:
    """Overlap of paired ``x, y, w, h`` boxes: ``(..., 4), (..., 4) → (...)``.

    Intersection over union of each box in ``boxes_a`` with the box at the same index in
    ``boxes_b`` (not all pairs: see :func:`pairwise_iou`). Boxes of zero area give 0, and a
    NaN box (absent target) gives NaN. Differentiable for tensors.
    """
    a, b = _as_tensor(boxes_a), _as_tensor(boxes_b)
    a_x1, a_y1, a_w, a_h = a.unbind(-1)
    b_x1, b_y1, b_w, b_h = b.unbind(-1)
    inter_w = (torch.minimum(a_x1 + a_w, b_x1 + b_w) - torch.maximum(a_x1, b_x1)).clamp(min=0)
    inter_h = (torch.minimum(a_y1 + a_h, b_y1 + b_h) - torch.maximum(a_y1, b_y1)).clamp(min=0)
    intersection = inter_w * inter_h
    union = a_w.clamp(min=0) * a_h.clamp(min=0) + b_w.clamp(min=0) * b_h.clamp(min=0)
    union = union - intersection
    # A zero-area pair has no overlap; the tiny floor only avoids 0/0.
    overlap = intersection / union.clamp(min=torch.finfo(union.dtype).tiny)
    return _like(overlap, boxes_a)


def pairwise_iou(boxes_a: ArrayOrTensor, boxes_b: ArrayOrTensor) -> ArrayOrTensor:
    """Overlap of every box in ``(N, 4)`` with every box in ``(M, 4)``, xywh → ``(N, M)``."""
    a, b = _as_tensor(boxes_a), _as_tensor(boxes_b)
    result = box_iou(box_convert(a, "xywh", "xyxy"), box_convert(b, "xywh", "xyxy"))
    return _like(result, boxes_a)


def centre_distance(boxes_a: ArrayOrTensor, boxes_b: ArrayOrTensor) -> ArrayOrTensor:
    """Euclidean distance between the centres of paired xywh boxes: ``(..., 4) → (...)``."""
    a = _as_tensor(xywh_to_cxcywh(boxes_a))
    b = _as_tensor(xywh_to_cxcywh(boxes_b))
    return _like(torch.linalg.vector_norm(a[..., :2] - b[..., :2], dim=-1), boxes_a)


def clip_to_frame(boxes: ArrayOrTensor, frame_size: tuple[float, float]) -> ArrayOrTensor:
    """The part of each xywh box inside a frame of ``frame_size = (height, width)``.

    A box entirely outside the frame becomes a zero-size box on the nearest edge.
    """
    height, width = frame_size
    xyxy = _as_tensor(xywh_to_xyxy(boxes)).clone()
    xyxy[..., 0::2] = xyxy[..., 0::2].clamp(0, width)
    xyxy[..., 1::2] = xyxy[..., 1::2].clamp(0, height)
    return _like(_as_tensor(xyxy_to_xywh(xyxy)), boxes)


# ----------------------------------------------------------------------------- boxes as text


def parse_box(text: str) -> np.ndarray:
    """``"X,Y,W,H"`` (pixels, top-left corner; ints or floats) → ``(4,)`` float64 xywh.

    Raises :class:`~hart.errors.InputError` for anything else, or a width or height ≤ 0.
    """
    parts = [part.strip() for part in str(text).split(",")]
    try:
        box = np.array([float(part) for part in parts], dtype=np.float64)
    except ValueError:
        box = np.array([])
    if box.shape != (4,) or not np.isfinite(box).all():
        raise InputError(f"box {text!r} is not X,Y,W,H (four numbers, e.g. 120,80,40,60)")
    if box[2] <= 0 or box[3] <= 0:
        raise InputError(
            f"box {text!r} has width {box[2]:g} and height {box[3]:g}; both must be > 0"
        )
    return box


def format_box(box: np.ndarray) -> str:
    """``x,y,w,h`` with at most two decimals and no trailing zeros (``nan`` when lost)."""
    return ",".join(np.format_float_positional(round(float(value), 2), trim="-") for value in box)


def check_box_in_frame(box: np.ndarray, frame_size: tuple[int, int]) -> None:
    """Raise :class:`~hart.errors.InputError` unless the xywh box has a positive size and lies
    inside a frame of ``frame_size = (height, width)``."""
    height, width = frame_size
    x, y, w, h = (float(value) for value in box)
    text = f"box {format_box(box)}"
    if not (w > 0 and h > 0):
        raise InputError(f"{text} has width {w:g} and height {h:g}; both must be > 0")
    if x < 0 or y < 0 or x + w > width or y + h > height:
        raise InputError(
            f"{text} is not inside the {width}×{height} frame (it spans x {x:g}–{x + w:g}, "
            f"y {y:g}–{y + h:g})"
        )

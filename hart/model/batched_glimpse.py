"""The batched Gaussian glimpse: every box of a batch at once, with no host synchronisation.

This is how :func:`hart.model.glimpse.gaussian_glimpse` reads frames on a GPU (or any device
other than the CPU), and on a CPU without a C compiler. The whole batch goes through a few tensor
operations whose shapes depend only on the shapes of the inputs, never on their values:

1. where every box's filters lie (:func:`hart.model.filterbanks.filter_positions`), ``(B, 6)``;
2. optionally, a window of a fixed size per sample, placed on the device where its filters
   reach and cut out with one gather ``(B, C, rows, cols)``;
3. the filter banks of every box over its window (or the frame), ``(B, h, rows)`` and
   ``(B, w, cols)``, in float32 (float64 for float64 boxes);
4. two batched matrix products in the frame's dtype, ``Fy · window · Fxᵀ``: bfloat16 and
   float16 frames are read with half-precision products, which accumulate in float32.

Autograd differentiates the banks, so the boxes' gradient (and the frames', if they want one)
comes from the same operations.

Why no value ever reaches the host: a shape taken from the boxes (the largest window, say)
would need the device to finish before the host can go on, once per glimpse — per frame of
every clip — and the GPU would wait on Python between them. A window size fixed by the caller
keeps every shape static; without one the banks span the whole frame, which is exact for every
box. On a GPU the frame-wide products are tensor-core matrix products and cheap next to the
rest of a training step. On a CPU they are not (the C kernel reads only the pixels within 5σ
of each filter), so the CPU path without a compiler passes a window sized for the batch's boxes
(:func:`window_for`, which reads the boxes: free where they are on the host already).
"""

from __future__ import annotations

import math

import torch

from hart.model.filterbanks import (
    filter_positions,
    filter_reach,
    gaussian_filterbank,
    read_with_filterbanks,
)


def batched_glimpse(
    images: torch.Tensor,
    boxes: torch.Tensor,
    size: tuple[int, int],
    sigma_offset: torch.Tensor | float = 0.0,
    window: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Gaussian glimpses ``(B, C, H, W), (B, 4) xywh px, (h, w) → (B, C, h, w)`` in the
    images' dtype, without reading a value of any tensor on the host.

    ``window``: ``None`` reads every glimpse's banks over the whole frame, exact for every box.
    ``(rows, cols)`` reads each glimpse from a window of that size (at most the frame's), placed
    to cover its filters' reach (``TRUNCATE_SIGMAS`` σ); exact up to that truncation where the
    window is at least :func:`window_for` of the boxes, and wrong for boxes whose reach exceeds
    it. Shapes and types are the caller's to check (:func:`hart.model.glimpse.gaussian_glimpse`
    does it).
    """
    height, width = images.shape[-2:]
    glimpse_h, glimpse_w = size
    dtype = torch.float64 if boxes.dtype == torch.float64 else torch.float32
    positions = filter_positions(boxes.to(dtype), size, sigma_offset)
    first_x, stride_x, sigma_x, first_y, stride_y, sigma_y = positions.unbind(1)  # (B,) each
    frames = images
    if window is not None and (window[0] < height or window[1] < width):
        rows, cols = min(window[0], height), min(window[1], width)
        top = _window_start(first_y, stride_y, sigma_y, glimpse_h, height, rows)
        left = _window_start(first_x, stride_x, sigma_x, glimpse_w, width, cols)
        frames = _cut_windows(images, top, left, rows, cols)
        # Centres relative to the window: small numbers, so float32 keeps them to 1e-5 px.
        first_y, first_x = first_y - top.to(dtype), first_x - left.to(dtype)
    fy = gaussian_filterbank(first_y, stride_y, sigma_y, glimpse_h, frames.shape[-2])
    fx = gaussian_filterbank(first_x, stride_x, sigma_x, glimpse_w, frames.shape[-1])
    return read_with_filterbanks(frames, fy, fx)


def _window_start(
    first: torch.Tensor, stride: torch.Tensor, sigma: torch.Tensor, n: int, length: int, span: int
) -> torch.Tensor:
    """``(B,)`` int64: where a window of ``span`` pixels starts so that it covers the reach of
    the ``n`` filters inside ``[0, length)`` (the first one's centre ``first``, then every
    ``stride``, std ``sigma``), if ``span`` is long enough (see :func:`window_for`)."""
    with torch.no_grad():
        lowest = filter_reach(first, stride, sigma, n)[0].nan_to_num(0.0)
        # Clamped while still floating point: a huge box makes no out-of-range integer.
        return torch.floor(lowest.clamp(0.0, float(length - span))).long()


def _cut_windows(
    images: torch.Tensor, top: torch.Tensor, left: torch.Tensor, rows: int, cols: int
) -> torch.Tensor:
    """``(B, C, H, W)`` → ``(B, C, rows, cols)``: sample ``b``'s window at ``top[b], left[b]``
    (inside the frame), in one gather from a view of every window of the frame (whole rows of
    a window copied at a time: several times faster than gathering pixel by pixel)."""
    windows = images.unfold(2, rows, 1).unfold(3, cols, 1)  # (B, C, H-rows+1, W-cols+1, rows, cols)
    return windows[torch.arange(images.shape[0], device=images.device), :, top, left]


def window_for(
    boxes: torch.Tensor,
    size: tuple[int, int],
    frame_size: tuple[int, int],
    sigma_offset: torch.Tensor | float = 0.0,
) -> tuple[int, int]:
    """The smallest window ``(rows, cols)`` with which :func:`batched_glimpse` reads these boxes
    exactly up to the truncation: the longest reach of any box's filters inside the frame.

    It reads the boxes' values: call it where they are on the host (on a GPU this would be the
    synchronisation the batched path avoids)."""
    height, width = frame_size
    glimpse_h, glimpse_w = size
    offset = sigma_offset.detach() if torch.is_tensor(sigma_offset) else sigma_offset
    with torch.no_grad():
        positions = filter_positions(boxes.detach().double(), size, offset)
        first_x, stride_x, sigma_x, first_y, stride_y, sigma_y = positions.unbind(1)
        spans = []
        for first, stride, sigma, n, length in (
            (first_y, stride_y, sigma_y, glimpse_h, height),
            (first_x, stride_x, sigma_x, glimpse_w, width),
        ):
            low, high = filter_reach(first, stride, sigma, n)
            low = torch.floor(low.clamp(0.0, length))
            high = torch.ceil(high.clamp(0.0, length))
            longest = float((high - low).max()) if len(boxes) else 1.0
            spans.append(max(1, min(length, math.ceil(longest))))
    return spans[0], spans[1]

"""Differentiable glimpses: read a small ``(h, w)`` window out of a frame at a box.

Two readers share one signature, ``reader(images, boxes, size) -> glimpses``:

- :func:`gaussian_glimpse`, HART's spatial attention (after DRAW and RATM): the glimpse is
  ``Fy · image · Fxᵀ`` per channel, where row ``i`` of the filter bank ``Fy ∈ R^{h×H}`` is a
  Gaussian over the image rows centred at ``u + i·d`` with std ``σ``. With ``σ`` tied to the
  stride ``d`` each glimpse pixel is a low-pass average of the source area it covers, so a glimpse
  of a large box is an honest thumbnail rather than an aliased sample.
- :func:`stn_glimpse`, a Spatial Transformer read: ``grid_sample`` samples the same ``h × w``
  points bilinearly. It is cheap (its cost grows with the glimpse, not the frame) but does not
  low-pass: shrinking a box by more than 2× aliases.

:func:`gaussian_glimpse_dense` computes the Gaussian glimpse literally, with two products over
the whole frame; :func:`gaussian_glimpse` computes the same (up to a documented truncation) with
the reader that suits the frames' device (its docstring says which).

Coordinates. Pixel ``k`` covers the continuous interval ``[k, k + 1]`` (its centre is
``k + 0.5``), so a box ``x, y, w, h`` covers ``[x, x + w] × [y, y + h]`` and glimpse pixel ``j``
covers ``[x + j·d, x + (j + 1)·d]`` with ``d = w / glimpse_w``. Both readers sample the centres
``x + (j + 0.5)·d``; the part of a box outside the frame reads as zeros. The filter banks, and
why their rows integrate the Gaussian over each pixel, are in :mod:`hart.model.filterbanks`.

Attention parameters. Two parameterisations describe where a glimpse looks:

- RATM's six numbers per glimpse, ``(u_y, σ_y, d_y, u_x, σ_x, d_x)`` in pixels: the centre of the
  first filter, the std and the stride, per axis (:func:`box_to_ratm`, :func:`ratm_to_box`).
- HART's four, ``(y, x, h, w)`` as fractions of the frame (:func:`box_to_hart`,
  :func:`hart_to_box`). The stride follows from the size; ``σ`` is the fixed function
  :func:`sigma_for_stride` of the stride plus a (learned) offset.

Outside this module boxes are ``x, y, w, h`` pixels (see :mod:`hart.boxes`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hart.model import kernel
from hart.model.batched_glimpse import batched_glimpse, window_for
from hart.model.filterbanks import (
    filter_positions,
    gaussian_filterbank,
    read_with_filterbanks,
    sigma_for_stride,
)

# --------------------------------------------------------------------------------------------
# checks


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    if len(size) != 2:
        raise ValueError(f"glimpse size must be (height, width), got {size!r}")
    height, width = (int(s) for s in size)
    if height < 2 or width < 2:
        raise ValueError(f"glimpse size must be at least 2×2, got {height}×{width}")
    return height, width


def _check_images_and_boxes(images: torch.Tensor, boxes: torch.Tensor) -> None:
    """Shapes always; the boxes' values only where they are on the CPU: on another device a
    check would make the host wait for the device (a synchronisation per glimpse), so there a
    non-finite box gives a glimpse of NaNs rather than an error."""
    if images.dim() != 4:
        raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be (B, 4) x, y, w, h, got shape {tuple(boxes.shape)}")
    if boxes.shape[0] != images.shape[0]:
        raise ValueError(f"got {images.shape[0]} images but {boxes.shape[0]} boxes")
    if boxes.device.type != "cpu":
        return
    if not torch.isfinite(boxes).all():
        raise ValueError("boxes must be finite (no NaN or inf)")
    if (boxes[:, 2:] <= 0).any():
        raise ValueError("boxes must have positive width and height")


# --------------------------------------------------------------------------------------------
# attention parameters


def box_to_ratm(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """xywh pixels ``(B, 4)`` → RATM ``(u_y, σ_y, d_y, u_x, σ_x, d_x)`` pixels ``(B, 6)``.

    ``σ`` starts at :func:`sigma_for_stride`; RATM then learns it freely.
    """
    glimpse_h, glimpse_w = _check_size(size)
    x, y, w, h = boxes.unbind(-1)
    d_x, d_y = w / glimpse_w, h / glimpse_h
    u_x, u_y = x + d_x / 2, y + d_y / 2  # centre of the first filter
    return torch.stack([u_y, sigma_for_stride(d_y), d_y, u_x, sigma_for_stride(d_x), d_x], -1)


def ratm_to_box(params: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """RATM ``(B, 6)`` → the xywh box its filter centres span ``(B, 4)`` (σ is dropped)."""
    glimpse_h, glimpse_w = _check_size(size)
    u_y, _, d_y, u_x, _, d_x = params.unbind(-1)
    return torch.stack([u_x - d_x / 2, u_y - d_y / 2, d_x * glimpse_w, d_y * glimpse_h], -1)


def box_to_hart(boxes: torch.Tensor, frame_size: tuple[int, int]) -> torch.Tensor:
    """xywh pixels ``(B, 4)`` → HART ``(y, x, h, w)`` as fractions of the frame ``(B, 4)``."""
    frame_h, frame_w = frame_size
    x, y, w, h = boxes.unbind(-1)
    return torch.stack([y / frame_h, x / frame_w, h / frame_h, w / frame_w], -1)


def hart_to_box(params: torch.Tensor, frame_size: tuple[int, int]) -> torch.Tensor:
    """HART ``(y, x, h, w)`` fractions of the frame ``(B, 4)`` → xywh pixels ``(B, 4)``."""
    frame_h, frame_w = frame_size
    y, x, h, w = params.unbind(-1)
    return torch.stack([x * frame_w, y * frame_h, w * frame_w, h * frame_h], -1)


def ratm_filterbanks(
    params: torch.Tensor, size: tuple[int, int], frame_size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """RATM ``(B, 6)`` → filter banks ``Fy (B, h, H)`` and ``Fx (B, w, W)``."""
    glimpse_h, glimpse_w = _check_size(size)
    frame_h, frame_w = frame_size
    u_y, sigma_y, d_y, u_x, sigma_x, d_x = params.unbind(-1)
    fy = gaussian_filterbank(u_y, d_y, sigma_y, glimpse_h, frame_h)
    fx = gaussian_filterbank(u_x, d_x, sigma_x, glimpse_w, frame_w)
    return fy, fx


def box_filterbanks(
    boxes: torch.Tensor,
    size: tuple[int, int],
    frame_size: tuple[int, int],
    sigma_offset: torch.Tensor | float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """xywh pixels ``(B, 4)`` → HART's filter banks ``Fy (B, h, H)``, ``Fx (B, w, W)``.

    ``σ = sigma_for_stride(d) + sigma_offset`` on both axes.
    """
    glimpse_h, glimpse_w = _check_size(size)
    frame_h, frame_w = frame_size
    positions = filter_positions(boxes, (glimpse_h, glimpse_w), sigma_offset)
    first_x, stride_x, sigma_x, first_y, stride_y, sigma_y = positions.unbind(1)
    fy = gaussian_filterbank(first_y, stride_y, sigma_y, glimpse_h, frame_h)
    fx = gaussian_filterbank(first_x, stride_x, sigma_x, glimpse_w, frame_w)
    return fy, fx


# --------------------------------------------------------------------------------------------
# readers


def gaussian_glimpse(
    images: torch.Tensor,
    boxes: torch.Tensor,
    size: tuple[int, int],
    sigma_offset: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    """Gaussian-attention glimpse: ``(B, C, H, W), (B, 4) xywh px, (h, w) → (B, C, h, w)``.

    Each glimpse pixel is a Gaussian-weighted average of the source area it covers (see the
    module docstring); ``sigma_offset`` (pixels, scalar or ``(B,)``) widens or narrows the
    filters. Differentiable in ``boxes``, ``sigma_offset`` and ``images``; in the images' dtype.

    Computes what :func:`gaussian_glimpse_dense` computes (the reference), up to the mass of each
    filter beyond ``TRUNCATE_SIGMAS`` σ (at most ``1.2e-6 · max|image|``), with the reader that
    suits the frames:

    - CPU, float32, float64 or bfloat16 frames that need no gradient: a small C kernel
      (``glimpse_kernel.c``, built on first use by :mod:`hart.model.kernel`) that reads only the
      pixels within 5σ of each filter, rows first and then columns, each filter over its own
      support (about 2.9 multiply-adds per pixel it reads, at any box size), and gets the boxes'
      gradient from the same pass over the frame. bfloat16 pixels are read as they are and
      summed in float32.
    - Any other device: :func:`hart.model.batched_glimpse.batched_glimpse`, the whole batch in
      a few tensor operations with no host synchronisation, banks over the whole frame and
      matrix products in the frame's dtype (float32 accumulation).
    - The CPU otherwise (no C compiler, float16 frames, frames that need a gradient): the same
      batched operations over windows sized for the batch's boxes.
    """
    _check_images_and_boxes(images, boxes)
    size = _check_size(size)
    if images.device.type != "cpu":
        return batched_glimpse(images, boxes, size, sigma_offset)
    if len(boxes) == 0:
        return images.new_zeros(0, images.shape[1], *size)
    frames_need_grad = images.requires_grad and torch.is_grad_enabled()
    compiled = None
    if images.dtype in kernel.SUFFIXES and not frames_need_grad:
        compiled = kernel.load()
    if compiled is not None:
        positions = filter_positions(boxes.to(torch.float64), size, sigma_offset)
        return kernel.read(compiled, images, positions, size)
    window = window_for(boxes, size, images.shape[-2:], sigma_offset)
    return batched_glimpse(images, boxes, size, sigma_offset, window)


def gaussian_glimpse_dense(
    images: torch.Tensor,
    boxes: torch.Tensor,
    size: tuple[int, int],
    sigma_offset: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    """The reference Gaussian glimpse: two dense products with filter banks over the frame.

    Same signature and result as :func:`gaussian_glimpse` (up to its documented error) at a
    cost of ``B·C·H·W·w`` multiply-adds: kept for tests and as the definition.
    """
    _check_images_and_boxes(images, boxes)
    fy, fx = box_filterbanks(boxes, size, images.shape[-2:], sigma_offset)
    return read_with_filterbanks(images, fy, fx)


def stn_glimpse(images: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Spatial-Transformer glimpse: ``(B, C, H, W), (B, 4) xywh px, (h, w) → (B, C, h, w)``.

    Samples the glimpse pixel centres bilinearly with ``grid_sample`` (zeros outside the
    frame). Differentiable in ``boxes`` and ``images``. Half-precision images are sampled in
    float32 (as autocast does): ``grid_sample`` wants the grid in the images' dtype, and a
    bfloat16 grid places samples up to ``W / 256`` pixels off.
    """
    _check_images_and_boxes(images, boxes)
    glimpse_h, glimpse_w = _check_size(size)
    frame_h, frame_w = images.shape[-2:]
    out_dtype = images.dtype
    if images.dtype in (torch.float16, torch.bfloat16):
        images = images.float()
    x, y, w, h = boxes.to(images.dtype).unbind(-1)
    # affine_grid maps output pixel centres in [-1, 1] to input coordinates in [-1, 1]
    # (align_corners=False, pixel k centred at k + 0.5): scale = size / frame, shift = centre.
    zeros = torch.zeros_like(x)
    theta = torch.stack(
        [
            torch.stack([w / frame_w, zeros, (2 * x + w) / frame_w - 1], -1),
            torch.stack([zeros, h / frame_h, (2 * y + h) / frame_h - 1], -1),
        ],
        -2,
    )  # (B, 2, 3)
    shape = (images.shape[0], images.shape[1], glimpse_h, glimpse_w)
    grid = F.affine_grid(theta, shape, align_corners=False)  # (B, h, w, 2)
    glimpses = F.grid_sample(
        images, grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    return glimpses.to(out_dtype)


GLIMPSE_READERS = {"gaussian": gaussian_glimpse, "stn": stn_glimpse}
"""The readers by name (``gaussian_glimpse_dense`` is the reference, not a choice)."""

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

Coordinates. Pixel ``k`` covers the continuous interval ``[k, k + 1]`` (its centre is
``k + 0.5``), so a box ``x, y, w, h`` covers ``[x, x + w] × [y, y + h]`` and glimpse pixel ``j``
covers ``[x + j·d, x + (j + 1)·d]`` with ``d = w / glimpse_w``. Both readers sample the centres
``x + (j + 0.5)·d``; the part of a box outside the frame reads as zeros.

Filter banks. Row ``i`` holds, for each pixel ``k``, the mass of the Gaussian
``N(u + i·d, σ²)`` that falls on ``[k, k + 1]`` (a difference of two error functions). Summed over
all pixels a row is exactly 1; summed over the frame it is 1 up to the mass beyond the frame's
edge, which is what zero padding means. Integrating over the pixel rather than sampling the
density keeps rows normalised even for ``σ`` well below a pixel.

Attention parameters. Two parameterisations describe where a glimpse looks:

- RATM's six numbers per glimpse, ``(u_y, σ_y, d_y, u_x, σ_x, d_x)`` in pixels: the centre of the
  first filter, the std and the stride, per axis (:func:`box_to_ratm`, :func:`ratm_to_box`).
- HART's four, ``(y, x, h, w)`` as fractions of the frame (:func:`box_to_hart`,
  :func:`hart_to_box`). The stride follows from the size; ``σ`` is the fixed function
  :func:`sigma_for_stride` of the stride plus a (learned) offset.

Outside this module boxes are ``x, y, w, h`` pixels (see :mod:`hart.boxes`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# The std of the filters never falls below this (pixels). It keeps the bank smooth, and the
# glimpse differentiable in the box, when a glimpse magnifies a box smaller than itself.
SIGMA_FLOOR = 0.5


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
    if images.dim() != 4:
        raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be (B, 4) x, y, w, h, got shape {tuple(boxes.shape)}")
    if boxes.shape[0] != images.shape[0]:
        raise ValueError(f"got {images.shape[0]} images but {boxes.shape[0]} boxes")
    if not torch.isfinite(boxes).all():
        raise ValueError("boxes must be finite (no NaN or inf)")
    if (boxes[:, 2:] <= 0).any():
        raise ValueError("boxes must have positive width and height")


# --------------------------------------------------------------------------------------------
# filter banks


def sigma_for_stride(stride: torch.Tensor, offset: torch.Tensor | float = 0.0) -> torch.Tensor:
    """HART's filter std for a stride (pixels → pixels), plus an optional learned ``offset``.

    Area-averaging ``d`` pixels is a box filter of variance ``d² / 12``; a Gaussian of that
    variance is its closest smooth stand-in. ``SIGMA_FLOOR`` is added in quadrature so that the
    std stays above about half a pixel when ``d < 1``. The result is floored at 0.05 px so that a
    learned negative offset cannot make it vanish.
    """
    sigma = torch.sqrt(stride * stride / 12.0 + SIGMA_FLOOR**2) + offset
    return sigma.clamp(min=0.05)


def gaussian_filterbank(
    first_centre: torch.Tensor, stride: torch.Tensor, sigma: torch.Tensor, n: int, length: int
) -> torch.Tensor:
    """Filter bank of ``n`` Gaussians over ``length`` pixels: ``(B,) × 3 → (B, n, length)``.

    Row ``i`` is the mass of ``N(first_centre + i·stride, sigma²)`` on each pixel ``[k, k+1]``.
    Computed in float32 (or float64 if given): the difference of two error functions loses all
    precision in half precision.
    """
    dtype = torch.float64 if first_centre.dtype == torch.float64 else torch.float32
    first_centre, stride, sigma = (t.to(dtype) for t in (first_centre, stride, sigma))
    steps = torch.arange(n, device=first_centre.device, dtype=dtype)
    centres = first_centre[:, None] + stride[:, None] * steps  # (B, n)
    edges = torch.arange(length + 1, device=first_centre.device, dtype=dtype)  # pixel borders
    z = (edges - centres[..., None]) / (sigma[:, None, None] * math.sqrt(2.0))  # (B, n, L+1)
    cdf = 0.5 * torch.erf(z)
    return cdf[..., 1:] - cdf[..., :-1]  # (B, n, L)


def read_with_filterbanks(images: torch.Tensor, fy: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
    """``Fy · image · Fxᵀ`` per channel: ``(B, C, H, W), (B, h, H), (B, w, W) → (B, C, h, w)``."""
    fy = fy.to(images.dtype)[:, None]  # (B, 1, h, H)
    fx = fx.to(images.dtype)[:, None]  # (B, 1, w, W)
    return fy @ images @ fx.transpose(-1, -2)


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
    x, y, w, h = boxes.unbind(-1)
    d_x, d_y = w / glimpse_w, h / glimpse_h
    fy = gaussian_filterbank(
        y + d_y / 2, d_y, sigma_for_stride(d_y, sigma_offset), glimpse_h, frame_h
    )
    fx = gaussian_filterbank(
        x + d_x / 2, d_x, sigma_for_stride(d_x, sigma_offset), glimpse_w, frame_w
    )
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
    filters. Differentiable in ``boxes``, ``sigma_offset`` and ``images``.
    """
    _check_images_and_boxes(images, boxes)
    fy, fx = box_filterbanks(boxes, size, images.shape[-2:], sigma_offset)
    return read_with_filterbanks(images, fy, fx)


def stn_glimpse(images: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Spatial-Transformer glimpse: ``(B, C, H, W), (B, 4) xywh px, (h, w) → (B, C, h, w)``.

    Samples the glimpse pixel centres bilinearly with ``grid_sample`` (zeros outside the
    frame). Differentiable in ``boxes`` and ``images``.
    """
    _check_images_and_boxes(images, boxes)
    glimpse_h, glimpse_w = _check_size(size)
    frame_h, frame_w = images.shape[-2:]
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
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


GLIMPSE_READERS = {"gaussian": gaussian_glimpse, "stn": stn_glimpse}

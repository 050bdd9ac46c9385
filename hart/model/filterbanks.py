"""Gaussian filter banks: the arithmetic every Gaussian glimpse reader shares.

Row ``i`` of a bank holds, for each pixel ``k``, the mass of the Gaussian ``N(u + i·d, σ²)`` that
falls on ``[k, k + 1]`` (a difference of two error functions). Summed over all pixels a row is
exactly 1; summed over the frame it is 1 up to the mass beyond the frame's edge, which is what
zero padding means. Integrating over the pixel rather than sampling the density keeps rows
normalised even for ``σ`` well below a pixel. :mod:`hart.model.glimpse` says what a glimpse is
and how boxes become filters; the readers (:mod:`hart.model.kernel`,
:mod:`hart.model.batched_glimpse`) compute it.
"""

from __future__ import annotations

import math

import torch

# The std of the filters never falls below this (pixels). It keeps the bank smooth, and the
# glimpse differentiable in the box, when a glimpse magnifies a box smaller than itself.
SIGMA_FLOOR = 0.5

# The fast readers read every filter to ±TRUNCATE_SIGMAS σ around its centre; the mass beyond
# is dropped. Each 1-D row then keeps at least 1 - ε of the weight the dense bank gives the
# frame, with ε = erfc(TRUNCATE_SIGMAS / √2) = 5.7e-7 (both tails together), so a glimpse of an
# image with values in [-M, M] differs from the dense one by at most 2·ε·M = 1.2e-6·M. (The box
# gradients weigh the tails more: at 4σ they were up to 1% off for boxes under a pixel; at 5σ,
# 2e-5.)
TRUNCATE_SIGMAS = 5.0


def filter_reach(
    first_centre: torch.Tensor, stride: torch.Tensor, sigma: torch.Tensor, n: int | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pixels a bank of ``n`` filters reads once truncated: ``(low, high)``, from
    ``TRUNCATE_SIGMAS`` σ before the first filter's centre to as far after the last one's.

    Elementwise on tensors that broadcast (``n`` may be one, as ``(2,)`` for both axes); the
    fast readers size their windows and check for overflow with it.
    """
    reach = TRUNCATE_SIGMAS * sigma
    return first_centre - reach, first_centre + (n - 1) * stride + reach


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

    Row ``i`` is the mass of ``N(first_centre + i·stride, sigma²)`` on each pixel ``[k, k+1]``
    (centres in pixels of the ``length`` covered, which may be a window of a frame). Computed in
    float32 (or float64 if given): the difference of two error functions loses all precision in
    half precision.
    """
    dtype = torch.float64 if first_centre.dtype == torch.float64 else torch.float32
    first_centre, stride, sigma = (t.to(dtype) for t in (first_centre, stride, sigma))
    steps = torch.arange(n, device=first_centre.device, dtype=dtype)
    centres = first_centre[:, None] + stride[:, None] * steps  # (B, n)
    edges = torch.arange(length + 1, device=first_centre.device, dtype=dtype)  # pixel borders
    z = (edges - centres[..., None]) / (sigma[:, None, None] * math.sqrt(2.0))  # (B, n, L+1)
    # erf(±6) is ±1 to double precision. Clamping there keeps the backward pass off
    # exp(-z²) for large z, whose denormal results are ten times slower to compute.
    cdf = 0.5 * torch.erf(z.clamp(-6.0, 6.0))
    return cdf[..., 1:] - cdf[..., :-1]  # (B, n, L)


def read_with_filterbanks(images: torch.Tensor, fy: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
    """``Fy · image · Fxᵀ`` per channel: ``(B, C, H, W), (B, h, H), (B, w, W) → (B, C, h, w)``.

    The banks are cast to the images' dtype, so half-precision images are read with half
    precision products (accumulated in float32 by PyTorch's matrix products). The two products
    go in the cheaper order for these shapes, each as one batched product over samples (a bank
    broadcast over the channels costs several times more, backward pass included).
    """
    fy, fx = fy.to(images.dtype), fx.to(images.dtype)
    (height, width), glimpse_h, glimpse_w = images.shape[-2:], fy.shape[-2], fx.shape[-2]
    rows_first = glimpse_h * height * width + glimpse_h * width * glimpse_w
    columns_first = height * width * glimpse_w + glimpse_h * height * glimpse_w
    if rows_first <= columns_first:
        rows = torch.einsum("bih,bchw->bciw", fy, images)  # (B, C, h, W)
        return torch.einsum("bciw,bjw->bcij", rows, fx)
    columns = torch.einsum("bchw,bjw->bchj", images, fx)  # (B, C, H, w)
    return torch.einsum("bih,bchj->bcij", fy, columns)


def filter_positions(
    boxes: torch.Tensor, size: tuple[int, int], sigma_offset: torch.Tensor | float = 0.0
) -> torch.Tensor:
    """Where each glimpse's filters lie: ``(B, 4) xywh px → (B, 6)`` ``first_x, stride_x,
    sigma_x, first_y, stride_y, sigma_y`` in pixels, in the boxes' dtype (differentiable in the
    boxes and ``sigma_offset``, scalar or ``(B,)``, added to σ on both axes).

    The filters' centres are the glimpse pixel centres ``x + (j + 0.5)·d`` with ``d = w / size``.
    Both axes go through each operation together: this runs on every glimpse, where a dozen
    small operations cost as much as a fast reader's work on a small box."""
    if torch.is_tensor(sigma_offset) and sigma_offset.dim() == 1:
        sigma_offset = sigma_offset[:, None]  # one per box, for both axes
    glimpse_h, glimpse_w = size
    # Divided by Python numbers, not a tensor of the sizes: a tensor made from a list would be a
    # copy from the host on every call, on devices other than the CPU.
    stride = torch.stack([boxes[:, 2] / glimpse_w, boxes[:, 3] / glimpse_h], 1)  # (B, 2): x, y
    first = boxes[:, :2] + stride / 2
    axes = torch.stack([first, stride, sigma_for_stride(stride, sigma_offset)], 2)  # (B, 2, 3)
    return axes.flatten(1)

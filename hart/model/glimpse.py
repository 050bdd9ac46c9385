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
the whole frame; :func:`gaussian_glimpse` computes the same (up to a documented truncation)
reading only the pixels its filters reach, in a compiled kernel (its docstring says how), and
:func:`gaussian_glimpses_of_frame` reads several boxes of one frame, sharing a pyramid.

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

from hart.model import kernel

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
    first_centre: torch.Tensor,
    stride: torch.Tensor,
    sigma: torch.Tensor,
    n: int,
    length: int,
    start: torch.Tensor | None = None,
) -> torch.Tensor:
    """Filter bank of ``n`` Gaussians over ``length`` pixels: ``(B,) × 3 → (B, n, length)``.

    Row ``i`` is the mass of ``N(first_centre + i·stride, sigma²)`` on each pixel ``[k, k+1]``.
    With ``start`` (``(B,)`` integers) the bank covers pixels ``start … start + length - 1``
    instead of ``0 … length - 1``: the columns of the full bank that a window of the frame needs.
    Computed in float32 (or float64 if given): the difference of two error functions loses all
    precision in half precision.
    """
    dtype = torch.float64 if first_centre.dtype == torch.float64 else torch.float32
    first_centre, stride, sigma = (t.to(dtype) for t in (first_centre, stride, sigma))
    steps = torch.arange(n, device=first_centre.device, dtype=dtype)
    centres = first_centre[:, None] + stride[:, None] * steps  # (B, n)
    edges = torch.arange(length + 1, device=first_centre.device, dtype=dtype)  # pixel borders
    if start is not None:
        edges = start.to(dtype)[:, None] + edges  # (B, L+1)
    return _gaussian_masses(centres, sigma, edges)  # (B, n, L)


def _gaussian_masses(
    centres: torch.Tensor, sigma: torch.Tensor, edges: torch.Tensor
) -> torch.Tensor:
    """Mass of ``N(centre, σ²)`` between consecutive ``edges``: ``(..., n), (...), (..., L+1)``
    → ``(..., n, L)`` (``edges`` may also be ``(L+1,)``)."""
    z = (edges[..., None, :] - centres[..., None]) / (sigma[..., None, None] * math.sqrt(2.0))
    # erf(±6) is ±1 to double precision. Clamping there keeps the backward pass off
    # exp(-z²) for large z, whose denormal results are ten times slower to compute.
    cdf = 0.5 * torch.erf(z.clamp(-6.0, 6.0))  # (..., n, L+1)
    return cdf[..., 1:] - cdf[..., :-1]


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
# the fast Gaussian reader: windows, a compiled kernel, a pyramid of row sums

# Every filter is read to ±TRUNCATE_SIGMAS σ around its centre; the mass beyond is dropped.
# Each 1-D row then keeps at least 1 - ε of the weight the dense bank gives the frame, with
# ε = erfc(TRUNCATE_SIGMAS / √2) = 5.7e-7 (both tails together), so a glimpse of an image with
# values in [-M, M] differs from the dense one by at most 2·ε·M = 1.2e-6·M. (The box gradients
# weigh the tails more: at 4σ they were up to 1% off for boxes under a pixel; at 5σ, 2e-5.)
TRUNCATE_SIGMAS = 5.0

# gaussian_glimpses_of_frame reads the rows of a glimpse from the pyramid level 2^L (sums of
# 2^L frame rows) that is as coarse as possible while the filters' std stays at least
# LEVEL_MIN_SIGMA level rows. The box gradients are what limits it: over a batch of boxes they
# moved from the dense reader's by up to 4% at 1, 1% at 2 and 0.4% at 3 on natural images, but
# 1.2–1.6% at 3–5 on white noise (all its energy is in the detail a block averages away); at
# 6, 0.03–0.3% and 0.2–0.4%.
LEVEL_MIN_SIGMA = 6.0
MAX_LEVEL = 16


def pyramid_level(sigma: torch.Tensor) -> torch.Tensor:
    """The pyramid level to read filters of std ``sigma`` (px, ``(B,)``) from: ``(B,)`` int64.

    Level ``L`` sums blocks of ``2^L`` rows; the chosen level is the coarsest on which
    ``sigma / 2^L ≥ LEVEL_MIN_SIGMA``.
    """
    ratio = sigma.detach().float() / LEVEL_MIN_SIGMA
    return torch.floor(torch.log2(ratio.clamp(min=1.0))).clamp(max=MAX_LEVEL).long()


def row_sums(frame: torch.Tensor, level: int) -> torch.Tensor:
    """Level ``level`` of a frame's pyramid of row sums: ``(C, H, W) → (C, ⌈H/2^L⌉, W)``.

    Row ``k`` is the sum of frame rows ``k·2^L … (k + 1)·2^L - 1`` (zeros beyond the frame).
    """
    scale = 2**level
    channels, height, width = frame.shape
    padded = F.pad(frame, (0, 0, 0, -height % scale))
    return padded.view(channels, -1, scale, width).sum(2)


def _filters(
    boxes: torch.Tensor,
    size: tuple[int, int],
    sigma_offset: torch.Tensor | float,
    levels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Where each glimpse's filters lie: ``(B, 4) xywh → (B, 7)`` float64
    ``first_x, stride_x, sigma_x, first_y, stride_y, sigma_y, gain`` (differentiable in the
    boxes and ``sigma_offset``). With ``levels``, the rows are in rows of that pyramid level
    (``2^L`` frame rows each) and ``gain = 2^-L`` turns its row sums into means.

    Both axes go through each operation together: this runs on every glimpse, where a dozen
    small operations cost as much as the kernel's work on a small box."""
    boxes = boxes.to(torch.float64)
    if torch.is_tensor(sigma_offset) and sigma_offset.dim() == 1:
        sigma_offset = sigma_offset[:, None]  # one per box, for both axes
    stride = boxes[:, 2:] / boxes.new_tensor(size[::-1])  # (B, 2): x, y
    axes = torch.stack(
        [boxes[:, :2] + stride / 2, stride, sigma_for_stride(stride, sigma_offset)], 2
    )
    if levels is None:
        gain = torch.ones_like(boxes[:, :1])
    else:
        gain = torch.pow(0.5, levels.to(torch.float64))[:, None]  # (B, 1)
        axes = axes * torch.cat([torch.ones_like(gain), gain], 1)[..., None]  # rows in level rows
    return torch.cat([axes.flatten(1), gain], 1)


def _frames(frames: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
    """Where the kernel finds each sample's ``(C, H, W)`` frame, from a batch ``(B, C, H, W)``
    or a list of frames: ``(B, 6)`` int64 ``address, height, width, stride_c, stride_y,
    stride_x`` (sizes and strides in elements)."""
    if isinstance(frames, torch.Tensor):
        step = frames.stride(0) * frames.element_size()
        first, rest = frames.data_ptr(), [*frames.shape[2:], *frames.stride()[1:]]
        return torch.tensor([[first + b * step, *rest] for b in range(len(frames))])
    return torch.tensor([[frame.data_ptr(), *frame.shape[1:], *frame.stride()] for frame in frames])


class _KernelRead(torch.autograd.Function):
    """Glimpses ``(B, C, h, w)`` from the compiled kernel (glimpse_kernel.c), differentiable in
    the filters ``(B, 7)`` (not in the frames).

    With gradients wanted, the forward pass also returns, per sample and channel, four
    products of the frame with the banks' derivatives (see the kernel); the backward pass then
    only sums them against the glimpses' gradient, without reading the frames again."""

    @staticmethod
    def forward(ctx, filters, sources, size, kernel):  # noqa: D102
        # sources: the batch (B, C, H, W) or a list of B frames (C, H, W), float32 or float64.
        first = sources[0]
        batch, channels, dtype = len(sources), first.shape[0], first.dtype
        glimpse_h, glimpse_w = size
        frames = _frames(sources)
        filters = filters.detach().contiguous()
        glimpses = first.new_empty(batch, channels, glimpse_h, glimpse_w)
        products = None
        if ctx.needs_input_grad[0]:
            products = first.new_empty(batch, channels, 4, glimpse_w, glimpse_h)
        status = kernel.forward(dtype)(
            batch,
            channels,
            frames.data_ptr(),
            filters.data_ptr(),
            glimpse_w,
            glimpse_h,
            TRUNCATE_SIGMAS,
            glimpses.data_ptr(),
            None if products is None else products.data_ptr(),
            torch.get_num_threads(),
        )
        if status:
            raise MemoryError("the glimpse kernel ran out of memory")
        ctx.save_for_backward(products)
        ctx.kernel = kernel
        return glimpses

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_glimpses):  # noqa: D102
        (products,) = ctx.saved_tensors  # (B, C, 4, w, h)
        batch, channels, _, glimpse_w, glimpse_h = products.shape
        grad_glimpses = grad_glimpses.to(products.dtype).contiguous()
        grad_filters = grad_glimpses.new_empty(batch, 7, dtype=torch.float64)
        ctx.kernel.backward(products.dtype)(
            batch,
            channels,
            glimpse_w,
            glimpse_h,
            products.data_ptr(),
            grad_glimpses.data_ptr(),
            grad_filters.data_ptr(),
            torch.get_num_threads(),
        )
        return grad_filters, None, None, None


def _torch_read(filters: torch.Tensor, sources, size) -> torch.Tensor:
    """What :class:`_KernelRead` computes, in PyTorch operations, for frames not on the CPU and
    where no C compiler is: per sample, the dense banks over the window its filters reach,
    ``Fy · window · Fxᵀ`` (autograd differentiates the banks)."""
    glimpse_h, glimpse_w = size
    glimpses = []
    for params, source in zip(filters, sources, strict=True):
        first_x, stride_x, sigma_x, first_y, stride_y, sigma_y, gain = params[:, None].unbind()
        height, width = source.shape[1:]
        with torch.no_grad():
            reach_x, reach_y = TRUNCATE_SIGMAS * sigma_x, TRUNCATE_SIGMAS * sigma_y
            left = int((first_x - reach_x).floor().clamp(0, width))
            right = int((first_x + (glimpse_w - 1) * stride_x + reach_x).ceil().clamp(left, width))
            top = int((first_y - reach_y).floor().clamp(0, height))
            bottom = int((first_y + (glimpse_h - 1) * stride_y + reach_y).ceil().clamp(top, height))
        window = source[None, :, top:bottom, left:right]
        start_x = torch.tensor([left], device=filters.device)
        start_y = torch.tensor([top], device=filters.device)
        fx = gaussian_filterbank(first_x, stride_x, sigma_x, glimpse_w, right - left, start_x)
        fy = gaussian_filterbank(first_y, stride_y, sigma_y, glimpse_h, bottom - top, start_y)
        glimpses.append(read_with_filterbanks(window, fy * gain, fx)[0])
    return torch.stack(glimpses).to(sources[0].dtype)


def _windowed_glimpse(
    images: torch.Tensor,
    boxes: torch.Tensor,
    size: tuple[int, int],
    sigma_offset: torch.Tensor | float,
    pyramid: tuple[torch.Tensor, dict[int, torch.Tensor]] | None = None,
) -> torch.Tensor:
    """The fast reader behind :func:`gaussian_glimpse` and :func:`gaussian_glimpses_of_frame`.

    ``pyramid``: each glimpse's level ``(B,)`` and ``{L: row_sums(frame, L)}`` of the one frame
    all glimpses read; each glimpse then reads the rows of its level.
    """
    if len(boxes) == 0:
        return images.new_zeros(0, images.shape[1], *size)
    # Half precision is read in float32 (the kernel's multiply-adds are float32 or float64).
    work = images.dtype if images.dtype in (torch.float32, torch.float64) else torch.float32
    if pyramid is None:
        levels = None
        sources = images.to(work)
    else:
        levels, shared_levels = pyramid
        sources = [shared_levels[level] for level in levels.tolist()]
    filters = _filters(boxes, size, sigma_offset, levels)
    compiled = kernel.load() if images.device.type == "cpu" else None
    if compiled is None:
        glimpses = _torch_read(filters, sources, size)
    else:
        glimpses = _KernelRead.apply(filters, sources, size, compiled)
    return glimpses.to(images.dtype)


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

    Computes what :func:`gaussian_glimpse_dense` computes (the reference), at a cost that
    grows with the box rather than the frame, in a small C kernel (``glimpse_kernel.c``,
    built on first use by :mod:`hart.model.kernel`):

    - Window: every filter reads only the pixels within ``TRUNCATE_SIGMAS`` σ of its centre;
      what that drops changes the result by at most ``1.2e-6 · max|image|``.
    - Banded products: rows first, straight from the frame's rows (contiguous memory), each
      filter over its own support, then columns on the small intermediate ``(h, columns)``.
      A ±5σ support spans about 2.9 strides (σ ≈ stride/√12), so each product costs about 2.9
      multiply-adds per pixel it reads, at any stride: the dense products cost ``w`` per pixel
      of the frame, a block of 8 filters (the previous reader) 11.
    - No pyramid: building a level costs a pass over the pixels under the box, which is what
      the banded products cost, so a level per glimpse would only add error. Levels pay when
      several glimpses of one frame share them (:func:`gaussian_glimpses_of_frame`).
    - Gradients in one pass: with the boxes requiring a gradient, the rows also sum the frame
      with the derivatives of their bank (centre and σ) and the kernel returns four small
      products per glimpse, from which the backward pass gets the boxes' gradient without
      reading the frame again. No work for the frames' gradient: frames that require one go to
      the dense reference.

    Where no C compiler is, the same windows are read with dense banks in PyTorch operations
    (several times slower; :mod:`hart.model.kernel` warns once).
    """
    _check_images_and_boxes(images, boxes)
    size = _check_size(size)
    if images.requires_grad and torch.is_grad_enabled():
        # The fast path reads the frames through strided views without autograd.
        return gaussian_glimpse_dense(images, boxes, size, sigma_offset)
    return _windowed_glimpse(images, boxes, size, sigma_offset)


def gaussian_glimpses_of_frame(
    frame: torch.Tensor,
    boxes: torch.Tensor,
    size: tuple[int, int],
    sigma_offset: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    """Several glimpses of one frame: ``(C, H, W), (K, 4) xywh px, (h, w) → (K, C, h, w)``.

    The same as ``gaussian_glimpse(frame.expand(K, …), boxes, size)``, for several objects or
    attention steps in one frame, except where the boxes are so tall that reading their rows
    from pyramid levels, summed once for the frame, reads less than reading each box's window
    (together more than the frame per level). A glimpse then reads its rows from the level
    ``2^L`` (:func:`pyramid_level`) with its rows' centres, stride and σ divided by ``2^L``. As
    each bank entry is the Gaussian's mass on a pixel, the level's bank is exactly the block sums
    of the frame's bank; all that changes is that inside each block the frame's bank is
    replaced by its block mean. At ``σ / 2^L ≥ LEVEL_MIN_SIGMA`` that moves the glimpse by under
    1e-4 (mean absolute, images in [0, 1]) and the gradient of a batch of boxes by under 0.5%,
    white noise included.
    """
    if frame.dim() != 3:
        raise ValueError(f"frame must be (C, H, W), got shape {tuple(frame.shape)}")
    images = frame.expand(boxes.shape[0], *frame.shape) if boxes.dim() == 2 else frame[None]
    _check_images_and_boxes(images, boxes)
    size = _check_size(size)
    with torch.no_grad():
        sigma_y = sigma_for_stride(boxes[:, 3] / size[0], sigma_offset)
        levels = pyramid_level(sigma_y)
        # Each glimpse reads its window (its box and Kσ around it) once; a level is summed from
        # the whole frame once and then read 2^L times faster. Share levels where the windows
        # of the glimpses that would use them cover more than the frame per level.
        reads = (boxes[:, 2] + 2 * TRUNCATE_SIGMAS * sigma_y) * (
            boxes[:, 3] + 2 * TRUNCATE_SIGMAS * sigma_y
        )
        frame_area = frame.shape[-2] * frame.shape[-1]
        pooled = sorted(set(levels[levels > 0].tolist()))
        shared = float(reads[levels > 0].sum()) > len(pooled) * frame_area
    if shared and not frame.requires_grad:
        dtype = frame.dtype if frame.dtype in (torch.float32, torch.float64) else torch.float32
        source = frame.to(dtype)
        shared_levels = {level: row_sums(source, level) for level in pooled}
        shared_levels[0] = source
        return _windowed_glimpse(images, boxes, size, sigma_offset, (levels, shared_levels))
    return gaussian_glimpse(images, boxes, size, sigma_offset)


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

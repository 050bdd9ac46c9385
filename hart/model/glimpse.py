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
the whole frame; :func:`gaussian_glimpse` computes the same (up to documented errors) reading
only the pixels under the box, in blocks, with a pyramid for tall boxes (its docstring says
how), and :func:`gaussian_glimpses_of_frame` reads several boxes of one frame.

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
from dataclasses import dataclass

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
# the fast Gaussian reader: windows, blocks of filters, a pyramid of row sums

# Every filter is read to ±TRUNCATE_SIGMAS σ around its centre; the mass beyond is dropped.
# Each 1-D row then keeps at least 1 - ε of the weight the dense bank gives the frame, with
# ε = erfc(TRUNCATE_SIGMAS / √2) = 5.7e-7 (both tails together), so a glimpse of an image with
# values in [-M, M] differs from the dense one by at most 2·ε·M = 1.2e-6·M. (The box gradients
# weigh the tails more: at 4σ they were up to 1% off for boxes under a pixel; at 5σ, 2e-5.)
TRUNCATE_SIGMAS = 5.0

# The rows of a glimpse are read from the pyramid level 2^L (sums of 2^L frame rows) that is
# as coarse as possible while the filters' std stays at least LEVEL_MIN_SIGMA level rows. The
# box gradients are what limits it: over a batch of boxes they moved from the dense reader's by
# up to 4% at 1, 1% at 2 and 0.4% at 3 on natural images, but 1.2–1.6% at 3–5 on white noise
# (all its energy is in the detail a block averages away); at 6, 0.03–0.3% and 0.2–0.4%.
LEVEL_MIN_SIGMA = 6.0
MAX_LEVEL = 16

# The products handle the filters in blocks of this many glimpse pixels; each block multiplies
# only the pixels its filters reach. (12 and 16 measured slower on a CPU: the extra multiply-adds
# cost more than the fewer, larger products save.)
BLOCK = 8

# Windows smaller than this (elements) are copied into one matrix, which takes one product
# instead of one per channel; larger ones are read in place. Copying a window costs about as
# much as the product itself (the window is read and written once more), so only tiny ones are.
COPY_BELOW = 1 << 14


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


@dataclass(frozen=True)
class _Blocks:
    """Where the filters of one axis of a batch of glimpses read, in blocks of ``BLOCK``.

    Block ``j`` of sample ``b`` holds filters ``j·BLOCK …`` and reads ``span[b]`` pixels from
    ``start[b] + j·step[b]``; a uniform step per sample makes a sample's blocks a strided view
    of its window. Pixels may lie outside the frame (they read zeros). ``edges``:
    ``(B, blocks, max span + 1)`` pixel borders of each block, as floats.
    """

    n: int
    start: list[int]
    step: list[int]
    span: list[int]
    edges: torch.Tensor

    @property
    def blocks(self) -> int:
        return self.edges.shape[1]

    def extent(self, sample: int) -> tuple[int, int]:
        """The pixels ``[begin, end)`` that the blocks of ``sample`` read."""
        begin = self.start[sample]
        return begin, begin + (self.blocks - 1) * self.step[sample] + self.span[sample]

    def bank(self, first, stride, sigma) -> tuple[torch.Tensor, torch.Tensor]:
        """The filters' masses on the pixels each block reads, ``(B, blocks, BLOCK, S)``, and
        ``z = (edge - centre) / (σ√2)`` at every edge, ``(B, blocks, BLOCK, S+1)``.

        ``z`` is clamped to ±6, where erf is ±1 to double precision: this keeps the backward
        pass off ``exp(-z²)`` for large ``z``, whose denormal results are slow to compute.
        """
        filters = torch.arange(self.blocks * BLOCK, device=first.device, dtype=first.dtype)
        centres = (first[:, None] + stride[:, None] * filters).view(-1, self.blocks, BLOCK)
        scale = (sigma * math.sqrt(2.0))[:, None, None, None]
        z = ((self.edges[:, :, None, :] - centres[..., None]) / scale).clamp_(-6.0, 6.0)
        cdf = 0.5 * torch.erf(z)
        return cdf[..., 1:] - cdf[..., :-1], z

    @staticmethod
    def bank_backward(z, sigma, grad_bank) -> tuple[torch.Tensor, ...]:
        """Gradients ``(B,)`` of the filters' ``first``, ``stride`` and ``sigma`` from the
        bank's, given the ``z`` that :meth:`bank` returned.

        With ``mass_k = Φ(z_{k+1}) - Φ(z_k)``, ``z = (e - c) / (σ√2)``, ``Φ = erf / 2``:
        ``∂L/∂c = Σ_e φ_e D_e / (σ√2)`` and ``∂L/∂σ = Σ_e z_e φ_e D_e / σ``, where
        ``φ = exp(-z²)/√π`` and ``D_e = G_e - G_{e-1}`` (``G`` the bank's gradient, zero
        beyond its ends); a centre is ``c_i = first + i·stride``. (Where ``z`` was clamped
        the true derivative is below ``1e-16`` of the largest; φ(6) stands in for it.)
        """
        difference = F.pad(grad_bank, (0, 1)) - F.pad(grad_bank, (1, 0))  # D_e
        weighted = torch.exp(-z * z).mul_(difference)  # √π · φ_e D_e
        grad_sigma = (weighted * z).sum((1, 2, 3)) / (sigma * math.sqrt(math.pi))
        grad_centre = weighted.sum(-1).flatten(1) / (sigma * math.sqrt(2.0 * math.pi))[:, None]
        filters = torch.arange(grad_centre.shape[1], device=z.device, dtype=z.dtype)
        return grad_centre.sum(1), grad_centre @ filters, grad_sigma


def _blocks(first: torch.Tensor, stride: torch.Tensor, sigma: torch.Tensor, n: int) -> _Blocks:
    """Place the blocks of the filters ``first + i·stride`` (std ``sigma``; ``(B,)`` px).

    With ``step = ⌊BLOCK · stride⌋`` no block starts right of its first filter's ``-Kσ`` point
    (``K = TRUNCATE_SIGMAS``); ``span`` reaches the last filter's ``+Kσ`` in every block.
    """
    blocks = -(-n // BLOCK)  # ceil
    device, dtype = first.device, first.dtype
    reach = TRUNCATE_SIGMAS * sigma
    start = torch.floor(first - reach)  # (B,)
    step = torch.floor(BLOCK * stride).clamp(min=0)  # (B,)
    index = torch.arange(blocks, device=device, dtype=dtype)
    block_start = start[:, None] + index * step[:, None]  # (B, blocks)
    last = (index * BLOCK + BLOCK - 1).clamp(max=n - 1)  # the last filter of each block
    end = torch.ceil(first[:, None] + last * stride[:, None] + reach[:, None])
    span = (end - block_start).amax(1).clamp(min=1)  # (B,)
    pixels = torch.arange(int(span.max()) + 1, device=device, dtype=dtype)
    edges = block_start[..., None] + pixels  # (B, blocks, span+1)
    start, step, span = (t.long().tolist() for t in (start, step, span))
    return _Blocks(n, start, step, span, edges)


def _column_blocks(plane: torch.Tensor, blocks: int, step: int, span: int) -> torch.Tensor:
    """Blocks of columns of a matrix ``(R, W)``, as the strided view ``(blocks, span, R)``:
    block ``j``, transposed, is columns ``j·step … j·step + span - 1``."""
    row_stride, column_stride = plane.stride()
    size, stride = (blocks, span, plane.shape[0]), (step * column_stride, column_stride, row_stride)
    return plane.as_strided(size, stride)


def _overlap_add(blocks: torch.Tensor, rows: int, length: int, step: int) -> torch.Tensor:
    """The adjoint of :func:`_column_blocks`: blocks ``(n, span, R)`` summed into the columns
    ``j·step …`` of a new ``(R, length)`` matrix.

    Blocks ``k = ⌈span / step⌉`` steps apart do not overlap, so each of the ``k`` phases goes
    in with one strided addition.
    """
    count, span, _ = blocks.shape
    total = blocks.new_zeros(rows, length)
    if step == 0:
        total[:, :span] += blocks.sum(0).T
        return total
    phases = min(-(-span // step), count)
    for phase in range(phases):
        part = blocks[phase::phases]  # (n', span, R), not overlapping in `total`
        target = total[:, phase * step :].as_strided(part.shape, (phases * step, 1, length))
        target += part
    return total


@dataclass(frozen=True)
class _Plan:
    """Where one glimpse reads, in integers (see :class:`_Reader`)."""

    source: torch.Tensor  # (C, H', W): its frame, or the shared level of the frame
    scale: int  # rows of `source` summed into each level row read
    begin: int  # the first level row that the row blocks read
    rows: int  # how many level rows they read
    inside: tuple[int, int]  # the level rows [top, bottom) of those inside the frame
    used: tuple[int, int]  # the column blocks [first, last) that overlap the frame
    start: int  # frame column of column block 0
    step: tuple[int, int]  # between blocks: columns, rows
    span: tuple[int, int]  # pixels per block: columns, rows

    @property
    def reads_frame(self) -> bool:
        return self.inside[1] > self.inside[0] and self.used[1] > self.used[0]

    def columns(self) -> tuple[int, int]:
        """The frame columns ``[left, right)`` that the used column blocks read."""
        (first, last), step = self.used, self.step[0]
        left = self.start + first * step
        return left, left + (last - first - 1) * step + self.span[0]


@dataclass(frozen=True)
class _Window:
    """The frame pixels one glimpse reads: its inside rows as matrices ``planes`` (one
    ``(C·h, width)`` matrix, or ``C`` matrices ``(h, width)``, rows in order), whose column 0 is
    frame column ``offset``; the column blocks ``[interior)`` lie inside the planes' columns,
    the other used ones (``edges``) only partly."""

    planes: list[torch.Tensor]
    offset: int
    interior: tuple[int, int]
    edges: list[int]


def _window(plan: _Plan, dtype: torch.dtype) -> _Window:
    """The pixels a glimpse reads: views into its frame where the window is large, otherwise
    one small padded copy (rows summed into level rows, half precision made ``dtype``)."""
    source, scale = plan.source, plan.scale
    channels, source_h, width = source.shape
    (top, bottom), (first, last) = plan.inside, plan.used
    height = bottom - top
    left, right = plan.columns()
    step, span = plan.step[0], plan.span[0]
    if scale == 1 and source.dtype == dtype and channels * height * (right - left) >= COPY_BELOW:
        # Read in place, one matrix per channel. Blocks that stick out of the frame are
        # multiplied separately with the part of their bank over the frame.
        planes = list(source[:, top:bottom].unbind(0))
        if step:
            begin = max(first, -(plan.start // step))  # ceil(-start / step)
            end = min(last, (width - span - plan.start) // step + 1)
        else:
            inside = plan.start >= 0 and plan.start + span <= width
            begin, end = (first, last) if inside else (first, first)
        begin = min(max(begin, first), last)
        end = max(min(end, last), begin)
        edges = [*range(first, begin), *range(end, last)]
        return _Window(planes, 0, (begin, end), edges)
    crop = source[:, top * scale : bottom * scale, max(left, 0) : min(right, width)].to(dtype)
    missing_rows = height * scale - crop.shape[1]
    if missing_rows or left < 0 or right > width:
        crop = F.pad(crop, (max(-left, 0), max(right - width, 0), 0, missing_rows))
    if scale > 1:
        crop = crop.reshape(channels, height, scale, right - left).sum(2)  # (C, h, width)
    crop = crop.contiguous()
    return _Window([crop.view(channels * height, right - left)], left, (first, last), [])


@dataclass
class _Reader:
    """The glimpses of a batch given their banks, one sample at a time.

    A glimpse is ``Fy · window · Fxᵀ``. The column blocks are strided views of the window
    (straight into the frame where they can), the row blocks strided views of
    ``values = window · Fxᵀ``, each block a small product with its part of the bank. Products
    are written straight into their destination; a sample costs a handful of operations each
    way.
    """

    plans: list[_Plan]
    rows: _Blocks
    columns: _Blocks
    channels: int
    dtype: torch.dtype  # of windows and products

    @classmethod
    def plan(
        cls,
        images: torch.Tensor,
        shared_levels: dict[int, torch.Tensor] | None,
        levels: list[int],
        rows: _Blocks,
        columns: _Blocks,
        dtype: torch.dtype,
    ) -> _Reader:
        frame_h, frame_w = images.shape[-2:]
        plans = []
        for sample, level in enumerate(levels):
            if shared_levels is not None:
                source, scale = shared_levels[level], 1
            else:
                source, scale = images[sample], 2**level
            begin, end = rows.extent(sample)
            level_h = -(-frame_h // 2**level)  # ceil
            inside = (min(max(begin, 0), level_h), min(max(end, 0), level_h))
            start, step = columns.start[sample], columns.step[sample]
            span = columns.span[sample]
            if step:  # the blocks that overlap the frame
                first = min(max(0, -(start + span) // step + 1), columns.blocks)
                last = max(min(columns.blocks, -(-(frame_w - start) // step)), first)
            else:
                first, last = 0, columns.blocks if start < frame_w and start + span > 0 else 0
            plans.append(
                _Plan(
                    source,
                    scale,
                    begin,
                    end - begin,
                    inside,
                    (first, last),
                    start,
                    (step, rows.step[sample]),
                    (span, rows.span[sample]),
                )
            )
        return cls(plans, rows, columns, images.shape[1], dtype)

    def _column_targets(self, plan: _Plan, window: _Window, matrix: torch.Tensor):
        """For each plane of ``window``, the part of ``matrix`` ``(blocks, BLOCK, C, rows)``
        (values or their gradient) that its products go to: ``(blocks, BLOCK, h)`` per
        channel, or ``(blocks, BLOCK, C·h)`` for one merged plane (then maybe a copy)."""
        top, bottom = plan.inside[0] - plan.begin, plan.inside[1] - plan.begin
        part = matrix[..., top:bottom]  # (blocks, BLOCK, C, h)
        if len(window.planes) > 1:
            return list(part.unbind(2)), None
        if bottom - top == plan.rows:
            return [part.flatten(2)], None
        return [part.reshape(*part.shape[:2], -1)], part  # a copy: write back into `part`

    def forward(self, plan: _Plan, bank_x: torch.Tensor, bank_y: torch.Tensor, out: torch.Tensor):
        """Write one glimpse into ``out`` ``(C, h, w)``; return what backward needs.

        ``bank_x``: ``(blocks, BLOCK, S)`` for the columns, ``bank_y`` for the rows.
        """
        channels, n_x, n_y = self.channels, self.columns.n, self.rows.n
        blocks_x = self.columns.blocks
        # values[i, c, r]: column filter i on channel c of level row begin + r.
        values = out.new_empty(blocks_x, BLOCK, channels, plan.rows)
        window = None
        if not plan.reads_frame:
            values.zero_()
        else:
            (top, bottom), (first, last) = plan.inside, plan.used
            for zeros in (
                values[:first],
                values[last:],
                values[..., : top - plan.begin],
                values[..., bottom - plan.begin :],
            ):
                if zeros.numel():
                    zeros.zero_()
            window = _window(plan, self.dtype)
            targets, write_back = self._column_targets(plan, window, values)
            begin, end = window.interior
            span, step = plan.span[0], plan.step[0]
            for plane, target in zip(window.planes, targets, strict=True):
                if end > begin:
                    blocks = plane.as_strided(
                        (end - begin, span, plane.shape[0]),
                        (step * plane.stride(1), plane.stride(1), plane.stride(0)),
                        plane.storage_offset()
                        + (plan.start + begin * step - window.offset) * plane.stride(1),
                    )
                    # Bank on the left: (BLOCK × span) · (span × rows) runs several times
                    # faster than the transposed orientation, here and in the backward pass.
                    torch.bmm(bank_x[begin:end, :, :span], blocks, out=target[begin:end])
                for block in window.edges:
                    low, high = self._edge(plan, block, plane.shape[1])
                    bank = bank_x[block, :, low[0] : high[0]]
                    torch.mm(bank, plane[:, low[1] : high[1]].T, out=target[block])
            if write_back is not None:
                write_back.copy_(targets[0].view(write_back.shape))
        matrix = values.view(-1, plan.rows)  # (blocks·BLOCK·C, rows)
        row_blocks = _column_blocks(matrix, self.rows.blocks, plan.step[1], plan.span[1])
        products = torch.bmm(bank_y[:, :, : plan.span[1]], row_blocks)  # (blocks, BLOCK, F)
        glimpse = products.view(-1, blocks_x * BLOCK, channels)[:n_y, :n_x]  # (h, w, C)
        out.copy_(glimpse.permute(2, 0, 1))
        return window, values

    def _edge(self, plan: _Plan, block: int, width: int) -> tuple[tuple[int, int], ...]:
        """Column block ``block`` where it sticks out of the frame (planes in place, column 0
        at frame column 0): ``(bank begin, frame begin), (bank end, frame end)``."""
        begin = plan.start + block * plan.step[0]
        low, high = max(begin, 0), min(begin + plan.span[0], width)
        return (low - begin, low), (high - begin, high)

    def backward(self, plan, saved, bank_x, bank_y, grad_out, grad_x, grad_y):
        """Add the gradients of one glimpse to those of its banks ``grad_x``, ``grad_y``."""
        window, values = saved
        channels, n_x, n_y = self.channels, self.columns.n, self.rows.n
        blocks_x, blocks_y = self.columns.blocks, self.rows.blocks
        span_y, step_y = plan.span[1], plan.step[1]
        if n_y == blocks_y * BLOCK and n_x == blocks_x * BLOCK:
            grad_products = grad_out.new_empty(n_y, n_x, channels)
        else:
            grad_products = grad_out.new_zeros(blocks_y * BLOCK, blocks_x * BLOCK, channels)
        grad_products[:n_y, :n_x] = grad_out.permute(1, 2, 0)
        grad_products = grad_products.view(blocks_y, BLOCK, -1)  # (blocks, BLOCK, F)
        matrix = values.view(-1, plan.rows)  # (F, rows)
        row_blocks = _column_blocks(matrix, blocks_y, step_y, span_y).transpose(1, 2)
        torch.bmm(grad_products, row_blocks, out=grad_y[:, :, :span_y])
        if window is None:
            return
        grad_blocks = torch.bmm(bank_y[:, :, :span_y].transpose(1, 2), grad_products)
        grad_values = _overlap_add(grad_blocks, matrix.shape[0], plan.rows, step_y)
        grad_values = grad_values.view(values.shape)  # (blocks, BLOCK, C, rows)
        targets, _ = self._column_targets(plan, window, grad_values)
        begin, end = window.interior
        span, step = plan.span[0], plan.step[0]
        grad_bank = grad_x[:, :, :span]
        interior = None  # (end - begin, BLOCK, span), summed over the planes
        for plane, target in zip(window.planes, targets, strict=True):
            if end > begin:
                blocks = plane.as_strided(
                    (end - begin, plane.shape[0], span),
                    (step * plane.stride(1), plane.stride(0), plane.stride(1)),
                    plane.storage_offset()
                    + (plan.start + begin * step - window.offset) * plane.stride(1),
                )
                if interior is None:
                    interior = torch.bmm(target[begin:end], blocks)
                else:  # in place on a contiguous tensor: one batched product
                    interior.baddbmm_(target[begin:end], blocks)
            for block in window.edges:
                low, high = self._edge(plan, block, plane.shape[1])
                grad_bank[block, :, low[0] : high[0]].addmm_(
                    target[block], plane[:, low[1] : high[1]]
                )
        if interior is not None:
            grad_bank[begin:end] += interior


class _BankedRead(torch.autograd.Function):
    """The fast glimpses ``(B, C, h, w)`` from the filters' ``first, stride, sigma`` per axis
    (``(B,)`` each, columns in frame pixels, rows in pixels of their level), differentiable in
    those six: the gradient of each bank entry goes to the filter parameters in closed form."""

    @staticmethod
    def forward(ctx, first_x, stride_x, sigma_x, first_y, stride_y, sigma_y, reader, factor):  # noqa: D102
        bank_x, z_x = reader.columns.bank(first_x, stride_x, sigma_x)
        bank_y, z_y = reader.rows.bank(first_y, stride_y, sigma_y)
        bank_x = bank_x.to(reader.dtype)
        bank_y = bank_y.to(reader.dtype) * factor[:, None, None, None]  # row sums → means
        batch = len(reader.plans)
        glimpses = bank_x.new_empty(batch, reader.channels, reader.rows.n, reader.columns.n)
        ctx.saved = [
            reader.forward(plan, x, y, out)
            for plan, x, y, out in zip(reader.plans, bank_x, bank_y, glimpses, strict=True)
        ]
        ctx.reader, ctx.banks = reader, (bank_x, bank_y)
        ctx.save_for_backward(sigma_x, sigma_y, z_x, z_y, factor)
        return glimpses

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_glimpses):  # noqa: D102
        sigma_x, sigma_y, z_x, z_y, factor = ctx.saved_tensors
        reader, (bank_x, bank_y) = ctx.reader, ctx.banks
        grad_x, grad_y = torch.zeros_like(bank_x), torch.zeros_like(bank_y)
        grad_glimpses = grad_glimpses.to(reader.dtype)
        for sample, (plan, saved) in enumerate(zip(reader.plans, ctx.saved, strict=True)):
            reader.backward(
                plan,
                saved,
                bank_x[sample],
                bank_y[sample],
                grad_glimpses[sample],
                grad_x[sample],
                grad_y[sample],
            )
        grad_y = grad_y * factor[:, None, None, None]
        grads_x = _Blocks.bank_backward(z_x, sigma_x, grad_x.to(z_x.dtype))
        grads_y = _Blocks.bank_backward(z_y, sigma_y, grad_y.to(z_y.dtype))
        return (*grads_x, *grads_y, None, None)


def _windowed_glimpse(
    images: torch.Tensor,
    boxes: torch.Tensor,
    size: tuple[int, int],
    sigma_offset: torch.Tensor | float,
    shared_levels: dict[int, torch.Tensor] | None = None,
) -> torch.Tensor:
    """The fast reader behind :func:`gaussian_glimpse` and :func:`gaussian_glimpses_of_frame`.

    ``shared_levels``: ``{L: row_sums(frame, L)}`` of the one frame all glimpses read.
    """
    glimpse_h, glimpse_w = size
    dtype = torch.float64 if boxes.dtype == torch.float64 else torch.float32
    x, y, w, h = boxes.to(dtype).unbind(-1)
    d_x, d_y = w / glimpse_w, h / glimpse_h
    sigma_x, sigma_y = sigma_for_stride(d_x, sigma_offset), sigma_for_stride(d_y, sigma_offset)
    # Rows in rows of their pyramid level. A level row is the sum of 2^L frame rows, and the
    # mass of N(u, σ²) on a block of rows is the sum of its masses on the block's rows, so the
    # level's bank is exactly the block sums of the frame's bank: the glimpse differs from the
    # dense one only where the image varies inside a block (see gaussian_glimpse).
    level = pyramid_level(sigma_y)
    scale = torch.pow(2.0, level).to(dtype)  # exact powers of two
    params_x = (x + d_x / 2, d_x, sigma_x.to(dtype))
    params_y = ((y + d_y / 2) / scale, d_y / scale, sigma_y.to(dtype) / scale)
    with torch.no_grad():
        columns = _blocks(*params_x, glimpse_w)
        rows = _blocks(*params_y, glimpse_h)
    # Half precision is summed and multiplied in float32 (the windows are small).
    work = images.dtype if images.dtype in (torch.float32, torch.float64) else torch.float32
    reader = _Reader.plan(images, shared_levels, level.tolist(), rows, columns, work)
    factor = (1.0 / scale).to(work)
    glimpses = _BankedRead.apply(*params_x, *params_y, reader, factor)
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
    grows with the box rather than the frame:

    - Window: a glimpse reads only the frame pixels within ``TRUNCATE_SIGMAS`` σ of its
      filters; what that drops changes the result by at most ``1.2e-6 · max|image|``.
    - Blocks: the filters go in blocks of ``BLOCK`` consecutive glimpse pixels, and each block
      multiplies only the pixels its filters reach, a strided view of the frame (no copy).
      A product then costs about ``BLOCK + 2`` multiply-adds per pixel under the box, instead
      of ``w`` per pixel of the frame.
    - Order: columns first, at full resolution and straight from the frame's rows (contiguous
      memory); then rows, on the small intermediate ``(rows, C · w)``. Rows first would have to
      copy the window and then run the second product over the window's full width.
    - Pyramid: the rows of a tall box are read from a level of row sums (``2^L`` frame rows per
      level row, summed in one pass), with the rows' centres, stride and σ divided by ``2^L``.
      As each bank entry is the Gaussian's mass on a pixel, the level's bank is exactly the
      block sums of the frame's bank; all that changes is that inside each block the frame's
      bank is replaced by its block mean. ``L`` is the coarsest level with
      ``σ / 2^L ≥ LEVEL_MIN_SIGMA``, where that moves the glimpse by under 1e-4 (mean absolute,
      images in [0, 1]) and the gradient of a batch of boxes by under 0.5%, white noise
      included. (With 56 rows that is a box over 2200 px tall: the pyramid serves small
      glimpses of large boxes.) Columns stay at full resolution: summing them needs strided
      reads that cost more than the blocks.
    - No work for the frames' gradient: the backward pass computes only the filters' (in closed
      form through the erf bank). Frames that require a gradient go to the dense reference.

    :func:`gaussian_glimpses_of_frame` shares the pyramid between glimpses of one frame.
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
    attention steps in one frame. When the boxes read from pyramid levels cover more than the
    frame, the levels are summed once for the frame and every glimpse slices its rows from
    them; otherwise each glimpse sums only the rows under its own window.
    """
    if frame.dim() != 3:
        raise ValueError(f"frame must be (C, H, W), got shape {tuple(frame.shape)}")
    images = frame.expand(boxes.shape[0], *frame.shape) if boxes.dim() == 2 else frame[None]
    _check_images_and_boxes(images, boxes)
    size = _check_size(size)
    with torch.no_grad():
        sigma_y = sigma_for_stride(boxes[:, 3] / size[0], sigma_offset)
        levels = pyramid_level(sigma_y)
        # A glimpse on level L > 0 sums the rows under its window (its box and Kσ around it);
        # the pyramid sums the frame once per level. Use it where that reads less.
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
        return _windowed_glimpse(images, boxes, size, sigma_offset, shared_levels)
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

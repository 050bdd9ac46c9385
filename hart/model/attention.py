"""Spatial attention state: where the next glimpse looks, how it starts and how it moves.

The attention is kept as fractions of the frame so the same weights run on any frame size, and so
that a streaming tracker may even change resolution between frames. Two parameterisations:

- :class:`HartAttention`, HART's four numbers ``(y, x, h, w)`` (top-left and size as fractions of
  the frame height and width). The filters' std follows from the stride
  (:func:`hart.model.glimpse.sigma_for_stride`) plus one learned offset, measured in strides so it
  means the same at every scale.
- :class:`RatmAttention`, RATM's six ``(u_y, σ_y, d_y, u_x, σ_x, d_x)`` (first filter centre, std
  and stride per axis), divided by the frame height or width. ``σ`` is free and learned per step.

Both start from the given box plus a learned bias and move by
``Δ = sigmoid(gain) · tanh(raw)`` where ``raw`` comes from the tracker's readout MLP. The
position moves by ``Δ`` times the current attention size, and sizes (and RATM's ``σ``) are
multiplied by ``exp(Δ)``. (The paper adds ``Δ`` to the parameters themselves; moving relative to
the attention's size keeps sizes positive and makes the update the same for a small and a large
object.) Sizes are kept within ``[MIN_SIZE, MAX_SIZE]`` of the frame and the centre within
``[-0.5, 1.5]`` so that a lost tracker cannot drive the glimpse to a degenerate place.

Reading: with the ``"gaussian"`` reader both parameterisations read with Gaussian filter banks;
with ``"stn"`` they read the box the filters span by bilinear sampling (RATM's ``σ`` unused).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hart.boxes import boxes_about
from hart.model.constants import constant_like
from hart.model.glimpse import (
    GLIMPSE_READERS,
    box_to_hart,
    box_to_ratm,
    gaussian_glimpse,
    hart_to_box,
    ratm_filterbanks,
    ratm_to_box,
    read_with_filterbanks,
)

MIN_SIZE = 2e-3
"""Smallest attention side, as a fraction of the frame side."""
MAX_SIZE = 4.0
"""Largest attention side, as a fraction of the frame side."""
INITIAL_SCALE = 1.5
"""By default the learned start bias begins by enlarging the given box this much (``context``),
so the first glimpse holds some context around the target (where it may move next)."""


def _clamp_centre_and_size(
    centre: torch.Tensor, size: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    return centre.clamp(-0.5, 1.5), size.clamp(MIN_SIZE, MAX_SIZE)


class SpatialAttention(nn.Module):
    """Common part: the learned gain of the update and the reader choice."""

    num_params: int

    def __init__(self, glimpse_size: tuple[int, int], reader: str = "gaussian") -> None:
        super().__init__()
        if reader not in GLIMPSE_READERS:
            raise ValueError(
                f"glimpse reader must be one of {sorted(GLIMPSE_READERS)}, got {reader!r}"
            )
        self.glimpse_size = (int(glimpse_size[0]), int(glimpse_size[1]))
        self.reader = reader
        self.gain = nn.Parameter(torch.zeros(()))

    def step_size(self, raw: torch.Tensor) -> torch.Tensor:
        """``sigmoid(gain) · tanh(raw)``: the bounded update ``(B, P) → (B, P)``."""
        return torch.sigmoid(self.gain) * torch.tanh(raw)

    # Implemented by each parameterisation:
    def initial(self, boxes: torch.Tensor, frame_size: tuple[int, int]) -> torch.Tensor:
        """xywh pixel boxes ``(B, 4)`` → attention ``(B, P)``, with the learned start bias."""
        raise NotImplementedError

    def boxes(self, params: torch.Tensor, frame_size: tuple[int, int]) -> torch.Tensor:
        """Attention ``(B, P)`` → the xywh pixel box the glimpse covers ``(B, 4)``."""
        raise NotImplementedError

    def update(self, params: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        """Attention ``(B, P)`` and readout ``(B, P)`` → next attention ``(B, P)``."""
        raise NotImplementedError

    def read(self, frames: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, C, H, W)`` and attention ``(B, P)`` → glimpses ``(B, C, h, w)``."""
        raise NotImplementedError

    def zoomed(self, params: torch.Tensor, factor: float) -> torch.Tensor:
        """Attention ``(B, P)`` → the same attention with its sides times ``factor`` about its
        centre ``(B, P)`` (a glimpse that shows ``factor`` times as much, same resolution)."""
        raise NotImplementedError


class HartAttention(SpatialAttention):
    """HART's ``(y, x, h, w)`` fractions of the frame, ``σ`` from the stride + a learned offset."""

    num_params = 4

    def __init__(
        self,
        glimpse_size: tuple[int, int],
        reader: str = "gaussian",
        context: float = INITIAL_SCALE,
    ) -> None:
        super().__init__(glimpse_size, reader)
        # Start bias (shift y, shift x in units of the box size; log-scale h, w).
        log_scale = math.log(context)
        self.start_bias = nn.Parameter(torch.tensor([0.0, 0.0, log_scale, log_scale]))
        if reader == "gaussian":
            # In units of the stride (glimpse pixels), so it means the same at any scale.
            self.sigma_offset = nn.Parameter(torch.zeros(()))

    @staticmethod
    def _centre_size(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        top_left, size = params[:, :2], params[:, 2:]  # (B, 2) each: (y, x) and (h, w)
        return top_left + size / 2, size

    @staticmethod
    def _params(centre: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
        centre, size = _clamp_centre_and_size(centre, size)
        return boxes_about(centre, size)  # (B, 4) y, x, h, w

    def initial(self, boxes: torch.Tensor, frame_size: tuple[int, int]) -> torch.Tensor:
        centre, size = self._centre_size(box_to_hart(boxes, frame_size))
        centre = centre + self.start_bias[:2] * size
        return self._params(centre, size * self.start_bias[2:].exp())

    def boxes(self, params: torch.Tensor, frame_size: tuple[int, int]) -> torch.Tensor:
        return hart_to_box(params, frame_size)

    def update(self, params: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        delta = self.step_size(raw)
        centre, size = self._centre_size(params)
        return self._params(centre + delta[:, :2] * size, size * delta[:, 2:].exp())

    def zoomed(self, params: torch.Tensor, factor: float) -> torch.Tensor:
        centre, size = self._centre_size(params)
        return self._params(centre, size * factor)

    def read(self, frames: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        boxes = self.boxes(params, frames.shape[-2:])
        if self.reader == "stn":
            return GLIMPSE_READERS["stn"](frames, boxes, self.glimpse_size)
        strides = boxes[:, 2:] / constant_like(boxes, self.glimpse_size[::-1])  # (B, 2) d_x, d_y px
        offset = self.sigma_offset * strides.prod(-1).sqrt()  # (B,) px
        return gaussian_glimpse(frames, boxes, self.glimpse_size, sigma_offset=offset)


class RatmAttention(SpatialAttention):
    """RATM's ``(u_y, σ_y, d_y, u_x, σ_x, d_x)``, each divided by the frame height or width."""

    num_params = 6

    def __init__(
        self,
        glimpse_size: tuple[int, int],
        reader: str = "gaussian",
        context: float = INITIAL_SCALE,
    ) -> None:
        super().__init__(glimpse_size, reader)
        log_scale = math.log(context)
        # Per axis (y then x): shift in box sizes, log-scale of σ, log-scale of the stride.
        self.start_bias = nn.Parameter(
            torch.tensor([0.0, log_scale, log_scale, 0.0, log_scale, log_scale])
        )

    def _frame_scale(self, params: torch.Tensor, frame_size: tuple[int, int]) -> torch.Tensor:
        frame_h, frame_w = frame_size
        return constant_like(params, [frame_h, frame_h, frame_h, frame_w, frame_w, frame_w])

    def _split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(B, 6)`` → centre ``(B, 2)``, σ ``(B, 2)``, stride ``(B, 2)``, each (y, x)."""
        u, sigma, stride = params[:, 0::3], params[:, 1::3], params[:, 2::3]
        steps = constant_like(params, self.glimpse_size) - 1  # (2,) filters − 1 per axis
        return u + stride * steps / 2, sigma, stride

    def _join(
        self, centre: torch.Tensor, sigma: torch.Tensor, stride: torch.Tensor
    ) -> torch.Tensor:
        counts = constant_like(centre, self.glimpse_size)  # (2,) filters per axis, (y, x)
        centre, size = _clamp_centre_and_size(centre, stride * counts)
        stride = size / counts
        u = centre - stride * (counts - 1) / 2
        sigma = sigma.clamp(min=1e-4)
        return torch.stack([u, sigma, stride], -1).flatten(1)  # (B, 2, 3) → (B, 6)

    def initial(self, boxes: torch.Tensor, frame_size: tuple[int, int]) -> torch.Tensor:
        params = box_to_ratm(boxes, self.glimpse_size) / self._frame_scale(boxes, frame_size)
        centre, sigma, stride = self._split(params)
        bias = self.start_bias.view(2, 3)  # (y, x) × (shift, log σ scale, log stride scale)
        counts = constant_like(params, self.glimpse_size)
        centre = centre + bias[:, 0] * stride * counts
        return self._join(centre, sigma * bias[:, 1].exp(), stride * bias[:, 2].exp())

    def boxes(self, params: torch.Tensor, frame_size: tuple[int, int]) -> torch.Tensor:
        return ratm_to_box(params * self._frame_scale(params, frame_size), self.glimpse_size)

    def update(self, params: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        delta = self.step_size(raw).view(-1, 2, 3)  # (B, axis, (shift, log σ, log stride))
        centre, sigma, stride = self._split(params)
        counts = constant_like(params, self.glimpse_size)
        centre = centre + delta[..., 0] * stride * counts
        return self._join(centre, sigma * delta[..., 1].exp(), stride * delta[..., 2].exp())

    def zoomed(self, params: torch.Tensor, factor: float) -> torch.Tensor:
        centre, sigma, stride = self._split(params)
        return self._join(centre, sigma * factor, stride * factor)

    def read(self, frames: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        frame_size = frames.shape[-2:]
        if self.reader == "stn":
            return GLIMPSE_READERS["stn"](frames, self.boxes(params, frame_size), self.glimpse_size)
        pixels = params * self._frame_scale(params, frame_size)
        fy, fx = ratm_filterbanks(pixels, self.glimpse_size, frame_size)
        return read_with_filterbanks(frames, fy, fx)


ATTENTIONS = {"hart": HartAttention, "ratm": RatmAttention}

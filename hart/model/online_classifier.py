"""An online discriminative classifier: a filter fitted to this video's target while tracking.

The template's normalised cross-correlation (:mod:`hart.model.correlation`) asks how much a
window looks like the target; it cannot ask what tells the target from *this* background, so a
lookalike nearby, or background inside the template, can win. Trackers since ATOM (Danelljan
et al., CVPR 2019) fit a small convolution filter online instead: its response over a glimpse's
features should be a Gaussian on the target and zero everywhere else, so features that the
background shares with the target are weighted down. As ATOM does, with no training:

- after each frame's box is placed (the first frame's step included), the glimpse's features
  ``(C, h, w)`` and a Gaussian label on the box's centre (σ a quarter of the box's size) are
  remembered: the first frame for good, the others in a ring of the latest ``N − 1``;
- on the first frame and then every ``interval`` frames the filter ``w`` ``(C, k, k)`` is
  refitted by a few steps of conjugate gradients, warm-started from the last fit, on the ridge
  regression

      Σ_n a_n · mean over cells of (X_n ⋆ w − y_n)²  +  λ ‖w‖²,

  where a frame's weight ``a_n`` decays by ``1 − rate`` per frame since it was seen and the
  first frame keeps a fixed share of the total;
- each new glimpse's match (the template's NCC) gets ``weight`` times the filter's response
  added: about 1 on the target once the fit is good.

Features are divided by their root mean square per glimpse, so ``λ`` means the same whatever the
trunk's scale. The classifier is a tracking heuristic, not learned: it fits detached features,
and gradients do not flow through its fit.

It runs on the device without reading a value on the host: which slot a frame goes to, each
slot's weight and when to refit follow from the frame count, a Python integer in the state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hart.model.constants import constant_like

LABEL_SIGMA = 0.25
"""The label's σ, in box widths and heights (ATOM's)."""

FIRST_SHARE = 0.25
"""The first frame's share of the samples' total weight: the one frame whose box is known."""


def filter_response(features: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """Each sample's filter ``(B, C, k, k)`` (odd ``k``) slid over its ``N`` feature maps
    ``(B, N, C, h, w)`` → ``(B, N, h, w)``: correlation with zero padding, cell ``j`` scoring the
    window centred on it."""
    batch, count, channels, height, width = features.shape
    k = filters.shape[-1]
    # One correlation per sample: the batch goes into the channels, the frames into the batch.
    stacked = features.transpose(0, 1).reshape(count, batch * channels, height, width)
    out = F.conv2d(stacked, filters.to(features.dtype), padding=k // 2, groups=batch)
    return out.transpose(0, 1)  # (B, N, h, w)


def response_adjoint(features: torch.Tensor, residuals: torch.Tensor, size: int) -> torch.Tensor:
    """The adjoint of :func:`filter_response` in the filter: ``Σ_n X_nᵀ r_n`` for feature maps
    ``(B, N, C, h, w)`` and residuals ``(B, N, h, w)`` → ``(B, C, size, size)``."""
    batch, count, channels, height, width = features.shape
    stacked = features.transpose(0, 1).reshape(count, batch * channels, height, width)
    return torch.nn.grad.conv2d_weight(
        stacked,
        (batch, channels, size, size),
        residuals.transpose(0, 1).to(features.dtype),
        padding=size // 2,
        groups=batch,
    )


def gaussian_labels(
    cell_boxes: torch.Tensor, map_size: tuple[int, int], cell_centre: float
) -> torch.Tensor:
    """Boxes ``(B, 4)`` x1, y1, x2, y2 in cells of an ``(h, w)`` map → a Gaussian on each box's
    centre ``(B, h, w)``, 1 at its peak, σ :data:`LABEL_SIGMA` of the box's width and height
    (at least half a cell). Cell ``j`` is centred at ``j + cell_centre``."""
    height, width = map_size
    boxes = cell_boxes.float()
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2  # (B, 2) x, y
    sigma = (LABEL_SIGMA * (boxes[:, 2:] - boxes[:, :2])).clamp(min=0.5)  # (B, 2)
    xs = torch.arange(width, device=boxes.device) + cell_centre  # (w,)
    ys = torch.arange(height, device=boxes.device) + cell_centre  # (h,)
    gx = torch.exp(-0.5 * ((xs[None] - centre[:, :1]) / sigma[:, :1]).square())  # (B, w)
    gy = torch.exp(-0.5 * ((ys[None] - centre[:, 1:]) / sigma[:, 1:]).square())  # (B, h)
    return gy[:, :, None] * gx[:, None, :]


def rms_normalised(features: torch.Tensor) -> torch.Tensor:
    """Features ``(B, C, h, w)`` divided by each glimpse's root mean square."""
    rms = features.float().square().mean((1, 2, 3), keepdim=True).sqrt().clamp(min=1e-6)
    return (features / rms).to(features.dtype)


class OnlineClassifier:
    """Fits a ``(C, k, k)`` filter per tracked target to its glimpses while tracking.

    Its state travels in the tracker's: the filters ``(B, C, k, k)``, the remembered samples
    ``(B, N, C, h, w)`` and their labels ``(B, N, h, w)`` (zeros in slots not yet filled), and
    the number of frames remembered so far (an ``int``, the same for the whole batch).

    Args:
        samples: ``N``, how many frames are remembered (the first one among them).
        filter_size: ``k``, odd (the template's size, ``template_size``).
        weight: how much of the filter's response is added to the template's match.
        regularisation: ``λ``.
        rate: how much a new frame weighs against the older ones.
        interval: refit every this many frames.
        iterations: conjugate-gradient steps per refit (twice as many on the first frame).
        cell_centre: where in the glimpse cell ``j``'s features are centred (the trunk's).
    """

    def __init__(
        self,
        samples: int,
        filter_size: int,
        weight: float = 1.0,
        regularisation: float = 0.1,
        rate: float = 0.05,
        interval: int = 5,
        iterations: int = 5,
        cell_centre: float = 0.5,
    ) -> None:
        if samples < 2:
            raise ValueError(f"the classifier needs at least 2 samples, got {samples}")
        if filter_size % 2 != 1:
            raise ValueError(f"the classifier's filter size must be odd, got {filter_size}")
        if regularisation <= 0.0:
            raise ValueError(f"classifier regularisation must be > 0, got {regularisation}")
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"classifier rate must be in (0, 1], got {rate}")
        if interval < 1 or iterations < 1:
            raise ValueError("the classifier's interval and iterations must be at least 1")
        self.samples = samples
        self.filter_size = filter_size
        self.weight = weight
        self.regularisation = regularisation
        self.rate = rate
        self.interval = interval
        self.iterations = iterations
        self.cell_centre = cell_centre

    def empty(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Zero filters, samples and labels for the glimpse features ``(B, C, h, w)``."""
        batch, channels, height, width = features.shape
        k = self.filter_size
        filters = features.new_zeros(batch, channels, k, k)
        samples = features.new_zeros(batch, self.samples, channels, height, width)
        labels = features.new_zeros(batch, self.samples, height, width)
        return filters, samples, labels

    def response(self, features: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
        """``weight`` times the filters' response over features ``(B, C, h, w)`` →
        ``(B, 1, h, w)``."""
        return self.weight * filter_response(rms_normalised(features)[:, None], filters)

    def remember(
        self,
        features: torch.Tensor,
        cell_boxes: torch.Tensor,
        filters: torch.Tensor,
        samples: torch.Tensor,
        labels: torch.Tensor,
        frames: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Remember this frame's features ``(B, C, h, w)`` with the target at ``cell_boxes``
        ``(B, 4)`` x1, y1, x2, y2 in cells, ``frames`` having been remembered before, and
        refit the filters when due → the new filters, samples and labels."""
        slot = self._slot(frames)
        samples, labels = samples.clone(), labels.clone()
        samples[:, slot] = rms_normalised(features.detach()).to(samples.dtype)
        label = gaussian_labels(cell_boxes.detach(), features.shape[-2:], self.cell_centre)
        labels[:, slot] = label.to(labels.dtype)
        if frames % self.interval == 0:  # the first frame included
            iterations = self.iterations * (2 if frames == 0 else 1)
            weights = self._weights(frames + 1, samples)
            filters = self.fit(filters, samples, labels, weights, iterations)
        return filters, samples, labels

    def _slot(self, frame: int) -> int:
        """Where frame ``frame`` (counted from 0) is remembered: 0 for the first, then a ring."""
        return 0 if frame == 0 else 1 + (frame - 1) % (self.samples - 1)

    def _weights(self, frames: int, like: torch.Tensor) -> torch.Tensor:
        """Each slot's weight ``(N,)`` once ``frames`` frames are remembered (0 if empty)."""
        ring = self.samples - 1
        slots = torch.arange(1, self.samples, device=like.device)  # (N - 1,)
        latest = frames - 1  # the frame just remembered
        age = torch.remainder(latest - slots, ring)  # frames since each slot was written
        filled = age < latest  # slot i holds frame latest - age, which must be ≥ 1
        recent = torch.where(filled, (1.0 - self.rate) ** age.float(), 0.0)  # (N - 1,)
        total = recent.sum()
        first = torch.where(total > 0, total * FIRST_SHARE / (1.0 - FIRST_SHARE), 1.0)
        return torch.cat([first[None], recent]).to(like.dtype)

    def fit(
        self,
        filters: torch.Tensor,
        samples: torch.Tensor,
        labels: torch.Tensor,
        weights: torch.Tensor,
        iterations: int,
    ) -> torch.Tensor:
        """``iterations`` conjugate-gradient steps from ``filters`` ``(B, C, k, k)`` towards
        the ridge regression's solution for the samples ``(B, N, C, h, w)``, labels
        ``(B, N, h, w)`` and slot weights ``(N,)``."""
        k = self.filter_size
        cells = samples.shape[-2] * samples.shape[-1]
        scale = (weights / (weights.sum() * cells)).float()[None, :, None, None]  # (1, N, 1, 1)
        lam = constant_like(scale, [self.regularisation])

        def normal(p: torch.Tensor) -> torch.Tensor:  # (Xᵀ A X + λ) p
            return response_adjoint(samples, scale * filter_response(samples, p), k) + lam * p

        w = filters.float()
        residual = response_adjoint(samples, scale * labels, k).float() - normal(w)
        direction = residual
        rho = residual.square().sum((1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
        for _ in range(iterations):
            q = normal(direction)
            alpha = rho / (direction * q).sum((1, 2, 3), keepdim=True).clamp(min=1e-12)
            w = w + alpha * direction
            residual = residual - alpha * q
            rho_next = residual.square().sum((1, 2, 3), keepdim=True)
            direction = residual + rho_next / rho.clamp(min=1e-12) * direction
            rho = rho_next
        return w.to(filters.dtype)

    def __repr__(self) -> str:
        return (
            f"OnlineClassifier(samples={self.samples}, weight={self.weight}, "
            f"regularisation={self.regularisation}, rate={self.rate}, "
            f"interval={self.interval}, iterations={self.iterations})"
        )

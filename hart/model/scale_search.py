"""Scale search: which zoom of the glimpse the target's template matches best (SiamFC's).

The correlation attention (:mod:`hart.model.correlation`) finds *where* the target is, not how
big it now is: an untrained box readout keeps its size, and a target that drives towards the
camera outgrows it. As SiamFC does, the tracker also reads the glimpse zoomed out and in by
``step`` about the same centre, matches each against the template, and takes the zoom whose
best match is highest — an off-scale zoom must beat the current one by ``penalty`` (NCC units),
so noise does not make the box breathe. The box then moves ``rate`` of the way to the chosen
scale (in log-size) and to where that zoom's mask peaks; the box readout corrects both.

A zoom ``z`` shows ``z`` times the glimpse's side at the same resolution: the target looks
``1/z`` times its size there, so a best match at ``z`` means the target has grown by ``z``.

The zooms cost two more glimpses through the trunk, about as much again as the rest of a frame
on a CPU; a target's size changes slowly, so ``every`` > 1 searches only every that many frames
(the first among them) and keeps the size on the others.
"""

from __future__ import annotations

import torch

from hart.model.attention import SpatialAttention
from hart.model.constants import constant_like


class ScaleSearch:
    """Three zooms ``(1, 1/step, step)``, the current scale first.

    Args:
        step: the zoom factor between neighbouring scales (> 1).
        penalty: how much higher (NCC) an off-scale match must be to be chosen.
        rate: how far the box's log-size moves towards the chosen scale per frame, in (0, 1].
        every: search on every this many frames (frame 0, ``every``, ``2·every``, …), >= 1.
    """

    def __init__(
        self, step: float, penalty: float = 0.02, rate: float = 0.5, every: int = 1
    ) -> None:
        if step <= 1.0:
            raise ValueError(f"scale step must be > 1, got {step}")
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"scale rate must be in (0, 1], got {rate}")
        if penalty < 0.0:
            raise ValueError(f"scale penalty must be >= 0, got {penalty}")
        if every < 1:
            raise ValueError(f"scale search interval must be >= 1 frame, got {every}")
        self.zooms = (1.0, 1.0 / step, step)
        self.penalty = penalty
        self.rate = rate
        self.every = every

    def due(self, frame_index: int) -> bool:
        """Whether the frame with this index (0 = the first) is searched."""
        return frame_index % self.every == 0

    def attentions(self, attention: SpatialAttention, params: torch.Tensor) -> torch.Tensor:
        """Attention ``(B, P)`` → every zoom of it ``(S·B, P)``, zoom-major, the given first."""
        return torch.cat([attention.zoomed(params, zoom) for zoom in self.zooms])

    def choose(
        self, logits: torch.Tensor, offsets: torch.Tensor, logit_scale: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each zoom's mask logits ``(S·B, 1, h, w)`` and peak offsets ``(S·B, 2)`` (fractions of
        its glimpse), zoom-major → where the target is ``(B, 2)``, in fractions of the unzoomed
        glimpse, and its change of log-size ``(B,)``.

        ``logit_scale``: the matcher's NCC → logit scale (the penalty is in NCC units).
        """
        count = len(self.zooms)
        zooms = constant_like(logits, self.zooms)  # (S,)
        best = logits.detach().flatten(1).amax(1).view(count, -1)  # (S, B) best match per zoom
        off_scale = constant_like(logits, [0.0] + [1.0] * (count - 1))[:, None]  # (S, 1)
        score = best - off_scale * self.penalty * logit_scale.detach()
        choice = score.argmax(0)  # (B,) no host synchronisation: indices stay on the device
        batch = torch.arange(choice.shape[0], device=choice.device)
        # An offset in fractions of a glimpse zoomed by z is z times that of the unzoomed one.
        scaled = offsets.view(count, -1, 2) * zooms[:, None, None]  # (S, B, 2)
        shift = scaled[choice, batch]  # (B, 2)
        log_scale = self.rate * torch.log(zooms)[choice]  # (B,)
        return shift, log_scale

    def __repr__(self) -> str:
        step = self.zooms[-1]
        return (
            f"ScaleSearch(step={step}, penalty={self.penalty}, rate={self.rate}, "
            f"every={self.every})"
        )

"""Appearance attention: a dynamic filter network that turns feature maps into an object mask.

HART's second layer of attention. The spatial attention has already cut a glimpse around the
target; inside it, distractors (other cars, the background) still produce strong features. The
tracker's memory of what the target looks like (the LSTM output ``h_{t-1}``) generates the weights
of two small convolutions — a 1×1 from the feature channels to ``mask_channels``, then a 3×3 to
one channel — whose output is the object-mask logit. The features are then multiplied by the
sigmoid of that mask (in :mod:`hart.model.hart`), so the core sees mostly the target.

Generated filters are scaled by ``1 / sqrt(fan_in)`` so that the mask starts on a sensible scale
whatever the number of channels; the L2 penalty (see :mod:`hart.model.losses`) applies to the
generated values before that scaling, which is what keeps the filter generator from blowing up.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class DynamicMaskNet(nn.Module):
    """Features ``(B, C, h, w)`` and appearance ``(B, S)`` → mask logits ``(B, 1, h, w)``.

    Also returns the squared L2 norm of each sample's generated filters ``(B,)``, for the
    weight decay on dynamic filters.
    """

    def __init__(self, appearance_size: int, feature_channels: int, mask_channels: int = 5) -> None:
        super().__init__()
        self.feature_channels = feature_channels
        self.mask_channels = mask_channels
        self.n_pointwise = feature_channels * mask_channels  # 1×1 filters: (K, C)
        self.n_spatial = mask_channels * 9  # 3×3 filters: (1, K, 3, 3)
        self.generator = nn.Linear(appearance_size, self.n_pointwise + self.n_spatial)
        # The dynamic layers' biases do not depend on the target: plain parameters.
        self.pointwise_bias = nn.Parameter(torch.zeros(mask_channels))
        self.spatial_bias = nn.Parameter(torch.zeros(1))

    def forward(
        self, features: torch.Tensor, appearance: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch, channels, height, width = features.shape
        filters = self.generator(appearance)  # (B, C·K + K·9)
        filter_sq = filters.square().sum(-1)  # (B,)
        pointwise, spatial = filters.split([self.n_pointwise, self.n_spatial], dim=-1)
        pointwise = pointwise.view(batch, self.mask_channels, channels) / math.sqrt(channels)
        spatial = spatial.view(batch, 1, self.mask_channels, 3, 3) / math.sqrt(self.n_spatial)

        hidden = torch.einsum("bkc,bchw->bkhw", pointwise, features)  # (B, K, h, w)
        hidden = F.elu(hidden + self.pointwise_bias.view(1, -1, 1, 1))
        # One 3×3 convolution per sample: fold the batch into channels and use groups=B.
        logits = F.conv2d(
            hidden.reshape(1, batch * self.mask_channels, height, width),  # (1, B·K, h, w)
            spatial.reshape(batch, self.mask_channels, 3, 3),  # (B·1, K, 3, 3)
            padding=1,
            groups=batch,
        )  # (1, B, h, w)
        logits = logits.view(batch, 1, height, width) + self.spatial_bias
        return logits, filter_sq

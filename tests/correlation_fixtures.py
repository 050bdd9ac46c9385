"""Inputs shared by the tests of the correlation tracker and its options (the memory of
lookalikes, the online classifier, the scale search): one config and two synthetic scenes."""

from __future__ import annotations

import numpy as np
import torch

from hart.model.hart import HARTConfig


def untrained_correlation_config(**changes) -> HARTConfig:
    """A correlation HART on EfficientNet-Lite0's ImageNet features (frozen), 112×112 glimpse
    twice the box, anchored on the box: with its readouts at zero, a pure template matcher."""
    config = dict(
        glimpse_size=(112, 112),
        trunk="efficientnet_lite0",
        feature_weights="imagenet",
        freeze_features=True,
        anchor="box",
        appearance="correlation",
        context=2.0,
    )
    return HARTConfig(**{**config, **changes})


def texture(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """A natural-looking RGB texture in [0, 1]: smoothed noise at several scales."""
    rng = np.random.default_rng(seed)
    image = np.zeros((3, height, width), np.float32)
    for cells in (4, 12, 40):
        noise = torch.from_numpy(rng.random((1, 3, cells, cells * width // height), np.float32))
        image += torch.nn.functional.interpolate(noise, (height, width), mode="bicubic")[0].numpy()
    image -= image.min()
    return torch.from_numpy(image / image.max())


def features_with_a_lookalike(likeness: float, noise: float) -> torch.Tensor:
    """Features ``(1, 8, 14, 14)`` (seed 0): weak noise, a 5×5-cell target centred on cell
    (row 6, column 3) and, centred on (6, 10), a lookalike that is ``likeness`` times the target
    plus ``noise`` times fresh noise. The target's middle 3×3 cells are x, y 2–5, 5–8."""
    torch.manual_seed(0)
    features = torch.randn(1, 8, 14, 14) * 0.3
    target = torch.randn(8, 5, 5)
    features[0, :, 4:9, 1:6] = target
    features[0, :, 4:9, 8:13] = likeness * target + noise * torch.randn(8, 5, 5)
    return features

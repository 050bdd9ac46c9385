"""The HART network: shapes, streaming = unrolled, gradients, edge cases, and that it learns."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hart.model.appearance import DynamicMaskNet
from hart.model.core import ZoneoutLSTMCell
from hart.model.hart import HARTConfig, HARTOutput, build_hart
from hart.model.losses import AdaptiveLossWeights, hart_losses, mean_iou

VARIANTS = [("hart", "gaussian"), ("hart", "stn"), ("ratm", "gaussian"), ("ratm", "stn")]


def smooth_texture(generator: torch.Generator, shape: tuple[int, int, int], cell: int):
    """Random texture ``(C, H, W)`` in [0, 1], smooth over about ``cell`` pixels."""
    channels, height, width = shape
    coarse = torch.rand(1, channels, height // cell + 1, width // cell + 1, generator=generator)
    return F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)[0]


def moving_square_clip(steps=6, size=(64, 64), side=16, start=(8, 10), velocity=(3, 2), seed=0):
    """A reddish textured square moving on a textured background: frames ``(1, T, 3, H, W)``
    in [0, 1] and its xywh boxes ``(1, T, 4)``."""
    generator = torch.Generator().manual_seed(seed)
    height, width = size
    background = 0.2 + 0.5 * smooth_texture(generator, (3, height, width), 8)
    tint = torch.tensor([1.0, 0.3, 0.3]).view(3, 1, 1)
    patch = 0.5 + 0.5 * tint * smooth_texture(generator, (3, side, side), 4)
    frames, boxes = [], []
    for t in range(steps):
        x, y = start[0] + velocity[0] * t, start[1] + velocity[1] * t
        frame = background.clone()
        frame[:, y : y + side, x : x + side] = patch
        frames.append(frame)
        boxes.append([x, y, side, side])
    return torch.stack(frames)[None], torch.tensor(boxes, dtype=torch.float32)[None]


def random_clip(batch, steps, height=48, width=64):
    frames = torch.rand(batch, steps, 3, height, width)
    box0 = torch.tensor([[8.0, 6.0, 20.0, 14.0]]).repeat(batch, 1) + torch.arange(batch)[:, None]
    return frames, box0


@pytest.mark.parametrize("batch,steps", [(1, 1), (2, 3), (3, 5)])
def test_output_shapes(batch, steps):
    model = build_hart()
    frames, box0 = random_clip(batch, steps)
    out = model(frames, box0)
    assert isinstance(out, HARTOutput)
    assert out.boxes.shape == (batch, steps, 4)
    assert out.attention_boxes.shape == (batch, steps, 4)
    assert out.glimpses.shape == (batch, steps, 3, 56, 56)
    assert out.mask_logits.shape == (batch, steps, 1, 14, 14)
    assert out.dynamic_filter_sq.shape == (batch, steps)
    assert all(torch.isfinite(field).all() for field in out)


@pytest.mark.parametrize("attention,reader", VARIANTS)
def test_fields_do_not_change_with_options(attention, reader):
    model = build_hart(
        HARTConfig(attention=attention, glimpse_reader=reader, glimpse_size=(32, 40))
    )
    out = model(*random_clip(2, 2))
    assert out._fields == HARTOutput._fields
    assert out.glimpses.shape == (2, 2, 3, 32, 40)
    assert out.mask_logits.shape == (2, 2, 1, 8, 10)


@pytest.mark.parametrize("attention,reader", VARIANTS)
def test_first_attention_is_the_given_box_enlarged_by_the_start_bias(attention, reader):
    model = build_hart(HARTConfig(attention=attention, glimpse_reader=reader))
    frames, box0 = random_clip(2, 1)
    att = model(frames, box0).attention_boxes[:, 0]
    centre = box0[:, :2] + box0[:, 2:] / 2
    torch.testing.assert_close(att[:, :2] + att[:, 2:] / 2, centre)
    torch.testing.assert_close(att[:, 2:], box0[:, 2:] * 1.5)


@pytest.mark.parametrize("anchor", ["attention", "box"])
@pytest.mark.parametrize("training", [False, True])
def test_step_api_gives_the_same_boxes_as_forward(training, anchor):
    model = build_hart(HARTConfig(dropout=0.25, anchor=anchor)).train(training)
    frames, box0 = random_clip(2, 5)
    # Make the readouts move the attention and box visibly, so the test is not vacuous.
    with torch.no_grad():
        for readout in (model.attention_readout, model.box_readout):
            readout[-1].weight.mul_(20)
    torch.manual_seed(1)  # zoneout and dropout draw the same numbers in both runs
    with torch.no_grad():
        out = model(frames, box0)
    torch.manual_seed(1)
    boxes, attention_boxes = [], []
    with torch.no_grad():
        step, state = model.start(frames[:, 0], box0)
        boxes.append(step.box)
        attention_boxes.append(step.attention_box)
        for t in range(1, frames.shape[1]):
            step, state = model.step(frames[:, t], state)
            boxes.append(step.box)
            attention_boxes.append(step.attention_box)
    assert torch.equal(torch.stack(boxes, 1), out.boxes)
    assert torch.equal(torch.stack(attention_boxes, 1), out.attention_boxes)
    assert (out.attention_boxes[:, -1] - out.attention_boxes[:, 0]).abs().max() > 1.0


def test_a_box_anchored_tracker_starts_as_a_box_that_never_moves():
    model = build_hart(HARTConfig(anchor="box")).eval()
    with torch.no_grad():
        model.box_readout[-1].weight.zero_()  # the readout's bias is zero from the start
        model.attention_readout[-1].weight.zero_()
    frames, box0 = random_clip(2, 4)
    with torch.no_grad():
        out = model(frames, box0)
    torch.testing.assert_close(out.boxes, box0[:, None].expand(-1, 4, -1))
    # Every glimpse is centred on the box and INITIAL_SCALE (1.5) times its size.
    attention = out.attention_boxes
    centres = attention[..., :2] + attention[..., 2:] / 2
    torch.testing.assert_close(centres, (box0[:, :2] + box0[:, 2:] / 2)[:, None].expand(-1, 4, -1))
    torch.testing.assert_close(attention[..., 2:], 1.5 * box0[:, None, 2:].expand(-1, 4, -1))


def test_a_box_anchored_step_is_bounded_and_starts_from_the_given_box():
    model = build_hart(HARTConfig(anchor="box")).eval()
    with torch.no_grad():
        model.box_readout[-1].bias.fill_(100.0)  # saturate: the largest step there is
    frames, box0 = random_clip(1, 4)
    with torch.no_grad():
        sizes = model(frames, box0).boxes[0, :, 2:]  # (T, 2)
    # Frame 0 reads the given box as 1.5 times larger, but frame 1 steps from the given box
    # itself (it is known), then every frame grows by the largest step, 1.5.
    expected = box0[0, 2:] * torch.tensor([1.5, 1.5, 1.5**2, 1.5**3])[:, None]
    torch.testing.assert_close(sizes, expected)


def test_a_box_anchored_box_stays_within_the_frames_reach():
    model = build_hart(HARTConfig(anchor="box")).eval()
    frames, box0 = random_clip(1, 30)  # 48×64 frames
    for bias in (100.0, -100.0):  # always grow and move right-down, or shrink and move left-up
        with torch.no_grad():
            model.box_readout[-1].bias.fill_(bias)
            boxes = model(frames, box0).boxes[0]  # (T, 4)
        assert torch.isfinite(boxes).all()
        frame = torch.tensor([64.0, 48.0])
        sides = boxes[:, 2:] / frame
        assert sides.min() >= 2e-3 - 1e-6 and sides.max() <= 4.0 + 1e-5
        centres = (boxes[:, :2] + boxes[:, 2:] / 2) / frame
        assert centres.min() >= -0.5 - 1e-6 and centres.max() <= 1.5 + 1e-6


def test_same_weights_run_at_any_resolution():
    model = build_hart().eval()
    with torch.no_grad():
        for readout in (model.attention_readout, model.box_readout):
            readout[-1].weight.mul_(20)
    smooth = F.interpolate(torch.rand(4, 3, 12, 16), size=(48, 64), mode="bilinear")
    frames = smooth[None]  # (1, 4, 3, 48, 64)
    larger = F.interpolate(smooth, scale_factor=2, mode="bilinear")[None]  # (1, 4, 3, 96, 128)
    box0 = torch.tensor([[10.0, 12.0, 16.0, 12.0]])
    with torch.no_grad():
        small_out, large_out = model(frames, box0), model(larger, 2 * box0)
    # The same boxes, in pixels of each resolution (the Gaussian read differs a hair).
    torch.testing.assert_close(large_out.boxes / 2, small_out.boxes, atol=0.05, rtol=0)
    torch.testing.assert_close(
        large_out.attention_boxes / 2, small_out.attention_boxes, atol=0.05, rtol=0
    )


@pytest.mark.parametrize(
    "attention,reader,anchor",
    [(a, r, "attention") for a, r in VARIANTS]
    + [("hart", "gaussian", "box"), ("ratm", "stn", "box")],
)
def test_every_parameter_gets_a_gradient_from_the_total_loss(attention, reader, anchor):
    config = HARTConfig(attention=attention, glimpse_reader=reader, anchor=anchor)
    model = build_hart(config).train()
    weighting = AdaptiveLossWeights()
    frames, box0 = random_clip(2, 3)
    targets = box0[:, None].repeat(1, 3, 1) + torch.tensor([0.0, 2.0, 4.0])[None, :, None]
    visible = torch.ones(2, 3, dtype=torch.bool)
    out = model(frames, box0)
    losses = hart_losses(out, targets, visible, model.parameters(), weighting=weighting)
    losses["total"].backward()
    named = list(model.named_parameters()) + list(weighting.named_parameters())
    missing = [name for name, p in named if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []
    assert all(torch.isfinite(p.grad).all() for _, p in named)


def _assert_all_finite(model, weighting, out, losses):
    assert all(torch.isfinite(field).all() for field in out)
    assert all(torch.isfinite(value) for value in losses.values())
    losses["total"].backward()
    for name, p in list(model.named_parameters()) + list(weighting.named_parameters()):
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("attention", ["hart", "ratm"])
def test_no_nan_for_boxes_touching_the_frame_border(attention):
    model = build_hart(HARTConfig(attention=attention)).train()
    weighting = AdaptiveLossWeights()
    frames = torch.rand(3, 4, 3, 48, 64)
    # Top-left corner, bottom-right corner, the whole frame.
    box0 = torch.tensor([[0.0, 0.0, 12.0, 10.0], [52.0, 38.0, 12.0, 10.0], [0.0, 0.0, 64.0, 48.0]])
    targets = box0[:, None].repeat(1, 4, 1)
    visible = torch.ones(3, 4, dtype=torch.bool)
    out = model(frames, box0)
    losses = hart_losses(out, targets, visible, model.parameters(), weighting=weighting)
    _assert_all_finite(model, weighting, out, losses)


def test_no_nan_for_a_target_absent_for_several_frames():
    model = build_hart().train()
    weighting = AdaptiveLossWeights()
    frames, box0 = random_clip(2, 7)
    targets = box0[:, None].repeat(1, 7, 1)
    visible = torch.ones(2, 7, dtype=torch.bool)
    targets[0, 2:6] = float("nan")  # absent for four frames, then back
    visible[0, 2:6] = False
    targets[1, 1:] = float("nan")  # gone for good
    visible[1, 1:] = False
    out = model(frames, box0)
    losses = hart_losses(out, targets, visible, model.parameters(), weighting=weighting)
    _assert_all_finite(model, weighting, out, losses)


def test_bad_inputs_raise_value_errors():
    model = build_hart()
    frames, box0 = random_clip(1, 2)
    with pytest.raises(ValueError, match="B, T, 3, H, W"):
        model(frames[0], box0)
    with pytest.raises(ValueError, match="positive width"):
        model(frames, torch.tensor([[1.0, 1.0, 0.0, 5.0]]))
    with pytest.raises(ValueError, match="finite"):
        model(frames, torch.tensor([[float("nan"), 1.0, 3.0, 5.0]]))
    with pytest.raises(ValueError, match="attention must be one of"):
        build_hart(HARTConfig(attention="draw"))
    with pytest.raises(ValueError, match="glimpse reader must be one of"):
        build_hart(HARTConfig(glimpse_reader="nearest"))
    with pytest.raises(ValueError, match="anchor must be one of"):
        build_hart(HARTConfig(anchor="glimpse"))


def test_zoneout_keeps_old_units_in_training_and_averages_at_evaluation():
    cell = ZoneoutLSTMCell(3, 200, zoneout=0.3)
    inputs = torch.randn(4, 3)
    state = (torch.full((4, 200), 5.0), torch.full((4, 200), 5.0))  # an LSTM never outputs 5
    hidden, _ = cell.train()(inputs, state)
    kept = (hidden == 5.0).float().mean()
    assert 0.2 < kept < 0.4
    new_hidden, _ = cell.cell(inputs, state)
    hidden, _ = cell.eval()(inputs, state)
    torch.testing.assert_close(hidden, 0.3 * 5.0 + 0.7 * new_hidden)


def test_dynamic_mask_filters_depend_on_the_appearance_vector():
    net = DynamicMaskNet(appearance_size=10, feature_channels=8, mask_channels=5)
    features = torch.randn(2, 8, 6, 6)
    appearance = torch.randn(1, 10).repeat(2, 1)
    logits, filter_sq = net(features, appearance)
    assert logits.shape == (2, 1, 6, 6) and filter_sq.shape == (2,)
    # Per-sample filters: sample 1 with sample 0's features and filters matches sample 0.
    same, _ = net(features[[0, 0]], appearance)
    torch.testing.assert_close(same[1], logits[0])
    other, _ = net(features, torch.randn(2, 10))
    assert not torch.allclose(other, logits)


@pytest.fixture
def one_thread():
    """The machine is shared: train on one thread, then restore the setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_trains_on_a_synthetic_clip(one_thread):
    """A few hundred Adam steps on one 6-frame clip of a moving square (64×64 frames, a 32×32
    glimpse to keep it quick). Measured: mean IoU 0.33 before (a box that never moves: 0.35),
    0.88 after 150 steps (0.90–0.94 with other initial weights); about 20 s on one CPU thread."""
    frames, boxes = moving_square_clip()
    visible = torch.ones(boxes.shape[:2], dtype=torch.bool)
    model = build_hart(HARTConfig(glimpse_size=(32, 32), dropout=0.0))
    weighting = AdaptiveLossWeights()
    optimiser = torch.optim.Adam([*model.parameters(), *weighting.parameters()], lr=1e-3)

    def evaluate():
        model.eval()
        with torch.no_grad():
            result = mean_iou(model(frames, boxes[:, 0]).boxes, boxes, visible).item()
        model.train()
        return result

    before = evaluate()
    for _ in range(150):
        losses = hart_losses(
            model(frames, boxes[:, 0]), boxes, visible, model.parameters(), weighting=weighting
        )
        optimiser.zero_grad()
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
    after = evaluate()
    assert before < 0.4  # an untrained tracker is about as good as a still box (0.35)
    assert after > 0.7, f"mean IoU {before:.2f} → {after:.2f}"


@pytest.mark.parametrize(
    "changes",
    [
        dict(attention="hart"),
        dict(attention="ratm"),
        dict(
            anchor="box",
            appearance="correlation",
            trunk="efficientnet_lite0",
            glimpse_size=(64, 64),
            template_size=3,
            scale_step=1.05,
            distractors=2,
            distractor_threshold=-1.0,
            classifier=3,
            peak="parabola",
            velocity=0.5,
        ),
    ],
    ids=["hart", "ratm", "correlation+scale-search+distractors+classifier+parabola+velocity"],
)
def test_a_step_never_waits_for_the_device(monkeypatch, changes):
    # On a GPU, reading a value on the host (.item(), a condition on a tensor) waits for every
    # queued kernel, and so does a constant copied from host memory (new_tensor, torch.tensor):
    # once per frame, that would stall training. On the meta device a value read fails, and
    # here a host copy does too, so a step that passes makes neither.
    model = build_hart(HARTConfig(**changes))
    frames, box0 = random_clip(2, 2, height=48, width=64)
    _, state = model.start(frames[:, 0], box0)
    model = model.to("meta")
    state = type(state)(*(f.to("meta") if torch.is_tensor(f) else f for f in state))

    def host_copy(*args, **kwargs):
        raise AssertionError("a tensor copied from host memory inside a step")

    monkeypatch.setattr(torch.Tensor, "new_tensor", host_copy)
    monkeypatch.setattr(torch, "tensor", host_copy)
    monkeypatch.setattr(torch, "as_tensor", host_copy)
    out, next_state = model.step(frames[:, 1].to("meta"), state)
    assert out.box.shape == (2, 4) and out.box.device.type == "meta"
    assert next_state.attention.device.type == "meta"

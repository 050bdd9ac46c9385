"""Scale search: zoomed attentions keep their centre, the choice of zoom and its penalty, and
an untrained correlation HART whose box grows with a target that comes closer."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from hart.model.attention import HartAttention, RatmAttention
from hart.model.hart import HARTConfig, build_hart
from hart.model.scale_search import ScaleSearch
from tests.correlation_fixtures import texture, untrained_correlation_config


@pytest.mark.parametrize("attention_class", [HartAttention, RatmAttention])
def test_a_zoomed_attention_covers_factor_times_the_box_about_the_same_centre(attention_class):
    attention = attention_class((56, 56))
    frame_size = (240, 320)
    params = attention.initial(torch.tensor([[100.0, 60.0, 40.0, 30.0]]), frame_size)
    box = attention.boxes(params, frame_size)[0]
    zoomed = attention.boxes(attention.zoomed(params, 1.25), frame_size)[0]
    assert torch.allclose(zoomed[2:], 1.25 * box[2:], rtol=1e-5)
    assert torch.allclose(zoomed[:2] + zoomed[2:] / 2, box[:2] + box[2:] / 2, atol=1e-4)


def _logits(peaks: list[float], batch: int = 2) -> torch.Tensor:
    """Mask logits ``(S·B, 1, 5, 5)``, zoom-major, each zoom's best cell at ``peaks[zoom]``."""
    logits = torch.zeros(len(peaks), batch, 1, 5, 5)
    for zoom, peak in enumerate(peaks):
        logits[zoom, :, 0, 2, 3] = peak
    return logits.flatten(0, 1)


def test_the_best_zoom_wins_when_it_beats_the_penalty_and_moves_the_box_part_way():
    search = ScaleSearch(step=1.1, penalty=0.02, rate=0.5)
    assert search.zooms == (1.0, 1 / 1.1, 1.1)
    offsets = torch.tensor([[0.1, -0.1]]).repeat(6, 1)  # (S·B, 2) fractions of each zoom
    scale = torch.tensor(10.0)  # penalty 0.02 NCC = 0.2 in logits
    shift, log_scale = search.choose(_logits([5.0, 4.0, 5.5]), offsets, scale)
    assert torch.allclose(log_scale, torch.full((2,), 0.5 * math.log(1.1)))
    # The zoomed-out glimpse is 1.1 times as wide: the same fraction of it is 1.1 times as far.
    assert torch.allclose(shift, torch.tensor([[0.11, -0.11]]).repeat(2, 1))
    shift, log_scale = search.choose(_logits([5.0, 5.1, 5.15]), offsets, scale)
    assert torch.equal(log_scale, torch.zeros(2)) and torch.allclose(shift, offsets[:2])
    _, log_scale = search.choose(_logits([5.0, 5.3, 5.1]), offsets, scale)
    assert torch.allclose(log_scale, torch.full((2,), -0.5 * math.log(1.1)))


@pytest.mark.parametrize(
    "args", [(1.0,), (0.9,), (1.05, -0.1), (1.05, 0.02, 0.0), (1.05, 0.02, 0.5, 0)]
)
def test_a_scale_search_that_cannot_work_is_refused(args):
    with pytest.raises(ValueError, match="scale"):
        ScaleSearch(*args)


def test_scale_search_needs_the_correlation_attention_and_the_box_anchor():
    with pytest.raises(ValueError, match="scale search"):
        build_hart(HARTConfig(scale_step=1.05))


def _approaching_target(steps: int, growth: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A textured target over another texture, its side growing by ``growth`` a frame about a
    fixed centre → frames ``(1, T, 3, H, W)`` and boxes ``(1, T, 4)`` xywh px."""
    background = texture(200, 280, seed=1)
    target = texture(96, 96, seed=2)
    frames, boxes = [], []
    for t in range(steps):
        side = round(36 * growth**t)
        frame = background.clone()
        x, y = 140 - side // 2, 100 - side // 2
        frame[:, y : y + side, x : x + side] = F.interpolate(
            target[None], size=(side, side), mode="bilinear", align_corners=False
        )[0]
        frames.append(frame)
        boxes.append([x, y, side, side])
    return torch.stack(frames)[None], torch.tensor(boxes, dtype=torch.float32)[None]


def test_with_a_scale_search_the_box_grows_with_a_target_that_comes_closer():
    # Nothing is trained: the box readout is zero, so without a search the box never changes
    # size; with one it follows the target from 36 to 53 px over 9 frames, lagging a little
    # (the penalty holds the current scale on near ties).
    frames, truth = _approaching_target(steps=9, growth=1.05)
    sizes = {}
    for step in (1.0, 1.05):
        config = untrained_correlation_config(template_size=9, scale_step=step, scale_rate=1.0)
        torch.manual_seed(0)
        model = build_hart(config).eval()
        with torch.no_grad():
            sizes[step] = model(frames, truth[:, 0]).boxes[0, -1, 2:]
    assert torch.equal(sizes[1.0], truth[0, 0, 2:])
    growth = torch.log(sizes[1.05] / truth[0, 0, 2:])  # (2,) per side
    target_growth = math.log(truth[0, -1, 2] / truth[0, 0, 2])
    assert (growth > 0.5 * target_growth).all() and (growth < 1.1 * target_growth).all(), growth


def test_a_search_every_third_frame_reads_its_zooms_and_resizes_only_on_those_frames():
    frames, truth = _approaching_target(steps=9, growth=1.05)
    config = untrained_correlation_config(
        template_size=9, scale_step=1.05, scale_rate=1.0, scale_every=3
    )
    torch.manual_seed(0)
    model = build_hart(config).eval()
    batches = []  # how many glimpses the trunk reads, frame by frame
    model.features.register_forward_hook(lambda _, args, __: batches.append(len(args[0])))
    with torch.no_grad():
        sides = model(frames, truth[:, 0]).boxes[0, :, 2]  # (T,)
    # The first read cuts the template from the given box; then frame 0 is searched, and so on.
    assert batches == [1] + [3, 1, 1] * 3
    # Frame 0's box is the given one; between searches the untrained readout keeps the size.
    assert sides[1] == truth[0, 0, 2] and sides[2] == sides[1]
    assert sides[4] == sides[3] and sides[5] == sides[3] and sides[7] == sides[6]
    assert sides[8] > truth[0, 0, 2]  # and the searched frames follow the target's growth


def test_a_hart_with_a_scale_search_trains_its_readouts_through_the_chosen_zoom():
    frames, truth = _approaching_target(steps=3, growth=1.05)
    config = untrained_correlation_config(
        feature_weights=None, glimpse_gradient=False, scale_step=1.05
    )
    torch.manual_seed(0)
    model = build_hart(config)
    out = model(frames, truth[:, 0])
    assert out.mask_logits.shape == (1, 3, 1, 14, 14)  # the unzoomed glimpse's, one per frame
    (out.boxes - truth).abs().mean().backward()
    for name in ("box_readout", "appearance"):
        grads = [p.grad for p in getattr(model, name).parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads), name
    assert model.appearance.sharpness.grad.abs() > 0  # the location comes from the chosen zoom

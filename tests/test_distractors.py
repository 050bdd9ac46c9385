"""The memory of lookalikes: which peaks count as lookalikes, what the memory keeps, that the
suppression lowers the lookalike and not the target, and that a tracker with it still runs,
streams exactly as it unrolls, and trains."""

from __future__ import annotations

import functools

import pytest
import torch

from hart.model.correlation import crop_template, normalised_cross_correlation
from hart.model.distractors import DistractorMemory, lookalike_boxes
from hart.model.hart import HART, HARTConfig, build_hart
from tests.correlation_fixtures import features_with_a_lookalike, untrained_correlation_config
from tests.tracker_checks import check_streams_as_unrolled_and_trains


def test_ncc_with_many_templates_is_each_template_alone_and_an_empty_slot_scores_zero():
    torch.manual_seed(0)
    features = torch.rand(2, 5, 9, 11)
    templates = torch.rand(2, 3, 5, 3, 3)
    templates[1, 2] = 0.0  # an empty slot
    together = normalised_cross_correlation(features, templates)
    assert together.shape == (2, 3, 9, 11)
    for n in range(3):
        alone = normalised_cross_correlation(features, templates[:, n])  # (2, 1, 9, 11)
        if n < 2:
            assert torch.allclose(together[:, n], alone[:, 0], atol=1e-5)
    assert torch.equal(together[1, 2], torch.zeros(9, 11))


def test_many_boxes_are_cropped_as_each_box_alone():
    torch.manual_seed(0)
    features = torch.rand(2, 4, 14, 14)
    boxes = torch.tensor(
        [[[2.0, 3.0, 6.0, 8.0], [7.5, 1.0, 12.0, 5.5]], [[0, 0, 4, 4], [9, 9, 13, 14]]]
    )
    together = crop_template(features, boxes, 5, cell_centre=0.35)
    assert together.shape == (2, 2, 4, 5, 5)
    for n in range(2):
        alone = crop_template(features, boxes[:, n], 5, cell_centre=0.35)
        assert torch.allclose(together[:, n], alone, atol=1e-6)


def _cut(size: int):
    """A template cut of ``size`` cells, the box and a cell of margin, cells centred at j + ½."""
    return functools.partial(crop_template, size=size, cell_centre=0.5)


def _ncc_map(peaks: dict[tuple[int, int], float]) -> torch.Tensor:
    """A (1, 1, 14, 14) map, low everywhere but at the given (row, column) peaks."""
    ncc = torch.full((1, 1, 14, 14), -0.1)
    for (row, column), value in peaks.items():
        ncc[0, 0, row, column] = value
    return ncc


def test_a_lookalike_is_a_strong_peak_away_from_the_target():
    target = torch.tensor([[5.0, 5.0, 9.0, 9.0]])  # 4×4 cells centred on (7, 7)
    ncc = _ncc_map(
        {
            (7, 7): 0.9,  # the target itself
            (7, 9): 0.8,  # beside the target: within 3/4 of its size, not a lookalike
            (2, 12): 0.6,  # far and strong: the lookalike
            (12, 1): 0.25,  # far but weak
        }
    )
    boxes, found = lookalike_boxes(ncc, target, threshold=0.3, count=2, cell_centre=0.5)
    assert found.tolist() == [[True, False]]
    # centred on the peak's cell centre (12.5, 2.5), the target's size
    assert torch.allclose(boxes[0, 0], torch.tensor([10.5, 0.5, 14.5, 4.5]))


def test_the_memory_keeps_the_newest_lookalikes_and_fills_from_the_front():
    memory = DistractorMemory(slots=3, weight=0.5, threshold=0.3, cut=_cut(3), cell_centre=0.5)
    features = torch.rand(1, 4, 14, 14)
    target = torch.tensor([[5.0, 5.0, 9.0, 9.0]])
    templates, present = memory.empty(torch.zeros(1, 4, 3, 3))
    assert templates.shape == (1, 3, 4, 3, 3) and present.tolist() == [[0, 0, 0]]
    history = []
    for column in (1, 12, 2):  # one lookalike a frame, each somewhere else
        ncc = _ncc_map({(7, 7): 0.9, (1, column): 0.7})
        templates, present = memory.remember(features, ncc, target, templates, present)
        history.append(crop_template(features, lookalike_boxes(ncc, target, 0.3, 1, 0.5)[0], 3))
        expected = history[::-1][:3]
        assert present[0].tolist() == [1.0] * len(expected) + [0.0] * (3 - len(expected))
        for slot, crop in enumerate(expected):
            assert torch.allclose(templates[0, slot], crop[0, 0])
    ncc = _ncc_map({(7, 7): 0.9, (1, 4): 0.7})  # a fourth pushes the oldest out
    templates, present = memory.remember(features, ncc, target, templates, present)
    assert present[0].tolist() == [1.0, 1.0, 1.0]
    assert torch.allclose(templates[0, 1], history[2][0, 0])
    assert torch.allclose(templates[0, 2], history[1][0, 0])
    ncc = _ncc_map({(7, 7): 0.9})  # a frame without lookalikes changes nothing
    same, same_present = memory.remember(features, ncc, target, templates, present)
    assert torch.equal(same, templates) and torch.equal(same_present, present)


@pytest.mark.parametrize("margin", [0.0, 1.0])
def test_a_lookalike_is_cut_out_as_the_target_template_is(margin):
    # The model's memory cuts a lookalike with the target's template cut: the same size and
    # margin of background, so the two are compared like for like.
    config = untrained_correlation_config(distractors=2, template_size=5, template_margin=margin)
    memory = build_hart(config).distractors
    features = torch.rand(1, 4, 14, 14)
    target = torch.tensor([[5.0, 5.0, 9.0, 9.0]])
    ncc = _ncc_map({(7, 7): 0.9, (2, 12): 0.6})
    templates, present = memory.remember(
        features, ncc, target, *memory.empty(torch.zeros(1, 4, 5, 5))
    )
    centre = memory.cell_centre  # the trunk's
    boxes = lookalike_boxes(ncc, target, config.distractor_threshold, 1, centre)[0]
    expected = crop_template(features, boxes, 5, cell_centre=centre, margin=margin)[0, 0]
    assert present[0].tolist() == [1.0, 0.0]
    assert torch.allclose(templates[0, 0], expected, atol=1e-6)


def test_the_suppression_lowers_the_lookalike_more_than_the_target():
    # Two patches side by side: the target and a lookalike that is 60% the target. Matched
    # against the target's template both score high; less the lookalike's match, the lookalike
    # falls further below the target.
    features = features_with_a_lookalike(0.6, 0.4)
    memory = DistractorMemory(slots=2, weight=0.5, threshold=0.3, cut=_cut(5), cell_centre=0.5)
    box = torch.tensor([[2.0, 5.0, 5.0, 8.0]])  # the target's middle 3×3 cells
    template = crop_template(features, box, 5)  # the box and a cell of margin, as the matcher's
    ncc = normalised_cross_correlation(features, template)
    templates, present = memory.remember(features, ncc, box, *memory.empty(template))
    assert present[0, 0] == 1.0  # the lookalike, the strongest peak away from the target
    matched = ncc - memory.suppression(features, templates, present)
    before = ncc[0, 0, 6, 3] - ncc[0, 0, 6, 10]
    after = matched[0, 0, 6, 3] - matched[0, 0, 6, 10]
    # The margin grows by about weight · (1 − the lookalike's match at the target), 0.1 here.
    assert ncc[0, 0, 6, 10] > 0.5 and after > before + 0.05


@pytest.mark.parametrize(
    "args", [(0, 0.5, 0.3), (4, -0.1, 0.3), (4, 0.5, 1.5)], ids=["no-slots", "weight", "threshold"]
)
def test_a_memory_that_cannot_work_is_refused(args):
    with pytest.raises(ValueError, match="distractor"):
        DistractorMemory(*args, cut=_cut(3), cell_centre=0.5)


def test_a_distractor_memory_needs_the_correlation_attention():
    with pytest.raises(ValueError, match="distractor memory"):
        build_hart(HARTConfig(distractors=4))


def _tracker_with_memory(**changes) -> HART:
    """An untrained correlation tracker on a random trunk (seed 0), a 3-cell template and a
    memory of lookalikes (``changes`` to :func:`untrained_correlation_config`)."""
    torch.manual_seed(0)
    config = untrained_correlation_config(
        feature_weights=None, glimpse_gradient=False, template_size=3, **changes
    )
    return build_hart(config)


def test_a_tracker_with_a_memory_streams_exactly_as_it_unrolls_and_trains():
    model = _tracker_with_memory(
        glimpse_size=(96, 96),  # 12×12 cells: room for peaks away from the target
        distractors=3,
        distractor_threshold=-1.0,  # every far peak is remembered
    )
    frames = torch.rand(2, 4, 3, 72, 96)
    box0 = torch.tensor([[20.0, 16.0, 24.0, 30.0], [50.0, 30.0, 20.0, 16.0]])
    state = check_streams_as_unrolled_and_trains(model, frames, box0)
    assert state.distractors.shape == (2, 3, model.features.out_channels, 3, 3)
    assert state.distractor_present.sum() > 0


def test_the_first_frame_fills_the_memory_once():
    # A target with a copy of itself on either side. init_state starts with an empty memory;
    # the first frame's step remembers the two copies, once (collecting them in init_state too
    # filled all four slots with the same two).
    model = _tracker_with_memory(glimpse_size=(112, 112), distractors=4).eval()
    frame = torch.rand(1, 3, 96, 96) * 0.1
    patch = torch.rand(3, 16, 16)
    for left in (24, 40, 56):  # the target in the middle, its copies one box to either side
        frame[0, :, 40:56, left : left + 16] = patch
    box0 = torch.tensor([[40.0, 40.0, 16.0, 16.0]])
    with torch.no_grad():
        state = model.init_state(frame, box0)
        assert state.distractor_present.tolist() == [[0.0] * 4]
        _, state = model.start(frame, box0)
    assert state.distractor_present.tolist() == [[1.0, 1.0, 0.0, 0.0]]

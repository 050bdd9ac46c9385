"""hart.tracking: loading checkpoints, and streaming init/update equal to the unrolled model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hart.errors import InputError
from hart.model.hart import HARTConfig, build_hart
from hart.tracking import Tracker, export_model, load_model

SMALL = HARTConfig(glimpse_size=(32, 32), lstm_size=32, core_size=64, readout_size=32)


@pytest.fixture
def checkpoint(tmp_path):
    """A checkpoint laid out as ``hart train`` writes one (Lightning's keys), random weights."""
    model = build_hart(SMALL)
    path = tmp_path / "run.ckpt"
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    config = {**SMALL.__dict__, "glimpse_size": list(SMALL.glimpse_size)}
    torch.save({"state_dict": state, "hyper_parameters": {"config": config}, "epoch": 3}, path)
    return path


def _frames(count=6, height=72, width=96):
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    frames = []
    for t in range(count):
        frame = background.copy()
        frame[20:40, 10 + 3 * t : 30 + 3 * t] = (40, 200, 90)  # a green square moving right
        frames.append(frame)
    return frames


def test_streaming_update_gives_the_boxes_of_the_unrolled_model(checkpoint):
    tracker = Tracker.from_checkpoint(checkpoint)
    frames = _frames()
    box = np.array([10, 20, 20, 20], np.float32)
    tracker.init(frames[0], box)
    streamed = [tracker.update(frame) for frame in frames[1:]]

    rgb = torch.stack([torch.from_numpy(f[..., ::-1].copy()).permute(2, 0, 1) for f in frames])
    with torch.no_grad():
        unrolled = tracker.model(rgb[None].float() / 255, torch.from_numpy(box)[None]).boxes[0]
    np.testing.assert_allclose(np.stack(streamed), unrolled[1:].numpy(), atol=1e-4)
    assert tracker.glimpse.shape == (32, 32, 3) and tracker.glimpse.dtype == np.uint8
    assert tracker.object_mask.shape == (8, 8)
    assert (0 <= tracker.object_mask).all() and (tracker.object_mask <= 1).all()
    assert tracker.attention_box.shape == (4,) and np.isfinite(tracker.attention_box).all()


def test_export_keeps_the_boxes_and_shrinks_the_file(checkpoint, tmp_path):
    exported = export_model(checkpoint, tmp_path / "model" / "hart.ckpt")
    assert exported.stat().st_size < 0.6 * checkpoint.stat().st_size
    frames = _frames()
    trackers = [Tracker.from_checkpoint(path) for path in (checkpoint, exported)]
    boxes = []
    for tracker in trackers:
        tracker.init(frames[0], [10, 20, 20, 20])
        boxes.append(np.stack([tracker.update(frame) for frame in frames[1:]]))
    np.testing.assert_allclose(boxes[0], boxes[1], atol=0.5)  # float16 weights: sub-pixel change


@pytest.mark.parametrize(
    "box, message",
    [
        ([10, 20, 0, 20], "positive width and height"),
        ([200, 20, 10, 10], "outside the 96×72 frame"),
        ([np.nan, 20, 10, 10], "4 finite numbers"),
    ],
)
def test_a_bad_first_box_is_an_input_error(checkpoint, box, message):
    tracker = Tracker.from_checkpoint(checkpoint)
    with pytest.raises(InputError, match=message):
        tracker.init(_frames(1)[0], box)


def test_update_before_init_is_a_programming_error(checkpoint):
    with pytest.raises(RuntimeError, match="init"):
        Tracker.from_checkpoint(checkpoint).update(_frames(1)[0])


def test_files_that_are_not_checkpoints_are_input_errors(tmp_path):
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(InputError, match="garbage.ckpt is not a hart checkpoint"):
        load_model(garbage)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(InputError, match="no model config"):
        load_model(foreign)
    with pytest.raises(InputError, match="does not exist"):
        load_model(tmp_path / "missing.ckpt")


def test_a_checkpoint_whose_weights_do_not_fit_its_config_is_an_input_error(checkpoint, tmp_path):
    data = torch.load(checkpoint, weights_only=True)
    data["hyper_parameters"]["config"]["lstm_size"] = 48
    wrong = tmp_path / "wrong.ckpt"
    torch.save(data, wrong)
    with pytest.raises(InputError, match="does not match"):
        load_model(wrong)


def test_the_shipped_default_model_loads_and_follows_a_real_sequence(shared_sequences):
    import cv2

    from hart.datasets import load_sequences

    tracker = Tracker.from_checkpoint()  # checkpoints/default/hart.ckpt, shipped with hart
    (crossing,) = load_sequences(shared_sequences / "OTB" / "Crossing")
    tracker.init(cv2.imread(str(crossing.frames[0])), crossing.boxes[0])
    boxes = np.stack([tracker.update(cv2.imread(str(path))) for path in crossing.frames[1:8]])
    assert boxes.shape == (7, 4) and np.isfinite(boxes).all()
    assert (boxes[:, 2:] > 0).all()

"""hart.tracking.Tracker: streaming init/update equal to the unrolled model, on the model files
hart.model.checkpoint reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hart.errors import InputError
from hart.model.checkpoint import export_model
from hart.tracking import Tracker


def _frames(count=6, height=72, width=96):
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    frames = []
    for t in range(count):
        frame = background.copy()
        frame[20:40, 10 + 3 * t : 30 + 3 * t] = (40, 200, 90)  # a green square moving right
        frames.append(frame)
    return frames


def test_streaming_update_gives_the_boxes_of_the_unrolled_model(small_checkpoint):
    tracker = Tracker.from_checkpoint(small_checkpoint)
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


def _small_box_anchored_checkpoint(folder: Path) -> Path:
    """A small network of random weights that moves on from its last box, as the shipped
    model does (``anchor="box"``; the ``small_checkpoint`` fixture's moves its attention)."""
    from hart.model.hart import HARTConfig, build_hart

    config = HARTConfig(
        glimpse_size=(32, 32), lstm_size=32, core_size=64, readout_size=32, anchor="box"
    )
    state = {f"model.{k}": v for k, v in build_hart(config).state_dict().items()}
    hyper = {"config": {**config.__dict__, "glimpse_size": list(config.glimpse_size)}}
    torch.save({"state_dict": state, "hyper_parameters": hyper}, folder / "anchored.ckpt")
    return folder / "anchored.ckpt"


def test_writing_into_what_the_tracker_shows_does_not_change_its_tracking(tmp_path):
    # tracker.box was a view of the state's box, which the next step moves from: a caller
    # shifting it in place (to draw it) moved the tracker's next glimpse without a word.
    torch.manual_seed(0)
    checkpoint = _small_box_anchored_checkpoint(tmp_path)
    frames = _frames()
    undisturbed, disturbed = (Tracker.from_checkpoint(checkpoint) for _ in range(2))
    for tracker in (undisturbed, disturbed):
        tracker.init(frames[0], [10, 20, 20, 20])
        tracker.update(frames[1])
    disturbed.box += 15
    for shown in (disturbed.attention_box, disturbed.glimpse, disturbed.object_mask):
        shown[...] = 0
    for frame in frames[2:]:
        np.testing.assert_array_equal(disturbed.update(frame), undisturbed.update(frame))


def test_export_keeps_the_boxes_and_shrinks_the_file(small_checkpoint, tmp_path):
    exported = export_model(small_checkpoint, tmp_path / "hart.ckpt")
    assert exported.stat().st_size < 0.6 * small_checkpoint.stat().st_size
    frames = _frames()
    trackers = [Tracker.from_checkpoint(path) for path in (small_checkpoint, exported)]
    boxes = []
    for tracker in trackers:
        tracker.init(frames[0], [10, 20, 20, 20])
        boxes.append(np.stack([tracker.update(frame) for frame in frames[1:]]))
    np.testing.assert_allclose(boxes[0], boxes[1], atol=0.5)  # float16 weights: sub-pixel change


def test_a_checkpoint_path_may_start_at_the_home_folder(small_checkpoint, monkeypatch):
    # As load_sequences("~/data") and $HART_DEFAULT_MODEL read it; pathlib leaves "~" alone.
    monkeypatch.setenv("HOME", str(small_checkpoint.parent))
    for path in ("~/run.ckpt", Path("~") / "run.ckpt"):
        tracker = Tracker.from_checkpoint(path)
        tracker.init(_frames(1)[0], [10, 20, 20, 20])
    with pytest.raises(InputError, match=f"checkpoint {small_checkpoint.parent}/missing.ckpt "):
        Tracker.from_checkpoint("~/missing.ckpt")


def test_an_empty_checkpoint_path_is_refused_without_searching_the_current_folder(
    tmp_path, monkeypatch
):
    # Path("") is ".": the error searched the whole current folder for *.ckpt files to suggest
    # (a home folder, from a notebook) and then named ".", not the empty path given.
    monkeypatch.chdir(tmp_path)
    searched = []
    monkeypatch.setattr(Path, "rglob", lambda self, pattern: searched.append(self) or iter(()))
    for empty in ("", " "):
        with pytest.raises(InputError, match="checkpoint path is empty"):
            Tracker.from_checkpoint(empty)
    assert searched == []


@pytest.mark.parametrize(
    "box, message",
    [
        ([10, 20, 0, 20], "both must be > 0"),
        ([200, 20, 10, 10], "outside the 96×72 frame"),
        ([np.nan, 20, 10, 10], "4 finite numbers"),
        ("10,20,10,10", "4 finite numbers"),  # a string: parse_box reads those
        ({"x": 10}, "4 finite numbers"),
    ],
)
def test_a_bad_first_box_is_an_input_error(small_checkpoint, box, message):
    tracker = Tracker.from_checkpoint(small_checkpoint)
    with pytest.raises(InputError, match=message):
        tracker.init(_frames(1)[0], box)


def test_update_before_init_is_a_programming_error(small_checkpoint):
    with pytest.raises(RuntimeError, match="init"):
        Tracker.from_checkpoint(small_checkpoint).update(_frames(1)[0])


def test_a_refused_init_keeps_the_target_being_tracked(small_checkpoint):
    # cv2.selectROI gives (0, 0, 0, 0) when the user cancels: an application that catches the
    # InputError and goes on calling update() must still track the old target, not be told to
    # call init (as when init dropped the old state before checking its arguments).
    frames = _frames()
    box = [10, 20, 20, 20]
    undisturbed, disturbed = (Tracker.from_checkpoint(small_checkpoint) for _ in range(2))
    for tracker in (undisturbed, disturbed):
        tracker.init(frames[0], box)
        tracker.update(frames[1])
    with pytest.raises(InputError, match="both must be > 0"):
        disturbed.init(frames[2], (0, 0, 0, 0))
    with pytest.raises(InputError, match="got NoneType"):
        disturbed.init(None, box)
    with pytest.raises(InputError, match="shape"):
        disturbed.init(frames[2][..., 0], box)
    for frame in frames[2:]:
        np.testing.assert_array_equal(disturbed.update(frame), undisturbed.update(frame))


def test_frames_that_are_not_what_opencv_reads_are_refused_saying_what_is_expected(
    small_checkpoint,
):
    tracker = Tracker.from_checkpoint(small_checkpoint)
    frames = _frames(2)
    box = [10, 20, 20, 20]
    # A float frame in [0, 1] looks like a dark uint8 one: scaling it silently gives wrong boxes.
    with pytest.raises(InputError, match=r"must be uint8 .* got float32; .*\* 255"):
        tracker.init(frames[0].astype(np.float32) / 255, box)
    with pytest.raises(InputError, match="numpy array .* got NoneType — did reading"):
        tracker.init(None, box)
    with pytest.raises(InputError, match=r"shape \(H, W, 3\), got \(72, 96\)"):
        tracker.init(frames[0][..., 0], box)
    with pytest.raises(InputError, match=r"shape \(H, W, 3\), got \(0, 96, 3\)"):
        tracker.init(frames[0][:0], box)
    tracker.init(frames[0], box)
    with pytest.raises(InputError, match="must be uint8"):
        tracker.update(frames[1].astype(np.float64))
    with pytest.raises(
        InputError, match=r"this frame is 48×36 but the first frame \(init\) was 96×72"
    ):
        tracker.update(frames[1][::2, ::2])
    assert np.isfinite(tracker.update(frames[1])).all()  # the refusals changed nothing
    tracker.init(frames[0][::2, ::2], box)  # a new init may start another video, another size
    tracker.update(frames[1][::2, ::2])


def test_the_shipped_default_model_tracks_a_real_sequence_above_a_floor(shared_sequences):
    import cv2

    from hart.datasets import load_sequences
    from hart.evaluation.metrics import frame_overlaps, success_auc

    tracker = Tracker.from_checkpoint()  # hart/model/default/hart.ckpt, shipped with hart
    (crossing,) = load_sequences(shared_sequences / "OTB" / "Crossing")
    tracker.init(cv2.imread(str(crossing.frames[0])), crossing.boxes[0])
    boxes = [crossing.boxes[0]]
    boxes += [tracker.update(cv2.imread(str(path))) for path in crossing.frames[1:]]
    overlaps = frame_overlaps(np.stack(boxes), crossing.boxes, crossing.visible)
    still = np.repeat(crossing.boxes[:1], len(boxes), 0)
    static = frame_overlaps(still, crossing.boxes, crossing.visible)
    # Measured 0.365 when the model was shipped, 0.362 with the trunk's cell centre calibrated,
    # 0.556 with the memory of lookalikes, 0.636 with the online classifier, 0.667 with the
    # sub-cell peak, 0.697 with less background in the template, 0.685 with the glimpse led by
    # the box's motion and the trunk's ImageNet statistics kept (OpenCV's CSRT: 0.769, a box
    # that never moves: 0.033);
    # the floor leaves room for other CPUs' float rounding, not for a lost target.
    assert success_auc(overlaps) >= 0.30, success_auc(overlaps)
    assert success_auc(static) < 0.05


def test_the_shipped_model_holds_still_on_a_still_frame(shared_sequences):
    # Fed the same real frame again and again, the box must stay where it was given. With the
    # trunk's cells placed at their receptive fields' centres (j + 1/16) it slid 0.09 of the
    # box down and right here; with the calibrated centre it stays within a few percent (0.35
    # until the 5x5 template, with which bag's box crept 0.062 of its width; 0.45 since: 0.04).
    import cv2

    from hart.datasets import load_sequences

    tracker = Tracker.from_checkpoint()
    for name in ("OTB/Crossing", "VOT/bag"):
        (sequence,) = load_sequences(shared_sequences / name)
        frame, box = cv2.imread(str(sequence.frames[0])), sequence.boxes[0]
        tracker.init(frame, box)
        for _ in range(20):
            moved = tracker.update(frame)
        drift = (moved[:2] + moved[2:] / 2) - (box[:2] + box[2:] / 2)
        assert (np.abs(drift) < 0.06 * box[2:]).all(), (name, drift / box[2:])

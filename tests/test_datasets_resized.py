"""Frames resized once and kept on disk: the same clips, written once, used by the data module."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from hart.datasets import SequenceClips, load_sequences
from hart.datasets.resized import read_resized, resized_sequences
from hart.datasets.writers import write_got10k_sequence
from hart.errors import InputError
from hart.training.datamodule import HARTDataModule

SOURCE = (180, 240)  # (H, W) of the written frames
TRAINING = (60, 80)  # the training size: a third of each side


def smooth_frames(count: int) -> list[np.ndarray]:
    """Frames JPEG keeps well: slow gradients that move with the frame number."""
    yy, xx = np.mgrid[0 : SOURCE[0], 0 : SOURCE[1]].astype(np.float32)
    frames = []
    for t in range(count):
        channels = [128 + 100 * np.sin((xx + 7 * t) / 37 + c) * np.cos(yy / 29) for c in range(3)]
        frames.append(np.stack(channels, -1).clip(0, 255).astype(np.uint8))
    return frames


def write_layout(root: Path, sequences: int = 2, count: int = 12) -> Path:
    names = []
    for index in range(sequences):
        name = f"GOT-10k_Train_{index + 1:06d}"
        boxes = [np.array([30.0 + 3 * t + index, 40.0, 60.0, 45.0]) for t in range(count)]
        items = zip(smooth_frames(count), boxes, [True] * count, strict=True)
        write_got10k_sequence(root / "train" / name, items)
        names.append(name)
    (root / "train" / "list.txt").write_text("\n".join(names) + "\n")
    return root


def test_resized_frames_give_the_same_clips_and_are_written_once(tmp_path):
    sequences = load_sequences(write_layout(tmp_path / "got10k"))
    cache = tmp_path / "resized"
    resized = resized_sequences(sequences, TRAINING, cache)
    assert [s.name for s in resized] == [s.name for s in sequences]
    for original, small in zip(sequences, resized, strict=True):
        assert len(small) == len(original)
        assert all(Path(path).is_relative_to(cache) for path in small.frames)
        assert cv2.imread(str(small.frames[0])).shape == (*TRAINING, 3)
        np.testing.assert_allclose(small.boxes, original.boxes / 3, rtol=1e-6)
    # Read back, not written again.
    stamps = [path.stat().st_mtime_ns for path in resized[0].frames]
    again = resized_sequences(sequences, TRAINING, cache)
    assert [path.stat().st_mtime_ns for path in again[0].frames] == stamps
    assert not [path for path in cache.rglob("*") if ".partial" in path.name]
    # The clips: the same boxes exactly, the same frames up to one more JPEG encoding.
    options = {"clip_length": 5, "frame_size": TRAINING, "seed": 3, "clips_per_epoch": 4}
    clips, cached_clips = SequenceClips(sequences, **options), SequenceClips(resized, **options)
    for index in range(len(clips)):
        item, cached = clips[index], cached_clips[index]
        torch.testing.assert_close(cached["boxes"], item["boxes"])
        assert torch.equal(cached["visible"], item["visible"])
        difference = cached["frames"].float() - item["frames"].float()  # uint8 RGB
        assert difference.abs().mean() < 2


def test_the_data_module_writes_the_cache_before_setup(tmp_path):
    root = write_layout(tmp_path / "got10k", sequences=4)
    cache = tmp_path / "resized"
    data = HARTDataModule(
        root=str(root),
        frame_size=TRAINING,
        clip_length=3,
        val_clip_length=3,
        num_workers=0,
        val_fraction=0.5,
        resized_cache=str(cache),
    )
    data.prepare_data()  # once per machine, before every process' setup
    written = sorted(cache.rglob("*.jpg"))
    assert len(written) == 4 * 12
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    assert batch["frames"].shape[-2:] == TRAINING
    used = {Path(path) for s in data.train_clips.sequences for path in s.frames}
    assert used <= set(written)


@pytest.mark.parametrize(("suffix", "source"), [(".jpg", (721, 1283)), (".png", (720, 1280))])
def test_a_frame_read_small_keeps_its_pixels_under_the_scaled_boxes(tmp_path, suffix, source):
    # A frame whose size 1/8 does not divide (libjpeg decoded 91 rows for 90.1, which the resize
    # stretched: 0.76 px off), and a PNG (shrunk 1/8 bilinearly by OpenCV: 0.25 px off).
    height, width = source
    image = np.zeros((height, width, 3), np.uint8)
    box = np.array([width - 203, height - 151, 163, 122])  # x, y, w, h near the far corner
    image[box[1] : box[1] + box[3], box[0] : box[0] + box[2]] = 255
    path = tmp_path / f"frame{suffix}"
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 100])
    size = (90, 160)
    grey = read_resized(path, size, source)[..., 0] / 255.0  # (90, 160)
    rows, cols = np.mgrid[: size[0], : size[1]] + 0.5  # pixel centres
    centre = np.array([(cols * grey).sum(), (rows * grey).sum()]) / grey.sum()
    scale = np.array([size[1] / width, size[0] / height])
    np.testing.assert_allclose(centre, (box[:2] + box[2:] / 2) * scale, atol=0.1)


def test_a_frame_of_another_size_is_an_error_naming_it_not_a_stretched_frame(tmp_path):
    # Boxes are scaled by a sequence's first frame; a frame of another size was stretched to
    # the clip's size and its box, scaled for the first frame's, landed off the target.
    sequences = load_sequences(write_layout(tmp_path / "got10k", sequences=1, count=6))
    odd = sequences[0].frames[3]
    cv2.imwrite(str(odd), cv2.resize(cv2.imread(str(odd)), (SOURCE[1] // 2, SOURCE[0])))
    expected = (
        f"{odd} is {SOURCE[1] // 2}x{SOURCE[0]} but its sequence's first frame is "
        f"{SOURCE[1]}x{SOURCE[0]}: a sequence's frames must share one size"
    )
    with pytest.raises(InputError) as caught:
        resized_sequences(sequences, TRAINING, tmp_path / "resized")
    assert str(caught.value) == expected
    assert not (tmp_path / "resized").exists() or not any((tmp_path / "resized").rglob("*.jpg"))
    clips = SequenceClips(sequences, clip_length=6, frame_size=TRAINING, seed=0, clips_per_epoch=1)
    with pytest.raises(InputError) as caught:
        clips[0]
    assert str(caught.value) == expected


def test_boxes_mostly_outside_their_frames_are_one_error_before_any_frame_is_written(tmp_path):
    # A box file in the pixels of a video's original, beside a downscaled copy: every clip
    # trained on background at IoU 0, in silence.
    sequences = load_sequences(write_layout(tmp_path / "got10k", sequences=1, count=6))
    sequence = sequences[0]
    sequence.boxes[:, :2] += 1000.0  # beyond the 240x180 frames
    expected = (
        f"sequence {sequence.name!r}: 6 of its 6 boxes lie wholly outside its 240x180 frames; "
        "are they in another size's pixels?"
    )
    with pytest.raises(InputError) as caught:
        resized_sequences(sequences, TRAINING, tmp_path / "resized")
    assert str(caught.value) == expected
    assert not list((tmp_path / "resized").rglob("*.jpg"))
    clips = SequenceClips(sequences, clip_length=3, frame_size=TRAINING, seed=0, clips_per_epoch=1)
    with pytest.raises(InputError) as caught:
        clips[0]
    assert str(caught.value) == expected
    # A few strays at the edge, as real annotations have, are left alone.
    sequence.boxes[:, :2] -= 1000.0
    sequence.boxes[:2, 0] = -70.0  # wholly left of the frame in 2 frames of 6
    assert len(resized_sequences(sequences, TRAINING, tmp_path / "resized")) == 1

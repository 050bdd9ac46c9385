"""Clip sampling: format, augmentations, the first-frame rule, seeding, T changes in workers."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from hart.datasets import Sequence, SequenceClips, SyntheticClips, load_sequences
from hart.errors import InputError

SIZE = (48, 96)


def _frame_files(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        image = rng.integers(0, 255, (30, 40, 3), np.uint8)
        image[:, :, 0] = (i * 20) % 256  # blue channel marks the frame number
        cv2.imwrite(str(folder / f"{i:03d}.png"), image)
        paths.append(folder / f"{i:03d}.png")
    return paths


def _sequence(tmp_path: Path, visible: list[bool]) -> Sequence:
    n = len(visible)
    boxes = np.array([[1 + i, 2, 10, 12] for i in range(n)], np.float32)
    boxes[~np.array(visible)] = np.nan
    return Sequence("toy", _frame_files(tmp_path / "toy", n), boxes, np.array(visible))


def test_item_format_rgb_and_scaled_boxes(shared_sequences):
    (crossing,) = load_sequences(shared_sequences / "OTB" / "Crossing")
    clips = SequenceClips(
        [crossing],
        clip_length=len(crossing),
        frame_size=SIZE,
        reverse_probability=0,
        mirror_probability=0,
    )
    item = clips[0]
    assert item["frames"].shape == (120, 3, *SIZE) and item["frames"].dtype == torch.uint8
    assert item["boxes"].shape == (120, 4) and item["boxes"].dtype == torch.float32
    assert item["visible"].shape == (120,) and item["visible"].dtype == torch.bool
    bgr = cv2.imread(str(crossing.frames[7]))  # 360×240
    expected = cv2.resize(bgr, SIZE[::-1], interpolation=cv2.INTER_AREA)[..., ::-1]
    got = item["frames"][7].permute(1, 2, 0).numpy()
    assert np.abs(got.astype(int) - expected).mean() < 5  # RGB order; the decoder may reduce
    scale = np.array([SIZE[1] / 360, SIZE[0] / 240] * 2)
    np.testing.assert_allclose(item["boxes"].numpy(), crossing.boxes * scale, rtol=1e-5)


def test_mirror_flips_frames_and_boxes(tmp_path):
    sequence = _sequence(tmp_path, [True] * 6)
    plain = SequenceClips([sequence], 4, SIZE, seed=3, mirror_probability=0)
    mirrored = SequenceClips([sequence], 4, SIZE, seed=3, mirror_probability=1)
    for index in range(4):
        a, b = plain[index], mirrored[index]
        torch.testing.assert_close(b["frames"], a["frames"].flip(-1))
        expected = a["boxes"].clone()
        expected[:, 0] = SIZE[1] - a["boxes"][:, 0] - a["boxes"][:, 2]
        torch.testing.assert_close(b["boxes"], expected)


def test_reversed_clips_start_where_the_target_is_visible(tmp_path):
    # Visible only from frame 3: no forward window of 4 starts visible, every reversed one does.
    sequence = _sequence(tmp_path, [False, False, False, True, True, True])
    clips = SequenceClips([sequence], 4, SIZE, reverse_probability=0.0, mirror_probability=0)
    for index in range(6):
        item = clips[index]
        assert item["visible"][0]
        # Played backwards: the blue channel (frame number × 20) decreases along the clip.
        blue = item["frames"][:, 2].float().mean(dim=(1, 2))
        assert (blue[1:] < blue[:-1]).all()
        assert torch.isnan(item["boxes"][~item["visible"]]).all()


def test_first_frame_always_shows_the_target(tmp_path):
    rng = np.random.default_rng(1)
    visible = list(rng.random(30) < 0.5)
    visible[5] = True
    clips = SequenceClips([_sequence(tmp_path, visible)], 5, SIZE, clips_per_epoch=60)
    for index in range(60):
        item = clips[index]
        assert item["visible"][0] and torch.isfinite(item["boxes"][0]).all()


def test_no_clip_fits_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no clip of 8 frames fits"):
        SequenceClips([_sequence(tmp_path, [True] * 5)], clip_length=8, frame_size=SIZE)


def test_the_longest_clip_runs_from_a_frame_that_shows_the_target(tmp_path):
    # Forward from frame 2 to the end: 6 frames; backwards from frame 4 to the start: 5.
    clips = SequenceClips(
        [_sequence(tmp_path, [False, False, True, False, True, False, False, False])],
        clip_length=2,
        frame_size=SIZE,
    )
    assert clips.longest_clip() == 6 and clips.fits(6) and not clips.fits(7)
    with pytest.raises(InputError, match="no clip of 7 frames fits: .* gives 6 "):
        clips.windows(7)


def test_a_target_absent_throughout_says_so_rather_than_quoting_the_length(tmp_path):
    with pytest.raises(InputError, match="the target is absent from every frame"):
        SequenceClips([_sequence(tmp_path, [False] * 8)], clip_length=2, frame_size=SIZE)


def test_a_frame_skip_that_fits_no_sequence_is_worked_out_once(tmp_path, monkeypatch):
    from hart.datasets.augment import Augmentation

    # Clips of 2 frames from 4: skips 1-3 fit, 4 and 5 (spans of 5 and 6 frames) fit nothing.
    skipping = Augmentation(max_frame_skip=5)
    clips = SequenceClips(
        [_sequence(tmp_path, [True] * 4)], clip_length=2, frame_size=SIZE, augmentation=skipping
    )
    counted = []
    count_windows = SequenceClips._count_windows

    def counting(self, length):
        counted.append(length)
        return count_windows(self, length)

    monkeypatch.setattr(SequenceClips, "_count_windows", counting)
    for index in range(30):
        assert len(clips[index]["frames"]) == 2  # a skip that fits nothing falls back to 1
    assert {5, 6} <= set(counted)  # the seed draws both long skips…
    assert len(counted) == len(set(counted))  # …and each span is counted once


def test_seeded_and_the_same_with_workers(tmp_path):
    sequence = _sequence(tmp_path, [True] * 20)
    clips = SequenceClips([sequence], 5, SIZE, seed=11, clips_per_epoch=8)
    again = SequenceClips([sequence], 5, SIZE, seed=11, clips_per_epoch=8)
    other = SequenceClips([sequence], 5, SIZE, seed=12, clips_per_epoch=8)
    torch.testing.assert_close(clips[3], again[3])
    assert any(not torch.equal(clips[i]["boxes"], other[i]["boxes"]) for i in range(8))
    serial = list(DataLoader(clips, batch_size=4, num_workers=0))
    parallel = list(DataLoader(clips, batch_size=4, num_workers=2))
    for a, b in zip(serial, parallel, strict=True):
        torch.testing.assert_close(a, b)
    before = [clips[i]["boxes"] for i in range(8)]
    clips.set_epoch(1)
    assert not all(torch.equal(before[i], clips[i]["boxes"]) for i in range(8))


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_clip_length_set_in_main_reaches_persistent_workers(tmp_path, context):
    clips = SequenceClips([_sequence(tmp_path, [True] * 40)], 3, SIZE, clips_per_epoch=16)
    loader = DataLoader(
        clips, batch_size=4, num_workers=2, persistent_workers=True, multiprocessing_context=context
    )
    assert {batch["frames"].shape[1] for batch in loader} == {3}
    clips.clip_length = 7  # between epochs, as the curriculum does
    clips.set_epoch(1)
    lengths = [batch["frames"].shape[1] for batch in loader]
    assert lengths == [7, 7, 7, 7]
    # Mid-epoch: prefetched batches keep the old length, later ones have the new; no batch
    # mixes the two (the default collate would fail on that).
    clips.clips_per_epoch = 48  # 12 batches: more than the 2 × 2 the workers prefetch
    iterator = iter(loader)
    first = next(iterator)["frames"].shape[1]
    clips.clip_length = 4
    rest = [batch["frames"].shape[1] for batch in iterator]
    assert first == 7 and len(rest) == 11 and set(rest) <= {7, 4} and rest[-4:] == [4] * 4


def test_synthetic_clips_format_seed_and_workers():
    clips = SyntheticClips(clips_per_epoch=4, clip_length=3, frame_size=SIZE, seed=5)
    item = clips[2]
    assert item["frames"].shape == (3, 3, *SIZE) and item["frames"].dtype == torch.uint8
    assert item["visible"][0] and item["boxes"].shape == (3, 4)
    torch.testing.assert_close(item, SyntheticClips(4, 3, SIZE, seed=5)[2])
    assert not torch.equal(item["frames"], SyntheticClips(4, 3, SIZE, seed=6)[2]["frames"])
    loader = DataLoader(clips, batch_size=2, num_workers=2, persistent_workers=True)
    batches = list(loader)
    torch.testing.assert_close(batches[1]["frames"][0], item["frames"])
    clips.clip_length = 2
    assert [b["frames"].shape[:2] for b in loader] == [(2, 2), (2, 2)]


def _bright_square_sequence(tmp_path: Path, count: int = 30) -> Sequence:
    """A white 12×10 square moving right over dark noise; boxes on the square."""
    folder = tmp_path / "square"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    paths, boxes = [], []
    for i in range(count):
        image = rng.integers(0, 60, (64, 96, 3), np.uint8)
        x, y = 10 + 2 * i, 20 + i // 2
        image[y : y + 10, x : x + 12] = 255
        paths.append(folder / f"{i:03d}.png")
        cv2.imwrite(str(paths[-1]), image)
        boxes.append([x, y, 12, 10])
    return Sequence("square", paths, np.array(boxes, np.float32), np.ones(count, bool))


def test_augmented_clips_keep_their_boxes_on_the_target(tmp_path):
    from hart.datasets.augment import Augmentation

    strong = Augmentation(
        max_frame_skip=3,
        zoom=0.5,
        shift=0.1,
        brightness=0.1,
        contrast=0.3,
        saturation=0.4,
        grey_probability=0.3,
        blur_probability=0.3,
    )
    sequence = _bright_square_sequence(tmp_path)
    clips = SequenceClips([sequence], clip_length=6, frame_size=(64, 96), augmentation=strong)
    sizes, skips = set(), set()
    for index in range(24):
        item = clips[index]
        frames = item["frames"].float().mean(1)  # (T, H, W) grey
        for frame, box in zip(frames, item["boxes"], strict=True):
            x, y, w, h = box.tolist()
            inside = frame[int(y + h * 0.3) : int(y + h * 0.7), int(x + w * 0.3) : int(x + w * 0.7)]
            assert inside.mean() > frame.mean() + 40, (index, box)  # the square is under it
        sizes.add(round(float(item["boxes"][0, 2]), 1))
        steps = (item["boxes"][1:, 0] - item["boxes"][:-1, 0]).abs() / (item["boxes"][0, 2] / 12)
        skips.add(round(float(steps.mean()) / 2))
    assert len(sizes) > 5  # zoom varies the target's size
    assert skips == {1, 2, 3}  # frame skipping: 2, 4 or 6 px of motion per frame
    again = SequenceClips([sequence], clip_length=6, frame_size=(64, 96), augmentation=strong)
    assert torch.equal(again[5]["frames"], clips[5]["frames"])  # a function of the seed


def _bump_edges(profile: np.ndarray, inside: int) -> tuple[float, float]:
    """Sub-pixel ends ``(start, end)`` of a 0–1 bump in a 1-D profile, ``inside`` being a pixel
    within it: pixel ``i`` covers ``[i, i + 1)`` (as boxes count), so the bump's mass up to
    ``inside`` and beyond it says where each end is."""
    return inside + 1 - profile[: inside + 1].sum(), inside + 1 + profile[inside + 1 :].sum()


@pytest.mark.parametrize(
    "matrix",
    [
        [[2.0, 0.0, -61.3], [0.0, 2.0, -42.8]],  # 2× about (61.3, 42.8), off the pixel grid
        [[3.0, 0.0, -122.6], [0.0, 3.0, -85.6]],  # 3× about the same point
        [[1.0, 0.0, 0.4], [0.0, 1.0, -0.3]],  # a sub-pixel shift alone
    ],
)
def test_zoom_clip_moves_the_box_where_the_pixels_go(matrix):
    from hart.datasets.augment import zoom_clip

    frames = np.zeros((1, 90, 120, 3), np.uint8)
    frames[0, 37:49, 52:70] = 255  # a sharp rectangle: the box 52,37,18,12
    boxes = np.array([[52, 37, 18, 12]], np.float32)
    warped, moved = zoom_clip(frames, boxes, np.array(matrix))
    grey = warped[0, :, :, 0] / 255.0  # (H, W)
    x, y, w, h = moved[0].tolist()
    middle_x, middle_y = int(x + w / 2), int(y + h / 2)
    left, right = _bump_edges(grey[middle_y], middle_x)
    top, bottom = _bump_edges(grey[:, middle_x], middle_y)
    # At whole scales an edge becomes a linear ramp whose two ends fall at the same sub-pixel
    # phase, so the profile's mass measures it to OpenCV's 1/32-px interpolation steps (at 1.5×
    # the sampling alone would err by up to 0.08 px).
    np.testing.assert_allclose([left, top, right - left, bottom - top], moved[0], atol=0.05)

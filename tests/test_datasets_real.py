"""The readers on the real OTB and VOT sequences in ../shared/sequences (skipped without them)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from hart.datasets import detect_layout, load_sequences


def _numbers(path):
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            rows.append([float(v) for v in line.replace(",", " ").replace("\t", " ").split()])
    return np.array(rows)


@pytest.mark.parametrize(
    ("name", "frames", "separator"), [("Crossing", 120, "\t"), ("DragonBaby", 113, ",")]
)
def test_otb_sequences_match_their_ground_truth(shared_sequences, name, frames, separator):
    folder = shared_sequences / "OTB" / name
    (sequence,) = load_sequences(folder)
    assert detect_layout(folder) == "otb"
    assert sequence.name == name
    assert len(sequence) == frames
    assert [p.name for p in sequence.frames[:2]] == ["0001.jpg", "0002.jpg"]
    assert sequence.frames[-1].name == f"{frames:04d}.jpg"
    truth = _numbers(folder / "groundtruth_rect.txt")
    assert separator in (folder / "groundtruth_rect.txt").read_text()
    np.testing.assert_array_equal(sequence.boxes, truth.astype(np.float32))
    assert sequence.visible.all()
    assert sequence.boxes.dtype == np.float32


@pytest.mark.parametrize(("name", "frames"), [("bag", 196), ("ball1", 105)])
def test_vot_sequences_become_axis_aligned_min_max_boxes(shared_sequences, name, frames):
    folder = shared_sequences / "VOT" / name
    (sequence,) = load_sequences(folder)
    assert detect_layout(folder) == "vot"
    assert len(sequence) == frames
    assert sequence.frames[0].name == "00000001.jpg"
    corners = _numbers(folder / "groundtruth.txt")
    assert corners.shape == (frames, 8)
    xs, ys = corners[:, 0::2], corners[:, 1::2]
    expected = np.stack(
        [xs.min(1), ys.min(1), xs.max(1) - xs.min(1), ys.max(1) - ys.min(1)], axis=1
    )
    np.testing.assert_allclose(sequence.boxes, expected, rtol=0, atol=1e-3)
    assert sequence.visible.all()
    # bag's box is rotated: its axis-aligned box is larger than the rotated rectangle.
    if name == "bag":
        side_a = np.hypot(*(corners[0, 2:4] - corners[0, 0:2]))
        side_b = np.hypot(*(corners[0, 4:6] - corners[0, 2:4]))
        assert sequence.boxes[0, 2] * sequence.boxes[0, 3] > side_a * side_b * 1.2


def test_the_shared_folder_reads_as_a_collection_of_layouts(shared_sequences):
    sequences = load_sequences(shared_sequences)
    assert detect_layout(shared_sequences) is None  # not one layout, but its sub-folders are
    by_name = {s.name: s for s in sequences}
    assert set(by_name) == {"Crossing", "DragonBaby", "bag", "ball1"}
    assert {len(s) for s in sequences} == {120, 113, 196, 105}
    assert by_name["bag"].attributes["dataset"] == "vot"
    assert by_name["Crossing"].attributes["dataset"] == "otb"
    assert all(p.is_file() for s in sequences for p in s.frames)


def test_a_benchmark_folder_reads_all_its_sequences(shared_sequences):
    assert [s.name for s in load_sequences(shared_sequences / "OTB", format="otb")] == [
        "Crossing",
        "DragonBaby",
    ]
    assert [s.name for s in load_sequences(shared_sequences / "VOT")] == ["bag", "ball1"]


def _copy_frames(source: list, folder, name, first: int) -> None:
    folder.mkdir(parents=True)
    for number, path in enumerate(source, first):
        shutil.copyfile(path, folder / name.format(number))


def test_a_trimmed_otb_folder_reads_by_its_frame_numbers(shared_sequences, tmp_path):
    # Crossing re-hosted with only frames 31-120 (as David often is, 300-770), its ground
    # truth starting at frame 31.
    crossing = shared_sequences / "OTB" / "Crossing"
    truth = (crossing / "groundtruth_rect.txt").read_text().splitlines()
    frames = sorted((crossing / "img").glob("*.jpg"))
    for tree, kept in (("trimmed", frames[30:]), ("full", frames)):
        folder = tmp_path / tree / "Crossing"
        _copy_frames(kept, folder / "img", "{:04d}.jpg", 121 - len(kept))
        (folder / "groundtruth_rect.txt").write_text("\n".join(truth[30:]) + "\n")
        (sequence,) = load_sequences(folder, start_frames={"Crossing": 31})
        (original,) = load_sequences(crossing)
        assert [p.name for p in sequence.frames] == [p.name for p in original.frames[30:]]
        np.testing.assert_array_equal(sequence.boxes, original.boxes[30:])


@pytest.mark.parametrize("release", ["UAV123_10fps", "UAV123"])
def test_a_uav123_10fps_tree_of_real_frames(shared_sequences, tmp_path, release):
    # Crossing's 120 frames as UAV123_10fps' bird1, whose sub-sequence bird1_1 is frames 1-85
    # there (1-253 at 30 fps): chosen by the path, or by the row count and frames present.
    crossing = shared_sequences / "OTB" / "Crossing"
    (original,) = load_sequences(crossing)
    root = tmp_path / release
    _copy_frames(original.frames, root / "data_seq" / release / "bird1", "{:06d}.jpg", 1)
    rows = [",".join(f"{v:g}" for v in box) for box in original.boxes[:85]]
    annotation = root / "anno" / release / "bird1_1.txt"
    annotation.parent.mkdir(parents=True)
    annotation.write_text("\n".join(rows) + "\n")
    (sequence,) = load_sequences(root)
    assert len(sequence) == 85 and sequence.frames[-1].name == "000085.jpg"
    np.testing.assert_array_equal(sequence.boxes, original.boxes[:85])

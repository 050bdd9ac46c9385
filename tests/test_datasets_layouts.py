"""Every layout on a small tree the test writes; detection; errors that name file and line."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from hart.datasets import detect_layout, load_sequences, split_in_time
from hart.datasets.layouts import LAYOUTS
from hart.datasets.video import read_box_file
from hart.errors import InputError

NAN = float("nan")


def _frames(folder: Path, count: int, name="{:04d}.jpg", start: int = 1, size=(12, 16)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        image = np.full((*size, 3), (i * 7) % 256, np.uint8)
        cv2.imwrite(str(folder / name.format(i)), image)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _boxes(n, absent=()):
    return [[NAN] * 4 if i in absent else [10 + i, 20 + i, 5 + i, 6] for i in range(n)]


def _lines(rows, sep=","):
    return "".join(sep.join(f"{v:g}" if v == v else "NaN" for v in row) + "\n" for row in rows)


# --- OTB --------------------------------------------------------------------------------------


def test_otb_separators_late_start_and_two_targets(tmp_path):
    _frames(tmp_path / "Walker" / "img", 3)
    _write(tmp_path / "Walker" / "groundtruth_rect.txt", "1\t2\t3\t4\n5 6  7 8\n9,10,11,12\n\n")
    _frames(tmp_path / "David" / "img", 6)  # ground truth from frame 300 in OTB; 3 here
    _write(tmp_path / "David" / "groundtruth_rect.txt", _lines(_boxes(4)))
    _frames(tmp_path / "Jogging" / "img", 2)
    _write(tmp_path / "Jogging" / "groundtruth_rect.1.txt", "1,1,2,2\n1,1,2,2\n")
    _write(tmp_path / "Jogging" / "groundtruth_rect.2.txt", "5,5,2,2\n6,6,2,2\n")
    assert detect_layout(tmp_path) == "otb"
    sequences = load_sequences(tmp_path, start_frames={"David": 3})
    by_name = {s.name: s for s in sequences}
    assert sorted(by_name) == ["David", "Jogging-1", "Jogging-2", "Walker"]
    np.testing.assert_array_equal(
        by_name["Walker"].boxes, [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
    )
    david = by_name["David"]
    assert [p.name for p in david.frames] == ["0003.jpg", "0004.jpg", "0005.jpg", "0006.jpg"]
    np.testing.assert_array_equal(by_name["Jogging-2"].boxes[1], [6, 6, 2, 2])


def test_otb_row_count_mismatch_names_the_file(tmp_path):
    _frames(tmp_path / "Car" / "img", 3)
    _write(tmp_path / "Car" / "groundtruth_rect.txt", "1,2,3,4\n1,2,3,4\n")
    with pytest.raises(InputError, match=r"groundtruth_rect.txt: 2 rows but 3 frames"):
        load_sequences(tmp_path / "Car")


def test_malformed_line_names_file_and_line(tmp_path):
    _frames(tmp_path / "Car" / "img", 3)
    _write(tmp_path / "Car" / "groundtruth_rect.txt", "1,2,3,4\n1,2,x,4\n1,2,3,4\n")
    with pytest.raises(InputError, match=r"Car/groundtruth_rect.txt:2: expected numbers"):
        load_sequences(tmp_path)
    _write(tmp_path / "Car" / "groundtruth_rect.txt", "1,2,3,4\n1,2,3\n1,2,3,4\n")
    with pytest.raises(InputError, match=r"groundtruth_rect.txt:2: expected 4 numbers, got 3"):
        load_sequences(tmp_path)


_TINY_JPEG = cv2.imencode(".jpg", np.zeros((2, 2, 3), np.uint8))[1].tobytes()


def _numbered(folder: Path, numbers, name="{:04d}.jpg") -> None:
    """Tiny frames named with the given numbers, as benchmarks name theirs."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in numbers:
        (folder / name.format(number)).write_bytes(_TINY_JPEG)


def _numbered_rows(first, last) -> str:
    """One distinct box per frame number, so that a test sees which frame a row went to."""
    return "".join(f"{n},{n % 97},5,6\n" for n in range(first, last + 1))


def test_otb_frames_are_chosen_by_the_numbers_in_their_names(tmp_path):
    # David as OTB ships it (0001-0770, ground truth from 300) and as re-hosted (0300-0770).
    _numbered(tmp_path / "full" / "David" / "img", range(1, 771))
    _numbered(tmp_path / "trimmed" / "David" / "img", range(300, 771))
    # BlurCar1 ships frames 247-988 only; Board's names have five digits; Diving stops early.
    _numbered(tmp_path / "trimmed" / "BlurCar1" / "img", range(247, 989))
    _numbered(tmp_path / "full" / "Board" / "img", range(1, 699), "{:05d}.jpg")
    _numbered(tmp_path / "full" / "Diving" / "img", range(1, 232))
    for tree in ("full", "trimmed"):
        _write(tmp_path / tree / "David" / "groundtruth_rect.txt", _numbered_rows(300, 770))
    _write(tmp_path / "trimmed" / "BlurCar1" / "groundtruth_rect.txt", _numbered_rows(247, 988))
    _write(tmp_path / "full" / "Board" / "groundtruth_rect.txt", _numbered_rows(1, 698))
    _write(tmp_path / "full" / "Diving" / "groundtruth_rect.txt", _numbered_rows(1, 215))
    for tree in ("full", "trimmed"):
        for sequence in load_sequences(tmp_path / tree, "otb"):
            numbers = [int(p.stem) for p in sequence.frames]
            # Each frame carries the box of its own number.
            np.testing.assert_array_equal(sequence.boxes[:, 0], numbers, err_msg=sequence.name)
    full = {s.name: s for s in load_sequences(tmp_path / "full", "otb")}
    assert [full["David"].frames[i].name for i in (0, -1)] == ["0300.jpg", "0770.jpg"]
    assert len(full["Diving"]) == 215 and full["Board"].frames[-1].name == "00698.jpg"


def test_otb_tiger1_is_scored_from_frame_6_and_a_missing_frame_is_named(tmp_path):
    _numbered(tmp_path / "Tiger1" / "img", range(1, 355))
    _write(tmp_path / "Tiger1" / "groundtruth_rect.txt", _numbered_rows(1, 354))
    (tiger,) = load_sequences(tmp_path / "Tiger1")
    assert len(tiger) == 349 and tiger.frames[0].name == "0006.jpg"
    assert tiger.boxes[0, 0] == 6
    _numbered(tmp_path / "David" / "img", [*range(1, 500), *range(501, 771)])
    _write(tmp_path / "David" / "groundtruth_rect.txt", _numbered_rows(300, 770))
    with pytest.raises(InputError, match=r"frames 300–770, but .*img has no frame numbered 500"):
        load_sequences(tmp_path / "David")


def test_otb_in_tc128s_form(tmp_path):
    # <seq>_gt.txt, and <seq>_frames.txt saying which frames it covers (3-5 of 1-6).
    _frames(tmp_path / "Ball_ce1" / "img", 6)
    _write(tmp_path / "Ball_ce1" / "Ball_ce1_gt.txt", _lines(_boxes(3)))
    _write(tmp_path / "Ball_ce1" / "Ball_ce1_frames.txt", "3,5\n")
    assert detect_layout(tmp_path) == "otb"
    (ball,) = load_sequences(tmp_path)
    assert [p.name for p in ball.frames] == ["0003.jpg", "0004.jpg", "0005.jpg"]
    np.testing.assert_array_equal(ball.boxes, _boxes(3))
    _write(tmp_path / "Ball_ce1" / "Ball_ce1_frames.txt", "3\n")
    with pytest.raises(InputError, match=r"Ball_ce1_frames.txt: expected the first and last"):
        load_sequences(tmp_path)


@pytest.mark.parametrize("folder", ["imgs", "."])
def test_otb_re_hosted_without_its_img_folder(tmp_path, folder):
    # Frames in imgs/, or beside groundtruth_rect.txt, as some re-hosted copies hold them.
    _frames(tmp_path / "Dog" / folder, 2)
    _write(tmp_path / "Dog" / "groundtruth_rect.txt", _lines(_boxes(2)))
    (dog,) = load_sequences(tmp_path)
    assert dog.frames[0] == (tmp_path / "Dog" / folder / "0001.jpg")
    np.testing.assert_array_equal(dog.boxes, _boxes(2))


def test_otb_empty_second_ground_truth_is_skipped(tmp_path):
    # OTB's Human4 annotates its second target only: groundtruth_rect.1.txt is empty.
    _frames(tmp_path / "Human4" / "img", 3)
    _write(tmp_path / "Human4" / "groundtruth_rect.1.txt", "")
    _write(tmp_path / "Human4" / "groundtruth_rect.2.txt", _lines(_boxes(3)))
    (sequence,) = load_sequences(tmp_path)
    assert sequence.attributes["ground_truth"].endswith("groundtruth_rect.2.txt")


def test_otb_sequence_with_an_empty_img_folder_is_named(tmp_path):
    (tmp_path / "OTB" / "Car" / "img").mkdir(parents=True)
    _write(tmp_path / "OTB" / "Car" / "groundtruth_rect.txt", "1,2,3,4\n")
    with pytest.raises(InputError, match=r"OTB/Car/img holds no images"):
        load_sequences(tmp_path / "OTB" / "Car")
    # Beside a complete sequence it is not left out in silence either.
    _frames(tmp_path / "OTB" / "Bike" / "img", 1)
    _write(tmp_path / "OTB" / "Bike" / "groundtruth_rect.txt", "1,2,3,4\n")
    with pytest.raises(InputError, match=r"OTB/Car/img holds no images"):
        load_sequences(tmp_path / "OTB")


# A sequence re-hosted as a folder of its frames with its box file inside (UAV123's bike1 as
# bike1/000001.jpg … + bike1/bike1.txt): box-file names, where the frames are, untidy extras.
@pytest.mark.parametrize(
    ("box_file", "frames_in", "layout"),
    [
        ("bike1.txt", ".", "otb"),
        ("gt.txt", ".", "otb"),
        ("bike1_gt.txt", "imgs", "otb"),
        ("groundtruth_rect.txt", ".", "otb"),
        ("groundtruth.txt", ".", "vot"),  # VOT's name: VOT's reader, which takes x,y,w,h too
        ("boxes.txt", "img", "otb"),  # no known name: the folder's only .txt of boxes
    ],
)
def test_a_sequence_re_hosted_as_a_folder_of_frames_with_its_box_file(
    tmp_path, box_file, frames_in, layout
):
    rows = _boxes(4, absent=(2,))  # UAV123 marks an absent target NaN,NaN,NaN,NaN
    _frames(tmp_path / "bike1" / frames_in, 4, "{:06d}.jpg")
    _write(tmp_path / "bike1" / box_file, _lines(rows))
    # Untidy extras that are not box files: notes, a frame range, a checksum list.
    _write(tmp_path / "bike1" / "readme.txt", "UAV123 bike1, re-hosted\n")
    _write(tmp_path / "bike1" / "bike1_frames.txt", "1,4\n")
    (tmp_path / "bike1" / "thumbs.db").write_bytes(b"\x00\xff\x00")
    _frames(tmp_path / "bird1_2", 3, "{:06d}.jpg", start=775)  # a sub-sequence's own frames
    _write(tmp_path / "bird1_2" / "bird1_2.txt", _lines(_boxes(3)))
    assert detect_layout(tmp_path / "bike1") == layout
    # (With groundtruth.txt the root is OTB's bird1_2 and a VOT sequence beside it.)
    bike, bird = sorted(load_sequences(tmp_path), key=lambda sequence: sequence.name)
    assert (bike.name, bird.name) == ("bike1", "bird1_2")
    assert bike.frames == [tmp_path / "bike1" / frames_in / f"{i:06d}.jpg" for i in (1, 2, 3, 4)]
    np.testing.assert_array_equal(bike.boxes, rows)
    np.testing.assert_array_equal(bike.visible, [True, True, False, True])
    assert bike.attributes["ground_truth"] == str(tmp_path / "bike1" / box_file)
    assert [p.name for p in bird.frames] == ["000775.jpg", "000776.jpg", "000777.jpg"]
    (again,) = load_sequences(tmp_path / "bike1")  # the sequence folder itself
    np.testing.assert_array_equal(again.boxes, rows)


@pytest.mark.parametrize(
    ("names", "says"),
    [
        (("a.txt", "b.txt"), r"2 box files \(a.txt, b.txt\).*name the sequence's gt.txt"),
        (("bike1.txt", "gt.txt"), r"2 box files \(bike1.txt, gt.txt\).*keep one of them"),
        (("groundtruth.txt", "gt.txt"), r"2 box files \(groundtruth.txt, gt.txt\)"),
    ],
)
def test_a_folder_of_frames_with_two_box_files_is_refused_not_guessed(tmp_path, names, says):
    _frames(tmp_path / "bike1", 2, "{:06d}.jpg")
    for name in names:
        _write(tmp_path / "bike1" / name, _lines(_boxes(2)))
    for root in (tmp_path, tmp_path / "bike1"):
        with pytest.raises(InputError, match=rf"bike1: {says}"):
            load_sequences(root)


@pytest.mark.parametrize("name", ["bike1", "gt"])  # a folder called gt: gt.txt is one name
def test_a_known_box_file_name_wins_over_other_txt_files_of_boxes(tmp_path, name):
    _frames(tmp_path / name, 2, "{:06d}.jpg")
    _write(tmp_path / name / "gt.txt", _lines(_boxes(2)))
    _write(tmp_path / name / "tracker_output.txt", "0,0,1,1\n0,0,1,1\n")
    (bike,) = load_sequences(tmp_path)
    np.testing.assert_array_equal(bike.boxes, _boxes(2))


def test_a_txt_beside_no_frames_is_no_sequence(tmp_path):
    # A box file alone (a video layout's boxes/ folder, say) makes no sequence folder.
    _write(tmp_path / "boxes" / "boxes.txt", _lines(_boxes(2)))
    assert detect_layout(tmp_path / "boxes") is None
    with pytest.raises(InputError, match="not a layout hart knows"):
        load_sequences(tmp_path)


def test_otb_sequence_without_frames_says_where_it_looked(tmp_path):
    # Frames in neither img/, imgs/ nor the folder itself (here: in a folder OTB never uses).
    _frames(tmp_path / "Car" / "frames", 1)
    _write(tmp_path / "Car" / "groundtruth_rect.txt", "1,2,3,4\n")
    for root in (tmp_path, tmp_path / "Car"):
        with pytest.raises(InputError) as error:
            load_sequences(root)
        message = str(error.value)
        assert message.startswith(f"{tmp_path / 'Car'}: no frames in img/, imgs/ or the sequence")
        assert "no such folder" not in message


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("10,20,-5,6", "negative width or height"),
        ("10\t20\t5\t-6", "negative width or height"),
        # NaN in every value marks an absent target; NaN in some is a broken row, not an absence.
        ("10,NaN,20,30", "only some of .* are NaN"),
        ("nan\t20\t5\t6", "only some of .* are NaN"),
        ("10 20 5 nan", "only some of .* are NaN"),
    ],
)
def test_a_broken_row_names_file_and_line_in_every_box_reader(tmp_path, row, message):
    _frames(tmp_path / "Car" / "img", 3)
    _write(tmp_path / "Car" / "groundtruth_rect.txt", f"1,2,3,4\n{row}\n1,2,3,4\n")
    with pytest.raises(InputError, match=rf"Car/groundtruth_rect.txt:2: {message}"):
        load_sequences(tmp_path)
    # A video's box file, in both of its forms.
    boxes = _write(tmp_path / "clip.txt", f"1,2,3,4\n{row}\n")
    with pytest.raises(InputError, match=rf"clip.txt:2: {message}"):
        read_box_file(boxes)
    _write(boxes, f"1,1,2,3,4\n3,{row}\n")
    with pytest.raises(InputError, match=rf"clip.txt:2: {message}"):
        read_box_file(boxes)
    # A VOT x,y,w,h row.
    _frames(tmp_path / "spin", 3, "{:08d}.jpg")
    _write(tmp_path / "spin" / "groundtruth.txt", f"1,2,3,4\n{row}\n1,2,3,4\n")
    with pytest.raises(InputError, match=rf"spin/groundtruth.txt:2: {message}"):
        load_sequences(tmp_path / "spin")


def test_a_nan_frame_number_and_a_partly_nan_polygon_name_their_line(tmp_path):
    boxes = _write(tmp_path / "clip.txt", "1,1,2,3,4\nnan,1,2,3,4\n")
    with pytest.raises(InputError, match=r"clip.txt:2: frame number nan is not a whole number"):
        read_box_file(boxes)
    _frames(tmp_path / "spin", 2, "{:08d}.jpg")
    _write(tmp_path / "spin" / "groundtruth.txt", "1,2,3,4\n20,10,30,20,20,NaN,10,20\n")
    with pytest.raises(InputError, match=r"spin/groundtruth.txt:2: only some of .* are NaN"):
        load_sequences(tmp_path / "spin")


def test_a_frame_number_given_twice_names_both_lines(tmp_path):
    # The later row would silently replace the earlier one: which of them is right?
    boxes = _write(tmp_path / "clip.txt", "1,1,2,3,4\n2,5,6,7,8\n\n1,9,9,9,9\n")
    with pytest.raises(InputError, match=r"clip.txt:4: frame 1 is given twice \(lines 1 and 4\)"):
        read_box_file(boxes)


def test_rows_all_nan_are_absent_in_every_box_reader(tmp_path):
    _frames(tmp_path / "Car" / "img", 2)
    _write(tmp_path / "Car" / "groundtruth_rect.txt", "1,2,3,4\nNaN,NaN,NaN,NaN\n")
    np.testing.assert_array_equal(load_sequences(tmp_path / "Car")[0].visible, [True, False])
    boxes = _write(tmp_path / "clip.txt", "1,1,2,3,4\n2,nan,nan,nan,nan\n")
    assert np.isnan(read_box_file(boxes)[1]).all()
    _frames(tmp_path / "spin", 4, "{:08d}.jpg")
    polygon = ",".join(["nan"] * 8)
    _write(tmp_path / "spin" / "groundtruth.txt", f"1,2,3,4\n{polygon}\n0\nNaN\n")
    np.testing.assert_array_equal(load_sequences(tmp_path / "spin")[0].visible, [1, 0, 0, 0])


def test_a_value_beyond_float32_names_file_and_line_without_numpy_warnings(tmp_path):
    boxes = _write(tmp_path / "clip.txt", "1,2,3,4\n0,0,1e39,20\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's overflow warning would be an extra line
        with pytest.raises(InputError, match=r"clip.txt:2: .* is too large for a box"):
            read_box_file(boxes)


# --- VOT --------------------------------------------------------------------------------------


def test_vot_rotated_rectangle_mask_absent_and_color_folder(tmp_path):
    seq = tmp_path / "spin"
    _frames(seq / "color", 4, "{:08d}.jpg")
    # A square rotated by 45° around (20, 20) with half-diagonal 10; a plain x,y,w,h row; a VOT
    # mask (3×2 region at 5,6, pixels (1,0) and (2,1)); an absent frame.
    rotated = "20,10,30,20,20,30,10,20"
    mask = "m5,6,3,2,1,1,3,1"
    _write(seq / "groundtruth.txt", f"{rotated}\n1,2,3,4\n{mask}\nnan,nan,nan,nan\n")
    _write(seq / "occlusion.tag", "0\n1\n")
    assert detect_layout(tmp_path) == "vot"
    (sequence,) = load_sequences(tmp_path)
    np.testing.assert_allclose(sequence.boxes[0], [10, 10, 20, 20])
    np.testing.assert_allclose(sequence.boxes[1], [1, 2, 3, 4])
    np.testing.assert_allclose(sequence.boxes[2], [6, 6, 2, 2])
    assert np.isnan(sequence.boxes[3]).all()
    np.testing.assert_array_equal(sequence.visible, [True, True, True, False])
    np.testing.assert_array_equal(sequence.attributes["tags"]["occlusion"], [0, 1, 0, 0])
    assert sequence.frames[0].parent.name == "color"


@pytest.mark.parametrize("folder", ["img", "imgs"])
def test_vot_re_hosted_with_its_frames_in_img(tmp_path, folder):
    # As re-hosted copies often hold them (Staple's ball1 in imgs/; DTB70-style img/), with
    # a rotated box or an x,y,w,h row per frame.
    _frames(tmp_path / "ball1" / folder, 2, "{:08d}.jpg")
    _write(tmp_path / "ball1" / "groundtruth.txt", "10,10,30,10,30,30,10,30\nNaN,NaN,NaN,NaN\n")
    assert detect_layout(tmp_path) == "vot"
    (ball,) = load_sequences(tmp_path)
    assert ball.frames[0].parent.name == folder
    np.testing.assert_array_equal(ball.boxes[0], [10, 10, 20, 20])
    np.testing.assert_array_equal(ball.visible, [True, False])


def test_vot_list_names_the_sequences(tmp_path):
    for name in ("b", "a"):
        _frames(tmp_path / name, 2, "{:08d}.jpg")
        _write(tmp_path / name / "groundtruth.txt", "1,2,3,4\n1,2,3,4\n")
    _write(tmp_path / "list.txt", "b\na\n")
    assert [s.name for s in load_sequences(tmp_path, "vot")] == ["b", "a"]
    _write(tmp_path / "list.txt", "b\nmissing\n")
    with pytest.raises(InputError, match="missing"):
        load_sequences(tmp_path, "vot")


def test_vot_empty_list_is_named_not_called_no_sequence_folders(tmp_path):
    for name in ("b", "a"):
        _frames(tmp_path / name, 2, "{:08d}.jpg")
        _write(tmp_path / name / "groundtruth.txt", "1,2,3,4\n1,2,3,4\n")
    for empty in ("", "\n\n"):
        _write(tmp_path / "list.txt", empty)
        for layout in ("auto", "vot"):
            with pytest.raises(InputError, match=r"list.txt: the VOT list is empty"):
                load_sequences(tmp_path, layout)


def test_vot_odd_value_count_is_an_error(tmp_path):
    _frames(tmp_path / "s", 1, "{:08d}.jpg")
    _write(tmp_path / "s" / "groundtruth.txt", "1,2,3,4,5\n")
    with pytest.raises(InputError, match=r"groundtruth.txt:1: expected 4 numbers"):
        load_sequences(tmp_path / "s")


def test_vot_polygons_of_three_points_or_more_and_what_the_error_lists(tmp_path):
    # The VOT toolkit reads any even count above 4 as a polygon: a triangle, a pentagon.
    _frames(tmp_path / "s", 2, "{:08d}.jpg")
    _write(tmp_path / "s" / "groundtruth.txt", "10,10,30,10,20,40\n5,5,9,1,15,5,12,12,7,12\n")
    (sequence,) = load_sequences(tmp_path / "s")
    np.testing.assert_allclose(sequence.boxes, [[10, 10, 20, 30], [5, 1, 10, 11]])
    # The error lists every form that is read; a single value other than 0 or NaN is none.
    for row, count in (("1,2,3,4,5,6,7", 7), ("1,2", 2), ("5", 1)):
        _write(tmp_path / "s" / "groundtruth.txt", f"1,2,3,4\n{row}\n")
        with pytest.raises(InputError) as error:
            load_sequences(tmp_path / "s")
        message = str(error.value)
        assert "groundtruth.txt:2: expected 4 numbers (x,y,w,h), an even count of 6 or" in message
        assert "0 or NaN alone (absent) or a mask" in message and f"got {count}:" in message


# --- UAV123 -----------------------------------------------------------------------------------


def test_uav123_absent_rows_and_sub_sequences(tmp_path):
    root = tmp_path / "UAV123"
    _frames(root / "data_seq" / "UAV123" / "boat1", 5, "{:06d}.jpg")
    _write(root / "anno" / "UAV123" / "boat1.txt", _lines(_boxes(5, absent={2, 3})))
    # A sub-sequence, frames 3–5 of "toy"; its range comes from configSeqs.m.
    _frames(root / "data_seq" / "UAV123" / "toy", 6, "{:06d}.jpg")
    _write(root / "anno" / "UAV123" / "toy_2.txt", _lines(_boxes(3)))
    _write(root / "anno" / "UAV123" / "att" / "boat1.txt", "1,0,1\n")  # attributes: ignored
    _write(
        root / "configSeqs.m",
        "seqs={struct('name','toy_2','path','D:\\data_seq\\UAV123\\toy\\','startFrame',3,"
        "'endFrame',5,'nz',6,'ext','jpg','init_rect',[0,0,0,0]),...\n",
    )
    assert detect_layout(tmp_path) == "uav123"
    by_name = {s.name: s for s in load_sequences(tmp_path)}
    assert sorted(by_name) == ["boat1", "toy_2"]
    np.testing.assert_array_equal(by_name["boat1"].visible, [True, True, False, False, True])
    assert np.isnan(by_name["boat1"].boxes[2:4]).all()
    assert [p.name for p in by_name["toy_2"].frames] == ["000003.jpg", "000004.jpg", "000005.jpg"]


def test_uav123_built_in_sub_sequence_table(tmp_path):
    root = tmp_path
    _frames(root / "data_seq" / "UAV123" / "car1", 760, "{:06d}.jpg", size=(2, 2))
    _write(root / "anno" / "UAV123" / "car1_1.txt", _lines(_boxes(751)))
    (sequence,) = load_sequences(root, "uav123")
    assert len(sequence) == 751 and sequence.frames[-1].name == "000751.jpg"


def test_uav123_10fps_tree_by_path_and_by_the_frame_numbers_present(tmp_path):
    # The 10 fps release: group3_2 is frames 523-943 there (1567-2827 at 30 fps).
    root = tmp_path / "UAV123_10fps"
    _numbered(root / "data_seq" / "UAV123_10fps" / "group3", range(1, 944), "{:06d}.jpg")
    _write(root / "anno" / "UAV123_10fps" / "group3_2.txt", _numbered_rows(523, 943))
    (sequence,) = load_sequences(root)
    assert sequence.name == "UAV123_10fps-group3_2" and len(sequence) == 421
    assert [sequence.frames[i].name for i in (0, -1)] == ["000523.jpg", "000943.jpg"]
    # The same frames where no folder says 10 fps: the row count and frame numbers decide.
    plain = tmp_path / "plain"
    _numbered(plain / "data_seq" / "UAV123" / "truck4", range(1, 422), "{:06d}.jpg")
    _write(plain / "anno" / "UAV123" / "truck4_2.txt", _numbered_rows(193, 421))
    (truck,) = load_sequences(plain, "uav123")
    np.testing.assert_array_equal(truck.boxes[:, 0], [int(p.stem) for p in truck.frames])
    assert truck.frames[0].name == "000193.jpg"
    # A folder holding only the sub-sequence's frames reads by their numbers too.
    only = tmp_path / "only"
    _numbered(only / "data_seq" / "UAV123" / "truck4", range(577, 1262), "{:06d}.jpg")
    _write(only / "anno" / "UAV123" / "truck4_2.txt", _numbered_rows(577, 1261))
    (truck,) = load_sequences(only, "uav123")
    assert len(truck) == 685 and truck.frames[0].name == "000577.jpg"


def test_uav20l_long_sequences_cover_the_first_frames(tmp_path):
    _numbered(tmp_path / "data_seq" / "UAV123" / "person20", range(1, 1801), "{:06d}.jpg")
    _write(tmp_path / "anno" / "UAV20L" / "person20.txt", _numbered_rows(1, 1783))
    (sequence,) = load_sequences(tmp_path, "uav123")
    assert sequence.name == "UAV20L-person20"
    assert len(sequence) == 1783 and sequence.frames[-1].name == "001783.jpg"


def test_uav123_tables_agree():
    from hart.datasets.uav123 import (
        UAV20L_LAST_FRAMES,
        UAV123_10FPS_SUBSEQUENCES,
        UAV123_SUBSEQUENCES,
    )

    # The 10 fps release keeps every third frame: frame f at 30 fps is (f - 1) // 3 + 1.
    assert UAV123_SUBSEQUENCES.keys() == UAV123_10FPS_SUBSEQUENCES.keys()
    for name, (first, last) in UAV123_SUBSEQUENCES.items():
        expected = ((first - 1) // 3 + 1, (last - 1) // 3 + 1)
        assert UAV123_10FPS_SUBSEQUENCES[name] == expected, name
    # UAV20L's long sequences end where their last UAV123 sub-sequence does.
    for name, last in UAV20L_LAST_FRAMES.items():
        parts = [r for n, r in UAV123_SUBSEQUENCES.items() if n.rsplit("_", 1)[0] == name]
        assert not parts or max(end for _, end in parts) == last, name


# --- GOT-10k ----------------------------------------------------------------------------------


def test_got10k_absence_cover_and_first_frame_only_test_split(tmp_path):
    val = tmp_path / "val" / "GOT-10k_Val_000001"
    _frames(val, 4, "{:08d}.jpg")
    _write(val / "groundtruth.txt", _lines(_boxes(4)))
    _write(val / "absence.label", "0\n1\n0\n0\n")
    _write(val / "cover.label", "8\n0\n0\n5\n")
    _write(val / "meta_info.ini", "[METAINFO]\nobject_class: ichneumon\nmotion_class: walking\n")
    _write(tmp_path / "val" / "list.txt", "GOT-10k_Val_000001\n")
    test = tmp_path / "test" / "GOT-10k_Test_000001"
    _frames(test, 3, "{:08d}.jpg")
    _write(test / "groundtruth.txt", "1,2,3,4\n")
    _write(test / "absence.label", "0\n0\n0\n")
    _write(tmp_path / "test" / "list.txt", "GOT-10k_Test_000001\n")
    assert detect_layout(tmp_path) == "got10k"
    val_seq, test_seq = load_sequences(tmp_path)
    np.testing.assert_array_equal(val_seq.visible, [True, False, False, True])
    assert np.isnan(val_seq.boxes[1:3]).all() and np.isfinite(val_seq.boxes[[0, 3]]).all()
    assert val_seq.attributes["meta"]["object_class"] == "ichneumon"
    np.testing.assert_array_equal(val_seq.attributes["cover"], [8, 0, 0, 5])
    assert test_seq.attributes["first_frame_only"] is True
    np.testing.assert_array_equal(test_seq.visible, [True, False, False])
    # One split, and one sequence, read the same way.
    assert [s.name for s in load_sequences(tmp_path / "val")] == ["GOT-10k_Val_000001"]
    assert len(load_sequences(val)) == 1


def test_got10k_label_count_mismatch(tmp_path):
    seq = tmp_path / "GOT-10k_Val_000001"
    _frames(seq, 3, "{:08d}.jpg")
    _write(seq / "groundtruth.txt", _lines(_boxes(3)))
    _write(seq / "absence.label", "0\n0\n")
    with pytest.raises(InputError, match=r"absence.label: 2 rows but 3 frames"):
        load_sequences(seq)


def test_got10k_empty_list_is_named_not_taken_for_a_vot_folder(tmp_path):
    seq = tmp_path / "val" / "GOT-10k_Val_000001"
    _frames(seq, 2, "{:08d}.jpg")
    _write(seq / "groundtruth.txt", _lines(_boxes(2)))
    _write(seq / "absence.label", "0\n0\n")
    for empty in ("", "\n\n"):
        _write(tmp_path / "val" / "list.txt", empty)
        for root, layout in ((tmp_path, "auto"), (tmp_path / "val", "auto"), (tmp_path, "got10k")):
            with pytest.raises(InputError, match=r"val/list.txt: the GOT-10k list is empty"):
                load_sequences(root, layout)


# --- LaSOT ------------------------------------------------------------------------------------


def test_lasot_occlusion_and_out_of_view(tmp_path):
    seq = tmp_path / "airplane" / "airplane-1"
    _frames(seq / "img", 5, "{:08d}.jpg")
    _write(seq / "groundtruth.txt", _lines(_boxes(5)))
    _write(seq / "full_occlusion.txt", "0,1,0,0,0\n")
    _write(seq / "out_of_view.txt", "0,0,0,1,0")
    _write(seq / "nlp.txt", "white airplane landing\n")
    assert detect_layout(tmp_path) == "lasot"
    for root in (tmp_path, tmp_path / "airplane", seq):
        (sequence,) = load_sequences(root)
        np.testing.assert_array_equal(sequence.visible, [True, False, True, False, True])
    assert sequence.attributes["class"] == "airplane"
    assert sequence.attributes["description"] == "white airplane landing"
    _write(seq / "out_of_view.txt", "0,0,0,1\n")
    with pytest.raises(InputError, match=r"out_of_view.txt: 4 flags but 5 frames"):
        load_sequences(seq)


# --- KITTI ------------------------------------------------------------------------------------

_KITTI = """\
0 0 Car 0 0 -1.5 10.0 20.0 40.0 50.0 1.5 1.6 3.9 1 2 3 0.1
0 1 Pedestrian 0 0 0.2 100.0 30.0 110.0 60.0 1.7 0.6 0.8 1 2 3 0.1
0 -1 DontCare -1 -1 -10 200.0 10.0 220.0 30.0 -1000 -1000 -1000 -10 -1 -1 -1
1 0 Car 1 0 -1.5 12.0 20.0 42.0 50.0 1.5 1.6 3.9 1 2 3 0.1
1 1 Pedestrian 0 2 0.2 101.0 30.0 111.0 60.0 1.7 0.6 0.8 1 2 3 0.1
2 0 Car 2 0 -1.5 14.0 20.0 44.0 50.0 1.5 1.6 3.9 1 2 3 0.1
2 1 Pedestrian 0 1 0.2 102.0 30.0 112.0 60.0 1.7 0.6 0.8 1 2 3 0.1
2 -1 DontCare -1 -1 -10 200.0 10.0 220.0 30.0 -1000 -1000 -1000 -10 -1 -1 -1
3 0 Car 0 0 -1.5 16.0 20.0 46.0 50.0 1.5 1.6 3.9 1 2 3 0.1
3 1 Pedestrian 0 0 0.2 103.0 30.0 113.0 60.0 1.7 0.6 0.8 1 2 3 0.1
"""


def _kitti_tree(root: Path) -> Path:
    base = root / "training"
    _frames(base / "image_02" / "0000", 4, "{:06d}.png", start=0)
    _write(base / "label_02" / "0000.txt", _KITTI)
    return base


def test_kitti_one_sequence_per_track_dontcare_ignored(tmp_path):
    _kitti_tree(tmp_path)
    assert detect_layout(tmp_path) == "kitti"
    sequences = load_sequences(tmp_path)
    assert [s.name for s in sequences] == ["0000_0", "0000_1"]
    car, walker = sequences
    assert len(car) == 4 and car.visible.all()
    np.testing.assert_array_equal(car.boxes[1], [12, 20, 30, 30])  # left, top, right-left, …
    assert car.attributes["class"] == "Car" and walker.attributes["class"] == "Pedestrian"
    assert [p.name for p in car.frames] == ["000000.png", "000001.png", "000002.png", "000003.png"]


def test_kitti_paper_filters_split_tracks_where_they_drop_out(tmp_path):
    _kitti_tree(tmp_path)
    # The paper's filters: truncation ≤ 1 and occlusion ≤ 1. The car is truncated (2) at
    # frame 2, the pedestrian occluded (2) at frame 1.
    sequences = load_sequences(tmp_path, max_truncation=1, max_occlusion=1)
    names = {s.name: len(s) for s in sequences}
    assert names == {"0000_0": 2, "0000_1": 2}  # the one-frame pieces are dropped
    kept = load_sequences(tmp_path, max_truncation=1, max_occlusion=1, split_on_gaps=False)
    car = next(s for s in kept if s.name == "0000_0")
    np.testing.assert_array_equal(car.visible, [True, True, False, True])
    assert np.isnan(car.boxes[2]).all()
    assert load_sequences(tmp_path, classes=["Pedestrian"])[0].attributes["class"] == "Pedestrian"


def test_kitti_malformed_line_and_missing_frame(tmp_path):
    base = _kitti_tree(tmp_path)
    _write(base / "label_02" / "0000.txt", _KITTI + "4 0 Car 0 0\n")
    with pytest.raises(InputError, match=r"0000.txt:11: expected 17 fields"):
        load_sequences(tmp_path)
    _write(base / "label_02" / "0000.txt", _KITTI.replace("3 1 Pedestrian", "9 1 Pedestrian"))
    with pytest.raises(InputError, match=r"0000.txt:10: frame 9 has no image"):
        load_sequences(tmp_path)
    with pytest.raises(InputError, match=r"option max_occlusions does not apply to the kitti"):
        load_sequences(tmp_path, max_occlusions=1)


def test_split_in_time_keeps_per_frame_attributes_aligned(tmp_path):
    _kitti_tree(tmp_path)
    train, test = split_in_time(load_sequences(tmp_path), 0.5)
    assert [s.name for s in train] == ["0000_0-train", "0000_1-train"]
    assert [len(s) for s in test] == [2, 2]
    assert test[0].frames[0].name == "000002.png"
    np.testing.assert_array_equal(test[0].attributes["truncated"], [2, 0])


def _kitti_line(frame: int, track: int, kind: str, left: float) -> str:
    return f"{frame} {track} {kind} 0 0 -1.5 {left} 20.0 {left + 30} 50.0 1.5 1.6 3.9 1 2 3 0.1\n"


def test_split_in_time_cuts_every_track_of_a_video_at_the_same_frame(tmp_path):
    # A car through frames 0-9 and a walker through 6-9 of one video: both cut at frame 8
    # (80 % of the video), so no frame trains in one track and validates in the other. Cut at
    # 80 % of its own 4 frames, the walker kept frames 8 and 9 for training (its one-frame
    # test part stayed with it), which the car validated on.
    base = tmp_path / "training"
    _frames(base / "image_02" / "0000", 10, "{:06d}.png", start=0)
    labels = [_kitti_line(f, 0, "Car", 10 + f) for f in range(10)]
    labels += [_kitti_line(f, 1, "Pedestrian", 100) for f in range(6, 10)]
    _write(base / "label_02" / "0000.txt", "".join(labels))
    train, test = split_in_time(load_sequences(tmp_path), 0.8)
    assert [s.name for s in train] == ["0000_0-train", "0000_1-train"]
    assert [s.name for s in test] == ["0000_0-test", "0000_1-test"]
    trained = {p.name for s in train for p in s.frames}
    tested = {p.name for s in test for p in s.frames}
    assert not trained & tested
    assert tested == {"000008.png", "000009.png"}
    # A part too short to use is dropped, not moved across the cut.
    train, test = split_in_time(load_sequences(tmp_path), 0.8, min_length=3)
    assert [s.name for s in train] == ["0000_0-train"]
    assert not test


# --- videos and KTH ---------------------------------------------------------------------------


def _video(path: Path, count: int, size=(48, 64)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (size[1], size[0]))
    for i in range(count):
        writer.write(np.full((*size, 3), i * 10, np.uint8))
    writer.release()
    return path


def test_a_sequence_read_as_dot_or_dot_dot_is_named_after_its_folder(tmp_path, monkeypatch):
    # `hart evaluate .` inside a sequence folder: every reader named it "" (or ".."), and OTB's
    # box file <name>.txt and frame ranges, found by that name, were looked for as ".txt".
    _frames(tmp_path / "bag", 3)
    _write(tmp_path / "bag" / "groundtruth.txt", _lines(_boxes(3)))
    _frames(tmp_path / "bike1" / "img", 3)
    _write(tmp_path / "bike1" / "bike1.txt", _lines(_boxes(3)))
    monkeypatch.chdir(tmp_path / "bag")
    assert [s.name for s in load_sequences(".")] == ["bag"]
    with pytest.raises(InputError, match="root is empty"):
        load_sequences("")  # a caller's unset variable, not the current folder as Path("") is
    monkeypatch.chdir(tmp_path / "bike1" / "img")
    assert [s.name for s in load_sequences("..")] == ["bike1"]


def test_a_video_cache_folder_may_start_at_the_home_folder(tmp_path, monkeypatch):
    # As the root may: "~/cache" taken as it was made a folder named "~" in the current one.
    _video(tmp_path / "clips" / "walk.avi", 3)
    _write(tmp_path / "clips" / "walk.txt", _lines(_boxes(3)))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "clips")
    (walk,) = load_sequences(".", cache_dir="~/cache")
    assert all(p.is_file() and p.parent.parent == tmp_path / "home" / "cache" for p in walk.frames)
    assert not (tmp_path / "clips" / "~").exists()


def test_video_with_box_file_both_forms(tmp_path):
    _video(tmp_path / "clips" / "walk.avi", 6)
    _write(tmp_path / "clips" / "walk.txt", _lines(_boxes(6, absent={4})))
    _video(tmp_path / "clips" / "run.avi", 5)
    _write(tmp_path / "clips" / "run.txt", "1,1,2,3,4\n3,5,6,7,8\n")  # frame, x, y, w, h
    _video(tmp_path / "clips" / "unannotated.avi", 3)
    assert detect_layout(tmp_path / "clips") == "video"
    cache = tmp_path / "cache"
    run, walk = load_sequences(tmp_path / "clips", cache_dir=cache)
    assert (run.name, walk.name) == ("run", "walk")
    assert len(walk) == 6 and all(p.is_file() and p.parent.parent == cache for p in walk.frames)
    np.testing.assert_array_equal(walk.visible, [1, 1, 1, 1, 0, 1])
    np.testing.assert_array_equal(run.visible, [True, False, True, False, False])
    np.testing.assert_array_equal(run.boxes[2], [5, 6, 7, 8])
    frame = cv2.imread(str(walk.frames[3]))
    assert frame.shape == (48, 64, 3) and abs(int(frame.mean()) - 30) <= 3
    # Decoded once: a second load reuses the cached frames.
    before = {p: p.stat().st_mtime_ns for p in walk.frames}
    (walk_again,) = load_sequences(tmp_path / "clips" / "walk.avi", cache_dir=cache)
    assert {p: p.stat().st_mtime_ns for p in walk_again.frames} == before


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg to make the video")
def test_a_camcorders_mts_clip_with_its_box_file_reads_as_the_video_layout(tmp_path):
    # "Any video OpenCV reads", the layout says; a folder of .MTS clips was "not a layout".
    source = _video(tmp_path / "made" / "walk.avi", 6)
    clip = tmp_path / "clips" / "00001.MTS"
    clip.parent.mkdir()
    make = ["ffmpeg", "-loglevel", "error", "-i", str(source), "-c:v", "mpeg2video"]
    subprocess.run([*make, "-f", "mpegts", str(clip)], check=True)
    _write(tmp_path / "clips" / "00001.txt", _lines(_boxes(6)))
    assert detect_layout(tmp_path / "clips") == "video"
    (sequence,) = load_sequences(tmp_path / "clips", cache_dir=tmp_path / "cache")
    assert sequence.name == "00001" and len(sequence) == 6


def test_video_box_rows_must_match_frames(tmp_path):
    _video(tmp_path / "a.avi", 4)
    _write(tmp_path / "a.txt", _lines(_boxes(3)))
    with pytest.raises(InputError, match=r"a.txt: 3 rows but .*a.avi has 4 frames"):
        load_sequences(tmp_path / "a.avi", cache_dir=tmp_path / "cache")


def test_a_frame_the_video_cache_cannot_write_fails_and_leaves_no_cache(tmp_path, monkeypatch):
    # cv2.imwrite says False on a full disk, and raises nothing: the frame was skipped, the
    # folder marked complete, and every later run read the video as 3 frames, not 4.
    _video(tmp_path / "a.avi", 4)
    _write(tmp_path / "a.txt", _lines(_boxes(4)))
    cache = tmp_path / "cache"
    imwrite = cv2.imwrite

    def full_on_third(path, *rest):
        return not path.endswith("000003.jpg") and imwrite(path, *rest)

    monkeypatch.setattr(cv2, "imwrite", full_on_third)
    with pytest.raises(InputError, match=r"could not write") as error:
        load_sequences(tmp_path / "a.avi", cache_dir=cache)
    assert "partial" not in str(error.value) and "000003.jpg" in str(error.value)
    assert not cache.exists() or list(cache.iterdir()) == []
    monkeypatch.setattr(cv2, "imwrite", imwrite)  # the disk has room again
    (sequence,) = load_sequences(tmp_path / "a.avi", cache_dir=cache)
    assert len(sequence) == 4


def test_kth_videos_boxes_and_sub_sequences(tmp_path):
    root = tmp_path / "KTH"
    _video(root / "walking" / "person01_walking_d1_uncomp.avi", 8)
    _video(root / "walking" / "person02_walking_d2_uncomp.avi", 4)
    _video(root / "boxing" / "person01_boxing_d1_uncomp.avi", 4)  # no boxes: skipped
    _write(root / "boxes" / "person01_walking_d1.txt", _lines(_boxes(8)))
    _write(root / "boxes" / "person02_walking_d2.txt", _lines(_boxes(4)))
    _write(root / "00sequences.txt", "person01_walking_d1\t\tframes\t1-3, 5-8\n")
    assert detect_layout(root) == "kth"
    sequences = load_sequences(root, cache_dir=tmp_path / "cache")
    assert [(s.name, len(s)) for s in sequences] == [
        ("person01_walking_d1-1", 3),
        ("person01_walking_d1-2", 4),
        ("person02_walking_d2", 4),
    ]
    assert sequences[1].attributes["action"] == "walking"
    np.testing.assert_array_equal(sequences[1].boxes[0], _boxes(8)[4])


# --- detection and bad roots ------------------------------------------------------------------


def test_several_data_sets_side_by_side_read_as_all_of_them_beside_a_uav123_tree(tmp_path):
    # The UAV123 tree is recognised from the folder above anno/ and data_seq/, which holds
    # OTB/ and VOT/ too: they are read as well, not left out.
    _frames(tmp_path / "OTB" / "Crossing" / "img", 2)
    _write(tmp_path / "OTB" / "Crossing" / "groundtruth_rect.txt", _lines(_boxes(2)))
    _frames(tmp_path / "VOT" / "bag", 2, "{:08d}.jpg")
    _write(tmp_path / "VOT" / "bag" / "groundtruth.txt", _lines(_boxes(2)))
    _frames(tmp_path / "UAV123" / "data_seq" / "UAV123" / "bike1", 2, "{:06d}.jpg")
    _write(tmp_path / "UAV123" / "anno" / "UAV123" / "bike1.txt", _lines(_boxes(2)))
    sequences = load_sequences(tmp_path)
    assert sorted(s.name for s in sequences) == ["Crossing", "bag", "bike1"]
    assert sorted(s.name for s in load_sequences(tmp_path / "UAV123")) == ["bike1"]


def test_an_option_of_one_layout_side_by_side_goes_to_that_layout_only(tmp_path):
    # Videos beside an OTB folder: cache_dir is the videos' option, and OTB's reader, given it
    # too, refused the whole call. A misspelt option, taken by none of them, is still refused.
    _frames(tmp_path / "OTB" / "Crossing" / "img", 2)
    _write(tmp_path / "OTB" / "Crossing" / "groundtruth_rect.txt", _lines(_boxes(2)))
    _video(tmp_path / "clips" / "walk.avi", 3)
    _write(tmp_path / "clips" / "walk.txt", _lines(_boxes(3)))
    cache = tmp_path / "cache"
    crossing, walk = load_sequences(tmp_path, cache_dir=cache)
    assert (crossing.name, len(crossing), walk.name) == ("Crossing", 2, "walk")
    assert all(p.parent.parent == cache for p in walk.frames)
    with pytest.raises(InputError, match=r"option cache_dri does not apply to the layouts found"):
        load_sequences(tmp_path, cache_dri=cache)


def test_unknown_layout_lists_the_known_ones(tmp_path):
    _write(tmp_path / "notes.txt", "hello\n")
    with pytest.raises(InputError) as error:
        load_sequences(tmp_path)
    message = str(error.value)
    assert str(tmp_path) in message
    for name in LAYOUTS:
        assert name in message


def test_missing_and_empty_roots(tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        load_sequences(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty"):
        load_sequences(tmp_path / "empty")
    (tmp_path / "Car" / "img").mkdir(parents=True)
    _write(tmp_path / "Car" / "groundtruth_rect.txt", "1,2,3,4\n")
    with pytest.raises(InputError, match=r"Car/img holds no images"):
        load_sequences(tmp_path / "Car", "otb")
    with pytest.raises(InputError, match="unknown format 'imagenet'"):
        load_sequences(tmp_path, "imagenet")
    with pytest.raises(InputError, match="unknown format None; known: auto, kitti"):
        load_sequences(tmp_path, format=None)  # was an AttributeError from None.lower()

"""hart.video: frame sources, atomic writer, drawing, and the tracking loop on real frames."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from hart.drawing import ATTENTION_COLOUR, PREDICTION_COLOUR, draw_tracking
from hart.errors import InputError
from hart.video import (
    FrameWriter,
    check_box_in_frame,
    natural_sort_key,
    open_frames,
    parse_box,
    run_tracking,
)

CROSSING_FRAMES = 30  # enough for tracking to move; short enough for a 2-core test machine
CROSSING_FPS = 25.0


class MILTracker:
    """OpenCV's MIL tracker behind the init/update contract (a stand-in for hart's Tracker)."""

    def init(self, frame: np.ndarray, box: np.ndarray) -> None:
        self._tracker = cv2.TrackerMIL_create()
        self._tracker.init(frame, tuple(int(round(value)) for value in box))

    def update(self, frame: np.ndarray) -> np.ndarray:
        ok, box = self._tracker.update(frame)
        return np.asarray(box, dtype=np.float64) if ok else np.full(4, np.nan)


class AttentiveTracker(MILTracker):
    """MIL plus the drawing attributes hart's Tracker exposes: an attention box twice the
    predicted one, the glimpse (56×56 BGR crop of the attention) and a 14×14 object mask."""

    def init(self, frame, box):
        super().init(frame, box)
        self._expose(frame, np.asarray(box, dtype=np.float64))

    def update(self, frame):
        box = super().update(frame)
        self._expose(frame, box)
        return box

    def _expose(self, frame, box):
        x, y, w, h = box
        self.attention_box = np.array([x - w / 2, y - h / 2, 2 * w, 2 * h])
        top, left = max(0, int(y - h / 2)), max(0, int(x - w / 2))
        crop = frame[top : int(y + 1.5 * h), left : int(x + 1.5 * w)]
        self.glimpse = cv2.resize(crop, (56, 56))
        self.object_mask = np.zeros((14, 14), np.float32)
        self.object_mask[4:10, 5:9] = 1.0


class FailingTracker(MILTracker):
    """Raises ``error`` on the ``fail_at``-th update, as a crash or Ctrl-C mid-video would."""

    def __init__(self, fail_at: int, error: BaseException):
        self.fail_at, self.error, self.updates = fail_at, error, 0

    def update(self, frame):
        self.updates += 1
        if self.updates == self.fail_at:
            raise self.error
        return super().update(frame)


@pytest.fixture
def crossing(shared_sequences) -> tuple[list[Path], np.ndarray]:
    """The first frames of OTB Crossing (360×240) and its first ground-truth box."""
    root = shared_sequences / "OTB" / "Crossing"
    images = sorted((root / "img").glob("*.jpg"))[:CROSSING_FRAMES]
    first_box = np.loadtxt(root / "groundtruth_rect.txt", delimiter=None, max_rows=1)
    return images, first_box


@pytest.fixture
def crossing_video(tmp_path, crossing) -> Path:
    """A real mp4 (mp4v) written by OpenCV from Crossing's frames."""
    images, _ = crossing
    path = tmp_path / "input" / "crossing.mp4"
    path.parent.mkdir()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), CROSSING_FPS, (360, 240))
    for image in images:
        writer.write(cv2.imread(str(image)))
    writer.release()
    return path


def read_video(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), path
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def box_edge_difference(drawn: np.ndarray, original: np.ndarray, box: np.ndarray) -> float:
    """Mean absolute difference along the box's left edge: large where a box was drawn."""
    x, y, w, h = (int(round(value)) for value in box)
    edge = (slice(y + 2, y + h - 2), slice(x, x + 2))
    return float(np.abs(drawn[edge].astype(int) - original[edge].astype(int)).mean())


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# ----------------------------------------------------------------------------- sources


def test_video_source_knows_count_size_fps_and_streams_frames(crossing_video, crossing):
    source = open_frames(crossing_video)
    assert (source.frame_count, source.size, source.fps) == (CROSSING_FRAMES, (240, 360), 25.0)
    assert not source.is_folder
    frames = list(source)
    assert len(frames) == CROSSING_FRAMES
    assert all(frame.shape == (240, 360, 3) and frame.dtype == np.uint8 for frame in frames)
    # It is the video's content (lossy mp4v: close to the source image, not equal).
    original = cv2.imread(str(crossing[0][5])).astype(int)
    assert np.abs(frames[5].astype(int) - original).mean() < 6
    np.testing.assert_array_equal(source.first_frame, frames[0])
    assert len(list(source)) == CROSSING_FRAMES, "a second pass starts over"


def test_video_fps_can_be_overridden(crossing_video):
    assert open_frames(crossing_video, fps=12.5).fps == 12.5


def test_folder_source_reads_images_in_natural_order(tmp_path):
    for index in (1, 2, 10, 11, 3):
        cv2.imwrite(str(tmp_path / f"frame{index}.png"), np.full((8, 6, 3), index, np.uint8))
    (tmp_path / "groundtruth.txt").write_text("1,2,3,4\n")  # benchmark folders carry these
    (tmp_path / "._frame0.png").write_bytes(b"\0\0")  # macOS resource fork, not an image
    source = open_frames(tmp_path)
    assert source.is_folder
    assert (source.frame_count, source.size, source.fps) == (5, (8, 6), 30.0)
    assert [int(frame[0, 0, 0]) for frame in source] == [1, 2, 3, 10, 11]
    assert open_frames(tmp_path, fps=10).fps == 10.0


def test_natural_sort_key_orders_numbers_by_value():
    names = ["img10.jpg", "img2.jpg", "IMG1.jpg", "a.jpg", "img2b.jpg", "10.jpg", "9.jpg"]
    ordered = sorted((Path(name) for name in names), key=natural_sort_key)
    assert [path.name for path in ordered] == [
        "9.jpg",
        "10.jpg",
        "a.jpg",
        "IMG1.jpg",
        "img2.jpg",
        "img2b.jpg",
        "img10.jpg",
    ]


def test_real_benchmark_folder_ignores_its_groundtruth(shared_sequences):
    source = open_frames(shared_sequences / "VOT" / "ball1")  # frames and groundtruth.txt
    assert (source.frame_count, source.size) == (105, (720, 1280))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "missing.mp4", r"missing\.mp4 does not exist"),
        (lambda root: _write(root / "notes.mp4", b"not a video at all"), r"notes\.mp4: not a vid"),
        (lambda root: _write(root / "noise.avi", bytes(range(256)) * 40), r"noise\.avi: not a vid"),
        (lambda root: _folder(root / "empty"), r"folder .*empty holds no images"),
        (lambda root: _write(root / "frame.jpg", b"x"), r"frame\.jpg is a single image"),
    ],
    ids=["missing", "text-as-mp4", "noise-as-avi", "empty-folder", "single-image"],
)
def test_bad_sources_raise_input_error_naming_the_file(tmp_path, make, message):
    with pytest.raises(InputError, match=message):
        open_frames(make(tmp_path))


def test_folder_without_images_points_to_a_subfolder_with_them(tmp_path):
    (tmp_path / "seq" / "img").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "seq" / "img" / "0001.jpg"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(InputError, match=r"did you mean .*img\?"):
        open_frames(tmp_path / "seq")


def test_folder_frames_of_differing_sizes_fail_naming_the_odd_one(tmp_path):
    cv2.imwrite(str(tmp_path / "1.png"), np.zeros((8, 6, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "2.png"), np.zeros((8, 6, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "3.png"), np.zeros((6, 8, 3), np.uint8))
    frames = iter(open_frames(tmp_path))
    next(frames), next(frames)
    with pytest.raises(InputError, match=r"3\.png is 8×6 but 1\.png is 6×8"):
        next(frames)


def test_unreadable_folder_image_fails_naming_it(tmp_path):
    cv2.imwrite(str(tmp_path / "1.png"), np.zeros((8, 6, 3), np.uint8))
    (tmp_path / "2.png").write_text("truncated")
    with pytest.raises(InputError, match=r"2\.png: not a readable image"):
        list(open_frames(tmp_path))


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


# ----------------------------------------------------------------------------- boxes


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10,20,30,40", [10, 20, 30, 40]), (" 1.5, 2 ,3.25,4 ", [1.5, 2, 3.25, 4])],
)
def test_parse_box(text, expected):
    np.testing.assert_array_equal(parse_box(text), expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10,20,30", "not X,Y,W,H"),
        ("10,20,30,40,50", "not X,Y,W,H"),
        ("a,b,c,d", "not X,Y,W,H"),
        ("10;20;30;40", "not X,Y,W,H"),
        ("10,20,nan,40", "not X,Y,W,H"),
        ("10,20,0,40", "width 0 and height 40; both must be > 0"),
        ("10,20,30,-4", "width 30 and height -4"),
    ],
)
def test_parse_box_rejects(text, message):
    with pytest.raises(InputError, match=re.escape(message)):
        parse_box(text)


def test_box_must_lie_inside_the_frame():
    check_box_in_frame(np.array([0, 0, 360, 240]), (240, 360))  # the whole frame is fine
    with pytest.raises(InputError, match=r"box 300,200,100,50 is not inside the 360×240 frame"):
        check_box_in_frame(np.array([300, 200, 100, 50]), (240, 360))
    with pytest.raises(InputError, match=r"box -5,10,20,20 is not inside"):
        check_box_in_frame(np.array([-5, 10, 20, 20]), (240, 360))
    with pytest.raises(InputError, match=r"box 500,500,10,10 is not inside"):
        check_box_in_frame(np.array([500, 500, 10, 10]), (240, 360))
    with pytest.raises(InputError, match=r"box 5,5,0,10 has width 0"):
        check_box_in_frame(np.array([5, 5, 0, 10]), (240, 360))


# ----------------------------------------------------------------------------- writer


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mkv"])
def test_writer_round_trip_keeps_count_size_and_fps(tmp_path, suffix):
    frames = [np.full((48, 64, 3), 20 * index, np.uint8) for index in range(7)]
    path = tmp_path / f"out{suffix}"
    with FrameWriter(path, (48, 64), fps=12.0) as writer:
        for frame in frames:
            writer.write(frame)
        assert not path.exists(), "nothing at the destination until complete"
    source = open_frames(path)
    assert (source.frame_count, source.size, source.fps) == (7, (48, 64), 12.0)
    decoded = list(source)
    assert len(decoded) == 7
    assert abs(float(decoded[3].mean()) - 60) < 3
    assert leftovers(tmp_path) == [path.name]


def test_writer_to_folder_writes_exact_png_frames(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (9, 7, 3), dtype=np.uint8) for _ in range(3)]
    with FrameWriter(tmp_path / "frames", (9, 7), fps=30) as writer:
        for frame in frames:
            writer.write(frame)
    assert leftovers(tmp_path / "frames") == ["000001.png", "000002.png", "000003.png"]
    for frame, written in zip(frames, open_frames(tmp_path / "frames"), strict=True):
        np.testing.assert_array_equal(frame, written)


def test_writer_pads_odd_sizes_for_video_codecs(tmp_path):
    # FFmpeg's encoders need even sizes; padding keeps every pixel (and box coordinate).
    with FrameWriter(tmp_path / "odd.mp4", (41, 63), fps=30) as writer:
        assert writer.video_size == (42, 64)
        for _ in range(3):
            writer.write(np.full((41, 63, 3), 200, np.uint8))
    source = open_frames(tmp_path / "odd.mp4")
    assert (source.frame_count, source.size) == (3, (42, 64))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("out.webm", r"unknown video extension '\.webm'"),
        ("missing/out.mp4", r"folder .*missing does not exist"),
    ],
)
def test_writer_rejects_paths_it_cannot_write(tmp_path, name, message):
    with pytest.raises(InputError, match=message):
        FrameWriter(tmp_path / name, (8, 8), fps=30)


def test_writer_will_not_fill_a_folder_that_has_files(tmp_path):
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="exists and is not an empty folder"):
        FrameWriter(tmp_path / "frames", (8, 8), fps=30)


def test_writer_on_error_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with FrameWriter(tmp_path / "out.mp4", (8, 8), fps=30) as writer:
            writer.write(np.zeros((8, 8, 3), np.uint8))
            raise RuntimeError("crash mid-video")
    assert leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- drawing


def test_draw_tracking_draws_both_boxes_in_their_colours_without_touching_the_input():
    frame = np.full((240, 360, 3), 128, np.uint8)
    before = frame.copy()
    drawn = draw_tracking(frame, np.array([100, 60, 80, 100]), np.array([40, 20, 200, 180]))
    np.testing.assert_array_equal(frame, before)
    assert tuple(drawn[110, 100]) == PREDICTION_COLOUR  # left edge of the prediction
    assert tuple(drawn[110, 40]) == ATTENTION_COLOUR  # left edge of the attention
    assert tuple(drawn[110, 140]) == (128, 128, 128)  # inside: untouched
    # The legend darkens the top-left corner and carries both colours.
    legend = drawn[:30, :100].reshape(-1, 3)
    assert (legend.sum(axis=1) < 3 * 128).mean() > 0.5
    for colour in (PREDICTION_COLOUR, ATTENTION_COLOUR):
        assert (legend == colour).all(axis=1).any()


def test_draw_tracking_shows_glimpse_and_mask_insets_only_when_given():
    frame = np.full((240, 360, 3), 128, np.uint8)
    box = np.array([100, 60, 80, 100])
    plain = draw_tracking(frame, box)
    corner = (slice(180, 236), slice(230, 356))  # bottom right, where the insets go
    np.testing.assert_array_equal(plain[corner], frame[corner])
    glimpse = np.zeros((56, 56, 3), np.uint8)
    glimpse[:, :, 2] = 255  # pure red
    mask = np.zeros((14, 14), np.float32)
    with_insets = draw_tracking(frame, box, glimpse=glimpse, object_mask=mask)
    pixels = with_insets[corner].reshape(-1, 3)
    assert (pixels == (0, 0, 255)).all(axis=1).sum() > 50 * 50  # the glimpse, 60 px high
    viridis_zero = tuple(cv2.applyColorMap(np.zeros((1, 1), np.uint8), cv2.COLORMAP_VIRIDIS)[0, 0])
    assert (pixels == viridis_zero).all(axis=1).sum() > 50 * 50  # the mask, all zeros


def test_draw_tracking_skips_a_lost_box():
    frame = np.full((120, 160, 3), 128, np.uint8)
    drawn = draw_tracking(frame, np.full(4, np.nan))
    below_legend = (slice(40, None), slice(None))
    np.testing.assert_array_equal(drawn[below_legend], frame[below_legend])


def test_draw_tracking_draws_the_visible_edges_of_a_box_far_beyond_the_frame():
    frame = np.full((120, 160, 3), 128, np.uint8)
    # Left and top edges inside the frame; the right and bottom ones beyond any int32.
    drawn = draw_tracking(frame, np.array([40.0, 60.0, 1e12, 1e12]), legend=False)
    assert (drawn[60:, 40] == PREDICTION_COLOUR).all(-1).any()  # the left edge
    assert (drawn[60, 40:] == PREDICTION_COLOUR).all(-1).any()  # the top edge
    assert (drawn[:55] == 128).all()  # nothing above the box


# ----------------------------------------------------------------------------- tracking loop


def test_run_tracking_on_a_real_video(tmp_path, crossing_video, crossing):
    _, first_box = crossing
    output, boxes_out = tmp_path / "tracked.mp4", tmp_path / "boxes.txt"
    run = run_tracking(
        open_frames(crossing_video), MILTracker(), first_box, output, boxes_out, progress=False
    )
    assert run.boxes.shape == (CROSSING_FRAMES, 4)
    np.testing.assert_array_equal(run.boxes[0], first_box)
    assert 0 < run.tracking_seconds <= run.total_seconds
    assert run.tracking_fps >= run.overall_fps > 0

    source = open_frames(output)
    assert (source.frame_count, source.size, source.fps) == (CROSSING_FRAMES, (240, 360), 25.0)
    written, original = read_video(output), read_video(crossing_video)
    assert len(written) == CROSSING_FRAMES
    for index in (0, CROSSING_FRAMES - 1):
        # Drawn edges differ far beyond the codec's noise; the rest of the frame does not.
        assert box_edge_difference(written[index], original[index], run.boxes[index]) > 40
        assert (
            np.abs(written[index][120:, :150].astype(int) - original[index][120:, :150]).mean() < 4
        )

    lines = boxes_out.read_text().splitlines()
    assert len(lines) == CROSSING_FRAMES
    assert lines[0] == ",".join(f"{value:g}" for value in first_box)
    np.testing.assert_allclose(np.loadtxt(boxes_out, delimiter=","), run.boxes, atol=0.01)
    assert leftovers(tmp_path) == ["boxes.txt", "input", "tracked.mp4"]


def test_run_tracking_on_a_folder_of_frames_draws_attention_and_insets(tmp_path, crossing):
    images, first_box = crossing
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, image in enumerate(images[:12], start=1):  # names that sort wrongly as text
        (folder / f"{index}.jpg").write_bytes(image.read_bytes())
    output = tmp_path / "tracked"  # no extension: a folder of PNG frames, lossless
    tracker = AttentiveTracker()
    run = run_tracking(open_frames(folder), tracker, first_box, output, progress=False)
    assert run.frame_count == 12
    written = list(open_frames(output))
    assert len(written) == 12 and written[0].shape == (240, 360, 3)
    last = cv2.imread(str(images[11]))
    assert box_edge_difference(written[11], last, run.boxes[11]) > 40
    assert box_edge_difference(written[11], last, tracker.attention_box) > 40
    assert (written[11] == ATTENTION_COLOUR).all(axis=2).sum() > 100
    inset = (slice(185, 236), slice(240, 356))
    assert np.abs(written[11][inset].astype(int) - last[inset]).mean() > 20


@pytest.mark.parametrize("error", [RuntimeError("tracker crashed"), KeyboardInterrupt()])
def test_run_tracking_interrupted_leaves_no_output(tmp_path, crossing_video, crossing, error):
    output, boxes_out = tmp_path / "tracked.mp4", tmp_path / "boxes.txt"
    with pytest.raises(type(error)):
        run_tracking(
            open_frames(crossing_video),
            FailingTracker(fail_at=5, error=error),
            crossing[1],
            output,
            boxes_out,
            progress=False,
        )
    assert leftovers(tmp_path) == ["input"]


def test_run_tracking_checks_box_and_outputs_before_tracking(tmp_path, crossing_video):
    source = open_frames(crossing_video)
    tracker = FailingTracker(fail_at=1, error=AssertionError("must not be called"))
    with pytest.raises(InputError, match="not inside the 360×240 frame"):
        run_tracking(source, tracker, [350, 10, 20, 20], tmp_path / "out.mp4", progress=False)
    with pytest.raises(InputError, match="is the input"):
        run_tracking(source, tracker, [10, 10, 20, 20], crossing_video, progress=False)
    with pytest.raises(InputError, match="unknown video extension"):
        run_tracking(source, tracker, [10, 10, 20, 20], tmp_path / "out.gif", progress=False)
    assert leftovers(tmp_path) == ["input"]


def test_tracking_strip_draws_truth_prediction_and_attention_side_by_side():
    from hart.drawing import GROUND_TRUTH_COLOUR, tracking_strip

    frames = np.full((3, 3, 60, 80), 0.5, np.float32)  # (T, 3, H, W) RGB
    truth = np.array([[10, 10, 20, 20]] * 3, np.float32)
    prediction = truth + [30, 0, 0, 0]
    attention = np.array([[5, 30, 60, 25]] * 3, np.float32)
    strip = tracking_strip(frames, truth, prediction, attention)
    assert strip.shape == (60, 240, 3) and strip.dtype == np.uint8
    rgb = {tuple(c[::-1]) for c in (GROUND_TRUTH_COLOUR, PREDICTION_COLOUR, ATTENTION_COLOUR)}
    for frame in np.split(strip, 3, axis=1):
        colours = {tuple(p) for p in frame.reshape(-1, 3)}
        assert rgb <= colours

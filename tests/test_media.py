"""hart.media: frame sources (videos and folders), the atomic writer, and drawing."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import CROSSING_FRAMES

from hart.errors import InputError
from hart.media.drawing import (
    ATTENTION_COLOUR,
    GROUND_TRUTH_COLOUR,
    PREDICTION_COLOUR,
    draw_tracking,
    tracking_strip,
)
from hart.media.frames import natural_sort_key, open_frames
from hart.media.writer import FrameWriter


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


def test_a_frame_in_two_formats_is_one_error_not_two_frames(tmp_path):
    # `mogrify -format jpg *.png` keeps the PNGs: every frame was read twice, in silence, and
    # hart track wrote a video and a box file twice the length of the ground truth.
    for index in (1, 2, 3):
        image = np.full((8, 6, 3), index, np.uint8)
        cv2.imwrite(str(tmp_path / f"{index:04d}.png"), image)
        cv2.imwrite(str(tmp_path / f"{index:04d}.JPG"), image)
    with pytest.raises(InputError, match=r"0001\.JPG and 0001\.png .*keep one"):
        open_frames(tmp_path)


def test_a_video_whose_first_frame_cannot_be_decoded_says_so(tmp_path, crossing):
    # It said "not a video, or an empty one" of a video whose other frames decode.
    video = tmp_path / "damaged.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (360, 240))
    for image in crossing[0][:5]:
        writer.write(cv2.imread(str(image)))
    writer.release()
    data = bytearray(video.read_bytes())
    first = data.index(b"\xff\xd8\xff")  # the first frame's JPEG
    data[first : first + 400] = bytes(400)
    video.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"damaged.avi: frame 1 cannot be decoded.*damaged"):
        open_frames(video)


def test_a_frame_linked_to_a_file_that_is_gone_fails_naming_it(tmp_path):
    # It was left out of the folder's frames: the video was tracked a frame short, in silence.
    for index in (1, 2, 4):
        cv2.imwrite(str(tmp_path / f"{index}.png"), np.zeros((8, 6, 3), np.uint8))
    (tmp_path / "3.png").symlink_to(tmp_path / "moved" / "3.png")
    source = open_frames(tmp_path)
    assert source.frame_count == 4
    with pytest.raises(InputError, match=r"3\.png: no such image .*a link to a file that is gone"):
        list(source)


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
    with pytest.raises(InputError, match=r"2\.png: cannot read this image"):
        list(open_frames(tmp_path))


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


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
        ("a_file/out.mp4", r"a_file is a file, not a folder"),
    ],
)
def test_writer_rejects_paths_it_cannot_write(tmp_path, name, message):
    (tmp_path / "a_file").write_text("not a folder")
    with pytest.raises(InputError, match=message):
        FrameWriter(tmp_path / name, (8, 8), fps=30)


@pytest.mark.parametrize(
    ("name", "fps", "message"),
    [
        ("out.mp4", 0.001, "at 0.001 frames/s: video needs more than 0.001"),
        ("out.avi", 1e-300, "at 1e-300 frames/s: video needs more than 0.001"),
        ("out.mp4", 70000, "at 70000 frames/s: MPEG-4 video allows at most 65535"),
        ("out.avi", 1001, r"at 1001 frames/s: Motion JPEG video \(.avi, .mkv\) is written at"),
        ("out.mkv", 65535, "at 65535 frames/s: Motion JPEG video"),
    ],
)
def test_writer_rejects_a_frame_rate_its_codec_cannot_declare(tmp_path, name, fps, message):
    # OpenCV fails to open (after FFmpeg's error lines), or writes a video that reads back with
    # another rate or frame count, which the read-back check would take for a full disk.
    with pytest.raises(InputError, match=message):
        FrameWriter(tmp_path / name, (8, 8), fps=fps)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(("suffix", "fps"), [(".avi", 1000.0), (".mkv", 1000.0), (".mp4", 0.01)])
def test_the_frame_rates_at_the_writers_limits_read_back_as_written(tmp_path, suffix, fps):
    path = tmp_path / f"out{suffix}"
    with FrameWriter(path, (8, 8), fps=fps) as writer:
        for _ in range(3):
            writer.write(np.zeros((8, 8, 3), np.uint8))
    source = open_frames(path)
    assert (source.frame_count, source.fps) == (3, fps)


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


class FrameLosingWriter:
    """OpenCV's writer as it behaves on a full disk: it takes frames and says nothing. (It wraps
    the real one: with a Python subclass of cv2.VideoWriter instead, a later test in the same
    session died of a segmentation fault.)"""

    real = cv2.VideoWriter

    def __init__(self, *args):
        self._writer = self.real(*args)

    def isOpened(self):
        return self._writer.isOpened()

    def write(self, frame):
        pass

    def release(self):
        self._writer.release()


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_a_video_that_does_not_read_back_whole_is_an_error_and_not_written(
    tmp_path, monkeypatch, suffix
):
    monkeypatch.setattr(cv2, "VideoWriter", FrameLosingWriter)
    with pytest.raises(OSError, match=rf"cannot write .*out\{suffix}: .* 0 of its 3 frames"):
        with FrameWriter(tmp_path / f"out{suffix}", (8, 8), fps=30) as writer:
            for _ in range(3):
                writer.write(np.zeros((8, 8, 3), np.uint8))
    assert leftovers(tmp_path) == []


def test_writer_will_not_replace_a_pipe_with_a_file(tmp_path):
    os.mkfifo(tmp_path / "pipe.mp4")
    with pytest.raises(InputError, match="pipe.mp4: it is a device, pipe or socket"):
        FrameWriter(tmp_path / "pipe.mp4", (8, 8), fps=30)
    assert (tmp_path / "pipe.mp4").is_fifo()


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


# Frame sizes hart tracks, from a thumbnail to full HD, as (height, width).
FRAME_SIZES = [(48, 64), (72, 96), (96, 128), (120, 160), (240, 320), (480, 640), (1080, 1920)]


def _columns(mask: np.ndarray) -> tuple[int, int]:
    """First and last column where ``mask`` (H, W) is set."""
    columns = np.flatnonzero(mask.any(axis=0))
    return columns[0], columns[-1]


@pytest.mark.parametrize("size", FRAME_SIZES, ids=lambda s: f"{s[1]}x{s[0]}")
def test_inset_labels_stand_each_over_its_own_panel_at_every_frame_size(size):
    frame = np.full((*size, 3), 128, np.uint8)
    glimpse = np.zeros((56, 56, 3), np.uint8)
    glimpse[:, :, 2] = 255  # pure red
    drawn = draw_tracking(frame, None, glimpse=glimpse, object_mask=np.zeros((14, 14)))
    red = (drawn == (0, 0, 255)).all(-1)
    if min(size) < 120:
        # Panels too narrow for a legible label: no insets at all, rather than smudged text.
        np.testing.assert_array_equal(drawn, frame)
        return
    viridis_zero = cv2.applyColorMap(np.zeros((1, 1), np.uint8), cv2.COLORMAP_VIRIDIS)[0, 0]
    panels = [_columns(red), _columns((drawn == viridis_zero).all(-1))]  # glimpse, mask
    top = np.flatnonzero(red.any(axis=1))[0]
    # With no boxes there is no legend: everything white above the panels is label text (the
    # mask's white border is row top - 1).
    text = (drawn[: top - 1] > 200).all(-1)
    for first, last in panels:
        assert text[:, first : last + 1].any()  # a label over each panel…
    outside = np.ones(size[1], bool)
    for first, last in panels:
        outside[first : last + 1] = False
    assert not text[:, outside].any()  # …and no letter beyond it, so the two stay apart


@pytest.mark.parametrize("size", FRAME_SIZES, ids=lambda s: f"{s[1]}x{s[0]}")
@pytest.mark.parametrize("corner", ["top-left", "top-right", "bottom-left", "bottom-right"])
def test_the_legend_and_the_insets_never_hide_the_predicted_box(size, corner):
    height, width = size
    frame = np.full((height, width, 3), 128, np.uint8)
    w, h = width // 4, height // 4  # a quarter of the frame each way, 2 px from its edges
    x = 2 if corner.endswith("left") else width - w - 2 - w // 8
    y = height - h - 2 - h // 8 if corner.startswith("bottom") else 2
    box = np.array([x, y, w, h], np.float64)
    truth = box + [w // 8, h // 8, 0, 0]
    attention = np.array([x - w / 4, y - h / 4, w * 1.5, h * 1.5])
    glimpse, mask = np.zeros((56, 56, 3), np.uint8), np.zeros((14, 14), np.float32)
    drawn = draw_tracking(frame, box, attention, glimpse, mask, truth)
    plain = draw_tracking(frame, box, attention, None, None, truth, legend=False)
    # Wherever the legend and the insets went, the predicted and true boxes, lines and all,
    # and what is in them look as they would with neither.
    margin = max(2, min(size) // 200) + 1
    top, left = max(0, y - margin), max(0, x - margin)
    bottom, right = y + h + h // 8 + margin, x + w + w // 8 + margin
    np.testing.assert_array_equal(drawn[top:bottom, left:right], plain[top:bottom, left:right])
    if width >= 128:  # a frame with room for a legend has one
        assert (drawn != plain).any()


def test_the_legend_stays_put_while_the_box_leaves_it_room():
    frame = np.full((240, 320, 3), 128, np.uint8)
    drawn = [draw_tracking(frame, np.array([x, 150.0, 40, 40])) for x in (20, 140, 260)]
    for image in drawn:
        legend = image[:20, :60].reshape(-1, 3)
        assert (legend.sum(axis=1) < 3 * 128).mean() > 0.5  # dark: the legend is top-left
        assert (legend == PREDICTION_COLOUR).all(axis=1).any()


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


def test_tracking_strip_draws_truth_prediction_and_attention_side_by_side():
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

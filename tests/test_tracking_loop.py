"""hart.tracking.loop: the tracking loop of `hart track` on real frames, with OpenCV's MIL as
the tracker (any init/update tracker fits)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import CROSSING_FRAMES

from hart.errors import InputError
from hart.media.drawing import ATTENTION_COLOUR
from hart.media.frames import open_frames
from hart.tracking.loop import run_tracking


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
    with pytest.raises(InputError, match="is outside the 360×240 frame"):
        run_tracking(source, tracker, [370, 10, 20, 20], tmp_path / "out.mp4", progress=False)
    with pytest.raises(InputError, match="is the input"):
        run_tracking(source, tracker, [10, 10, 20, 20], crossing_video, progress=False)
    with pytest.raises(InputError, match="unknown video extension"):
        run_tracking(source, tracker, [10, 10, 20, 20], tmp_path / "out.gif", progress=False)
    assert leftovers(tmp_path) == ["input"]


def test_a_video_cut_short_is_an_error_unless_accepted(tmp_path, crossing, crossing_video):
    # An AVI whose header declares 24 frames, cut to half its bytes: a download or copy that
    # stopped early. OpenCV reads what is there and stops without a word.
    images, box = crossing
    video = tmp_path / "input" / "cut.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (360, 240))
    for index in range(24):
        writer.write(cv2.imread(str(images[index % len(images)])))
    writer.release()
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    source = open_frames(video)
    decoded = len(read_video(video))
    assert source.frame_count == 24 and 0 < decoded < 24
    outputs = (tmp_path / "tracked.mp4", tmp_path / "boxes.txt")
    message = rf"cut.avi: only {decoded} of the 24 frames its container declares could be decoded"
    with pytest.raises(InputError, match=message):
        run_tracking(source, MILTracker(), box, *outputs, progress=False)
    assert leftovers(tmp_path) == ["input"]
    run = run_tracking(source, MILTracker(), box, *outputs, progress=False, accept_short=True)
    assert run.cut_short and run.frame_count == decoded and run.declared_frames == 24
    assert len(outputs[1].read_text().splitlines()) == decoded
    whole = run_tracking(open_frames(crossing_video), MILTracker(), box, progress=False)
    assert not whole.cut_short and whole.frame_count == whole.declared_frames


def test_a_video_with_a_frame_that_cannot_be_decoded_is_an_error_unless_accepted(
    tmp_path, crossing
):
    # A whole AVI (its sizes account for every byte) whose 11th JPEG is wiped: OpenCV fails on
    # that frame and reads on past it. Tracking stopped there and wrote 10 of 24 frames, exit 0.
    images, box = crossing
    video = tmp_path / "input" / "damaged.avi"
    video.parent.mkdir()
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (360, 240))
    for index in range(24):
        writer.write(cv2.imread(str(images[index % len(images)])))
    writer.release()
    data = bytearray(video.read_bytes())
    eleventh = [i for i in range(len(data) - 2) if data[i : i + 3] == b"\xff\xd8\xff"][10]
    data[eleventh : eleventh + 400] = bytes(400)
    video.write_bytes(bytes(data))
    source = open_frames(video)
    assert source.truncated is False and source.frame_count == 24
    outputs = (tmp_path / "tracked.mp4", tmp_path / "boxes.txt")
    with pytest.raises(InputError, match=r"damaged.avi: frame 11 cannot be decoded.*--accept-sh"):
        run_tracking(source, MILTracker(), box, *outputs, progress=False)
    assert leftovers(tmp_path) == ["input"]
    run = run_tracking(source, MILTracker(), box, *outputs, progress=False, accept_short=True)
    assert run.cut_short and run.damaged and run.frame_count == 10
    assert len(outputs[1].read_text().splitlines()) == 10


def _stretched_mkv(path: Path, images: list[Path], box_frames: int = 20) -> Path:
    """A whole Matroska video of ``box_frames`` frames whose container says it lasts twice as
    long, as a variable frame rate or an audio track that outlasts the video leaves it: OpenCV
    estimates its frame count from that duration (Matroska keeps no count)."""
    path.parent.mkdir()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (360, 240))
    if not writer.isOpened():
        pytest.skip("this OpenCV cannot write Motion JPEG in Matroska")
    for index in range(box_frames):
        writer.write(cv2.imread(str(images[index % len(images)])))
    writer.release()
    data = bytearray(path.read_bytes())
    duration = data.index(b"\x44\x89\x88") + 3  # Info's Duration: an 8-byte float, in ms
    (milliseconds,) = struct.unpack(">d", data[duration : duration + 8])
    data[duration : duration + 8] = struct.pack(">d", 2 * milliseconds)
    path.write_bytes(bytes(data))
    return path


def test_a_whole_video_whose_estimated_count_is_too_high_is_tracked_to_its_end(tmp_path, crossing):
    images, box = crossing
    video = _stretched_mkv(tmp_path / "input" / "stretched.mkv", images)
    source = open_frames(video)
    assert source.frame_count == 40  # 20 frames decode
    boxes_out = tmp_path / "boxes.txt"
    run = run_tracking(source, MILTracker(), box, boxes_out=boxes_out, progress=False)
    assert run.frame_count == 20 and not run.cut_short and source.truncated is False
    assert len(boxes_out.read_text().splitlines()) == 20
    # The same file cut short is still an error: its Segment runs past the end of the file.
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="stretched.mkv: only .* of the 40 frames"):
        run_tracking(open_frames(video), MILTracker(), box, progress=False)


FFMPEG = shutil.which("ffmpeg")
LONGER_AUDIO = ["-f", "lavfi", "-i", "sine=duration=1.6", "-c:v", "libx264", "-c:a", "aac"]


@pytest.mark.skipif(FFMPEG is None, reason="needs the ffmpeg command to make the videos")
@pytest.mark.parametrize(
    "name, arguments",
    [
        # A variable frame rate (frames 20 on twice as far apart): WebM keeps no frame count.
        (
            "vfr.webm",
            ["-vf", "setpts='(N+if(gt(N,19),N-19,0))/25/TB'", "-fps_mode", "vfr", "-c:v", "libvpx"],
        ),
        # An audio track 0.4 s longer than the video.
        ("audio.mkv", LONGER_AUDIO),
        # The same in MPEG-TS and M2TS (camcorders' .mts, broadcast and dash-cam recordings),
        # which keep no count either: they were refused as "cut short or damaged".
        ("audio.ts", LONGER_AUDIO),
        ("audio.m2ts", LONGER_AUDIO),
    ],
)
def test_real_whole_videos_with_fewer_frames_than_opencv_counts_track_to_the_end(
    tmp_path, crossing, name, arguments
):
    images, box = crossing
    frames = tmp_path / "frames"
    frames.mkdir()
    for index, image in enumerate(images[:30]):
        (frames / f"{index:04d}.jpg").write_bytes(image.read_bytes())
    video = tmp_path / name
    command = [FFMPEG, "-loglevel", "error", "-framerate", "25", "-i", str(frames / "%04d.jpg")]
    made = subprocess.run([*command, *arguments, "-pix_fmt", "yuv420p", str(video)], check=False)
    if made.returncode != 0:
        pytest.skip(f"this ffmpeg cannot make {name}")
    source = open_frames(video)
    assert source.frame_count > 30, source
    boxes_out = tmp_path / "boxes.txt"
    run = run_tracking(source, MILTracker(), box, boxes_out=boxes_out, progress=False)
    assert run.frame_count == len(read_video(video)) == 30 and not run.cut_short
    assert source.truncated is False
    assert len(boxes_out.read_text().splitlines()) == 30


@pytest.mark.skipif(FFMPEG is None, reason="needs the ffmpeg command to make the video")
def test_a_video_trimmed_without_reencoding_tracks_the_frames_its_edit_list_shows(
    tmp_path, crossing
):
    # `ffmpeg -ss … -c copy` (and lossless trimming tools) keep the frames back to a key frame
    # and hide them with an edit list: the container counts them, no player shows them.
    images, _ = crossing
    frames = tmp_path / "frames"
    frames.mkdir()
    for index, image in enumerate(images[:30]):
        (frames / f"{index:04d}.jpg").write_bytes(image.read_bytes())
    whole, trimmed = tmp_path / "whole.mov", tmp_path / "trimmed.mov"
    quiet = [FFMPEG, "-loglevel", "error"]
    encode = ["-framerate", "25", "-i", str(frames / "%04d.jpg"), "-c:v", "libx264", "-g", "25"]
    if subprocess.run([*quiet, *encode, "-pix_fmt", "yuv420p", str(whole)]).returncode != 0:
        pytest.skip("this ffmpeg cannot encode H.264")
    subprocess.run([*quiet, "-ss", "0.4", "-i", str(whole), "-c", "copy", str(trimmed)], check=True)
    shown = read_video(trimmed)
    source = open_frames(trimmed)
    assert len(shown) < source.frame_count
    run = run_tracking(source, MILTracker(), [100, 100, 30, 60], progress=False)
    assert run.frame_count == len(shown) and not run.cut_short

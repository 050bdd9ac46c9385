"""Running trackers over sequences: the OpenCV adapter, the cache, failures, skipped sequences."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from crashing_tracker import CrashesOnDarkFrames

from hart.datasets.sequence import Sequence
from hart.errors import InputError
from hart.evaluation import report, trackers
from hart.evaluation.playback import TrackRun
from hart.evaluation.runner import (
    cache_path,
    evaluate,
    read_cached,
    track_sequence,
    write_cached,
)
from hart.evaluation.trackers import OpenCVTracker, StaticBox, TrackerSpec, baseline_spec


def moving_square(folder: Path, name: str, frames: int = 8, step: int = 3) -> Sequence:
    """A textured 16×16 square moving ``step`` px right per frame on a 96×64 grey background."""
    folder = folder / name
    folder.mkdir(parents=True)
    generator = np.random.default_rng(1)
    texture = generator.integers(0, 255, size=(16, 16, 3), dtype=np.uint8)
    paths, boxes = [], []
    for index in range(frames):
        image = np.full((64, 96, 3), 128, dtype=np.uint8)
        x = 10 + step * index
        image[20:36, x : x + 16] = texture
        path = folder / f"{index:04d}.png"
        cv2.imwrite(str(path), image)
        paths.append(path)
        boxes.append([x, 20, 16, 16])
    return Sequence(name, paths, np.array(boxes), np.ones(frames, dtype=bool))


class FollowsTruth:
    """A test double that reports the true box shifted by ``shift`` px, then loses the target
    (returns NaN) from frame ``lost_from`` on."""

    def __init__(self, sequence: Sequence, shift: float = 0.0, lost_from: int | None = None):
        self.sequence, self.shift, self.lost_from = sequence, shift, lost_from

    def init(self, frame, box):
        assert frame.dtype == np.uint8 and frame.shape[2] == 3  # BGR as OpenCV reads it
        np.testing.assert_array_equal(box, self.sequence.boxes[0])
        self.index = 0

    def update(self, frame):
        self.index += 1
        if self.lost_from is not None and self.index >= self.lost_from:
            return np.full(4, np.nan)
        return self.sequence.boxes[self.index] + np.array([self.shift, 0, 0, 0])


class FailsOnUpdate:
    def init(self, frame, box):
        pass

    def update(self, frame):
        raise RuntimeError("tracker blew up\nsecond line of detail")


class MustNotRun:
    def init(self, frame, box):
        raise AssertionError("the cache should have been used")

    def update(self, frame):
        raise AssertionError("the cache should have been used")


def quiet(message: str) -> None:
    pass


def test_track_sequence_records_given_box_then_updates(tmp_path):
    sequence = moving_square(tmp_path, "square")
    run = track_sequence(FollowsTruth(sequence, shift=2.0), sequence)
    np.testing.assert_array_equal(run.boxes[0], sequence.boxes[0])
    np.testing.assert_allclose(run.boxes[1:, 0], sequence.boxes[1:, 0] + 2)
    assert run.seconds.shape == (8,) and (run.seconds >= 0).all()
    assert len(track_sequence(FollowsTruth(sequence), sequence, frames=3).boxes) == 3


def test_opencv_tracker_keeps_the_last_box_when_opencv_reports_a_failure():
    class Fake:  # stands in for a cv2 tracker: succeeds on odd calls, fails on even ones
        calls = 0

        def init(self, frame, box):
            Fake.box = box

        def update(self, frame):
            Fake.calls += 1
            return Fake.calls % 2 == 1, (Fake.calls, 0, 5, 5)

    tracker = OpenCVTracker(Fake, integer_boxes=True)
    frame = np.zeros((10, 10, 3), dtype=np.uint8)
    tracker.init(frame, np.array([1.4, 2.6, 10.5, 3.2]))
    assert Fake.box == (1, 3, 10, 3)  # OpenCV's current API takes whole pixels
    outputs = [tracker.update(frame).tolist() for _ in range(4)]
    assert outputs == [[1, 0, 5, 5], [1, 0, 5, 5], [3, 0, 5, 5], [3, 0, 5, 5]]


def test_a_real_opencv_tracker_follows_a_moving_square(tmp_path):
    sequence = moving_square(tmp_path, "square")
    tracker = baseline_spec("csrt").make()
    run = track_sequence(tracker, sequence)
    assert run.boxes.shape == (8, 4)
    # CSRT is deterministic and follows this easy target within a few pixels.
    assert np.abs(run.boxes[:, 0] - sequence.boxes[:, 0]).max() < 4


def test_unknown_and_missing_tracker_names(monkeypatch):
    with pytest.raises(InputError, match="unknown tracker 'siamrpn'.*mil, kcf, csrt"):
        baseline_spec("siamrpn")
    monkeypatch.setattr(trackers, "_opencv_constructor", lambda class_name: None)
    with pytest.raises(InputError, match="'tld'.*needs opencv-contrib-python"):
        baseline_spec("tld")
    assert "tld" in trackers.missing_opencv_trackers()
    assert trackers.available_trackers() == ["hart", "static"]


def test_every_installed_opencv_tracker_is_reachable():
    # opencv-contrib-python is the declared dependency: all seven must be there.
    assert trackers.missing_opencv_trackers() == []
    for name in trackers.OPENCV_TRACKERS:
        assert baseline_spec(name).name == name


def test_parse_baselines():
    assert trackers.parse_baselines("mil, KCF,mil") == ["mil", "kcf"]
    assert trackers.parse_baselines("none") == []
    assert "hart" not in trackers.parse_baselines("all")
    assert "static" in trackers.parse_baselines("all")


def test_nano_is_a_baseline_like_the_others(tmp_path, monkeypatch):
    monkeypatch.delenv(trackers.NANO_ENVIRONMENT, raising=False)
    # Without model files nano is left out of 'all', and asking for it says what is missing.
    assert "nano" not in trackers.parse_baselines("all")
    with pytest.raises(trackers.NoModelFiles, match="no TrackerNano model files") as error:
        baseline_spec("nano")
    assert "unknown" not in str(error.value)
    # A folder given that lacks the files is an error, whether nano is named or 'all' asked.
    with pytest.raises(InputError, match="lacks nanotrack_backbone_sim.onnx"):
        baseline_spec("nano", tmp_path)
    with pytest.raises(InputError, match="lacks nanotrack_backbone_sim.onnx"):
        trackers.parse_baselines("all", tmp_path)
    # A stale $HART_NANOTRACK_DIR only leaves nano out of what is available.
    monkeypatch.setenv(trackers.NANO_ENVIRONMENT, str(tmp_path))
    assert "nano" not in trackers.available_trackers()


def test_cache_round_trip_and_key(tmp_path):
    path = cache_path(tmp_path, "mil", "OTB/Crossing")
    assert path.parent == tmp_path / "mil"
    assert "/" not in path.name and path != cache_path(tmp_path, "mil", "OTB_Crossing")
    run = TrackRun(
        np.array([[1.5, 2, 3, 4], [np.nan] * 4, [5, 6, 7, 8.25]]), np.array([1, 2, 3e-4])
    )
    write_cached(path, "key A", run)
    again = read_cached(path, "key A", 3)
    np.testing.assert_allclose(again.boxes, run.boxes)
    np.testing.assert_allclose(again.seconds, run.seconds)
    assert read_cached(path, "key B", 3) is None  # another tracker or checkpoint
    assert read_cached(path, "key A", 4) is None  # too short for this run
    assert len(read_cached(path, "key A", 2).boxes) == 2  # a prefix serves a shorter run
    assert list(path.parent.glob(".*")) == []  # no temporary files left
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:-1], "5,6,7"]) + "\n")  # damaged: a cut-off last line
    assert read_cached(path, "key A", 3) is None


def test_our_trackers_cached_runs_are_not_reused_after_its_code_changes(tmp_path):
    # The model file alone does not decide hart's boxes: a fix in hart/model or hart/tracking
    # with the same file must not be scored from the boxes tracked before it.
    import shutil

    import hart

    package = tmp_path / "hart"
    shutil.copytree(
        Path(hart.__file__).parent, package, ignore=shutil.ignore_patterns("*.ckpt", "__pycache__")
    )
    before = trackers.tracking_code_digest(package)
    assert before == trackers.tracking_code_digest(Path(hart.__file__).parent)
    (package / "evaluation" / "report.py").write_text("# not what tracks\n")
    assert trackers.tracking_code_digest(package) == before
    for changed in (
        "model/attention.py",
        "tracking/tracker.py",
        "boxes.py",
        "model/glimpse_kernel.c",
    ):
        with (package / changed).open("a") as file:
            file.write("\n# changed\n")
        assert trackers.tracking_code_digest(package) != before, changed
        before = trackers.tracking_code_digest(package)
    assert trackers.our_spec().cache_key.endswith(f"| code {trackers.tracking_code_digest()}")


@pytest.mark.parametrize("where", ["first line", "after the header"])
def test_a_cache_entry_of_bytes_that_are_no_text_is_absent(tmp_path, where):
    # As text junk is: a damaged entry is run again, not a UnicodeDecodeError traceback.
    path = cache_path(tmp_path, "mil", "square")
    write_cached(path, "key A", TrackRun(np.ones((3, 4)), np.ones(3)))
    junk = b"\xff\xfe\x00\x81junk\n"
    header = path.read_bytes().split(b"\n", 1)[0] + b"\n"
    path.write_bytes(junk if where == "first line" else header + junk)
    assert read_cached(path, "key A", 3) is None


def test_evaluate_scores_caches_reports_failures_and_skips(tmp_path):
    square = moving_square(tmp_path, "square")
    wide = moving_square(tmp_path, "wide", frames=6, step=1)
    hidden = moving_square(tmp_path, "hidden", frames=4)
    hidden.visible[0] = False
    hidden.boxes[0] = np.nan
    specs = [
        TrackerSpec("exact", lambda: FollowsTruth(square), "exact v1"),
        TrackerSpec("static", StaticBox, "static"),
        TrackerSpec("broken", FailsOnUpdate, "broken v1"),
    ]
    messages = []
    evaluation = evaluate([square, hidden], specs, tmp_path / "cache", log=messages.append)
    assert evaluation.sequences == ["square"]
    assert "not visible in its first frame" in evaluation.skipped["hidden"]
    assert any("skipping sequence 'hidden'" in m for m in messages)
    assert evaluation.scores["exact"]["square"].success_auc == pytest.approx(20 / 21)
    assert evaluation.scores["static"]["square"].success_auc < 0.5
    assert evaluation.failures == {"broken": {"square": "RuntimeError: tracker blew up"}}
    assert "square" not in evaluation.scores["broken"]
    assert not cache_path(tmp_path / "cache", "broken", "square").exists()
    assert evaluation.steps == 8

    # A second run reads the cache instead of tracking.
    cached = [TrackerSpec("exact", MustNotRun, "exact v1")]
    again = evaluate([square], cached, tmp_path / "cache", log=messages.append)
    assert again.scores["exact"]["square"].as_dict() == pytest.approx(
        evaluation.scores["exact"]["square"].as_dict(), rel=1e-6
    )
    # …unless the tracker changed, or a rerun is asked for.
    with_shift = [TrackerSpec("exact", lambda: FollowsTruth(square, shift=8), "exact v2")]
    changed = evaluate([square], with_shift, tmp_path / "cache", log=quiet)
    assert changed.scores["exact"]["square"].success_auc < 20 / 21
    rerun = evaluate([square], cached, tmp_path / "cache", log=quiet, rerun=True)
    assert "cache should have been used" in rerun.failures["exact"]["square"]

    # A shorter run is served by the prefix of a longer one; the curve covers the shortest.
    short = evaluate([square, wide], specs[1:2], tmp_path / "cache", frames=5, log=quiet)
    assert short.steps == 5 and short.scores["static"]["square"].frames == 5


def test_the_static_box_has_no_frame_rate_and_the_trackers_that_work_have_one(tmp_path):
    square = moving_square(tmp_path, "square")
    specs = [baseline_spec("static"), TrackerSpec("exact", lambda: FollowsTruth(square), "v1")]
    messages = []
    evaluation = evaluate([square], specs, tmp_path / "cache", log=messages.append)
    # A box that never moves takes microseconds a frame: "500,000 fps" would mean nothing.
    assert np.isnan(evaluation.scores["static"]["square"].fps)
    assert np.isnan(report.overall(evaluation)["static"].fps)
    assert any("static" in m and "— fps" in m for m in messages)
    assert evaluation.scores["exact"]["square"].fps > 0
    assert report.overall(evaluation)["exact"].fps > 0
    # The cache still holds the time measured; only what is reported leaves it out.
    rows = np.loadtxt(cache_path(tmp_path / "cache", "static", "square"), delimiter=",")
    assert np.isfinite(rows[:, 4]).all() and (rows[:, 4] >= 0).all()


def test_a_curve_longer_than_the_longest_sequence_is_cut_to_it(tmp_path):
    square = moving_square(tmp_path, "square")  # 8 frames
    wide = moving_square(tmp_path, "wide", frames=6, step=1)
    specs = [TrackerSpec("static", StaticBox, "static")]
    messages = []
    cache = tmp_path / "cache"
    evaluation = evaluate([square, wide], specs, cache, steps=100000, log=messages.append)
    assert evaluation.steps == 8
    assert "covers 8 frames, the longest sequence evaluated, not the 100000" in "".join(messages)
    # Between the shortest and the longest it is taken as given; --max-frames cuts the longest.
    assert evaluate([square, wide], specs, cache, steps=7, log=quiet).steps == 7
    assert evaluate([square, wide], specs, cache, frames=5, steps=7, log=quiet).steps == 5


def test_a_sequence_of_one_frame_is_skipped_not_cutting_the_curve_to_nothing(tmp_path):
    # Its one frame is the given box: nothing to score, and as the shortest sequence it cut the
    # IoU-over-time curve to that frame, so every tracker's average IoU was NaN.
    square = moving_square(tmp_path, "square")  # 8 frames
    single = moving_square(tmp_path, "single", frames=1)
    specs = [TrackerSpec("static", StaticBox, "static")]
    evaluation = evaluate([square, single], specs, tmp_path / "cache", log=quiet)
    assert evaluation.sequences == ["square"] and evaluation.steps == 8
    assert "one frame" in evaluation.skipped["single"]
    assert np.isfinite(report.overall(evaluation)["static"].average_iou)


def test_the_cache_follows_the_sequence_content_not_only_its_name(tmp_path):
    square = moving_square(tmp_path / "a", "square")
    cache = tmp_path / "cache"
    evaluate([square], [TrackerSpec("exact", lambda: FollowsTruth(square), "v1")], cache, log=quiet)
    cached = [TrackerSpec("exact", MustNotRun, "v1")]

    def served_from_cache(sequence: Sequence) -> bool:
        evaluation = evaluate([sequence], cached, cache, log=quiet)
        return "exact" not in evaluation.failures

    assert served_from_cache(square)
    # A later box corrected: the run still holds (the tracker saw only the first box), and the
    # score follows the new ground truth.
    later = replace(square, boxes=square.boxes.copy())
    later.boxes[5, 0] += 100
    assert served_from_cache(later)
    assert evaluate([later], cached, cache, log=quiet).scores["exact"]["square"].success_auc < 0.9
    # The first box corrected, another video of the same name, a frame replaced: tracked again.
    first = replace(square, boxes=square.boxes.copy())
    first.boxes[0, 0] += 1
    assert not served_from_cache(first)
    assert not served_from_cache(moving_square(tmp_path / "b", "square", step=1))
    cv2.imwrite(str(square.frames[3]), np.zeros((64, 96, 3), np.uint8))
    assert not served_from_cache(square)


def test_a_tracker_that_loses_the_target_scores_zero_from_then_on(tmp_path):
    square = moving_square(tmp_path, "square")
    spec = TrackerSpec("loser", lambda: FollowsTruth(square, lost_from=3), "loser")
    evaluation = evaluate([square], [spec], tmp_path / "cache", log=quiet)
    np.testing.assert_allclose(
        evaluation.overlaps["loser"]["square"], [np.nan, 1, 1, 0, 0, 0, 0, 0]
    )
    assert evaluation.scores["loser"]["square"].average_overlap == pytest.approx(2 / 7)


def test_duplicate_sequence_names_are_kept_apart(tmp_path):
    first = moving_square(tmp_path / "a", "same")
    second = moving_square(tmp_path / "b", "same", step=1)
    evaluation = evaluate(
        [first, second], [TrackerSpec("static", StaticBox, "s")], tmp_path, log=quiet
    )
    assert evaluation.sequences == ["same", "same#2"]


def test_no_usable_sequence_is_an_input_error(tmp_path):
    hidden = moving_square(tmp_path, "hidden", frames=3)
    hidden.visible[0] = False
    with pytest.raises(InputError, match="none of the 1 sequences"):
        evaluate([hidden], [TrackerSpec("static", StaticBox, "s")], tmp_path, log=quiet)


def test_an_unreadable_frame_fails_that_sequence_only(tmp_path):
    broken = moving_square(tmp_path, "broken", frames=4)
    broken.frames[2].write_bytes(b"not an image")
    fine = moving_square(tmp_path, "fine", frames=4)
    evaluation = evaluate(
        [broken, fine], [TrackerSpec("static", StaticBox, "s")], tmp_path / "cache", log=quiet
    )
    assert f"{broken.frames[2]}: cannot read this image" in evaluation.failures["static"]["broken"]
    assert "fine" in evaluation.scores["static"]


def test_an_isolated_tracker_that_crashes_its_process_fails_one_sequence(tmp_path):
    crash = moving_square(tmp_path, "crash", frames=3)
    for path in crash.frames:
        cv2.imwrite(str(path), np.zeros((64, 96, 3), dtype=np.uint8))
    unreadable = moving_square(tmp_path, "unreadable", frames=3)
    unreadable.frames[1].write_bytes(b"")
    fine = moving_square(tmp_path, "fine", frames=3)
    spec = TrackerSpec("crasher", CrashesOnDarkFrames, "crasher", isolated=True)
    evaluation = evaluate([crash, unreadable, fine], [spec], tmp_path / "cache", log=quiet)
    assert "crashed its process (SIGSEGV" in evaluation.failures["crasher"]["crash"]
    # An exception in the other process arrives as itself.
    failure = evaluation.failures["crasher"]["unreadable"]
    assert failure.startswith("InputError: ") and "cannot read this image" in failure
    # It reports the first box while the 16 px square moves 3 px per frame.
    expected = [np.nan, 13 * 16 / (512 - 13 * 16), 10 * 16 / (512 - 10 * 16)]
    np.testing.assert_allclose(evaluation.overlaps["crasher"]["fine"], expected)


@pytest.mark.parametrize(
    ("cache", "blocker", "message"),
    [
        ("cache", "cache/must", "cache/must is a file where hart keeps its cache folder; remove"),
        ("cache", "cache", "cache is a file where hart keeps its cache folder; remove it"),
        ("notes/cache", "notes", "cannot make the cache folder .*/notes/cache/must: .*/notes is"),
    ],
)
def test_a_file_where_the_cache_keeps_a_folder_stops_the_run_before_any_work(
    tmp_path, cache, blocker, message
):
    square = moving_square(tmp_path, "square", frames=3)
    blocker = tmp_path / blocker
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("someone's notes\n")
    with pytest.raises(InputError, match=message):
        evaluate([square], [TrackerSpec("must", MustNotRun, "m")], tmp_path / cache, log=quiet)
    assert blocker.read_text() == "someone's notes\n"


def test_a_folder_where_a_cached_result_goes_stops_the_run_before_any_tracking(tmp_path):
    first, second = (moving_square(tmp_path, name, frames=3) for name in ("first", "second"))
    cache = tmp_path / "cache"
    blocker = cache_path(cache, "static", "second")
    blocker.mkdir(parents=True)
    made = []

    def make():
        made.append(True)
        return StaticBox()

    with pytest.raises(InputError, match=r"cache/static/second.txt is a folder where hart keeps"):
        evaluate([first, second], [TrackerSpec("static", make, "s")], cache, log=quiet)
    assert made == [] and not cache_path(cache, "static", "first").exists()
    assert blocker.is_dir()

"""``hart track`` end to end through ``hart.cli.main``: outputs, and one clear line per bad input.

The network tracker is replaced by a small stand-in module in
``sys.modules["hart.tracking.tracker"]`` so these tests check the command (arguments, checks,
outputs) quickly; the real tracker has its own tests.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from hart import cli
from hart.cli import main
from hart.errors import InputError

FRAMES = 15


class StillTracker:
    """Predicts the first box every frame, with the attention and glimpse hart's Tracker offers."""

    loaded_from: list = []
    threads_seen: set = set()

    @classmethod
    def from_checkpoint(cls, path=None, device="cpu"):
        if path is not None and Path(path).suffix != ".ckpt":
            raise InputError(f"{path} is not a checkpoint")
        cls.loaded_from.append((path, device))
        return cls()

    def init(self, frame, box):
        self.box = np.asarray(box, dtype=np.float64)
        self.attention_box = self.box + np.array([-8, -8, 16, 16])
        self.glimpse = np.zeros((56, 56, 3), np.uint8)
        self.object_mask = np.ones((14, 14), np.float32)

    def update(self, frame):
        import torch

        self.threads_seen.add(torch.get_num_threads())
        return self.box.copy()


@pytest.fixture
def stand_in_tracker(monkeypatch):
    module = types.ModuleType("hart.tracking.tracker")
    module.Tracker = StillTracker
    monkeypatch.setitem(sys.modules, "hart.tracking.tracker", module)
    StillTracker.loaded_from = []
    StillTracker.threads_seen = set()
    return StillTracker


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """An empty current directory: default outputs land here, and nothing else may."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def crossing_video(tmp_path, shared_sequences) -> Path:
    images = sorted((shared_sequences / "OTB" / "Crossing" / "img").glob("*.jpg"))[:FRAMES]
    path = tmp_path / "crossing.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20.0, (360, 240))
    for image in images:
        writer.write(cv2.imread(str(image)))
    writer.release()
    return path


@pytest.fixture
def crossing_folder(tmp_path, shared_sequences) -> Path:
    folder = tmp_path / "crossing_frames"
    folder.mkdir()
    images = sorted((shared_sequences / "OTB" / "Crossing" / "img").glob("*.jpg"))[:FRAMES]
    for image in images:
        (folder / image.name).write_bytes(image.read_bytes())
    return folder


def frames_of(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    return frames


def test_track_video_writes_default_output_and_boxes(
    stand_in_tracker, workdir, crossing_video, capsys
):
    status = main(["track", str(crossing_video), "--box", "205,151,17,50", "--boxes-out", "b.txt"])
    assert status == 0
    assert sorted(path.name for path in workdir.iterdir()) == ["b.txt", "crossing_tracked.mp4"]
    assert stand_in_tracker.loaded_from == [(None, "cpu")]
    capture = cv2.VideoCapture(str(workdir / "crossing_tracked.mp4"))
    assert capture.get(cv2.CAP_PROP_FPS) == 20.0
    written, original = frames_of(workdir / "crossing_tracked.mp4"), frames_of(crossing_video)
    assert len(written) == FRAMES and written[0].shape == (240, 360, 3)
    edge = (slice(155, 195), slice(205, 207))  # left edge of the box
    assert np.abs(written[-1][edge].astype(int) - original[-1][edge]).mean() > 40
    assert (workdir / "b.txt").read_text().splitlines() == ["205,151,17,50"] * FRAMES
    out = capsys.readouterr().out
    assert f"tracked {FRAMES} frames:" in out and "frames/s tracking alone" in out
    assert "wrote crossing_tracked.mp4 and b.txt" in out


@pytest.mark.parametrize("output", ["new/deeper/out.mp4", "new/deeper/frames"])
def test_missing_output_folders_are_made_as_hart_sample_makes_them(
    stand_in_tracker, workdir, crossing_video, capsys, output
):
    argv = ["track", str(crossing_video), "--box", "205,151,17,50", "--output", output]
    assert main([*argv, "--boxes-out", "other/b.txt"]) == 0, capsys.readouterr().err
    written = workdir / output
    count = len(list(written.glob("*.png"))) if written.is_dir() else len(frames_of(written))
    assert count == FRAMES
    assert (workdir / "other" / "b.txt").read_text().splitlines() == ["205,151,17,50"] * FRAMES
    assert main(["sample", "samples/new/clip.mp4", "--frames", "5", "--size", "48x64"]) == 0
    assert (workdir / "samples" / "new" / "clip.txt").is_file()


def test_hart_sample_into_a_parent_that_is_a_file_is_one_line(workdir, capsys):
    (workdir / "clip").write_text("not a folder")
    assert main(["sample", "clip/new/clip.mp4", "--frames", "5", "--size", "48x64"]) == 2
    err = capsys.readouterr().err
    assert (
        err == "hart sample: error: cannot write clip/new/clip.txt: clip is a file, not a folder\n"
    )
    assert sorted(path.name for path in workdir.iterdir()) == ["clip"]


@pytest.mark.parametrize("threads", [None, 2])
def test_the_network_tracks_on_the_threads_asked_for_and_gives_them_back(
    stand_in_tracker, workdir, crossing_folder, threads
):
    # One thread by default (hart.tracking.threads: faster for one glimpse a frame, and no
    # stall beside other jobs); the caller's own setting is restored afterwards.
    import torch

    before = torch.get_num_threads()
    argv = ["track", str(crossing_folder), "--box", "205,151,17,50", "--no-progress"]
    assert main(argv + ([] if threads is None else ["--threads", str(threads)])) == 0
    assert stand_in_tracker.threads_seen == {1 if threads is None else threads}
    assert torch.get_num_threads() == before


def test_track_folder_of_frames(stand_in_tracker, workdir, crossing_folder, capsys):
    status = main(
        [
            "track",
            str(crossing_folder),
            "--box",
            "205,151,17,50",
            "--output",
            "out.avi",
            "--checkpoint",
            "model.ckpt",
            "--fps",
            "10",
            "--no-progress",
        ]
    )
    assert status == 0
    assert stand_in_tracker.loaded_from == [(Path("model.ckpt"), "cpu")]
    capture = cv2.VideoCapture(str(workdir / "out.avi"))
    assert capture.get(cv2.CAP_PROP_FPS) == 10.0
    assert len(frames_of(workdir / "out.avi")) == FRAMES
    assert capsys.readouterr().err == "", "--no-progress keeps stderr quiet"


def test_a_first_box_over_the_frame_edge_is_tracked_as_the_python_api_takes_it(
    stand_in_tracker, workdir, crossing_video
):
    # One rule for hart track and Tracker.init: the box must overlap the frame, not fit in it
    # (a target entering the view; benchmark ground truth that reaches past the edge).
    argv = ["track", str(crossing_video), "--box=-10,151,30,50", "--boxes-out", "b.txt"]
    assert main([*argv, "--no-progress"]) == 0
    assert (workdir / "b.txt").read_text().splitlines()[0] == "-10,151,30,50"


def test_default_output_is_named_after_the_folder(stand_in_tracker, workdir, crossing_folder):
    assert main(["track", str(crossing_folder), "--box", "205,151,17,50", "--no-progress"]) == 0
    assert [path.name for path in workdir.iterdir()] == ["crossing_frames_tracked.mp4"]


def _not_a_video(root: Path) -> str:
    (root / "holiday.mp4").write_text("this is text, not a video\n")
    return str(root / "holiday.mp4")


def _empty_folder(root: Path) -> str:
    (root / "no_frames").mkdir()
    return str(root / "no_frames")


@pytest.mark.parametrize(
    ("video", "extra", "message"),
    [
        (lambda root, video: str(root / "nope.mp4"), [], "nope.mp4 does not exist"),
        (lambda root, video: _not_a_video(root), [], "holiday.mp4: not a video"),
        (lambda root, video: _empty_folder(root), [], "no_frames holds no images"),
        (None, ["--box", "370,200,40,60"], "box 370,200,40,60 is outside the 360×240 frame"),
        (None, ["--box=-50,200,40,60"], "box -50,200,40,60 is outside the 360×240 frame"),
        (None, ["--box", "10,20,0,60"], "box 10,20,0,60 has width 0 and height 60"),
        (None, ["--box", "10,20,30"], "box '10,20,30' is not X,Y,W,H"),
        (None, ["--output", "out.gif"], "unknown video extension '.gif'"),
        (None, ["--output", "../crossing.avi/out.mp4"], "crossing.avi is a file, not a folder"),
        (
            None,
            ["--box", "205,151,17,50", "--boxes-out", "../crossing.avi/b.txt"],
            "crossing.avi is a file, not a folder",
        ),
        (None, ["--box", "370,200,40,60", "--output", "new/deeper/out.mp4"], "is outside the"),
        (None, ["--checkpoint", "weights.txt"], "weights.txt is not a checkpoint"),
        (None, ["--threads", "0"], "--threads must be between 1 and "),
        (None, ["--threads", "1000000"], "--threads must be between 1 and "),
        (None, ["--box", "0,0,1e39,20"], "1e+39×20 px is more than 10 times the size of"),
        (None, ["--fps", "70000"], "at 70000 frames/s: MPEG-4 video allows at most 65535"),
    ],
    ids=[
        "missing-file",
        "not-a-video",
        "empty-folder",
        "box-outside",
        "box-negative-x",
        "box-zero-size",
        "box-syntax",
        "output-extension",
        "output-parent-is-a-file",
        "boxes-out-parent-is-a-file",
        "bad-box-makes-no-output-folder",
        "not-a-checkpoint",
        "threads-zero",
        "threads-a-million",
        "box-overflows-float32",
        "fps-beyond-mpeg4",
    ],
)
def test_bad_input_prints_one_line_and_leaves_nothing(
    stand_in_tracker, workdir, crossing_video, capsys, video, extra, message
):
    video_arg = str(crossing_video) if video is None else video(workdir.parent, crossing_video)
    before = sorted(workdir.parent.rglob("*"))
    argv = ["track", video_arg, "--boxes-out", "boxes.txt", *extra]
    if not any(arg.startswith("--box") for arg in extra):
        argv += ["--box", "205,151,17,50"]
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 2
    assert captured.err.count("\n") == 1 and captured.err.startswith("hart track: error: ")
    assert message in captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert sorted(workdir.parent.rglob("*")) == before, "no output, no temporary file"


@pytest.mark.parametrize("fps", ["0.0001", "70000"])
def test_a_frame_rate_the_video_cannot_have_is_refused_before_the_model_loads(
    stand_in_tracker, workdir, crossing_video, capsys, fps
):
    assert main(["track", str(crossing_video), "--box", "205,151,17,50", "--fps", fps]) == 2
    assert f"at {fps} frames/s" in capsys.readouterr().err
    assert stand_in_tracker.loaded_from == []  # checked before the seconds a model takes
    assert list(workdir.iterdir()) == []


def test_select_without_a_display_is_a_clear_error(
    stand_in_tracker, workdir, crossing_video, capsys, monkeypatch
):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert main(["track", str(crossing_video), "--select"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs a display" in err and "X,Y,W,H" in err
    assert list(workdir.iterdir()) == []


def test_box_box_from_and_select_are_exclusive_and_one_is_required(crossing_video, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["track", str(crossing_video)])
    assert exit_info.value.code == 2
    assert "one of the arguments --box --box-from --select is required" in capsys.readouterr().err


def test_help_names_the_default_output(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["track", "--help"])
    assert exit_info.value.code == 0
    assert "VIDEO_tracked.mp4 in the current directory" in " ".join(capsys.readouterr().out.split())


def test_help_names_where_the_default_model_is(capsys):
    # It is installed with the package, not read from the repository's checkpoints/ folder.
    with pytest.raises(SystemExit):
        main(["track", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "hart/model/default/hart.ckpt" in help_text and "HART_DEFAULT_MODEL" in help_text


def test_not_a_video_is_one_line_on_the_real_stderr(tmp_path):
    # FFmpeg writes to file descriptor 2 directly; only a separate process sees that.
    (tmp_path / "holiday.mp4").write_text("this is text, not a video\n")
    completed = subprocess.run(
        [sys.executable, "-m", "hart.cli", "track", "holiday.mp4", "--box", "1,1,5,5"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "", "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [
        "hart track: error: holiday.mp4: not a video OpenCV can read"
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["holiday.mp4"]


def test_a_real_checkpoint_that_is_not_one_is_rejected(workdir, crossing_video, capsys):
    Path("weights.ckpt").write_text("not a checkpoint")
    status = main(
        ["track", str(crossing_video), "--box", "205,151,17,50", "--checkpoint", "weights.ckpt"]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "weights.ckpt" in err and "Traceback" not in err
    assert [path.name for path in workdir.iterdir()] == ["weights.ckpt"]


def test_the_boxes_out_file_may_not_be_the_box_file_read(
    stand_in_tracker, workdir, crossing_video, capsys
):
    Path("truth.txt").write_text("205,151,17,50\n")
    status = main(
        ["track", str(crossing_video), "--box-from", "truth.txt", "--boxes-out", "truth.txt"]
    )
    assert status == 2
    assert capsys.readouterr().err == (
        "hart track: error: truth.txt is the input; choose another output name\n"
    )
    assert sorted(path.name for path in workdir.iterdir()) == ["truth.txt"]
    assert Path("truth.txt").read_text() == "205,151,17,50\n"


def test_the_boxes_out_file_may_not_be_a_frame_of_the_input_folder(
    stand_in_tracker, workdir, crossing_folder, capsys
):
    # The folder itself was guarded, not the frames in it: the frame was replaced by the boxes.
    frame = crossing_folder / "0003.jpg"
    before = frame.read_bytes()
    status = main(
        ["track", str(crossing_folder), "--box", "205,151,17,50", "--boxes-out", str(frame)]
    )
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "0003.jpg" in err and "frame" in err
    assert frame.read_bytes() == before
    assert list(workdir.iterdir()) == []


def test_a_pipe_or_device_is_not_replaced_by_an_output_file(
    stand_in_tracker, workdir, crossing_video, capsys
):
    os.mkfifo("boxes.fifo")
    status = main(["track", str(crossing_video), "--box", "205,151,17,50", "-o", "out.mp4",
                   "--boxes-out", "boxes.fifo"])  # fmt: skip
    assert status == 2
    assert "boxes.fifo: it is a device, pipe or socket" in capsys.readouterr().err
    assert Path("boxes.fifo").is_fifo() and not Path("out.mp4").exists()


def test_a_device_this_machine_lacks_is_one_line_before_any_output(workdir, crossing_video, capsys):
    status = main(["track", str(crossing_video), "--box", "205,151,17,50", "--device", "gpu"])
    assert status == 2
    err = capsys.readouterr().err
    assert err == "hart track: error: device 'gpu' is not a torch device (cpu, cuda, cuda:1, mps)\n"
    assert list(workdir.iterdir()) == []


def test_a_system_error_names_the_output_not_its_temporary(monkeypatch, tmp_path, capsys):
    temporary = tmp_path / ".model.partial-0123abcd.ckpt"

    def disk_full(argv):
        raise OSError(errno.ENOSPC, "No space left on device", str(temporary))

    monkeypatch.setitem(cli.COMMANDS, "export", disk_full)
    assert main(["export", "in.ckpt", str(tmp_path / "model.ckpt")]) == 2
    assert capsys.readouterr().err == (
        f"hart export: error: {tmp_path / 'model.ckpt'}: No space left on device\n"
    )


def test_ctrl_c_mid_video_leaves_no_output(
    stand_in_tracker, workdir, crossing_video, capsys, monkeypatch
):
    def interrupted_update(self, frame):
        raise KeyboardInterrupt

    monkeypatch.setattr(stand_in_tracker, "update", interrupted_update)
    status = main(["track", str(crossing_video), "--box", "205,151,17,50", "--boxes-out", "b"])
    assert status == 130
    assert capsys.readouterr().err.endswith("hart track: interrupted\n")
    assert list(workdir.iterdir()) == []


def test_hart_sample_writes_a_clip_that_hart_track_follows_from_its_box_file(
    stand_in_tracker, workdir, capsys
):
    assert main(["sample", "clip.mp4", "--frames", "12", "--size", "96x128", "--seed", "3"]) == 0
    boxes = np.loadtxt("clip.txt", delimiter=",")
    assert boxes.shape == (12, 4)
    capture = cv2.VideoCapture("clip.mp4")
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert (capture.get(cv2.CAP_PROP_FRAME_HEIGHT), capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == (
        96,
        128,
    )
    status = main(["track", "clip.mp4", "--box-from", "clip.txt", "--boxes-out", "out.txt"])
    assert status == 0, capsys.readouterr().err
    first = np.loadtxt("out.txt", delimiter=",")[0]
    np.testing.assert_allclose(first, boxes[0], atol=0.01)


def test_a_box_file_that_does_not_exist_is_one_line(workdir, crossing_video, capsys):
    status = main(["track", str(crossing_video), "--box-from", "missing.txt"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "missing.txt" in err


def test_a_bad_first_box_is_reported_before_torch_is_imported(tmp_path):
    # Checking the input is quick; importing torch and loading the model takes seconds.
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(2):
        cv2.imwrite(str(frames / f"{index}.png"), np.zeros((20, 30, 3), np.uint8))
    script = (
        "import sys\n"
        "from hart.cli import main\n"
        f"status = main(['track', {str(frames)!r}, '--box', '40,5,5,5'])\n"
        "print(status, 'torch' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.stdout.split() == ["2", "False"], run.stderr
    assert "box 40,5,5,5 is outside the 30×20 frame" in run.stderr


@pytest.mark.parametrize(
    "option, name",
    [("--output", "tracked.mp4"), ("--output", "frames"), ("--boxes-out", "boxes.txt")],
    ids=["video", "png-folder", "boxes"],
)
def test_an_output_folder_that_refuses_writing_is_one_line(
    stand_in_tracker, workdir, crossing_video, unwritable_folder, capsys, option, name
):
    target = unwritable_folder / name
    status = main(["track", str(crossing_video), "--box", "205,151,17,50", option, str(target)])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1, err
    assert err.startswith(f"hart track: error: cannot write {target}: "), err
    assert "encoder" not in err and "Traceback" not in err
    assert not target.exists() and list(workdir.iterdir()) == []
    assert stand_in_tracker.loaded_from == []  # said before the model loads (seconds)


def test_a_box_left_of_or_above_the_frame_is_taken_as_given(
    stand_in_tracker, workdir, crossing_folder, capsys
):
    # argparse would take "-100,20,50,50" for an option; it is a box reaching left of the frame.
    status = main(["track", str(crossing_folder), "--box", "-100,20,50,50"])
    assert status == 2
    assert "box -100,20,50,50 is outside the 360×240 frame" in capsys.readouterr().err
    status = main(["track", str(crossing_folder), "--box", "-10,-5,50,50", "--boxes-out", "b.txt"])
    assert status == 0, capsys.readouterr().err
    assert Path("b.txt").read_text().splitlines()[0] == "-10,-5,50,50"


def test_sigterm_mid_video_leaves_no_output(
    stand_in_tracker, workdir, crossing_video, capsys, monkeypatch
):
    class Unhandled(BaseException):
        pass

    def not_handled_by_hart(signum, frame):
        raise Unhandled  # without hart's handler SIGTERM would end the test run itself

    previous = signal.signal(signal.SIGTERM, not_handled_by_hart)
    monkeypatch.setattr(
        stand_in_tracker, "update", lambda self, frame: os.kill(os.getpid(), signal.SIGTERM)
    )
    try:
        status = main(["track", str(crossing_video), "--box", "205,151,17,50", "--boxes-out", "b"])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert status == 143
    assert capsys.readouterr().err.endswith("hart track: terminated\n")
    assert list(workdir.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is previous  # hart's handler is gone again


@pytest.mark.parametrize(
    ("stop", "status", "line"),
    [(cli.Terminated, 143, "terminated"), (KeyboardInterrupt, 130, "interrupted")],
)
def test_an_error_raised_while_stopping_for_a_signal_is_the_signals_line(
    monkeypatch, capsys, stop, status, line
):
    # SIGTERM sent to hart train's process group kills its data loader workers too, and
    # shutting them down raises while Lightning unwinds from hart's Terminated.
    def stopped_command(argv):
        try:
            raise stop()
        finally:
            raise RuntimeError("DataLoader worker (pid 1) is killed by signal: Terminated.")

    monkeypatch.setitem(cli.COMMANDS, "track", stopped_command)
    assert main(["track"]) == status
    assert capsys.readouterr().err == f"hart track: {line}\n"


def test_a_video_cut_short_fails_unless_accepted_and_then_says_so(
    stand_in_tracker, workdir, crossing_video, capsys
):
    cut = workdir.parent / "cut.avi"
    cut.write_bytes(crossing_video.read_bytes()[: crossing_video.stat().st_size // 2])
    decoded = len(frames_of(cut))
    argv = ["track", str(cut), "--box", "205,151,17,50", "--boxes-out", "b.txt"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"only {decoded} of the {FRAMES} frames" in err and "--accept-short" in err, err
    assert list(workdir.iterdir()) == []
    assert main([*argv, "--accept-short"]) == 0
    err = capsys.readouterr().err
    assert f"warning: {cut} declares {FRAMES} frames but only {decoded} could be decoded" in err
    assert len(Path("b.txt").read_text().splitlines()) == decoded


@pytest.mark.parametrize("argv", [["export", "model.ckpt"], ["sample"]])
def test_an_output_file_named_with_a_trailing_slash_is_refused_not_written_without_it(
    workdir, capsys, argv
):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "new/"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.endswith("new/ names a folder; give a file name\n")
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize(
    "argv, name",
    [
        (["track", "", "--box", "1,2,3,4"], "VIDEO"),
        (["track", "clip.avi", "--box-from", ""], "--box-from"),
        (["track", "clip.avi", "--box", "1,2,3,4", "--checkpoint", ""], "--checkpoint"),
        (["track", "clip.avi", "--box", "1,2,3,4", "--output", ""], "--output"),
        (["track", "clip.avi", "--box", "1,2,3,4", "-o", ""], "--output"),
        (["track", "clip.avi", "--box", "1,2,3,4", "--boxes-out="], "--boxes-out"),
        (["export", "", "model.ckpt"], "CHECKPOINT"),
        (["export", "model.ckpt", ""], "OUT"),
        (["sample", ""], "OUT"),
        (["photos", ""], "OUT"),
        (["photos", "photos", "--wheel", ""], "--wheel"),
    ],
)
def test_an_empty_path_is_one_line_naming_the_argument_not_the_current_folder(
    workdir, capsys, argv, name
):
    # "$OUT" with OUT unset: Path("") is the current folder, which hart would read, write or
    # replace, or fail on with messages about ".".
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"hart {argv[0]}: error: {name} is empty; give "), error
    assert error.count("\n") == 1
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize(
    "option, message",
    [
        (["--size", "9999x9999"], "--size must be between 24x24 and 2160x3840, got 9999x9999"),
        (["--frames", "100000"], "--frames must be between 1 and 10000, got 100000"),
        (["--seed", "-1"], "--seed must be 0 or more, got -1"),
        (["--fps", "0"], "--fps must be a positive number, got 0"),
        (["--fps", "nan"], "--fps must be a positive number, got nan"),
    ],
)
def test_hart_sample_refuses_settings_that_cannot_make_a_clip_before_any_work(
    workdir, capsys, option, message
):
    assert main(["sample", "clip.mp4", *option]) == 2
    assert capsys.readouterr().err == f"hart sample: error: {message}\n"
    assert list(workdir.iterdir()) == []


@pytest.fixture
def small_video(tmp_path) -> Path:
    """Three 64×48 frames, made here: the tests below need no data set."""
    path = tmp_path / "small.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for index in range(3):
        frame = np.full((48, 64, 3), 40, np.uint8)
        frame[12:32, 10 + index : 27 + index] = 220
        writer.write(frame)
    writer.release()
    return path


@pytest.mark.parametrize(
    "lines",
    [
        ["10,12,17,20", "11,12,17,20"],
        ["10\t12\t17\t20"],
        ["2,11,12,17,20", "1,10,12,17,20"],
        ["10,12,27,12,27,32,10,32", "11,12,28,12,28,32,11,32"],
        ["18.5,12,27,22,18.5,32,10,22"],
    ],
    ids=["xywh", "xywh-tabs", "numbered-frames", "vot-corners", "vot-rotated"],
)
def test_box_from_takes_the_first_frames_box_in_every_form_hart_reads_box_files(
    stand_in_tracker, workdir, small_video, lines
):
    # x,y,w,h lines (OTB, GOT-10k, LaSOT, hart sample), frame,x,y,w,h lines (the video
    # layout: frame 1's line, wherever it is) and VOT's corners (their min/max box), as
    # load_sequences reads these files.
    Path("truth.txt").write_text("\n".join(lines) + "\n")
    argv = ["track", str(small_video), "--box-from", "truth.txt", "--boxes-out", "b.txt"]
    assert main([*argv, "--no-progress"]) == 0
    assert Path("b.txt").read_text().splitlines()[0] == "10,12,17,20"


@pytest.mark.parametrize(
    "lines",
    [["nan,nan,nan,nan", "10,12,17,20"], ["0,0,0,0", "10,12,17,20"], ["2,10,12,17,20"]],
    ids=["nan", "zeros", "frame-1-unlisted"],
)
def test_box_from_a_file_without_a_first_frame_box_is_one_line(
    stand_in_tracker, workdir, small_video, capsys, lines
):
    Path("truth.txt").write_text("\n".join(lines) + "\n")
    status = main(["track", str(small_video), "--box-from", "truth.txt", "--boxes-out", "b.txt"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert "truth.txt" in err and "first frame" in err
    assert sorted(p.name for p in workdir.iterdir()) == ["truth.txt"]

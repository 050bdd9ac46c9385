"""``hart evaluate``: a whole run writes the table, the JSON and both plots; bad input fails
with one clear line."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import hart.datasets
import hart.evaluation.plots
from hart.cli import main
from hart.datasets.sequence import Sequence


def square_sequences(root):
    """Two small sequences of a textured square moving right, as a reader would return them."""
    generator = np.random.default_rng(2)
    texture = generator.integers(0, 255, size=(16, 16, 3), dtype=np.uint8)
    sequences = []
    for name, step, frames in (("left", 2, 10), ("right", 3, 12)):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        paths, boxes = [], []
        for index in range(frames):
            image = np.full((64, 96, 3), 100, dtype=np.uint8)
            x = 8 + step * index
            image[24:40, x : x + 16] = texture
            paths.append(folder / f"{index:03d}.png")
            cv2.imwrite(str(paths[-1]), image)
            boxes.append([x, 24, 16, 16])
        sequences.append(Sequence(name, paths, np.array(boxes), np.ones(frames, dtype=bool)))
    return sequences


@pytest.fixture
def square_root(tmp_path, monkeypatch):
    """A root of two sequences, read by a test double of ``load_sequences``."""
    root = tmp_path / "data"
    sequences = square_sequences(root)

    def load_sequences(path, format="auto"):
        assert path == root and format == "auto"
        return list(sequences)

    monkeypatch.setattr(hart.datasets, "load_sequences", load_sequences, raising=False)
    return root


def png_size(path):
    image = cv2.imread(str(path))
    assert image is not None, f"{path} is not an image"
    return image.shape


def test_a_whole_run_writes_table_json_and_plots_then_reuses_its_cache(
    square_root, tmp_path, capsys
):
    out = tmp_path / "out"
    argv = ["evaluate", str(square_root), "--no-hart", "--baselines", "static,csrt"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "| left | 10 |" in printed.out and "| csrt | 2 |" in printed.out
    assert (out / "results.md").read_text() == printed.out
    results = json.loads((out / "results.json").read_text())
    assert results["sequences"] == ["left", "right"]
    assert list(results["trackers"]) == ["static", "csrt"]
    csrt = results["trackers"]["csrt"]
    assert csrt["overall"]["sequences"] == 2 and csrt["overall"]["frames"] == 22
    assert csrt["sequences"]["left"]["success_auc"] > 0.7  # CSRT follows this easy square
    assert results["trackers"]["static"]["overall"]["success_auc"] < 0.5
    assert len(csrt["overall"]["success_curve"]) == 21
    assert len(csrt["overall"]["iou_over_time"]) == 10  # the shorter sequence
    assert csrt["overall"]["iou_over_time"][0] is None  # the given box is not scored
    assert csrt["overall"]["fps"] > 0 and csrt["sequences"]["left"]["fps"] > 0
    for plot in ("success_plot.png", "iou_over_time.png"):
        assert png_size(out / plot)[0] > 100
    assert (out / "cache" / "csrt" / "right.txt").is_file()
    assert not [p for p in out.rglob(".*") if p.is_file()]  # no temporary files left

    assert main([*argv, "--out", str(out)]) == 0
    assert "(tracked)" not in capsys.readouterr().err  # everything came from the cache


def test_ctrl_c_while_the_plots_are_drawn_keeps_the_earlier_results_whole(
    square_root, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out"
    argv = ["evaluate", str(square_root), "--no-hart", "--baselines", "static", "--out", str(out)]
    assert main([*argv, "--max-frames", "5"]) == 0
    earlier = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    assert len(earlier) == 4

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(hart.evaluation.plots, "iou_over_time_plot", interrupted)
    assert main([*argv, "--max-frames", "8"]) == 130
    # The table and the JSON of the second run are not left beside the first run's plots.
    assert {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()} == earlier
    assert not [p for p in out.rglob(".*") if p.is_file()]  # no temporary files left


def test_the_static_box_frame_rate_is_shown_as_not_applicable(square_root, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["evaluate", str(square_root), "--no-hart", "--baselines", "static"]
    assert main([*argv, "--out", str(out)]) == 0
    # The static box does no work: its time is the harness's, not a tracker's speed.
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| static"))
    assert row.endswith("| — |"), row
    static = json.loads((out / "results.json").read_text())["trackers"]["static"]
    assert static["overall"]["fps"] is None
    assert [s["fps"] for s in static["sequences"].values()] == [None, None]
    assert static["overall"]["success_auc"] < 0.5  # everything else is scored as before


def test_sequences_re_hosted_as_folders_of_frames_with_their_box_files(tmp_path, capsys):
    # UAV123's form as users re-host it: bike1/000001.jpg … + bike1/bike1.txt, read by the
    # real readers (no test double), a gt.txt beside frames in img/ too.
    root = tmp_path / "uav"
    for sequence, (box_name, frames_in) in zip(
        square_sequences(tmp_path / "made"), [("{}.txt", "."), ("gt.txt", "img")], strict=True
    ):
        folder = root / f"bike_{sequence.name}"
        (folder / frames_in).mkdir(parents=True)
        for index, frame in enumerate(sequence.frames, 1):
            frame.rename(folder / frames_in / f"{index:06d}.png")
        rows = "".join(",".join(f"{v:g}" for v in box) + "\n" for box in sequence.boxes)
        (folder / box_name.format(folder.name)).write_text(rows)
    out = tmp_path / "out"
    argv = ["evaluate", str(root), "--no-hart", "--baselines", "static", "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["sequences"] == ["bike_left", "bike_right"]
    frames = [s["frames"] for s in results["trackers"]["static"]["sequences"].values()]
    assert frames == [10, 12]


def test_only_chosen_sequences_and_frames(square_root, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["evaluate", str(square_root), "--no-hart", "--baselines", "static"]
    assert main([*argv, "--sequences", "right", "--max-frames", "5", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["sequences"] == ["right"]
    assert results["trackers"]["static"]["sequences"]["right"]["frames"] == 5


def test_a_repeated_name_is_chosen_as_the_report_names_it(tmp_path, monkeypatch, capsys):
    # Two sequences named "left" (one sequence in two benchmarks) are reported as "left" and
    # "left#2"; --sequences took the names before that, so "left#2" was "no sequence named".
    left, right = square_sequences(tmp_path / "data")
    twins = [left, dataclasses.replace(right, name="left")]
    monkeypatch.setattr(hart.datasets, "load_sequences", lambda *_, **__: twins, raising=False)
    out = tmp_path / "out"
    argv = ["evaluate", str(tmp_path / "data"), "--no-hart", "--baselines", "static"]
    assert main([*argv, "--sequences", "left#2", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["sequences"] == ["left#2"]
    assert results["trackers"]["static"]["sequences"]["left#2"]["frames"] == 12


def test_an_out_folder_holding_a_sequences_frames_is_one_line_before_any_work(
    square_root, tmp_path, capsys
):
    # The plots (PNG) went in among the frames: the next run read two more frames and stopped
    # on a row count that no longer matched, the data set damaged by hart itself.
    frames = sorted(path.name for path in (square_root / "right").iterdir())
    argv = ["evaluate", str(square_root), "--no-hart", "--baselines", "static"]
    assert main([*argv, "--out", str(square_root / "right")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "frames of sequence 'right'" in err
    assert sorted(path.name for path in (square_root / "right").iterdir()) == frames


def test_time_steps_past_the_longest_sequence_are_cut_to_it_and_the_table_says_so(
    square_root, tmp_path, capsys
):
    out = tmp_path / "out"
    argv = ["evaluate", str(square_root), "--no-hart", "--baselines", "static"]
    assert main([*argv, "--time-steps", "100000", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "avg IoU (12 frames)" in printed.out and "100000" not in printed.out
    assert "covers 12 frames, the longest sequence evaluated, not the 100000" in printed.err
    results = json.loads((out / "results.json").read_text())
    assert len(results["trackers"]["static"]["overall"]["iou_over_time"]) == 12


def test_a_shifted_start_moves_only_the_first_box_and_is_not_taken_from_the_cache(
    square_root, tmp_path, capsys
):
    out = tmp_path / "out"
    argv = ["evaluate", str(square_root), "--no-hart", "--baselines", "static", "--out", str(out)]
    assert main(argv) == 0
    plain = json.loads((out / "results.json").read_text())
    capsys.readouterr()

    assert main([*argv, "--first-box-shift", "4,0"]) == 0
    printed = capsys.readouterr()
    assert printed.err.count("(tracked)") == 2  # a run from another start is not reused
    assert "started from the first box moved by 4, 0 px" in printed.out
    shifted = json.loads((out / "results.json").read_text())
    assert plain["first_box_shift"] == [0, 0] and shifted["first_box_shift"] == [4, 0]
    # The box that never moves now stays 4 px right of the first one: it starts at x 12 ...
    rows = np.loadtxt(out / "cache" / "static" / "left.txt", delimiter=",", comments="#")
    assert rows[0, :4].tolist() == [12, 24, 16, 16]

    # ... and is scored against the true boxes: on "left" (2 px a frame) it overlaps the square
    # better than the unshifted box from frame 2 on, so its score rises.
    def left(results):
        return results["trackers"]["static"]["sequences"]["left"]["success_auc"]

    assert left(shifted) > left(plain)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--baselines", "mil,siamfc"], "unknown tracker 'siamfc' (known: static, mil"),
        (["--baselines", "none", "--no-hart"], "nothing to evaluate"),
        (["--baselines", "hart"], "'hart' is our model, not a baseline"),
        (["--max-frames", "1"], "--max-frames must be at least 2"),
        (["--sequences", "middle"], "no sequence named 'middle' (there are: left, right)"),
        (["--sequences", ""], "--sequences '' names no sequence; give comma-separated names"),
        (["--sequences", " , "], "--sequences ' , ' names no sequence"),
        (["--threads", "0"], "--threads must be between 1 and "),
        (["--first-box-shift", "1"], "--first-box-shift '1' is not DX,DY (two numbers"),
        (["--first-box-shift", "1,nan"], "--first-box-shift '1,nan' is not DX,DY"),
    ],
)
def test_bad_arguments_fail_with_one_line(square_root, tmp_path, capsys, extra, message):
    argv = ["evaluate", str(square_root), "--no-hart", "--out", str(tmp_path / "out"), *extra]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("blocker", "out", "message"),
    [
        ("out", "out", "--out {tmp}/out is a file; --out must be a folder"),
        ("file", "file/out", "--out {tmp}/file/out cannot be made: {tmp}/file is not a folder"),
        ("out/cache/static", "out", "{tmp}/out/cache/static is a file where hart keeps its cache"),
        ("out/cache", "out", "{tmp}/out/cache is a file where hart keeps its cache folder"),
    ],
)
def test_a_file_where_out_or_its_cache_must_be_a_folder_is_one_line_before_any_work(
    square_root, tmp_path, capsys, monkeypatch, blocker, out, message
):
    blocker = tmp_path / blocker
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("someone's notes\n")

    def no_work(path, format="auto"):
        raise AssertionError("the output folder should have been checked before any work")

    monkeypatch.setattr(hart.datasets, "load_sequences", no_work, raising=False)
    argv = ["evaluate", str(square_root), "--baselines", "static", "--out", str(tmp_path / out)]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert message.format(tmp=tmp_path) in error and error.count("\n") == 1
    assert blocker.read_text() == "someone's notes\n"


@pytest.mark.parametrize("out", ["", "made/by/the/run"])
def test_an_out_folder_that_cannot_be_written_is_one_line_before_any_work(
    square_root, unwritable_folder, capsys, monkeypatch, out
):
    def no_work(path, format="auto"):
        raise AssertionError("the output folder should have been checked before any work")

    monkeypatch.setattr(hart.datasets, "load_sequences", no_work, raising=False)
    out = unwritable_folder / out
    argv = ["evaluate", str(square_root), "--baselines", "static", "--out", str(out)]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert f"hart evaluate: error: --out {out} cannot be written: " in error
    assert error.count("\n") == 1


def test_a_folder_where_a_result_file_goes_is_one_line_before_any_work(
    square_root, tmp_path, capsys
):
    (tmp_path / "out" / "results.json").mkdir(parents=True)
    argv = ["evaluate", str(square_root), "--no-hart", "--baselines", "static"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert f"{tmp_path}/out/results.json is a folder where hart writes a file" in error
    assert error.count("\n") == 1 and not (tmp_path / "out" / "cache").exists()


def test_a_missing_or_empty_root(tmp_path, monkeypatch, capsys):
    assert main(["evaluate", str(tmp_path / "nowhere"), "--no-hart"]) == 2
    assert "is not a folder of sequences" in capsys.readouterr().err
    monkeypatch.setattr(hart.datasets, "load_sequences", lambda p, format: [], raising=False)
    assert main(["evaluate", str(tmp_path), "--no-hart"]) == 2
    assert f"no sequences found under {tmp_path}" in capsys.readouterr().err


def test_an_empty_root_is_refused_not_read_as_the_current_folder(tmp_path, monkeypatch, capsys):
    # "$DATA" with DATA unset: Path("") is the current folder, which must not be evaluated.
    monkeypatch.chdir(tmp_path)

    def no_work(path, format="auto"):
        raise AssertionError("an empty ROOT should have been refused before any work")

    monkeypatch.setattr(hart.datasets, "load_sequences", no_work, raising=False)
    argv = ["evaluate", "", "--no-hart", "--baselines", "static", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "ROOT is empty" in error and error.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", ["--out", "--checkpoint", "--nano-models"])
def test_an_empty_path_option_is_refused_not_read_as_the_current_folder(
    square_root, tmp_path, monkeypatch, capsys, option
):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    argv = ["evaluate", str(square_root), "--no-hart", "--baselines", "static"]
    out = [] if option == "--out" else ["--out", str(tmp_path / "out")]
    assert main([*argv, *out, option, ""]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"hart evaluate: error: {option} is empty; give "), error
    assert error.count("\n") == 1
    assert list(work.iterdir()) == [] and not (tmp_path / "out").exists()


def test_a_video_that_is_not_one_is_one_line_on_the_real_stderr(tmp_path):
    # FFmpeg writes to file descriptor 2 directly; only a separate process sees that.
    clips = tmp_path / "work" / "clips"
    clips.mkdir(parents=True)
    (clips / "a.mp4").write_text("this is text, not a video\n")
    (clips / "a.txt").write_text("1,1,5,5\n")
    completed = subprocess.run(
        [sys.executable, "-m", "hart.cli", "evaluate", "clips", "--baselines", "none"],
        cwd=clips.parent,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),  # decoded frames (and matplotlib's)
            "OMP_NUM_THREADS": "1",
        },
    )
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [
        "hart evaluate: error: clips/a.mp4: not a video OpenCV can read"
    ]
    assert [path.name for path in clips.parent.iterdir()] == ["clips"]  # no outputs/
    assert not (tmp_path / "cache" / "hart").exists()  # no frames folder begun


def test_a_sequence_without_a_first_box_is_skipped_and_the_rest_evaluated(
    square_root, tmp_path, capsys
):
    sequences = hart.datasets.load_sequences(square_root)
    sequences[0].visible[0] = False
    sequences[0].boxes[0] = np.nan
    out = tmp_path / "out"
    assert (
        main(
            ["evaluate", str(square_root), "--no-hart", "--baselines", "static", "--out", str(out)]
        )
        == 0
    )
    printed = capsys.readouterr()
    assert "skipping sequence 'left': the target is not visible in its first frame" in printed.err
    results = json.loads((out / "results.json").read_text())
    assert results["sequences"] == ["right"] and "left" in results["skipped"]


def test_a_tracker_failing_on_a_sequence_is_reported_and_the_run_goes_on(
    square_root, tmp_path, capsys
):
    broken = hart.datasets.load_sequences(square_root)[0]
    broken.frames[3].write_bytes(b"")  # an unreadable frame in 'left'
    out = tmp_path / "out"
    assert (
        main(
            ["evaluate", str(square_root), "--no-hart", "--baselines", "static", "--out", str(out)]
        )
        == 1
    )
    printed = capsys.readouterr()
    assert "static failed on 'left': InputError: " in printed.err
    assert f"{broken.frames[3]}: cannot read this image" in printed.err
    assert "| left | — | failed |" in printed.out
    results = json.loads((out / "results.json").read_text())
    assert "left" in results["failures"]["static"]
    assert results["trackers"]["static"]["overall"]["sequences"] == 1


def _real_load_sequences():
    datasets = pytest.importorskip("hart.datasets")
    if not hasattr(datasets, "load_sequences"):
        pytest.skip("hart.datasets.load_sequences is not in this tree yet")


def _our_checkpoint(folder):
    """``--checkpoint`` arguments for our model: none when the shipped default is there, else a
    small checkpoint with random weights (what is tested is the run, not how well it tracks)."""
    checkpoint = pytest.importorskip("hart.model.checkpoint")
    if checkpoint.default_model_path().is_file():
        return []
    torch = pytest.importorskip("torch")
    from hart.model.hart import HARTConfig, build_hart

    config = HARTConfig(glimpse_size=(32, 32), lstm_size=32, core_size=64, readout_size=32)
    state = {f"model.{k}": v for k, v in build_hart(config).state_dict().items()}
    hyper = {"config": {**config.__dict__, "glimpse_size": list(config.glimpse_size)}}
    path = folder / "random.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": hyper}, path)
    return ["--checkpoint", str(path)]


@pytest.mark.parametrize("with_our_model", [False, True], ids=["mil", "hart-and-mil"])
def test_a_run_over_the_shared_sequences(shared_sequences, tmp_path, capsys, with_our_model):
    _real_load_sequences()
    ours = _our_checkpoint(tmp_path) if with_our_model else ["--no-hart"]
    out = tmp_path / "out"
    # 12 frames each keeps MIL (about 30 fps on 1280×720 ball1) to a few seconds.
    argv = ["evaluate", str(shared_sequences), "--baselines", "mil", "--max-frames", "12"]
    threads = pytest.importorskip("torch").get_num_threads()
    assert main([*argv, "--out", str(out), *ours]) == 0
    # hart ran on one thread (hart.tracking.threads) and gave the caller's setting back
    assert pytest.importorskip("torch").get_num_threads() == threads
    table = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    trackers = ["hart", "mil"] if with_our_model else ["mil"]
    assert list(results["trackers"]) == trackers
    assert len(results["sequences"]) == 4 and not results["failures"]
    for tracker in trackers:
        overall = results["trackers"][tracker]["overall"]
        assert overall["sequences"] == 4 and overall["scored_frames"] == 4 * 11
        assert 0 <= overall["success_auc"] <= 1
        assert f"| {tracker} | 4 |" in table
    assert png_size(out / "success_plot.png")[0] > 100
    assert png_size(out / "iou_over_time.png")[0] > 100


def _origins(argv, capsys) -> dict[tuple[str, str], str]:
    """Run ``hart evaluate``; ``(tracker, sequence)`` → "tracked" or "cached", from its log."""
    assert main(argv) == 0
    lines = capsys.readouterr().err.splitlines()
    ends = ("(tracked)", "(cached)")
    return {
        tuple(line.split()[:2]): line.split()[-1][1:-1] for line in lines if line.endswith(ends)
    }


def test_hart_is_tracked_again_with_other_threads_and_the_baselines_are_not(
    square_root, tmp_path, capsys
):
    # Threads add a sum's terms in another order: hart's boxes move by float rounding, so its
    # cached runs are not the answer for another --threads. The static box's still are.
    argv = ["evaluate", str(square_root), "--baselines", "static", "--max-frames", "4"]
    argv += ["--out", str(tmp_path / "out"), *_our_checkpoint(tmp_path)]
    pairs = [(t, s) for t in ("hart", "static") for s in ("left", "right")]
    assert _origins([*argv, "--threads", "1"], capsys) == dict.fromkeys(pairs, "tracked")
    assert _origins([*argv, "--threads", "1"], capsys) == dict.fromkeys(pairs, "cached")
    again = _origins([*argv, "--threads", "2"], capsys)
    assert again == {pair: "tracked" if pair[0] == "hart" else "cached" for pair in pairs}
    assert _origins([*argv, "--threads", "2"], capsys) == dict.fromkeys(pairs, "cached")
    assert _origins([*argv, "--threads", "1"], capsys) == again  # each setting has its own


def test_hart_is_tracked_again_when_hart_kernel_changes_its_glimpse_path(
    square_root, tmp_path, capsys, monkeypatch
):
    # HART_KERNEL=off reads glimpses with PyTorch's operations instead of the compiled kernel:
    # the same numbers up to float rounding, which is enough to move a box.
    kernel = pytest.importorskip("hart.model.kernel")
    monkeypatch.delenv("HART_KERNEL", raising=False)
    kernel.load.cache_clear()  # load() reads HART_KERNEL once per process
    try:
        if kernel.load() is None:
            pytest.skip("no compiled glimpse kernel here: both settings take PyTorch's path")
        argv = ["evaluate", str(square_root), "--baselines", "static", "--max-frames", "4"]
        argv += ["--out", str(tmp_path / "out"), *_our_checkpoint(tmp_path)]
        pairs = [(t, s) for t in ("hart", "static") for s in ("left", "right")]
        assert _origins(argv, capsys) == dict.fromkeys(pairs, "tracked")
        monkeypatch.setenv("HART_KERNEL", "off")
        kernel.load.cache_clear()
        again = _origins(argv, capsys)
        assert again == {pair: "tracked" if pair[0] == "hart" else "cached" for pair in pairs}
        assert _origins(argv, capsys) == dict.fromkeys(pairs, "cached")
    finally:
        monkeypatch.delenv("HART_KERNEL", raising=False)
        kernel.load.cache_clear()  # the next test builds or loads the kernel afresh


NANO_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models" / "nanotrack"


def test_nano_runs_from_the_model_files_given_and_follows_the_square(square_root, tmp_path, capsys):
    if not NANO_MODELS.is_dir():
        pytest.skip("../shared/models/nanotrack is not beside this checkout")
    out = tmp_path / "out"
    argv = ["evaluate", str(square_root), "--no-hart", "--baselines", "static,nano"]
    assert main([*argv, "--nano-models", str(NANO_MODELS), "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    trackers = results["trackers"]
    scores = {name: trackers[name]["overall"]["success_auc"] for name in ("static", "nano")}
    assert scores["nano"] > scores["static"] + 0.2, scores


def test_a_nano_folder_without_its_files_is_one_line_before_any_work(square_root, tmp_path, capsys):
    # Given but not asked for (--baselines static): still the user's mistake, said at once.
    (tmp_path / "nano").mkdir()
    out = tmp_path / "out"
    argv = ["evaluate", str(square_root), "--no-hart", "--baselines", "static"]
    assert main([*argv, "--nano-models", str(tmp_path / "nano"), "--out", str(out)]) == 2
    printed = capsys.readouterr()
    assert printed.err.count("\n") == 1 and "lacks nanotrack_backbone_sim.onnx" in printed.err
    assert "(tracked)" not in printed.err and not out.exists()


def test_nano_without_model_files_is_skipped_with_one_line(
    square_root, tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("HART_NANOTRACK_DIR", raising=False)
    out = tmp_path / "out"
    argv = ["evaluate", str(square_root), "--no-hart", "--baselines", "static,nano"]
    assert main([*argv, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "nano: skipped, no TrackerNano model files" in err
    assert "nano" not in json.loads((out / "results.json").read_text())["trackers"]
    # A folder given that lacks the files is an error, not a silent skip.
    assert main([*argv, "--nano-models", str(tmp_path), "--out", str(out)]) == 2
    assert "lacks nanotrack_backbone_sim.onnx" in capsys.readouterr().err


def test_all_baselines_take_nano_from_the_model_folder_given(
    square_root, tmp_path, capsys, monkeypatch
):
    if not NANO_MODELS.is_dir():
        pytest.skip("../shared/models/nanotrack is not beside this checkout")
    monkeypatch.delenv("HART_NANOTRACK_DIR", raising=False)  # --nano-models alone must do
    out = tmp_path / "out"
    argv = ["evaluate", str(square_root), "--no-hart", "--baselines", "all", "--out", str(out)]
    chosen = ["--sequences", "left", "--max-frames", "4", "--nano-models", str(NANO_MODELS)]
    assert main([*argv, *chosen]) == 0
    results = json.loads((out / "results.json").read_text())
    assert "nano" in results["trackers"] and "nano" not in results["failures"]
    assert "nano" in results["available_trackers"]
    # A folder given that lacks the files is an error with 'all' too, not a silent omission.
    assert main([*argv, "--nano-models", str(tmp_path)]) == 2
    assert "lacks nanotrack_backbone_sim.onnx" in capsys.readouterr().err

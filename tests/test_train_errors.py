"""hart train on bad input: one error line, exit 2, and no folder left behind. Nothing trains."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY_TRAINING
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from hart.cli import main

REPO = Path(__file__).resolve().parents[1]

# Small settings, so that a run that wrongly gets past its error is over quickly.
SMALL = [*TINY_TRAINING, "--trainer.max_steps=1"]


def _error_of_train(tmp_path: Path, monkeypatch, capsys, *args: str) -> str:
    """The one line ``hart train SMALL… args`` prints, run in the empty ``tmp_path`` (where the
    default ``checkpoints/`` would go); fails unless it exits 2 and leaves ``tmp_path`` empty."""
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    status = main(["train", *SMALL, *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2, err
    assert len(err) == 1 and err[0].startswith("hart train: error: "), err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no checkpoints/, no run folder
    return err[0]


@pytest.mark.parametrize(
    "option, message",
    [
        ("--data.batch_size=0", "batch_size must be at least 1, got 0"),
        ("--data.clips_per_epoch=0", "clips_per_epoch must be at least 1, got 0"),
        ("--data.val_clips=-1", "val_clips must be at least 1, got -1"),
        ("--data.num_workers=-1", "num_workers must be 0 (load in the main process) or more"),
        ("--data.val_clip_length=1", "val_clip_length must be at least 2 frames, got 1"),
        ("--data.frame_size=[0,64]", "frame_size must be two sizes of at least 1 pixel"),
        ("--data.frame_size=[100000,64]", "frame_size must be at most 2160x3840 (4K UHD)"),
        ("--data.clips_per_epoch=1", "clips_per_epoch (1) must be at least batch_size (2)"),
        ("--data.seed=-1", "seed must be 0 or more, got -1"),
        ("--data.synthetic.max_speed=-1", "max_speed must be between 0 and 100, got -1.0"),
        ("--data.synthetic.blur=1e308", "blur must be between 0 and 100, got 1e+308"),
        ("--data.synthetic.photo_probability=2", "photo_probability must be between 0 and 1"),
        (
            "--data.synthetic.distractors=[4,0]",
            "distractors must be (low, high) with 0 <= low <= high <= 100, got (4, 0)",
        ),
        ("--data.synthetic.target_height=[0.5,0.1]", "target_height must be (low, high) with"),
        ("--data.augmentation.zoom=1000", "zoom must be in [0, 3], got 1000.0"),
        ("--data.augmentation.shift=-0.1", "shift must be in [0, 1], got -0.1"),
        ("--data.augmentation.contrast=5", "contrast must be in [0, 3], got 5.0"),
    ],
)
def test_a_count_the_data_module_refuses_is_one_line_before_any_folder(
    tmp_path, monkeypatch, capsys, option, message
):
    assert message in _error_of_train(tmp_path, monkeypatch, capsys, option)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            # SMALL after it, and its trunk's smallest glimpse
            [
                "--config",
                str(REPO / "configs" / "real.yaml"),
                *SMALL,
                "--model.config.glimpse_size=[112,112]",
            ],
            "--data.augmentation applies to a data set on disk only, and no --data.root is given",
        ),
        (["--data.resized_cache=cache"], "--data.resized_cache applies to a data set on disk only"),
        (
            [f"--data.root={REPO / 'tests' / 'data'}", f"--data.photos={REPO / 'tests'}"],
            "--data.photos applies to synthetic clips only, and --data.root",
        ),
        (
            [f"--data.root={REPO / 'tests' / 'data'}", "--data.synthetic.max_speed=3"],
            "--data.synthetic applies to synthetic clips only",
        ),
    ],
)
def test_an_option_of_the_other_source_of_clips_is_one_line(
    tmp_path, monkeypatch, capsys, args, message
):
    # configs/real.yaml without --data.root trained on synthetic clips, unaugmented, in silence.
    assert message in _error_of_train(tmp_path, monkeypatch, capsys, *args)


def test_ckpt_path_last_in_a_numbered_run_folder_is_one_line(tmp_path, monkeypatch, capsys):
    # It looked for last.ckpt in the new run's own version_N folder, found none and trained
    # from step 0, exit 0, every time the same line was run again.
    error = _error_of_train(tmp_path, monkeypatch, capsys, "--ckpt_path=last")
    assert "--ckpt_path last looks in this run's own folder" in error


def test_validate_ckpt_path_last_in_a_numbered_run_folder_is_one_line(
    tmp_path, monkeypatch, capsys
):
    # It found no last.ckpt in the new folder and validated the untrained weights, exit 0.
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["train", "validate", *SMALL, "--ckpt_path=last"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--ckpt_path last looks in this run's own folder" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("subcommand", ["fit", "validate"])
def test_ckpt_path_best_is_one_line(tmp_path, monkeypatch, capsys, subcommand):
    # Lightning's name for the best checkpoint of a fit in the same process: a traceback.
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["train", subcommand, *SMALL, "--ckpt_path=best"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--ckpt_path best names the best checkpoint of a fit" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_ckpt_path_last_in_a_named_run_folder_resumes_from_it(tmp_path, monkeypatch):
    # With the folder named, the same line starts the run and later resumes it.
    monkeypatch.chdir(tmp_path)
    run = ["train", *TINY_TRAINING, "--trainer.logger.init_args.version=mine", "--ckpt_path=last"]
    assert main([*run, "--trainer.max_steps=1"]) == 0
    assert main([*run, "--trainer.max_steps=2"]) == 0
    (folder,) = tmp_path.rglob("mine")
    # Both runs' event files, in order, kept whole (no purge where a step goes back).
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0}, purge_orphaned_data=False)
    events.Reload()
    assert [event.step for event in events.Scalars("train/loss_step")] == [0, 1]


def test_ckpt_path_last_of_a_run_that_spent_its_max_time_is_one_line(tmp_path, monkeypatch, capsys):
    # The set-up's main job (a named, time-boxed run) run again with --ckpt_path last: the
    # time-left check looked only at a --ckpt_path naming a file, so "last" stopped before its
    # first step and exited 0, where the README promises one error line.
    monkeypatch.chdir(tmp_path)
    run = [
        "train",
        *TINY_TRAINING,
        "--trainer.logger.init_args.version=mine",
        "--trainer.max_time=00:00:10:00",
        "--ckpt_path=last",
    ]
    assert main([*run, "--trainer.max_steps=1"]) == 0
    (last,) = tmp_path.rglob("mine/checkpoints/last.ckpt")
    saved = torch.load(last, weights_only=False)
    saved["callbacks"]["Timer"]["time_elapsed"]["train"] = 600.5  # as if it ran out of time
    torch.save(saved, last)
    capsys.readouterr()
    assert main([*run, "--trainer.max_steps=2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has trained for 0:10:00, all of --trainer.max_time 0:10:00" in err[0]


def test_ckpt_path_last_does_not_read_the_init_weights_again(tmp_path, monkeypatch):
    # A resumed run takes its weights from the checkpoint; with "last" it read the
    # --model.init_weights it was fine-tuned from again, and stopped where that file had moved.
    from hart.model.checkpoint import export_model

    monkeypatch.chdir(tmp_path)
    assert main(["train", *TINY_TRAINING, "--trainer.max_steps=1"]) == 0
    (first,) = tmp_path.rglob("version_0/checkpoints/last.ckpt")
    weights = export_model(first, tmp_path / "weights.ckpt")
    run = [
        "train",
        *TINY_TRAINING,
        f"--model.init_weights={weights}",
        "--trainer.logger.init_args.version=tuned",
        "--ckpt_path=last",
    ]
    assert main([*run, "--trainer.max_steps=1"]) == 0
    weights.unlink()
    assert main([*run, "--trainer.max_steps=2"]) == 0
    (last,) = tmp_path.rglob("tuned/checkpoints/last.ckpt")
    assert torch.load(last, weights_only=False)["global_step"] == 2


def test_a_cosine_schedule_without_a_step_count_is_one_line(tmp_path, monkeypatch, capsys):
    error = _error_of_train(
        tmp_path, monkeypatch, capsys, "--model.lr_schedule=cosine", "--trainer.max_steps=-1"
    )
    assert error.endswith("--model.lr_schedule cosine decays over --trainer.max_steps; give it")


def test_the_gpu_accelerator_without_a_gpu_is_one_line(tmp_path, monkeypatch, capsys):
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has a GPU")
    error = _error_of_train(tmp_path, monkeypatch, capsys, "--trainer.accelerator=gpu")
    assert error.startswith("hart train: error: --trainer.accelerator gpu: no GPU is available")


@pytest.mark.parametrize(
    "option, message",
    [
        ("--trainer.devices=-5", "--trainer.devices -5: `devices` selected with `CPUAccelerator`"),
        ("--trainer.strategy=nothing", "--trainer.strategy nothing: You selected an invalid"),
        ("--trainer.max_epochs=-5", "--trainer.max_epochs -5: `max_epochs` must be"),
    ],
)
def test_a_setting_the_trainer_refuses_is_one_line_naming_it(
    tmp_path, monkeypatch, capsys, option, message
):
    error = _error_of_train(tmp_path, monkeypatch, capsys, "--trainer.accelerator=cpu", option)
    assert error.startswith(f"hart train: error: {message}"), error


def test_turning_checkpoints_off_is_one_line_saying_hart_keeps_them(tmp_path, monkeypatch, capsys):
    # Lightning's own refusal named its ModelCheckpoint, which the user never added.
    error = _error_of_train(tmp_path, monkeypatch, capsys, "--trainer.enable_checkpointing=false")
    assert error.startswith("hart train: error: --trainer.enable_checkpointing false: hart train")


@pytest.mark.parametrize(
    "option", ["--trainer.max_steps=0", "--trainer.max_epochs=0", "--trainer.max_time=00:00:00:00"]
)
def test_a_limit_that_allows_no_step_is_one_line(tmp_path, monkeypatch, capsys, option):
    # Lightning fits nothing and ends without an error; the empty run folder was discarded, so
    # a mistyped limit looked like a finished run.
    name = option.split("=")[0]
    error = _error_of_train(tmp_path, monkeypatch, capsys, option)
    assert error == f"hart train: error: {name} of 0 allows no training step"


@pytest.mark.parametrize(
    "option, message",
    [
        (
            "--trainer.max_steps=abc",
            "--trainer.max_steps: Expected a <class 'int'>. Got value: abc",
        ),
        # A field of a dataclass of settings: the full option, and the field's reason.
        (
            "--model.config.lstm_size=abc",
            "--model.config.lstm_size: Expected a <class 'int'>. Got value: abc",
        ),
        ("--data.synthetic.no_such=1", "--data.synthetic: Option 'no_such' is not accepted"),
        ("--data.split=random", "--data.split: Expected a typing.Literal['sequence', 'time']"),
    ],
)
def test_a_value_the_parser_refuses_is_one_line_with_the_reason(
    tmp_path, monkeypatch, capsys, option, message
):
    error = _error_of_train(tmp_path, monkeypatch, capsys, option)
    assert error.startswith(f"hart train: error: {message}"), error


def test_a_run_that_fails_on_its_data_leaves_no_checkpoints_folder(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    work = tmp_path / "work"  # where the default checkpoints/ would be made
    work.mkdir()
    error = _error_of_train(work, monkeypatch, capsys, f"--data.root={empty}")
    assert error == f"hart train: error: {empty}: the folder is empty"


@pytest.mark.parametrize("workers", [0, 1])
def test_an_unreadable_frame_is_one_line_naming_it_from_a_worker_process_too(tmp_path, workers):
    # PyTorch raises a worker's error again with the worker's traceback for its message. The
    # run gets as far as fitting, so Lightning's start-up lines come first: a process of its own.
    import cv2
    import numpy as np

    root = tmp_path / "otb"
    for name in ("A", "B", "C"):
        (root / name / "img").mkdir(parents=True)
        for index in range(1, 7):
            image = np.zeros((8, 8, 3), np.uint8)
            cv2.imwrite(str(root / name / "img" / f"{index:04d}.jpg"), image)
        (root / name / "groundtruth_rect.txt").write_text("1,1,4,4\n" * 6)
    broken = root / "A" / "img" / "0003.jpg"  # in every 5-frame training clip of A
    broken.write_bytes(b"")
    work = tmp_path / "work"
    work.mkdir()
    options = [f"--data.root={root}", "--data.val_fraction=0.5", f"--data.num_workers={workers}"]
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "hart.cli", "train", *SMALL, *options, "--data.clips_per_epoch=40"],
        cwd=work,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    said = f"hart train: error: {broken}: cannot read this image (missing, or not an image)"
    assert run.returncode == 2 and run.stderr.splitlines()[-1] == said, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert sorted(p.name for p in work.iterdir()) == []  # no checkpoints/, no run folder


def test_a_failed_run_keeps_the_folders_that_were_there_before_it(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    earlier = tmp_path / "work" / "checkpoints" / "synthetic" / "version_0"
    earlier.mkdir(parents=True)
    (earlier / "config.yaml").write_text("earlier run\n")
    (tmp_path / "work" / "checkpoints" / "mine").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert main(["train", *SMALL, f"--data.root={empty}"]) == 2
    assert sorted(p.name for p in (tmp_path / "work" / "checkpoints").iterdir()) == [
        "mine",
        "synthetic",
    ]
    assert [p.name for p in (earlier.parent).iterdir()] == ["version_0"]  # version_1 removed


@pytest.mark.parametrize(
    "args, stderr",
    [
        # Lightning seeds and builds its trainer (and says so) before the data is read.
        (["--data.root", "EMPTY"], "hart train: error: EMPTY: the folder is empty\n"),
        (["--help"], ""),
    ],
    ids=["data-error", "help"],
)
def test_the_hart_command_prints_the_error_line_alone(tmp_path, args, stderr):
    # A process of its own: in-process, pytest takes the warnings and Lightning's log lines
    # that the command prints before the error.
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [str(empty) if arg == "EMPTY" else arg for arg in args]
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "hart.cli", "train", *SMALL, *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.stderr == stderr.replace("EMPTY", str(empty))
    assert run.returncode == (2 if stderr else 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_the_test_sub_command_is_one_line(tmp_path, monkeypatch, capsys):
    # Offered before, it reached Lightning's test loop, which the data module gives no clips:
    # a MisconfigurationException's traceback.
    monkeypatch.chdir(tmp_path)
    assert main(["train", "test", *SMALL]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["hart train: error: unrecognized arguments: test"], err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_help_offers_only_the_sub_commands_hart_train_takes(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    assert exit_.value.code == 0
    usage = capsys.readouterr().out.splitlines()[0]
    # No predict (HARTModule has no such step), no test (the data module has no test split).
    assert usage.endswith("{fit,validate} ...")


def test_the_help_names_the_command_as_it_is_typed(capsys):
    # `hart -c CONFIG fit`, which a usage line of plain "hart" suggests, is not a command.
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert capsys.readouterr().out.startswith("usage: hart train [-c CONFIG] {fit,validate}")
    with pytest.raises(SystemExit):
        main(["train", "fit", "--help"])
    assert capsys.readouterr().out.startswith("usage: hart train [options] fit ")


def test_synthetic_frames_too_small_for_the_world_are_one_line_before_any_work(tmp_path, capsys):
    # Found by the first clip otherwise, as a numpy traceback in the middle of the sanity check.
    assert (
        main(["train", "--data.frame_size=[20,64]", f"--trainer.default_root_dir={tmp_path}"]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "hart train: error: frame_size must be at least 24x24 for synthetic data, got (20, 64)"
    ]

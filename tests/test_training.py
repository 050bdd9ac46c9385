"""hart train: real Lightning fits on synthetic clips, TensorBoard read back, checkpoints, DDP."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import TINY_TRAINING
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from hart.cli import main
from hart.datasets.clips import SyntheticClips
from hart.datasets.sequence import Sequence
from hart.errors import InputError
from hart.training.callbacks import Curriculum
from hart.training.datamodule import HARTDataModule

REPO = Path(__file__).resolve().parents[1]


def _train(tmp_path: Path, *args: str, validate: bool = False) -> int:
    logs = ["--trainer.logger.init_args.save_dir", str(tmp_path / "runs")]
    return main(["train", *(["validate"] if validate else []), *TINY_TRAINING, *logs, *args])


def _run_dir(tmp_path: Path, version: int = 0) -> Path:
    return tmp_path / "runs" / "synthetic" / f"version_{version}"


def test_a_short_fit_logs_scalars_images_and_hparams_to_tensorboard(tmp_path):
    assert _train(tmp_path, "--trainer.max_steps=4") == 0
    run = _run_dir(tmp_path)
    events = EventAccumulator(str(run), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    expected = {
        "train/loss_step",
        "train/iou_step",
        "train/loss_box_step",
        "train/loss_attention_step",
        "train/loss_mask_step",
        "train/loss_weight_decay_step",
        "train/weight_box",
        "train/weight_attention",
        "train/weight_mask",
        "train/grad_norm",
        "train/clip_length",
        "val/iou",
        "val/loss",
        "val/iou_static",
        "lr-RMSprop",
        "hp_metric",
    }
    assert expected <= scalars, expected - scalars
    assert {"val/tracking", "val/glimpses", "val/object_masks"} <= set(events.Tags()["images"])
    losses = [event.value for event in events.Scalars("train/loss_step")]
    assert len(losses) == 4 and all(map(torch.isfinite, torch.tensor(losses)))
    # The config used is saved beside the logs, and checkpoints under them.
    assert (run / "config.yaml").is_file()
    assert (run / "checkpoints" / "last.ckpt").is_file()


def test_a_run_without_a_logger_trains_and_checkpoints(tmp_path, monkeypatch):
    # --trainer.logger false: no TensorBoard; the learning-rate monitor hart adds stopped such
    # a run with a traceback as training started.
    monkeypatch.chdir(tmp_path)
    assert main(["train", *TINY_TRAINING, "--trainer.max_steps=1", "--trainer.logger=false"]) == 0
    (last,) = tmp_path.rglob("last.ckpt")
    assert torch.load(last, weights_only=False)["global_step"] == 1


def test_the_validation_pictures_carry_the_step_of_the_validation_scalars_they_go_with(tmp_path):
    # Two validations: one in the middle of an epoch of 4 batches, one at its end. TensorBoard
    # shows a picture beside the scalars of its step; a step later, it sat beside the next
    # training step's and never beside the val/iou it illustrates.
    args = ["--trainer.max_steps=4", "--data.clips_per_epoch=8", "--trainer.val_check_interval=2"]
    assert _train(tmp_path, *args) == 0
    events = EventAccumulator(str(_run_dir(tmp_path)), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    validations = [event.step for event in events.Scalars("val/iou")]
    assert validations == [1, 3]  # after the 2nd and the 4th training batch (steps 0-3)
    for tag in ("val/tracking", "val/glimpses", "val/object_masks"):
        assert [event.step for event in events.Images(tag)] == validations, tag


def test_resuming_from_a_checkpoint_continues_from_its_step_and_curriculum(tmp_path):
    args = ["--last_checkpoint.every_n_train_steps=3", "--curriculum.iou_threshold=0.0"]
    assert _train(tmp_path, "--trainer.max_steps=3", *args) == 0
    last = _run_dir(tmp_path) / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=False)
    assert saved["global_step"] == 3
    # Threshold 0: the curriculum lengthened the clips after the first epoch (2 steps).
    assert saved["callbacks"]["Curriculum"]["clip_length"] == 10

    assert _train(tmp_path, "--trainer.max_steps=5", *args, "--ckpt_path", str(last)) == 0
    resumed = torch.load(_run_dir(tmp_path, 1) / "checkpoints" / "last.ckpt", weights_only=False)
    assert resumed["global_step"] == 5
    assert resumed["callbacks"]["Curriculum"]["clip_length"] >= 10
    assert resumed["optimizer_states"][0]["state"], "the optimiser state was not restored"


def test_a_run_that_spent_its_max_time_resumed_with_it_is_one_line(tmp_path, capsys):
    # Lightning's timer counts the whole run: resumed with the line that started it, a
    # time-boxed run stopped before its first step, exit 0, leaving an empty log folder.
    box = "--trainer.max_time=00:00:10:00"
    assert _train(tmp_path, box, "--trainer.max_steps=1") == 0
    saved = torch.load(_run_dir(tmp_path) / "checkpoints" / "last.ckpt", weights_only=False)
    saved["callbacks"]["Timer"]["time_elapsed"]["train"] = 600.5  # as if it ran out of time
    spent = tmp_path / "spent.ckpt"
    torch.save(saved, spent)
    capsys.readouterr()
    assert _train(tmp_path, box, "--trainer.max_steps=2", "--ckpt_path", str(spent)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has trained for 0:10:00, all of --trainer.max_time 0:10:00" in err[0]
    assert sorted(p.name for p in (tmp_path / "runs" / "synthetic").iterdir()) == ["version_0"]


def _step_losses(run: Path) -> dict[int, float]:
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    return {event.step: event.value for event in events.Scalars("train/loss_step")}


@pytest.mark.parametrize("workers", [0, 2])
def test_a_run_killed_mid_epoch_and_resumed_equals_the_unbroken_run(tmp_path, workers):
    # 2 steps per epoch; last.ckpt at step 3 (mid-epoch 1) is what a run killed after it leaves.
    # The curriculum grows every epoch; zoneout and dropout draw random numbers every step.
    args = [
        "--seed_everything=0",
        f"--data.num_workers={workers}",
        "--last_checkpoint.every_n_train_steps=3",
        "--curriculum.iou_threshold=0.0",
        "--curriculum.growth=1",
    ]
    assert _train(tmp_path, *args, "--trainer.max_steps=6") == 0  # version_0: unbroken
    assert _train(tmp_path, *args, "--trainer.max_steps=3") == 0  # version_1: stops at 3
    killed = _run_dir(tmp_path, 1) / "checkpoints" / "last.ckpt"
    assert _train(tmp_path, *args, "--trainer.max_steps=6", "--ckpt_path", str(killed)) == 0

    _assert_resumed_run_equals_unbroken(tmp_path, resumed_from=3)


def _assert_resumed_run_equals_unbroken(tmp_path: Path, resumed_from: int) -> None:
    """version_2, resumed at step ``resumed_from``, trained as version_0 did, to step 6."""
    unbroken, resumed = _step_losses(_run_dir(tmp_path, 0)), _step_losses(_run_dir(tmp_path, 2))
    assert sorted(resumed) == list(range(resumed_from, 6))
    for step in resumed:
        assert resumed[step] == pytest.approx(unbroken[step], rel=1e-6, abs=1e-7), step
    a, b = (
        torch.load(_run_dir(tmp_path, v) / "checkpoints" / "last.ckpt", weights_only=False)
        for v in (0, 2)
    )
    assert a["global_step"] == b["global_step"] == 6 and a["epoch"] == b["epoch"]
    assert a["callbacks"]["Curriculum"] == b["callbacks"]["Curriculum"]
    assert a["callbacks"]["Curriculum"]["clip_length"] == 7  # 5, +1 after epochs 0 and 1
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key, value in a["state_dict"].items():  # weights and BatchNorm counters alike
        torch.testing.assert_close(b["state_dict"][key], value, rtol=1e-6, atol=1e-7, msg=key)


@pytest.mark.parametrize(
    ("stop", "every"),
    [
        (3, 200),  # max_steps in mid-epoch: Lightning still ends that epoch before training ends
        (4, 200),  # max_steps at an epoch's end
        (4, 4),  # killed after a periodic save on an epoch's last batch: its end never ran
    ],
)
def test_a_run_stopped_by_max_steps_and_resumed_equals_the_unbroken_run(tmp_path, stop, every):
    # 2 steps per epoch. Before, the run stopped in mid-epoch judged the curriculum on that
    # epoch's one batch and resumed with the next epoch's clips; the one stopped at step 4
    # resumed with epoch 3's clips; the one killed at step 4 never judged epoch 1.
    args = [
        "--seed_everything=0",
        f"--last_checkpoint.every_n_train_steps={every}",
        "--curriculum.iou_threshold=0.0",
        "--curriculum.growth=1",
    ]
    assert _train(tmp_path, *args, "--trainer.max_steps=6") == 0  # version_0: unbroken
    assert _train(tmp_path, *args, f"--trainer.max_steps={stop}") == 0  # version_1
    stopped = _run_dir(tmp_path, 1) / "checkpoints" / "last.ckpt"
    assert torch.load(stopped, weights_only=False)["global_step"] == stop
    assert _train(tmp_path, *args, "--trainer.max_steps=6", "--ckpt_path", str(stopped)) == 0
    _assert_resumed_run_equals_unbroken(tmp_path, resumed_from=stop)


def test_the_training_loader_resumes_at_the_batch_after_the_last_one_trained_on():
    from hart.training.datamodule import FreshClipsSampler, ResumableLoader

    def loader():
        clips = SyntheticClips(clips_per_epoch=8, clip_length=2, frame_size=(48, 64), seed=3)
        return ResumableLoader(clips, batch_size=2, sampler=FreshClipsSampler(clips))

    first = loader()
    first.sampler.set_epoch(1)
    iterator = iter(first)
    taken = [next(iterator) for _ in range(3)]
    state = first.state_dict()
    assert state == {"epoch": 1, "batches": 3}
    rest = list(iterator)

    second = loader()  # a new process, resuming
    second.load_state_dict(state)
    second.sampler.set_epoch(1)  # as Lightning does before the epoch's first batch
    resumed = list(second)
    assert len(taken) + len(resumed) == 4
    for a, b in zip(rest, resumed, strict=True):
        torch.testing.assert_close(a, b)
    assert second.state_dict() == {"epoch": 1, "batches": 4}
    assert len(list(second)) == 4  # the next pass is a whole epoch again


@pytest.mark.parametrize("validate", [False, True], ids=["fit", "validate"])
def test_a_ckpt_path_that_cannot_be_resumed_is_one_line_naming_it(tmp_path, capsys, validate):
    # `hart train validate --ckpt_path` reads the same file: these were tracebacks there.
    assert _train(tmp_path, "--trainer.max_steps=1") == 0
    last = _run_dir(tmp_path) / "checkpoints" / "last.ckpt"
    data = last.read_bytes()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.ckpt").write_bytes(b"")
    (bad / "cut.ckpt").write_bytes(data[: len(data) // 2])
    assert main(["export", str(last), str(bad / "exported.ckpt")]) == 0
    saved = torch.load(last, weights_only=False)
    name = next(k for k, v in saved["state_dict"].items() if v.is_floating_point())
    saved["state_dict"][name].view(-1)[0] = float("nan")
    torch.save(saved, bad / "nan.ckpt")
    capsys.readouterr()
    expected = {
        "empty.ckpt": "is empty (0 bytes)",
        "cut.ckpt": "is not a hart checkpoint, or is cut short",
        "exported.ckpt": "is an exported model (network weights only), not a training checkpoint",
        "nan.ckpt": f"holds NaN or infinite weights ({name})",
    }
    for file, message in expected.items():
        path = bad / file
        args = ("--trainer.max_steps=2", "--ckpt_path", str(path))
        assert _train(tmp_path, *args, validate=validate) == 2, file
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"hart train: error: {path} "), err
        assert message in err[0], err
    assert sorted(p.name for p in (tmp_path / "runs" / "synthetic").iterdir()) == ["version_0"]


def _otb_tree(root: Path, frames: int) -> Path:
    """Three small OTB-layout sequences, A, B and C, of ``frames`` frames each."""
    for name in ("A", "B", "C"):
        (root / name / "img").mkdir(parents=True)
        for index in range(1, frames + 1):
            image = np.zeros((8, 8, 3), np.uint8)
            cv2.imwrite(str(root / name / "img" / f"{index:04d}.jpg"), image)
        (root / name / "groundtruth_rect.txt").write_text("1,1,4,4\n" * frames)
    return root


def test_the_data_root_reads_sequences_re_hosted_as_folders_of_frames_with_box_files(tmp_path):
    # UAV123's bike1 as users re-host it: bike1/000001.jpg … + bike1/bike1.txt (NaN: absent).
    for name in ("bike1", "bike2"):
        folder = tmp_path / "uav" / name
        folder.mkdir(parents=True)
        for index in range(1, 7):
            cv2.imwrite(str(folder / f"{index:06d}.jpg"), np.zeros((8, 8, 3), np.uint8))
        (folder / f"{name}.txt").write_text("1,1,4,4\n" * 5 + "NaN,NaN,NaN,NaN\n")
    data = HARTDataModule(root=str(tmp_path / "uav"), val_fraction=0.5, num_workers=0)
    sequences = data._sequences()
    assert [s.name for s in sequences] == ["bike1", "bike2"]
    assert [len(s.frames) for s in sequences] == [6, 6]
    assert sequences[0].visible.tolist() == [True] * 5 + [False]


def test_a_run_that_fails_on_its_data_leaves_no_log_folder(tmp_path, capsys):
    root = _otb_tree(tmp_path / "short", frames=3)  # no 5-frame clip fits
    status = _train(tmp_path, f"--data.root={root}", "--data.val_fraction=0.5")
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "no clip of 5 frames fits" in err[0], err
    assert not (tmp_path / "runs").exists()  # no synthetic/version_0, no synthetic/, no runs/


def test_clips_longer_than_the_validation_sequences_name_the_option_that_sets_them(
    tmp_path, capsys
):
    root = _otb_tree(tmp_path / "otb", frames=6)
    status = _train(
        tmp_path, f"--data.root={root}", "--data.val_fraction=0.5", "--data.val_clip_length=8"
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1, err
    assert "validation clips (--data.val_clip_length): no clip of 8 frames fits" in err[0], err


@pytest.mark.parametrize(
    "split, extra, says",
    [
        (
            "sequence",
            [],
            "3 sequences, validating on one in every 5 (--data.val_fraction 0.2), leaves "
            "no validation sequence; raise --data.val_fraction to 0.33 or more",
        ),
        (
            "time",
            ["--data.val_clip_length=10"],
            "leaves no validation sequence; change --data.val_fraction or --data.val_clip_length",
        ),
    ],
)
def test_an_empty_validation_split_is_named_with_the_option_that_sets_it(
    tmp_path, capsys, split, extra, says
):
    root = _otb_tree(tmp_path / "otb", frames=20)
    status = _train(tmp_path, f"--data.root={root}", f"--data.split={split}", *extra)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and says in err[0], err


@pytest.mark.parametrize("count", [3, 16, 30, 41, 250])
def test_the_val_fraction_an_empty_validation_split_advises_holds_one_out(tmp_path, count):
    # 1 / count rounded to hundredths would not: 16 sequences and 0.06 validate every 17th.
    sequences = [
        Sequence(f"s{i:03d}", [tmp_path / f"s{i}" / "1.jpg"], np.ones((1, 4)), np.ones(1, bool))
        for i in range(count)
    ]

    def split(fraction: float):
        data = HARTDataModule(root=str(tmp_path), val_fraction=fraction, num_workers=0)
        return data._split(sequences)

    with pytest.raises(InputError, match=r"raise --data.val_fraction to (\d\.\d\d)") as error:
        split(0.001)
    advised = float(re.search(r"to (\d\.\d\d) or more", str(error.value))[1])
    train, val = split(advised)
    assert val and train and len(train) + len(val) == count


def test_a_split_by_sequence_keeps_the_tracks_of_a_video_together(tmp_path):
    # KITTI makes a sequence of each object track: two tracks of one video share their frames,
    # so they validate together or train together, never one on each side.
    frames = [tmp_path / f"{i}.png" for i in range(4)]

    def track(video, number):
        attributes = {"video": video, "first_frame": 0}
        return Sequence(f"{video}_{number}", frames, np.zeros((4, 4)), np.ones(4), attributes)

    sequences = [track(video, n) for video in ("0000", "0001", "0002", "0003") for n in (0, 1)]
    data = HARTDataModule(root=str(tmp_path), split="sequence", val_fraction=0.5)
    train, val = data._split(sequences)
    assert [s.name for s in val] == ["0001_0", "0001_1", "0003_0", "0003_1"]
    assert {s.attributes["video"] for s in train} == {"0000", "0002"}
    with pytest.raises(InputError, match=r"holds 2 sequence\(s\) of one video: a split by "):
        data._split(sequences[:2])


def test_a_split_by_sequence_keeps_the_parts_of_one_flight_together(tmp_path):
    # UAV123's parts of one flight re-hosted as a video each (../shared/training's truck4_1 and
    # truck4_2): with every 2nd video validating, the parts went to both sides. A name that
    # merely ends in _<n> (clip_1.mp4) is a video of its own.
    frames = [tmp_path / f"{i}.png" for i in range(4)]

    def video_file(name):
        attributes = {"dataset": "video", "video": str(tmp_path / f"{name}.mp4")}
        return Sequence(name, frames, np.zeros((4, 4)), np.ones(4), attributes)

    names = ["boat1", "clip_1", "clip_2", "truck4_1", "truck4_2", "wakeboard10"]
    data = HARTDataModule(root=str(tmp_path), split="sequence", val_fraction=0.5)
    train, val = data._split([video_file(name) for name in names])
    assert [s.name for s in val] == ["clip_1", "truck4_1", "truck4_2"]
    assert [s.name for s in train] == ["boat1", "clip_2", "wakeboard10"]


@pytest.mark.parametrize("resized", [False, True])
def test_a_split_by_sequence_keeps_targets_on_the_same_frames_together(tmp_path, resized):
    # OTB's Jogging: two targets, Jogging-1 and Jogging-2, on the same frames; with A, B and C
    # before them, every 5th sequence (the 5th: Jogging-1) would validate on Jogging-2's frames.
    root = _otb_tree(tmp_path / "otb", frames=6)
    (root / "C").rename(root / "Jogging")
    (root / "Jogging" / "groundtruth_rect.txt").rename(root / "Jogging" / "groundtruth_rect.1.txt")
    (root / "Jogging" / "groundtruth_rect.2.txt").write_text("2,2,4,4\n" * 6)
    _otb_tree(tmp_path / "more", frames=6)
    for name in ("A", "B"):
        (tmp_path / "more" / name).rename(root / f"{name}2")
    cache = str(tmp_path / "cache") if resized else None
    data = HARTDataModule(root=str(root), val_fraction=0.2, resized_cache=cache, num_workers=0)
    sequences = data._sequences()
    assert [s.name for s in sequences] == ["A", "A2", "B", "B2", "Jogging-1", "Jogging-2"]
    train, val = data._split(sequences)
    assert [s.name for s in val] == ["Jogging-1", "Jogging-2"], [s.name for s in val]
    assert [s.name for s in train] == ["A", "A2", "B", "B2"]


def test_last_checkpoint_is_the_final_step_when_training_ends_between_saves(tmp_path):
    # Saved every 2 steps, stopped after 5: Lightning alone would leave step 4 in last.ckpt.
    args = ["--trainer.max_steps=5", "--last_checkpoint.every_n_train_steps=2"]
    assert _train(tmp_path, *args) == 0
    last = torch.load(_run_dir(tmp_path) / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["global_step"] == 5


def test_init_weights_starts_a_fresh_run_from_an_exported_model(tmp_path, capsys):
    assert _train(tmp_path, "--trainer.max_steps=2") == 0
    exported = tmp_path / "model.ckpt"
    assert (
        main(["export", str(_run_dir(tmp_path) / "checkpoints" / "last.ckpt"), str(exported)]) == 0
    )
    source = torch.load(exported, weights_only=True)["state_dict"]
    # lr 0: the weights stay where they started, so they must equal the exported ones.
    args = ["--trainer.max_steps=2", "--model.lr=0", "--model.init_weights", str(exported)]
    assert _train(tmp_path, *args) == 0
    tuned = torch.load(_run_dir(tmp_path, 1) / "checkpoints" / "last.ckpt", weights_only=False)
    assert tuned["global_step"] == 2  # a new run: step 0, fresh optimiser
    parameters = [k for k, v in tuned["state_dict"].items() if "weight" in k and v.dim() > 1]
    assert parameters
    for key in parameters:
        assert torch.equal(tuned["state_dict"][key], source[key].float()), key
    capsys.readouterr()
    # A network of another shape: one line, exit 2.
    status = _train(tmp_path, *args, "--model.config.lstm_size=17")
    error = capsys.readouterr().err.strip()
    assert status == 2 and "\n" not in error and "does not fit" in error, error


def test_a_fine_tuned_run_resumes_without_the_file_it_started_from(tmp_path):
    # Resuming takes the run's weights from its checkpoint: the --model.init_weights it was
    # started from, moved or deleted since (or replaced by a network of another shape), is not
    # read again. It was, and the resumed run stopped on it.
    assert _train(tmp_path, "--trainer.max_steps=1") == 0
    exported = tmp_path / "model.ckpt"
    assert (
        main(["export", str(_run_dir(tmp_path) / "checkpoints" / "last.ckpt"), str(exported)]) == 0
    )
    args = ["--model.init_weights", str(exported), "--last_checkpoint.every_n_train_steps=1"]
    assert _train(tmp_path, "--trainer.max_steps=2", "--model.lr=0.002", *args) == 0
    last = _run_dir(tmp_path, 1) / "checkpoints" / "last.ckpt"
    exported.unlink()
    resume = ["--trainer.max_steps=3", "--model.lr=0.5", *args, "--ckpt_path", str(last)]
    assert _train(tmp_path, *resume) == 0
    resumed = torch.load(_run_dir(tmp_path, 2) / "checkpoints" / "last.ckpt", weights_only=False)
    assert resumed["global_step"] == 3
    assert resumed["hyper_parameters"]["init_weights"] == str(exported)  # where the run began
    # A resumed run is the checkpoint's run: its hyper-parameters and its optimiser's learning
    # rate, whatever --model.lr says (Lightning's CLI reads them back from the checkpoint).
    assert resumed["hyper_parameters"]["lr"] == 0.002
    assert [group["lr"] for group in resumed["optimizer_states"][0]["param_groups"]] == [0.002]


@pytest.mark.parametrize("config", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_config_parses(config, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "fit", "--config", str(config), "--print_config"])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    assert "model:" in printed and "data:" in printed and "trainer:" in printed


def test_an_unknown_config_key_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["train", "--model.no_such_thing=3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no_such_thing" in err[0], err


def test_a_missing_data_set_is_one_line_and_exit_2(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["train", f"--data.root={missing}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"hart train: error: data set folder {missing} does not exist"]


def test_one_video_file_is_a_data_set_to_split_in_time(tmp_path, monkeypatch):
    # The video layout reads one video and its box file; the data module refused any root that
    # was not a folder, as "does not exist".
    from hart.datasets import write_synthetic_sequence

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the decoded frames
    video = write_synthetic_sequence(tmp_path / "clip.mp4", seed=0, length=20, frame_size=(48, 64))
    args = [f"--data.root={video}", "--data.split=time", "--data.val_fraction=0.5"]
    assert _train(tmp_path, *args, "--trainer.max_steps=1") == 0
    assert (_run_dir(tmp_path) / "checkpoints" / "last.ckpt").is_file()


def test_a_nan_loss_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(
    tmp_path, monkeypatch, capsys
):
    import hart.training.module as module

    real_losses = module.hart_losses
    calls = {"n": 0}

    def losses_that_blow_up(*args, **kwargs):
        result = real_losses(*args, **kwargs)
        if torch.is_grad_enabled():
            calls["n"] += 1
            if calls["n"] == 4:  # the 4th training step: global step 3
                result["total"] = result["total"] * float("nan")
        return result

    monkeypatch.setattr(module, "hart_losses", losses_that_blow_up)
    status = _train(tmp_path, "--trainer.max_steps=10", "--last_checkpoint.every_n_train_steps=2")
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "at step 3" in err[0], err
    # What a resume would not do (it keeps the checkpoint's learning rate: see the fine-tuned
    # run resumed above), a new run from the weights does.
    assert "--model.init_weights" in err[0] and "--model.lr" in err[0], err
    last = torch.load(_run_dir(tmp_path) / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["global_step"] == 2
    weights = [v for v in last["state_dict"].values() if v.is_floating_point()]
    assert all(torch.isfinite(v).all() for v in weights)


def test_ctrl_c_mid_training_exits_130_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    import hart.training.module as module

    real_losses = module.hart_losses
    calls = {"n": 0}

    def losses_until_ctrl_c(*args, **kwargs):
        if torch.is_grad_enabled():
            calls["n"] += 1
            if calls["n"] == 4:  # the 4th training step: global step 3
                raise KeyboardInterrupt
        return real_losses(*args, **kwargs)

    monkeypatch.setattr(module, "hart_losses", losses_until_ctrl_c)
    handler = signal.getsignal(signal.SIGINT)
    try:
        status = _train(
            tmp_path, "--trainer.max_steps=10", "--last_checkpoint.every_n_train_steps=2"
        )
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores Ctrl-C once it has had one
    # Lightning exits 1 (a failure's status) after Ctrl-C; hart's is 130, as for every command.
    assert status == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "hart train: interrupted"
    last = torch.load(_run_dir(tmp_path) / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["global_step"] == 2


def test_checkpoints_are_written_beside_their_place_not_in_the_temporary_folder(
    tmp_path, monkeypatch
):
    # Lightning's writer stages a checkpoint in /tmp and moves it: a copy over the previous
    # last.ckpt where /tmp is another file system, and a failed run where it has no room.
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tempfile, "mkstemp", full)
    args = ["--trainer.max_steps=2", "--last_checkpoint.every_n_train_steps=1"]
    assert _train(tmp_path, *args) == 0
    checkpoints = _run_dir(tmp_path) / "checkpoints"
    assert torch.load(checkpoints / "last.ckpt", weights_only=False)["global_step"] == 2
    assert not [p.name for p in checkpoints.iterdir() if p.name.startswith(".")]  # temporaries


def test_curriculum_grows_clips_only_past_the_threshold_and_stops_at_the_maximum():
    curriculum = Curriculum(max_length=12, growth=5, iou_threshold=0.5)

    class Trainer:
        datamodule = type("DataModule", (), {"clip_length": 5})()
        current_epoch = 0
        num_training_batches = 2

    class Module:
        def log(self, *args, **kwargs):
            pass

    trainer, module = Trainer(), Module()

    def epoch(*ious):
        for iou in ious:
            outputs = {"loss": torch.tensor(1.0), "iou": torch.tensor(iou)}
            curriculum.on_train_batch_end(trainer, module, outputs, None, 0)
        curriculum.on_train_epoch_end(trainer, module)

    curriculum.on_fit_start(trainer, None)  # starts from the data module's length
    assert curriculum.clip_length == 5
    epoch(0.3, 0.6)  # mean 0.45
    assert curriculum.clip_length == 5
    epoch(0.4, 0.8)  # mean 0.6
    assert curriculum.clip_length == 10 and trainer.datamodule.clip_length == 10
    # Saved mid-epoch, the running mean goes with the length.
    curriculum.on_train_batch_end(trainer, module, {"loss": 0, "iou": torch.tensor(0.9)}, None, 0)
    restored = Curriculum(max_length=12, growth=5, iou_threshold=0.5)
    restored.load_state_dict(curriculum.state_dict())
    restored.on_fit_start(trainer, None)  # a restored length wins over the data module's
    assert restored.clip_length == 10
    curriculum = restored
    epoch(0.2)  # mean of 0.9 (before the resume) and 0.2
    assert curriculum.clip_length == 12  # and no further
    epoch(0.9, 0.9)
    assert curriculum.clip_length == 12


def test_curriculum_stops_at_the_longest_clip_the_training_sequences_give(tmp_path):
    # 6-frame sequences, clips from 5 growing by 5 every epoch (threshold 0): 10 frames would
    # fit no sequence and stop the run as its second epoch drew its first clip.
    root = _otb_tree(tmp_path / "otb", frames=6)
    args = [f"--data.root={root}", "--data.val_fraction=0.5", "--curriculum.iou_threshold=0"]
    assert _train(tmp_path, *args, "--trainer.max_steps=6") == 0
    events = EventAccumulator(str(_run_dir(tmp_path)), size_guidance={"scalars": 0})
    events.Reload()
    lengths = [event.value for event in events.Scalars("train/clip_length")]
    assert lengths == [5, 5, 6, 6, 6, 6], lengths


def test_curriculum_judges_whole_epochs_only_and_one_whose_end_a_resumed_run_skips():
    class Trainer:
        datamodule = type("DataModule", (), {"clip_length": 5})()
        current_epoch = 0
        num_training_batches = 2

    module = type("Module", (), {"log": lambda *args, **kwargs: None})()
    trainer, curriculum = Trainer(), Curriculum(max_length=30, growth=5, iou_threshold=0.5)
    curriculum.on_fit_start(trainer, module)

    def batch(iou):
        outputs = {"loss": torch.tensor(1.0), "iou": torch.tensor(iou)}
        curriculum.on_train_batch_end(trainer, module, outputs, None, 0)

    batch(0.9)
    curriculum.on_train_epoch_end(trainer, module)  # cut short by max_steps: not judged
    assert curriculum.clip_length == 5
    restored = Curriculum(max_length=30, growth=5, iou_threshold=0.5)
    restored.load_state_dict(curriculum.state_dict())
    curriculum = restored
    curriculum.on_fit_start(trainer, module)
    batch(0.2)  # the rest of epoch 0: mean 0.55
    state = curriculum.state_dict()  # saved after the epoch's last batch, before its end
    resumed = Curriculum(max_length=30, growth=5, iou_threshold=0.5)
    resumed.load_state_dict(state)
    trainer.current_epoch = 1  # Lightning counts epoch 0 done and never ends it
    resumed.on_fit_start(trainer, module)
    resumed.on_train_start(trainer, module)
    assert resumed.clip_length == 10 and trainer.datamodule.clip_length == 10
    assert resumed.state_dict()["batches"] == 0  # epoch 1 starts its own sum


def test_under_ddp_the_curriculum_judges_every_process_batches_alike():
    # This process's batches average 0.5, the other's 0.9: every process must grow its clips.
    class Strategy:
        root_device = torch.device("cpu")

        def reduce(self, sums, reduce_op):
            assert reduce_op == "sum"
            return sums + torch.tensor([0.9 + 0.9, 2.0], dtype=sums.dtype)

    class Trainer:
        datamodule = type("DataModule", (), {"clip_length": 5})()
        current_epoch = 0
        num_training_batches = 2
        world_size = 2
        strategy = Strategy()

    module = type("Module", (), {"log": lambda *args, **kwargs: None})()
    trainer, curriculum = Trainer(), Curriculum(max_length=30, growth=5, iou_threshold=0.6)
    curriculum.on_fit_start(trainer, module)
    for iou in (0.4, 0.6):
        outputs = {"loss": torch.tensor(1.0), "iou": torch.tensor(iou)}
        curriculum.on_train_batch_end(trainer, module, outputs, None, 0)
    curriculum.on_train_epoch_end(trainer, module)
    assert curriculum.clip_length == 10 and trainer.datamodule.clip_length == 10


def _fit_on_two_processes(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """``hart train fit TINY… args`` under DDP on two CPU processes (a process of its own:
    Lightning starts the second by running the command again), logs in ``tmp_path/runs``."""
    logs = ["--trainer.logger.init_args.save_dir", str(tmp_path / "runs")]
    ddp = ["--trainer.accelerator=cpu", "--trainer.strategy=ddp", "--trainer.devices=2"]
    command = [sys.executable, "-m", "hart.cli", "train", "fit", *TINY_TRAINING, *logs, *ddp]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [*command, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )


def test_two_process_ddp_on_cpu_completes_a_few_steps_and_validates_on_all_clips(tmp_path):
    # 4 validation clips, 2 a batch: each process validates one batch.
    done = _fit_on_two_processes(tmp_path, "--data.val_clips=4", "--trainer.max_steps=2")
    assert done.returncode == 0, done.stderr[-3000:]
    last = _run_dir(tmp_path) / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=False)
    assert saved["global_step"] == 2
    # The same weights validated by one process, on all 4 clips (version_1).
    assert _train(tmp_path, "--data.val_clips=4", "--ckpt_path", str(last), validate=True) == 0

    def last(version: int, tag: str) -> float:
        events = EventAccumulator(str(_run_dir(tmp_path, version)), size_guidance={"scalars": 0})
        events.Reload()
        return events.Scalars(tag)[-1].value

    # The mean over every scored frame of the 4 clips, however they were batched and shared.
    for tag in ("val/iou", "val/iou_static"):
        assert last(0, tag) == pytest.approx(last(1, tag), abs=1e-5), tag


def test_under_ddp_a_training_epoch_is_logged_over_every_process_clips(tmp_path):
    # Weights that never change (no learning rate, no zoneout or dropout): the first epoch's
    # 4 clips give one train/iou_epoch whether one process trains on them in 2 batches or two
    # processes in one each. It was rank 0's 2 clips alone.
    fixed = ["--model.lr=0", "--model.config.zoneout=0", "--model.config.dropout=0"]
    done = _fit_on_two_processes(tmp_path, *fixed, "--trainer.max_steps=1")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "sync_dist=True" not in done.stderr  # Lightning's warning: an epoch of rank 0's
    assert _train(tmp_path, *fixed, "--trainer.max_steps=2") == 0

    def first_epoch(version: int) -> float:
        events = EventAccumulator(str(_run_dir(tmp_path, version)), size_guidance={"scalars": 0})
        events.Reload()
        return events.Scalars("train/iou_epoch")[0].value

    assert first_epoch(0) == pytest.approx(first_epoch(1), abs=1e-4)


SHARED_TRAINING = REPO.parent / "shared" / "training"


def test_the_real_config_trains_on_two_real_videos_and_logs_to_tensorboard(tmp_path):
    # configs/real.yaml as a user runs it (pretrained trunk, correlation attention, augmented
    # clips from the video + box file layout), on two short real sequences, a few steps.
    if not SHARED_TRAINING.is_dir():
        pytest.skip("../shared/training is not beside this checkout")
    root = tmp_path / "videos"
    root.mkdir()
    for name in ("uav123_wakeboard7", "dtb70_MountainBike6"):
        for suffix in (".mp4", ".txt"):
            (root / f"{name}{suffix}").symlink_to(SHARED_TRAINING / f"{name}{suffix}")
    args = [
        "train",
        "--config", str(REPO / "configs" / "real.yaml"),
        "--data.root", str(root),
        "--data.val_fraction", "0.5",
        "--data.frame_size=[120,200]",
        "--data.batch_size=2",
        "--data.clip_length=3",
        "--data.clips_per_epoch=4",
        "--data.val_clips=2",
        "--data.val_clip_length=4",
        "--data.num_workers=0",
        "--trainer.max_steps=3",
        "--trainer.val_check_interval=3",
        "--trainer.log_every_n_steps=1",
        "--trainer.enable_progress_bar=false",
        "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
    ]  # fmt: skip
    assert main(args) == 0
    run = tmp_path / "runs" / "real" / "version_0"
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss_step", "train/iou_step", "val/iou", "val/iou_static"} <= scalars
    losses = [event.value for event in events.Scalars("train/loss_step")]
    assert len(losses) == 3 and all(map(torch.isfinite, torch.tensor(losses)))
    saved = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert saved["hyper_parameters"]["config"]["trunk"] == "efficientnet_lite0"
    # The frozen pretrained trunk is saved unchanged: its weights and its batch norms'
    # statistics are still ImageNet's (the training steps normalised by them, not by the batch).
    from hart.model.efficientnet import lite0_weights_path

    imagenet = torch.load(lite0_weights_path(), weights_only=True)
    trunk = {
        key.removeprefix("model.features."): value
        for key, value in saved["state_dict"].items()
        if key.startswith("model.features.")
    }
    assert trunk.keys() <= imagenet.keys() and "_bn0.running_var" in trunk
    for key, value in trunk.items():
        assert torch.equal(value, imagenet[key]), key


def test_clips_longer_than_the_curriculum_allows_are_one_line_before_any_work(tmp_path, capsys):
    capsys.readouterr()
    assert _train(tmp_path, "--data.clip_length=32", "--trainer.max_steps=1") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--data.clip_length 32" in err[0], err
    assert "--curriculum.max_length (30)" in err[0], err
    assert not (tmp_path / "runs").exists()  # nothing started, no log folder
    assert (
        _train(
            tmp_path, "--data.clip_length=32", "--curriculum.max_length=32", "--trainer.max_steps=1"
        )
        == 0
    )


@pytest.mark.parametrize(
    "option, message",
    [
        ("--model.config.size_pull=2", "size_pull must be in [0, 1], got 2.0"),
        ("--model.config.glimpse_reader=bilinear", "glimpse reader must be one of"),
        ("--model.lr=-1", "--model.lr must be 0 or more (at most 3.4e38), got -1"),
        ("--model.lr=1e308", "--model.lr must be 0 or more (at most 3.4e38), got 1e+308"),
        ("--model.momentum=-0.5", "--model.momentum must be 0 or more, got -0.5"),
        ("--images.every_n_validations=0", "--images.every_n_validations must be at least 1"),
        ("--images.num_clips=-1", "--images.num_clips must be at least 1, got -1"),
        ("--images.max_frames=0", "--images.max_frames must be at least 1, got 0"),
        (
            "--last_checkpoint.every_n_train_steps=-3",
            "Invalid value for every_n_train_steps=-3. Must be >= 0",
        ),
    ],
)
def test_a_model_setting_its_constructor_refuses_is_one_line_and_exit_2(
    tmp_path, capsys, option, message
):
    capsys.readouterr()
    assert _train(tmp_path, option, "--trainer.max_steps=1") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hart train: error: ") and message in err[0], err
    assert not (tmp_path / "runs").exists()


def test_a_validation_interval_longer_than_an_epoch_is_one_line_and_leaves_no_run(tmp_path, capsys):
    # Lightning refuses it only when fit starts (an epoch's length is the data module's), with
    # a ValueError traceback whose advice names its own settings, not the command's options.
    # 8 clips in batches of 2: 4 batches an epoch.
    args = ["--data.clips_per_epoch=8", "--trainer.val_check_interval=5", "--trainer.max_steps=6"]
    assert _train(tmp_path, *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "hart train: error: --trainer.val_check_interval 5 is more than the 4 training batches "
        "of an epoch (--data.clips_per_epoch / --data.batch_size, per process); give at most 4, "
        "or add --trainer.check_val_every_n_epoch null to count batches across epochs"
    )
    assert "Traceback" not in "\n".join(err)
    assert not _run_dir(tmp_path).exists()
    # The advice holds: counted across epochs, the same interval validates at step 5.
    assert _train(tmp_path, *args, "--trainer.check_val_every_n_epoch=null") == 0
    events = EventAccumulator(str(_run_dir(tmp_path)), size_guidance={"scalars": 0})
    events.Reload()
    assert [event.step for event in events.Scalars("val/iou")] == [4]

"""hart.model.checkpoint: reading and exporting model files, and finding the default model in
the source tree, through $HART_DEFAULT_MODEL, and in a built wheel installed elsewhere."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from hart.errors import InputError
from hart.model.checkpoint import (
    DEFAULT_MODEL_VARIABLE,
    default_model_path,
    export_model,
    load_model,
)

REPOSITORY = Path(__file__).resolve().parents[1]


def test_files_that_are_not_checkpoints_are_input_errors(tmp_path):
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(InputError, match="garbage.ckpt is not a hart checkpoint"):
        load_model(garbage)
    text = tmp_path / "text.ckpt"  # read as an old-style pickle, which torch refuses
    text.write_text("not a checkpoint\n")
    with pytest.raises(
        InputError, match=r"text.ckpt is not a hart checkpoint \(not tensors"
    ) as info:
        load_model(text)
    assert "weights_only" not in str(info.value)  # torch's advice to load it unsafely
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(InputError, match="no model config"):
        load_model(foreign)
    with pytest.raises(InputError, match="does not exist"):
        load_model(tmp_path / "missing.ckpt")
    with pytest.raises(InputError, match="/dev/null is not a regular file"):
        load_model("/dev/null")  # exists, but is a device: "does not exist" misled


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("lstm_size", 48, "wrong.ckpt does not match"),  # the weights do not fit it
        ("size_pull", 2.0, "wrong.ckpt describes a network hart cannot build: size_pull"),
        ("lstm_size", "100", "cannot build: lstm_size is '100', not a whole number$"),
        ("glimpse_size", 112, "cannot build: glimpse_size is 112, not 2 whole numbers$"),
        ("freeze_features", 1, "cannot build: freeze_features is 1, not true or false$"),
        ("lstm_size", -1, "cannot build: lstm_size must be at least 1, got -1$"),
        # Mistyped (or a newer hart's): dropped, the file would track without the option.
        ("scale_stp", 1.05, r"cannot build: it holds settings this hart does not know \(scale_stp"),
    ],
    ids=[
        "weights-do-not-fit",
        "settings-refused",
        "a-string",
        "not-a-pair",
        "not-a-bool",
        "size",
        "unknown-setting",
    ],
)
def test_a_checkpoint_whose_config_is_wrong_is_an_input_error(
    small_checkpoint, tmp_path, key, value, message
):
    data = torch.load(small_checkpoint, weights_only=True)
    data["hyper_parameters"]["config"][key] = value
    wrong = tmp_path / "wrong.ckpt"
    torch.save(data, wrong)
    with pytest.raises(InputError, match=message):
        load_model(wrong)
    with pytest.raises(InputError, match=message):  # nor is it exported as a model to track with
        export_model(wrong, tmp_path / "model.ckpt")
    assert not list(tmp_path.glob("*model*")), "no model, no temporary"


def test_a_model_saved_before_an_option_existed_tracks_as_it_did(tmp_path):
    # A correlation model saved before `peak`, `template_margin` and `velocity` were options has
    # no such keys in its config and the softmax's sharpness among its weights: it loads,
    # locates the target as it did, cuts its template with the cell of margin it had, and
    # centres each glimpse on the box.
    from hart.model.hart import HARTConfig, build_hart

    config = HARTConfig(
        glimpse_size=(32, 32),
        lstm_size=32,
        core_size=64,
        readout_size=32,
        trunk_width=0.5,
        anchor="box",
        appearance="correlation",
        template_size=3,
        distractors=2,
    )
    added = ("peak", "template_margin", "velocity")  # options newer than the file
    saved = {k: v for k, v in config.__dict__.items() if k not in added}
    state = {f"model.{k}": v for k, v in build_hart(config).state_dict().items()}
    assert "model.appearance.sharpness" in state
    path = tmp_path / "old.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": {"config": saved}}, path)
    model = load_model(path)
    assert model.appearance.peak == "softmax"
    assert model.appearance.template_margin == 1.0
    assert model.velocity == 0.0  # the glimpse centred on the box, as then
    assert model.distractors.cut == model.appearance.template  # the lookalikes' margin too


def test_export_keeps_config_and_weights_in_float16(small_checkpoint, tmp_path):
    exported = export_model(small_checkpoint, tmp_path / "model.ckpt")
    source = torch.load(small_checkpoint, weights_only=True)
    written = torch.load(exported, weights_only=True)
    assert set(written) == {"hyper_parameters", "state_dict"}
    assert written["hyper_parameters"]["config"] == source["hyper_parameters"]["config"]
    assert set(written["state_dict"]) == set(source["state_dict"])
    assert {v.dtype for v in written["state_dict"].values() if v.is_floating_point()} == {
        torch.float16
    }
    model = load_model(exported)
    assert all(p.dtype == torch.float32 for p in model.parameters()) and not model.training


def test_what_is_wrong_with_a_file_is_named(small_checkpoint, tmp_path):
    run = tmp_path / "version_0"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(small_checkpoint.read_bytes())
    with pytest.raises(InputError, match=r"version_0 is a folder; .* such as .*last\.ckpt"):
        load_model(run)
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty.ckpt is empty \(0 bytes\)"):
        load_model(empty)
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(small_checkpoint.read_bytes()[:5000])
    with pytest.raises(InputError, match=r"cut.ckpt is not a hart checkpoint, or is cut short"):
        load_model(cut)
    data = torch.load(small_checkpoint, weights_only=True)
    name = next(k for k, v in data["state_dict"].items() if v.is_floating_point())
    data["state_dict"][name].view(-1)[0] = float("nan")
    torch.save(data, tmp_path / "nan.ckpt")
    with pytest.raises(InputError, match=rf"nan.ckpt holds NaN or infinite weights \({name}\)"):
        load_model(tmp_path / "nan.ckpt")


def test_weights_that_do_not_fit_are_named_with_both_shapes(small_checkpoint, tmp_path):
    data = torch.load(small_checkpoint, weights_only=True)
    data["hyper_parameters"]["config"]["lstm_size"] = 48
    torch.save(data, tmp_path / "wrong.ckpt")
    with pytest.raises(InputError) as error:
        load_model(tmp_path / "wrong.ckpt")
    message = str(error.value)
    assert "\n" not in message and "weights of another shape (" in message, message
    assert " in the file, (" in message and ") in the network" in message, message


def test_export_refuses_its_input_and_makes_missing_folders_as_track_does(
    small_checkpoint, tmp_path
):
    training = tmp_path / "last.ckpt"
    training.write_bytes(small_checkpoint.read_bytes())
    before = training.read_bytes()
    with pytest.raises(InputError, match="last.ckpt is the input; choose another output name"):
        export_model(training, training)
    assert training.read_bytes() == before  # its optimiser state and step are still there
    made = tmp_path / "new" / "deeper" / "model.ckpt"
    assert export_model(training, made) == made
    assert load_model(made) is not None
    blocked = tmp_path / "last.ckpt" / "model.ckpt"  # a parent that is a file
    with pytest.raises(InputError, match=f"^cannot write {blocked}: .*last.ckpt is a file, not a"):
        export_model(training, blocked)
    assert training.read_bytes() == before


def test_export_to_a_folder_that_refuses_writing_is_one_clear_error(
    small_checkpoint, unwritable_folder
):
    target = unwritable_folder / "model.ckpt"
    with pytest.raises(InputError, match=f"cannot write {target}"):
        export_model(small_checkpoint, target)


def test_the_default_model_is_package_data(monkeypatch):
    monkeypatch.delenv(DEFAULT_MODEL_VARIABLE, raising=False)
    path = default_model_path()
    assert path == REPOSITORY / "hart" / "model" / "default" / "hart.ckpt"
    assert path.is_file()
    load_model()  # the shipped model loads


def test_the_environment_variable_puts_another_model_in_its_place(
    small_checkpoint, tmp_path, monkeypatch
):
    monkeypatch.setenv(DEFAULT_MODEL_VARIABLE, str(small_checkpoint))
    assert default_model_path() == small_checkpoint
    saved = torch.load(small_checkpoint, weights_only=True)["state_dict"]
    shapes = {key.removeprefix("model."): value.shape for key, value in saved.items()}
    assert {key: value.shape for key, value in load_model().state_dict().items()} == shapes
    monkeypatch.setenv(DEFAULT_MODEL_VARIABLE, str(tmp_path / "gone.ckpt"))
    with pytest.raises(InputError, match=rf"gone\.ckpt \(named by \${DEFAULT_MODEL_VARIABLE}\)"):
        load_model()


@pytest.mark.skipif(
    importlib.util.find_spec("setuptools") is None, reason="building a wheel needs setuptools"
)
def test_a_wheel_installed_outside_the_source_tree_tracks_with_its_default_model(tmp_path):
    # A copy of what the wheel is built from: the build writes build/ and *.egg-info beside it.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPOSITORY / name, source / name)
    shutil.copytree(
        REPOSITORY / "hart", source / "hart", ignore=shutil.ignore_patterns("__pycache__")
    )
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "--wheel-dir",
            str(wheels),
            str(source),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("hart-*.whl")
    installed = tmp_path / "site-packages"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(installed)
    shutil.rmtree(source)  # nothing may come from the source tree
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    frames = elsewhere / "frames"
    frames.mkdir()
    script = f"""
import sys
import cv2
import numpy as np
import hart
from hart.cli import main
from hart.model.checkpoint import default_model_path

assert hart.__file__.startswith({str(installed)!r}), hart.__file__
assert default_model_path().is_relative_to({str(installed)!r}), default_model_path()
frame = np.zeros((96, 128, 3), np.uint8)
for t in range(4):
    frame[30:60, 20 + 5 * t : 50 + 5 * t] = (40, 200, 90)
    cv2.imwrite(f"frames/{{t + 1}}.png", frame)
sys.exit(main(["track", "frames", "--box", "20,30,30,30", "--boxes-out", "boxes.txt",
               "--no-progress"]))
"""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment.pop(DEFAULT_MODEL_VARIABLE, None)
    environment["PYTHONPATH"] = str(installed)
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=elsewhere,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert len((elsewhere / "boxes.txt").read_text().splitlines()) == 4
    assert (elsewhere / "frames_tracked.mp4").is_file()

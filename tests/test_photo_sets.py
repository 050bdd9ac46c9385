"""hart photos: real photos for the synthetic world, taken from a scikit-image wheel on disk
(the test writes a small stand-in wheel; nothing is downloaded)."""

from __future__ import annotations

import zipfile

import cv2
import numpy as np
import pytest

from hart.cli import main
from hart.datasets import PhotoLibrary, SyntheticClips
from hart.datasets.photo_sets import HELD_OUT_PHOTOS, SCIKIT_IMAGE_DATA, TRAINING_PHOTOS


def make_wheel(path, names):
    """A zip laid out like scikit-image's wheel, holding a distinct 40×60 image per name."""
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("skimage/__init__.py", "")
        for name in names:
            image = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
            ok, data = cv2.imencode("." + name.rsplit(".", 1)[1], image)
            assert ok
            archive.writestr(SCIKIT_IMAGE_DATA + name, data.tobytes())
    return path


def test_photos_writes_train_and_held_out_folders_that_training_reads(tmp_path, capsys):
    wheel = make_wheel(tmp_path / "scikit_image-0.26.0-py3-none-any.whl", [
        *TRAINING_PHOTOS, *HELD_OUT_PHOTOS, "text.png"
    ])  # fmt: skip
    out = tmp_path / "photos"
    assert main(["photos", str(out), "--wheel", str(wheel)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "train").iterdir()) == sorted(TRAINING_PHOTOS)
    assert sorted(p.name for p in (out / "held_out").iterdir()) == sorted(HELD_OUT_PHOTOS)
    assert not set(TRAINING_PHOTOS) & set(HELD_OUT_PHOTOS)
    library = PhotoLibrary(out / "train")
    assert len(library.paths) == len(TRAINING_PHOTOS)
    patch = library.crop(np.random.default_rng(1), (20, 30))
    assert patch.shape == (20, 30, 3) and patch.dtype == np.uint8
    clips = SyntheticClips(2, 3, (48, 64), seed=0, photos=out / "held_out")
    assert clips[0]["frames"].shape == (3, 3, 48, 64)


def test_help_does_not_say_the_shipped_model_was_trained_on_these_photos(capsys):
    # The shipped default (configs/real.yaml's network) is untrained; an earlier one used them.
    with pytest.raises(SystemExit):
        main(["photos", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "the default model was trained with" not in help_text
    assert "an earlier default model was trained with" in help_text


@pytest.mark.parametrize("problem", ["missing photo", "not a zip", "no file"])
def test_bad_wheel_is_one_line_and_leaves_nothing(tmp_path, capsys, problem):
    wheel = tmp_path / "scikit_image.whl"
    if problem == "missing photo":
        make_wheel(wheel, TRAINING_PHOTOS)  # no held-out ones
    elif problem == "not a zip":
        wheel.write_text("not a wheel")
    out = tmp_path / "photos"
    assert main(["photos", str(out), "--wheel", str(wheel)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("hart photos: error:") and "\n" not in error
    assert {"missing photo": "coffee.png", "not a zip": "not a wheel", "no file": "not a file"}[
        problem
    ] in error
    assert sorted(p.name for p in tmp_path.iterdir()) == (
        [] if problem == "no file" else ["scikit_image.whl"]
    )


def test_a_damaged_wheel_member_is_one_line_and_leaves_nothing(tmp_path, capsys):
    wheel = make_wheel(tmp_path / "scikit_image.whl", [*TRAINING_PHOTOS, *HELD_OUT_PHOTOS])
    data = bytearray(wheel.read_bytes())
    start = data.index(b"\x89PNG")  # the first image's bytes, stored uncompressed
    data[start + 100 : start + 160] = bytes(60)
    wheel.write_bytes(bytes(data))
    assert main(["photos", str(tmp_path / "photos"), "--wheel", str(wheel)]) == 2
    assert "scikit_image.whl is damaged: Bad CRC-32" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scikit_image.whl"]


@pytest.mark.parametrize("name", [".", "..", "mine"])
def test_a_folder_that_is_not_a_photo_set_is_never_replaced(tmp_path, monkeypatch, capsys, name):
    wheel = make_wheel(tmp_path / "scikit_image.whl", [*TRAINING_PHOTOS, *HELD_OUT_PHOTOS])
    here = tmp_path / "work" / "mine"
    here.mkdir(parents=True)
    (here / "notes.txt").write_text("keep me")
    monkeypatch.chdir(here if name != "mine" else here.parent)
    assert main(["photos", name, "--wheel", str(wheel)]) == 2
    assert "not only a photo set hart wrote" in capsys.readouterr().err
    assert (here / "notes.txt").read_text() == "keep me"

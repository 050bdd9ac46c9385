"""OTB (Object Tracking Benchmark, OTB-2013/2015/100) layout.

::

    OTB/
      Crossing/
        img/0001.jpg 0002.jpg …
        groundtruth_rect.txt        one "x,y,w,h" per frame (comma, tab or spaces)
      Jogging/
        img/…
        groundtruth_rect.1.txt      two targets → sequences "Jogging-1" and "Jogging-2"
        groundtruth_rect.2.txt

A few OTB sequences annotate only part of their frames (OTB's own configuration lists the
range): David starts at frame 300; Diving, Football1, Freeman3 and Freeman4 stop early. Those
are known here; any other row/frame mismatch is an error, unless ``start_frames`` says where the
ground truth starts.
"""

from __future__ import annotations

import re
from pathlib import Path

from hart.datasets.annotations import (
    absent_as_nan,
    box_visibility,
    check_count,
    has_frames,
    list_frames,
    read_boxes,
)
from hart.datasets.sequence import Sequence
from hart.errors import InputError

# First annotated frame (1-based) of OTB sequences whose ground truth does not start at frame 1;
# sequences whose ground truth only stops early need no entry (the first rows frames are used).
OTB_START_FRAMES = {"david": 300}
# Sequences known to have more frames than ground-truth rows, annotated from their first frame.
OTB_TRUNCATED = {"diving", "football1", "freeman3", "freeman4"}

_GROUND_TRUTH = re.compile(r"^groundtruth_rect(?:\.(\d+))?\.txt$")


def _ground_truth_files(folder: Path) -> list[tuple[str | None, Path]]:
    found = []
    for path in folder.iterdir():
        match = _GROUND_TRUTH.match(path.name)
        if match and path.is_file():
            found.append((match.group(1), path))
    return sorted(found, key=lambda item: int(item[0] or 0))


def is_otb_sequence(folder: Path) -> bool:
    folder = Path(folder)
    return folder.is_dir() and has_frames(folder / "img") and bool(_ground_truth_files(folder))


def is_otb(root: Path) -> bool:
    """A single OTB sequence folder, or a folder of them."""
    root = Path(root)
    if is_otb_sequence(root):
        return True
    return root.is_dir() and any(is_otb_sequence(child) for child in root.iterdir())


def read_otb_sequence(folder: Path, start_frames: dict[str, int] | None = None) -> list[Sequence]:
    """One OTB sequence folder → one Sequence per ground-truth file (usually one)."""
    folder = Path(folder)
    frames = list_frames(folder / "img")
    files = _ground_truth_files(folder)
    if not files:
        raise InputError(f"{folder}: no groundtruth_rect.txt in this OTB sequence folder")
    starts = {k.lower(): v for k, v in {**OTB_START_FRAMES, **(start_frames or {})}.items()}
    sequences = []
    for index, path in files:
        name = folder.name if len(files) == 1 or index is None else f"{folder.name}-{index}"
        boxes = read_boxes(path)
        key = folder.name.lower()
        first = starts.get(name.lower(), starts.get(key))
        if first is not None:
            chosen = frames[first - 1 : first - 1 + len(boxes)]
        elif len(boxes) < len(frames) and key in OTB_TRUNCATED:
            chosen = frames[: len(boxes)]
        else:
            chosen = frames
        check_count(path, len(boxes), len(chosen), folder / "img")
        visible = box_visibility(boxes)
        sequences.append(
            Sequence(
                name=name,
                frames=chosen,
                boxes=absent_as_nan(boxes, visible),
                visible=visible,
                attributes={"dataset": "otb", "ground_truth": str(path)},
            )
        )
    return sequences


def read_otb(root: Path, start_frames: dict[str, int] | None = None) -> list[Sequence]:
    """All OTB sequences under ``root`` (a sequence folder or a folder of them), by name.

    ``start_frames`` maps a sequence name to the 1-based frame its ground truth starts at, for
    sequences this module does not know.
    """
    root = Path(root)
    if (root / "img").is_dir() and _ground_truth_files(root):  # a sequence, maybe a broken one
        return read_otb_sequence(root, start_frames)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder")
    folders = sorted((c for c in root.iterdir() if is_otb_sequence(c)), key=lambda p: p.name)
    if not folders:
        raise InputError(f"{root}: no OTB sequence folders (img/ + groundtruth_rect.txt) in it")
    return [seq for folder in folders for seq in read_otb_sequence(folder, start_frames)]


__all__ = ["read_otb", "read_otb_sequence", "is_otb", "OTB_START_FRAMES"]

"""LaSOT layout (the data set's own download, also LaSOT-extension).

::

    LaSOT/
      airplane/                     one folder per class
        airplane-1/
          img/00000001.jpg …
          groundtruth.txt           one "x,y,w,h" per frame
          full_occlusion.txt        0/1 per frame (comma-separated on one line)
          out_of_view.txt           0/1 per frame
          nlp.txt                   optional: a sentence describing the target

``root`` may be the data set, one class folder or one sequence folder. A frame is visible unless
it is fully occluded or out of view.
"""

from __future__ import annotations

import os
from pathlib import Path

from hart.datasets.annotations import (
    absent_as_nan,
    box_visibility,
    check_count,
    read_boxes,
    read_flags,
)
from hart.datasets.sequence import Sequence
from hart.errors import InputError
from hart.media.frames import has_frames, list_frames


def is_lasot_sequence(folder: Path) -> bool:
    folder = Path(folder)
    return (
        (folder / "groundtruth.txt").is_file()
        and ((folder / "full_occlusion.txt").is_file() or (folder / "out_of_view.txt").is_file())
        and has_frames(folder / "img")
    )


def _sequence_folders(root: Path) -> list[Path]:
    if (root / "groundtruth.txt").is_file() and (root / "img").is_dir():
        return [root]
    found = []
    for child in sorted(_subfolders(root)):
        if is_lasot_sequence(child):
            found.append(child)
        else:
            found.extend(sorted(g for g in _subfolders(child) if is_lasot_sequence(g)))
    return found


def _subfolders(folder: Path) -> list[Path]:
    # scandir's entries know whether they are folders without a stat per file: a sequence
    # folder of thousands of frames is skipped cheaply.
    with os.scandir(folder) as entries:
        return [Path(entry.path) for entry in entries if entry.is_dir()]


def is_lasot(root: Path) -> bool:
    root = Path(root)
    if is_lasot_sequence(root):
        return True
    if not root.is_dir():
        return False
    for child in _subfolders(root):
        if is_lasot_sequence(child) or any(is_lasot_sequence(g) for g in _subfolders(child)):
            return True
    return False


def read_lasot_sequence(folder: Path) -> Sequence:
    folder = Path(folder)
    frames = list_frames(folder / "img")
    path = folder / "groundtruth.txt"
    boxes = read_boxes(path)
    check_count(path, len(boxes), len(frames), folder / "img")
    visible = box_visibility(boxes)
    for flag_name in ("full_occlusion.txt", "out_of_view.txt"):
        flag_path = folder / flag_name
        if flag_path.is_file():
            flags = read_flags(flag_path)
            check_count(flag_path, len(flags), len(frames), folder / "img", what="flags")
            visible &= flags == 0
    attributes = {
        "dataset": "lasot",
        "ground_truth": str(path),
        "class": folder.name.rsplit("-", 1)[0],
    }
    if (folder / "nlp.txt").is_file():
        attributes["description"] = (folder / "nlp.txt").read_text(errors="replace").strip()
    return Sequence(folder.name, frames, absent_as_nan(boxes, visible), visible, attributes)


def read_lasot(root: Path) -> list[Sequence]:
    """Every LaSOT sequence under ``root`` (data set, class folder or sequence folder), by name."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder")
    folders = _sequence_folders(root)
    if not folders:
        raise InputError(
            f"{root}: no LaSOT sequence folders (img/ + groundtruth.txt + full_occlusion.txt)"
        )
    return [read_lasot_sequence(folder) for folder in folders]

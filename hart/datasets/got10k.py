"""GOT-10k layout (the data set's own download).

::

    GOT-10k/
      train/ val/ test/             splits (any subset of them)
        list.txt                    sequence folder names, one per line
        GOT-10k_Val_000001/
          00000001.jpg …
          groundtruth.txt           one "x,y,w,h" per frame (test split: first frame only)
          absence.label             one 0/1 per frame: 1 = target absent
          cover.label               one 0–8 per frame: visible fraction in eighths (0 = covered)
          meta_info.ini             optional: object class, motion … → attributes["meta"]

``root`` may be the data set, one split or one sequence folder. A frame counts as visible when
``absence`` is 0 and ``cover`` is above 0. The test split's ground truth has only the first
frame: its other frames get NaN boxes and ``visible`` False, and
``attributes["first_frame_only"]`` is True.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hart.datasets.annotations import (
    absent_as_nan,
    box_visibility,
    check_count,
    read_boxes,
    read_flags,
    read_lines,
)
from hart.datasets.sequence import Sequence
from hart.errors import InputError
from hart.media.frames import has_frames, list_frames

SPLITS = ("train", "val", "test")


def is_got10k_sequence(folder: Path) -> bool:
    folder = Path(folder)
    return (
        (folder / "groundtruth.txt").is_file()
        and ((folder / "absence.label").is_file() or (folder / "meta_info.ini").is_file())
        and has_frames(folder)
    )


def _is_split(folder: Path) -> bool:
    """A split folder: a ``list.txt`` whose first entry is a GOT-10k sequence folder (a VOT
    folder has a ``list.txt`` too), or an empty ``list.txt`` beside GOT-10k sequence folders
    (a broken split, which :func:`read_got10k` reports as such rather than as no VOT folder)."""
    listing = folder / "list.txt"
    if not listing.is_file():
        return False
    names = [text for _, text in read_lines(listing)]
    if names:
        return is_got10k_sequence(folder / names[0])
    return any(is_got10k_sequence(child) for child in folder.iterdir())


def _split_folders(root: Path) -> list[Path]:
    if _is_split(root):
        return [root]
    return [root / split for split in SPLITS if _is_split(root / split)]


def is_got10k(root: Path) -> bool:
    root = Path(root)
    return is_got10k_sequence(root) or (root.is_dir() and bool(_split_folders(root)))


def _meta(path: Path) -> dict[str, str]:
    meta = {}
    if path.is_file():
        for _, text in read_lines(path):
            key, sep, value = text.partition(":")
            if sep and not text.startswith("["):
                meta[key.strip()] = value.strip()
    return meta


def _flags(path: Path, count: int, frames_folder: Path) -> np.ndarray | None:
    if not path.is_file():
        return None
    flags = read_flags(path)
    check_count(path, len(flags), count, frames_folder)
    return flags


def read_got10k_sequence(folder: Path) -> Sequence:
    folder = Path(folder)
    frames = list_frames(folder)
    path = folder / "groundtruth.txt"
    boxes = read_boxes(path)
    first_frame_only = len(boxes) == 1 and len(frames) > 1
    if first_frame_only:
        boxes = np.concatenate([boxes, np.full((len(frames) - 1, 4), np.nan, np.float32)])
    check_count(path, len(boxes), len(frames), folder)
    visible = box_visibility(boxes)
    absence = _flags(folder / "absence.label", len(frames), folder)
    cover = _flags(folder / "cover.label", len(frames), folder)
    if absence is not None:
        visible &= absence == 0
    if cover is not None:
        visible &= cover > 0
    attributes = {
        "dataset": "got10k",
        "ground_truth": str(path),
        "meta": _meta(folder / "meta_info.ini"),
    }
    if cover is not None:
        attributes["cover"] = cover
    if first_frame_only:
        attributes["first_frame_only"] = True
    return Sequence(folder.name, frames, absent_as_nan(boxes, visible), visible, attributes)


def read_got10k(root: Path) -> list[Sequence]:
    """Every sequence under ``root``: the data set (its splits' ``list.txt``), one split or one
    sequence folder."""
    root = Path(root)
    if (root / "groundtruth.txt").is_file():  # a sequence, maybe a broken one
        return [read_got10k_sequence(root)]
    splits = _split_folders(root) if root.is_dir() else []
    if not splits:
        raise InputError(
            f"{root}: not a GOT-10k folder (needs list.txt, or train|val|test/list.txt)"
        )
    sequences = []
    for split in splits:
        listing = split / "list.txt"
        entries = read_lines(listing)
        if not entries:
            raise InputError(
                f"{listing}: the GOT-10k list is empty; it names the split's sequence folders, "
                "one per line"
            )
        for number, name in entries:
            if not (split / name).is_dir():
                raise InputError(
                    f"{listing}:{number}: names {name!r}, but {split / name} is missing"
                )
            sequences.append(read_got10k_sequence(split / name))
    return sequences

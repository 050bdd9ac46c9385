"""VOT (Visual Object Tracking challenge) layout.

::

    VOT/
      list.txt                      optional: sequence names, one per line
      bag/
        groundtruth.txt             per frame: 8 numbers (corners x1,y1,…,x4,y4 of a rotated box;
                                    any polygon of 3 or more points reads), 4 numbers "x,y,w,h",
                                    "m…" (VOT2020+ mask), or NaN or 0 alone (absent)
        00000001.jpg …              frames in the sequence folder (VOT ≤ 2016) …
        color/00000001.jpg …        … or in color/ (VOT ≥ 2017), or img/ or imgs/ (re-hosted)
        occlusion.tag …             optional per-frame 0/1 tags → attributes["tags"]

Rotated boxes (and masks) become axis-aligned: the min/max of the corners (mask pixels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hart.datasets.annotations import (
    absent_as_nan,
    box_visibility,
    check_box_sizes,
    check_count,
    check_nan_rows,
    parse_numbers,
    read_flags,
    read_lines,
)
from hart.datasets.sequence import Sequence
from hart.errors import InputError
from hart.media.frames import first_with_frames, has_frames, list_frames

# Where a sequence's frames are: color/ (VOT ≥ 2017), the sequence folder itself (VOT ≤ 2016),
# or img/ or imgs/, where re-hosted copies often put them (Staple's ball1 is in imgs/).
_FRAME_FOLDERS = ("color", ".", "img", "imgs")


def _frame_folder(folder: Path) -> Path:
    """The first of :data:`_FRAME_FOLDERS` in ``folder`` that holds frames (else ``folder``)."""
    # pathlib drops the ".": the sequence folder itself.
    return first_with_frames(folder / name for name in _FRAME_FOLDERS) or folder


def is_vot_sequence(folder: Path) -> bool:
    folder = Path(folder)
    return (folder / "groundtruth.txt").is_file() and has_frames(_frame_folder(folder))


def is_vot(root: Path) -> bool:
    root = Path(root)
    if is_vot_sequence(root):
        return True
    return root.is_dir() and any(is_vot_sequence(child) for child in root.iterdir())


def polygon_to_xywh(points: np.ndarray) -> np.ndarray:
    """``(..., 2K)`` polygon corners ``x1, y1, x2, y2, …`` → ``(..., 4)`` axis-aligned
    ``x, y, w, h`` spanning the min/max of the corners."""
    points = np.asarray(points, dtype=np.float64)
    xs, ys = points[..., 0::2], points[..., 1::2]
    x1, y1 = xs.min(axis=-1), ys.min(axis=-1)
    return np.stack([x1, y1, xs.max(axis=-1) - x1, ys.max(axis=-1) - y1], axis=-1)


def mask_to_xywh(encoding: str, path: Path, line: int) -> np.ndarray:
    """A VOT mask line ``m x0,y0,w,h,run0,run1,…`` → the tight ``x, y, w, h`` of its pixels.

    The runs alternate background/foreground over the ``w × h`` region in row-major order,
    starting with background. An empty mask is an absent target (NaN row).
    """
    values = parse_numbers(encoding[1:], path, line)
    if len(values) < 4 or any(v != int(v) or v < 0 for v in values):
        raise InputError(f"{path}:{line}: malformed VOT mask {encoding[:40]!r}…")
    x0, y0, width, height = (int(v) for v in values[:4])
    runs = np.asarray(values[4:], dtype=np.int64)
    ends = np.cumsum(runs)
    if ends.size and ends[-1] > width * height:
        raise InputError(
            f"{path}:{line}: VOT mask runs cover more than its {width}×{height} region"
        )
    flat = np.zeros(width * height, dtype=np.int8)
    starts = ends - runs
    # Odd runs are foreground: mark +1 at their start and -1 at their end, then integrate.
    np.add.at(flat, starts[1::2][runs[1::2] > 0], 1)
    stops = ends[1::2][runs[1::2] > 0]
    np.add.at(flat, stops[stops < width * height], -1)
    mask = np.cumsum(flat).reshape(height, width) > 0  # (height, width)
    if not mask.any():
        return np.full(4, np.nan)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return np.array(
        [x0 + cols[0], y0 + rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1], dtype=float
    )


def read_vot_boxes(path: Path) -> np.ndarray:
    """A VOT ``groundtruth.txt`` → ``(N, 4)`` axis-aligned ``x, y, w, h`` (NaN where absent).

    A row of another form, one NaN in some values but not all, or an ``x,y,w,h`` row with a
    negative width or height is an error naming its line.
    """
    boxes = []
    for number, text in read_lines(path):
        if text[0] in "mM":
            boxes.append(mask_to_xywh(text, path, number))
            continue
        values = parse_numbers(text, path, number)
        check_nan_rows([values], [number], path)
        if len(values) == 4:  # "x,y,w,h"
            # A negative size is a broken row, not an absent target (as in every box reader).
            check_box_sizes(np.asarray([values]), [number], path)
            boxes.append(values)
        elif len(values) == 1 and (values[0] == 0 or np.isnan(values[0])):  # absent
            boxes.append([np.nan] * 4)
        elif len(values) >= 6 and len(values) % 2 == 0:
            # A polygon of 3 points or more, as the VOT toolkit reads it; 4 (8 numbers) in the
            # challenge's files.
            boxes.append(polygon_to_xywh(np.asarray(values)))
        else:
            raise InputError(
                f"{path}:{number}: expected 4 numbers (x,y,w,h), an even count of 6 or more "
                "(polygon corners x1,y1,x2,y2,…; 8 for a rotated box), 0 or NaN alone (absent) "
                f"or a mask (m…), got {len(values)}: {text[:60]!r}"
            )
    if not boxes:
        raise InputError(f"{path}: the file is empty")
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4)


def _tags(folder: Path, count: int) -> dict[str, np.ndarray]:
    tags = {}
    for path in sorted(folder.glob("*.tag")):
        flags = read_flags(path) if path.stat().st_size else np.zeros(0, dtype=np.int64)
        # VOT writes tag files only up to the last tagged frame; pad with "not tagged".
        if len(flags) > count:
            raise InputError(f"{path}: {len(flags)} rows but only {count} frames")
        tags[path.stem] = np.pad(flags, (0, count - len(flags))).astype(bool)
    return tags


def read_vot_sequence(folder: Path) -> Sequence:
    folder = Path(folder)
    frame_folder = _frame_folder(folder)
    frames = list_frames(frame_folder)
    path = folder / "groundtruth.txt"
    boxes = read_vot_boxes(path)
    check_count(path, len(boxes), len(frames), frame_folder)
    visible = box_visibility(boxes)
    return Sequence(
        name=folder.name,
        frames=frames,
        boxes=absent_as_nan(boxes, visible),
        visible=visible,
        attributes={
            "dataset": "vot",
            "ground_truth": str(path),
            "tags": _tags(folder, len(frames)),
        },
    )


def read_vot(root: Path) -> list[Sequence]:
    """All VOT sequences under ``root`` (a sequence folder or a folder of them).

    With a ``list.txt`` the sequences are those it names, in its order (an empty one is an
    error); otherwise every sub-folder with a ``groundtruth.txt``, by name.
    """
    root = Path(root)
    if (root / "groundtruth.txt").is_file():  # a sequence, maybe a broken one
        return [read_vot_sequence(root)]
    if not root.is_dir():
        raise InputError(f"{root}: no such folder")
    listing = root / "list.txt"
    if listing.is_file():
        names = [text for _, text in read_lines(listing)]
        if not names:  # said so, rather than "no VOT sequence folders" beside them
            raise InputError(
                f"{listing}: the VOT list is empty; it names the sequence folders, one per line"
            )
        for name in names:
            if not (root / name / "groundtruth.txt").is_file():
                raise InputError(
                    f"{listing}: names {name!r}, but {root / name}/groundtruth.txt is missing"
                )
        folders = [root / name for name in names]
    else:
        folders = sorted((c for c in root.iterdir() if is_vot_sequence(c)), key=lambda p: p.name)
    if not folders:
        raise InputError(f"{root}: no VOT sequence folders (groundtruth.txt + frames) in it")
    return [read_vot_sequence(folder) for folder in folders]

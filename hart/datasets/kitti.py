"""KITTI object-tracking layout (the "left color images" + "training labels" downloads).

::

    KITTI/tracking/
      training/                     (or these two folders directly under the root)
        image_02/0000/000000.png …  frames of video 0000
        label_02/0000.txt           one line per object per frame:
            frame track_id type truncated occluded alpha left top right bottom h w l x y z ry

Every object track becomes one Sequence named ``<video>_<track id>`` (KITTI's multi-object
videos → single-object sequences, as HART trains on them). ``DontCare`` regions are skipped.
KITTI grades each box: ``truncated`` 0 (in the image) … 2 (mostly out of it) and ``occluded``
0 (fully visible), 1 (partly), 2 (largely), 3 (unknown). The filters drop boxes above a
level; HART's KITTI training used ``max_truncation=1, max_occlusion=1`` (:data:`PAPER_FILTERS`),
and split a track where it disappears and later reappears (``split_on_gaps``), skipping
one-frame pieces. The paper also split every video in time, first 80 % for training (see
:func:`hart.datasets.splits.split_in_time`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from hart.datasets.annotations import read_lines
from hart.datasets.sequence import Sequence
from hart.errors import InputError
from hart.media.frames import image_files, natural_sort_key

PAPER_FILTERS = {"max_truncation": 1, "max_occlusion": 1}
CLASSES = ("Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Cyclist", "Tram", "Misc")


def _layout_root(root: Path) -> Path | None:
    root = Path(root)
    for candidate in (root, root / "training"):
        if (candidate / "label_02").is_dir() and (candidate / "image_02").is_dir():
            return candidate
    return None


def is_kitti(root: Path) -> bool:
    return _layout_root(root) is not None


def _frames_by_number(folder: Path) -> dict[int, Path]:
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder of frames")
    frames = {}
    for path in image_files(folder):
        if path.stem.isdigit():
            frames[int(path.stem)] = path
    if not frames:
        raise InputError(f"{folder}: no numbered image files (000000.png …) in this folder")
    return frames


def _parse_labels(path: Path):
    """Rows of a label file: ``(line, frame, track, type, truncated, occluded, xywh)``."""
    rows = []
    for number, text in read_lines(path):
        fields = text.split()
        if len(fields) not in (17, 18):
            raise InputError(
                f"{path}:{number}: expected 17 fields (frame track_id type truncated occluded "
                f"alpha left top right bottom h w l x y z ry), got {len(fields)}"
            )
        try:
            frame, track = int(fields[0]), int(fields[1])
            truncated, occluded = float(fields[3]), int(float(fields[4]))
            left, top, right, bottom = (float(v) for v in fields[6:10])
        except ValueError:
            raise InputError(f"{path}:{number}: malformed KITTI label line {text[:60]!r}") from None
        box = (left, top, right - left, bottom - top)
        rows.append((number, frame, track, fields[2], truncated, occluded, box))
    return rows


def _runs(frame_numbers: np.ndarray) -> list[np.ndarray]:
    """Split sorted frame numbers where they jump: [3,4,5,9,10] → [[3,4,5],[9,10]]."""
    breaks = np.flatnonzero(np.diff(frame_numbers) > 1) + 1
    return np.split(frame_numbers, breaks)


def read_kitti(
    root: Path,
    max_truncation: float | None = None,
    max_occlusion: int | None = None,
    classes: Iterable[str] | None = None,
    split_on_gaps: bool = True,
    min_length: int = 2,
    videos: Iterable[str] | None = None,
) -> list[Sequence]:
    """One Sequence per object track of every video under a KITTI tracking root.

    Boxes whose ``truncated`` exceeds ``max_truncation`` or whose ``occluded`` exceeds
    ``max_occlusion`` count as absent (None keeps all). ``classes`` keeps those object types
    (None: all but DontCare). With ``split_on_gaps`` a track that vanishes and comes back is cut
    into one sequence per visible run (names ``0000_3``, ``0000_3.1``, …); without it the gap
    frames stay in, absent. Pieces shorter than ``min_length`` frames are dropped. ``videos``
    limits the reading to those video numbers (e.g. ``["0000", "0001"]``).
    """
    base = _layout_root(root)
    if base is None:
        raise InputError(f"{root}: not a KITTI tracking folder (needs image_02/ and label_02/)")
    wanted = set(classes) if classes is not None else None
    label_files = sorted((base / "label_02").glob("*.txt"), key=natural_sort_key)
    if videos is not None:
        names = set(videos)
        label_files = [p for p in label_files if p.stem in names]
    if not label_files:
        raise InputError(f"{base / 'label_02'}: no label files (0000.txt …) in it")
    sequences = []
    for label_path in label_files:
        frames = _frames_by_number(base / "image_02" / label_path.stem)
        tracks = defaultdict(list)
        for number, frame, track, kind, truncated, occluded, box in _parse_labels(label_path):
            if frame not in frames:
                raise InputError(
                    f"{label_path}:{number}: frame {frame} has no image in "
                    f"{base / 'image_02' / label_path.stem}"
                )
            if kind == "DontCare" or track < 0 or (wanted is not None and kind not in wanted):
                continue
            if max_truncation is not None and truncated > max_truncation:
                continue
            if max_occlusion is not None and occluded > max_occlusion:
                continue
            tracks[track].append((frame, kind, truncated, occluded, box))
        for track in sorted(tracks):
            sequences.extend(
                _track_sequences(
                    label_path.stem, track, tracks[track], frames, split_on_gaps, min_length
                )
            )
    return sequences


def _track_sequences(video, track, rows, frames, split_on_gaps, min_length) -> list[Sequence]:
    by_frame = {row[0]: row for row in sorted(rows)}
    numbers = np.array(sorted(by_frame))
    pieces = _runs(numbers) if split_on_gaps else [np.arange(numbers[0], numbers[-1] + 1)]
    sequences = []
    for piece in pieces:
        if len(piece) < min_length:
            continue
        index = len(sequences)
        span = np.arange(piece[0], piece[-1] + 1)
        missing = [int(n) for n in span if n not in frames]
        if missing:
            raise InputError(
                f"track {track} of video {video} spans frame {missing[0]}, which has no image"
            )
        boxes = np.full((len(span), 4), np.nan, np.float32)
        truncated = np.full(len(span), np.nan, np.float32)
        occluded = np.full(len(span), -1, np.int64)
        visible = np.zeros(len(span), bool)
        for i, number in enumerate(span):
            if number in by_frame:
                _, kind, truncated[i], occluded[i], box = by_frame[number]
                boxes[i], visible[i] = box, True
        name = f"{video}_{track}" + (f".{index}" if index else "")
        sequences.append(
            Sequence(
                name=name,
                frames=[frames[n] for n in span],
                boxes=boxes,
                visible=visible,
                attributes={
                    "dataset": "kitti",
                    "video": video,
                    "track_id": track,
                    "class": by_frame[piece[0]][1],
                    "first_frame": int(span[0]),
                    "truncated": truncated,
                    "occluded": occluded,
                },
            )
        )
    return sequences

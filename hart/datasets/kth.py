"""KTH human actions with per-frame person boxes (the data HART and RATM tracked people on).

KTH itself ships videos only; the boxes come from your annotation source. Expected layout::

    KTH/
      walking/person01_walking_d1_uncomp.avi …    the download's action folders (or all videos
      running/…                                   in one folder)
      boxes/person01_walking_d1.txt …             one box file per annotated video (also found
                                                  beside the video, with or without "_uncomp")
      00sequences.txt                             optional, ships with KTH: splits each video
                                                  into its sub-sequences, e.g.
                                                  "person01_walking_d1  frames 1-75, 152-225, …"

A box file has one line per video frame, ``x,y,w,h`` (NaN,NaN,NaN,NaN where the person is not
in view), or ``frame,x,y,w,h`` lines with 1-based frame numbers (unlisted frames are absent).
Videos without a box file are skipped. Without ``00sequences.txt`` each video is one Sequence
(``person01_walking_d1``); with it, one per listed range (``person01_walking_d1-1`` …).
"""

from __future__ import annotations

import re
from pathlib import Path

from hart.datasets.annotations import absent_as_nan, box_visibility, read_lines
from hart.datasets.sequence import Sequence
from hart.datasets.video import box_file_for, extract_frames, read_box_file
from hart.errors import InputError
from hart.media.frames import is_video_file

_KTH_NAME = re.compile(r"^(person\d+)_([a-z]+)_(d\d)(?:_uncomp)?$", re.IGNORECASE)
_RANGE = re.compile(r"(\d+)\s*-\s*(\d+)")


def _kth_videos(root: Path) -> list[Path]:
    found = []
    for folder in (root, *(p for p in sorted(root.iterdir()) if p.is_dir())):
        found.extend(p for p in folder.iterdir() if is_video_file(p) and _KTH_NAME.match(p.stem))
    return sorted(found, key=lambda p: p.name)


def is_kth(root: Path) -> bool:
    root = Path(root)
    return root.is_dir() and bool(_kth_videos(root))


def _kth_box_file(video: Path, root: Path) -> Path | None:
    base = _KTH_NAME.match(video.stem)
    short = f"{base.group(1)}_{base.group(2)}_{base.group(3)}"
    for stem in (video.stem, short):
        probe = video.with_name(f"{stem}{video.suffix}")
        found = box_file_for(probe)
        if found is not None:
            return found
        for folder in (root / "boxes", root / "annotations"):
            if (folder / f"{stem}.txt").is_file():
                return folder / f"{stem}.txt"
    return None


def read_kth_ranges(path: Path) -> dict[str, list[tuple[int, int]]]:
    """KTH's ``00sequences.txt`` → ``{video name: [(first, last), …]}``, 1-based inclusive."""
    ranges = {}
    for _, text in read_lines(path):
        name = text.split()[0]
        if _KTH_NAME.match(name):
            ranges[name.lower()] = [(int(a), int(b)) for a, b in _RANGE.findall(text)]
    return ranges


def read_kth(root: Path, cache_dir: Path | None = None) -> list[Sequence]:
    """Every annotated KTH video under ``root`` → Sequences (split by ``00sequences.txt``)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder")
    listing = next(iter(sorted(root.rglob("00sequences.txt"))), None)
    ranges = read_kth_ranges(listing) if listing is not None else {}
    sequences = []
    for video in _kth_videos(root):
        box_file = _kth_box_file(video, root)
        if box_file is None:
            continue
        person, action, scenario = _KTH_NAME.match(video.stem).groups()
        name = f"{person}_{action}_{scenario}"
        frames = extract_frames(video, cache_dir)
        boxes = read_box_file(box_file, len(frames))
        if len(boxes) != len(frames):
            raise InputError(f"{box_file}: {len(boxes)} rows but {video} has {len(frames)} frames")
        visible = box_visibility(boxes)
        boxes = absent_as_nan(boxes, visible)
        attributes = {
            "dataset": "kth",
            "person": person,
            "action": action,
            "scenario": scenario,
            "video": str(video),
            "ground_truth": str(box_file),
        }
        spans = ranges.get(name.lower(), [])
        if not spans:
            sequences.append(Sequence(name, frames, boxes, visible, attributes))
        for index, (first, last) in enumerate(spans, 1):
            last = min(last, len(frames))
            if first > last:
                raise InputError(
                    f"{listing}: range {first}-{last} of {name} is past its last frame"
                )
            part = slice(first - 1, last)
            sequences.append(
                Sequence(
                    f"{name}-{index}",
                    frames[part],
                    boxes[part],
                    visible[part],
                    dict(attributes, first_frame=first),
                )
            )
    if not sequences:
        raise InputError(
            f"{root}: KTH videos found but none has a box file (boxes/<person>_<action>_<dN>.txt)"
        )
    return sequences

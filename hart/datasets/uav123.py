"""UAV123 / UAV20L / UAV123_10fps layout (the data set's own download).

::

    UAV123/
      anno/UAV123/bike1.txt         one "x,y,w,h" per frame; "NaN,NaN,NaN,NaN" = target absent
      anno/UAV123/bird1_1.txt       sub-sequence: frames of data_seq/UAV123/bird1/, a range of them
      anno/UAV20L/…                 (optional) long-term annotations over the same frames
      data_seq/UAV123/bike1/000001.jpg …
      configSeqs.m                  (optional, ships with the data) frame ranges of sub-sequences

A flat ``anno/<seq>.txt`` + ``data_seq/<seq>/`` tree works too, and so does the 10 fps release
(``UAV123_10fps/anno/UAV123_10fps/…``, frames renumbered from 1). Sub-sequences (``bird1_2``: a
range of ``bird1``'s frames) take their range from ``configSeqs.m`` when it is found under the
root, else from the tables below: the 10 fps one when the path says ``UAV123_10fps``, otherwise
whichever of the two the annotation's row count and the frame numbers present fit (30 fps
first). UAV20L's long sequences cover the first frames of their folders. Frames are chosen by
the numbers in their names (a folder holding only a sub-sequence's frames reads too).
"""

from __future__ import annotations

import re
from pathlib import Path

from hart.datasets.annotations import (
    absent_as_nan,
    box_visibility,
    check_count,
    read_boxes,
    select_frames,
)
from hart.datasets.sequence import Sequence
from hart.errors import InputError
from hart.media.frames import frame_number, has_frames, list_frames

# 1-based inclusive frame ranges of the sub-sequences, from the data set's configSeqs.m: the
# 30 fps release (UAV123) and the 10 fps one (UAV123_10fps, every third frame, renumbered from
# 1). Whole sequences (the other 91) use all the frames of their folder.
UAV123_SUBSEQUENCES: dict[str, tuple[int, int]] = {
    "bird1_1": (1, 253), "bird1_2": (775, 1477), "bird1_3": (1573, 2437),
    "car1_1": (1, 751), "car1_2": (751, 1627), "car1_3": (1627, 2629),
    "car6_1": (1, 487), "car6_2": (487, 1807), "car6_3": (1807, 2953),
    "car6_4": (2953, 3925), "car6_5": (3925, 4861),
    "car8_1": (1, 1357), "car8_2": (1357, 2575),
    "car16_1": (1, 415), "car16_2": (415, 1993),
    "group1_1": (1, 1333), "group1_2": (1333, 2515), "group1_3": (2515, 3925),
    "group1_4": (3925, 4873),
    "group2_1": (1, 907), "group2_2": (907, 1771), "group2_3": (1771, 2683),
    "group3_1": (1, 1567), "group3_2": (1567, 2827), "group3_3": (2827, 4369),
    "group3_4": (4369, 5527),
    "person2_1": (1, 1189), "person2_2": (1189, 2623),
    "person4_1": (1, 1501), "person4_2": (1501, 2743),
    "person5_1": (1, 877), "person5_2": (877, 2101),
    "person7_1": (1, 1249), "person7_2": (1249, 2065),
    "person8_1": (1, 1075), "person8_2": (1075, 1525),
    "person12_1": (1, 601), "person12_2": (601, 1621),
    "person14_1": (1, 847), "person14_2": (847, 1813), "person14_3": (1813, 2923),
    "person17_1": (1, 1501), "person17_2": (1501, 2347),
    "person19_1": (1, 1243), "person19_2": (1243, 2791), "person19_3": (2791, 4357),
    "truck4_1": (1, 577), "truck4_2": (577, 1261),
    "uav1_1": (1, 1555), "uav1_2": (1555, 2377), "uav1_3": (2473, 3469),
}  # fmt: skip
UAV123_10FPS_SUBSEQUENCES: dict[str, tuple[int, int]] = {
    "bird1_1": (1, 85), "bird1_2": (259, 493), "bird1_3": (525, 813),
    "car1_1": (1, 251), "car1_2": (251, 543), "car1_3": (543, 877),
    "car6_1": (1, 163), "car6_2": (163, 603), "car6_3": (603, 985),
    "car6_4": (985, 1309), "car6_5": (1309, 1621),
    "car8_1": (1, 453), "car8_2": (453, 859),
    "car16_1": (1, 139), "car16_2": (139, 665),
    "group1_1": (1, 445), "group1_2": (445, 839), "group1_3": (839, 1309),
    "group1_4": (1309, 1625),
    "group2_1": (1, 303), "group2_2": (303, 591), "group2_3": (591, 895),
    "group3_1": (1, 523), "group3_2": (523, 943), "group3_3": (943, 1457),
    "group3_4": (1457, 1843),
    "person2_1": (1, 397), "person2_2": (397, 875),
    "person4_1": (1, 501), "person4_2": (501, 915),
    "person5_1": (1, 293), "person5_2": (293, 701),
    "person7_1": (1, 417), "person7_2": (417, 689),
    "person8_1": (1, 359), "person8_2": (359, 509),
    "person12_1": (1, 201), "person12_2": (201, 541),
    "person14_1": (1, 283), "person14_2": (283, 605), "person14_3": (605, 975),
    "person17_1": (1, 501), "person17_2": (501, 783),
    "person19_1": (1, 415), "person19_2": (415, 931), "person19_3": (931, 1453),
    "truck4_1": (1, 193), "truck4_2": (193, 421),
    "uav1_1": (1, 519), "uav1_2": (519, 793), "uav1_3": (825, 1157),
}  # fmt: skip
# UAV20L: 20 long sequences annotated over frames 1…last of the 30 fps frame folders (some of
# which hold more frames than that).
UAV20L_LAST_FRAMES: dict[str, int] = {
    "bike1": 3085, "bird1": 2437, "car1": 2629, "car3": 1717, "car6": 4861, "car8": 2575,
    "car9": 1879, "car16": 1993, "group1": 4873, "group2": 2683, "group3": 5527,
    "person2": 2623, "person4": 2743, "person5": 2101, "person7": 2065, "person14": 2923,
    "person17": 2347, "person19": 4357, "person20": 1783, "uav1": 3469,
}  # fmt: skip

_CONFIG_ENTRY = re.compile(
    r"'name'\s*,\s*'([^']+)'\s*,\s*'path'\s*,\s*'([^']*)'\s*,\s*"
    r"'startFrame'\s*,\s*(\d+)\s*,\s*'endFrame'\s*,\s*(\d+)"
)
_SUBSEQUENCE = re.compile(r"^(.+)_(\d+)$")


def _layout_root(root: Path) -> Path | None:
    """The folder holding ``anno/`` and ``data_seq/``: ``root`` or one of its children."""
    root = Path(root)
    if (root / "anno").is_dir() and (root / "data_seq").is_dir():
        return root
    if root.is_dir():
        for child in sorted(root.iterdir()):
            if (child / "anno").is_dir() and (child / "data_seq").is_dir():
                return child
    return None


def is_uav123(root: Path) -> bool:
    return _layout_root(root) is not None


def read_config_ranges(path: Path) -> dict[str, tuple[str, int, int]]:
    """UAV123's ``configSeqs.m`` → ``{name: (frame folder name, first, last)}`` (1-based)."""
    ranges = {}
    for name, folder, first, last in _CONFIG_ENTRY.findall(path.read_text(errors="replace")):
        folder_name = (
            [p for p in re.split(r"[\\/]", folder) if p][-1] if folder.strip("\\/") else name
        )
        ranges[name] = (folder_name, int(first), int(last))
    return ranges


def _annotation_groups(anno: Path) -> list[tuple[str, list[Path]]]:
    """``(version, annotation files)``: the flat files of ``anno/`` and each version folder's."""
    groups = []
    flat = sorted(anno.glob("*.txt"))
    if flat:
        groups.append(("", flat))
    for folder in sorted(p for p in anno.iterdir() if p.is_dir() and p.name.lower() != "att"):
        files = sorted(folder.glob("*.txt"))
        if files:
            groups.append((folder.name, files))
    return groups


def _frame_root(data_seq: Path, version: str) -> Path:
    """Where a version's frame folders are; UAV20L annotates the frames under data_seq/UAV123/."""
    for candidate in [data_seq / version, data_seq / "UAV123"] if version else []:
        if candidate.is_dir():
            return candidate
    return data_seq


def read_uav123(root: Path) -> list[Sequence]:
    """Every annotated sequence under a UAV123 root (``anno/`` + ``data_seq/``)."""
    base = _layout_root(root)
    if base is None:
        raise InputError(f"{root}: not a UAV123 folder (needs anno/ and data_seq/)")
    configs = sorted(base.rglob("configSeqs.m"))
    config = read_config_ranges(configs[0]) if configs else {}
    data_seq = base / "data_seq"
    sequences = []
    for version, files in _annotation_groups(base / "anno"):
        frame_root = _frame_root(data_seq, version)
        for path in files:
            name = path.stem
            boxes = read_boxes(path)
            sequences.append(_read_one(name, version, path, boxes, frame_root, config))
    if not sequences:
        raise InputError(f"{base / 'anno'}: no annotation files (<sequence>.txt) in it")
    return sequences


def _is_10fps(path: Path) -> bool:
    return any(part.lower() == "uav123_10fps" for part in Path(path).parts)


def _table_range(name: str, path: Path, rows: int, frames: list[Path]) -> tuple[int, int] | None:
    """``(first, last)`` of a sub-sequence from the built-in tables, or None if neither has it.

    A path through ``UAV123_10fps`` means the 10 fps table. Otherwise the first table (30 fps,
    then 10 fps) whose range has ``rows`` frames that ``frames`` hold (by count, or by the
    numbers in their names); when none fits, the 30 fps range, for the error to name.
    """
    tables = [UAV123_10FPS_SUBSEQUENCES]
    if not _is_10fps(path):
        tables.insert(0, UAV123_SUBSEQUENCES)
    ranges = [table[name] for table in tables if name in table]
    numbers = {frame_number(p) for p in frames}
    for first, last in ranges:
        count = last - first + 1
        if rows == count and (len(frames) == count or {first, last} <= numbers):
            return first, last
    return ranges[0] if ranges else None


def _read_one(name, version, path, boxes, frame_root: Path, config) -> Sequence:
    folder, first, last, frames = frame_root / name, None, None, None
    if name in config:
        folder_name, first, last = config[name]
        folder = frame_root / folder_name
    elif version.upper() == "UAV20L" and name in UAV20L_LAST_FRAMES:
        first, last = 1, UAV20L_LAST_FRAMES[name]
    elif not has_frames(folder):
        match = _SUBSEQUENCE.match(name)
        if match and has_frames(frame_root / match.group(1)):
            folder = frame_root / match.group(1)
            frames = list_frames(folder)
            found = _table_range(name, path, len(boxes), frames)
            if found is None:
                raise InputError(
                    f"{path}: {name} looks like a sub-sequence of {folder}, but its frame range "
                    "is unknown: put the data set's configSeqs.m under the root"
                )
            first, last = found
    if frames is None:
        frames = list_frames(folder)
    if first is not None:
        if len(boxes) != last - first + 1:
            raise InputError(
                f"{path}: {len(boxes)} rows, but {name} spans frames {first}–{last} of {folder} "
                f"({last - first + 1} frames)"
            )
        frames = select_frames(frames, first, last, path, folder)
    check_count(path, len(boxes), len(frames), folder)
    visible = box_visibility(boxes)
    label = f"{version}-{name}" if version and version.upper() != "UAV123" else name
    return Sequence(
        name=label,
        frames=frames,
        boxes=absent_as_nan(boxes, visible),
        visible=visible,
        attributes={"dataset": "uav123", "ground_truth": str(path), "version": version or None},
    )

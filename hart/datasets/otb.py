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

Which frames a ground-truth file covers comes from OTB's own configuration: the first and last
annotated frame of each of the 100 sequences (:data:`OTB_FRAME_RANGES`; David's ground truth
starts at frame 300, Diving's and Football1's stop early, BlurCar1 ships only frames 247–988).
Frames are then chosen by the numbers in their file names, so the full download and a folder
re-hosted with only the annotated frames (``David/img/0300.jpg``…) read the same; a folder
holding exactly as many frames as there are rows is taken in order. A sequence the table does not
know must have one row per frame, unless ``start_frames`` says where its ground truth starts.

TC-128's form reads too: ``<seq>/img/`` with ``<seq>/<seq>_gt.txt`` and ``<seq>_frames.txt``
(the first and last frame it covers); so does a re-hosted copy without ``img/`` whose frames
are in ``imgs/`` or beside the ground truth.

So does any sequence re-hosted as a folder of its frames (in it, ``img/`` or ``imgs/``) with
its box file inside, one ``x,y,w,h`` row per frame — UAV123's ``bike1/000001.jpg …`` +
``bike1/bike1.txt``, say. The box file is ``<seq>.txt``, ``<seq>_gt.txt``, ``gt.txt`` or
``groundtruth.txt`` (two of these are an error), else the folder's only ``.txt`` whose first line
is 4 numbers (two such are an error); a folder whose box file is ``groundtruth.txt`` is read as
VOT's (vot.py), which takes polygons too.
"""

from __future__ import annotations

import re
from itertools import islice
from pathlib import Path

from hart.datasets.annotations import (
    absent_as_nan,
    box_visibility,
    check_count,
    parse_numbers,
    read_boxes,
    read_lines,
    select_frames,
)
from hart.datasets.sequence import Sequence
from hart.errors import InputError
from hart.media.frames import IMAGE_SUFFIXES, first_with_frames, has_frames, list_frames

# First and last annotated frame (1-based, inclusive) of every OTB-100 sequence, from OTB's
# configuration (configSeqs.m; the got10k toolkit and others list the same). Every target of a
# sequence (Jogging's two, Skating2's two, Human4's second) shares its range. Tiger1's ground
# truth has a row for every frame from 1, but OTB scores it from frame 6 (the first five are
# dropped, as OTB's toolkit does).
OTB_FRAME_RANGES: dict[str, tuple[int, int]] = {
    "basketball": (1, 725), "biker": (1, 142), "bird1": (1, 408), "bird2": (1, 99),
    "blurbody": (1, 334), "blurcar1": (247, 988), "blurcar2": (1, 585), "blurcar3": (3, 359),
    "blurcar4": (18, 397), "blurface": (1, 493), "blurowl": (1, 631), "board": (1, 698),
    "bolt": (1, 350), "bolt2": (1, 293), "box": (1, 1161), "boy": (1, 602),
    "car1": (1, 1020), "car2": (1, 913), "car24": (1, 3059), "car4": (1, 659),
    "cardark": (1, 393), "carscale": (1, 252), "clifbar": (1, 472), "coke": (1, 291),
    "couple": (1, 140), "coupon": (1, 327), "crossing": (1, 120), "crowds": (1, 347),
    "dancer": (1, 225), "dancer2": (1, 150), "david": (300, 770), "david2": (1, 537),
    "david3": (1, 252), "deer": (1, 71), "diving": (1, 215), "dog": (1, 127),
    "dog1": (1, 1350), "doll": (1, 3872), "dragonbaby": (1, 113), "dudek": (1, 1145),
    "faceocc1": (1, 892), "faceocc2": (1, 812), "fish": (1, 476), "fleetface": (1, 707),
    "football": (1, 362), "football1": (1, 74), "freeman1": (1, 326), "freeman3": (1, 460),
    "freeman4": (1, 283), "girl": (1, 500), "girl2": (1, 1500), "gym": (1, 767),
    "human2": (1, 1128), "human3": (1, 1698), "human4": (1, 667), "human5": (1, 713),
    "human6": (1, 792), "human7": (1, 250), "human8": (1, 128), "human9": (1, 305),
    "ironman": (1, 166), "jogging": (1, 307), "jump": (1, 122), "jumping": (1, 313),
    "kitesurf": (1, 84), "lemming": (1, 1336), "liquor": (1, 1741), "man": (1, 134),
    "matrix": (1, 100), "mhyang": (1, 1490), "motorrolling": (1, 164), "mountainbike": (1, 228),
    "panda": (1, 1000), "redteam": (1, 1918), "rubik": (1, 1997), "shaking": (1, 365),
    "singer1": (1, 351), "singer2": (1, 366), "skater": (1, 160), "skater2": (1, 435),
    "skating1": (1, 400), "skating2": (1, 473), "skiing": (1, 81), "soccer": (1, 392),
    "subway": (1, 175), "surfer": (1, 376), "suv": (1, 945), "sylvester": (1, 1345),
    "tiger1": (6, 354), "tiger2": (1, 365), "toy": (1, 271), "trans": (1, 124),
    "trellis": (1, 569), "twinnings": (1, 472), "vase": (1, 271), "walking": (1, 412),
    "walking2": (1, 500), "woman": (1, 597),
}  # fmt: skip

_GROUND_TRUTH = re.compile(r"^groundtruth_rect(?:\.(\d+))?\.txt$")
# VOT's name (vot.py reads it, polygons too): a folder whose only box file it is is VOT's.
_VOT_GROUND_TRUTH = "groundtruth.txt"
# Where a sequence's frames are: OTB's img/; in re-hosted copies imgs/ or the folder itself.
_FRAME_FOLDERS = ("img", "imgs", ".")


def _known_names(folder: Path) -> tuple[str, ...]:
    """The one-target box-file names a sequence folder may hold beside its frames, besides
    OTB's ``groundtruth_rect.txt``: VOT's, TC-128's, UAV123's ``anno/<seq>.txt`` moved in
    beside its frames, and a short one (each once: a folder may be called ``gt``)."""
    names = (_VOT_GROUND_TRUTH, f"{folder.name}_gt.txt", f"{folder.name}.txt", "gt.txt")
    return tuple(dict.fromkeys(names))


def _looks_like_boxes(path: Path) -> bool:
    """Whether a text file's first non-blank line is 4 numbers (``x,y,w,h``, NaN allowed)."""
    try:
        with path.open(encoding="utf-8-sig") as file:
            line = next((text for text in islice(file, 100) if text.strip()), "")
        return len(parse_numbers(line, path, 1)) == 4
    except (OSError, UnicodeDecodeError, InputError):
        return False


def _may_hold_frames(folder: Path) -> bool:
    """A folder with frames in it, or an ``img/`` or ``imgs/`` folder (perhaps empty: reading
    then says so)."""
    return has_frames(folder) or any((folder / name).is_dir() for name in ("img", "imgs"))


def _ground_truth_files(folder: Path) -> list[tuple[str | None, Path]]:
    """``(target number or None, file)``: the box files of a sequence folder, by these rules.

    1. OTB's ``groundtruth_rect.txt``, or ``groundtruth_rect.N.txt`` for target N (several).
    2. Else, beside frames (in the folder, ``img/`` or ``imgs/``), a known one-target name
       (:func:`_known_names`: ``groundtruth.txt``, ``<seq>_gt.txt``, ``<seq>.txt``,
       ``gt.txt``).
    3. Else, beside frames, the folder's one ``.txt`` whose first line is 4 numbers.

    More than one file under rule 2 or 3 is returned as found, for the reader to refuse (which
    one holds the boxes is then a guess); an empty list is no sequence folder.
    """
    found = []
    for path in folder.iterdir():
        match = _GROUND_TRUTH.match(path.name)
        if match and path.is_file():
            found.append((match.group(1), path))
    if found:
        return sorted(found, key=lambda item: int(item[0] or 0))
    if not _may_hold_frames(folder):
        return []
    known = [folder / name for name in _known_names(folder) if (folder / name).is_file()]
    if known:
        return [(None, path) for path in known]
    others = sorted(p for p in folder.glob("*.txt") if p.is_file() and _looks_like_boxes(p))
    return [(None, path) for path in others]


def _image_folder(folder: Path) -> Path:
    """Where an OTB sequence's frames are: ``img/``; in a re-hosted copy without one, ``imgs/``
    or the sequence folder itself when they hold frames. An error says where it looked."""
    if (folder / "img").is_dir():
        return folder / "img"
    # pathlib drops the ".": the sequence folder itself.
    found = first_with_frames(folder / name for name in _FRAME_FOLDERS)
    if found is None:
        raise InputError(
            f"{folder}: no frames in img/, imgs/ or the sequence folder itself "
            f"({', '.join(IMAGE_SUFFIXES[:4])}, …)"
        )
    return found


def _listed_start(folder: Path) -> int | None:
    """The first annotated frame that TC-128's ``<seq>_frames.txt`` gives (``first,last``), or
    None without one."""
    path = folder / f"{folder.name}_frames.txt"
    if not path.is_file():
        return None
    lines = read_lines(path)
    numbers = parse_numbers(lines[0][1], path, lines[0][0]) if lines else []
    if len(numbers) != 2 or not all(n.is_integer() and n >= 1 for n in numbers):
        raise InputError(f"{path}: expected the first and last frame numbers, as 1,120")
    return int(numbers[0])


def is_otb_sequence(folder: Path) -> bool:
    """A folder with box files by :func:`_ground_truth_files`' rules, other than VOT's
    ``groundtruth.txt`` alone (vot.py reads that). ``groundtruth_rect*.txt`` (a name only OTB
    uses) counts even when ``img/`` is missing or holds no frames, so that reading it says so
    rather than leaving it out (or calling its root no layout hart knows)."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    files = _ground_truth_files(folder)
    return bool(files) and [path.name for _, path in files] != [_VOT_GROUND_TRUTH]


def is_otb(root: Path) -> bool:
    """A single OTB sequence folder, or a folder of them."""
    root = Path(root)
    if is_otb_sequence(root):
        return True
    return root.is_dir() and any(is_otb_sequence(child) for child in root.iterdir())


def _annotated_range(
    name: str, folder: Path, rows: int, starts: dict[str, int]
) -> tuple[int, int, int] | None:
    """``(first frame, last frame, rows to skip)`` that a ground-truth file of ``rows`` rows
    covers (1-based, inclusive), from ``starts`` (the caller's) or OTB's table; None when
    neither knows this sequence or the table's range does not fit the file."""
    start = starts.get(name.lower(), starts.get(folder.name.lower()))
    if start is not None:
        return start, start + rows - 1, 0
    known = OTB_FRAME_RANGES.get(folder.name.lower())
    if known is None:
        return None
    first, last = known
    if rows == last - first + 1:
        return first, last, 0
    if rows == last:  # annotated from frame 1, scored from ``first`` (Tiger1)
        return first, last, first - 1
    return None


def _is_empty(path: Path) -> bool:
    return not read_lines(path)


def read_otb_sequence(folder: Path, start_frames: dict[str, int] | None = None) -> list[Sequence]:
    """One OTB sequence folder → one Sequence per ground-truth file (usually one).

    An empty numbered ground-truth file beside others (OTB's ``Human4/groundtruth_rect.1.txt``:
    only its second target is annotated) is skipped.
    """
    folder = Path(folder)
    images = _image_folder(folder)
    frames = list_frames(images)
    files = _ground_truth_files(folder)
    if not files:
        raise InputError(
            f"{folder}: no box file in this sequence folder (groundtruth_rect.txt, "
            f"{', '.join(_known_names(folder))}, or a single .txt of x,y,w,h rows)"
        )
    if len(files) > 1 and any(index is None for index, _ in files):
        names = [path.name for _, path in files]
        known = set(names) & set(_known_names(folder))
        advice = "keep one of them" if known else "name the sequence's gt.txt"
        raise InputError(
            f"{folder}: {len(names)} box files ({', '.join(names)}); which one holds the "
            f"boxes would be a guess: {advice}"
        )
    if len(files) > 1:
        files = [(index, path) for index, path in files if not _is_empty(path)] or files
    starts = {k.lower(): v for k, v in (start_frames or {}).items()}
    listed = _listed_start(folder)
    if listed is not None:
        starts.setdefault(folder.name.lower(), listed)
    sequences = []
    for index, path in files:
        name = folder.name if len(files) == 1 or index is None else f"{folder.name}-{index}"
        boxes = read_boxes(path)
        found = _annotated_range(name, folder, len(boxes), starts)
        if found is not None:
            first, last, skip = found
            chosen = select_frames(frames, first, last, path, images)
            boxes = boxes[skip:]
        elif len(boxes) == len(frames):  # one row per frame
            chosen = frames
        elif folder.name.lower() in OTB_FRAME_RANGES:
            first, last = OTB_FRAME_RANGES[folder.name.lower()]
            raise InputError(
                f"{path}: {len(boxes)} rows and {len(frames)} frames in {images}, but "
                f"OTB's {folder.name} is annotated on frames {first}–{last} "
                f"({last - first + 1} rows); for another sequence of that name, say where its "
                "ground truth starts (start_frames)"
            )
        else:
            check_count(path, len(boxes), len(frames), images)
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
    if is_otb_sequence(root):  # a sequence, maybe a broken one
        return read_otb_sequence(root, start_frames)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder")
    folders = sorted((c for c in root.iterdir() if is_otb_sequence(c)), key=lambda p: p.name)
    if not folders:
        raise InputError(
            f"{root}: no OTB sequence folders (img/ + groundtruth_rect.txt, or frames + a box "
            "file) in it"
        )
    return [seq for folder in folders for seq in read_otb_sequence(folder, start_frames)]


__all__ = ["read_otb", "read_otb_sequence", "is_otb", "OTB_FRAME_RANGES"]

"""Splitting sequences into training and test parts."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from hart.datasets.sequence import Sequence


def videos(sequences: list[Sequence]) -> list[list[Sequence]]:
    """``sequences`` grouped by the video they come from, in order of first appearance.

    A reader that makes several sequences of one video (KITTI: one per object track) says so in
    ``attributes["video"]``; other sequences whose frames lie in one folder are one video too
    (OTB's Jogging-1 and Jogging-2: two targets on the same frames; UAV123's bird1_1 … bird1_3:
    one flight cut in three), and so are the parts of one flight re-hosted as a file or folder
    each (``truck4_1.mp4``, ``truck4_2.mp4``: :func:`_scene`); any other sequence is a video
    of its own. Splitting by video keeps every frame, and every scene, on one side.
    """
    groups: dict[object, list[Sequence]] = {}
    for sequence in sequences:
        groups.setdefault(_video_key(sequence), []).append(sequence)
    return list(groups.values())


def _video_key(sequence: Sequence) -> object:
    """What :func:`videos` groups by: the reader's video, else the frames' folder (before
    :func:`hart.datasets.resized.resized_sequences` gave each sequence a folder of its own)."""
    if "video" in sequence.attributes:
        return ("video", _scene(sequence.attributes["video"]))
    folder = sequence.attributes.get("resized_from")
    if folder is None and sequence.frames:
        folder = Path(sequence.frames[0]).parent
    return ("folder", _scene(folder)) if folder is not None else ("sequence", id(sequence))


# UAV123 cuts a long flight into parts named <scene><n>_<part> (bird1_1 … bird1_3, truck4_1 and
# truck4_2). In UAV123's own layout the parts share one folder of frames; re-hosted as a video
# file or a folder each, only their names say that they are one scene.
_PART_OF_A_SCENE = re.compile(r"(?P<scene>.*\d)_\d+")


def _scene(path: str | Path) -> str:
    """``path`` with a UAV123-style part number taken off its name (``…/truck4_2.mp4`` →
    ``…/truck4``), so that the parts of one flight group together; other paths as they are."""
    path = Path(path)
    part = _PART_OF_A_SCENE.fullmatch(path.stem)
    return str(path.with_name(part["scene"])) if part else str(path)


def split_in_time(
    sequences: list[Sequence], fraction: float = 0.8, min_length: int = 2
) -> tuple[list[Sequence], list[Sequence]]:
    """Cut every video at ``fraction`` of its frames: what comes before the cut trains, the
    rest tests.

    This is how HART split KITTI (each video's first 80 % for training). A sequence alone in its
    video is cut at ``fraction`` of its own frames, and a part shorter than ``min_length`` frames
    stays with the other part. The tracks of a video that holds several (:func:`videos`; each
    with its ``first_frame`` in the video) are all cut at the same frame, ``fraction`` of the
    way through the frames they span, so that no frame trains in one track and tests in
    another; a part of a track shorter than ``min_length`` is dropped, since moving it would put
    its frames on the wrong side. Names get ``-train`` and ``-test`` only where a sequence was
    actually cut.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    train, test = [], []
    for video in videos(sequences):
        if len(video) == 1 or any("first_frame" not in s.attributes for s in video):
            for sequence in video:  # where in the video each starts is not known
                _split_alone(sequence, fraction, min_length, train, test)
            continue
        starts = [sequence.attributes["first_frame"] for sequence in video]
        first = min(starts)
        last = max(start + len(sequence) - 1 for start, sequence in zip(starts, video, strict=True))
        cut_frame = first + int(fraction * (last - first + 1) + 0.5)  # the first frame tested
        for start, sequence in zip(starts, video, strict=True):
            cut = min(max(cut_frame - start, 0), len(sequence))
            if cut == len(sequence):
                train.append(sequence)
            elif cut == 0:
                test.append(sequence)
            else:
                if cut >= min_length:
                    train.append(_slice(sequence, 0, cut, "train"))
                if len(sequence) - cut >= min_length:
                    test.append(_slice(sequence, cut, len(sequence), "test"))
    return train, test


def _split_alone(
    sequence: Sequence, fraction: float, min_length: int, train: list, test: list
) -> None:
    """Cut a sequence that is a video of its own at ``fraction`` of its frames."""
    cut = int(fraction * len(sequence) + 0.5)
    if cut < min_length:
        test.append(sequence)
    elif len(sequence) - cut < min_length:
        train.append(sequence)
    else:
        train.append(_slice(sequence, 0, cut, "train"))
        test.append(_slice(sequence, cut, len(sequence), "test"))


def _slice(sequence: Sequence, start: int, stop: int, part: str) -> Sequence:
    attributes = {
        key: _slice_value(value, len(sequence), start, stop)
        for key, value in sequence.attributes.items()
    }
    attributes.update(part=part, first_index=start)
    return replace(
        sequence,
        name=f"{sequence.name}-{part}",
        frames=sequence.frames[start:stop],
        boxes=sequence.boxes[start:stop],
        visible=sequence.visible[start:stop],
        attributes=attributes,
    )


def _slice_value(value, length: int, start: int, stop: int):
    """Per-frame attributes (arrays of the sequence's length, dicts of them) follow the cut."""
    if isinstance(value, np.ndarray) and value.ndim >= 1 and len(value) == length:
        return value[start:stop]
    if isinstance(value, dict):
        return {k: _slice_value(v, length, start, stop) for k, v in value.items()}
    return value

"""Splitting sequences into training and test parts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from hart.datasets.sequence import Sequence


def split_in_time(
    sequences: list[Sequence], fraction: float = 0.8, min_length: int = 2
) -> tuple[list[Sequence], list[Sequence]]:
    """Cut every sequence at ``fraction`` of its frames: the first part trains, the rest tests.

    This is how HART split KITTI (each video's first 80 % for training). A part shorter than
    ``min_length`` frames stays with the other part instead; names get ``-train`` and ``-test``
    only where a sequence was actually cut.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    train, test = [], []
    for sequence in sequences:
        cut = int(fraction * len(sequence) + 0.5)
        if cut < min_length:
            test.append(sequence)
        elif len(sequence) - cut < min_length:
            train.append(sequence)
        else:
            train.append(_slice(sequence, 0, cut, "train"))
            test.append(_slice(sequence, cut, len(sequence), "test"))
    return train, test


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

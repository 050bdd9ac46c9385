"""The one data contract every reader produces: a tracked object through a run of frames."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Sequence:
    """One object tracked through a run of frames.

    ``boxes`` are ``(N, 4)`` float32 ``x, y, w, h`` in pixels of the frames (top-left corner);
    a frame where the target is absent has a NaN row and ``visible[i] == False``.
    ``frames`` are image paths in order, one per box.
    """

    name: str
    frames: list[Path]
    boxes: np.ndarray  # (N, 4) float32 xywh pixels, NaN where absent
    visible: np.ndarray  # (N,) bool
    attributes: dict = field(default_factory=dict)  # anything a reader knows: class, cover, …

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.visible = np.asarray(self.visible, dtype=bool).reshape(-1)
        if not (len(self.frames) == len(self.boxes) == len(self.visible)):
            raise ValueError(
                f"sequence {self.name!r}: {len(self.frames)} frames, {len(self.boxes)} boxes, "
                f"{len(self.visible)} visibility flags — they must match"
            )

    def __len__(self) -> int:
        return len(self.frames)

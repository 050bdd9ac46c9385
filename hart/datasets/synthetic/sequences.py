"""Synthetic sequences from a seed: generated on the fly, or written to disk.

:func:`render_frames` streams a sequence one frame at a time, :func:`generate_sequence` holds it
in memory, :func:`write_synthetic_sequence` and :func:`write_synthetic_dataset` write it in a
reader's layout or as a video. The same arguments always give the same sequence.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hart.datasets.synthetic.config import SyntheticConfig
from hart.datasets.synthetic.photos import PhotoLibrary
from hart.datasets.synthetic.rendering import render
from hart.datasets.synthetic.scene import plan_scene


@dataclass
class SyntheticSequence:
    """``frames`` (T, H, W, 3) uint8 BGR; ``boxes`` (T, 4) float32 xywh pixels, NaN where
    absent; ``visible`` (T,) bool."""

    frames: np.ndarray
    boxes: np.ndarray
    visible: np.ndarray
    seed: int


def render_frames(
    seed: int,
    length: int,
    frame_size: tuple[int, int] = (187, 621),
    config: SyntheticConfig | None = None,
    photos: PhotoLibrary | str | Path | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
    """Yield ``(frame (H, W, 3) uint8 BGR, box (4,) float32 xywh, visible)`` for ``length``
    frames of the sequence ``seed`` — one frame at a time, for long sequences."""
    if photos is not None and not isinstance(photos, PhotoLibrary):
        photos = PhotoLibrary(photos)
    scene = plan_scene(seed, length, frame_size, config or SyntheticConfig(), photos)
    for t in range(length):
        yield render(scene, t)


def generate_sequence(
    seed: int,
    length: int,
    frame_size: tuple[int, int] = (187, 621),
    config: SyntheticConfig | None = None,
    photos: PhotoLibrary | str | Path | None = None,
) -> SyntheticSequence:
    """The synthetic sequence ``seed``: ``length`` frames of ``frame_size`` (H, W).

    ``photos``: a folder (or :class:`PhotoLibrary`) of the user's images to use as backgrounds
    and object surfaces. The same arguments always give the same sequence.
    """
    height, width = frame_size
    frames = np.empty((length, height, width, 3), np.uint8)
    boxes = np.empty((length, 4), np.float32)
    visible = np.empty(length, bool)
    for t, (frame, box, seen) in enumerate(render_frames(seed, length, frame_size, config, photos)):
        frames[t], boxes[t], visible[t] = frame, box, seen
    return SyntheticSequence(frames, boxes, visible, seed)


def write_synthetic_sequence(
    path: str | Path,
    seed: int,
    length: int,
    frame_size: tuple[int, int] = (360, 640),
    layout: str = "video",
    config: SyntheticConfig | None = None,
    photos: PhotoLibrary | str | Path | None = None,
    **options,
) -> Path:
    """Write the synthetic sequence ``seed`` to ``path``: a video plus box file
    (``layout="video"``, ``path`` like ``sample.mp4``, boxes in ``sample.txt``) or a sequence
    folder in the ``otb`` or ``got10k`` layout. ``options`` go to the writer (``fps``,
    ``quality``). Frames stream to disk one at a time."""
    from hart.datasets.writers import write_sequence  # writers know nothing of synthetic data

    items = render_frames(seed, length, frame_size, config, photos)
    return write_sequence(path, items, layout, **options)


def write_synthetic_dataset(
    root: str | Path,
    count: int,
    length: int,
    seed: int = 0,
    frame_size: tuple[int, int] = (360, 640),
    layout: str = "otb",
    config: SyntheticConfig | None = None,
    photos: PhotoLibrary | str | Path | None = None,
) -> list[Path]:
    """``count`` synthetic sequences of ``length`` frames under ``root`` (``synthetic-0000`` …,
    or ``synthetic-0000.mp4`` … for ``layout="video"``); ``load_sequences(root)`` reads them."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if photos is not None and not isinstance(photos, PhotoLibrary):
        photos = PhotoLibrary(photos)
    seeds = np.random.SeedSequence(seed).generate_state(count, dtype=np.uint64)
    paths = []
    for index, sequence_seed in enumerate(seeds):
        name = f"synthetic-{index:04d}" + (".mp4" if layout == "video" else "")
        paths.append(
            write_synthetic_sequence(
                root / name, int(sequence_seed), length, frame_size, layout, config, photos
            )
        )
    if layout == "got10k":  # the split's listing, so that the root reads as a GOT-10k split
        (root / "list.txt").write_text("".join(f"{path.name}\n" for path in paths))
    return paths

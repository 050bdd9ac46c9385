"""Training clips: random ``T``-frame pieces of sequences, as ``torch.utils.data.Dataset`` s.

Two sources, one output. :class:`SequenceClips` cuts clips from sequences on disk (any
reader's ``list[Sequence]``), with the paper's augmentations — time reversal and horizontal
mirroring — and resizes them to the model's frame size. :class:`SyntheticClips` generates each
clip on the fly (:mod:`hart.datasets.synthetic`) at that size. Every item is::

    {"frames": (T, 3, H, W) uint8 RGB,
     "boxes": (T, 4) float32 x, y, w, h in pixels of the (H, W) frame, NaN where absent,
     "visible": (T,) bool}

and the default collate stacks them to ``(B, T, …)``. Frames stay uint8 (a quarter of the
bytes of float32 between worker processes and to the device); the model takes RGB floats in
``[0, 1]``, so divide by 255 on the device, as the training data module does.

The target is visible in every clip's first frame. Item ``i`` is a function of
``(seed, epoch, i, T)`` only, so runs repeat exactly whatever the number of workers.

Changing ``T`` while training (the curriculum)
-----------------------------------------------
``dataset.clip_length = 30`` takes effect in the main process *and* in running DataLoader
workers, persistent ones included: the value lives in a one-element shared-memory tensor
that worker copies of the dataset still point at (fork and spawn alike), and each item reads
it. A batch is fetched by one worker through :meth:`~_ClipDataset.__getitems__`, which reads
``T`` once, so a batch never mixes lengths. Batches already prefetched when ``T`` changes keep
the old length (at most ``num_workers × prefetch_factor`` of them) — set it between epochs,
as the curriculum does, and the next epoch is all new length. :meth:`set_epoch` works the
same way and gives every epoch fresh clips.

Workers and OpenCV
------------------
Each worker decodes and draws with OpenCV, whose own thread pool is as wide as the machine.
To keep N workers from fighting over the cores, call ``cv2.setNumThreads(1)`` in the main
process *before* the DataLoader starts its workers — not inside a worker: after a fork from a
process that has used OpenCV's pool, ``cv2.setNumThreads`` in the child can hang.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from hart.datasets.augment import (
    NO_AUGMENTATION,
    Augmentation,
    photometric_clip,
    random_photometry,
    random_zoom,
    zoom_clip,
)
from hart.datasets.resized import check_boxes_in_frames, image_size, read_resized
from hart.datasets.sequence import Sequence
from hart.datasets.synthetic import PhotoLibrary, SyntheticConfig, generate_sequence
from hart.errors import InputError

PAPER_FRAME_SIZE = (187, 621)  # (H, W): KITTI frames at half size, as in the paper
MAX_FRAME_SIZE = (2160, 3840)
"""The largest ``(H, W)`` a clip's frames are resized to or drawn at (and `hart sample`'s):
4K UHD. A clip is drawn whole in memory; a frame size mistyped by a digit or two was a
traceback, out of memory, or a machine swapping until its workers were killed."""


class _ClipDataset(Dataset):
    """Shared machinery: the clip length and epoch in shared memory, seeding, output format."""

    def __init__(self, clip_length: int, frame_size, seed: int, clips_per_epoch: int):
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.seed = int(seed)
        self.clips_per_epoch = int(clips_per_epoch)
        # [clip length, epoch] in shared memory: worker processes see the main process' writes.
        self._shared = torch.zeros(2, dtype=torch.int64).share_memory_()
        self.clip_length = clip_length

    @property
    def clip_length(self) -> int:
        """Frames per clip, ``T``; settable at any time (see the module docstring)."""
        return int(self._shared[0])

    @clip_length.setter
    def clip_length(self, value: int) -> None:
        if int(value) < 1:
            raise ValueError(f"clip_length must be at least 1, got {value}")
        self._shared[0] = int(value)

    @property
    def epoch(self) -> int:
        return int(self._shared[1])

    def set_epoch(self, epoch: int) -> None:
        """Draw a new set of clips: item ``i`` of epoch ``e`` differs from item ``i`` of ``e'``."""
        self._shared[1] = int(epoch)

    def __len__(self) -> int:
        return self.clips_per_epoch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self._clip(int(index), self.clip_length)

    def __getitems__(self, indices: list[int]) -> list[dict[str, torch.Tensor]]:
        # One read of T per batch, so that a change mid-batch cannot mix clip lengths.
        length = self.clip_length
        return [self._clip(int(index), length) for index in indices]

    def _rng(self, index: int, length: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index, length])

    def _clip(self, index: int, length: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _to_item(self, frames_bgr: np.ndarray, boxes: np.ndarray, visible: np.ndarray) -> dict:
        """``(T, H, W, 3)`` uint8 BGR frames + labels → the item dict (RGB, channels first)."""
        rgb = np.ascontiguousarray(frames_bgr[..., ::-1].transpose(0, 3, 1, 2))  # (T, 3, H, W)
        return {
            "frames": torch.from_numpy(rgb),
            "boxes": torch.from_numpy(np.ascontiguousarray(boxes, np.float32)),
            "visible": torch.from_numpy(np.ascontiguousarray(visible, bool)),
        }


class SyntheticClips(_ClipDataset):
    """Clips of synthetic sequences, generated when asked for (no files).

    ``clips_per_epoch`` items per epoch; ``photos`` is an optional folder of the user's images
    for backgrounds and object surfaces.
    """

    def __init__(
        self,
        clips_per_epoch: int = 10_000,
        clip_length: int = 5,
        frame_size: tuple[int, int] = PAPER_FRAME_SIZE,
        seed: int = 0,
        config: SyntheticConfig | None = None,
        photos: str | Path | None = None,
    ):
        super().__init__(clip_length, frame_size, seed, clips_per_epoch)
        self.config = config or SyntheticConfig()
        self.photos = PhotoLibrary(photos) if photos is not None else None

    def _clip(self, index: int, length: int) -> dict[str, torch.Tensor]:
        sequence_seed = int(self._rng(index, length).integers(2**63))
        sequence = generate_sequence(
            sequence_seed, length, self.frame_size, self.config, self.photos
        )
        if not sequence.visible[0]:  # the generator guarantees it; a bug if not
            raise RuntimeError(f"synthetic sequence {sequence_seed} starts without its target")
        return self._to_item(sequence.frames, sequence.boxes, sequence.visible)


class SequenceClips(_ClipDataset):
    """Random clips of ``sequences`` (from any reader), read from disk and resized.

    Each item picks a window of ``T`` frames uniformly among all windows of all sequences whose
    first frame shows the target — after the time reversal, which happens with probability
    ``reverse_probability`` (the window is then played backwards, so its *last* frame must
    show the target). With probability ``mirror_probability`` frames and boxes are flipped
    left-right. Frames are resized to ``frame_size`` (H, W) (aspect not kept, as in the paper)
    and boxes scaled with them. ``clips_per_epoch`` defaults to the number of frames.
    ``augmentation`` adds frame skipping, zoom and shift, and photometric changes
    (:mod:`hart.datasets.augment`; none by default).
    """

    def __init__(
        self,
        sequences: list[Sequence],
        clip_length: int = 5,
        frame_size: tuple[int, int] = PAPER_FRAME_SIZE,
        seed: int = 0,
        clips_per_epoch: int | None = None,
        reverse_probability: float = 0.5,
        mirror_probability: float = 0.5,
        augmentation: Augmentation = NO_AUGMENTATION,
    ):
        if not sequences:
            raise InputError("no sequences to cut clips from")
        self.sequences = list(sequences)
        total = sum(len(s) for s in self.sequences)
        super().__init__(clip_length, frame_size, seed, clips_per_epoch or total)
        self.reverse_probability = reverse_probability
        self.mirror_probability = mirror_probability
        self.augmentation = augmentation
        self._windows: dict[int, tuple] = {}  # T → window tables, built per process on demand
        self._sizes: dict[int, tuple[int, int]] = {}  # sequence index → original (H, W)
        self.windows(self.clip_length)  # fail now, not in a worker, if no clip fits

    def windows(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Cumulative counts of valid windows of ``length`` frames per sequence, forward and
        reversed: two ``(S + 1,)`` arrays.

        Raises:
            InputError: no window of ``length`` frames fits any sequence.
        """
        if not self.fits(length):
            count = len(self.sequences)
            longest = self.longest_clip()
            if longest == 0:
                raise InputError(
                    f"no clip of {length} frames fits: the target is absent from every frame "
                    f"of all {count} sequence(s) (a clip starts on a frame that shows it)"
                )
            raise InputError(
                f"no clip of {length} frames fits: the longest of {count} sequence(s) gives "
                f"{longest} (a clip starts on a frame that shows the target)"
            )
        return self._windows[length]

    def longest_clip(self) -> int:
        """The most frames a clip can have: the longest run from a frame that shows the
        target to its sequence's end (or, played backwards, to its start); 0 if none shows it."""
        longest = 0
        for sequence in self.sequences:
            shown = np.flatnonzero(sequence.visible)
            if len(shown):
                longest = max(longest, len(sequence) - int(shown[0]), int(shown[-1]) + 1)
        return longest

    def fits(self, length: int) -> bool:
        """Whether a clip of ``length`` frames fits some sequence. Its window tables are kept
        either way: a frame skip too long for every sequence is worked out once, not on every
        clip that draws it."""
        if length not in self._windows:
            self._windows[length] = self._count_windows(length)
        forward, backward = self._windows[length]
        return forward[-1] > 0 or backward[-1] > 0

    def _count_windows(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        """The tables :meth:`windows` returns, counted afresh (all zero when nothing fits)."""
        forward, backward = [0], [0]
        for sequence in self.sequences:
            visible = sequence.visible
            count = len(sequence) - length + 1
            forward.append(forward[-1] + (int(visible[:count].sum()) if count > 0 else 0))
            backward.append(backward[-1] + (int(visible[length - 1 :].sum()) if count > 0 else 0))
        return np.asarray(forward), np.asarray(backward)

    def pick(self, rng: np.random.Generator, length: int) -> tuple[int, int, bool]:
        """``(sequence index, first frame, reversed)`` of a random valid window."""
        forward, backward = self.windows(length)
        reverse = bool(rng.random() < self.reverse_probability)
        if (backward if reverse else forward)[-1] == 0:
            reverse = not reverse
        table = backward if reverse else forward
        k = int(rng.integers(table[-1]))  # the k-th valid window over all sequences
        which = int(np.searchsorted(table, k, side="right") - 1)
        sequence = self.sequences[which]
        k -= table[which]
        count = len(sequence) - length + 1
        # Starts whose clip-first frame (window start, or window end when reversed) is visible.
        candidates = np.flatnonzero(
            sequence.visible[length - 1 :] if reverse else sequence.visible[:count]
        )
        return which, int(candidates[k]), reverse

    def _clip(self, index: int, length: int) -> dict[str, torch.Tensor]:
        rng = self._rng(index, length)
        augmentation = self.augmentation
        skip = int(rng.integers(1, augmentation.max_frame_skip + 1))
        span = (length - 1) * skip + 1
        if not self.fits(span):  # no sequence is long enough to skip frames at this length
            skip, span = 1, length
        which, start, reverse = self.pick(rng, span)
        mirror = bool(rng.random() < self.mirror_probability)
        sequence = self.sequences[which]
        height, width = self.frame_size
        source_h, source_w = self._source_size(which)
        taken = start + skip * np.arange(length)  # (T,) frame indices
        frames = np.empty((length, height, width, 3), np.uint8)
        for t, frame in enumerate(taken):
            frames[t] = read_resized(sequence.frames[frame], (height, width), (source_h, source_w))
        boxes = sequence.boxes[taken].astype(np.float32)
        boxes = boxes * np.array([width / source_w, height / source_h] * 2, np.float32)
        visible = sequence.visible[taken].copy()
        if reverse:
            frames, boxes, visible = frames[::-1], boxes[::-1], visible[::-1]
        if mirror:
            frames = frames[:, :, ::-1]
            boxes = boxes.copy()
            boxes[:, 0] = width - boxes[:, 0] - boxes[:, 2]
        if augmentation.geometric:
            matrix = random_zoom(rng, boxes[0], self.frame_size, augmentation)
            frames, boxes = zoom_clip(frames, boxes, matrix)
        if augmentation.photometric:
            frames = photometric_clip(frames, random_photometry(rng, augmentation))
        return self._to_item(frames, boxes, visible)

    def _source_size(self, which: int) -> tuple[int, int]:
        """A sequence's frame size (H, W), from its first frame (all frames share it)."""
        if which not in self._sizes:
            size = image_size(self.sequences[which].frames[0])
            check_boxes_in_frames(self.sequences[which], size)
            self._sizes[which] = size
        return self._sizes[which]

"""The LightningDataModule: training and validation clips, synthetic or from a data set on disk."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import cv2
import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from hart.datasets.augment import NO_AUGMENTATION, Augmentation
from hart.datasets.clips import MAX_FRAME_SIZE, SequenceClips, SyntheticClips
from hart.datasets.layouts import load_sequences
from hart.datasets.resized import resized_sequences
from hart.datasets.sequence import Sequence
from hart.datasets.splits import split_in_time, videos
from hart.datasets.synthetic import SyntheticConfig
from hart.datasets.synthetic.config import MIN_FRAME_SIZE
from hart.errors import InputError


class FreshClipsSampler(Sampler[int]):
    """Clip indices in order, and a new epoch's clips each epoch.

    A clip dataset's item is a function of ``(seed, epoch, index, T)``; Lightning calls
    ``set_epoch`` on the loader's sampler at every epoch start (through its distributed wrapper
    under DDP too), and this passes the epoch on to the dataset, so no epoch repeats the last.
    :meth:`start_at` makes the next pass begin later in the epoch (a resumed run).
    """

    def __init__(self, dataset: SyntheticClips | SequenceClips) -> None:
        self.dataset = dataset
        self._start = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self):
        start, self._start = self._start, 0
        return iter(range(start, len(self.dataset)))

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def start_at(self, index: int) -> None:
        """The next pass yields ``index, index + 1, …`` (later passes start at 0 again)."""
        self._start = int(index)


class ResumableLoader(DataLoader):
    """The training loader, whose place in the epoch goes into checkpoints.

    Lightning saves ``state_dict()`` of a training loader that has one and, resuming, gives it
    back through ``load_state_dict`` before the first batch. The state is the epoch and how many
    batches of it this loader has handed out (Lightning fetches nothing ahead from a loader with
    a length, so that is how many were trained on). A resumed run then goes on with the next
    clip of that epoch, rather than starting it again with other clips, and the clips in flight
    can never be drawn for the wrong epoch. Under DDP (a distributed sampler wraps ours) the
    resumed epoch starts from its beginning.
    """

    def __init__(self, dataset, **kwargs) -> None:
        super().__init__(dataset, **kwargs)
        self._handed_out = 0
        self._resume: tuple[int, int] | None = None  # (epoch, batches done) from a checkpoint

    def __iter__(self):
        epoch, done = self._resume or (-1, 0)
        self._resume = None
        ours = isinstance(self.sampler, FreshClipsSampler)  # not a distributed wrapper
        skip = done if ours and epoch == self.dataset.epoch else 0
        if skip:
            self.sampler.start_at(skip * self.batch_size)
        self._handed_out = skip
        for batch in super().__iter__():
            self._handed_out += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.dataset.epoch, "batches": self._handed_out}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._resume = (int(state["epoch"]), int(state["batches"]))
        self.dataset.set_epoch(int(state["epoch"]))


def check_counts(
    frame_size: tuple[int, int],
    clip_length: int,
    val_clip_length: int,
    batch_size: int,
    num_workers: int,
    clips_per_epoch: int,
    val_clips: int,
) -> None:
    """Raise :class:`~hart.errors.InputError` (a ValueError) for a count no run can use.

    Checked when the data module is built, before any folder or process is made: found later,
    a batch size of 0 is a ValueError from PyTorch's loader in the middle of the sanity check,
    and an epoch with fewer clips than a batch trains nothing and ends "successfully".
    """
    if len(frame_size) != 2 or min(frame_size) < 1:
        raise InputError(f"frame_size must be two sizes of at least 1 pixel, got {frame_size}")
    if frame_size[0] > MAX_FRAME_SIZE[0] or frame_size[1] > MAX_FRAME_SIZE[1]:
        limit = "x".join(map(str, MAX_FRAME_SIZE))
        raise InputError(f"frame_size must be at most {limit} (4K UHD), got {frame_size}")
    # A clip's first frame only gives the target's box: tracking starts on the second.
    for name, length in (("clip_length", clip_length), ("val_clip_length", val_clip_length)):
        if length < 2:
            raise InputError(f"{name} must be at least 2 frames, got {length}")
    for name, count in (
        ("batch_size", batch_size),
        ("clips_per_epoch", clips_per_epoch),
        ("val_clips", val_clips),
    ):
        if count < 1:
            raise InputError(f"{name} must be at least 1, got {count}")
    if num_workers < 0:
        raise InputError(
            f"num_workers must be 0 (load in the main process) or more, got {num_workers}"
        )
    # The training loader drops the last incomplete batch (every step sees batch_size clips).
    if clips_per_epoch < batch_size:
        raise InputError(
            f"clips_per_epoch ({clips_per_epoch}) must be at least batch_size ({batch_size}): "
            "an epoch with fewer clips than a batch trains on nothing"
        )


def check_data_source(
    root: str | None,
    photos: str | None,
    synthetic: SyntheticConfig | None,
    augmentation: Augmentation,
    resized_cache: str | None,
) -> None:
    """Raise :class:`~hart.errors.InputError` for an option of the other source of clips than
    the one ``root`` picks, which would be ignored in silence: ``configs/real.yaml`` without
    ``--data.root`` trained on synthetic clips, unaugmented, and said nothing."""
    if root is None:
        unused = {
            "--data.augmentation": augmentation != NO_AUGMENTATION,
            "--data.resized_cache": resized_cache is not None,
        }
        source = "no --data.root is given, so the clips are synthetic; give --data.root DIR"
    else:
        unused = {
            "--data.photos": photos is not None,
            "--data.synthetic": synthetic is not None and synthetic != SyntheticConfig(),
        }
        source = f"--data.root {root} gives the clips; leave it out to train on synthetic clips"
    for option, given in unused.items():
        if given:
            whose = "synthetic clips" if root is not None else "a data set on disk"
            raise InputError(f"{option} applies to {whose} only, and {source}")


def validation_step(fraction: float) -> int:
    """Split by sequence, every ``n``-th video validates: ``n`` for ``val_fraction``."""
    return max(2, round(1 / fraction))


def fraction_for(videos: int) -> float:
    """``1 / videos`` in hundredths, or the next that holds out one of ``videos`` (at least 2):
    16 videos and 0.06 would validate every 17th, none of them."""
    start = max(1, round(100 / videos))
    return next(h for h in range(start, 100) if validation_step(h / 100) <= videos) / 100


@contextmanager
def _naming(part: str, option: str):
    """Prefix an :class:`~hart.errors.InputError` raised inside with the split and the option
    it concerns: "no clip of 48 frames fits" alone names neither, and a config sets the length
    the user never typed."""
    try:
        yield
    except InputError as error:
        raise InputError(f"{part} clips ({option}): {error}") from None


class HARTDataModule(pl.LightningDataModule):
    """Clips for HART: ``{"frames": (B, T, 3, H, W) uint8 RGB, "boxes": (B, T, 4), "visible"}``.

    With no ``root`` the clips are synthetic, generated on the fly (training and validation use
    different seeds, so validation is on scenes the model never trained on). With a ``root``,
    ``load_sequences(root, format)`` reads the data set and it is split for validation:

    - ``split="sequence"``: every ``1/val_fraction``-th sequence validates (unseen videos);
    - ``split="time"``: every sequence's last ``val_fraction`` of frames validates, as HART did
      on KITTI.

    Args:
        root: a data set folder (or a video file) in a layout
            :func:`hart.datasets.load_sequences` reads, or None for the built-in synthetic data.
        format: its layout (``"auto"`` recognises it).
        frame_size: ``(height, width)`` the frames are resized to.
        clip_length: frames per training clip ``T`` at the start; the curriculum raises it.
        val_clip_length: frames per validation clip (fixed, so validation IoU is comparable
            across the run).
        batch_size: clips per batch.
        num_workers: DataLoader worker processes.
        clips_per_epoch: training clips per epoch (an epoch is when the curriculum looks).
        val_clips: validation clips.
        split: ``"sequence"`` or ``"time"`` (see above; data sets on disk only).
        val_fraction: share of the data kept for validation.
        photos: a folder of your own images for synthetic backgrounds and surfaces.
        synthetic: the synthetic world's knobs (target size and speed, camera motion,
            distractors, occluders, …; :class:`hart.datasets.synthetic.SyntheticConfig`).
        augmentation: how training clips from a data set on disk are varied — frame skipping,
            zoom and shift, photometry (:class:`hart.datasets.augment.Augmentation`; off by
            default). Validation clips are never augmented.
        seed: makes the clips repeatable.
        resized_cache: a folder where a data set's frames are kept resized to ``frame_size``,
            written once before training (:mod:`hart.datasets.resized`): clips then decode
            small frames, several times faster than large ones. None: resize when read.
    """

    def __init__(
        self,
        root: str | None = None,
        format: str = "auto",
        frame_size: tuple[int, int] = (120, 160),
        clip_length: int = 5,
        val_clip_length: int = 10,
        batch_size: int = 8,
        num_workers: int = 2,
        clips_per_epoch: int = 800,
        val_clips: int = 64,
        split: Literal["sequence", "time"] = "sequence",
        val_fraction: float = 0.2,
        photos: str | None = None,
        synthetic: SyntheticConfig | None = None,
        augmentation: Augmentation | None = None,
        seed: int = 0,
        resized_cache: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if isinstance(synthetic, dict):  # plain values, as a checkpoint or a YAML holds them
            synthetic = SyntheticConfig(
                **{k: tuple(v) if isinstance(v, list) else v for k, v in synthetic.items()}
            )
        # Not read back from hparams: LightningCLI stores the values as given there (dicts).
        self.synthetic = synthetic
        if isinstance(augmentation, dict):
            augmentation = Augmentation(**augmentation)
        self.augmentation = augmentation or NO_AUGMENTATION
        # A file may be a data set: the video layout reads one video (and its box file).
        if root is not None and not Path(root).exists():
            raise InputError(f"data set folder {root} does not exist")
        if photos is not None and not Path(photos).is_dir():
            raise InputError(f"photo folder {photos} does not exist")
        if not 0.0 < val_fraction < 1.0:
            raise InputError(f"val_fraction must be between 0 and 1, got {val_fraction}")
        if seed < 0:  # numpy's seeds are not negative; found when the first clip is drawn
            raise InputError(f"seed must be 0 or more, got {seed}")
        check_counts(
            frame_size,
            clip_length,
            val_clip_length,
            batch_size,
            num_workers,
            clips_per_epoch,
            val_clips,
        )
        check_data_source(root, photos, self.synthetic, self.augmentation, resized_cache)
        if root is None and (
            frame_size[0] < MIN_FRAME_SIZE[0] or frame_size[1] < MIN_FRAME_SIZE[1]
        ):  # found by the first clip otherwise, in the middle of the sanity check
            smallest = "x".join(map(str, MIN_FRAME_SIZE))
            raise InputError(
                f"frame_size must be at least {smallest} for synthetic data, got {frame_size}"
            )
        self.train_clips: SyntheticClips | SequenceClips | None = None
        self.val_set: SyntheticClips | SequenceClips | None = None
        self._clip_length = clip_length
        self._loaded: list[Sequence] | None = None  # prepare_data's, reused by setup

    @property
    def clip_length(self) -> int:
        """Frames per training clip; the curriculum sets it, running workers included."""
        return self._clip_length

    @clip_length.setter
    def clip_length(self, value: int) -> None:
        self._clip_length = int(value)
        if self.train_clips is not None:
            self.train_clips.clip_length = int(value)

    def prepare_data(self) -> None:
        # Once per machine, before setup on every process: the resized frames are written here.
        if self.hparams.root is not None and self.hparams.resized_cache is not None:
            self._sequences()

    def _sequences(self) -> list[Sequence]:
        """The data set's sequences, read (and resized into the cache) once per process."""
        if self._loaded is None:
            hp = self.hparams
            sequences = load_sequences(hp.root, format=hp.format)
            if hp.resized_cache is not None:
                sequences = resized_sequences(sequences, hp.frame_size, hp.resized_cache)
            self._loaded = sequences
        return self._loaded

    def setup(self, stage: str) -> None:
        if self.train_clips is not None:
            return
        hp = self.hparams
        if hp.root is None:
            common = {
                "frame_size": hp.frame_size,
                "photos": hp.photos,
                "config": self.synthetic,
            }
            self.train_clips = SyntheticClips(
                hp.clips_per_epoch, self._clip_length, seed=hp.seed, **common
            )
            # A seed far from the training one: validation scenes are never trained on.
            self.val_set = SyntheticClips(
                hp.val_clips, hp.val_clip_length, seed=hp.seed + 1_000_003, **common
            )
        else:
            train, val = self._split(self._sequences())
            common = {"frame_size": hp.frame_size}
            with _naming("training", "--data.clip_length"):
                self.train_clips = SequenceClips(
                    train,
                    self._clip_length,
                    seed=hp.seed,
                    clips_per_epoch=hp.clips_per_epoch,
                    augmentation=self.augmentation,
                    **common,
                )
            with _naming("validation", "--data.val_clip_length"):
                self.val_set = SequenceClips(
                    val,
                    hp.val_clip_length,
                    seed=hp.seed + 1_000_003,
                    clips_per_epoch=hp.val_clips,
                    reverse_probability=0.0,
                    mirror_probability=0.0,
                    **common,
                )

    @property
    def longest_clip(self) -> int | None:
        """The most frames a training clip can have (the curriculum grows clips no further),
        or None where any length can be made (synthetic clips) or the data is not set up."""
        if isinstance(self.train_clips, SequenceClips):
            return self.train_clips.longest_clip()
        return None

    def _split(self, sequences: list[Sequence]) -> tuple[list[Sequence], list[Sequence]]:
        hp = self.hparams
        count = len(sequences)
        if hp.split == "time":
            train, val = split_in_time(
                sequences, 1.0 - hp.val_fraction, min_length=hp.val_clip_length
            )
            how = (
                f"{count} sequence(s), validating on the last {hp.val_fraction:g} of each "
                f"(--data.val_fraction) where that is at least {hp.val_clip_length} frames "
                "(--data.val_clip_length),"
            )
        else:
            # Whole videos: the tracks of one KITTI video share their frames.
            units = videos(sequences)
            if len(units) < 2:
                held = f"{count} sequence(s)" + (" of one video" if count > 1 else "")
                raise InputError(
                    f"{hp.root} holds {held}: a split by sequence needs at least 2 videos "
                    "(use --data.split time to split each video in time)"
                )
            every = validation_step(hp.val_fraction)
            picked = np.arange(len(units)) % every == every - 1
            val = [s for unit, v in zip(units, picked, strict=True) if v for s in unit]
            train = [s for unit, v in zip(units, picked, strict=True) if not v for s in unit]
            counted = f"{count} sequences" + (
                f" of {len(units)} videos" if len(units) < count else ""
            )
            how = (
                f"{counted}, validating on one in every {every} "
                f"(--data.val_fraction {hp.val_fraction:g}),"
            )
        for part, name in ((val, "validation"), (train, "training")):
            if not part:
                advice = (
                    f"raise --data.val_fraction to {fraction_for(len(units)):.2f} or more, or "
                    "split each sequence in time (--data.split time)"
                    if hp.split == "sequence"
                    else "change --data.val_fraction or --data.val_clip_length, or split by "
                    "sequence (--data.split sequence)"
                )
                raise InputError(f"{hp.root}: {how} leaves no {name} sequence; {advice}")
        return train, val

    def _loader(self, dataset, training: bool) -> DataLoader:
        workers = self.hparams.num_workers
        if workers > 0:
            # One OpenCV thread per worker, set here before they fork: set inside a forked
            # worker it can hang (see hart.datasets.clips).
            cv2.setNumThreads(1)
        # Its own generator: starting a loader then draws its workers' seeds from it, not from
        # torch's global generator, whose draws (zoneout, dropout) a resumed run must repeat.
        generator = torch.Generator().manual_seed(self.hparams.seed + (0 if training else 1))
        return (ResumableLoader if training else DataLoader)(
            dataset,
            batch_size=self.hparams.batch_size,
            sampler=FreshClipsSampler(dataset) if training else None,
            num_workers=workers,
            persistent_workers=workers > 0,
            # Page-locked batches copy to a GPU asynchronously (Lightning moves them with
            # non_blocking=True), overlapping the copy with the previous step.
            pin_memory=self._on_cuda(),
            drop_last=training,
            generator=generator,
        )

    def _on_cuda(self) -> bool:
        trainer = self.trainer
        return trainer is not None and trainer.strategy.root_device.type == "cuda"

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_clips, training=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, training=False)

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        # Clips travel as uint8 (a quarter of the bytes between processes and to the device);
        # the model takes RGB floats in [0, 1].
        return {**batch, "frames": batch["frames"].float().div_(255.0)}

"""Training callbacks: the clip-length curriculum, ``last.ckpt`` at the end of training, and
what TensorBoard shows of tracking."""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info

from hart.errors import InputError
from hart.media.drawing import tracking_strip


def check_clip_length(length: int, max_length: int, what: str) -> None:
    """Raise :class:`~hart.errors.InputError` unless clips of ``length`` frames (``what``
    names where the length came from) fit a curriculum that grows them up to ``max_length``."""
    if not 2 <= length <= max_length:
        raise InputError(
            f"{what} {length} must be between 2 and --curriculum.max_length ({max_length}): "
            "shorten the clips or raise --curriculum.max_length"
        )


class Curriculum(pl.Callback):
    """Lengthen the training clips when the tracker masters the current length.

    HART trains on short clips first (5 frames) and lengthens them (to 30) as the training IoU
    passes a threshold, because a tracker that cannot follow an object for 5 frames only learns
    noise from 30. After every training epoch, if the epoch's mean training IoU is at least
    ``iou_threshold`` the clip length grows by ``growth`` frames, up to ``max_length`` — or up to
    the data module's ``longest_clip`` where that is shorter (sequences on disk shorter than
    ``max_length``). The current length is logged as ``train/clip_length``.

    The epoch's IoU is the mean of every batch's (the ``"iou"`` the module's ``training_step``
    returns; under DDP every process's batches), summed here rather than read from Lightning's
    epoch metrics: those are not saved in checkpoints, so after a resume in mid-epoch they would
    cover only the batches since. The length and the epoch's running sum are saved, so a resumed
    run decides as the unbroken one.

    It starts from the data module's ``clip_length`` (``--data.clip_length``), which its training
    loader reads, workers included (:class:`hart.training.datamodule.HARTDataModule`).

    Only a whole epoch is judged. An epoch cut short (``max_steps`` or ``max_time`` reached in
    its middle: Lightning still ends it) keeps its running sum, so a run resumed from there goes
    on summing the same epoch. An epoch whose end a resumed run never sees (the checkpoint was
    saved after its last batch, before its end: Lightning counts it done) is judged as the
    resumed run starts, before its first clip is drawn.
    """

    def __init__(self, max_length: int = 30, growth: int = 5, iou_threshold: float = 0.6) -> None:
        if growth < 1:
            raise ValueError(f"growth must be at least 1 frame, got {growth}")
        self.max_length = max_length
        self.growth = growth
        self.iou_threshold = iou_threshold
        self.clip_length: int | None = None  # the data module's, unless a checkpoint says
        self._iou_sum = 0.0  # this epoch's batches so far
        self._batches = 0
        self._seen = 0  # this epoch's batches so far, those without a finite IoU included
        self._epoch: int | None = None  # the epoch the sums are of

    def _apply(self, trainer: pl.Trainer) -> None:
        trainer.datamodule.clip_length = self.clip_length

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.clip_length is None:  # not restored from a checkpoint
            self.clip_length = int(trainer.datamodule.clip_length)
        # hart train checks --data.clip_length when it parses it; a resumed run's length (or
        # a Curriculum used outside hart train) is checked here.
        check_clip_length(self.clip_length, self.max_length, "the clips' length")
        self._apply(trainer)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Sums of an earlier epoch: the run resumes from a checkpoint saved after that epoch's
        # last batch, and Lightning counts the epoch done without ending it (no epoch-end
        # hooks, nor even this epoch's start). Judged here, before any clip is drawn.
        if self._epoch is not None and self._epoch < trainer.current_epoch:
            self._judge(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        pl_module.log("train/clip_length", float(self.clip_length), on_step=True, on_epoch=False)
        self._epoch = trainer.current_epoch
        self._seen += 1
        iou = outputs.get("iou") if isinstance(outputs, Mapping) else None
        if iou is not None and math.isfinite(float(iou)):
            self._iou_sum += float(iou)
            self._batches += 1

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._seen < trainer.num_training_batches:
            return  # cut short by max_steps or max_time: a resumed run finishes this epoch
        self._judge(trainer)

    def _judge(self, trainer: pl.Trainer) -> None:
        """Lengthen the clips if the epoch summed so far passed the threshold; start anew."""
        iou = self._epoch_iou(trainer)
        self._iou_sum, self._batches, self._seen, self._epoch = 0.0, 0, 0, None
        if iou is None or self.clip_length >= self.max_length:
            return
        if iou >= self.iou_threshold:
            grown = min(self.max_length, self.clip_length + self.growth)
            # Sequences on disk may be shorter than max_length: a clip they cannot give would
            # stop the run in the middle of training, as the next epoch draws its first clip.
            longest = getattr(trainer.datamodule, "longest_clip", None)
            if longest is not None and grown > longest:
                if self.clip_length < longest:
                    rank_zero_info(
                        f"Curriculum: clips stop at {longest} frames, the longest the training "
                        f"sequences give (--curriculum.max_length {self.max_length})"
                    )
                grown = max(self.clip_length, longest)
            self.clip_length = grown
            self._apply(trainer)

    def _epoch_iou(self, trainer: pl.Trainer) -> float | None:
        """The mean IoU of the epoch's batches summed so far, over every process: under DDP each
        sums the batches it trained on, and all must lengthen their clips together (or the
        processes train on clips of different lengths, and a resumed run takes rank 0's)."""
        if getattr(trainer, "world_size", 1) <= 1:
            return self._iou_sum / self._batches if self._batches else None
        sums = [self._iou_sum, float(self._batches)]
        sums = torch.tensor(sums, dtype=torch.float64, device=trainer.strategy.root_device)
        iou_sum, batches = trainer.strategy.reduce(sums, reduce_op="sum").tolist()
        return iou_sum / batches if batches else None

    def state_dict(self) -> dict[str, Any]:
        return {
            "clip_length": self.clip_length,
            "iou_sum": self._iou_sum,
            "batches": self._batches,
            "seen": self._seen,
            "epoch": self._epoch,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.clip_length = int(state_dict["clip_length"])
        self._iou_sum = float(state_dict.get("iou_sum", 0.0))  # absent from older checkpoints
        self._batches = int(state_dict.get("batches", 0))
        self._seen = int(state_dict.get("seen", self._batches))
        epoch = state_dict.get("epoch")
        self._epoch = None if epoch is None else int(epoch)


class LastCheckpoint(ModelCheckpoint):
    """``last.ckpt`` every ``every_n_train_steps`` steps, and once more when training ends.

    Lightning's ``save_last`` writes it at the end of training only if nothing was saved during
    the run, so a run stopped by ``--trainer.max_time`` (or ``max_steps``) would leave a
    ``last.ckpt`` up to ``every_n_train_steps`` steps old, and resuming it would repeat those
    steps. A crash or Ctrl-C does not reach ``on_train_end``: the last periodic save stays.

    The final save is made after the last step's batch, where the periodic ones are, not when
    training ends: by then Lightning has ended the epoch, even one that ``max_steps`` or
    ``max_time`` cut short, and counts it done, so a run resumed from there would skip the rest
    of that epoch's clips.
    """

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        # Lightning's Timer (max_time) has set should_stop by now: checkpoint callbacks run last.
        if trainer.should_stop or (0 < trainer.max_steps <= trainer.global_step):
            self._save_last_if_new(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._save_last_if_new(trainer)

    def _save_last_if_new(self, trainer: pl.Trainer) -> None:
        """Write ``last.ckpt`` unless this step's is written already."""
        if self.save_last and trainer.global_step != self._last_global_step_saved:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
            self._last_global_step_saved = trainer.global_step


class DiscardEmptyRun(pl.Callback):
    """A run that fails before its first training step leaves no log folder behind.

    TensorBoard's logger makes ``<save_dir>/<name>/version_N`` as the run starts, before the
    data is read; a run whose data turns out to be unusable would leave that folder with
    nothing in it but the config and an events file without events, and the next run would
    become ``version_N+1``. Removed only if every file in it was written by this run; and with
    it the folders above it, up to ``logs_root`` (``<save_dir>/<name>``, e.g.
    ``checkpoints/synthetic``), that did not exist when the callback was made (with the
    trainer, before anything is written) and are empty now.
    """

    def __init__(self, logs_root: str | Path | None = None) -> None:
        self._started = time.time()
        self._made_by_run = _missing_folders(Path(logs_root)) if logs_root is not None else []

    def on_exception(self, trainer: pl.Trainer, pl_module, exception: BaseException) -> None:
        if trainer.global_step > 0 or trainer.log_dir is None:
            return
        folder = Path(trainer.log_dir)
        if folder.is_dir():
            files = [path for path in folder.rglob("*") if path.is_file()]
            # A second's slack: some file systems keep modification times to the second.
            if all(path.stat().st_mtime >= self._started - 1 for path in files):
                shutil.rmtree(folder, ignore_errors=True)
        for made in self._made_by_run:  # the deepest first
            if made.is_dir() and not any(made.iterdir()):
                made.rmdir()


def _missing_folders(path: Path) -> list[Path]:
    """``path`` and its parents that do not exist, the deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


class TrackingImages(pl.Callback):
    """Show what the tracker sees in TensorBoard, from the first validation batch.

    Every ``every_n_validations`` validations, for the first ``num_clips`` clips of the first
    validation batch, it logs under ``val/``:

    - ``tracking``: a strip of frames with the ground truth (bluish green), the predicted box
      (orange) and the attention box (sky blue), in :mod:`hart.media.drawing`'s colours;
    - ``glimpses``: the glimpse read at each step;
    - ``object_masks``: the appearance-attention mask at each step.

    The module must keep ``last_val_example`` (set by its validation step on batch 0): a dict with
    ``frames`` ``(B, T, 3, H, W)``, ``boxes``, ``pred_boxes``, ``attention_boxes`` ``(B, T, 4)``,
    ``glimpses`` ``(B, T, 3, h, w)`` and ``mask_logits`` ``(B, T, 1, m, m)``.
    """

    def __init__(self, every_n_validations: int = 1, num_clips: int = 2, max_frames: int = 10):
        # Checked here, where a bad value is one line: found at the first validation's end, it
        # was a traceback after the run's first steps.
        for name, value in (
            ("every_n_validations", every_n_validations),
            ("num_clips", num_clips),
            ("max_frames", max_frames),
        ):
            if value < 1:
                raise ValueError(f"--images.{name} must be at least 1, got {value}")
        self.every_n_validations = every_n_validations
        self.num_clips = num_clips
        self.max_frames = max_frames
        self._validations = 0

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        example = getattr(pl_module, "last_val_example", None)
        if example is None or trainer.sanity_checking:
            return
        self._validations += 1
        if (self._validations - 1) % self.every_n_validations:
            return
        writer = _tensorboard_writer(trainer)
        if writer is None:
            return
        step = _logged_step(trainer)
        clips = min(self.num_clips, example["frames"].shape[0])
        frames = min(self.max_frames, example["frames"].shape[1])
        strips = [
            tracking_strip(
                example["frames"][i, :frames],
                example["boxes"][i, :frames],
                example["pred_boxes"][i, :frames],
                example["attention_boxes"][i, :frames],
            )
            for i in range(clips)
        ]
        writer.add_image("val/tracking", np.concatenate(strips, axis=0), step, dataformats="HWC")
        glimpses = example["glimpses"][:clips, :frames].float().clamp(0, 1)  # (b, t, 3, h, w)
        writer.add_image("val/glimpses", _grid(glimpses), step, dataformats="CHW")
        masks = torch.sigmoid(example["mask_logits"][:clips, :frames].float())  # (b, t, 1, m, m)
        writer.add_image("val/object_masks", _grid(masks), step, dataformats="CHW")


def _logged_step(trainer: pl.Trainer) -> int:
    """The step Lightning logs this validation's scalars (``val/iou`` …) at, for pictures that
    go with them: the count of training batches that stepped, which grows only after the
    validation that ends a batch (``trainer.global_step``, the optimiser's count, is one ahead
    there). Lightning's logger connector and its LearningRateMonitor read the same counter."""
    return trainer.fit_loop.epoch_loop._batches_that_stepped


def _grid(images: torch.Tensor) -> torch.Tensor:
    """``(rows, cols, C, h, w)`` → one ``(C, rows·h, cols·w)`` image, rows of clips."""
    rows, cols, channels, height, width = images.shape
    grid = images.permute(2, 0, 3, 1, 4)  # (C, rows, h, cols, w)
    return grid.reshape(channels, rows * height, cols * width).cpu()


def _tensorboard_writer(trainer: pl.Trainer):
    for logger in trainer.loggers:
        experiment = getattr(logger, "experiment", None)
        if experiment is not None and hasattr(experiment, "add_image"):
            return experiment
    return None

"""The LightningModule: HART, its losses and its optimiser, one ``_step`` for every stage."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import grad_norm

from hart.errors import InputError, TrainingDiverged
from hart.model.checkpoint import load_model, load_weights
from hart.model.hart import HARTConfig, HARTOutput, build_hart
from hart.model.losses import (
    TASK_TERMS,
    AdaptiveLossWeights,
    hart_losses,
    mean_iou,
    scored_frames,
)
from hart.training.random_state import capture_random_state, restore_random_state

Optimizer = Literal["rmsprop", "adam", "adamw", "sgd"]
Schedule = Literal["constant", "cosine"]


class HARTModule(pl.LightningModule):
    """Train HART on batches of clips.

    A batch is ``{"frames": (B, T, 3, H, W) RGB [0, 1], "boxes": (B, T, 4) xywh px (NaN where
    absent), "visible": (B, T) bool}``; the tracker is given the box in frame 0 and predicts
    all ``T`` frames.

    Args:
        config: the network's hyper-parameters (the paper's by default).
        optimizer: ``"rmsprop"`` (the paper's, with ``momentum``), ``"adam"``, ``"adamw"`` or
            ``"sgd"`` (with ``momentum``).
        lr: learning rate. The paper's 3.3e-6 suits its 400k iterations on KITTI
            (``configs/kitti.yaml``); 1e-4 learns the synthetic default within minutes.
        momentum: for RMSProp and SGD.
        lr_schedule: ``"constant"`` or ``"cosine"`` decay to 1% over ``trainer.max_steps``.
        weight_decay: weight of the L2 penalty on the weights and the dynamic filters.
        adaptive_weights: combine the box, attention and mask losses with learned weights (as
            the paper's code does) rather than summing them.
        attention_area_weight: weight of the attention loss's area term (keeps it tight).
        box_centre_weight: weight of a centre-distance term added to the box loss (DIoU's;
            0 in the paper): it still pulls a box that no longer overlaps its target.
        init_weights: a hart checkpoint or exported model (``hart/model/default/hart.ckpt``)
            whose network weights this run starts from, with a fresh optimiser and step 0:
            fine-tuning. Its network must have this config's shapes. A run resumed with
            ``--ckpt_path`` continues from its own weights instead.
    """

    def __init__(
        self,
        config: HARTConfig | None = None,
        optimizer: Optimizer = "rmsprop",
        lr: float = 1e-4,
        momentum: float = 0.9,
        lr_schedule: Schedule = "constant",
        weight_decay: float = 1e-5,
        adaptive_weights: bool = True,
        attention_area_weight: float = 0.25,
        box_centre_weight: float = 0.0,
        init_weights: str | None = None,
    ) -> None:
        super().__init__()
        check_optimiser_settings(lr, momentum)
        config = config or HARTConfig()
        # Stored as a plain dict so that a checkpoint rebuilds the model with nothing but hart.
        self.save_hyperparameters({"config": asdict(config)} | _without_config(locals()))
        self.model = build_hart(config)
        self.loss_weights = AdaptiveLossWeights(TASK_TERMS) if adaptive_weights else None
        self.last_val_example: dict[str, torch.Tensor] | None = None
        self._random_state_to_restore: dict | None = None
        # Set (by `hart train`) when the run resumes from a --ckpt_path, whose own weights
        # Lightning restores after setup: the init_weights are then not read at all.
        self.resuming = False

    def setup(self, stage: str) -> None:
        # Here rather than in __init__: a checkpoint rebuilt for tracking never reads the file
        # again. A resumed run never reads it either: the file it was fine-tuned from may have
        # moved since, or changed (a newer shipped default), and its weights would be replaced.
        path = self.hparams.get("init_weights")
        if stage == "fit" and path is not None and not self.resuming:
            mismatch = f"--model.init_weights {path} does not fit this run's model config"
            load_weights(self.model, load_model(path).state_dict(), mismatch)

    def forward(self, frames: torch.Tensor, box0: torch.Tensor):
        return self.model(frames, box0)

    # ------------------------------------------------------------------------------ steps

    def _step(
        self, batch: dict[str, torch.Tensor], stage: str
    ) -> tuple[torch.Tensor, torch.Tensor | None, HARTOutput]:
        """Losses and metrics of one batch, logged under ``{stage}/``: ``(total loss, mean IoU
        over frames 1..T-1 or None where the target shows in none of them, output)``."""
        frames, boxes, visible = batch["frames"], batch["boxes"], batch["visible"]
        output = self.model(frames, boxes[:, 0])
        losses = hart_losses(
            output,
            boxes,
            visible,
            self.model.parameters(),
            weighting=self.loss_weights,
            weight_decay=self.hparams.weight_decay,
            area_weight=self.hparams.attention_area_weight,
            centre_weight=self.hparams.box_centre_weight,
        )
        # Frame 0's box is given, so it is not scored: IoU over frames 1..T-1.
        iou = mean_iou(output.boxes[:, 1:], boxes[:, 1:], visible[:, 1:])
        # A tracker that never moves its box: the floor any learning must clear.
        static = boxes[:, :1].expand_as(boxes[:, 1:])
        static_iou = mean_iou(static, boxes[:, 1:], visible[:, 1:])

        on_step = stage == "train"
        # Under DDP each process trains and validates on its share of the clips: without the
        # sum over all processes, an epoch's values (val/iou and the best checkpoint chosen by
        # it, train/iou_epoch …) would be rank 0's share alone. Lightning syncs a value logged
        # on_step at every step as well: a training step's values are the processes' mean.
        logged = {"on_step": on_step, "on_epoch": True, "sync_dist": True}
        clips = frames.shape[0]
        self.log(f"{stage}/loss", losses["total"], prog_bar=True, batch_size=clips, **logged)
        terms = {f"{stage}/loss_{name}": value for name, value in losses.items() if name != "total"}
        self.log_dict(terms, batch_size=clips, **logged)
        # Each IoU is a mean over the batch's scored frames; weighted by their count, an epoch's
        # is the mean over all its frames whichever batches (or processes) the clips fell in,
        # and a batch whose target is absent after frame 0 weighs nothing instead of scoring 0.
        # A float: Lightning sums an int weight into an int tensor, whose mean over processes
        # it truncates (frames 3 and 2 → 2, not 2.5).
        scored = float(scored_frames(boxes[:, 1:], visible[:, 1:]))
        self.log(f"{stage}/iou", iou, prog_bar=True, batch_size=scored, **logged)
        self.log(f"{stage}/iou_static", static_iou, batch_size=scored, **logged)
        if stage == "val":
            self.log("hp_metric", iou, batch_size=scored, **logged)
        return losses["total"], (iou if scored else None), output

    def training_step(
        self, batch: dict[str, torch.Tensor], batch_idx: int
    ) -> dict[str, torch.Tensor]:
        """``{"loss", "iou"}``: the curriculum reads each batch's IoU (hart.training.callbacks);
        no ``"iou"`` where the target shows in no frame after the first."""
        loss, iou, _ = self._step(batch, "train")
        if not torch.isfinite(loss):
            # Raised before the optimiser step: the weights and every checkpoint stay good.
            # Not "resume with a smaller learning rate": a --ckpt_path brings back its run's
            # hyper-parameters and optimiser, whatever --model.lr says.
            raise TrainingDiverged(
                f"the training loss became {float(loss.detach())} at step {self.global_step}; "
                "the last good checkpoint is kept: start a new run from its weights with a "
                "smaller learning rate (--model.init_weights CHECKPOINT --model.lr …): "
                "--ckpt_path would resume it at its own"
            )
        if self.loss_weights is not None:
            weights = {f"train/weight_{k}": v for k, v in self.loss_weights.weights().items()}
            self.log_dict(weights, on_step=True, on_epoch=False)
        return {"loss": loss} | ({"iou": iou.detach()} if iou is not None else {})

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        _, _, output = self._step(batch, "val")
        if batch_idx == 0:
            keep = slice(0, 4)  # a few clips are plenty for pictures
            self.last_val_example = {
                "frames": batch["frames"][keep].detach().cpu(),
                "boxes": batch["boxes"][keep].detach().cpu(),
                "pred_boxes": output.boxes[keep].detach().cpu(),
                "attention_boxes": output.attention_boxes[keep].detach().cpu(),
                "glimpses": output.glimpses[keep].detach().cpu(),
                "mask_logits": output.mask_logits[keep].detach().cpu(),
            }

    # ------------------------------------------------------------------------------ resuming

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Zoneout and dropout draw from torch's generator: a resumed run must go on drawing
        # what the unbroken run would have drawn.
        checkpoint["random_state"] = capture_random_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # Put back when training starts, not now: the sanity-check validation comes between.
        self._random_state_to_restore = checkpoint.get("random_state")

    def on_train_start(self) -> None:
        if self._random_state_to_restore is not None:
            restore_random_state(self._random_state_to_restore)
            self._random_state_to_restore = None

    def on_before_optimizer_step(self, optimizer) -> None:
        norms = grad_norm(self, norm_type=2)
        total = norms.get("grad_2.0_norm_total")
        if total is not None:
            self.log("train/grad_norm", total, on_step=True, on_epoch=False)

    # ------------------------------------------------------------------------------ optimiser

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        lr, momentum = self.hparams.lr, self.hparams.momentum
        optimizer = {
            "rmsprop": lambda: torch.optim.RMSprop(params, lr=lr, momentum=momentum),
            "adam": lambda: torch.optim.Adam(params, lr=lr),
            "adamw": lambda: torch.optim.AdamW(params, lr=lr),
            "sgd": lambda: torch.optim.SGD(params, lr=lr, momentum=momentum),
        }[self.hparams.optimizer]()
        if self.hparams.lr_schedule == "constant":
            return optimizer
        total = self.trainer.max_steps
        if total is None or total < 1:
            raise InputError("--model.lr_schedule cosine decays over --trainer.max_steps; give it")

        def cosine(step: int) -> float:
            progress = min(1.0, step / total)
            return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def check_optimiser_settings(lr: float, momentum: float) -> None:
    """Raise ValueError (one line from ``hart train``) for a learning rate or momentum the
    optimiser would refuse when training starts, with a traceback: a negative rate or one that
    does not fit the weights' float32, a negative momentum. A rate of 0 trains nothing and is
    allowed (a run that only logs, or a test that the weights stay as they were)."""
    if not 0 <= lr <= torch.finfo(torch.float32).max:
        raise ValueError(f"--model.lr must be 0 or more (at most 3.4e38), got {lr:g}")
    if not 0 <= momentum <= torch.finfo(torch.float32).max:
        raise ValueError(f"--model.momentum must be 0 or more, got {momentum:g}")


def _without_config(arguments: dict) -> dict:
    return {k: v for k, v in arguments.items() if k not in ("self", "config", "__class__")}

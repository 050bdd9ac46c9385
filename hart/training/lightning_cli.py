"""``hart train``: LightningCLI over :class:`HARTModule` and :class:`HARTDataModule`.

``hart train [fit|validate|test] [--config configs/X.yaml] [--trainer.max_steps N …]``. With no
sub-command it fits; with no config it trains on the built-in synthetic data, logging to
``checkpoints/`` (``tensorboard --logdir checkpoints`` shows every run). LightningCLI saves the
config used next to the logs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from jsonargparse import ArgumentError
from lightning.pytorch.cli import LightningCLI

from hart.errors import InputError
from hart.training.datamodule import HARTDataModule
from hart.training.module import HARTModule

SUBCOMMANDS = ("fit", "validate", "test")


def trainer_defaults() -> dict:
    """What a HART run wants unless the config says otherwise.

    Checkpoints: the best by ``val/iou`` and ``last.ckpt``, the latter refreshed every 200
    steps so that a crash loses at most 200 steps. Gradients clipped at norm 0.3 as in the paper.
    """
    return {
        "default_root_dir": "checkpoints",
        "gradient_clip_val": 0.3,
        "logger": {
            "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
            "init_args": {"save_dir": "checkpoints", "name": "synthetic"},
        },
        "callbacks": [
            {
                "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                "init_args": {
                    "monitor": "val/iou",
                    "mode": "max",
                    "filename": "best-{step}",
                    "save_last": True,
                    "every_n_train_steps": 200,
                    "auto_insert_metric_name": False,
                },
            },
            {"class_path": "lightning.pytorch.callbacks.LearningRateMonitor"},
            {"class_path": "hart.training.callbacks.Curriculum"},
            {"class_path": "hart.training.callbacks.TrackingImages"},
        ],
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in SUBCOMMANDS + ("-h", "--help"):
        args.insert(0, "fit")
    try:
        LightningCLI(
            HARTModule,
            HARTDataModule,
            args=args,
            trainer_defaults=trainer_defaults(),
            parser_kwargs={name: {"exit_on_error": False} for name in SUBCOMMANDS}
            | {"exit_on_error": False},
            save_config_kwargs={"overwrite": True},
            auto_configure_optimizers=False,
        )
    except ArgumentError as error:
        raise InputError(_first_line(error)) from None
    return 0


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else repr(error)

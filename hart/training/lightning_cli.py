"""``hart train``: LightningCLI over :class:`HARTModule` and :class:`HARTDataModule`.

``hart train [fit|validate] [--config configs/X.yaml] [--trainer.max_steps N …]``. With no
sub-command it fits; with no config it trains on the built-in synthetic data, logging to
``checkpoints/`` (``tensorboard --logdir checkpoints`` shows every run). LightningCLI saves the
config used next to the logs.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import torch
from jsonargparse import ArgumentError, lazy_instance
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch import Trainer
from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, Timer
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger

from hart.errors import InputError, first_line
from hart.model.checkpoint import read_checkpoint
from hart.training.callbacks import (
    Curriculum,
    DiscardEmptyRun,
    LastCheckpoint,
    TrackingImages,
    check_clip_length,
)
from hart.training.checkpoint_io import AtomicCheckpointIO
from hart.training.datamodule import HARTDataModule
from hart.training.module import HARTModule
from hart.training.start_logs import HeldBackLogs, ReleaseHeldLogs

# No `test`: the data module has no test split (a trained model is measured on whole
# sequences by `hart evaluate`), and Lightning's test loop without one is a traceback.
SUBCOMMANDS = ("fit", "validate")


def trainer_defaults() -> dict:
    """What a HART run wants unless the config says otherwise: TensorBoard logs under
    ``checkpoints/``, gradients clipped at norm 0.3 as in the paper, the learning rate logged."""
    return {
        "default_root_dir": "checkpoints",
        "gradient_clip_val": 0.3,
        "logger": lazy_instance(TensorBoardLogger, save_dir="checkpoints", name="synthetic"),
        "callbacks": [LearningRateMonitor()],
    }


class HARTCLI(LightningCLI):
    """LightningCLI with HART's always-present, configurable callbacks.

    - ``checkpoint``: the best model by ``val/iou``, saved when a validation finds it;
    - ``last_checkpoint``: ``last.ckpt``, refreshed every 200 steps, so that a crash loses at
      most 200 steps (``--last_checkpoint.every_n_train_steps``), and when training ends;
      resume with ``--ckpt_path``;
    - ``curriculum``: clip lengths from 5 to 30 (``--curriculum.iou_threshold`` …);
    - ``images``: tracking pictures in TensorBoard (``--images.every_n_validations`` …).

    Checkpoints are written beside their final name and moved into place in one step
    (:class:`~hart.training.checkpoint_io.AtomicCheckpointIO`), unless ``--trainer.plugins``
    names another writer.

    A ``fit`` or ``validate`` run's ``--ckpt_path`` is checked to be a whole training checkpoint
    (:func:`check_resumable`); a setting the model's, the data's or the trainer's constructor
    refuses is one error line, not a traceback; a run that fails before its first step leaves no
    log folder (:class:`~hart.training.callbacks.DiscardEmptyRun`), and Lightning's start-up
    lines wait until the run starts (:class:`~hart.training.start_logs.HeldBackLogs`), so that
    such an error is all a user sees.
    """

    def __init__(self, *args, **kwargs) -> None:
        # LightningCLI's __init__ parses, builds and runs everything.
        self._start_logs = HeldBackLogs()
        with self._start_logs:
            super().__init__(*args, **kwargs)

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        # No `predict`: HARTModule has no predict step (tracking a video is `hart track`); no
        # `test`: see SUBCOMMANDS.
        return {
            name: skipped
            for name, skipped in LightningCLI.subcommands().items()
            if name in SUBCOMMANDS
        }

    def instantiate_trainer(self, **kwargs) -> Trainer:
        config = self.config_init[self.subcommand] if self.subcommand else self.config_init
        settings = dict(config.get("trainer") or {}) | kwargs
        check_accelerator(settings.get("accelerator"))
        if settings.get("enable_checkpointing") is False:
            # Lightning refuses it beside the checkpoint callbacks hart always adds.
            raise InputError(
                "--trainer.enable_checkpointing false: hart train always keeps checkpoints "
                "(best-STEP.ckpt and last.ckpt, for resuming); leave the option out"
            )
        # The trainer's constructor checks the devices, strategy … it is given, all of them
        # from the command line or a config file; its errors are tracebacks of several types.
        try:
            trainer = super().instantiate_trainer(**kwargs)
        except (MisconfigurationException, ValueError, TypeError) as error:
            raise InputError(trainer_error_line(error, settings)) from None
        if self.subcommand == "fit":
            check_trains_something(trainer)
        if not trainer.loggers:  # --trainer.logger false
            # The learning rate would be logged nowhere, and LearningRateMonitor (one of
            # trainer_defaults') stops such a run with a traceback as training starts.
            trainer.callbacks = [
                callback
                for callback in trainer.callbacks
                if not isinstance(callback, LearningRateMonitor)
            ]
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:  # not one a user chose
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        trainer.callbacks.append(DiscardEmptyRun(logs_root(trainer)))
        trainer.callbacks.append(ReleaseHeldLogs(self._start_logs))
        return trainer

    def instantiate_classes(self) -> None:
        # The model's and the data's constructors check their settings and raise ValueError,
        # Lightning's callbacks (--last_checkpoint.every_n_train_steps -3) a
        # MisconfigurationException: a bad value there came from the command line or a config
        # file, so it is one line.
        try:
            super().instantiate_classes()
        except (ValueError, MisconfigurationException) as error:
            # A dataclass of settings (--data.synthetic) whose constructor refused a value:
            # jsonargparse frames the reason as its parser's errors, under a first line that
            # only says the value is none of its type's alternatives.
            framed = str(error).startswith(_PARSER_FRAMING)
            raise InputError(parser_error_line(error) if framed else first_line(error)) from None

    def parse_arguments(self, parser, args) -> None:
        with warnings.catch_warnings():
            # `hart train` hands LightningCLI the arguments after "train" (with "fit" put first)
            # through `args`, as that is meant for; Lightning warns whenever sys.argv holds
            # arguments as well, which the `hart` command's always does.
            warnings.filterwarnings(
                "ignore", message="LightningCLI's args parameter is intended", category=UserWarning
            )
            super().parse_arguments(parser, args)
        # Checked here, as soon as it is known: LightningCLI reads the file next (for its
        # hyper-parameters), and PyTorch's errors about a bad one are tracebacks.
        # `validate` reads its --ckpt_path's weights from the same kind of file.
        subcommand = self.config.get("subcommand")
        path = self.config[subcommand].get("ckpt_path") if subcommand in SUBCOMMANDS else None
        # "last", "best" … are Lightning's names for checkpoints it finds itself.
        if path is not None and (Path(path).exists() or Path(path).suffix):
            check_resumable(path, subcommand)
        elif path == "best":
            # Lightning's best_model_path of an earlier fit in the same process: a new
            # `hart train` has none, and Lightning's ValueError saying so was a traceback.
            raise InputError(
                f"--ckpt_path best names the best checkpoint of a fit earlier in the same "
                f"process, and hart train {subcommand} starts a new one: give the file "
                "(…/version_N/checkpoints/best-STEP.ckpt)"
            )
        if subcommand == "fit":
            # Before anything is built: found at the start of fit (as the curriculum would),
            # it would cost the data set's loading first.
            config = self.config[subcommand]
            check_clip_length(
                config["data"]["clip_length"],
                config["curriculum"]["max_length"],
                "--data.clip_length",
            )

    def _run_subcommand(self, subcommand: str) -> None:
        # Lightning meets Ctrl-C with a graceful shutdown and then sys.exit(1), which would make
        # an interrupted run look like a failed one; every hart command exits 130 on Ctrl-C, so
        # the interrupt goes on up to the `hart` command as the KeyboardInterrupt it was.
        try:
            super()._run_subcommand(subcommand)
        except SystemExit as exit_:
            if exit_.code == 1 and self.trainer.interrupted:
                raise KeyboardInterrupt from None
            raise
        except ValueError as error:
            line = validation_interval_error_line(error)
            if line is None:
                raise
            raise InputError(line) from None

    def before_fit(self) -> None:
        # A --ckpt_path holds the run's weights; Lightning reads them after the model's setup,
        # which would otherwise load the --model.init_weights the run started from first.
        path = self.config_init["fit"].get("ckpt_path")
        if path == "last":
            check_last_can_be_found(self.trainer)
            # The file Lightning will resume from, checked as a named one is: without it, a
            # run with no time left stopped before its first step, exit 0.
            path = last_checkpoint_file(self.trainer)
            if path is not None:
                check_resumable(path)
        self.model.resuming = path is not None and Path(path).is_file()
        if self.model.resuming:
            check_time_left(self.trainer, path)

    def before_validate(self) -> None:
        # Not finding it, Lightning validates the weights the model starts with, exit 0.
        if self.config_init["validate"].get("ckpt_path") == "last":
            check_last_can_be_found(self.trainer)

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/iou",
                "checkpoint.mode": "max",
                "checkpoint.filename": "best-{step}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )
        parser.add_lightning_class_args(LastCheckpoint, "last_checkpoint")
        parser.set_defaults(
            {
                "last_checkpoint.save_top_k": 0,
                "last_checkpoint.save_last": True,
                "last_checkpoint.every_n_train_steps": 200,
            }
        )
        parser.add_lightning_class_args(Curriculum, "curriculum")
        parser.add_lightning_class_args(TrackingImages, "images")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in SUBCOMMANDS + ("-h", "--help"):
        args.insert(0, "fit")
    try:
        build_cli(args)
    except ArgumentError as error:
        raise InputError(parser_error_line(error)) from None
    return 0


# Lines of jsonargparse's messages that only frame the reason: a union type (an optional setting,
# a dataclass of settings) lists each alternative; None's is never the one a user meant.
_PARSER_FRAMING = (
    "Does not validate against any of the Union subtypes",
    "Subtypes:",
    "Errors:",
    "Given value type:",
    "Given value: NestedArg(",
    "Given value: Namespace(",
    "Problem with given class_path",
    "Expected a <class 'NoneType'>",
)


def parser_error_line(error: Exception) -> str:
    """jsonargparse's error as one line: the option, and why its value was refused.

    Its messages run to several lines: ``Parser key "trainer.max_steps":`` with the reason
    indented below it, or for a setting inside a dataclass (``--model.config.lstm_size``) the
    dataclass's key, then the field's key and reason nested under its union's alternatives.
    """
    keys: list[str] = []
    reasons: list[str] = []
    for line in str(error).splitlines():
        text = line.strip().removeprefix("- ")
        key = re.fullmatch(r'Parser key "([^"]+)":\s*(.*)', text)
        if key is not None:
            keys.append(key[1])
            text = key[2]
        if text and not text.startswith(_PARSER_FRAMING):
            reasons.append(text)
    reason = "; ".join(reasons) or first_line(error)
    return f"--{'.'.join(keys)}: {reason}" if keys else reason


def check_accelerator(name: object) -> None:
    """Raise :class:`~hart.errors.InputError` for ``--trainer.accelerator gpu`` on a machine
    without one: Lightning's own error ("No supported gpu backend found!") names neither the
    option nor what to do instead."""
    if name == "gpu" and not (CUDAAccelerator.is_available() or MPSAccelerator.is_available()):
        raise InputError(
            "--trainer.accelerator gpu: no GPU is available here (PyTorch sees no CUDA or MPS "
            "device); train on the CPU with --trainer.accelerator cpu (or auto)"
        )


def check_trains_something(trainer: Trainer) -> None:
    """Raise :class:`~hart.errors.InputError` for a fit whose limits allow no step:
    ``--trainer.max_steps 0``, ``--trainer.max_epochs 0`` or ``--trainer.max_time`` of zero.

    Lightning runs such a fit to its end without a step, and the run's empty log folder is
    discarded: a mistyped limit looked like a finished run that had written nothing."""
    # -1 (or None) is Lightning's "no limit" for steps and epochs.
    zero_limits = [name for name in ("max_steps", "max_epochs") if getattr(trainer, name) == 0]
    timers = [callback for callback in trainer.callbacks if isinstance(callback, Timer)]
    zero_limits += ["max_time" for timer in timers if timer.time_remaining() == 0]
    if zero_limits:
        raise InputError(f"--trainer.{zero_limits[0]} of 0 allows no training step")


def trainer_error_line(error: Exception, settings: dict) -> str:
    """The trainer's constructor's error as one line, naming the ``--trainer`` option when its
    message does: Lightning writes the argument it refuses in backquotes (`devices`,
    `Trainer(devices=0)`), next to other names (`CPUAccelerator`)."""
    message = first_line(error)
    for name in re.findall(r"`(?:Trainer\()?(\w+)", message):
        if name in settings:
            return f"--trainer.{name} {settings[name]}: {message}"
    return f"a --trainer setting was refused: {message}"


# Lightning's refusal, when fit starts, of a validation interval longer than an epoch.
_INTERVAL_REFUSED = re.compile(
    r"`val_check_interval` \((\d+)\) must be less than or equal to the number of the "
    r"training batches \((\d+)\)"
)


def validation_interval_error_line(error: ValueError) -> str | None:
    """Lightning's error for ``--trainer.val_check_interval`` N beyond the batches of one
    epoch as one line that names hart's options; None for any other error.

    Found only when fit starts (the epoch's length is the data module's), and Lightning's
    advice names its own settings (``limit_val_batches``), not the command's options."""
    match = _INTERVAL_REFUSED.search(str(error))
    if match is None:
        return None
    interval, batches = match.groups()
    return (
        f"--trainer.val_check_interval {interval} is more than the {batches} training batches "
        "of an epoch (--data.clips_per_epoch / --data.batch_size, per process); give at most "
        f"{batches}, or add --trainer.check_val_every_n_epoch null to count batches across epochs"
    )


def logs_root(trainer: Trainer) -> Path:
    """The folder a run's log folder goes in: ``<save_dir>/<name>`` of its logger
    (``checkpoints/synthetic``), or the trainer's root folder without one."""
    root = getattr(trainer.logger, "root_dir", None)
    return Path(root if root is not None else trainer.default_root_dir)


def build_cli(args: Sequence[str], run: bool = True) -> HARTCLI:
    """The LightningCLI ``hart train`` runs, on ``args`` (a sub-command first when ``run``).

    With ``run=False`` it builds the model, the data module and the trainer from ``args`` and
    fits nothing: ``scripts/bench_train.py`` times the same objects.
    """
    return HARTCLI(
        HARTModule,
        HARTDataModule,
        args=list(args),
        run=run,
        trainer_defaults=trainer_defaults(),
        parser_kwargs={name: {"exit_on_error": False} for name in SUBCOMMANDS}
        | {"exit_on_error": False, "prog": "hart train"},
        save_config_kwargs={"overwrite": True},
        # What every config says (and Lightning's default picks, with a warning that none was
        # given): runs are repeatable unless --seed_everything says otherwise.
        seed_everything_default=0,
        auto_configure_optimizers=False,
    )


def check_last_can_be_found(trainer: Trainer) -> None:
    """Raise :class:`~hart.errors.InputError` for ``--ckpt_path last`` where it can only train
    from scratch.

    Lightning looks for ``last.ckpt`` in this run's own checkpoint folder and, finding none,
    starts afresh with a warning among its start-up lines (so that a job script can give it
    before its first run). Under a logger that numbers its runs that folder is a new
    ``version_N`` every time: a run killed and started again with the same line would restart
    from step 0, every time, and exit 0; ``validate`` would validate the untrained weights.
    """
    own_folder = any(callback.dirpath is not None for callback in trainer.checkpoint_callbacks)
    # TensorBoardLogger's (and CSVLogger's) version is None until it picks the next number.
    numbered = trainer.logger is not None and getattr(trainer.logger, "_version", "") is None
    if numbered and not own_folder:
        raise InputError(
            "--ckpt_path last looks in this run's own folder, and a new run gets a new one "
            "(version_N), where it finds none: give the file (…/version_N/checkpoints/"
            "last.ckpt), or name the run's folder with "
            "--trainer.logger.init_args.version NAME"
        )


def last_checkpoint_file(trainer: Trainer) -> Path | None:
    """The file ``--ckpt_path last`` resumes from: the newest ``last*.ckpt`` in the folders of
    the run's checkpoint callbacks, as Lightning picks it; None where there is none (Lightning
    then trains from scratch)."""
    candidates = set()
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint):
            candidates |= callback._find_last_checkpoints(trainer)
    found = [Path(path) for path in candidates if Path(path).is_file()]
    return max(found, key=lambda path: path.stat().st_mtime, default=None)


def check_time_left(trainer: Trainer, path: str | Path) -> None:
    """Raise :class:`~hart.errors.InputError` where the run in checkpoint ``path`` has already
    trained for all of ``--trainer.max_time``: Lightning's timer counts the whole run, the
    parts before a resume included, so the resumed run would stop before its first step, exit
    0 and leave a log folder with nothing in it (a time-boxed run resumed with its own line)."""
    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    limit = timer.time_remaining() if timer is not None else None  # all of it: not started
    if limit is None:
        return
    saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    spent = saved.get("callbacks", {}).get("Timer", {}).get("time_elapsed", {}).get("train", 0)
    if spent >= limit:
        raise InputError(
            f"{path}: its run has trained for {timedelta(seconds=round(spent))}, all of "
            f"--trainer.max_time {timedelta(seconds=round(limit))}, which counts the whole run: "
            "raise --trainer.max_time to go on"
        )


def check_resumable(path: str | Path, subcommand: str = "fit") -> None:
    """Raise :class:`~hart.errors.InputError` unless ``path`` is a training checkpoint a run can
    resume from (``fit``) or validate (``validate``): a readable hart checkpoint (not a folder,
    empty, cut short or NaN; see :func:`hart.model.checkpoint.read_checkpoint`) with the
    optimiser and loop state that an exported model leaves out (Lightning reads them, or its
    version beside them, and stops with a traceback where they are missing)."""
    checkpoint = read_checkpoint(path)
    if not {"optimizer_states", "loops", "global_step"} <= checkpoint.keys():
        instead = (
            "resume from a run's checkpoints/last.ckpt, or start a new run from these weights "
            f"with --model.init_weights {path}"
            if subcommand == "fit"
            else "validate the training checkpoint it was exported from, or measure it on "
            f"whole sequences with hart evaluate ROOT --checkpoint {path}"
        )
        raise InputError(
            f"{path} is an exported model (network weights only), not a training checkpoint: "
            f"{instead}"
        )

"""Steps and clips per second of ``hart train``'s step, and the time share spent waiting for data.

    python scripts/bench_train.py                                   # configs/synthetic.yaml, CPU
    python scripts/bench_train.py --config configs/got10k.yaml --data.root data/got10k \\
        --device cuda --precision bf16-mixed --batch-size 32 --clip-length 30

The model, data module and trainer are built from the config exactly as ``hart train`` builds
them (any further ``--section.key value`` flags pass through to it), then trained for
``--warmup`` untimed steps and ``--steps`` timed ones without validation. A step is what the
trainer does per batch: the model over the clip, the losses, backward, gradient clipping and the
optimiser (timed from the batch's arrival on the device to the end of the step, the device
synchronised). Waiting for data is the time between one step's end and the next batch's arrival
on the device: the loader's workers, the copy to the device, Lightning's own bookkeeping.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
from jsonargparse import ArgumentError

from hart.errors import InputError
from hart.training.lightning_cli import build_cli, parser_error_line

REPO = Path(__file__).resolve().parents[1]


class StepTimer(pl.Callback):
    """Times each training step and the wait for its batch, after ``warmup`` steps."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.steps: list[float] = []
        self.waits: list[float] = []
        self.lengths: set[int] = set()  # the clip lengths T of the timed steps
        self._arrived = self._ended = None

    def _now(self, trainer: pl.Trainer) -> float:
        device = trainer.strategy.root_device
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._arrived = self._now(trainer)
        if self._ended is not None and trainer.global_step >= self.warmup:
            self.waits.append(self._arrived - self._ended)
            self.lengths.add(batch["frames"].shape[1])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._ended = self._now(trainer)
        if trainer.global_step > self.warmup:
            self.steps.append(self._ended - self._arrived)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Other --section.key flags go to hart train's configuration.",
    )
    parser.add_argument("--config", default=str(REPO / "configs" / "synthetic.yaml"))
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps (one device)")
    parser.add_argument("--precision", default="32-true", help="32-true, bf16-mixed, 16-mixed")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the config's")
    parser.add_argument("--clip-length", type=int, default=None, help="default: the config's")
    parser.add_argument("--workers", type=int, default=None, help="default: the config's")
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    args, extra = parser.parse_known_args(argv)
    if args.steps < 1 or args.warmup < 0:
        parser.error(
            f"--steps must be at least 1 and --warmup at least 0, got {args.steps}, {args.warmup}"
        )
    accelerator = {"cuda": "gpu"}.get(args.device, args.device)
    with tempfile.TemporaryDirectory() as scratch:
        cli_args = ["--config", args.config, *extra]
        cli_args += [
            f"--trainer.accelerator={accelerator}",
            "--trainer.devices=1",
            f"--trainer.precision={args.precision}",
            f"--trainer.max_steps={args.warmup + args.steps}",
            "--trainer.max_time=null",
            "--trainer.limit_val_batches=0",
            "--trainer.num_sanity_val_steps=0",
            "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false",
            f"--trainer.logger.init_args.save_dir={scratch}",
            f"--trainer.default_root_dir={scratch}",
        ]
        for flag, value in (
            ("batch_size", args.batch_size),
            ("clip_length", args.clip_length),
            ("num_workers", args.workers),
        ):
            if value is not None:
                cli_args.append(f"--data.{flag}={value}")
        try:
            cli = build_cli(cli_args, run=False)
        except ArgumentError as error:  # a value hart train's parser refuses
            parser.error(parser_error_line(error))
        except InputError as error:  # a setting the model, the data or the trainer refuses
            parser.error(str(error))
        data = cli.datamodule
        # One epoch holds every step: no epoch end, so no curriculum change mid-run.
        data.hparams.clips_per_epoch = data.hparams.batch_size * (args.warmup + args.steps + 2)
        timer = StepTimer(args.warmup)
        cli.trainer.callbacks.append(timer)
        cli.trainer.fit(cli.model, datamodule=data)
    hp = data.hparams
    step = statistics.median(timer.steps)
    total = sum(timer.steps) + sum(timer.waits)
    wait_share = sum(timer.waits) / total
    threads = torch.get_num_threads()
    print(
        f"{Path(args.config).name} on {args.device} ({threads} CPU threads), {args.precision}, "
        f"{hp.num_workers} loader workers; {len(timer.steps)} steps timed after {args.warmup}"
    )
    print("| batch | T | frames H×W | ms per step | steps/s | clips/s | waiting for data |")
    print("|---|---|---|---|---|---|---|")
    clips_per_second = hp.batch_size * len(timer.steps) / total
    lengths = ", ".join(map(str, sorted(timer.lengths)))
    cells = [hp.batch_size, lengths, "×".join(map(str, hp.frame_size))]
    cells += [f"{step * 1e3:.0f}", f"{len(timer.steps) / total:.3g}", f"{clips_per_second:.3g}"]
    cells.append(f"{wait_share:.0%}")
    print("| " + " | ".join(map(str, cells)) + " |", flush=True)


if __name__ == "__main__":
    sys.exit(main())

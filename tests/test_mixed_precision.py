"""Mixed precision end to end: hart train with bfloat16 autocast trains, loss finite."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from hart.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_twenty_bf16_mixed_steps_of_the_synthetic_recipe(tmp_path):
    # The shipped recipe, made small (tiny frames and clips, one epoch of 20 steps, one
    # validation at its end) and untimed; the precision flag is the one a GPU user passes.
    args = [
        "train",
        "--config",
        str(REPO / "configs" / "synthetic.yaml"),
        "--trainer.precision=bf16-mixed",
        "--trainer.max_steps=20",
        "--trainer.max_time=null",
        "--trainer.num_sanity_val_steps=0",
        "--trainer.log_every_n_steps=1",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--trainer.logger.init_args.save_dir",
        str(tmp_path / "runs"),
        "--data.frame_size=[48,64]",
        "--data.batch_size=2",
        "--data.clip_length=3",
        "--data.clips_per_epoch=40",
        "--data.val_clips=2",
        "--data.val_clip_length=3",
        "--data.num_workers=0",
        "--model.config.glimpse_size=[32,32]",
    ]
    assert main(args) == 0
    run = tmp_path / "runs" / "synthetic" / "version_0"
    assert yaml.safe_load((run / "config.yaml").read_text())["trainer"]["precision"] == (
        "bf16-mixed"
    )
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    losses = torch.tensor([event.value for event in events.Scalars("train/loss_step")])
    assert len(losses) == 20 and torch.isfinite(losses).all()
    saved = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert saved["global_step"] == 20
    # Mixed, not pure, bfloat16: the weights stay float32 (autocast rounds per operation).
    weights = [value for value in saved["state_dict"].values() if value.is_floating_point()]
    assert all(value.dtype == torch.float32 and torch.isfinite(value).all() for value in weights)

"""Shared test fixtures: the real sequences beside the checkout, deterministic torch, a small
model file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED_SEQUENCES = REPOSITORY.parent / "shared" / "sequences"

# `hart train` small and quick: tiny frames and clips, no workers; every step still runs the
# real model.
TINY_TRAINING = [
    "--data.frame_size=[48,64]",
    "--data.batch_size=2",
    "--data.clips_per_epoch=4",
    "--data.val_clips=2",
    "--data.val_clip_length=3",
    "--data.num_workers=0",
    "--model.config.glimpse_size=[32,32]",
    "--trainer.log_every_n_steps=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]

CROSSING_FRAMES = 30  # enough for tracking to move; short enough for a 2-core test machine
CROSSING_FPS = 25.0


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    yield


@pytest.fixture
def shared_sequences() -> Path:
    """``../shared/sequences`` (OTB and VOT layouts); tests that need it skip without it."""
    if not SHARED_SEQUENCES.is_dir():
        pytest.skip("../shared/sequences is not beside this checkout")
    return SHARED_SEQUENCES


@pytest.fixture
def small_checkpoint(tmp_path) -> Path:
    """A checkpoint laid out as ``hart train`` writes one (Lightning's keys), with a small
    network of random weights (what the tests check is the file handling, not the tracking)."""
    from hart.model.hart import HARTConfig, build_hart

    config = HARTConfig(glimpse_size=(32, 32), lstm_size=32, core_size=64, readout_size=32)
    state = {f"model.{k}": v for k, v in build_hart(config).state_dict().items()}
    hyper = {"config": {**config.__dict__, "glimpse_size": list(config.glimpse_size)}}
    path = tmp_path / "run.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": hyper, "epoch": 3}, path)
    return path


@pytest.fixture
def unwritable_folder(tmp_path) -> Path:
    """A folder in which this process cannot create files: a read-only folder of its own where
    permissions bind (not root), else ``/sys`` (which refuses even root); skipped if neither
    refuses here."""
    own = tmp_path / "read-only"
    own.mkdir()
    own.chmod(0o500)
    try:
        for folder in (own, Path("/sys")):
            probe = folder / ".hart-write-probe"
            try:
                probe.touch()
            except OSError:
                yield folder
                return
            probe.unlink()
        pytest.skip("no folder here refuses to be written (root, and a writable /sys)")
    finally:
        own.chmod(0o700)


@pytest.fixture
def crossing(shared_sequences) -> tuple[list[Path], np.ndarray]:
    """The first frames of OTB Crossing (360×240) and its first ground-truth box."""
    root = shared_sequences / "OTB" / "Crossing"
    images = sorted((root / "img").glob("*.jpg"))[:CROSSING_FRAMES]
    first_box = np.loadtxt(root / "groundtruth_rect.txt", delimiter=None, max_rows=1)
    return images, first_box


@pytest.fixture
def crossing_video(tmp_path, crossing) -> Path:
    """A real mp4 (mp4v) written by OpenCV from Crossing's frames."""
    images, _ = crossing
    path = tmp_path / "input" / "crossing.mp4"
    path.parent.mkdir()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), CROSSING_FPS, (360, 240))
    for image in images:
        writer.write(cv2.imread(str(image)))
    writer.release()
    return path


@pytest.fixture
def real_config():
    """The network of ``configs/real.yaml`` (pretrained trunk, correlation attention)."""
    import yaml

    from hart.model.hart import HARTConfig

    config = yaml.safe_load((REPOSITORY / "configs" / "real.yaml").read_text())["model"]["config"]
    return HARTConfig(**{**config, "glimpse_size": tuple(config["glimpse_size"])})

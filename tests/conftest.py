"""Shared test fixtures: the real sequences beside the checkout, deterministic torch, a small
model file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

SHARED_SEQUENCES = Path(__file__).resolve().parents[2] / "shared" / "sequences"


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

"""Shared test fixtures: the real sequences beside the checkout, deterministic torch."""

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

"""The random-number state of a training process, as plain tensors and numbers for a checkpoint.

What draws random numbers while HART trains: zoneout and dropout (torch's generator, and CUDA's
on a GPU). The clips do not: an item is a function of ``(seed, epoch, index, T)`` alone
(:mod:`hart.datasets.clips`), so no worker's random state needs saving, and the data loaders
get their own generators (:mod:`hart.training.datamodule`), so that starting one draws nothing
from torch's. numpy's and Python's global generators are saved as well, for code (a user's
callback, say) that uses them.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def capture_random_state() -> dict[str, Any]:
    """torch's (and every CUDA device's), numpy's and Python's generator states, as tensors,
    lists and numbers (a checkpoint loads them with ``weights_only=True``)."""
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_random_state(state: dict[str, Any]) -> None:
    """Put back what :func:`capture_random_state` captured (CUDA's only where there is CUDA)."""
    torch.set_rng_state(state["torch"])
    saved = state["numpy"]
    np.random.set_state(
        (
            saved["kind"],
            saved["keys"].numpy().astype(np.uint32),
            saved["position"],
            saved["has_gauss"],
            saved["cached_gaussian"],
        )
    )
    python = state["python"]
    random.setstate((python["version"], tuple(python["internal"]), python["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        devices = min(len(state["cuda"]), torch.cuda.device_count())
        for device in range(devices):
            torch.cuda.set_rng_state(state["cuda"][device], device)

"""Checkpoints written complete or not at all, beside their final name."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO

from hart.atomic import atomic_output


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, writing through :func:`hart.atomic.atomic_output`.

    Lightning's own writes a checkpoint to a file in the system's temporary folder (fsspec's
    transaction) and then moves it into place. Where that folder is another file system (a
    tmpfs ``/tmp``) the move is a copy over the previous ``last.ckpt``, which a kill or a power
    cut in its middle leaves cut short, losing the run; and a ``/tmp`` without room for a
    checkpoint stops the run at its first save, whatever room the log folder has. Here the
    temporary file is beside the checkpoint and replaces it in one step. Paths with a protocol
    (``s3://``) and storage options are left to Lightning's.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        # Serialised first, as Lightning does: torch's zip writer reports a full disk as an
        # internal error, a plain write as an OSError that names the file (hart.atomic).
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        with atomic_output(path) as temporary:
            temporary.write_bytes(buffer.getbuffer())

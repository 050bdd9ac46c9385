"""Small constant tensors on a tensor's device, without synchronising with it.

``x.new_tensor([a, b])`` copies the values from host memory; on a GPU that copy waits until
every kernel queued before it has run (PyTorch synchronises the stream after a copy from
pageable memory), so one such constant per tracking step stalls the device once per frame.
:func:`constant_like` fills each value on the device instead: kernels queued like any other.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def constant_like(like: torch.Tensor, values: Sequence[float]) -> torch.Tensor:
    """``values`` as a ``(len(values),)`` tensor with ``like``'s dtype and device, made by
    device-side fills (no host-to-device copy, so no synchronisation)."""
    return torch.cat([like.new_full((1,), float(value)) for value in values])

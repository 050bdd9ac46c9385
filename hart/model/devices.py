"""The torch device a user names (``--device``, ``Tracker(device=…)``), checked first.

torch accepts ``cuda:7`` on a machine with one GPU, or ``cuda`` on one with none, and fails
later, inside the first tensor moved there, with a traceback; a name it does not know fails with
a message listing every device type torch was built for. Both become one line here.
"""

from __future__ import annotations

import torch

from hart.errors import InputError


def device_named(name: str | torch.device) -> torch.device:
    """``name`` as a :class:`torch.device` that this machine has.

    Raises:
        InputError: not a device name, or a CUDA / MPS device that is not here.
    """
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        known = "cpu, cuda, cuda:1, mps"
        raise InputError(f"device {name!r} is not a torch device ({known})") from None
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if count == 0:
            raise InputError(f"device {name!r}: CUDA is not available here")
        if device.index is not None and device.index >= count:
            raise InputError(f"device {name!r}: this machine has {count} CUDA device(s)")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise InputError(f"device {name!r}: MPS is not available here")
    elif device.type != "cpu":
        raise InputError(f"device {name!r}: hart runs on cpu, cuda or mps")
    return device

"""Pretrained weights from a file: a state dict read and checked against the layers it fills.

The feature trunks (:mod:`hart.model.features`, :mod:`hart.model.efficientnet`) load ImageNet
weights that someone else saved; a wrong file (another network's, a download cut short) should
be one line naming the file and what is wrong with it, not a traceback from deep inside
``load_state_dict``. Model checkpoints, which hold more than weights, are read by
:mod:`hart.model.checkpoint`.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import torch

from hart.errors import InputError, first_line


def read_state_dict(
    path: str | Path, expected: Mapping[str, torch.Size], what: str
) -> dict[str, torch.Tensor]:
    """The tensors of the state dict in ``path`` named in ``expected`` (name → shape), each
    checked to have that shape; other entries of the file are left out.

    ``what`` names the network in messages (``"EfficientNet-Lite0"``).

    Raises:
        InputError: one line naming ``path``: the file is missing, unreadable or cut short, is
            not a state dict, or lacks an expected tensor or holds it in another shape.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} weights file not found: {path}")
    try:
        # weights_only: a weights file is data, never code to run.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, EOFError, RuntimeError, pickle.UnpicklingError) as error:
        reason = first_line(error, limit=200)
        raise InputError(f"cannot read {what} weights from {path}: {reason}") from None
    if not isinstance(state, dict):
        raise InputError(
            f"{path} does not hold {what} weights (it holds a {type(state).__name__}, "
            "not a state dict)"
        )
    for key, shape in expected.items():
        tensor = state.get(key)
        if not isinstance(tensor, torch.Tensor) or tensor.shape != shape:
            found = _described(tensor)
            raise InputError(
                f"{path} does not hold {what} weights ({key} is {found}, "
                f"expected shape {tuple(shape)})"
            )
    return {key: state[key] for key in expected}


def _described(value: object) -> str:
    if value is None:
        return "missing"
    if isinstance(value, torch.Tensor):
        return f"shape {tuple(value.shape)}"
    return f"a {type(value).__name__}, not a tensor"

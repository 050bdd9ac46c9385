"""Model files: read a HART network from a checkpoint, export the part tracking needs, and find
the shipped default model. Training, tracking and the command line all go through here.

``hart train`` writes Lightning checkpoints; a network needs only two of their entries,
``hyper_parameters["config"]`` (the :class:`~hart.model.hart.HARTConfig` as a dict) and
``state_dict`` (the network's weights under ``model.``). :func:`export_model` writes just those
(weights in float16: half their size), which is how the shipped default model was made. Both
load with :func:`load_model`. The rounding moves the boxes about as much as tracking on another
number of threads does: frame 1's by thousandths of a pixel, and the tracker's feedback grows
that (on 100 frames of OTB Crossing, a trained real.yaml network: up to 3 px, 0.3 px on
average; success AUC 0.698 and 0.699).

The default model is package data, ``hart/model/default/hart.ckpt``, found through
:mod:`importlib.resources` so that it is there in an editable and a normal install alike. The
environment variable ``HART_DEFAULT_MODEL`` names another file to use instead.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import fields
from importlib import resources
from pathlib import Path

import torch

from hart.atomic import atomic_output, check_not_input, check_output_file
from hart.errors import InputError, first_line
from hart.model.hart import HART, HARTConfig, build_hart

DEFAULT_MODEL_VARIABLE = "HART_DEFAULT_MODEL"
"""The environment variable that, when set, names the model file used when none is given."""

_MODEL_PREFIX = "model."


def default_model_path() -> Path:
    """The model file used when none is given: ``$HART_DEFAULT_MODEL`` if set, else the one
    shipped inside the package (``hart/model/default/hart.ckpt``)."""
    override = os.environ.get(DEFAULT_MODEL_VARIABLE)
    if override:
        return Path(override).expanduser()
    # hart is installed as files (never zipped), so the resource is a path on disk.
    return Path(str(resources.files("hart.model") / "default" / "hart.ckpt"))


def read_checkpoint(path: str | Path) -> dict:
    """The contents of a hart checkpoint or exported model, checked to hold a model config
    and finite weights; an :class:`~hart.errors.InputError` naming ``path`` and what is wrong
    with it otherwise (missing, a folder, empty, cut short, not a checkpoint, NaN weights)."""
    path = Path(path)
    if path.is_dir():
        inside = sorted(path.rglob("*.ckpt"), key=lambda p: (p.name != "last.ckpt", str(p)))
        hint = f" such as {inside[0]}" if inside else ""
        raise InputError(f"{path} is a folder; give a checkpoint file{hint}")
    if not path.exists():
        raise InputError(f"checkpoint {path} does not exist")
    if not path.is_file():  # a device such as /dev/null, a pipe, a socket
        raise InputError(f"checkpoint {path} is not a regular file; give a checkpoint file")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes), not a checkpoint: was its writing cut off?")
    try:
        # weights_only: a checkpoint is data, never code to run.
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's message advises loading with weights_only=False: never what a model file
        # needs (it holds tensors and plain settings only), and unsafe for a stranger's file.
        raise InputError(
            f"{path} is not a hart checkpoint (not tensors and settings written by torch.save)"
        ) from None
    except Exception as error:  # torch raises many kinds for a file that is not a checkpoint
        raise InputError(
            f"{path} is not a hart checkpoint, or is cut short ({type(error).__name__}: "
            f"{first_line(error, limit=200)})"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise InputError(f"{path} is not a hart checkpoint (no state_dict in it)")
    config = checkpoint.get("hyper_parameters", {}).get("config")
    if not isinstance(config, dict):
        raise InputError(
            f"{path} is not a hart checkpoint (no model config in its hyper-parameters)"
        )
    for key, value in checkpoint["state_dict"].items():
        if torch.is_tensor(value) and value.is_floating_point() and not value.isfinite().all():
            raise InputError(
                f"{path} holds NaN or infinite weights ({key}); use an earlier checkpoint"
            )
    return checkpoint


def _config_from(checkpoint: dict) -> HARTConfig:
    saved = checkpoint["hyper_parameters"]["config"]
    # A setting this hart does not know (a newer hart's option, or a name mistyped by hand)
    # would be dropped and the file would track without it, its boxes silently not the ones
    # it was made to give.
    unknown = sorted(set(saved) - {field.name for field in fields(HARTConfig)})
    if unknown:
        raise ValueError(
            f"it holds settings this hart does not know ({', '.join(map(str, unknown))}): "
            "written by a newer hart, or edited by hand?"
        )
    config = {}
    for field in fields(HARTConfig):
        if field.name not in saved:  # a file older than the option: the default it tracked with
            continue
        value, default = saved[field.name], getattr(HARTConfig, field.name)
        # A value of the wrong type (written by hand) would fail deep inside a layer's
        # constructor with a TypeError, or slip through as a string that compares oddly.
        if default is not None and not _same_kind(value, default):
            raise ValueError(f"{field.name} is {value!r}, not {_kind(default)}")
        config[field.name] = tuple(value) if isinstance(default, tuple) else value
    # The weights come from the checkpoint: never look for pretrained trunk weights again.
    config["feature_weights"] = None
    return HARTConfig(**config)


def _same_kind(value: object, default: object) -> bool:
    """Whether a saved setting has the type of the field's default (ints pass for floats; a
    tuple may come back from YAML as a list)."""
    if isinstance(default, tuple):
        return (
            isinstance(value, (tuple, list))
            and len(value) == len(default)
            and all(_same_kind(v, d) for v, d in zip(value, default, strict=True))
        )
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def _kind(default: object) -> str:
    """What a setting with this default must be, in words: ``"a number"``, ``"2 whole numbers"``."""
    if isinstance(default, tuple):
        return f"{len(default)} whole numbers"
    return {bool: "true or false", int: "a whole number", float: "a number"}.get(
        type(default), "a string"
    )


def load_model(path: str | Path | None = None) -> HART:
    """The HART network of a checkpoint (``None``: :func:`default_model_path`), in eval mode,
    float32. A leading ``~`` is the user's home, as in :func:`hart.datasets.load_sequences`
    and ``$HART_DEFAULT_MODEL``: Python does not expand it, and ``~/runs/last.ckpt`` from a
    notebook, or ``--checkpoint=~/…`` (which the shell leaves as it is), named a file that
    exists as one that does not.

    An empty path (a caller's unset variable) is refused: ``Path("")`` is the current folder,
    which was searched through for ``*.ckpt`` files to suggest (all of a home folder, from a
    notebook started there) before the error named ``.``, not the empty argument."""
    if isinstance(path, str) and not path.strip():
        raise InputError(
            f"the checkpoint path is empty ({path!r}); give a model file, or None for the "
            "shipped default model"
        )
    path = Path(path).expanduser() if path is not None else _existing_default()
    return _model_from(read_checkpoint(path), path)


def _model_from(checkpoint: dict, path: Path) -> HART:
    """The network that ``checkpoint`` (read from ``path``) describes, with its weights."""
    try:
        model = build_hart(_config_from(checkpoint))
    except ValueError as error:  # settings written by hand, or by a hart that allowed them
        raise InputError(
            f"{path} describes a network hart cannot build: {first_line(error)}"
        ) from None
    weights = {
        key[len(_MODEL_PREFIX) :]: value.float()
        for key, value in checkpoint["state_dict"].items()
        if key.startswith(_MODEL_PREFIX)
    }
    load_weights(model, weights, f"{path} does not match the HART network it describes")
    return model.eval()


def _existing_default() -> Path:
    path = default_model_path()
    if path.is_file():
        return path
    if os.environ.get(DEFAULT_MODEL_VARIABLE):
        raise InputError(f"checkpoint {path} (named by ${DEFAULT_MODEL_VARIABLE}) does not exist")
    raise InputError(
        f"the shipped default model {path} is missing from this installation; give a model "
        f"file with --checkpoint or name one in ${DEFAULT_MODEL_VARIABLE}"
    )


def load_weights(model: HART, weights: dict[str, torch.Tensor], mismatch: str) -> None:
    """``model.load_state_dict(weights)``; weights that do not fit are an :class:`InputError`
    reading ``"{mismatch}: "`` and what does not fit (the first few names, with both shapes)."""
    expected = model.state_dict()
    reshaped = [
        f"{key} {tuple(weights[key].shape)} in the file, {tuple(value.shape)} in the network"
        for key, value in expected.items()
        if key in weights and weights[key].shape != value.shape
    ]
    missing = [key for key in expected if key not in weights]
    unexpected = [key for key in weights if key not in expected]
    problems = [
        f"{len(names)} {what} ({', '.join(names[:2])}{', …' if len(names) > 2 else ''})"
        for names, what in (
            (reshaped, "weights of another shape"),
            (missing, "weights missing"),
            (unexpected, "weights the network does not have"),
        )
        if names
    ]
    if problems:
        raise InputError(f"{mismatch}: {'; '.join(problems)}")
    model.load_state_dict(weights)


def export_model(checkpoint: str | Path, output: str | Path) -> Path:
    """Write the tracking part of a training checkpoint (config, float16 weights) to ``output``.

    ``output`` follows the rule for every output file a user names
    (:func:`hart.atomic.check_output_file`): missing folders are made, and it must not be a folder;
    and it must not be ``checkpoint`` (whose optimiser state and step would be lost). A
    checkpoint that describes a network hart cannot build, or whose weights do not fit it, is
    not exported.
    """
    output = Path(output)
    check_not_input(output, checkpoint)
    check_output_file(output)
    source = read_checkpoint(checkpoint)
    _model_from(source, Path(checkpoint))  # a file that could not track is not exported
    state = {
        key: value.half() if value.is_floating_point() else value
        for key, value in source["state_dict"].items()
        if key.startswith(_MODEL_PREFIX)
    }
    document = {"hyper_parameters": {"config": source["hyper_parameters"]["config"]}}
    with atomic_output(output) as temporary:
        try:
            torch.save({**document, "state_dict": state}, temporary)
        except RuntimeError:  # torch's zip writer reports a full disk as an internal error
            raise OSError(f"cannot write {output}: the write failed (is the disk full?)") from None
    return output

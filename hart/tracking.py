"""Streaming tracking with a trained HART: ``init(frame, box)``, then ``update(frame) -> box``.

The same contract as OpenCV's trackers and the got10k toolkit: frames are BGR uint8 ``(H, W, 3)``
as OpenCV reads them, boxes ``x, y, w, h`` pixels of the frame. One frame at a time, in constant
memory however long the video.

Model files. ``hart train`` writes Lightning checkpoints; the tracker needs only two of their
entries, ``hyper_parameters["config"]`` (the :class:`~hart.model.hart.HARTConfig` as a dict) and
``state_dict`` (the network's weights under ``model.``). :func:`export_model` writes just those
(weights in float16: half the size, and no measurable change in the boxes), which is how the
shipped default model in ``checkpoints/default/`` was made. Both load with
:meth:`Tracker.from_checkpoint`.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

from hart.atomic import atomic_output
from hart.errors import InputError
from hart.model.hart import HART, HARTConfig, HARTState, HARTStep, build_hart

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "checkpoints" / "default" / "hart.ckpt"
"""The shipped default model (see ``checkpoints/README.md`` for how it was trained)."""

_MODEL_PREFIX = "model."


def _load_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist")
    try:
        # weights_only: a checkpoint is data, never code to run.
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a file that is not a checkpoint
        raise InputError(f"{path} is not a hart checkpoint ({type(error).__name__})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise InputError(f"{path} is not a hart checkpoint (no state_dict in it)")
    config = checkpoint.get("hyper_parameters", {}).get("config")
    if not isinstance(config, dict):
        raise InputError(
            f"{path} is not a hart checkpoint (no model config in its hyper-parameters)"
        )
    return checkpoint


def _config_from(checkpoint: dict) -> HARTConfig:
    known = {f.name for f in fields(HARTConfig)}
    config = {k: v for k, v in checkpoint["hyper_parameters"]["config"].items() if k in known}
    config["glimpse_size"] = tuple(config.get("glimpse_size", HARTConfig.glimpse_size))
    # The weights come from the checkpoint: never look for pretrained trunk weights again.
    config["feature_weights"] = None
    return HARTConfig(**config)


def load_model(path: str | Path | None = None) -> HART:
    """The HART network of a checkpoint (``None``: the shipped default), in eval mode, float32."""
    path = Path(path) if path is not None else DEFAULT_MODEL
    checkpoint = _load_checkpoint(path)
    model = build_hart(_config_from(checkpoint))
    weights = {
        key[len(_MODEL_PREFIX) :]: value.float()
        for key, value in checkpoint["state_dict"].items()
        if key.startswith(_MODEL_PREFIX)
    }
    load_weights(model, weights, f"{path} does not match the HART network it describes")
    return model.eval()


def load_weights(model: HART, weights: dict[str, torch.Tensor], mismatch: str) -> None:
    """``model.load_state_dict(weights)``; weights that do not fit are an :class:`InputError`
    reading ``"{mismatch}: {PyTorch's first line}"``."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise InputError(f"{mismatch}: {first}") from None


def export_model(checkpoint: str | Path, output: str | Path) -> Path:
    """Write the tracking part of a training checkpoint (config, float16 weights) to ``output``."""
    source = _load_checkpoint(Path(checkpoint))
    state = {
        key: value.half() if value.is_floating_point() else value
        for key, value in source["state_dict"].items()
        if key.startswith(_MODEL_PREFIX)
    }
    output = Path(output)
    document = {"hyper_parameters": {"config": source["hyper_parameters"]["config"]}}
    with atomic_output(output, make_parents=True) as temporary:
        torch.save({**document, "state_dict": state}, temporary)
    return output


class Tracker:
    """Track one object through a stream of frames with a HART network.

    After :meth:`init` and each :meth:`update`, what the tracker looked at is kept for drawing:
    ``attention_box`` (``(4,)`` xywh px), ``glimpse`` (BGR uint8 ``(h, w, 3)``) and
    ``object_mask`` (float ``(m, m)`` in ``[0, 1]``).
    """

    def __init__(self, model: HART, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self._state: HARTState | None = None
        self.box: np.ndarray | None = None
        self.attention_box: np.ndarray | None = None
        self.glimpse: np.ndarray | None = None
        self.object_mask: np.ndarray | None = None

    @classmethod
    def from_checkpoint(
        cls, path: str | Path | None = None, device: str | torch.device = "cpu"
    ) -> Tracker:
        """A tracker from a ``hart train`` checkpoint or an exported model (None: the default)."""
        return cls(load_model(path), device)

    def _to_tensor(self, frame: np.ndarray) -> torch.Tensor:
        """BGR uint8 ``(H, W, 3)`` → RGB float ``(1, 3, H, W)`` in [0, 1] on the device."""
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
            shape = getattr(frame, "shape", type(frame).__name__)
            raise InputError(f"a frame must be a BGR image of shape (H, W, 3), got {shape}")
        # Flip BGR → RGB and scale on the device, after a uint8 copy (4× less to move).
        pixels = torch.from_numpy(np.ascontiguousarray(frame)).to(self.device)
        return pixels.flip(-1).permute(2, 0, 1)[None].float() / 255.0  # (1, 3, H, W)

    @torch.inference_mode()
    def init(self, frame: np.ndarray, box) -> None:
        """Start tracking the object in ``box`` (xywh px) of ``frame`` (BGR uint8)."""
        box = np.asarray(box, dtype=np.float32).reshape(-1)
        height, width = frame.shape[:2]
        if box.shape != (4,) or not np.isfinite(box).all():
            raise InputError(f"the initial box must be 4 finite numbers x,y,w,h, got {box}")
        x, y, w, h = box
        if w <= 0 or h <= 0:
            raise InputError(
                f"the initial box {_box_text(box)} must have positive width and height"
            )
        if x >= width or y >= height or x + w <= 0 or y + h <= 0:
            raise InputError(
                f"the initial box {_box_text(box)} is outside the {width}×{height} frame"
            )
        image = self._to_tensor(frame)
        start = torch.from_numpy(box)[None].to(self.device)
        # The model's first step reads the given box's frame too (as in training).
        out, self._state = self.model.start(image, start)
        self._keep(out)
        self.box = box.copy()  # the given box is the answer for the first frame

    @torch.inference_mode()
    def update(self, frame: np.ndarray) -> np.ndarray:
        """The object's box ``(4,)`` xywh px in the next ``frame`` (BGR uint8)."""
        if self._state is None:
            raise RuntimeError("call init(frame, box) before update(frame)")
        out, self._state = self.model.step(self._to_tensor(frame), self._state)
        self.box = self._keep(out)
        return self.box.copy()

    def _keep(self, out: HARTStep) -> np.ndarray:
        """Keep what the tracker looked at for drawing; return the predicted box ``(4,)``."""
        self.attention_box = out.attention_box[0].float().cpu().numpy()
        glimpse = out.glimpse[0].float().clamp(0, 1).mul(255).round().byte()  # (3, h, w) RGB
        self.glimpse = glimpse.permute(1, 2, 0).flip(-1).cpu().numpy()  # (h, w, 3) BGR
        self.object_mask = torch.sigmoid(out.mask_logits[0, 0].float()).cpu().numpy()
        return out.box[0].float().cpu().numpy()


def _box_text(box: np.ndarray) -> str:
    return ",".join(f"{v:g}" for v in box)

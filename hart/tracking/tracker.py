"""Streaming tracking with a trained HART: ``init(frame, box)``, then ``update(frame) -> box``.

The same contract as OpenCV's trackers and the got10k toolkit: frames are BGR uint8 ``(H, W, 3)``
as OpenCV reads them, boxes ``x, y, w, h`` pixels of the frame. One frame at a time, in constant
memory however long the video. Model files (a ``hart train`` checkpoint, an exported model, the
shipped default) are read by :mod:`hart.model.checkpoint`.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from hart.boxes import check_first_box
from hart.errors import InputError
from hart.model.checkpoint import load_model
from hart.model.devices import device_named
from hart.model.hart import HART, HARTState, HARTStep


class Tracker:
    """Track one object through a stream of frames with a HART network.

    After :meth:`init` and each :meth:`update`, the last answer is kept as ``box`` (``(4,)``
    xywh px) and what the tracker looked at for drawing: ``attention_box`` (``(4,)`` xywh px),
    ``glimpse`` (BGR uint8 ``(h, w, 3)``) and ``object_mask`` (float ``(m, m)`` in ``[0, 1]``).
    They are the caller's to change: the tracker's state holds its own copies.
    """

    def __init__(self, model: HART, device: str | torch.device = "cpu") -> None:
        self.device = device_named(device)
        self.model = model.to(self.device).eval()
        self._state: HARTState | None = None
        self._frame_shape: tuple[int, ...] | None = None  # init's frame: every update's too
        self.box: np.ndarray | None = None
        self.attention_box: np.ndarray | None = None
        self.glimpse: np.ndarray | None = None
        self.object_mask: np.ndarray | None = None

    @classmethod
    def from_checkpoint(
        cls, path: str | Path | None = None, device: str | torch.device = "cpu"
    ) -> Tracker:
        """A tracker from a ``hart train`` checkpoint or an exported model (None: the default,
        :func:`hart.model.checkpoint.default_model_path`)."""
        return cls(load_model(path), device)

    def _to_tensor(self, frame: np.ndarray) -> torch.Tensor:
        """BGR uint8 ``(H, W, 3)`` (checked by :func:`_check_frame`) → RGB float
        ``(1, 3, H, W)`` in [0, 1] on the device."""
        # BGR → RGB by OpenCV on the host (several times faster than torch's flip, which was a
        # third of a 640×480 frame's time), scaled on the device after a uint8 copy (4× less to
        # move). The result is channels-last in memory; the glimpse readers take any strides.
        pixels = torch.from_numpy(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).to(self.device)
        return pixels.permute(2, 0, 1)[None].float().div_(255.0)  # (1, 3, H, W)

    @torch.inference_mode()
    def init(self, frame: np.ndarray, box) -> None:
        """Start tracking the object in ``box`` (xywh px) of ``frame`` (BGR uint8); later frames
        must have this one's size (a new target may be in another video, of another size).

        A refused frame or box (:class:`InputError`) leaves the tracker as it was: a target it
        was following is still followed, as a refused :meth:`update` changes nothing either.
        """
        _check_frame(frame, None)  # first: the box is checked against the frame's size
        box = check_first_box(box, frame.shape[:2]).astype(np.float32)
        image = self._to_tensor(frame)
        start = torch.from_numpy(box)[None].to(self.device)
        # The model's first step reads the given box's frame too (as in training).
        out, self._state = self.model.start(image, start)
        self._frame_shape = frame.shape
        self._keep(out)
        self.box = box.copy()  # the given box is the answer for the first frame

    @torch.inference_mode()
    def update(self, frame: np.ndarray) -> np.ndarray:
        """The object's box ``(4,)`` xywh px in the next ``frame`` (BGR uint8)."""
        if self._state is None:
            raise RuntimeError("call init(frame, box) before update(frame)")
        _check_frame(frame, self._frame_shape)
        out, self._state = self.model.step(self._to_tensor(frame), self._state)
        self.box = self._keep(out)
        return self.box.copy()

    def _keep(self, out: HARTStep) -> np.ndarray:
        """Keep what the tracker looked at for drawing; return the predicted box ``(4,)``."""
        self.attention_box = out.attention_box[0].float().cpu().numpy()
        glimpse = out.glimpse[0].float().clamp(0, 1).mul(255).round().byte()  # (3, h, w) RGB
        self.glimpse = glimpse.permute(1, 2, 0).flip(-1).cpu().numpy()  # (h, w, 3) BGR
        self.object_mask = torch.sigmoid(out.mask_logits[0, 0].float()).cpu().numpy()
        # A copy: on the CPU .numpy() is a view of the tensor, and out.box is the state's box,
        # which the next step moves from; writing into tracker.box (to draw a shifted box, say)
        # changed where the tracker looked next, in silence.
        return out.box[0].float().cpu().numpy().copy()


def _check_frame(frame, shape: tuple[int, ...] | None) -> None:
    """Raise :class:`InputError` unless ``frame`` is what OpenCV's ``imread`` and
    ``VideoCapture.read`` give: a BGR uint8 ``(H, W, 3)`` array, of ``shape`` when given.

    A float frame is refused rather than scaled: ``[0, 1]`` and ``[0, 255]`` floats look
    alike, and guessing wrong gives boxes that are silently wrong.
    """
    if not isinstance(frame, np.ndarray):
        raise InputError(
            f"a frame must be a numpy array (BGR uint8, as cv2.imread gives), got "
            f"{type(frame).__name__}" + (" — did reading the image fail?" if frame is None else "")
        )
    if frame.ndim != 3 or frame.shape[2] != 3 or 0 in frame.shape:
        raise InputError(f"a frame must be a BGR image of shape (H, W, 3), got {frame.shape}")
    if frame.dtype != np.uint8:
        raise InputError(
            f"a frame must be uint8 (0-255, as OpenCV reads it), got {frame.dtype}; for a float "
            "image in [0, 1] pass (frame * 255).round().astype(np.uint8)"
        )
    if shape is not None and frame.shape != shape:
        raise InputError(
            f"this frame is {frame.shape[1]}×{frame.shape[0]} but the first frame (init) was "
            f"{shape[1]}×{shape[0]}: every frame of a video must have one size"
        )

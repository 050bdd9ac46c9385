"""Clip augmentation for training on real video: what a few hundred real sequences lack.

Real training sets are small next to what a tracker meets: a handful of cameras, speeds, scales
and lighting conditions. Each clip is therefore varied as a whole — the same change for every
frame of a clip, so that motion within the clip stays real:

- **frame skipping** (in :class:`hart.datasets.clips.SequenceClips`): every ``s``-th frame, to
  simulate a faster target or a lower frame rate;
- **zoom and shift** (:func:`random_zoom`, :func:`zoom_clip`): the clip seen through a camera
  that zooms in or out about a point near the first box, so targets come in more sizes and
  positions than the data set holds;
- **photometry** (:func:`random_photometry`, :func:`photometric_clip`): brightness, contrast,
  saturation, an occasional grey clip and an occasional blur.

All draws come from the caller's ``numpy.random.Generator``, so a clip is a function of its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Augmentation:
    """How strongly clips are varied (all off: :data:`NO_AUGMENTATION`).

    Attributes:
        max_frame_skip: clips take every ``s``-th frame, ``s`` uniform in ``1..max_frame_skip``.
        zoom: the clip is scaled by ``exp(u)``, ``u`` uniform in ``[-zoom, zoom]``.
        shift: the zoom's fixed point is the first box's centre moved by up to this fraction
            of the frame, so the target does not always sit where the data set put it.
        brightness: pixel values are shifted by up to ``±brightness · 255``.
        contrast: and scaled about their mean by ``exp(u)``, ``u`` in ``[-contrast, contrast]``.
        saturation: colour is scaled away from grey by ``exp(u)``, ``u`` in ``±saturation``.
        grey_probability: a clip turns grey (as thermal and old footage are).
        blur_probability: a clip is blurred (Gaussian, σ up to 1.5 px).
    """

    max_frame_skip: int = 1
    zoom: float = 0.0
    shift: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    grey_probability: float = 0.0
    blur_probability: float = 0.0

    @property
    def geometric(self) -> bool:
        """Whether zoom or shift is on."""
        return self.zoom > 0 or self.shift > 0

    @property
    def photometric(self) -> bool:
        """Whether any photometric change is on."""
        return any(
            (
                self.brightness,
                self.contrast,
                self.saturation,
                self.grey_probability,
                self.blur_probability,
            )
        )

    def __post_init__(self) -> None:
        if self.max_frame_skip < 1:
            raise ValueError(f"max_frame_skip must be at least 1, got {self.max_frame_skip}")
        # Checked here, where `hart train` makes a bad value one line: drawn from, a zoom of
        # 1000 overflows exp() and stops the first clip with a traceback, and a negative range
        # acts as its positive. The bounds are far past any useful value: a 20-fold zoom or
        # contrast (exp(3)), a shift or brightness of a whole frame or the whole 0..255 range.
        bounds = {"zoom": 3.0, "contrast": 3.0, "saturation": 3.0, "shift": 1.0}
        bounds |= {"brightness": 1.0, "grey_probability": 1.0, "blur_probability": 1.0}
        for name, highest in bounds.items():
            if not 0.0 <= getattr(self, name) <= highest:
                raise ValueError(f"{name} must be in [0, {highest:g}], got {getattr(self, name)}")


NO_AUGMENTATION = Augmentation()


def random_zoom(
    rng: np.random.Generator, box: np.ndarray, frame_size: tuple[int, int], augmentation
) -> np.ndarray:
    """A ``(2, 3)`` affine matrix that scales a frame about a point near ``box``'s centre
    (xywh px of a ``frame_size`` (H, W) frame) and keeps that point where it was."""
    scale = float(np.exp(rng.uniform(-augmentation.zoom, augmentation.zoom)))
    height, width = frame_size
    jitter = rng.uniform(-augmentation.shift, augmentation.shift, 2) * (width, height)
    centre = box[:2] + box[2:] / 2 + jitter
    return np.array(
        [[scale, 0.0, (1 - scale) * centre[0]], [0.0, scale, (1 - scale) * centre[1]]], np.float64
    )


def _pixel_index_matrix(matrix: np.ndarray) -> np.ndarray:
    """A ``(2, 3)`` affine ``matrix`` of box coordinates → the same map on pixel indices, as
    ``cv2.warpAffine`` takes it.

    Boxes put pixel ``i`` at ``[i, i + 1)``, OpenCV at its centre ``i``: a point ``x`` of a box
    is index ``x - 0.5``. Given to OpenCV unchanged, a scale ``s`` would leave the pixels
    ``0.5 · (s - 1)`` px left of and above the boxes (half a pixel at 2×).
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    linear, shift = matrix[:, :2], matrix[:, 2]
    # x' - 0.5 = A (x - 0.5) + t + 0.5 (A·1 - 1): the shift takes the half pixel's image.
    return np.concatenate([linear, (shift + 0.5 * (linear.sum(1) - 1))[:, None]], axis=1)


def zoom_clip(
    frames: np.ndarray, boxes: np.ndarray, matrix: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Apply a scale-and-shift ``matrix`` ``(2, 3)`` (box coordinates: ``x' = s·x + t``) to
    frames ``(T, H, W, 3)`` uint8 and boxes ``(T, 4)`` xywh px (NaN rows stay NaN), so that the
    boxes stay on the pixels they covered. Pixels from beyond the frame mirror it (OpenCV's
    ``BORDER_REFLECT_101``)."""
    height, width = frames.shape[1:3]
    on_pixels = _pixel_index_matrix(matrix)
    warped = np.stack(
        [
            cv2.warpAffine(
                frame,
                on_pixels,
                (width, height),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REFLECT_101,
            )
            for frame in frames
        ]
    )
    scale = matrix[0, 0]
    moved = boxes.astype(np.float32)  # a copy
    moved[:, :2] = boxes[:, :2] * scale + matrix[:, 2]
    moved[:, 2:] = boxes[:, 2:] * scale
    return warped, moved


def random_photometry(rng: np.random.Generator, augmentation: Augmentation) -> dict:
    """One clip's photometric change: a dict for :func:`photometric_clip`."""
    return {
        "offset": rng.uniform(-augmentation.brightness, augmentation.brightness) * 255.0,
        "gain": float(np.exp(rng.uniform(-augmentation.contrast, augmentation.contrast))),
        "saturation": float(np.exp(rng.uniform(-augmentation.saturation, augmentation.saturation))),
        "grey": bool(rng.random() < augmentation.grey_probability),
        "blur": (
            float(rng.uniform(0.5, 1.5)) if rng.random() < augmentation.blur_probability else 0.0
        ),
    }


def photometric_clip(frames: np.ndarray, change: dict) -> np.ndarray:
    """Apply one :func:`random_photometry` change to every frame ``(T, H, W, 3)`` uint8 BGR."""
    pixels = frames.astype(np.float32)
    grey = pixels.mean(-1, keepdims=True)  # (T, H, W, 1)
    if change["grey"]:
        pixels = np.repeat(grey, 3, -1)
    else:
        pixels = grey + change["saturation"] * (pixels - grey)
    mean = pixels.mean()
    pixels = (pixels - mean) * change["gain"] + mean + change["offset"]
    out = np.clip(pixels, 0, 255).astype(np.uint8)
    if change["blur"] > 0:
        out = np.stack([cv2.GaussianBlur(frame, (0, 0), change["blur"]) for frame in out])
    return out

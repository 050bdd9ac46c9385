"""What the camera does to the light of the synthetic world: lighting that drifts and changes
across the frame, a colour cast, exposure (motion blur), defocus, sensor noise, gamma and JPEG
compression. :func:`plan_photometry` draws a sequence's settings from the random generator;
:func:`develop` applies them to one frame."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from hart.datasets.synthetic import textures
from hart.datasets.synthetic.config import SyntheticConfig
from hart.datasets.synthetic.motion import ou


@dataclass
class Photometry:
    """One sequence's camera and light. Per frame: ``brightness`` ``(T,)``, ``light_mix``
    ``(T,)`` (between the two ``light_fields``, each ``(H, W)`` float32), ``noise_offsets``
    ``(T, 2)``; for all frames: ``colour_cast`` ``(3,)`` BGR gains, ``exposure`` (motion blur
    in pixels per pixel of motion), ``defocus`` (Gaussian σ), ``noise_sigma`` with its
    unit-variance ``noise`` field ``(H + 16, W + 16, 3)``, ``jpeg_quality`` (or None) and
    ``gamma_lut`` (or None)."""

    brightness: np.ndarray
    colour_cast: np.ndarray
    light_fields: list[np.ndarray]
    light_mix: np.ndarray
    exposure: float
    defocus: float
    noise_sigma: float
    noise: np.ndarray
    noise_offsets: np.ndarray
    jpeg_quality: int | None
    gamma_lut: np.ndarray | None


def plan_photometry(rng, steps: int, frame_size, config: SyntheticConfig) -> Photometry:
    """The camera and light of a sequence of ``steps`` frames of ``frame_size`` (H, W)."""
    height, width = frame_size
    lighting = config.lighting
    brightness = np.exp(
        rng.normal(0, 0.15 * lighting)
        + np.linspace(0, rng.normal(0, 0.3 * lighting) if rng.random() < 0.4 else 0, steps)
        + ou(rng, steps, 0.02 * lighting, 0.1)
    )
    colour_cast = np.exp(rng.normal(0, 0.06 * lighting, 3))
    ys = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
    xs = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    vignette = 1.0 - rng.uniform(0, 0.35) * (xs * xs + ys * ys) / 2
    # Two illumination fields (shadows, a light source) the frame drifts between.
    light_fields = [
        textures.smooth_gain((height, width), rng, rng.uniform(0, 0.5) * lighting, grid=16)
        * vignette
        for _ in range(2)
    ]
    rate = rng.uniform(0, 0.08)
    light_mix = 0.5 + 0.5 * np.sin(rng.uniform(0, 2 * np.pi) + np.arange(steps) * rate)
    exposure = rng.uniform(0.0, 0.9) * config.blur
    defocus = rng.uniform(0.0, 1.0) * config.blur if rng.random() < 0.4 else 0.0
    noise_sigma = rng.uniform(0.0, 6.0) * config.noise
    # Unit-variance uniform noise: looks the same as Gaussian at these levels, draws faster.
    noise = rng.random((height + 16, width + 16, 3), dtype=np.float32)
    noise -= 0.5
    noise *= math.sqrt(12.0)
    noise_offsets = rng.integers(0, 16, (steps, 2))
    jpeg_quality = int(rng.integers(25, 90)) if rng.random() < 0.5 * config.noise else None
    gamma = math.exp(rng.normal(0, 0.12 * lighting))
    gamma_lut = None
    if abs(gamma - 1) > 0.02:
        gamma_lut = (255.0 * (np.arange(256) / 255.0) ** gamma).astype(np.uint8)
    return Photometry(
        brightness,
        colour_cast,
        light_fields,
        light_mix,
        exposure,
        defocus,
        noise_sigma,
        noise,
        noise_offsets,
        jpeg_quality,
        gamma_lut,
    )


def develop(photometry: Photometry, frame: np.ndarray, t: int) -> np.ndarray:
    """Frame ``t`` as the camera records it: ``frame`` (H, W, 3) float32 light → uint8 BGR.
    ``frame`` is overwritten."""
    height, width = frame.shape[:2]
    mix = float(photometry.light_mix[t])
    light = cv2.addWeighted(photometry.light_fields[0], 1 - mix, photometry.light_fields[1], mix, 0)
    # One (H, W, 3) gain: illumination × brightness × colour cast. OpenCV's per-element
    # multiply is several times faster here than numpy's broadcasting.
    cast = photometry.brightness[t] * photometry.colour_cast
    gain = cv2.merge([light * np.float32(c) for c in cast])
    cv2.multiply(frame, gain, dst=frame)
    if photometry.defocus > 0.2:
        frame = cv2.GaussianBlur(frame, (0, 0), photometry.defocus)
    if photometry.noise_sigma > 0.3:
        dy, dx = photometry.noise_offsets[t]
        noise = photometry.noise[dy : dy + height, dx : dx + width]
        frame = cv2.scaleAdd(noise, float(photometry.noise_sigma), frame)
    image = np.clip(frame, 0, 255, out=frame).astype(np.uint8)
    if photometry.gamma_lut is not None:
        image = cv2.LUT(image, photometry.gamma_lut)
    if photometry.jpeg_quality is not None:
        quality = [cv2.IMWRITE_JPEG_QUALITY, photometry.jpeg_quality]
        ok, encoded = cv2.imencode(".jpg", image, quality)
        image = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return image

"""The knobs of the synthetic world."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of the synthetic world. Ranges are ``(low, high)``; sizes are fractions of the
    frame so that one configuration fits any frame size."""

    target_height: tuple[float, float] = (0.08, 0.6)  # of frame height, at the first frame
    target_aspect: tuple[float, float] = (0.3, 3.0)  # width / height, for kinds without one
    max_speed: float = 0.035  # typical fastest target speed, fraction of frame width per frame
    camera_motion: float = 1.0  # scales pan, follow, zoom and shake (0: a still camera)
    distractors: tuple[int, int] = (0, 4)  # look-alikes of the target
    clutter: tuple[int, int] = (0, 5)  # other moving objects
    static_objects: tuple[int, int] = (2, 12)  # objects lying on the background
    occluders: tuple[int, int] = (0, 2)  # objects that pass in front of the target
    min_visible_fraction: float = 0.15  # below this share of its silhouette the target is absent
    lighting: float = 1.0  # scales lighting change
    blur: float = 1.0  # scales motion blur and defocus
    noise: float = 1.0  # scales sensor noise and compression
    photo_probability: float = 0.7  # with photos: chance a background / surface is a photo

"""The knobs of the synthetic world."""

from __future__ import annotations

from dataclasses import dataclass

MIN_FRAME_SIZE = (24, 24)
"""The smallest synthetic frame ``(H, W)``: below it a target of the default sizes does not fit
between the margins its path keeps from the frame's edges (planning fails), and its first frame
need not show it."""


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

    def __post_init__(self) -> None:
        # Checked here, where `hart train` makes a bad value one line: the world would refuse it
        # when the first clip is drawn, with a traceback from numpy or OpenCV ("low >= high",
        # "scale < 0"). The upper bounds are far past any useful value and keep arithmetic
        # finite: a target up to 10 frames tall (as a first box, hart.boxes.MAX_BOX_FRAMES),
        # scales up to 100 times the default, counts up to 100.
        ranges = {
            "target_height": (1e-3, 10.0),
            "target_aspect": (0.01, 100.0),
            "distractors": (0, 100),
            "clutter": (0, 100),
            "static_objects": (0, 100),
            "occluders": (0, 100),
        }
        for name, (lowest, highest) in ranges.items():
            low, high = getattr(self, name)
            if not lowest <= low <= high <= highest:
                raise ValueError(
                    f"{name} must be (low, high) with {lowest:g} <= low <= "
                    f"high <= {highest:g}, got {getattr(self, name)}"
                )
        scales = {"max_speed": 100.0, "camera_motion": 100.0, "lighting": 100.0}
        scales |= {"blur": 100.0, "noise": 100.0}
        shares = {"min_visible_fraction": 1.0, "photo_probability": 1.0}
        for name, highest in (scales | shares).items():
            value = getattr(self, name)
            if not 0 <= value <= highest:
                raise ValueError(f"{name} must be between 0 and {highest:g}, got {value}")

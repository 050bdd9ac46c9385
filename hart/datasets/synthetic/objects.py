"""The objects of the synthetic world: their sprites, where they are on screen, and who they are
(look-alikes of the target, unrelated clutter, occluders passing in front).

Plain functions of the random generator; each returns the objects it made, in the order it drew
them, so that one seed always populates a scene the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from hart.datasets.synthetic import sprites
from hart.datasets.synthetic.config import SyntheticConfig
from hart.datasets.synthetic.motion import Camera, Track, aim, object_track
from hart.datasets.synthetic.photos import PhotoLibrary


@dataclass
class SceneObject:
    """An object: its sprites (poses × mip levels), track, depth and how it is drawn."""

    mips: list[list[sprites.Sprite]]  # [pose][level]: each level half the size of the last
    track: Track
    depth: float  # larger = nearer the camera, drawn later
    parallax: float = 1.0
    ground_shadow: bool = False
    is_target: bool = False
    screen: np.ndarray | None = None  # (T, 2) frame position of the centre
    areas: list[float] = field(default_factory=list)  # silhouette area of each pose, sprite px

    def __post_init__(self):
        self.areas = [float(levels[0].rgba[..., 3].sum()) / 255.0 for levels in self.mips]

    def pose(self, t: int) -> int:
        """Which pose sprite shows at ``t`` (the walking cycle of articulated kinds)."""
        phase = self.track.pose[t] % (2 * np.pi)
        return int(phase / (2 * np.pi) * len(self.mips)) % len(self.mips)

    def affine(self, camera: Camera, t: int, level: int, pose: int) -> np.ndarray:
        """``(2, 3)`` sprite pixels (mip ``level``) → frame pixels at time ``t``."""
        sh, sw = self.mips[pose][level].size
        w, h = self.track.size[t]
        a = self.track.angle[t]
        cos, sin = math.cos(a), math.sin(a)
        # sprite px → world px (rotate, scale to the object's size) → frame px
        local = np.array([[cos * w / sw, -sin * h / sh], [sin * w / sw, cos * h / sh]])
        matrix = np.empty((2, 3))
        matrix[:, :2] = camera.linear[t] @ local
        matrix[:, 2] = self.screen[t] - matrix[:, :2] @ (sw / 2, sh / 2)
        return matrix

    def silhouette_corners(self, camera: Camera, t: int) -> np.ndarray:
        """Corners ``(x1, y1, x2, y2)`` of the silhouette's tight frame box at ``t``,
        unclipped."""
        pose = self.pose(t)
        matrix = self.affine(camera, t, 0, pose)
        points = self.mips[pose][0].hull @ matrix[:, :2].T + matrix[:, 2]
        return np.concatenate([points.min(axis=0), points.max(axis=0)])


def mip_levels(sprite: sprites.Sprite, smallest: int = 8) -> list[sprites.Sprite]:
    """``sprite`` and its halvings down to ``smallest`` pixels, for drawing it small."""
    levels = [sprite]
    while min(levels[-1].size) >= 2 * smallest:
        previous = levels[-1]
        h, w = previous.size
        rgba = cv2.resize(previous.rgba, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        levels.append(sprites.Sprite(rgba, previous.hull * np.array([(w // 2) / w, (h // 2) / h])))
    return levels


def make_object(
    rng,
    look: sprites.Look,
    track: Track,
    depth: float,
    photos: PhotoLibrary | None,
    config: SyntheticConfig,
    max_screen_side: float,
    **options,
) -> SceneObject:
    """An object on ``track`` with sprites for ``look`` at about the largest size it reaches on
    screen (≤ 160 px); ``options`` are :class:`SceneObject`'s."""
    side = float(np.clip(max_screen_side * 1.15, 12, 160))
    aspect = float(np.median(track.size[:, 0] / track.size[:, 1]))
    height, width = (side, side * aspect) if aspect <= 1 else (side / aspect, side)
    patch = None
    if photos is not None and rng.random() < config.photo_probability:
        patch = photos.crop(rng, (max(6, int(height)), max(6, int(width))))
    phases = (
        tuple(np.linspace(0, 2 * np.pi, 6, endpoint=False)) if look.kind == "person" else (0.0,)
    )
    poses = sprites.make_sprites(rng, look, int(height), int(width), phases, patch)
    return SceneObject([mip_levels(p) for p in poses], track, depth, **options)


def screen_side(track: Track, camera: Camera) -> float:
    """The largest side the track's object reaches on screen, in frame pixels."""
    return float((track.size.max(axis=1) * camera.zoom).max())


def _moving_object(rng, look, track: Track, camera: Camera, photos, config) -> SceneObject:
    """A distractor or clutter object on ``track``, in front of or behind the target."""
    depth = rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 1.0)
    return make_object(
        rng,
        look,
        track,
        depth,
        photos,
        config,
        screen_side(track, camera),
        ground_shadow=look.kind in ("person", "vehicle"),
    )


def distractors(
    rng, target: Track, target_look: sprites.Look, camera: Camera, frame_size, config, photos
) -> list[SceneObject]:
    """Look-alikes of the target: companions that start near it and move alike, or crossers
    that pass it at some moment, in front or behind."""
    objects = []
    low, high = config.distractors
    steps = len(target.centre)
    for _ in range(int(rng.integers(low, high + 1))):
        look = sprites.look_alike(rng, target_look, rng.uniform(0.4, 1.0))
        base = target.size[0] * rng.uniform(0.7, 1.3, 2)
        if rng.random() < 0.5:  # a companion: starts near the target, similar motion
            offset = rng.normal(0, 1.0, 2) * target.size[0] * rng.uniform(1.2, 3.5)
            start = target.centre[0] + offset
            moves = np.linalg.norm(np.diff(target.centre, axis=0), axis=1)
            speed = float(moves.mean() if len(moves) else 0.0) + 0.5
        else:  # a crosser: passes the target at some moment, in front or behind
            start = target.centre[0] + rng.normal(0, 1.0, 2) * target.size[0] * 3
            speed = frame_size[1] * config.max_speed * rng.uniform(0.2, 1.2)
        track = object_track(rng, steps, start, base, speed, config.lighting)
        if rng.random() >= 0.5:
            aim(rng, track, target, camera)
        objects.append(_moving_object(rng, look, track, camera, photos, config))
    return objects


def clutter(rng, steps: int, camera: Camera, frame_size, config, photos) -> list[SceneObject]:
    """Unrelated objects that wander about the scene."""
    objects = []
    low, high = config.clutter
    height, width = frame_size
    for _ in range(int(rng.integers(low, high + 1))):
        look = sprites.random_look(rng)
        start = camera.to_world(0, rng.uniform((0, 0), (width, height)))
        side = height * math.exp(rng.uniform(math.log(0.05), math.log(0.5))) / camera.zoom[0]
        aspect = sprites.sprite_aspect(rng, look.kind, config.target_aspect)
        base = np.array([side * aspect, side]) if aspect <= 1 else np.array([side, side / aspect])
        speed = width * config.max_speed * rng.uniform(0.0, 1.0)
        track = object_track(rng, steps, start, base, speed, config.lighting)
        objects.append(_moving_object(rng, look, track, camera, photos, config))
    return objects


def occluders(rng, target: Track, camera: Camera, frame_size, config, photos) -> list[SceneObject]:
    """Poles, panels, bushes and other things nearer the camera that pass in front of the
    target (with parallax). Occlusions are events, not the rule: most sequences have none or
    one."""
    objects = []
    low, high = config.occluders
    steps = len(target.centre)
    for _ in range(int(np.clip(rng.poisson(0.6), low, high))):
        kind = rng.choice(["pole", "panel", "bush", "other"], p=[0.3, 0.25, 0.25, 0.2])
        big = target.size.max(axis=0) * rng.uniform(0.8, 2.0)
        if kind == "pole":
            look = sprites.random_look(rng, "box")
            base = np.array([big[0] * rng.uniform(0.15, 0.6), big[1] * rng.uniform(1.5, 4)])
        elif kind == "panel":
            look = sprites.random_look(rng, "box")
            base = big * rng.uniform(0.8, 1.6, 2)
        elif kind == "bush":
            look = sprites.random_look(rng, "blob")
            base = big * rng.uniform(1.0, 1.8, 2)
        else:
            look = sprites.random_look(rng)
            base = big * rng.uniform(0.8, 1.5, 2)
        parallax = rng.uniform(1.0, 1.5)
        speed = frame_size[1] * config.max_speed * rng.uniform(0.3, 1.5)
        track = object_track(rng, steps, target.centre[0], base, speed, config.lighting)
        aim(rng, track, target, camera, parallax)
        objects.append(
            make_object(
                rng,
                look,
                track,
                2.0 + rng.random(),
                photos,
                config,
                screen_side(track, camera) * parallax,
                parallax=parallax,
            )
        )
    return objects

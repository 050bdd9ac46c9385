"""One synthetic sequence's world, planned from its seed before any frame is drawn.

:func:`plan_scene` draws, in this order, from one random generator: the camera and the target
(:func:`plan_camera_and_target`), the background canvas with static objects on it, the target's
sprites, distractors, clutter, occluders (:mod:`~hart.datasets.synthetic.objects`) and the
photometry (:mod:`~hart.datasets.synthetic.photometry`). The order is part of the contract: the
same seed must give the same sequence. :mod:`~hart.datasets.synthetic.rendering` draws frames
of the planned :class:`Scene`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hart.boxes import intersection
from hart.datasets.synthetic import sprites, textures
from hart.datasets.synthetic.config import MIN_FRAME_SIZE, SyntheticConfig
from hart.datasets.synthetic.motion import (
    Camera,
    Track,
    new_intention,
    ou,
    size_path,
    turn_back_at_edges,
)
from hart.datasets.synthetic.objects import (
    SceneObject,
    clutter,
    distractors,
    make_object,
    occluders,
    screen_side,
)
from hart.datasets.synthetic.photometry import Photometry, plan_photometry
from hart.datasets.synthetic.photos import PhotoLibrary


@dataclass
class Scene:
    """Everything a sequence's frames are drawn from. ``objects`` (the target among them) are
    in drawing order, far to near; ``canvas`` is the background in world pixels, placed at
    ``canvas_origin``."""

    frame_size: tuple[int, int]
    length: int
    config: SyntheticConfig
    camera: Camera
    target_look: sprites.Look
    canvas: np.ndarray
    canvas_origin: np.ndarray
    target: SceneObject
    objects: list[SceneObject]
    photometry: Photometry


def plan_scene(
    seed: int, length: int, frame_size, config: SyntheticConfig, photos: PhotoLibrary | None
) -> Scene:
    """The world of the synthetic sequence ``seed``: ``length`` frames of ``frame_size``."""
    if length < 1:
        raise ValueError(f"length must be at least 1, got {length}")
    if frame_size[0] < MIN_FRAME_SIZE[0] or frame_size[1] < MIN_FRAME_SIZE[1]:
        smallest = "x".join(map(str, MIN_FRAME_SIZE))
        raise ValueError(f"synthetic frames must be at least {smallest}, got {tuple(frame_size)}")
    rng = np.random.default_rng(seed)
    frame_size = (int(frame_size[0]), int(frame_size[1]))
    camera, track, look = plan_camera_and_target(rng, length, frame_size, config)
    canvas, canvas_origin = _canvas(rng, camera, length, frame_size, look, config, photos)
    target = make_object(
        rng,
        look,
        track,
        0.0,
        photos,
        config,
        screen_side(track, camera),
        is_target=True,
        ground_shadow=look.kind in ("person", "vehicle"),
    )
    objects = [
        target,
        *distractors(rng, track, look, camera, frame_size, config, photos),
        *clutter(rng, length, camera, frame_size, config, photos),
        *occluders(rng, track, camera, frame_size, config, photos),
    ]
    for obj in objects:
        obj.screen = camera.screen_path(obj.track.centre, obj.parallax)
    objects.sort(key=lambda o: o.depth)
    _clear_first_frame(target, objects, camera)
    photometry = plan_photometry(rng, length, frame_size, config)
    return Scene(
        frame_size, length, config, camera, look, canvas, canvas_origin, target, objects, photometry
    )


MIN_TARGET_SIDE = 2.0
"""Pixels: the least width and height of the target at the first frame."""


def plan_camera_and_target(rng, steps: int, frame_size, config: SyntheticConfig):
    """The camera (still, panning, following the target or handheld; zoom, roll, shake) and
    the target (its look, size and path, which the following camera reacts to frame by frame)
    → ``(camera, target track, target look)``."""
    height, width = frame_size
    motion = config.camera_motion
    mode = rng.choice(["still", "pan", "follow", "handheld"], p=[0.25, 0.25, 0.35, 0.15])
    zoom = rng.uniform(0.8, 1.25) * np.exp(
        np.linspace(0, rng.normal(0, 0.25) * motion if rng.random() < 0.3 else 0, steps)
        + ou(rng, steps, 0.006 * motion, 0.05)
    )
    roll = ou(rng, steps, 0.002 * motion, 0.05) + rng.normal(0, 0.02) * motion
    shake_amount = (3.0 if mode == "handheld" else 0.6) * motion
    shake = np.stack([ou(rng, steps, shake_amount, 0.5) for _ in range(2)], -1)
    shake *= rng.random() < 0.6 or mode == "handheld"

    # The target: size and aspect at the first frame, then its world path.
    look = sprites.random_look(rng)
    aspect = sprites.sprite_aspect(rng, look.kind, config.target_aspect)
    low, high = config.target_height
    screen_h = height * math.exp(rng.uniform(math.log(low), math.log(high)))
    # The first frame must show the target, and a silhouette under a pixel wide counts as not
    # visible: a target under two pixels across (small frames, a small target_height) can be
    # that thin. It binds only there: at the usual sizes the sequences are as they were.
    screen_h = max(screen_h, MIN_TARGET_SIDE, MIN_TARGET_SIDE / aspect)
    screen_h = min(screen_h, 0.8 * width / aspect)  # wide objects must fit across
    screen_w = screen_h * aspect
    trend = rng.normal(0, 0.35) if rng.random() < 0.4 else 0.0
    size = size_path(rng, steps, screen_w, screen_h, trend, rng.uniform(0.3, 1.5))
    size /= zoom[0]  # world pixels
    speed = width * config.max_speed * rng.choice([0.1, 0.4, 1.0, 1.8], p=[0.2, 0.4, 0.3, 0.1])
    speed /= zoom[0]  # world pixels per frame
    turn_rate, jerk = rng.uniform(0.01, 0.08), speed * 0.03
    response = rng.uniform(0.05, 0.35)
    heading = rng.uniform(0, 2 * np.pi)
    preferred = speed * rng.uniform(0.2, 1.0) * np.array([math.cos(heading), math.sin(heading)])
    velocity = preferred * rng.uniform(0.5, 1.0)
    margin = np.array([screen_w, screen_h]) / 2 + 2
    start_screen = rng.uniform(margin, np.array([width, height]) - margin)
    # Most targets stay in view (they turn back at the frame's edge, or the camera keeps
    # them in); the others may leave and come back or not.
    stay_in_view = rng.random() < 0.9
    band = np.minimum(
        margin * 0.5 + np.array([width, height]) * 0.04, np.array([width, height]) / 2
    )

    centre = np.zeros((steps, 2))
    camera_centre = np.zeros((steps, 2))
    camera = Camera(camera_centre, zoom, roll, frame_size)
    # Start the camera at the world origin; the target where its screen start maps to.
    position = camera.to_world(0, start_screen)
    pan_velocity = rng.normal(0, 0.012 * width * motion, 2) * (mode == "pan")
    follow_gain = rng.uniform(0.05, 0.4)
    for t in range(steps):
        if t > 0:
            previous = camera_centre[t - 1]
            if mode == "pan":  # a pan drifts but, like a camera operator, keeps the subject
                pan_velocity = 0.98 * pan_velocity + rng.normal(0, 0.0015 * width * motion, 2)
                camera_centre[t] = previous + pan_velocity + 0.02 * (centre[t - 1] - previous)
            elif mode == "follow":
                camera_centre[t] = previous + follow_gain * (centre[t - 1] - previous)
            else:
                camera_centre[t] = previous
            if rng.random() < turn_rate:  # a new intention: turn, stop, sprint
                preferred = new_intention(rng, speed)
            velocity = velocity + response * (preferred - velocity) + rng.normal(0, jerk, 2)
            if stay_in_view:
                turn_back_at_edges(frame_size, camera, t, position, velocity, preferred, band)
            position = position + velocity
        centre[t] = position
    camera_centre += shake / zoom[:, None]

    spin = rng.normal(0, 0.08) if rng.random() < 0.08 else 0.0
    angle = ou(rng, steps, 0.01, 0.05) * (look.kind != "person") + spin * np.arange(steps)
    pose = np.cumsum(np.full(steps, rng.uniform(0.15, 0.5)))
    gain = np.exp(ou(rng, steps, 0.01 * config.lighting, 0.1))
    return camera, Track(centre, size, angle, pose, gain), look


def _canvas(rng, camera: Camera, steps: int, frame_size, target_look, config, photos):
    """A background covering everything the camera sees, in world pixels, with objects lying
    on it → ``(canvas (h, w, 3) uint8, its world origin (2,))``."""
    height, width = frame_size
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], float)
    seen = np.array([camera.to_world(t, c) for t in range(steps) for c in corners])
    low, high = seen.min(axis=0) - 4, seen.max(axis=0) + 4
    # Very long pans would need a huge canvas: cap it, and let the border mirror beyond.
    extent = np.minimum(high - low, np.array([width, height]) * 4.0)
    origin = (low + high) / 2 - extent / 2
    shape = (int(math.ceil(extent[1])), int(math.ceil(extent[0])))
    if photos is not None and rng.random() < config.photo_probability:
        canvas = photos.crop(rng, shape)
    else:
        canvas = textures.background(shape, rng)
    _scatter_static_objects(rng, canvas, frame_size, target_look, config, photos)
    return canvas, origin


def _scatter_static_objects(rng, canvas, frame_size, target_look, config, photos) -> None:
    """Objects lying on the background (in place), some of them look-alikes of the target."""
    low, high = config.static_objects
    count = int(rng.integers(low, high + 1))
    height, width = canvas.shape[:2]
    for _ in range(count):
        if rng.random() < 0.25:
            look = sprites.look_alike(rng, target_look, rng.uniform(0.3, 0.9))
        else:
            look = sprites.random_look(rng)
        side = frame_size[0] * math.exp(rng.uniform(math.log(0.06), math.log(0.4)))
        aspect = sprites.sprite_aspect(rng, look.kind, config.target_aspect)
        h, w = (side, side * aspect) if aspect <= 1 else (side / aspect, side)
        h, w = int(min(h, height - 1)), int(min(w, width - 1))
        if h < 6 or w < 6:
            continue
        patch = photos.crop(rng, (h, w)) if photos is not None and rng.random() < 0.3 else None
        sprite = sprites.make_sprites(rng, look, h, w, (rng.uniform(0, 6),), patch)[0]
        y, x = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
        alpha = sprite.rgba[..., 3:].astype(np.float32) / 255.0
        region = canvas[y : y + h, x : x + w]
        region[:] = (region * (1 - alpha) + sprite.rgba[..., :3] * alpha).astype(np.uint8)


def _clear_first_frame(target: SceneObject, objects: list[SceneObject], camera: Camera) -> None:
    """Objects in front of the target that cover it at the first frame go behind it, so the
    sequence starts with the target in full view. Re-sorts ``objects`` (in place)."""
    target_box = _xywh(target.silhouette_corners(camera, 0))
    for obj in objects:
        in_front = obj.depth > target.depth
        if in_front and intersection(_xywh(obj.silhouette_corners(camera, 0)), target_box) > 0:
            obj.depth = -obj.depth - 3.0
    objects.sort(key=lambda o: o.depth)


def _xywh(corners: np.ndarray) -> np.ndarray:
    return np.concatenate([corners[:2], corners[2:] - corners[:2]])

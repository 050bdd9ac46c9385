"""Synthetic tracking sequences: the built-in training set, no download needed.

Each sequence is a small world built from a seed: a textured background larger than the frame
(procedural, or the user's photos) with static objects on it; a target (a textured, shaded
object from :mod:`hart.datasets.sprites`) that moves with inertia, turns, accelerates, grows,
shrinks, changes aspect and pose; distractors that look like the target and move near it;
unrelated objects; occluders that pass in front of the target (partly or fully); and a
camera that stays still, pans, follows the target, zooms or shakes. Frames then go through
what a real camera does to them: lighting that drifts and changes across the frame, motion
blur along the motion, defocus, sensor noise and JPEG compression.

The target's box is the tight box of its silhouette in the frame (clipped to the frame). When
less than ``min_visible_fraction`` of its silhouette is in view (occluded or out of the frame)
it is absent: ``visible`` False and a NaN box. The first frame always shows it.

Everything is a function of the seed (numpy's generator; OpenCV calls are deterministic), so
a sequence can be generated on the fly — :func:`generate_sequence`, :func:`render_frames` — or
written to disk (:func:`write_synthetic_sequence`) in a reader's layout or as a video.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from hart.datasets import sprites, textures
from hart.errors import InputError
from hart.media.frames import IMAGE_SUFFIXES, is_image_file, natural_sort_key


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


@dataclass
class SyntheticSequence:
    """``frames`` (T, H, W, 3) uint8 BGR; ``boxes`` (T, 4) float32 xywh pixels, NaN where
    absent; ``visible`` (T,) bool."""

    frames: np.ndarray
    boxes: np.ndarray
    visible: np.ndarray
    seed: int


class PhotoLibrary:
    """The user's own photos as backgrounds and object surfaces: every image in ``folder``
    (recursively). Decoded images are kept (longest side ≤ ``max_side``), up to ``cache`` of
    them, per process."""

    def __init__(self, folder: str | Path, max_side: int = 1024, cache: int = 32):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputError(f"{self.folder}: no such folder of photos")
        self.paths = sorted(
            (p for p in self.folder.rglob("*") if is_image_file(p)), key=natural_sort_key
        )
        if not self.paths:
            raise InputError(f"{self.folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in it")
        self.max_side, self.cache = max_side, cache
        self._images: dict[int, np.ndarray] = {}

    def __getstate__(self):  # workers start with an empty cache
        return {**self.__dict__, "_images": {}}

    def _image(self, index: int) -> np.ndarray:
        if index not in self._images:
            image = cv2.imread(str(self.paths[index]), cv2.IMREAD_COLOR)
            if image is None:
                raise InputError(f"{self.paths[index]}: OpenCV cannot read this image")
            scale = self.max_side / max(image.shape[:2])
            if scale < 1:
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            if len(self._images) >= self.cache:
                self._images.pop(next(iter(self._images)))
            self._images[index] = image
        return self._images[index]

    def crop(self, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        """A random crop of a random photo, resized to ``shape`` (H, W) → uint8 BGR."""
        image = self._image(int(rng.integers(len(self.paths))))
        height, width = shape
        ih, iw = image.shape[:2]
        scale = min(ih / height, iw / width) * rng.uniform(0.35, 1.0)
        ch, cw = max(2, int(height * scale)), max(2, int(width * scale))
        y, x = int(rng.integers(0, ih - ch + 1)), int(rng.integers(0, iw - cw + 1))
        patch = image[y : y + ch, x : x + cw]
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        return cv2.resize(
            np.ascontiguousarray(patch), (width, height), interpolation=cv2.INTER_AREA
        )


# ---------------------------------------------------------------------------------------------
# Motion


def _ou(rng, steps: int, sigma: float, theta: float, start: float = 0.0) -> np.ndarray:
    """``(steps,)`` Ornstein–Uhlenbeck path: smooth random drift that returns towards 0."""
    path = np.empty(steps)
    value = start
    noise = rng.normal(0, sigma, steps)
    for t in range(steps):
        path[t] = value
        value += -theta * value + noise[t]
    return path


class _Camera:
    """Where the camera looks: ``centre`` (T, 2) world x, y at the frame centre, ``zoom`` (T,)
    frame pixels per world pixel, ``roll`` (T,) radians."""

    def __init__(self, centre: np.ndarray, zoom: np.ndarray, roll: np.ndarray, frame_size):
        self.centre, self.zoom, self.roll = centre, zoom, roll
        height, width = frame_size
        self.frame_centre = np.array([width / 2, height / 2])
        cos, sin = np.cos(roll), np.sin(roll)
        self.linear = zoom[:, None, None] * np.stack(
            [np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2
        )  # (T, 2, 2)

    def matrix(self, t: int, parallax: float = 1.0) -> np.ndarray:
        """``(2, 3)`` affine world → frame at time ``t``; ``parallax`` > 1 for layers nearer
        the camera than the scene (they sweep past faster when the camera moves)."""
        matrix = np.empty((2, 3))
        matrix[:, :2] = self.linear[t]
        matrix[:, 2] = self.frame_centre - self.linear[t] @ (self.centre[t] * parallax)
        return matrix

    def to_screen(self, t: int, point, parallax: float = 1.0) -> np.ndarray:
        relative = np.asarray(point, float) - self.centre[t] * parallax
        return self.linear[t] @ relative + self.frame_centre

    def to_world(self, t: int, point, parallax: float = 1.0) -> np.ndarray:
        offset = np.asarray(point, float) - self.frame_centre
        return np.linalg.solve(self.linear[t], offset) + self.centre[t] * parallax

    def screen_path(self, points: np.ndarray, parallax: float = 1.0) -> np.ndarray:
        """``(T, 2)`` world points, one per frame → ``(T, 2)`` frame points."""
        relative = points - self.centre * parallax
        return np.einsum("tij,tj->ti", self.linear, relative) + self.frame_centre


@dataclass
class _Track:
    """An object's state over time, in world pixels."""

    centre: np.ndarray  # (T, 2)
    size: np.ndarray  # (T, 2) silhouette width, height
    angle: np.ndarray  # (T,) radians
    pose: np.ndarray  # (T,) walking phase (radians) for articulated kinds
    gain: np.ndarray  # (T,) brightness


def _size_path(rng, steps, base_w, base_h, trend: float, wobble: float):
    """Log-size and log-aspect drift: growth or shrinking (approach), plus breathing."""
    log_scale = np.linspace(0, trend, steps) + _ou(rng, steps, 0.012 * wobble, 0.05)
    log_aspect = _ou(rng, steps, 0.008 * wobble, 0.05)
    scale = np.exp(log_scale)
    aspect = np.exp(log_aspect)
    return np.stack([base_w * scale * aspect, base_h * scale / aspect], axis=-1)


def _walk(rng, steps, start, speed, turn_rate, jerk) -> np.ndarray:
    """``(steps, 2)`` positions of an object with inertia that picks a new preferred velocity
    now and then (turns, stops, sprints) and accelerates towards it."""
    positions = np.empty((steps, 2))
    angle = rng.uniform(0, 2 * np.pi)
    preferred = speed * rng.uniform(0.2, 1.0) * np.array([math.cos(angle), math.sin(angle)])
    velocity = preferred * rng.uniform(0.5, 1.0)
    position = np.asarray(start, float)
    response = rng.uniform(0.05, 0.35)
    for t in range(steps):
        positions[t] = position
        if rng.random() < turn_rate:
            angle = rng.uniform(0, 2 * np.pi)
            magnitude = speed * (rng.uniform(0, 1.6) if rng.random() < 0.85 else 0.0)
            preferred = magnitude * np.array([math.cos(angle), math.sin(angle)])
        velocity = velocity + response * (preferred - velocity) + rng.normal(0, jerk, 2)
        position = position + velocity
    return positions


# ---------------------------------------------------------------------------------------------
# Objects


@dataclass
class _Object:
    mips: list[list[sprites.Sprite]]  # [pose][level]: each level half the size of the last
    track: _Track
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


def _mip_levels(sprite: sprites.Sprite, smallest: int = 8) -> list[sprites.Sprite]:
    levels = [sprite]
    while min(levels[-1].size) >= 2 * smallest:
        previous = levels[-1]
        h, w = previous.size
        rgba = cv2.resize(previous.rgba, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        levels.append(sprites.Sprite(rgba, previous.hull * np.array([(w // 2) / w, (h // 2) / h])))
    return levels


def _make_object(rng, look, track, depth, photos, config, max_screen_side, **kwargs) -> _Object:
    """Sprites for ``look`` at about the largest size it reaches on screen (≤ 160 px)."""
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
    return _Object([_mip_levels(p) for p in poses], track, depth, **kwargs)


# ---------------------------------------------------------------------------------------------
# The scene


class _Scene:
    """One sequence's world: plans every motion at construction, renders frame ``t`` on call."""

    def __init__(self, seed: int, length: int, frame_size, config: SyntheticConfig, photos):
        if length < 1:
            raise ValueError(f"length must be at least 1, got {length}")
        self.rng = rng = np.random.default_rng(seed)
        self.length, self.config = length, config
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self._plan_camera_and_target(rng)
        self._make_canvas(rng, photos)
        self.target = _make_object(
            rng,
            self.target_look,
            self.target_track,
            0.0,
            photos,
            config,
            self.target_screen_side,
            is_target=True,
            ground_shadow=self.target_look.kind in ("person", "vehicle"),
        )
        self.objects = [self.target]
        self._add_distractors(rng, photos)
        self._add_clutter(rng, photos)
        self._add_occluders(rng, photos)
        for obj in self.objects:
            obj.screen = self.camera.screen_path(obj.track.centre, obj.parallax)
        self.objects.sort(key=lambda o: o.depth)
        self._clear_first_frame()
        self._plan_photometry(rng)

    # -- planning ---------------------------------------------------------------------------

    def _plan_camera_and_target(self, rng):
        steps, (height, width), config = self.length, self.frame_size, self.config
        motion = config.camera_motion
        mode = rng.choice(["still", "pan", "follow", "handheld"], p=[0.25, 0.25, 0.35, 0.15])
        zoom = rng.uniform(0.8, 1.25) * np.exp(
            np.linspace(0, rng.normal(0, 0.25) * motion if rng.random() < 0.3 else 0, steps)
            + _ou(rng, steps, 0.006 * motion, 0.05)
        )
        roll = _ou(rng, steps, 0.002 * motion, 0.05) + rng.normal(0, 0.02) * motion
        shake_amount = (3.0 if mode == "handheld" else 0.6) * motion
        shake = np.stack([_ou(rng, steps, shake_amount, 0.5) for _ in range(2)], -1)
        shake *= rng.random() < 0.6 or mode == "handheld"

        # The target: size and aspect at the first frame, then its world path.
        look = sprites.random_look(rng)
        aspect = sprites.sprite_aspect(rng, look.kind, config.target_aspect)
        low, high = config.target_height
        screen_h = height * math.exp(rng.uniform(math.log(low), math.log(high)))
        screen_h = min(screen_h, 0.8 * width / aspect)  # wide objects must fit across
        screen_w = screen_h * aspect
        trend = rng.normal(0, 0.35) if rng.random() < 0.4 else 0.0
        size = _size_path(rng, steps, screen_w, screen_h, trend, rng.uniform(0.3, 1.5))
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
        camera = _Camera(camera_centre, zoom, roll, self.frame_size)
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
                    heading = rng.uniform(0, 2 * np.pi)
                    magnitude = speed * (rng.uniform(0, 1.6) if rng.random() < 0.85 else 0.0)
                    preferred = magnitude * np.array([math.cos(heading), math.sin(heading)])
                velocity = velocity + response * (preferred - velocity) + rng.normal(0, jerk, 2)
                if stay_in_view:
                    self._turn_back_at_edges(camera, t, position, velocity, preferred, band)
                position = position + velocity
            centre[t] = position
        camera_centre += shake / zoom[:, None]
        self.camera = camera

        spin = rng.normal(0, 0.08) if rng.random() < 0.08 else 0.0
        angle = _ou(rng, steps, 0.01, 0.05) * (look.kind != "person") + spin * np.arange(steps)
        pose = np.cumsum(np.full(steps, rng.uniform(0.15, 0.5)))
        gain = np.exp(_ou(rng, steps, 0.01 * config.lighting, 0.1))
        self.target_track = _Track(centre, size, angle, pose, gain)
        self.target_look = look
        self.target_screen_side = float((size.max(axis=1) * zoom).max())

    def _turn_back_at_edges(self, camera, t, position, velocity, preferred, band) -> None:
        """Near the frame's edge and heading out (relative to the camera), turn back: reverse
        that component of the velocity (with some loss) and of the intention. In place."""
        height, width = self.frame_size
        screen = camera.to_screen(t - 1, position)
        camera_velocity = camera.centre[t] - camera.centre[t - 1]
        relative = velocity - camera_velocity
        for axis, extent in ((0, width), (1, height)):
            leaving_low = screen[axis] < band[axis] and relative[axis] < 0
            leaving_high = screen[axis] > extent - band[axis] and relative[axis] > 0
            if leaving_low or leaving_high:
                velocity[axis] = camera_velocity[axis] - 0.4 * relative[axis]
                if preferred[axis] * relative[axis] > 0:
                    preferred[axis] = -preferred[axis]

    def _make_canvas(self, rng, photos):
        """A background covering everything the camera sees, in world pixels."""
        height, width = self.frame_size
        corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], float)
        seen = np.array([self.camera.to_world(t, c) for t in range(self.length) for c in corners])
        low, high = seen.min(axis=0) - 4, seen.max(axis=0) + 4
        # Very long pans would need a huge canvas: cap it, and let the border mirror beyond.
        extent = np.minimum(high - low, np.array([width, height]) * 4.0)
        self.canvas_origin = (low + high) / 2 - extent / 2
        shape = (int(math.ceil(extent[1])), int(math.ceil(extent[0])))
        if photos is not None and rng.random() < self.config.photo_probability:
            canvas = photos.crop(rng, shape)
        else:
            canvas = textures.background(shape, rng)
        self._scatter_static_objects(rng, canvas, photos)
        self.canvas = canvas

    def _scatter_static_objects(self, rng, canvas, photos):
        """Objects lying on the background, some of them look-alikes of the target."""
        low, high = self.config.static_objects
        count = int(rng.integers(low, high + 1))
        height, width = canvas.shape[:2]
        for _ in range(count):
            if rng.random() < 0.25:
                look = sprites.look_alike(rng, self.target_look, rng.uniform(0.3, 0.9))
            else:
                look = sprites.random_look(rng)
            side = self.frame_size[0] * math.exp(rng.uniform(math.log(0.06), math.log(0.4)))
            aspect = sprites.sprite_aspect(rng, look.kind, self.config.target_aspect)
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

    def _object_track(self, rng, centre, base_size, speed):
        steps = self.length
        positions = _walk(rng, steps, centre, speed, rng.uniform(0.01, 0.08), speed * 0.03)
        trend = rng.normal(0, 0.3) if rng.random() < 0.3 else 0.0
        size = _size_path(rng, steps, base_size[0], base_size[1], trend, rng.uniform(0.3, 1.5))
        angle = _ou(rng, steps, 0.01, 0.05)
        pose = np.cumsum(np.full(steps, rng.uniform(0.15, 0.5)))
        gain = np.exp(_ou(rng, steps, 0.01 * self.config.lighting, 0.1))
        return _Track(positions, size, angle, pose, gain)

    def _screen_side(self, track: _Track) -> float:
        return float((track.size.max(axis=1) * self.camera.zoom).max())

    def _add_distractors(self, rng, photos):
        low, high = self.config.distractors
        target = self.target_track
        for _ in range(int(rng.integers(low, high + 1))):
            look = sprites.look_alike(rng, self.target_look, rng.uniform(0.4, 1.0))
            base = target.size[0] * rng.uniform(0.7, 1.3, 2)
            if rng.random() < 0.5:  # a companion: starts near the target, similar motion
                offset = rng.normal(0, 1.0, 2) * target.size[0] * rng.uniform(1.2, 3.5)
                start = target.centre[0] + offset
                steps = np.linalg.norm(np.diff(target.centre, axis=0), axis=1)
                speed = float(steps.mean() if len(steps) else 0.0) + 0.5
            else:  # a crosser: passes the target at some moment, in front or behind
                start = target.centre[0] + rng.normal(0, 1.0, 2) * target.size[0] * 3
                speed = self.frame_size[1] * self.config.max_speed * rng.uniform(0.2, 1.2)
            track = self._object_track(rng, start, base, speed)
            if rng.random() >= 0.5:
                self._aim(track, rng)
            self._add_object(rng, look, track, photos)

    def _add_object(self, rng, look, track: _Track, photos) -> None:
        """A distractor or clutter object on ``track``, in front of or behind the target."""
        depth = rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 1.0)
        self.objects.append(
            _make_object(
                rng,
                look,
                track,
                depth,
                photos,
                self.config,
                self._screen_side(track),
                ground_shadow=look.kind in ("person", "vehicle"),
            )
        )

    def _aim(self, track: _Track, rng, parallax: float = 1.0):
        """Shift ``track`` so it crosses the target's position at a random moment (t ≥ 1)."""
        if self.length < 2:
            return
        moment = int(rng.integers(1, self.length))
        goal = (
            self.target_track.centre[moment]
            + rng.normal(0, 0.3, 2) * self.target_track.size[moment]
        )
        if parallax != 1.0:  # a nearer layer: match the target on screen, not in the world
            goal = self.camera.to_world(moment, self.camera.to_screen(moment, goal), parallax)
        track.centre += goal - track.centre[moment]

    def _add_clutter(self, rng, photos):
        low, high = self.config.clutter
        height, width = self.frame_size
        for _ in range(int(rng.integers(low, high + 1))):
            look = sprites.random_look(rng)
            start = self.camera.to_world(0, rng.uniform((0, 0), (width, height)))
            side = (
                height * math.exp(rng.uniform(math.log(0.05), math.log(0.5))) / self.camera.zoom[0]
            )
            aspect = sprites.sprite_aspect(rng, look.kind, self.config.target_aspect)
            base = (
                np.array([side * aspect, side]) if aspect <= 1 else np.array([side, side / aspect])
            )
            speed = width * self.config.max_speed * rng.uniform(0.0, 1.0)
            track = self._object_track(rng, start, base, speed)
            self._add_object(rng, look, track, photos)

    def _add_occluders(self, rng, photos):
        low, high = self.config.occluders
        target = self.target_track
        # Occlusions are events, not the rule: most sequences have none or one.
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
            speed = self.frame_size[1] * self.config.max_speed * rng.uniform(0.3, 1.5)
            track = self._object_track(rng, target.centre[0], base, speed)
            self._aim(track, rng, parallax)
            self.objects.append(
                _make_object(
                    rng,
                    look,
                    track,
                    2.0 + rng.random(),
                    photos,
                    self.config,
                    self._screen_side(track) * parallax,
                    parallax=parallax,
                )
            )

    def _clear_first_frame(self):
        """Objects in front of the target that cover it at the first frame go behind it, so
        the sequence starts with the target in full view."""
        target_box = self._box(self.target, 0)
        for obj in self.objects:
            if obj.depth > self.target.depth and _overlap(self._box(obj, 0), target_box) > 0:
                obj.depth = -obj.depth - 3.0
        self.objects.sort(key=lambda o: o.depth)

    def _plan_photometry(self, rng):
        steps, (height, width), config = self.length, self.frame_size, self.config
        lighting = config.lighting
        self.brightness = np.exp(
            rng.normal(0, 0.15 * lighting)
            + np.linspace(0, rng.normal(0, 0.3 * lighting) if rng.random() < 0.4 else 0, steps)
            + _ou(rng, steps, 0.02 * lighting, 0.1)
        )
        self.colour_cast = np.exp(rng.normal(0, 0.06 * lighting, 3))
        ys = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
        xs = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
        vignette = 1.0 - rng.uniform(0, 0.35) * (xs * xs + ys * ys) / 2
        # Two illumination fields (shadows, a light source) the frame drifts between.
        self.light_fields = [
            textures.smooth_gain((height, width), rng, rng.uniform(0, 0.5) * lighting, grid=16)
            * vignette
            for _ in range(2)
        ]
        rate = rng.uniform(0, 0.08)
        self.light_mix = 0.5 + 0.5 * np.sin(rng.uniform(0, 2 * np.pi) + np.arange(steps) * rate)
        self.exposure = rng.uniform(0.0, 0.9) * config.blur  # motion blur per pixel of motion
        self.defocus = rng.uniform(0.0, 1.0) * config.blur if rng.random() < 0.4 else 0.0
        self.noise_sigma = rng.uniform(0.0, 6.0) * config.noise
        # Unit-variance uniform noise: looks the same as Gaussian at these levels, draws faster.
        self.noise = rng.random((height + 16, width + 16, 3), dtype=np.float32)
        self.noise -= 0.5
        self.noise *= math.sqrt(12.0)
        self.noise_offsets = rng.integers(0, 16, (steps, 2))
        self.jpeg_quality = int(rng.integers(25, 90)) if rng.random() < 0.5 * config.noise else None
        gamma = math.exp(rng.normal(0, 0.12 * lighting))
        self.gamma_lut = None
        if abs(gamma - 1) > 0.02:
            self.gamma_lut = (255.0 * (np.arange(256) / 255.0) ** gamma).astype(np.uint8)

    # -- geometry ---------------------------------------------------------------------------

    def _affine(self, obj: _Object, t: int, level: int, pose: int) -> np.ndarray:
        """``(2, 3)`` sprite pixels (mip ``level``) → frame pixels at time ``t``."""
        sh, sw = obj.mips[pose][level].size
        w, h = obj.track.size[t]
        a = obj.track.angle[t]
        cos, sin = math.cos(a), math.sin(a)
        # sprite px → world px (rotate, scale to the object's size) → frame px
        local = np.array([[cos * w / sw, -sin * h / sh], [sin * w / sw, cos * h / sh]])
        matrix = np.empty((2, 3))
        matrix[:, :2] = self.camera.linear[t] @ local
        matrix[:, 2] = obj.screen[t] - matrix[:, :2] @ (sw / 2, sh / 2)
        return matrix

    def _box(self, obj: _Object, t: int) -> np.ndarray:
        """Tight frame box (x1, y1, x2, y2) of ``obj``'s silhouette at ``t``, unclipped."""
        pose = obj.pose(t)
        matrix = self._affine(obj, t, 0, pose)
        points = obj.mips[pose][0].hull @ matrix[:, :2].T + matrix[:, 2]
        return np.concatenate([points.min(axis=0), points.max(axis=0)])

    # -- rendering --------------------------------------------------------------------------

    def render(self, t: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """Frame ``t`` (H, W, 3) uint8 BGR, the target's box (4,) xywh and its visibility."""
        height, width = self.frame_size
        frame = self._background(t)
        target_cover = None  # (y0, x0, visible alpha) of the target, eroded by what is in front
        for obj in self.objects:
            drawn = self._draw(frame, obj, t)
            if drawn is None:
                continue
            y0, x0, alpha = drawn
            if obj.is_target:
                target_cover = [y0, x0, alpha.copy()]
            elif target_cover is not None:
                _cover(target_cover, y0, x0, alpha)
        box, visible = self._target_box(t, target_cover)
        frame = self._photometry(frame, t)
        return frame, box, visible

    def _background(self, t: int) -> np.ndarray:
        """The canvas seen through the camera at ``t`` → (H, W, 3) float32. While the camera
        moves, the exposure integrates along its path: the average of the view shifted back
        towards where it was at the previous frame (one warp, then shifted slices)."""
        height, width = self.frame_size
        back = np.zeros(2)
        if t > 0 and self.exposure > 0:
            back = self.camera.linear[t] @ (self.camera.centre[t - 1] - self.camera.centre[t])
            back *= self.exposure
        samples = int(np.clip(math.ceil(np.abs(back).max()), 1, 8))
        pad = int(math.ceil(np.abs(back).max())) if samples > 1 else 0
        matrix = np.empty((2, 3))
        matrix[:, :2] = self.camera.linear[t]
        # The canvas sits at canvas_origin in the world; the padding shifts everything by pad.
        origin = self.camera.frame_centre + pad
        matrix[:, 2] = origin + self.camera.linear[t] @ (self.canvas_origin - self.camera.centre[t])
        view = cv2.warpAffine(
            self.canvas,
            matrix,
            (width + 2 * pad, height + 2 * pad),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        if samples == 1:
            return view.astype(np.float32)
        frame = np.zeros((height, width, 3), np.float32)
        for k in range(samples):
            dx, dy = np.rint(back * k / (samples - 1)).astype(int) + pad
            frame += view[dy : dy + height, dx : dx + width]
        frame *= 1.0 / samples
        return frame

    def _draw(self, frame: np.ndarray, obj: _Object, t: int):
        height, width = self.frame_size
        pose = obj.pose(t)
        full = self._affine(obj, t, 0, pose)
        scale = math.sqrt(abs(full[0, 0] * full[1, 1] - full[0, 1] * full[1, 0]))
        level = int(
            np.clip(
                math.floor(math.log2(1.0 / scale)) if scale < 1 else 0, 0, len(obj.mips[pose]) - 1
            )
        )
        sprite = obj.mips[pose][level]
        matrix = self._affine(obj, t, level, pose)
        sh, sw = sprite.size
        corners = (
            np.array([[0, 0], [sw, 0], [0, sh], [sw, sh]], float) @ matrix[:, :2].T + matrix[:, 2]
        )
        blur = self._motion(obj, t)
        pad = int(math.ceil(np.abs(blur).max())) + 1
        x0, y0 = np.floor(corners.min(axis=0)).astype(int) - pad
        x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + pad
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if x1 - x0 < 1 or y1 - y0 < 1:
            return None
        shifted = matrix.copy()
        shifted[:, 2] -= (x0, y0)
        warped = cv2.warpAffine(
            sprite.rgba,
            shifted,
            (x1 - x0, y1 - y0),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        if not warped[..., 3].any():
            return None
        # Premultiplied colour and alpha in one array, so that one filter blurs both.
        layer = warped.astype(np.float32)
        layer[..., 3] *= 1.0 / 255.0
        layer[..., :3] *= (layer[..., 3] * obj.track.gain[t])[..., None]
        if np.hypot(*blur) >= 1.0:
            layer = cv2.filter2D(layer, -1, _line_kernel(blur), borderType=cv2.BORDER_CONSTANT)
        colour, alpha = layer[..., :3], layer[..., 3]
        region = frame[y0:y1, x0:x1]
        if obj.ground_shadow:
            _ground_shadow(region, corners - (x0, y0), scale)
        keep = cv2.merge([1.0 - alpha] * 3)
        region[:] = cv2.add(cv2.multiply(region, keep), colour)  # colour is premultiplied
        return y0, x0, alpha

    def _motion(self, obj: _Object, t: int) -> np.ndarray:
        """Screen displacement × exposure: the object's motion-blur vector at ``t``."""
        if t == 0 or self.exposure <= 0:
            return np.zeros(2)
        return np.clip((obj.screen[t] - obj.screen[t - 1]) * self.exposure, -15, 15)

    def _target_box(self, t: int, cover) -> tuple[np.ndarray, bool]:
        height, width = self.frame_size
        x1, y1, x2, y2 = self._box(self.target, t)
        cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
        # The whole silhouette's area on screen, in view or not: its sprite area × the warp's
        # area scale.
        pose = self.target.pose(t)
        area = self.target.areas[pose] * abs(
            np.linalg.det(self._affine(self.target, t, 0, pose)[:, :2])
        )
        seen = float(cover[2].sum()) if cover is not None else 0.0
        visible = (
            cx2 - cx1 >= 1
            and cy2 - cy1 >= 1
            and seen >= self.config.min_visible_fraction * max(area, 1e-6)
        )
        if not visible:
            return np.full(4, np.nan, np.float32), False
        return np.array([cx1, cy1, cx2 - cx1, cy2 - cy1], np.float32), True

    def _photometry(self, frame: np.ndarray, t: int) -> np.ndarray:
        """What the camera does to the light: ``frame`` (H, W, 3) float32 → uint8."""
        height, width = self.frame_size
        mix = float(self.light_mix[t])
        light = cv2.addWeighted(self.light_fields[0], 1 - mix, self.light_fields[1], mix, 0)
        # One (H, W, 3) gain: illumination × brightness × colour cast. OpenCV's per-element
        # multiply is several times faster here than numpy's broadcasting.
        cast = self.brightness[t] * self.colour_cast
        gain = cv2.merge([light * np.float32(c) for c in cast])
        cv2.multiply(frame, gain, dst=frame)
        if self.defocus > 0.2:
            frame = cv2.GaussianBlur(frame, (0, 0), self.defocus)
        if self.noise_sigma > 0.3:
            dy, dx = self.noise_offsets[t]
            noise = self.noise[dy : dy + height, dx : dx + width]
            frame = cv2.scaleAdd(noise, float(self.noise_sigma), frame)
        image = np.clip(frame, 0, 255, out=frame).astype(np.uint8)
        if self.gamma_lut is not None:
            image = cv2.LUT(image, self.gamma_lut)
        if self.jpeg_quality is not None:
            ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            image = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
        return image


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, w) * max(0.0, h)


def _cover(target_cover, y0: int, x0: int, alpha: np.ndarray) -> None:
    """Reduce the target's visible alpha where ``alpha`` (placed at y0, x0) lies over it."""
    ty, tx, visible = target_cover
    th, tw = visible.shape
    ah, aw = alpha.shape
    top, left = max(ty, y0), max(tx, x0)
    bottom, right = min(ty + th, y0 + ah), min(tx + tw, x0 + aw)
    if bottom <= top or right <= left:
        return
    visible[top - ty : bottom - ty, left - tx : right - tx] *= (
        1.0 - alpha[top - y0 : bottom - y0, left - x0 : right - x0]
    )


def _line_kernel(vector: np.ndarray) -> np.ndarray:
    """A normalised line kernel along ``vector`` (dx, dy): linear motion blur."""
    dx, dy = float(vector[0]), float(vector[1])
    length = max(1, int(math.ceil(math.hypot(dx, dy))))
    size = 2 * length + 1
    kernel = np.zeros((size, size), np.float32)
    cv2.line(
        kernel,
        (int(round(length - dx / 2)), int(round(length - dy / 2))),
        (int(round(length + dx / 2)), int(round(length + dy / 2))),
        1.0,
        1,
        cv2.LINE_AA,
    )
    return kernel / kernel.sum()


def _ground_shadow(region: np.ndarray, corners: np.ndarray, scale: float) -> None:
    """Darken a soft ellipse at the bottom of the object's footprint (contact shadow)."""
    x_min, y_min = corners.min(axis=0)
    x_max, y_max = corners.max(axis=0)
    height, width = region.shape[:2]
    centre = (int((x_min + x_max) / 2), int(min(y_max, height - 1)))
    axes = (max(1, int((x_max - x_min) * 0.55)), max(1, int((y_max - y_min) * 0.07)))
    shadow = np.zeros((height, width), np.float32)
    cv2.ellipse(shadow, centre, axes, 0, 0, 360, 0.35, -1, cv2.LINE_AA)
    shadow = cv2.GaussianBlur(shadow, (0, 0), max(1.0, axes[1]))
    region *= 1.0 - shadow[..., None]


# ---------------------------------------------------------------------------------------------
# Public entry points


def render_frames(
    seed: int,
    length: int,
    frame_size: tuple[int, int] = (187, 621),
    config: SyntheticConfig | None = None,
    photos: PhotoLibrary | str | Path | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
    """Yield ``(frame (H, W, 3) uint8 BGR, box (4,) float32 xywh, visible)`` for ``length``
    frames of the sequence ``seed`` — one frame at a time, for long sequences."""
    if photos is not None and not isinstance(photos, PhotoLibrary):
        photos = PhotoLibrary(photos)
    scene = _Scene(seed, length, frame_size, config or SyntheticConfig(), photos)
    for t in range(length):
        yield scene.render(t)


def generate_sequence(
    seed: int,
    length: int,
    frame_size: tuple[int, int] = (187, 621),
    config: SyntheticConfig | None = None,
    photos: PhotoLibrary | str | Path | None = None,
) -> SyntheticSequence:
    """The synthetic sequence ``seed``: ``length`` frames of ``frame_size`` (H, W).

    ``photos``: a folder (or :class:`PhotoLibrary`) of the user's images to use as backgrounds
    and object surfaces. The same arguments always give the same sequence.
    """
    height, width = frame_size
    frames = np.empty((length, height, width, 3), np.uint8)
    boxes = np.empty((length, 4), np.float32)
    visible = np.empty(length, bool)
    for t, (frame, box, seen) in enumerate(render_frames(seed, length, frame_size, config, photos)):
        frames[t], boxes[t], visible[t] = frame, box, seen
    return SyntheticSequence(frames, boxes, visible, seed)


def write_synthetic_sequence(
    path: str | Path,
    seed: int,
    length: int,
    frame_size: tuple[int, int] = (360, 640),
    layout: str = "video",
    config: SyntheticConfig | None = None,
    photos: PhotoLibrary | str | Path | None = None,
    **options,
) -> Path:
    """Write the synthetic sequence ``seed`` to ``path``: a video plus box file
    (``layout="video"``, ``path`` like ``sample.mp4``, boxes in ``sample.txt``) or a sequence
    folder in the ``otb`` or ``got10k`` layout. ``options`` go to the writer (``fps``,
    ``quality``). Frames stream to disk one at a time."""
    from hart.datasets.writers import write_sequence  # writers know nothing of synthetic data

    items = render_frames(seed, length, frame_size, config, photos)
    return write_sequence(path, items, layout, **options)


def write_synthetic_dataset(
    root: str | Path,
    count: int,
    length: int,
    seed: int = 0,
    frame_size: tuple[int, int] = (360, 640),
    layout: str = "otb",
    config: SyntheticConfig | None = None,
    photos: PhotoLibrary | str | Path | None = None,
) -> list[Path]:
    """``count`` synthetic sequences of ``length`` frames under ``root`` (``synthetic-0000`` …,
    or ``synthetic-0000.mp4`` … for ``layout="video"``); ``load_sequences(root)`` reads them."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if photos is not None and not isinstance(photos, PhotoLibrary):
        photos = PhotoLibrary(photos)
    seeds = np.random.SeedSequence(seed).generate_state(count, dtype=np.uint64)
    paths = []
    for index, sequence_seed in enumerate(seeds):
        name = f"synthetic-{index:04d}" + (".mp4" if layout == "video" else "")
        paths.append(
            write_synthetic_sequence(
                root / name, int(sequence_seed), length, frame_size, layout, config, photos
            )
        )
    if layout == "got10k":  # the split's listing, so that the root reads as a GOT-10k split
        (root / "list.txt").write_text("".join(f"{path.name}\n" for path in paths))
    return paths

"""How things move in the synthetic world: random drifts, walks with inertia, the camera.

Plain functions of the random generator: the same generator state gives the same paths. World
coordinates are pixels of the scene's canvas; :class:`Camera` maps them to the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def ou(rng, steps: int, sigma: float, theta: float, start: float = 0.0) -> np.ndarray:
    """``(steps,)`` Ornstein–Uhlenbeck path: smooth random drift that returns towards 0."""
    path = np.empty(steps)
    value = start
    noise = rng.normal(0, sigma, steps)
    for t in range(steps):
        path[t] = value
        value += -theta * value + noise[t]
    return path


class Camera:
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

    def to_screen(self, t: int, point, parallax: float = 1.0) -> np.ndarray:
        """A world point → frame pixels at time ``t``; ``parallax`` > 1 for layers nearer the
        camera than the scene (they sweep past faster when the camera moves)."""
        relative = np.asarray(point, float) - self.centre[t] * parallax
        return self.linear[t] @ relative + self.frame_centre

    def to_world(self, t: int, point, parallax: float = 1.0) -> np.ndarray:
        """Frame pixels at time ``t`` → the world point seen there."""
        offset = np.asarray(point, float) - self.frame_centre
        return np.linalg.solve(self.linear[t], offset) + self.centre[t] * parallax

    def screen_path(self, points: np.ndarray, parallax: float = 1.0) -> np.ndarray:
        """``(T, 2)`` world points, one per frame → ``(T, 2)`` frame points."""
        relative = points - self.centre * parallax
        return np.einsum("tij,tj->ti", self.linear, relative) + self.frame_centre


@dataclass
class Track:
    """An object's state over time, in world pixels."""

    centre: np.ndarray  # (T, 2)
    size: np.ndarray  # (T, 2) silhouette width, height
    angle: np.ndarray  # (T,) radians
    pose: np.ndarray  # (T,) walking phase (radians) for articulated kinds
    gain: np.ndarray  # (T,) brightness


def size_path(rng, steps, base_w, base_h, trend: float, wobble: float) -> np.ndarray:
    """``(steps, 2)`` width, height: log-size and log-aspect drift, growth or shrinking
    (approach), plus breathing."""
    log_scale = np.linspace(0, trend, steps) + ou(rng, steps, 0.012 * wobble, 0.05)
    log_aspect = ou(rng, steps, 0.008 * wobble, 0.05)
    scale = np.exp(log_scale)
    aspect = np.exp(log_aspect)
    return np.stack([base_w * scale * aspect, base_h * scale / aspect], axis=-1)


def new_intention(rng, speed: float) -> np.ndarray:
    """A new preferred velocity ``(2,)``: a turn, a sprint (up to 1.6 × ``speed``) or a stop."""
    heading = rng.uniform(0, 2 * np.pi)
    magnitude = speed * (rng.uniform(0, 1.6) if rng.random() < 0.85 else 0.0)
    return magnitude * np.array([math.cos(heading), math.sin(heading)])


def walk(rng, steps, start, speed, turn_rate, jerk) -> np.ndarray:
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
            preferred = new_intention(rng, speed)
        velocity = velocity + response * (preferred - velocity) + rng.normal(0, jerk, 2)
        position = position + velocity
    return positions


def object_track(rng, steps: int, centre, base_size, speed: float, lighting: float) -> Track:
    """A walking object's track from ``centre`` at about ``base_size`` (w, h) and ``speed``
    (world pixels per frame); ``lighting`` scales its brightness drift."""
    positions = walk(rng, steps, centre, speed, rng.uniform(0.01, 0.08), speed * 0.03)
    trend = rng.normal(0, 0.3) if rng.random() < 0.3 else 0.0
    size = size_path(rng, steps, base_size[0], base_size[1], trend, rng.uniform(0.3, 1.5))
    angle = ou(rng, steps, 0.01, 0.05)
    pose = np.cumsum(np.full(steps, rng.uniform(0.15, 0.5)))
    gain = np.exp(ou(rng, steps, 0.01 * lighting, 0.1))
    return Track(positions, size, angle, pose, gain)


def aim(rng, track: Track, target: Track, camera: Camera, parallax: float = 1.0) -> None:
    """Shift ``track`` (in place) so that it crosses ``target``'s position at a random moment
    (t ≥ 1); a nearer layer (``parallax`` > 1) meets it on screen, not in the world."""
    steps = len(target.centre)
    if steps < 2:
        return
    moment = int(rng.integers(1, steps))
    goal = target.centre[moment] + rng.normal(0, 0.3, 2) * target.size[moment]
    if parallax != 1.0:
        goal = camera.to_world(moment, camera.to_screen(moment, goal), parallax)
    track.centre += goal - track.centre[moment]


def turn_back_at_edges(
    frame_size, camera: Camera, t: int, position, velocity, preferred, band
) -> None:
    """Near the frame's edge and heading out (relative to the camera), turn back: reverse
    that component of the velocity (with some loss) and of the intention. In place."""
    height, width = frame_size
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

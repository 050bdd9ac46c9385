"""Objects for the synthetic scenes: textured, shaded shapes with an alpha mask.

A :class:`Sprite` is an RGBA image whose alpha is the object's silhouette (anti-aliased) plus
the silhouette's convex hull, from which the tight box of the object is computed after any
warp. Objects come in kinds that stand for what trackers follow in real footage: blobs and
ellipses (balls, faces, animals), boxes and polygons (signs, cars from above, toys), people
(head, torso, swinging legs) and vehicles (body, cabin, windows, wheels). Each has a surface
from :mod:`hart.datasets.synthetic.textures`, shading from one side, an outline and inner parts
(windows, eyes, logos) — the structure an appearance model can latch on to.

:func:`look_alike` makes a distractor: same kind, same palette up to a small shift, new
details — an object a tracker can confuse with the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from hart.datasets.synthetic import textures

KINDS = ("ellipse", "box", "polygon", "blob", "person", "vehicle")
KIND_WEIGHTS = (0.16, 0.16, 0.14, 0.16, 0.2, 0.18)
# Width / height of each kind's silhouette: the aspect its sprites are drawn at.
KIND_ASPECT = {"person": (0.3, 0.55), "vehicle": (1.3, 2.8)}


@dataclass
class Sprite:
    """``rgba``: ``(h, w, 4)`` uint8 BGR + alpha; ``hull``: ``(K, 2)`` float32 ``x, y`` points
    (sprite pixels) whose min/max is the object's tight box."""

    rgba: np.ndarray
    hull: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        return self.rgba.shape[0], self.rgba.shape[1]


@dataclass
class Look:
    """What an object looks like: its kind, palette and the seed of its details, so that a
    look-alike can reuse them."""

    kind: str
    colours: np.ndarray  # (k, 3) uint8 BGR
    surface_seed: int


def random_look(rng: np.random.Generator, kind: str | None = None) -> Look:
    kind = kind or str(rng.choice(KINDS, p=KIND_WEIGHTS))
    return Look(
        kind,
        textures.random_colours(rng, int(rng.integers(2, 5)), vivid=0.35),
        int(rng.integers(2**31)),
    )


def look_alike(rng: np.random.Generator, look: Look, closeness: float) -> Look:
    """A look near ``look``: ``closeness`` 1 keeps the palette and surface (a twin), 0 only the
    kind."""
    spread = 4.0 + 30.0 * (1.0 - closeness)
    colours = np.concatenate([textures.related_colours(rng, c, 1, spread) for c in look.colours])
    seed = look.surface_seed if rng.random() < closeness else int(rng.integers(2**31))
    return Look(look.kind, colours, seed)


def sprite_aspect(rng: np.random.Generator, kind: str, aspect_range=(0.3, 3.0)) -> float:
    """A width/height for an object of ``kind``: the kind's own range, or ``aspect_range``."""
    low, high = KIND_ASPECT.get(kind, aspect_range)
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _silhouette(kind: str, height: int, width: int, rng: np.random.Generator, phase: float):
    """``(h, w)`` uint8 mask (255 inside) and a list of inner-part masks for shading."""
    mask = np.zeros((height, width), np.uint8)
    parts = []
    h, w = height, width
    if kind == "ellipse":
        cv2.ellipse(
            mask, (w // 2, h // 2), (w // 2 - 1, h // 2 - 1), 0, 0, 360, 255, -1, cv2.LINE_AA
        )
    elif kind == "box":
        radius = int(min(h, w) * rng.uniform(0.0, 0.3))
        _rounded_rectangle(mask, 0, 0, w - 1, h - 1, radius)
    elif kind == "polygon":
        n = int(rng.integers(3, 9))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = rng.uniform(0.6, 1.0, n)
        pts = np.stack([np.cos(angles) * radii, np.sin(angles) * radii], -1)
        pts = (pts - pts.min(0)) / np.maximum(pts.max(0) - pts.min(0), 1e-3)
        pts = (pts * [w - 1, h - 1]).astype(np.int32)
        cv2.fillPoly(mask, [cv2.convexHull(pts)], 255, cv2.LINE_AA)
    elif kind == "blob":
        field = textures.fractal_noise((h, w), rng, beta=3.5, max_side=32)
        ys = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
        xs = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
        envelope = 1.0 - (xs * xs + ys * ys)
        blob = (envelope * 2.5 + 0.6 * field) > 0.4
        mask[blob] = 255
        mask = cv2.GaussianBlur(mask, (3, 3), 0)
        if not mask.any():
            cv2.ellipse(mask, (w // 2, h // 2), (w // 2 - 1, h // 2 - 1), 0, 0, 360, 255, -1)
    elif kind == "person":
        parts = _person(mask, h, w, rng, phase)
    else:
        parts = _vehicle(mask, h, w, rng)
    return mask, parts


def _rounded_rectangle(mask, x1, y1, x2, y2, radius, value=255):
    radius = max(0, min(radius, (x2 - x1) // 2, (y2 - y1) // 2))
    cv2.rectangle(mask, (x1 + radius, y1), (x2 - radius, y2), value, -1)
    cv2.rectangle(mask, (x1, y1 + radius), (x2, y2 - radius), value, -1)
    if radius:
        for cx, cy in (
            (x1 + radius, y1 + radius),
            (x2 - radius, y1 + radius),
            (x1 + radius, y2 - radius),
            (x2 - radius, y2 - radius),
        ):
            cv2.circle(mask, (cx, cy), radius, value, -1, cv2.LINE_AA)


def _person(mask, h, w, rng, phase):
    """Head, torso, arms and two legs whose swing follows ``phase`` (a walking cycle)."""
    head_r = max(1, int(min(w * 0.24, h * 0.09)))
    cx = w // 2
    head = np.zeros_like(mask)
    cv2.circle(head, (cx, head_r + 1), head_r, 255, -1, cv2.LINE_AA)
    torso = np.zeros_like(mask)
    top, hip = int(head_r * 2.1), int(h * rng.uniform(0.5, 0.58))
    _rounded_rectangle(torso, int(w * 0.18), top, int(w * 0.82), hip, max(1, int(w * 0.12)))
    swing = np.sin(phase) * w * 0.22
    legs = np.zeros_like(mask)
    thickness = max(1, int(w * 0.22))
    for side, sign in ((-1, 1), (1, -1)):
        hip_x = int(cx + side * w * 0.15)
        foot = (int(np.clip(hip_x + sign * swing, thickness // 2, w - 1 - thickness // 2)), h - 2)
        cv2.line(legs, (hip_x, hip - 2), foot, 255, thickness, cv2.LINE_AA)
    arms = np.zeros_like(mask)
    arm_t = max(1, int(w * 0.13))
    for side, sign in ((-1, -1), (1, 1)):
        shoulder = (int(cx + side * w * 0.33), top + arm_t)
        hand = (int(np.clip(shoulder[0] + sign * swing * 0.6, 0, w - 1)), int(hip + h * 0.05))
        cv2.line(arms, shoulder, hand, 255, arm_t, cv2.LINE_AA)
    np.maximum.reduce([head, torso, legs, arms], out=mask)
    return [head, torso | arms, legs]


def _vehicle(mask, h, w, rng):
    """Body, cabin with windows, wheels and lights, side or rear view."""
    body = np.zeros_like(mask)
    body_top = int(h * rng.uniform(0.3, 0.5))
    _rounded_rectangle(body, 0, body_top, w - 1, int(h * 0.88), int(h * 0.08))
    cabin = np.zeros_like(mask)
    inset = rng.uniform(0.1, 0.25) * w
    pts = np.array(
        [
            [inset, body_top + 1],
            [w - inset * 0.6, body_top + 1],
            [w - inset * 1.4, 1],
            [inset * 1.5, 1],
        ],
        np.int32,
    )
    cv2.fillPoly(cabin, [pts], 255, cv2.LINE_AA)
    windows = np.zeros_like(mask)
    shrink = max(1, int(h * 0.06))
    cv2.fillPoly(
        windows,
        [
            pts
            + np.array([[shrink, -shrink], [-shrink, -shrink], [-shrink, shrink], [shrink, shrink]])
        ],
        255,
    )
    wheels = np.zeros_like(mask)
    radius = max(1, int(h * rng.uniform(0.14, 0.2)))
    for x in (w * 0.22, w * 0.78):
        cv2.circle(wheels, (int(x), h - radius - 1), radius, 255, -1, cv2.LINE_AA)
    np.maximum.reduce([body, cabin, wheels], out=mask)
    return [body, cabin, windows, wheels]


def make_sprites(
    rng: np.random.Generator,
    look: Look,
    height: int,
    width: int,
    phases: tuple[float, ...] = (0.0,),
    photo_patch: np.ndarray | None = None,
) -> list[Sprite]:
    """Sprites ``height × width`` of ``look``, one per pose ``phase`` (people swing their legs
    through a walking cycle; other kinds ignore it). They share one surface.

    The surface comes from ``look.surface_seed`` (two sprites of one look share it), or from
    ``photo_patch`` (h, w, 3) uint8 when given; marks and shading come from ``rng``.
    """
    height, width = max(6, int(height)), max(6, int(width))
    surface_rng = np.random.default_rng(look.surface_seed)
    if photo_patch is not None:
        surface = cv2.resize(photo_patch, (width, height), interpolation=cv2.INTER_AREA)
    else:
        surface = textures.texture((height, width), surface_rng, look.colours)
    part_colours = look.colours[surface_rng.integers(0, len(look.colours), 4)].astype(np.float32)
    gain = textures.smooth_gain((height, width), rng, rng.uniform(0.3, 0.8))
    rim_depth = rng.uniform(0.1, 0.5)
    marks_seed = int(rng.integers(2**31))
    sprites = []
    for phase in phases:
        # Same silhouette parameters for every pose of one look.
        shape_rng = np.random.default_rng(look.surface_seed + 1)
        mask, parts = _silhouette(look.kind, height, width, shape_rng, phase)
        colour = surface.astype(np.float32)
        # Parts take their own colour (clothes, windows, tyres) but keep some of the texture.
        for part, part_colour in zip(parts[1:], part_colours[1:], strict=False):
            weight = (part.astype(np.float32) / 255.0)[..., None] * 0.75
            colour = colour * (1 - weight) + part_colour * weight
        if look.kind == "vehicle":
            colour *= 1.0 - 0.85 * (parts[3].astype(np.float32) / 255.0)[..., None]  # tyres
        _inner_marks(colour, mask, np.random.default_rng(marks_seed), look.colours)
        colour *= gain[..., None]
        # Darken a thin band inside the silhouette's edge, as the rim of a rounded object is.
        iterations = max(1, min(height, width) // 24)
        eroded = cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=iterations)
        rim = ((mask.astype(np.float32) - eroded) / 255.0)[..., None]
        colour *= 1.0 - rim_depth * rim
        rgba = np.dstack([np.clip(colour, 0, 255).astype(np.uint8), mask])
        sprites.append(Sprite(rgba, _hull(mask)))
    return sprites


def _inner_marks(colour, mask, rng, colours):
    """A few small contrasting shapes inside the silhouette (logos, eyes, spots)."""
    height, width = mask.shape
    for _ in range(int(rng.integers(0, 4))):
        ys, xs = np.nonzero(mask > 200)
        if len(xs) == 0:
            return
        pick = int(rng.integers(len(xs)))
        radius = max(1, int(min(height, width) * rng.uniform(0.04, 0.15)))
        mark = np.zeros_like(mask)
        if rng.random() < 0.5:
            cv2.circle(mark, (int(xs[pick]), int(ys[pick])), radius, 255, -1, cv2.LINE_AA)
        else:
            x, y = int(xs[pick]), int(ys[pick])
            cv2.rectangle(
                mark, (x - radius, y - radius // 2), (x + radius, y + radius // 2), 255, -1
            )
        weight = (np.minimum(mark, mask).astype(np.float32) / 255.0)[..., None]
        tone = colours[int(rng.integers(len(colours)))].astype(np.float32)
        tone = 255.0 - tone if rng.random() < 0.5 else tone * 0.4
        colour[:] = colour * (1 - weight) + tone * weight


def _hull(mask: np.ndarray) -> np.ndarray:
    points = cv2.findNonZero((mask > 127).astype(np.uint8))
    if points is None:
        h, w = mask.shape
        return np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    hull = cv2.convexHull(points).reshape(-1, 2).astype(np.float32)
    # Pixel centres → pixel edges: a pixel at column x covers [x, x + 1).
    centre = hull.mean(axis=0)
    return hull + 0.5 + 0.5 * np.sign(hull - centre)

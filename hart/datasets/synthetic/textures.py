"""Procedural images with the statistics of natural ones, for the synthetic sequences.

Real photographs cannot be shipped or downloaded, so backgrounds and objects are built from
the ingredients natural images are known to share: a ``1/f^β`` power spectrum (fractal noise),
occluding regions of roughly uniform colour at every scale (the "dead leaves" model), oriented
structure (stripes, tiles, edges) and smooth shading. Colours come from palettes that favour
the muted, correlated colours of real scenes over saturated random ones.

Everything takes a ``numpy.random.Generator`` and is deterministic given it. Images are
``uint8`` BGR ``(H, W, 3)``; masks and fields are ``float32``. Work is done at reduced
resolution where the content is smooth and scaled up with ``cv2.resize``, which keeps a
background for a 187×621 frame at a few milliseconds.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# ---------------------------------------------------------------------------------------------
# Colours


def random_colours(rng: np.random.Generator, count: int, vivid: float = 0.08) -> np.ndarray:
    """``(count, 3)`` uint8 BGR colours, mostly muted (low saturation, mid value) like real
    scenes; with probability ``vivid`` each is saturated (paint, clothes, signs)."""
    hue = rng.uniform(0, 180, count)
    saturation = np.where(
        rng.random(count) < vivid, rng.uniform(130, 240, count), rng.beta(1.2, 3.5, count) * 220
    )
    value = rng.uniform(35, 245, count)
    hsv = np.stack([hue, saturation, value], axis=-1).astype(np.uint8)[None]  # (1, count, 3)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0]


def related_colours(
    rng: np.random.Generator, base: np.ndarray, count: int, spread: float = 18.0
) -> np.ndarray:
    """``(count, 3)`` uint8 BGR colours near ``base`` (3,) in hue, saturation and value: the
    colours of one material, or of an object that looks like another."""
    hsv = cv2.cvtColor(np.asarray(base, np.uint8).reshape(1, 1, 3), cv2.COLOR_BGR2HSV)[0, 0]
    hsv = hsv.astype(np.float32)
    hue = (hsv[0] + rng.normal(0, spread * 0.5, count)) % 180
    saturation = np.clip(hsv[1] + rng.normal(0, spread * 2, count), 0, 255)
    value = np.clip(hsv[2] + rng.normal(0, spread * 2.5, count), 20, 255)
    out = np.stack([hue, saturation, value], axis=-1).astype(np.uint8)[None]
    return cv2.cvtColor(out, cv2.COLOR_HSV2BGR)[0]


def palette_lut(rng: np.random.Generator, colours: np.ndarray) -> np.ndarray:
    """A ``(256, 1, 3)`` uint8 colour ramp through ``colours`` at random stops (for cv2.LUT)."""
    count = len(colours)
    stops = np.sort(rng.uniform(0, 255, count))
    stops[0], stops[-1] = 0, 255
    levels = np.arange(256)
    ramp = np.stack([np.interp(levels, stops, colours[:, c]) for c in range(3)], axis=-1)
    return ramp.astype(np.uint8).reshape(256, 1, 3)


def colourise(field: np.ndarray, lut: np.ndarray, contrast: float = 1.0) -> np.ndarray:
    """A zero-mean, unit-std field ``(H, W)`` → ``(H, W, 3)`` uint8 through a colour ramp."""
    grey = cv2.convertScaleAbs(field, alpha=55.0 * contrast, beta=128.0)  # saturates to 0…255
    return cv2.LUT(cv2.merge([grey, grey, grey]), lut)


# ---------------------------------------------------------------------------------------------
# Fields


def fractal_noise(
    shape: tuple[int, int], rng: np.random.Generator, beta: float = 2.0, max_side: int = 192
) -> np.ndarray:
    """``(H, W)`` float32 noise with power spectrum ``1/f^beta`` (natural images: β ≈ 2),
    normalised to zero mean and unit std.

    Synthesised by FFT on a grid of at most ``max_side`` pixels a side and scaled up: the
    spectrum falls fast enough that the missing top octaves carry little energy.
    """
    height, width = shape
    scale = max(1.0, max(height, width) / max_side)
    grid_h, grid_w = max(8, math.ceil(height / scale)), max(8, math.ceil(width / scale))
    white = rng.standard_normal((grid_h, grid_w)).astype(np.float32)
    spectrum = np.fft.rfft2(white)
    fy = np.fft.fftfreq(grid_h)[:, None]
    fx = np.fft.rfftfreq(grid_w)[None, :]
    radius = np.sqrt(fx * fx + fy * fy)
    radius[0, 0] = 1.0
    spectrum *= radius ** (-beta / 2.0)
    spectrum[0, 0] = 0.0
    field = np.fft.irfft2(spectrum, s=(grid_h, grid_w)).astype(np.float32)
    field /= field.std() + 1e-6
    if (grid_h, grid_w) != (height, width):
        field = cv2.resize(field, (width, height), interpolation=cv2.INTER_CUBIC)
    return field


def grating(
    shape: tuple[int, int], rng: np.random.Generator, square: bool | None = None
) -> np.ndarray:
    """``(H, W)`` float32 stripes (a sine or square wave at a random angle and period, its
    phase warped by smooth noise so it bends like wood grain or fabric), zero mean, std ~1."""
    height, width = shape
    small_h, small_w = max(8, height // 2), max(8, width // 2)
    ys, xs = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(3, 30) / 2.0  # pixels at half resolution
    warp = fractal_noise((small_h, small_w), rng, beta=3.0, max_side=64) * rng.uniform(0, 3)
    phase = (xs * np.cos(angle) + ys * np.sin(angle)) * (2 * np.pi / period) + warp
    wave = np.sin(phase)
    if square if square is not None else rng.random() < 0.4:
        wave = np.tanh(4.0 * wave)
    wave = wave.astype(np.float32) * 1.4
    return cv2.resize(wave, (width, height), interpolation=cv2.INTER_LINEAR)


# ---------------------------------------------------------------------------------------------
# Images


def dead_leaves(
    shape: tuple[int, int],
    rng: np.random.Generator,
    colours: np.ndarray,
    count: int = 120,
    max_radius: float = 0.35,
    base: np.ndarray | None = None,
) -> np.ndarray:
    """``(H, W, 3)`` uint8: ``count`` random shapes (discs, ellipses, rotated rectangles,
    polygons) with power-law sizes, drawn over each other — the occlusion structure of natural
    scenes. Colours are drawn from ``colours`` (k, 3) with jitter. Drawn at half resolution on
    a flat colour, or at full resolution over a copy of ``base`` (H, W, 3) when given."""
    height, width = shape
    if base is None:
        small_h, small_w = max(8, height // 2), max(8, width // 2)
        image = np.empty((small_h, small_w, 3), np.uint8)
        image[:] = colours[rng.integers(len(colours))]
    else:
        small_h, small_w = height, width
        image = base.copy()
    # Enough leaves to cover the area a few times over, no more: each costs a drawing call.
    count = int(min(count, max(6, small_h * small_w / 120)))
    r_max = max_radius * max(small_h, small_w)
    r_min = min(r_max / 2, max(1.5, 0.012 * max(small_h, small_w)))
    # Radii with density ∝ r^-3 (scale invariance), by inverting the CDF; big ones first so that
    # small leaves land on top of big ones as often as the other way round.
    u = rng.random(count)
    radii = 1.0 / np.sqrt(u / r_min**2 + (1 - u) / r_max**2)
    order = np.argsort(-radii * rng.uniform(0.5, 1.5, count))
    centres = rng.uniform((0, 0), (small_w, small_h), (count, 2))
    kinds = rng.integers(0, 4, count)
    picks = rng.integers(0, len(colours), count)
    jitter = rng.normal(0, 14, (count, 3))
    for i in order:
        colour = tuple(float(c) for c in np.clip(colours[picks[i]] + jitter[i], 0, 255))
        cx, cy, r = float(centres[i, 0]), float(centres[i, 1]), float(radii[i])
        angle = float(rng.uniform(0, 180))
        if kinds[i] == 0:
            cv2.circle(image, (int(cx), int(cy)), max(1, int(r)), colour, -1, cv2.LINE_AA)
        elif kinds[i] == 1:
            axes = (max(1, int(r)), max(1, int(r * rng.uniform(0.3, 1.0))))
            cv2.ellipse(image, (int(cx), int(cy)), axes, angle, 0, 360, colour, -1, cv2.LINE_AA)
        else:
            points = _polygon(rng, cx, cy, r, kinds[i] == 2)
            cv2.fillPoly(image, [points], colour, cv2.LINE_AA)
    if base is not None:
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)


def _polygon(rng, cx, cy, r, rectangle: bool) -> np.ndarray:
    if rectangle:
        half = np.array([r, r * rng.uniform(0.2, 1.0)])
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half
    else:
        n = int(rng.integers(3, 8))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        corners = np.stack([np.cos(angles), np.sin(angles)], -1) * r * rng.uniform(0.5, 1, (n, 1))
    theta = rng.uniform(0, np.pi)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return (corners @ rotation.T + (cx, cy)).astype(np.int32)


def tiles(shape: tuple[int, int], rng: np.random.Generator, colours: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 man-made structure: a grid of tiles, bricks or windows with mortar
    lines, each cell's colour jittered."""
    height, width = shape
    cell_w = rng.uniform(6, 60)
    cell_h = max(2.0, cell_w * rng.uniform(0.3, 1.5))
    gap = max(1.0, min(cell_w, cell_h) * rng.uniform(0.05, 0.3))
    ys = np.arange(height, dtype=np.float32)[:, None]
    xs = np.arange(width, dtype=np.float32)[None, :]
    row = (ys // cell_h).astype(np.int64)  # (H, 1)
    shift = (row % 2) * (cell_w / 2) if rng.random() < 0.5 else 0.0  # brick bond
    column = ((xs + shift) // cell_w).astype(np.int64)  # (H, W)
    cells = colours[rng.integers(0, len(colours), (row.max() + 1, column.max() + 2))]
    cells = np.clip(cells + rng.normal(0, 10, cells.shape), 0, 255).astype(np.uint8)
    image = cells[row, column]  # (H, W, 3)
    mortar = ((ys % cell_h) < gap) | (((xs + shift) % cell_w) < gap)
    image[mortar] = (colours[0] * rng.uniform(0.3, 0.9)).astype(np.uint8)
    return image


def smooth_gain(
    shape: tuple[int, int], rng: np.random.Generator, strength: float, grid: int = 24
) -> np.ndarray:
    """``(H, W)`` float32 illumination around 1: a linear ramp in a random direction plus a
    soft highlight, as a lit curved surface shows. Made on a coarse grid and scaled up."""
    height, width = shape
    grid_h = max(2, round(grid * min(1.0, height / width)))
    grid_w = max(2, round(grid * min(1.0, width / height)))
    ys = np.linspace(-1, 1, grid_h, dtype=np.float32)[:, None]
    xs = np.linspace(-1, 1, grid_w, dtype=np.float32)[None, :]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xs + np.sin(angle) * ys
    hx, hy = rng.uniform(-0.6, 0.6, 2)
    highlight = np.exp(-((xs - hx) ** 2 + (ys - hy) ** 2) / rng.uniform(0.1, 0.6))
    gain = (1.0 + strength * (0.6 * ramp + 0.8 * highlight - 0.4)).astype(np.float32)
    return cv2.resize(gain, (width, height), interpolation=cv2.INTER_CUBIC)


def shade(image: np.ndarray, rng: np.random.Generator, strength: float = 0.35) -> np.ndarray:
    """``image`` (H, W, 3) uint8 under a :func:`smooth_gain` illumination."""
    gain = smooth_gain(image.shape[:2], rng, strength)
    return cv2.convertScaleAbs(image.astype(np.float32) * gain[..., None])


def texture(
    shape: tuple[int, int], rng: np.random.Generator, colours: np.ndarray | None = None
) -> np.ndarray:
    """A random surface ``(H, W, 3)`` uint8: fractal noise, stripes, dead leaves or tiles
    through a palette, often mixed with a second fractal layer for fine detail."""
    colours = colours if colours is not None else random_colours(rng, int(rng.integers(2, 5)))
    kind = rng.choice(4, p=[0.35, 0.2, 0.3, 0.15])
    if kind == 0:
        image = colourise(
            fractal_noise(shape, rng, rng.uniform(1.8, 3.2)), palette_lut(rng, colours)
        )
    elif kind == 1:
        image = colourise(grating(shape, rng), palette_lut(rng, colours), rng.uniform(0.5, 1.0))
    elif kind == 2:
        image = dead_leaves(shape, rng, colours, count=int(rng.integers(60, 300)))
    else:
        image = tiles(shape, rng, colours)
    if rng.random() < 0.7:  # fine detail: a luminance texture on top
        detail = fractal_noise(shape, rng, rng.uniform(1.2, 2.0))
        gain = 1.0 + rng.uniform(0.05, 0.25) * detail
        image = cv2.convertScaleAbs(image.astype(np.float32) * gain[..., None])
    return image


def background(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A scene-like background ``(H, W, 3)`` uint8: one surface, or two or three regions of
    different surfaces split by a horizon or by a smooth random boundary, with clutter, fine
    detail and shading.

    The surfaces are made at half resolution (their content is smooth) and scaled up; the
    fine detail and the clutter's edges are added at full resolution.
    """
    height, width = shape
    small = (max(8, height // 2), max(8, width // 2))
    scene = rng.choice(3, p=[0.3, 0.35, 0.35])
    base = random_colours(rng, 4)
    if scene == 0:
        image = texture(small, rng, base)
    elif scene == 1:  # ground and sky/wall split by a slanted horizon
        upper = texture(small, rng, random_colours(rng, 3))
        lower = texture(small, rng, random_colours(rng, 3))
        horizon = rng.uniform(0.2, 0.7) * small[0]
        slope = rng.normal(0, 0.08)
        ys = np.arange(small[0], dtype=np.float32)[:, None]
        xs = np.arange(small[1], dtype=np.float32)[None, :]
        edge = ys - (horizon + slope * (xs - small[1] / 2))
        blend = np.clip(edge / rng.uniform(0.5, 3) + 0.5, 0, 1)[..., None]
        image = (upper * (1 - blend) + lower * blend).astype(np.uint8)
    else:  # regions split by a smooth random boundary (fields, walls, water)
        first = texture(small, rng, base[:2])
        second = texture(small, rng, base[2:])
        boundary = fractal_noise(small, rng, beta=3.5, max_side=48)
        blend = np.clip(boundary * rng.uniform(2, 10) + rng.normal(0, 1), 0, 1)[..., None]
        image = (first * (1 - blend) + second * blend).astype(np.uint8)
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    detail = fractal_noise(shape, rng, rng.uniform(1.0, 1.8), max_side=256)
    gain = 1.0 + rng.uniform(0.03, 0.15) * detail
    image = cv2.convertScaleAbs(image.astype(np.float32) * gain[..., None])
    if rng.random() < 0.6:  # clutter: a few larger objects lying around
        count = int(rng.integers(3, 15))
        image = dead_leaves(shape, rng, random_colours(rng, 4), count, max_radius=0.1, base=image)
    return shade(image, rng, rng.uniform(0.1, 0.5))

"""Drawing frame ``t`` of a planned :class:`~hart.datasets.synthetic.scene.Scene`, and the
target's box in it.

The background is the canvas seen through the camera; objects are drawn far to near, each with
its motion blur and (people, vehicles) a contact shadow; what is drawn over the target erodes
its visible silhouette; the camera's photometry turns the light into the frame's pixels. No
random numbers are drawn here: a frame is a function of the scene and ``t``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from hart.datasets.synthetic.objects import SceneObject
from hart.datasets.synthetic.photometry import develop
from hart.datasets.synthetic.scene import Scene


def render(scene: Scene, t: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Frame ``t`` (H, W, 3) uint8 BGR, the target's box (4,) float32 xywh and its visibility
    (NaN box when it is not visible)."""
    frame = _background(scene, t)
    target_cover = None  # (y0, x0, visible alpha) of the target, eroded by what is in front
    for obj in scene.objects:
        drawn = draw(scene, frame, obj, t)
        if drawn is None:
            continue
        y0, x0, alpha = drawn
        if obj.is_target:
            target_cover = [y0, x0, alpha.copy()]
        elif target_cover is not None:
            _cover(target_cover, y0, x0, alpha)
    box, visible = _target_box(scene, t, target_cover)
    frame = develop(scene.photometry, frame, t)
    return frame, box, visible


def _background(scene: Scene, t: int) -> np.ndarray:
    """The canvas seen through the camera at ``t`` → (H, W, 3) float32. While the camera
    moves, the exposure integrates along its path: the average of the view shifted back
    towards where it was at the previous frame (one warp, then shifted slices)."""
    height, width = scene.frame_size
    camera, exposure = scene.camera, scene.photometry.exposure
    back = np.zeros(2)
    if t > 0 and exposure > 0:
        back = camera.linear[t] @ (camera.centre[t - 1] - camera.centre[t])
        back *= exposure
    samples = int(np.clip(math.ceil(np.abs(back).max()), 1, 8))
    pad = int(math.ceil(np.abs(back).max())) if samples > 1 else 0
    matrix = np.empty((2, 3))
    matrix[:, :2] = camera.linear[t]
    # The canvas sits at canvas_origin in the world; the padding shifts everything by pad.
    origin = camera.frame_centre + pad
    matrix[:, 2] = origin + camera.linear[t] @ (scene.canvas_origin - camera.centre[t])
    view = cv2.warpAffine(
        scene.canvas,
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


def draw(scene: Scene, frame: np.ndarray, obj: SceneObject, t: int):
    """Draw ``obj`` at ``t`` onto ``frame`` ((H, W, 3) float32, in place) → ``(y0, x0,
    alpha)``, where its coverage ``alpha`` (float32, [0, 1]) lies in the frame, or None when
    nothing of it is in view."""
    height, width = scene.frame_size
    pose = obj.pose(t)
    full = obj.affine(scene.camera, t, 0, pose)
    scale = math.sqrt(abs(full[0, 0] * full[1, 1] - full[0, 1] * full[1, 0]))
    level = int(
        np.clip(math.floor(math.log2(1.0 / scale)) if scale < 1 else 0, 0, len(obj.mips[pose]) - 1)
    )
    sprite = obj.mips[pose][level]
    matrix = obj.affine(scene.camera, t, level, pose)
    sh, sw = sprite.size
    corners = np.array([[0, 0], [sw, 0], [0, sh], [sw, sh]], float) @ matrix[:, :2].T + matrix[:, 2]
    blur = _motion(scene, obj, t)
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
        _ground_shadow(region, corners - (x0, y0))
    keep = cv2.merge([1.0 - alpha] * 3)
    region[:] = cv2.add(cv2.multiply(region, keep), colour)  # colour is premultiplied
    return y0, x0, alpha


def _motion(scene: Scene, obj: SceneObject, t: int) -> np.ndarray:
    """Screen displacement × exposure: the object's motion-blur vector at ``t``."""
    exposure = scene.photometry.exposure
    if t == 0 or exposure <= 0:
        return np.zeros(2)
    return np.clip((obj.screen[t] - obj.screen[t - 1]) * exposure, -15, 15)


def _target_box(scene: Scene, t: int, cover) -> tuple[np.ndarray, bool]:
    height, width = scene.frame_size
    target = scene.target
    x1, y1, x2, y2 = target.silhouette_corners(scene.camera, t)
    cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
    # The whole silhouette's area on screen, in view or not: its sprite area × the warp's
    # area scale.
    pose = target.pose(t)
    area = target.areas[pose] * abs(np.linalg.det(target.affine(scene.camera, t, 0, pose)[:, :2]))
    seen = float(cover[2].sum()) if cover is not None else 0.0
    visible = (
        cx2 - cx1 >= 1
        and cy2 - cy1 >= 1
        and seen >= scene.config.min_visible_fraction * max(area, 1e-6)
    )
    if not visible:
        return np.full(4, np.nan, np.float32), False
    return np.array([cx1, cy1, cx2 - cx1, cy2 - cy1], np.float32), True


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


def _ground_shadow(region: np.ndarray, corners: np.ndarray) -> None:
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

"""Drawing a tracker's state onto frames: boxes, a legend, glimpse and mask insets, strips.

One look everywhere: ``hart track``'s output video and the pictures training logs to
TensorBoard use the same colours (colour-blind-safe, BGR) and the same layout.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

GROUND_TRUTH_COLOUR = (115, 158, 0)  # bluish green
PREDICTION_COLOUR = (0, 159, 230)  # orange
ATTENTION_COLOUR = (233, 180, 86)  # sky blue
_TEXT_COLOUR = (255, 255, 255)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
# Below this, Hershey's letters (under 7 px high) blur into each other: text that needs a
# smaller font is left out rather than drawn as smudges.
_SMALLEST_FONT_SCALE = 0.25
_MARGIN = 4  # px around and inside the legend


def draw_tracking(
    frame: np.ndarray,
    box: np.ndarray | None,
    attention_box: np.ndarray | None = None,
    glimpse: np.ndarray | None = None,
    object_mask: np.ndarray | None = None,
    ground_truth: np.ndarray | None = None,
    legend: bool = True,
) -> np.ndarray:
    """A copy of the BGR uint8 ``frame`` with the tracker's state drawn on it.

    ``box`` (the prediction), ``attention_box`` and ``ground_truth`` are xywh px, drawn in
    :data:`PREDICTION_COLOUR`, :data:`ATTENTION_COLOUR` and :data:`GROUND_TRUTH_COLOUR`; a
    NaN or missing box is not drawn. The legend goes in the top-left corner, or in another
    corner while the predicted (or true) box is there. ``glimpse`` (uint8 BGR ``(h, w, 3)`` or
    ``(h, w)``, or float in ``[0, 1]``) and ``object_mask`` (float in ``[0, 1]``, ``(h, w)``)
    are shown as labelled insets in the bottom-right corner (the bottom-left one while the box
    is there), a quarter of the frame's shorter side high. What a frame is too small to show
    legibly is left out: the insets when its shorter side is under 120 px, the legend when it
    is under about 125 px wide; the boxes are always drawn.
    """
    canvas = frame.copy()
    height, width = canvas.shape[:2]
    thickness = max(2, min(height, width) // 200)
    entries = []
    if ground_truth is not None:
        _draw_box(canvas, ground_truth, GROUND_TRUTH_COLOUR, thickness)
        entries.append(("truth", GROUND_TRUTH_COLOUR))
    if attention_box is not None:
        _draw_box(canvas, attention_box, ATTENTION_COLOUR, thickness)
        entries.append(("attention", ATTENTION_COLOUR))
    if box is not None:
        # Drawn last: where the two boxes coincide, the prediction is the one that shows.
        _draw_box(canvas, box, PREDICTION_COLOUR, thickness)
        entries.append(("prediction", PREDICTION_COLOUR))
    insets = []
    if glimpse is not None:
        insets.append(("glimpse", _as_bgr_image(glimpse), ATTENTION_COLOUR))
    if object_mask is not None:
        mask = _as_uint8(np.asarray(object_mask, dtype=np.float32).squeeze())
        insets.append(("mask", cv2.applyColorMap(mask, cv2.COLORMAP_VIRIDIS), _TEXT_COLOUR))
    # The insets and the legend keep clear of the target's boxes: a user must see what was
    # tracked.
    targets = [b for b in (box, ground_truth) if b is not None]
    inset_area = _draw_insets(canvas, insets, targets, thickness)
    if legend:
        _draw_legend(canvas, entries, targets, inset_area, thickness)
    return canvas


def _draw_box(canvas: np.ndarray, box: np.ndarray, colour: tuple, thickness: int) -> None:
    x, y, w, h = np.asarray(box, dtype=np.float64).reshape(4)
    if not np.isfinite([x, y, w, h]).all():
        return
    # Corners far outside the canvas are pulled to just outside it: the visible edges stay where
    # they are, and OpenCV gets coordinates that fit its ints (a lost tracker's box may not).
    height, width = canvas.shape[:2]
    low, high = -thickness - 2, np.array([width, height]) + thickness + 2
    x1, y1 = np.clip(np.round([x, y]), low, high).astype(int)
    x2, y2 = np.clip(np.round([x + w, y + h]) - 1, low, high).astype(int)  # inclusive corner
    top_left, bottom_right = (int(x1), int(y1)), (int(x2), int(y2))
    cv2.rectangle(canvas, top_left, bottom_right, colour, thickness, cv2.LINE_AA)


def _font_scale(canvas: np.ndarray) -> float:
    return max(0.35, min(canvas.shape[:2]) / 900)


def _fitting_scale(largest: float, fits: Callable[[float], bool]) -> float | None:
    """The largest font scale for which ``fits(scale)``, trying ``largest`` and then smaller
    ones in steps of 0.05; None when even the smallest legible one does not fit."""
    scale = largest
    while scale >= _SMALLEST_FONT_SCALE - 1e-9:  # a hair under: 0.35 - 0.05 - 0.05 is 0.2499…
        if fits(scale):
            return scale
        scale -= 0.05
    return None


def _text_width(text: str, scale: float) -> int:
    return cv2.getTextSize(text, _FONT, scale, 1)[0][0]


def _legend_layout(labels: list[str], scale: float) -> tuple[int, int, int, int]:
    """``(text_height, line, width, height)`` px of a legend of ``labels`` at font ``scale``."""
    sizes = [cv2.getTextSize(label, _FONT, scale, 1) for label in labels]
    text_width = max(width for (width, _), _ in sizes)
    text_height = max(height for (_, height), _ in sizes)
    line = text_height + max(baseline for _, baseline in sizes) + 4
    width = _MARGIN * 3 + text_height * 2 + text_width  # margin, swatch, margin, text, margin
    return text_height, line, width, _MARGIN * 2 + line * len(labels)


def _overlap(a: tuple, b: tuple) -> float:
    """Area shared by two rectangles ``(x1, y1, x2, y2)``."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, width) * max(0.0, height)


def _target_rectangles(targets: list[np.ndarray], thickness: int) -> list[tuple]:
    """The rectangles ``(x1, y1, x2, y2)`` that the finite boxes among ``targets`` (xywh px)
    cover, their lines included: what a legend or an inset must not hide."""
    return [
        (x - thickness, y - thickness, x + w + thickness, y + h + thickness)
        for x, y, w, h in (np.asarray(t, dtype=np.float64).reshape(4) for t in targets)
        if np.isfinite([x, y, w, h]).all()
    ]


def _legend_corner(
    canvas: np.ndarray,
    size: tuple[int, int],
    targets: list[np.ndarray],
    keep_clear: tuple | None,
    thickness: int,
) -> tuple[int, int]:
    """Top-left ``(x, y)`` for a legend of ``size`` ``(w, h)``: the first corner (top-left,
    top-right, bottom-left, bottom-right) that hides least of the ``targets`` (xywh px, their
    lines included) and leaves ``keep_clear`` (the insets' rectangle) alone.

    Top-left first, where the legend has always been: it stays there, and moves only while it
    would hide the target, rather than jumping whenever the box crosses the frame's middle.
    """
    height, width = canvas.shape[:2]
    w, h = size
    corners = [(0, 0), (width - w, 0), (0, height - h), (width - w, height - h)]
    hidden_boxes = _target_rectangles(targets, thickness)

    def rectangle(corner: tuple[int, int]) -> tuple[int, int, int, int]:
        return corner[0], corner[1], corner[0] + w, corner[1] + h

    usable = [
        c for c in corners if keep_clear is None or _overlap(rectangle(c), keep_clear) == 0
    ] or corners
    # min() keeps the first of equals: the order above decides ties, so the choice is stable.
    return min(usable, key=lambda c: sum(_overlap(rectangle(c), b) for b in hidden_boxes))


def _draw_legend(
    canvas: np.ndarray,
    entries: list[tuple[str, tuple]],
    targets: list[np.ndarray],
    keep_clear: tuple | None,
    thickness: int,
) -> None:
    """A key of ``entries`` (label, colour) in the corner that hides least of ``targets``.

    Its text shrinks with the frame down to the smallest legible size, and the legend takes at
    most half the frame's width and half its height, so that it always leaves a corner free for
    the boxes; a frame too small for that (under about 125 px wide) gets no legend.
    """
    if not entries:
        return
    height, width = canvas.shape[:2]
    labels = [label for label, _ in entries]

    def fits(scale: float) -> bool:
        _, _, legend_width, legend_height = _legend_layout(labels, scale)
        return legend_width <= width // 2 and legend_height <= height // 2

    scale = _fitting_scale(_font_scale(canvas), fits)
    if scale is None:
        return
    text_height, line, legend_width, legend_height = _legend_layout(labels, scale)
    left, top = _legend_corner(
        canvas, (legend_width, legend_height), targets, keep_clear, thickness
    )
    _darken(canvas[top : top + legend_height, left : left + legend_width])
    swatch = text_height * 2
    for index, (label, colour) in enumerate(entries):
        middle = top + _MARGIN + line * index + line // 2
        start, end = (left + _MARGIN, middle), (left + _MARGIN + swatch, middle)
        cv2.line(canvas, start, end, colour, 2, cv2.LINE_AA)
        origin = (left + _MARGIN * 2 + swatch, middle + text_height // 2)
        cv2.putText(canvas, label, origin, _FONT, scale, _TEXT_COLOUR, 1, cv2.LINE_AA)


def _draw_insets(
    canvas: np.ndarray,
    insets: list[tuple[str, np.ndarray, tuple]],
    targets: list[np.ndarray],
    thickness: int,
) -> tuple[int, int, int, int] | None:
    """Draw ``insets`` (label, image, border colour) side by side along the bottom, first
    leftmost, each under its own label; return the rectangle ``(x1, y1, x2, y2)`` they take,
    out to the frame's corner, or None when none is drawn.

    They sit in the bottom-right corner, or in the bottom-left one while that hides less of
    ``targets`` (xywh px: the predicted and true boxes). The labels' text shrinks until each
    fits over its own panel; a frame whose panels are too small for legible labels (a shorter
    side under 120 px) gets no insets.
    """
    height, width = canvas.shape[:2]
    side = min(224, min(height, width) // 4)
    if not insets:
        return None
    widths = [max(1, round(side * image.shape[1] / image.shape[0])) for _, image, _ in insets]

    def fits(scale: float) -> bool:
        # A pixel of padding each side keeps neighbouring labels apart, over the 6 px gap.
        return all(
            _text_width(label, scale) + 2 <= w
            for (label, _, _), w in zip(insets, widths, strict=True)
        )

    scale = _fitting_scale(_font_scale(canvas), fits)
    if scale is None:
        return None  # too small a frame to show anything useful
    sizes = [cv2.getTextSize(label, _FONT, scale, 1) for label, _, _ in insets]
    baseline = max(baseline for _, baseline in sizes)  # room for the descenders of g and p
    label_height = max(size[1] for size, _ in sizes) + baseline + 4
    top = height - 4 - side
    span = sum(widths) + 6 * (len(widths) - 1)  # the panels and the gaps between them
    if span + 4 > width or top - label_height < 0:
        return None
    # Each corner's rectangle, out to the frame's corner: bottom-right first, where the
    # insets have always been, so that they move only while the target is under them.
    # (rectangle, right edge of the last panel) for each corner, bottom-right first.
    places = [
        ((width - 5 - span, top - label_height, width, height), width - 4),
        ((0, top - label_height, span + 5, height), span + 4),
    ]
    hidden = _target_rectangles(targets, thickness)
    area, right = min(places, key=lambda place: sum(_overlap(place[0], b) for b in hidden))
    for (label, image, border), inset_width in zip(reversed(insets), reversed(widths), strict=True):
        left = right - inset_width  # right to left, so the first is leftmost
        # Nearest neighbour: show the glimpse's and mask's pixels as they are, not smoothed.
        canvas[top : top + side, left:right] = cv2.resize(
            image, (inset_width, side), interpolation=cv2.INTER_NEAREST
        )
        cv2.rectangle(canvas, (left - 1, top - 1), (right, top + side), border, 1)
        _darken(canvas[top - label_height : top - 1, left:right])
        origin = (left + 1, top - baseline - 3)
        cv2.putText(canvas, label, origin, _FONT, scale, _TEXT_COLOUR, 1, cv2.LINE_AA)
        right = left - 6
    return area


def _darken(region: np.ndarray) -> None:
    """Dim a region in place so white text on it reads on any background."""
    region[:] = (region.astype(np.uint16) * 2 // 5).astype(np.uint8)


def _as_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    return (
        (np.clip(np.nan_to_num(image.astype(np.float32)), 0.0, 1.0) * 255).round().astype(np.uint8)
    )


def _as_bgr_image(image: np.ndarray) -> np.ndarray:
    image = _as_uint8(np.asarray(image))
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(image[..., :3])


def tracking_strip(
    frames: np.ndarray,
    ground_truth: np.ndarray,
    predictions: np.ndarray,
    attention_boxes: np.ndarray,
) -> np.ndarray:
    """One clip as a row of annotated frames, for TensorBoard: RGB uint8 ``(H, T·W, 3)``.

    ``frames`` are ``(T, 3, H, W)`` RGB floats in ``[0, 1]`` (the model's input, tensor or
    array); the boxes ``(T, 4)`` xywh px of those frames.
    """
    frames, ground_truth, predictions, attention_boxes = (
        np.asarray(a.detach().float().cpu() if hasattr(a, "detach") else a)
        for a in (frames, ground_truth, predictions, attention_boxes)
    )
    images = _as_uint8(frames.transpose(0, 2, 3, 1)[..., ::-1])  # (T, H, W, 3) BGR
    drawn = [
        # The legend once, on the first frame: on small training frames it would hide the rest.
        draw_tracking(
            np.ascontiguousarray(image), prediction, attention, ground_truth=truth, legend=t == 0
        )
        for t, (image, truth, prediction, attention) in enumerate(
            zip(images, ground_truth, predictions, attention_boxes, strict=True)
        )
    ]
    return np.concatenate(drawn, axis=1)[..., ::-1].copy()  # (H, T·W, 3) RGB

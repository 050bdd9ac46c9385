"""Choosing the first box with the mouse (``hart track --select``): the one GUI call in hart.

Imported only where ``--select`` is given, so that every other path runs headless.
"""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np

from hart.errors import InputError


def display_available() -> bool:
    """Whether a window can open: on Linux and other X11/Wayland systems, DISPLAY or
    WAYLAND_DISPLAY must be set; macOS and Windows always have a desktop."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def select_box(frame: np.ndarray) -> np.ndarray:
    """Let the user drag the target's box on ``frame`` in a window; ``(4,)`` float64 xywh.

    Interactive only: raises :class:`~hart.errors.InputError` without a display, with an OpenCV
    build that has no GUI (opencv-python-headless), or when the user selects nothing.
    """
    if not display_available():
        raise InputError(
            "selecting the box with the mouse needs a display, and neither DISPLAY nor "
            "WAYLAND_DISPLAY is set; give the box as X,Y,W,H instead"
        )
    window = "hart track: drag a box around the target, then press Enter (c cancels)"
    try:
        x, y, w, h = cv2.selectROI(window, frame, showCrosshair=True, fromCenter=False)
        cv2.destroyWindow(window)
    except cv2.error as error:
        raise InputError(
            f"cannot open a window to select the box ({str(error).strip().splitlines()[-1]}); "
            "give the box as X,Y,W,H instead"
        ) from error
    if w <= 0 or h <= 0:
        raise InputError("no box was selected")
    return np.array([x, y, w, h], dtype=np.float64)

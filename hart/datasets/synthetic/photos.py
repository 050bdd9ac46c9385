"""The user's own photos as backgrounds and object surfaces of the synthetic world."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from hart.errors import InputError
from hart.media.frames import IMAGE_SUFFIXES, is_image_file, natural_sort_key, read_image


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
            image = read_image(self.paths[index])
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

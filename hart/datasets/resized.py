"""Frames read at the training size: resized when read, or resized once and kept on disk.

A clip of ``T`` frames decodes ``T`` images; a GOT-10k or LaSOT frame (up to 1920×1080) costs
several times the decode of the 240×320 frame training uses, even decoded at a reduced scale
(``scripts/bench_clips.py`` measures both). :func:`resized_sequences` writes every frame once at
the training size (JPEG, quality 95) and returns the same sequences pointing at those frames,
boxes scaled with them; clips are then cut from small frames and nothing is resized again. It
costs one pass over the data set and about 25 KB of disk per 240×320 frame.

Cache layout: ``CACHE/<H>x<W>/<name>-<key>/00000001.jpg …`` per sequence, ``key`` hashing the
frames' paths and the size and modification time of the first and last of them. A sequence's
folder appears complete or not at all (:func:`hart.atomic.atomic_output`), so an interrupted
run, or several processes writing the same sequence, never leave half a sequence behind.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from hart.atomic import atomic_output
from hart.datasets.sequence import Sequence
from hart.errors import InputError
from hart.media.frames import read_image

QUALITY = 95
_SOURCE_SIZE = "source_size.txt"  # the original frames' "H W", to scale the boxes


def read_resized(path: Path, size: tuple[int, int], source: tuple[int, int]) -> np.ndarray:
    """Read ``path`` as BGR uint8 resized to ``size`` (H, W), its size being ``source``. A JPEG
    much larger than the target size is decoded at 1/2, 1/4 or 1/8 scale (libjpeg does it in
    the DCT, several times faster than decoding in full and shrinking) where that scale divides
    its size: libjpeg rounds a partial block up to a whole pixel, which the resize would then
    stretch over the frame (boxes 0.8 px off at a 721-row frame's bottom, read 90 rows high).
    Other formats are read in full: OpenCV shrinks them bilinearly, which aliases at 1/4."""
    height, width = size
    factor = min(source[0] / height, source[1] / width)
    jpeg = Path(path).suffix.lower() in (".jpg", ".jpeg")
    reduction = next(
        (
            n
            for n in (8, 4, 2)
            if jpeg and factor >= n and source[0] % n == 0 and source[1] % n == 0
        ),
        1,
    )
    image = read_image(path, reduction)
    # The boxes are scaled by the first frame's size: a frame of another size would be
    # stretched to the clip's and its box land elsewhere on the target, in silence.
    if image.shape[:2] != (source[0] // reduction, source[1] // reduction):
        found = image_size(path) if reduction > 1 else image.shape[:2]
        raise InputError(
            f"{path} is {found[1]}x{found[0]} but its sequence's first frame is "
            f"{source[1]}x{source[0]}: a sequence's frames must share one size"
        )
    if image.shape[:2] != (height, width):
        shrinking = image.shape[0] > height or image.shape[1] > width
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        image = cv2.resize(image, (width, height), interpolation=interpolation)
    return image


def image_size(path: Path) -> tuple[int, int]:
    """An image's ``(H, W)``."""
    return read_image(path).shape[:2]


def check_boxes_in_frames(sequence: Sequence, size: tuple[int, int]) -> None:
    """Raise :class:`~hart.errors.InputError` when most of ``sequence``'s visible boxes lie
    wholly outside its frames of ``size`` (H, W): boxes in another video's pixels (a box file
    for the original of a downscaled video), which would train on background at IoU 0 in
    silence. A few such boxes are left alone: real annotations stray at the frame's edge."""
    boxes = sequence.boxes[sequence.visible]
    if len(boxes) == 0:
        return
    height, width = size
    outside = (
        (boxes[:, 0] >= width)
        | (boxes[:, 1] >= height)
        | (boxes[:, 0] + boxes[:, 2] <= 0)
        | (boxes[:, 1] + boxes[:, 3] <= 0)
    )
    if outside.mean() > 0.5:
        raise InputError(
            f"sequence {sequence.name!r}: {int(outside.sum())} of its {len(boxes)} boxes lie "
            f"wholly outside its {width}x{height} frames; are they in another size's pixels?"
        )


def resized_sequences(
    sequences: list[Sequence], frame_size: tuple[int, int], cache: str | Path
) -> list[Sequence]:
    """``sequences`` with their frames resized to ``frame_size`` (H, W; aspect not kept, as
    :class:`hart.datasets.clips.SequenceClips` resizes) and kept under ``cache``: written the
    first time, read back after that. Boxes are scaled with the frames."""
    height, width = int(frame_size[0]), int(frame_size[1])
    root = Path(cache) / f"{height}x{width}"
    resized = []
    for sequence in sequences:
        folder = root / _folder_name(sequence)
        size_file = folder / _SOURCE_SIZE
        written = size_file.is_file()
        source = (
            tuple(int(n) for n in size_file.read_text().split())
            if written
            else image_size(sequence.frames[0])
        )
        check_boxes_in_frames(sequence, source)  # before any frame is written
        if not written:
            _write(sequence, (height, width), source, folder)
        source_h, source_w = source
        scale = np.array([width / source_w, height / source_h] * 2, np.float32)
        frames = [folder / f"{number:08d}.jpg" for number in range(1, len(sequence) + 1)]
        attributes = {**sequence.attributes, "resized_from": str(sequence.frames[0].parent)}
        resized.append(
            Sequence(sequence.name, frames, sequence.boxes * scale, sequence.visible, attributes)
        )
    return resized


def _folder_name(sequence: Sequence) -> str:
    digest = hashlib.sha1("\n".join(map(str, sequence.frames)).encode())
    for path in (sequence.frames[0], sequence.frames[-1]):
        stat = Path(path).stat()
        digest.update(f"|{stat.st_size}|{stat.st_mtime_ns}".encode())
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in sequence.name)[:60]
    return f"{safe}-{digest.hexdigest()[:12]}"


def _write(
    sequence: Sequence, size: tuple[int, int], source: tuple[int, int], folder: Path
) -> None:
    """``sequence``'s frames, of ``source`` size (H, W), resized to ``size`` into ``folder``."""
    with atomic_output(folder, folder=True) as partial:

        def write(numbered: tuple[int, Path]) -> None:
            number, path = numbered
            image = read_resized(path, size, source)
            target = partial / f"{number:08d}.jpg"
            if not cv2.imwrite(str(target), image, [cv2.IMWRITE_JPEG_QUALITY, QUALITY]):
                raise InputError(f"{target}: could not write this image")

        # OpenCV decodes, resizes and encodes without the GIL: threads keep every core busy.
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            list(pool.map(write, enumerate(sequence.frames, 1)))
        (partial / _SOURCE_SIZE).write_text(f"{source[0]} {source[1]}\n")

"""Reading the small text files that benchmarks annotate with: box rows and flag rows.

Every reader goes through these so that every bad file fails the same way: an
:class:`~hart.errors.InputError` that names the file, the line and what was wrong with it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from hart.errors import InputError
from hart.media.frames import frame_number

# Benchmarks separate numbers with commas (most), tabs (OTB, some), spaces (OTB's BlurCar1,
# KITTI) or a mix of them within one file; semicolons appear in hand-made files.
_SEPARATORS = re.compile(r"[,\t; ]+")


def read_lines(path: Path) -> list[tuple[int, str]]:
    """``(line number, stripped text)`` of the non-blank lines of a text file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not a text file ({error.reason})") from None
    return [
        (number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()
    ]


def parse_numbers(text: str, path: Path, line: int) -> list[float]:
    """The numbers of one line (``nan`` allowed); an error naming ``path:line`` otherwise."""
    fields = [field for field in _SEPARATORS.split(text.strip()) if field]
    try:
        return [float(field) for field in fields]
    except ValueError:
        raise InputError(
            f"{path}:{line}: expected numbers separated by commas, tabs or spaces, got {text!r}"
        ) from None


def read_rows(path: Path, widths: tuple[int, ...] = (4,)) -> tuple[list[list[float]], list[int]]:
    """Rows of numbers, each with one of the allowed ``widths``; returns rows and line numbers.

    Blank lines are skipped. A row with another count of numbers is an error naming its line.
    """
    rows, numbers = [], []
    for number, text in read_lines(path):
        values = parse_numbers(text, path, number)
        if len(values) not in widths:
            expected = " or ".join(str(w) for w in widths)
            raise InputError(
                f"{path}:{number}: expected {expected} numbers, got {len(values)}: {text!r}"
            )
        rows.append(values)
        numbers.append(number)
    if not rows:
        raise InputError(f"{path}: the file is empty")
    return rows, numbers


def read_boxes(path: Path) -> np.ndarray:
    """An ``x, y, w, h`` file (one row per frame) → ``(N, 4)`` float32; NaN rows stay NaN.

    A row that is NaN in some values but not all (see :func:`check_nan_rows`), one with a
    negative width or height (see :func:`check_box_sizes`), or a value beyond float32's range,
    is an error naming its line.
    """
    rows, lines = read_rows(path, (4,))
    boxes = float32_rows(rows, lines, path).reshape(-1, 4)
    check_nan_rows(boxes, lines, path)
    check_box_sizes(boxes, lines, path)
    return boxes


def float32_rows(rows: list[list[float]], lines: list[int], path: Path) -> np.ndarray:
    """Rows of numbers read from ``path`` (each row ``lines[i]`` of the file) → ``(N, K)``
    float32, where boxes are kept; a value beyond float32's range is an error naming its line
    (it would become inf, after numpy's overflow warnings)."""
    values = np.asarray(rows, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        huge = np.flatnonzero((np.abs(values) > np.finfo(np.float32).max).any(1))
    if len(huge):
        row = int(huge[0])
        raise InputError(f"{path}:{lines[row]}: {values[row].tolist()} is too large for a box")
    return values.astype(np.float32)


def check_nan_rows(rows: np.ndarray | list[list[float]], lines: list[int], path: Path) -> None:
    """Raise naming ``path:line`` for the first ``(N, K)`` row that is NaN in some values but
    not in all.

    NaN in every value is how OTB, UAV123 and VOT mark an absent target; a row with only some
    NaN is a broken file (a value lost on the way, say), and reading it as "absent" would
    silently drop the target from that frame.
    """
    nan = np.isnan(np.asarray(rows, dtype=np.float64))  # (N, K)
    partial = np.flatnonzero(nan.any(axis=1) & ~nan.all(axis=1))
    if len(partial):
        row = int(partial[0])
        values = np.asarray(rows[row], dtype=np.float64).tolist()
        raise InputError(
            f"{path}:{lines[row]}: only some of {values} are NaN "
            "(an absent target is NaN in every value)"
        )


def check_box_sizes(boxes: np.ndarray, lines: list[int], path: Path) -> None:
    """Raise naming ``path:line`` for the first ``(N, 4)`` row with a negative width or height.

    Benchmarks mark an absent target with NaN or zeros, never with a negative size: such a row
    is a broken file (corners written where sizes belong, say), and reading it as "absent"
    would silently drop the target from every frame it covers.
    """
    with np.errstate(invalid="ignore"):
        negative = np.flatnonzero((boxes[:, 2] < 0) | (boxes[:, 3] < 0))
    if len(negative):
        row = int(negative[0])
        raise InputError(
            f"{path}:{lines[row]}: negative width or height in {boxes[row].tolist()} "
            "(expected x, y, w, h; an absent target is NaN,NaN,NaN,NaN or 0,0,0,0)"
        )


def read_flags(path: Path) -> np.ndarray:
    """A file of integers, one per frame, on one line or on many (LaSOT, GOT-10k) → ``(N,)`` int."""
    values = []
    for number, text in read_lines(path):
        for value in parse_numbers(text, path, number):
            if value != int(value):
                raise InputError(f"{path}:{number}: expected integer flags, got {text!r}")
            values.append(int(value))
    if not values:
        raise InputError(f"{path}: the file is empty")
    return np.asarray(values, dtype=np.int64)


def box_visibility(boxes: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: rows that are a real box (finite, positive width and height).

    Benchmarks mark an absent target with ``NaN`` (UAV123, VOT-LT) or ``0,0,0,0`` (LaSOT and
    others); both count as absent.
    """
    finite = np.isfinite(boxes).all(axis=1)
    with np.errstate(invalid="ignore"):
        positive = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    return finite & positive


def absent_as_nan(boxes: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Copy of ``boxes`` with the rows where ``visible`` is False set to NaN (the contract)."""
    boxes = np.array(boxes, dtype=np.float32, copy=True).reshape(-1, 4)
    boxes[~np.asarray(visible, dtype=bool)] = np.nan
    return boxes


def select_frames(
    frames: list[Path], first: int, last: int, annotation: Path, folder: Path
) -> list[Path]:
    """The frames an annotation's rows cover: those numbered ``first``…``last`` (inclusive).

    Re-hosted benchmark folders often hold only the annotated frames (OTB's ``David`` as
    ``img/0300.jpg``–``0770.jpg``), the full download holds them all; the numbers in the file
    names say which is which. A folder holding exactly as many frames as the range are taken
    in order, whatever their names. Otherwise every number of the range must name one frame;
    an error names the first that does not.
    """
    count = last - first + 1
    if len(frames) == count:
        return list(frames)
    by_number: dict[int, Path] = {}
    for path in frames:
        number = frame_number(path)
        if number is None:
            continue
        if number in by_number and first <= number <= last:
            raise InputError(
                f"{folder}: two frames are numbered {number} ({by_number[number].name}, "
                f"{path.name}); keep one"
            )
        by_number.setdefault(number, path)
    missing = [n for n in range(first, last + 1) if n not in by_number]
    if missing:
        present = f"numbered {min(by_number)}–{max(by_number)}" if by_number else "unnumbered"
        raise InputError(
            f"{annotation}: its {count} rows cover frames {first}–{last}, but {folder} has no "
            f"frame numbered {missing[0]}"
            + (f" (nor {len(missing) - 1} more)" if len(missing) > 1 else "")
            + f"; it holds {len(frames)} frames, {present}"
        )
    return [by_number[n] for n in range(first, last + 1)]


def check_count(path: Path, rows: int, frames: int, frame_source: Path, what: str = "rows") -> None:
    """Raise when an annotation file's row count does not match the frame count."""
    if rows != frames:
        raise InputError(
            f"{path}: {rows} {what} but {frames} frames in {frame_source} — they must match"
        )

"""The trackers an evaluation can run, by name: ours, OpenCV's, and a box that never moves.

Every tracker here follows one contract (DESIGN.md), the same as OpenCV's trackers and the
got10k toolkit: ``init(frame, box)`` then ``update(frame) -> (4,)`` per later frame, frames BGR
uint8 ``(H, W, 3)`` as OpenCV reads them, boxes ``x, y, w, h`` float pixels.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from hart.errors import InputError

OUR_TRACKER = "hart"

# Name on the command line → OpenCV's class name (cv2.Tracker<Name>, or cv2.legacy.Tracker<Name>).
OPENCV_TRACKERS = {
    "mil": "MIL",
    "kcf": "KCF",
    "csrt": "CSRT",
    "mosse": "MOSSE",
    "medianflow": "MedianFlow",
    "tld": "TLD",
    "boosting": "Boosting",
}
STATIC_TRACKER = "static"
DEFAULT_BASELINES = ("mil", "kcf", "csrt")

NANO_TRACKER = "nano"
"""OpenCV's ``TrackerNano`` (NanoTrack v2, a Siamese tracker): it needs two ONNX model files
that no package ships, found in ``--nano-models DIR`` or ``$HART_NANOTRACK_DIR``."""
NANO_MODEL_FILES = ("nanotrack_backbone_sim.onnx", "nanotrack_head_sim.onnx")
NANO_ENVIRONMENT = "HART_NANOTRACK_DIR"

BASELINES = (STATIC_TRACKER, *OPENCV_TRACKERS, NANO_TRACKER)
"""Every baseline :func:`baseline_spec` knows, whether or not this installation can run it."""


class NoModelFiles(InputError):
    """A baseline that needs model files no package ships (TrackerNano) was asked for, and
    none were given: an evaluation goes on without it, saying so in one line."""


class InitUpdateTracker(Protocol):
    """What the runner needs of a tracker."""

    def init(self, frame: np.ndarray, box: np.ndarray) -> None: ...

    def update(self, frame: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class TrackerSpec:
    """A tracker to evaluate: its name in tables and file names, a way to get it, and what
    must match for results cached by an earlier run to be reused."""

    name: str
    make: Callable[[], InitUpdateTracker]  # a tracker; init restarts it on each sequence
    cache_key: str
    # Run in a worker process, so that a crash in native code fails one sequence, not the run
    # (``make`` must then be picklable: a module-level function or a functools.partial of one).
    isolated: bool = False
    # False for a baseline that does no work (the static box): its time per frame is the
    # harness's own overhead, and the frames per second it would give (hundreds of thousands)
    # mean nothing, so they are reported as not applicable.
    timed: bool = True


class OpenCVTracker:
    """One of OpenCV's trackers behind the ``init``/``update`` contract.

    OpenCV's current API takes integer boxes (``cv::Rect``); its legacy API (``cv2.legacy``,
    from opencv-contrib-python) takes float boxes. ``update`` there returns ``(ok, box)``; when
    OpenCV reports a failure this keeps returning the last box it had, as the benchmark
    toolkits do, so a lost target scores as a box left behind.
    """

    def __init__(self, create: Callable[[], object], integer_boxes: bool):
        self._create = create
        self._integer_boxes = integer_boxes
        self._tracker = None
        self._last_box = np.full(4, np.nan)

    def init(self, frame: np.ndarray, box: np.ndarray) -> None:
        # A fresh OpenCV tracker per sequence: several of them cannot be initialised twice.
        self._tracker = self._create()
        opencv_box = _integer_box(box) if self._integer_boxes else tuple(map(float, box))
        if self._tracker.init(frame, opencv_box) is False:  # the legacy API reports failure
            raise RuntimeError(f"OpenCV could not start tracking box {opencv_box}")
        self._last_box = np.asarray(opencv_box, dtype=np.float64)

    def update(self, frame: np.ndarray) -> np.ndarray:
        if self._tracker is None:
            raise RuntimeError("update() before init()")
        ok, box = self._tracker.update(frame)
        if ok:
            self._last_box = np.asarray(box, dtype=np.float64)
        return self._last_box.copy()


def _integer_box(box: np.ndarray) -> tuple[int, int, int, int]:
    """Each of ``x, y, w, h`` rounded to the nearest pixel (at least 1×1), as Python scripts
    driving OpenCV's trackers usually do. Some trackers are sensitive to this pixel: CSRT on VOT
    bag scores 0.33 from this box and 0.38 from rounded corners."""
    x, y, w, h = (round(float(v)) for v in box)
    return x, y, max(1, w), max(1, h)


def nano_models(folder: str | Path | None = None) -> Path | None:
    """The folder holding TrackerNano's two ONNX files: ``folder``, else ``$HART_NANOTRACK_DIR``;
    None when neither is given.

    Raises:
        InputError: the folder given lacks one of :data:`NANO_MODEL_FILES`.
    """
    if folder is None:
        folder = os.environ.get(NANO_ENVIRONMENT) or None
        if folder is None:
            return None
    folder = Path(folder)
    missing = [name for name in NANO_MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise InputError(f"TrackerNano model folder {folder} lacks {', '.join(missing)}")
    return folder


def _create_nano(folder: Path) -> object:
    params = cv2.TrackerNano_Params()
    params.backbone = str(folder / NANO_MODEL_FILES[0])
    params.neckhead = str(folder / NANO_MODEL_FILES[1])
    return cv2.TrackerNano_create(params)


def nano_tracker(folder: Path) -> OpenCVTracker:
    """OpenCV's TrackerNano from the model files in ``folder``, ready for ``init``."""
    return OpenCVTracker(partial(_create_nano, Path(folder)), integer_boxes=True)


def nano_spec(folder: Path) -> TrackerSpec:
    """The spec of OpenCV's TrackerNano with the model files in ``folder``
    (:func:`nano_models`); the cache key holds the files' content."""
    digest = hashlib.sha256()
    for name in NANO_MODEL_FILES:
        digest.update((folder / name).read_bytes())
    key = f"opencv {cv2.__version__} TrackerNano sha256 {digest.hexdigest()[:16]}"
    return TrackerSpec(NANO_TRACKER, partial(nano_tracker, folder), key, isolated=True)


class StaticBox:
    """The floor any tracker must beat: the first box, reported on every frame."""

    def init(self, frame: np.ndarray, box: np.ndarray) -> None:
        self._box = np.asarray(box, dtype=np.float64).copy()

    def update(self, frame: np.ndarray) -> np.ndarray:
        return self._box.copy()


def _opencv_constructor(class_name: str) -> tuple[Callable[[], object], bool] | None:
    """OpenCV's factory for ``Tracker<class_name>`` and whether it takes integer boxes, or
    None if this OpenCV build lacks it."""
    modern = getattr(cv2, f"Tracker{class_name}_create", None)
    if modern is None and hasattr(cv2, f"Tracker{class_name}"):
        modern = getattr(getattr(cv2, f"Tracker{class_name}"), "create", None)
    if modern is not None:
        return modern, True
    legacy = getattr(getattr(cv2, "legacy", None), f"Tracker{class_name}_create", None)
    return (legacy, False) if legacy is not None else None


def available_trackers(nano_folder: str | Path | None = None) -> list[str]:
    """Names this installation can run: ours, the static box, OpenCV's that are present, and
    TrackerNano when its model files are in ``nano_folder`` (else ``$HART_NANOTRACK_DIR``).

    Raises:
        InputError: ``nano_folder`` lacks TrackerNano's files (a folder the user gave; a stale
            ``$HART_NANOTRACK_DIR`` only leaves nano out).
    """
    opencv = [n for n, c in OPENCV_TRACKERS.items() if _opencv_constructor(c) is not None]
    try:
        nano = [NANO_TRACKER] if nano_models(nano_folder) is not None else []
    except InputError:
        if nano_folder is not None:
            raise
        nano = []
    return [OUR_TRACKER, STATIC_TRACKER, *opencv, *nano]


def missing_opencv_trackers() -> list[str]:
    """OpenCV trackers that this OpenCV build lacks (they come with opencv-contrib-python)."""
    return [n for n, c in OPENCV_TRACKERS.items() if _opencv_constructor(c) is None]


def baseline_spec(name: str, nano_folder: str | Path | None = None) -> TrackerSpec:
    """The spec of a baseline (one of :data:`BASELINES`) by name; TrackerNano's model files
    are looked for in ``nano_folder``, else ``$HART_NANOTRACK_DIR`` (:func:`nano_models`).

    Raises:
        NoModelFiles: ``name`` is nano, and neither names a folder.
        InputError: an unknown name (listing the known ones), an OpenCV tracker that this
            OpenCV build lacks (saying where to get it), or a nano folder that lacks a file.
    """
    if name == STATIC_TRACKER:
        return TrackerSpec(STATIC_TRACKER, StaticBox, "static first box", timed=False)
    if name == NANO_TRACKER:
        folder = nano_models(nano_folder)
        if folder is None:
            raise NoModelFiles(
                f"no TrackerNano model files (give --nano-models DIR or set {NANO_ENVIRONMENT})"
            )
        return nano_spec(folder)
    if name not in OPENCV_TRACKERS:
        raise InputError(f"unknown tracker {name!r} (known: {', '.join(BASELINES)})")
    constructor = _opencv_constructor(OPENCV_TRACKERS[name])
    if constructor is None:
        raise InputError(
            f"tracker {name!r} is not in this OpenCV {cv2.__version__}: it needs "
            f"opencv-contrib-python (pip uninstall opencv-python; "
            f"pip install opencv-contrib-python)"
        )
    key = f"opencv {cv2.__version__} Tracker{OPENCV_TRACKERS[name]}"
    # OpenCV's legacy trackers can segfault (Boosting does on VOT bag): isolate them all.
    return TrackerSpec(name, partial(opencv_tracker, name), key, isolated=True)


def opencv_tracker(name: str) -> OpenCVTracker:
    """One of :data:`OPENCV_TRACKERS` by name, ready for ``init``."""
    constructor = _opencv_constructor(OPENCV_TRACKERS[name])
    if constructor is None:
        raise InputError(f"tracker {name!r} is not in this OpenCV {cv2.__version__}")
    return OpenCVTracker(*constructor)


def our_spec(
    checkpoint: Path | None = None, device: str = "cpu", threads: int | None = None
) -> TrackerSpec:
    """The spec of our tracker from ``checkpoint`` (None: the shipped default model), run on
    ``device`` with ``threads`` CPU threads (None: torch's number now; ``hart evaluate`` sets
    it from ``--threads`` before it calls this, and tracks in the same setting).

    The model is loaded here, once, so a missing or broken checkpoint stops the run before any
    work; ``init`` restarts it for each sequence.
    """
    # Only when asked for: they import torch.
    import torch

    from hart.model.checkpoint import default_model_path
    from hart.tracking import Tracker

    tracker = Tracker.from_checkpoint(checkpoint, device=device)
    # The cache key is the model file's content, what the boxes are computed on, and the code
    # that tracks with it: a retrained default model, or a change to the tracker's code, is
    # evaluated afresh (as OpenCV's trackers are after an OpenCV upgrade).
    digest = hashlib.sha256(Path(checkpoint or default_model_path()).read_bytes()).hexdigest()[:16]
    threads = torch.get_num_threads() if threads is None else threads
    key = f"hart model sha256 {digest} | {compute_setting(device, threads)}"
    return TrackerSpec(OUR_TRACKER, lambda: tracker, f"{key} | code {tracking_code_digest()}")


def compute_setting(device: str, threads: int) -> str:
    """What moves our tracker's boxes by float rounding, for the cache key: the device, the CPU
    threads (sums split over threads add up in another order) and, on a CPU, which path the
    Gaussian glimpse takes: the compiled kernel, or PyTorch's operations where
    ``HART_KERNEL=off`` asks for them or no C compiler builds the kernel (the kernel is built
    here if it has to be, as the first glimpse would)."""
    import torch

    from hart.model import kernel

    where = torch.device(device)
    setting = f"device {where} | threads {threads}"
    if where.type == "cpu":
        setting += " | glimpse " + ("compiled kernel" if kernel.load() else "pytorch")
    return setting


TRACKING_CODE = ("boxes.py", "model", "tracking")
"""What our tracker's boxes depend on besides the model file, relative to the package."""


def tracking_code_digest(package: Path | None = None) -> str:
    """A short hash of the source our tracker runs (:data:`TRACKING_CODE` of the ``hart``
    package, or of ``package``: its ``.py`` and ``.c`` files, names and contents) and of the
    torch version, for the cache key of its results."""
    import torch

    if package is None:
        package = Path(__file__).resolve().parents[1]  # hart/, from hart/evaluation/
    files = []
    for name in TRACKING_CODE:
        path = package / name
        files += sorted(path.rglob("*")) if path.is_dir() else [path]
    digest = hashlib.sha256(f"torch {torch.__version__}\n".encode())
    for path in files:
        if path.suffix in (".py", ".c") and path.is_file():
            digest.update(f"{path.relative_to(package).as_posix()}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def parse_baselines(text: str, nano_folder: str | Path | None = None) -> list[str]:
    """``"mil,kcf"`` → names; ``"all"``: every available baseline (nano when its model files
    are in ``nano_folder`` or ``$HART_NANOTRACK_DIR``); ``""`` or ``"none"``: none. Names are
    checked by :func:`baseline_spec`."""
    text = text.strip().lower()
    if text in ("", "none"):
        return []
    if text == "all":
        return [n for n in available_trackers(nano_folder) if n != OUR_TRACKER]
    names = [n.strip() for n in text.split(",") if n.strip()]
    return list(dict.fromkeys(names))  # drop repeats, keep order

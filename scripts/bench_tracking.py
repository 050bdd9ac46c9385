"""Tracking speed of hart's tracker and OpenCV's on the same 640×480 video, in one run.

    python scripts/bench_tracking.py                       # hart, csrt, kcf, mil; 2 threads
    python scripts/bench_tracking.py --trackers csrt,kcf,mil,mosse --repeats 5
    python scripts/bench_tracking.py --trackers hart,csrt,nano \
        --nano-models ../shared/models/nanotrack
    python scripts/bench_tracking.py --frames my_clip.mp4 --box 100,80,60,90 --size 1280x720

The frames (default: OTB DragonBaby from ``../shared/sequences``, a real clip) are resized to
``--size``, encoded to an mp4 and decoded again, as ``hart track`` would read a user's video;
then every tracker runs ``init`` + ``update`` over exactly those decoded frames, held in memory,
so the timings are tracking alone (no decoding, drawing or writing). Each tracker runs
``--repeats`` times, interleaved with the others so that load from other processes falls on all
of them alike; the table gives the best and the median frames per second, the ratio of the best
to CSRT's, and the mean IoU against the ground truth (a tracker that lost the target early can
look fast). Timings vary with the machine's load: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from hart.boxes import parse_box, parse_size
from hart.errors import InputError
from hart.evaluation.trackers import BASELINES, NoModelFiles, baseline_spec
from hart.media.frames import open_frames

DEFAULT_FRAMES = Path(__file__).resolve().parents[2] / "shared" / "sequences" / "OTB" / "DragonBaby"


def make_tracker(name: str, checkpoint: Path | None, device: str, nano: Path | None):
    """``hart`` (the network, loaded once) or one of :data:`BASELINES`, as ``hart evaluate``
    makes it (TrackerNano from the model files in ``nano`` or ``$HART_NANOTRACK_DIR``)."""
    if name == "hart":
        from hart.tracking import Tracker  # the network: torch loads only when asked for

        return Tracker.from_checkpoint(checkpoint, device=device)
    return baseline_spec(name, nano).make()


def benchmark_frames(
    source: Path, size: tuple[int, int], workdir: Path
) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames of ``source`` resized to ``size = (width, height)``, written to an mp4 in
    ``workdir`` and decoded back; and the ``(4,)`` factors that scale an xywh box to them."""
    width, height = size
    frames = open_frames(source)
    scale = np.array([width / frames.width, height / frames.height] * 2)
    video = workdir / "bench.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), frames.fps, size)
    for frame in frames:
        writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    writer.release()
    return list(open_frames(video)), scale


def time_tracker(tracker, frames: list[np.ndarray], box: np.ndarray) -> tuple[float, np.ndarray]:
    """Seconds spent in ``init`` + every ``update``, and the ``(N, 4)`` boxes."""
    boxes = [box]
    start = time.perf_counter()
    tracker.init(frames[0], box.copy())
    for frame in frames[1:]:
        boxes.append(np.asarray(tracker.update(frame), dtype=np.float64).reshape(4))
    return time.perf_counter() - start, np.stack(boxes)


def mean_iou(boxes: np.ndarray, truth: np.ndarray) -> float:
    """Mean IoU of paired xywh rows, frames 2..N; a lost (NaN) box counts as 0."""
    a, b = boxes[1:], truth[1:]
    left, top = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    right = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    bottom = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    overlap = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - overlap
    return float(np.nan_to_num(overlap / union).mean())


def read_ground_truth(folder: Path) -> np.ndarray | None:
    """OTB's ``groundtruth_rect.txt`` beside an ``img/`` folder, as ``(N, 4)`` xywh, if any."""
    for candidate in (folder / "groundtruth_rect.txt", folder.parent / "groundtruth_rect.txt"):
        if candidate.is_file():
            rows = [
                re.split(r"[,\s]+", line.strip()) for line in candidate.read_text().splitlines()
            ]
            return np.array([[float(value) for value in row] for row in rows if row != [""]])
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trackers", default="hart,csrt,kcf,mil", help="comma-separated names")
    parser.add_argument("--frames", type=Path, default=DEFAULT_FRAMES, help="video or folder")
    parser.add_argument("--box", help="X,Y,W,H in the first frame (default: OTB ground truth)")
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT the frames are resized to")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="OpenCV and torch threads")
    parser.add_argument("--checkpoint", type=Path, help="hart's model (default: shipped model)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--nano-models", type=Path, help="TrackerNano's ONNX files (default: $HART_NANOTRACK_DIR)"
    )
    args = parser.parse_args(argv)

    names = [name.strip().lower() for name in args.trackers.split(",") if name.strip()]
    known = ["hart", *BASELINES]
    unknown = sorted(set(names) - set(known))
    if unknown or not names:
        what = (
            f"unknown trackers {unknown}" if unknown else f"--trackers {args.trackers!r} names none"
        )
        parser.error(f"{what}; choose from {', '.join(known)}")
    for name, count in (("--repeats", args.repeats), ("--threads", args.threads)):
        if count < 1:
            parser.error(f"{name} must be at least 1, got {count}")
    try:
        size = parse_size(args.size, "--size", "WxH", "640x480", smallest=16)
        first_box = None if args.box is None else parse_box(args.box)
    except InputError as error:
        parser.error(str(error))
    source = args.frames / "img" if (args.frames / "img").is_dir() else args.frames
    truth = read_ground_truth(args.frames)
    if first_box is None and truth is None:
        parser.error(f"no groundtruth_rect.txt beside {args.frames}: give --box X,Y,W,H")

    cv2.setNumThreads(args.threads)
    if "hart" in names:
        import torch

        torch.set_num_threads(args.threads)

    # Made before the frames, so that a bad model file costs no encoding. TrackerNano's files
    # are looked for only when it is asked for: a stale $HART_NANOTRACK_DIR must not stop a
    # run of the other trackers.
    trackers = {}
    for name in names:
        try:
            trackers[name] = make_tracker(name, args.checkpoint, args.device, args.nano_models)
        # hart.tracking without torch; nano without model files
        except (ImportError, NoModelFiles) as error:
            print(f"{name}: skipped ({error})", file=sys.stderr)
        except InputError as error:
            parser.error(str(error))

    if not trackers:
        parser.error("every tracker asked for was skipped: nothing to time")

    with tempfile.TemporaryDirectory() as workdir:
        try:
            frames, scale = benchmark_frames(source, size, Path(workdir))
        except InputError as error:  # frames that are missing or cannot be read
            parser.error(str(error))
    if first_box is not None:
        first_box, truth = first_box * scale, None
    else:
        first_box = truth[0] * scale
        # Ground truth for another cut of the frames would give a meaningless IoU: none then.
        truth = truth * scale if len(truth) == len(frames) else None

    seconds: dict[str, list[float]] = {name: [] for name in trackers}
    ious: dict[str, float] = {}
    order = list(trackers)
    for repeat in range(args.repeats):
        # Rotate who goes first, so a slow moment on a shared machine does not hit one tracker.
        for name in order[repeat % len(order) :] + order[: repeat % len(order)]:
            elapsed, boxes = time_tracker(trackers[name], frames, first_box)
            seconds[name].append(elapsed)
            if truth is not None:
                ious[name] = mean_iou(boxes, truth)

    print(
        f"{len(frames)} frames of {source} at {size[0]}×{size[1]}, {args.threads} threads, "
        f"best and median of {args.repeats} runs, opencv {cv2.__version__}"
    )
    best = {name: len(frames) / min(times) for name, times in seconds.items()}
    median = {name: len(frames) / statistics.median(times) for name, times in seconds.items()}
    header = f"{'tracker':<11} {'fps best':>9} {'fps median':>11} {'× CSRT':>7} {'mean IoU':>9}"
    print(header)
    print("-" * len(header))
    for name in seconds:
        ratio = f"{best[name] / best['csrt']:.2f}" if "csrt" in best else "–"
        iou = f"{ious[name]:.3f}" if name in ious else "–"
        print(f"{name:<11} {best[name]:>9.1f} {median[name]:>11.1f} {ratio:>7} {iou:>9}")
    if ious:
        print("mean IoU: against the ground truth, frames 2..N; a frame reported lost counts 0")
    return 0


if __name__ == "__main__":
    sys.exit(main())

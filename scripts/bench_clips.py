"""How many training clips per second the clip loaders deliver.

    python scripts/bench_clips.py                         # synthetic and ../shared/sequences
    python scripts/bench_clips.py --source data/kitti --lengths 5 30 --workers 0 2 4

Clips at the paper's frame size (187×621) in batches of 10, through a torch DataLoader with
each worker count; the first batch (worker start-up) is not timed. Numbers depend on the
machine's free cores: compare rows of one run, not runs on different machines.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
from torch.utils.data import DataLoader

from hart.datasets import PAPER_FRAME_SIZE, SequenceClips, SyntheticClips, load_sequences


def clips_per_second(dataset, batch_size: int, workers: int, batches: int) -> float:
    dataset.clips_per_epoch = batch_size * (batches + 1)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    iterator = iter(loader)
    next(iterator)  # start-up: workers spawn, first batch
    start = time.perf_counter()
    count = sum(1 for _ in iterator)
    return count * batch_size / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    shared = Path(__file__).resolve().parents[2] / "shared" / "sequences"
    parser.add_argument(
        "--source",
        nargs="*",
        default=["synthetic", str(shared)],
        help="'synthetic' and/or data set folders",
    )
    parser.add_argument("--lengths", type=int, nargs="*", default=[5, 30])
    parser.add_argument("--workers", type=int, nargs="*", default=[0, 2])
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--batches", type=int, default=6, help="timed batches per row")
    parser.add_argument(
        "--opencv-threads",
        type=int,
        default=None,
        help="cv2.setNumThreads in the main process before workers start",
    )
    args = parser.parse_args(argv)
    if args.opencv_threads is not None:
        cv2.setNumThreads(args.opencv_threads)
    print(
        f"frame size {PAPER_FRAME_SIZE}, batch {args.batch_size}, "
        f"uint8 frames, OpenCV threads {cv2.getNumThreads()}"
    )
    print(f"{'source':<12} {'T':>3} {'workers':>7} {'clips/s':>8}")
    for source in args.source:
        if source == "synthetic":
            dataset = SyntheticClips(frame_size=PAPER_FRAME_SIZE)
            label = "synthetic"
        else:
            dataset = SequenceClips(load_sequences(source), frame_size=PAPER_FRAME_SIZE)
            label = Path(source).name
        for length in args.lengths:
            dataset.clip_length = length
            for workers in args.workers:
                rate = clips_per_second(dataset, args.batch_size, workers, args.batches)
                print(f"{label:<12} {length:>3} {workers:>7} {rate:>8.1f}", flush=True)


if __name__ == "__main__":
    main()

"""How many training clips per second hart's data pipeline delivers, per worker process.

    python scripts/bench_clips.py                        # every source below, T = 5 and 30
    python scripts/bench_clips.py --sources jpeg jpeg-resized --lengths 30 --workers 0 4

Clips come from :class:`hart.training.HARTDataModule`'s training loader, as ``hart train``
gets them (uint8 frames, the data set's augmentations), at ``--frame-size`` (default 240×320,
``configs/got10k.yaml``'s), for each source:

- ``synthetic``: scenes generated on the fly (``hart train``'s default data);
- ``video``: ``../shared/training``, real footage in the "video + box file" layout (decoded
  once into JPEG frames at the videos' own size, 640×360 and the like);
- ``jpeg``: a GOT-10k layout this script writes (``--jpeg-size``, default 1080×1920, GOT-10k's
  most common frame size): frames of ``../shared/training`` scaled up, or synthetic scenes
  without it;
- ``jpeg-resized``: the same, with ``--data.resized_cache``: frames resized once to the
  training size and kept on disk (:mod:`hart.datasets.resized`); the one-off resizing is not
  timed.

``workers 0`` reads in the main process: its rate is one worker's. The first batch (worker
start-up) is not timed. Numbers depend on the machine's free cores: compare rows of one run.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from hart.boxes import parse_size
from hart.datasets import load_sequences
from hart.datasets.synthetic import generate_sequence
from hart.datasets.writers import write_got10k_sequence
from hart.errors import InputError
from hart.training.datamodule import HARTDataModule, check_counts

SHARED_TRAINING = Path(__file__).resolve().parents[2] / "shared" / "training"
SOURCES = ("synthetic", "video", "jpeg", "jpeg-resized")


def write_jpeg_layout(
    root: Path, size: tuple[int, int], sequences: int, frames: int, real: bool
) -> Path:
    """A GOT-10k ``train`` split of ``sequences`` × ``frames`` JPEGs of ``size`` (H, W), scaled
    up from ``../shared/training`` (``real``) or from synthetic scenes."""
    height, width = size
    split = root / "train"
    names = []
    if real:
        sources = [s for s in load_sequences(SHARED_TRAINING) if len(s) >= frames][:sequences]
    else:
        sources = [generate_sequence(seed, frames, (360, 640)) for seed in range(sequences)]
    for index, source in enumerate(sources, 1):
        name = f"GOT-10k_Train_{index:06d}"

        def items(source=source):
            for t in range(frames):
                if isinstance(source.frames[t], np.ndarray):
                    frame = source.frames[t]
                else:
                    frame = cv2.imread(str(source.frames[t]), cv2.IMREAD_COLOR)
                scale = np.array([width / frame.shape[1], height / frame.shape[0]] * 2)
                large = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
                yield large, source.boxes[t] * scale, bool(source.visible[t])

        write_got10k_sequence(split / name, items(), quality=90)
        names.append(name)
    (split / "list.txt").write_text("\n".join(names) + "\n")
    return root


def clips_per_second(data: HARTDataModule, length: int, batches: int) -> float:
    data.clip_length = length
    loader = data.train_dataloader()
    iterator = iter(loader)
    next(iterator)  # start-up: workers spawn, first batch
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    elapsed = time.perf_counter() - start
    del iterator  # stops the workers
    return batches * loader.batch_size / elapsed


def frame_size(text: str) -> tuple[int, int]:
    """``HxW`` as ``(height, width)`` (argparse's type: its error names the option)."""
    try:
        return parse_size(text, "", "HxW", "240x320", smallest=16)
    except InputError as error:
        raise argparse.ArgumentTypeError(str(error).strip()) from None


def check_options(args: argparse.Namespace) -> None:
    """Raise :class:`~hart.errors.InputError` for settings no row of the table can use, before
    the table starts: the data module would refuse them only at its row."""
    for name in ("lengths", "workers", "sources"):
        if not getattr(args, name):
            raise InputError(f"--{name} names none")
    if args.batches < 1:
        raise InputError(f"--batches must be at least 1, got {args.batches}")
    if args.scratch is not None and not args.scratch.is_dir():
        raise InputError(f"--scratch {args.scratch} is not a folder")
    for length, workers in itertools.product(args.lengths, args.workers):
        clips = args.batch_size * (args.batches + 2)
        check_counts(args.frame_size, length, length, args.batch_size, workers, clips, 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", nargs="*", default=list(SOURCES), choices=SOURCES)
    parser.add_argument("--frame-size", type=frame_size, default=(240, 320), help="HxW")
    parser.add_argument("--jpeg-size", type=frame_size, default=(1080, 1920), help="HxW")
    parser.add_argument("--lengths", type=int, nargs="*", default=[5, 30])
    parser.add_argument("--workers", type=int, nargs="*", default=[0, 2])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=4, help="timed batches per row")
    parser.add_argument(
        "--jpeg-from",
        choices=("shared", "synthetic"),
        default="shared" if SHARED_TRAINING.is_dir() else "synthetic",
        help="what the JPEG layout shows: ../shared/training's footage (default where it is "
        "there) or synthetic scenes",
    )
    parser.add_argument("--scratch", type=Path, default=None, help="write layouts in here")
    args = parser.parse_args(argv)
    try:
        check_options(args)
    except InputError as error:
        parser.error(str(error))
    height, width = args.frame_size
    # One OpenCV thread, as in each of the data module's workers, also for "workers 0".
    cv2.setNumThreads(1)
    print(
        f"clips of {height}×{width} frames, batch {args.batch_size}, {args.batches} batches "
        f"timed per row; OpenCV threads per worker 1"
    )
    print("| source | frames read | T | workers | clips/s | clips/s per worker | ms per frame |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        scratch = Path(scratch)
        for source in args.sources:
            options = {}
            read = f"{height}×{width}"
            if source == "video":
                if not SHARED_TRAINING.is_dir():
                    print(f"| video | {SHARED_TRAINING} is not there | | | | | |")
                    continue
                options["root"] = str(SHARED_TRAINING)
                first = load_sequences(SHARED_TRAINING)[0].frames[0]
                read = "×".join(map(str, cv2.imread(str(first)).shape[:2]))
            elif source.startswith("jpeg"):
                root = scratch / "got10k"
                if not root.is_dir():
                    frames = max(args.lengths) + 10
                    real = args.jpeg_from == "shared"
                    write_jpeg_layout(root, args.jpeg_size, 4, frames, real)
                options["root"] = str(root)
                read = "×".join(map(str, args.jpeg_size))
                if source == "jpeg-resized":
                    options["resized_cache"] = str(scratch / "resized")
                    read = f"{height}×{width} (cached)"
            for workers in args.workers:
                data = HARTDataModule(
                    frame_size=(height, width),
                    batch_size=args.batch_size,
                    num_workers=workers,
                    clips_per_epoch=args.batch_size * (args.batches + 2),
                    val_clip_length=min(args.lengths),
                    val_fraction=0.25,
                    **options,
                )
                data.prepare_data()
                data.setup("fit")
                for length in args.lengths:
                    rate = clips_per_second(data, length, args.batches)
                    per_worker = rate / max(workers, 1)
                    cells = [source, read, length, workers, f"{rate:.1f}", f"{per_worker:.1f}"]
                    cells.append(f"{1000 / (per_worker * length):.1f}")
                    print("| " + " | ".join(map(str, cells)) + " |", flush=True)


if __name__ == "__main__":
    main()

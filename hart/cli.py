"""The ``hart`` command: ``hart train | track | evaluate | export | sample | photos | bench``.

Each sub-command parses its arguments here and calls one function of the package; ``train`` hands
its arguments to LightningCLI. Errors a user can cause (:class:`hart.errors.HartError`) and
those the system reports (:class:`OSError`: a missing file, no permission, a full disk) print one
line and exit with status 2; no traceback, no half-written output. Ctrl-C exits with 130 and
SIGTERM with 143, both after the same clean-up.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from hart.atomic import output_name
from hart.errors import HartError, InputError, path_argument, user_message
from hart.tracking.threads import add_threads_option, check_threads, tracking_threads

COMMANDS: dict[str, Callable[[list[str]], int | None]] = {}


def command(name: str):
    """Register ``function(argv) -> exit status`` as ``hart NAME``."""

    def register(function):
        COMMANDS[name] = function
        return function

    return register


@command("train")
def train_command(argv: list[str]) -> int | None:
    """``hart train [fit] [--config configs/X.yaml] …``: LightningCLI (see hart.training)."""
    from hart.training.lightning_cli import main as train_main

    return train_main(argv)


@command("export")
def export_command(argv: list[str]) -> int:
    """``hart export CHECKPOINT OUT``: keep only what tracking needs (config, float16 weights)."""
    parser = argparse.ArgumentParser(
        prog="hart export",
        description="Write the tracker's part of a `hart train` checkpoint: the model config and "
        "its weights in float16, without optimiser state (a sixth to a half of the size).",
    )
    parser.add_argument(
        "checkpoint",
        type=path_argument("CHECKPOINT", "a checkpoint written by `hart train`"),
        metavar="CHECKPOINT",
        help="a checkpoint written by `hart train`",
    )
    parser.add_argument(
        "output",
        type=path_argument("OUT", "the model file to write (.ckpt)", file_name),
        metavar="OUT",
        help="where to write the model file (.ckpt; missing folders are made)",
    )
    args = parser.parse_args(argv)

    from hart.model.checkpoint import export_model

    print(export_model(args.checkpoint, args.output))
    return 0


MAX_SAMPLE_FRAMES = 10_000


@command("sample")
def sample_command(argv: list[str]) -> int:
    """``hart sample OUT.mp4``: write a synthetic clip and its boxes, e.g. to try `hart track`."""
    parser = argparse.ArgumentParser(
        prog="hart sample",
        description="Write one synthetic sequence (the kind `hart train` learns from by default) "
        "as a video and, beside it, OUT.txt with one x,y,w,h line per frame (nan where the "
        "target is hidden). The same seed always gives the same sequence.",
    )
    parser.add_argument(
        "output",
        type=path_argument("OUT", "the video to write (.mp4 or .avi)", file_name),
        metavar="OUT",
        help="the video to write (.mp4 or .avi; missing folders are made)",
    )
    parser.add_argument("--seed", type=int, default=0, help="which sequence (default 0)")
    parser.add_argument("--frames", type=int, default=150, help="length (default 150)")
    parser.add_argument(
        "--size", default="360x640", metavar="HxW", help="frame size (default 360x640)"
    )
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate (default 30)")
    args = parser.parse_args(argv)
    from hart.boxes import parse_size

    height, width = parse_size(args.size, "--size")
    # Bounds that keep a sample a sample: its motion is planned for every frame before any is
    # drawn (a billion frames filled this machine's 24 GB), and a frame is drawn in full.
    if not 1 <= args.frames <= MAX_SAMPLE_FRAMES:
        raise InputError(f"--frames must be between 1 and {MAX_SAMPLE_FRAMES}, got {args.frames}")
    from hart.datasets.clips import MAX_FRAME_SIZE
    from hart.datasets.synthetic.config import MIN_FRAME_SIZE

    low, high = MIN_FRAME_SIZE, MAX_FRAME_SIZE
    if not (low[0] <= height <= high[0] and low[1] <= width <= high[1]):
        smallest, limit = ("x".join(map(str, size)) for size in (low, high))
        raise InputError(f"--size must be between {smallest} and {limit}, got {args.size}")
    if args.seed < 0:
        raise InputError(f"--seed must be 0 or more, got {args.seed}")
    if not (math.isfinite(args.fps) and args.fps > 0):
        raise InputError(f"--fps must be a positive number, got {args.fps:g}")

    from hart.datasets.synthetic import write_synthetic_sequence

    path = write_synthetic_sequence(
        args.output, args.seed, args.frames, (height, width), "video", fps=args.fps
    )
    print(f"wrote {path} and {path.with_suffix('.txt')}")
    return 0


@command("photos")
def photos_command(argv: list[str]) -> int:
    """``hart photos OUT``: real photos for synthetic training (``--data.photos OUT/train``)."""
    from hart.datasets.photo_sets import SCIKIT_IMAGE_VERSION, write_scikit_image_photos

    parser = argparse.ArgumentParser(
        prog="hart photos",
        description="Write a folder of real photos and textures for the synthetic world "
        f"(`hart train --data.photos OUT/train`): the images bundled in scikit-image "
        f"{SCIKIT_IMAGE_VERSION}'s wheel, which pip downloads from the package index (nothing "
        "is installed). OUT/train holds the twelve an earlier default model was trained with (the "
        "shipped one is not trained on photos), OUT/held_out three more for validation.",
    )
    parser.add_argument(
        "output",
        type=path_argument("OUT", "the folder to write"),
        metavar="OUT",
        help="the folder to write (a photo set written before is replaced; a folder holding "
        "anything else is refused)",
    )
    parser.add_argument(
        "--wheel",
        type=path_argument("--wheel", "a scikit-image wheel, or leave --wheel out to download one"),
        help="a scikit-image wheel already on disk (no download)",
    )
    args = parser.parse_args(argv)
    path = write_scikit_image_photos(args.output, args.wheel)
    print(f"wrote {path}/train and {path}/held_out")
    return 0


@command("bench")
def bench_command(argv: list[str]) -> int | None:
    from hart.bench import main as bench_main

    return bench_main(argv)


@command("track")
def track_command(argv: list[str]) -> int:
    """``hart track VIDEO --box X,Y,W,H``: track one target, write the annotated video."""
    parser = argparse.ArgumentParser(
        prog="hart track",
        description="Track one target through a video and write the video with the predicted "
        "box, the tracker's attention box and its glimpse drawn on every frame.",
        epilog="Example: hart track clip.mp4 --box 120,80,40,60 --boxes-out boxes.txt "
        "(writes clip_tracked.mp4 in the current directory). Outputs appear only once "
        "tracking has finished; an interrupted run leaves nothing behind.",
    )
    parser.add_argument(
        "video",
        type=path_argument("VIDEO", "a video file or a folder of frames (. for the current one)"),
        metavar="VIDEO",
        help="a video file (whatever OpenCV reads: .mp4, .avi, .mov, …) or a folder of "
        "images (.jpg, .png, …) taken in natural order: 2.jpg before 10.jpg",
    )
    first_box = parser.add_mutually_exclusive_group(required=True)
    first_box.add_argument(
        "--box",
        metavar="X,Y,W,H",
        help="the target in the first frame: top-left corner, width and height in pixels",
    )
    first_box.add_argument(
        "--box-from",
        type=path_argument("--box-from", "a ground-truth file"),
        metavar="FILE",
        help="take the first box from a ground-truth file, in any form hart's data set readers "
        "take: x,y,w,h lines (comma, tab or space separated: OTB, GOT-10k, LaSOT, UAV123, "
        "`hart sample`), frame,x,y,w,h lines (frame 1's), or VOT's corners of a rotated box "
        "(their axis-aligned box)",
    )
    first_box.add_argument(
        "--select",
        action="store_true",
        help="draw the first box with the mouse instead (needs a display)",
    )
    parser.add_argument(
        "--checkpoint",
        type=path_argument(
            "--checkpoint", "a model file, or leave --checkpoint out for the shipped one"
        ),
        help="a model file: a checkpoint written by `hart train` or a model from `hart export` "
        "(default: the model shipped with the package, hart/model/default/hart.ckpt, or "
        "$HART_DEFAULT_MODEL)",
    )
    parser.add_argument(
        "--output",
        "-o",
        type=path_argument("--output", "the video to write, or leave --output out for the default"),
        metavar="OUT",
        help="the annotated video: .mp4/.m4v/.mov (mp4v) or .avi/.mkv (Motion JPEG), or a name "
        "without extension for a folder of PNG frames (default: VIDEO_tracked.mp4 in the "
        "current directory, e.g. clip_tracked.mp4 for clip.avi); missing folders are made",
    )
    parser.add_argument(
        "--boxes-out",
        type=path_argument("--boxes-out", "the file to write the boxes to", file_name),
        metavar="B.txt",
        help="also write the boxes: one x,y,w,h line per frame, the first being the given box; "
        "a lost target is nan,nan,nan,nan (missing folders are made)",
    )
    parser.add_argument(
        "--fps",
        type=float,
        help="frame rate of the output (default: the video's own; 30 for a folder of images)",
    )
    parser.add_argument(
        "--device", default="cpu", help="where the network runs: cpu (default), cuda, cuda:1, mps"
    )
    parser.add_argument(
        "--accept-short",
        action="store_true",
        help="a video file cut short, that decodes fewer frames than its container declares, "
        "or damaged, with a frame that cannot be decoded, is an error, and nothing is written; "
        "with this, the frames that decode (up to the damaged one) are tracked (and a warning "
        "says how many)",
    )
    add_threads_option(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    args = parser.parse_args(_joined_box_values(argv))
    check_threads(args.threads)

    from hart.boxes import check_first_box, parse_box
    from hart.media.frames import open_frames, quiet_ffmpeg_log
    from hart.tracking.loop import check_outputs, run_tracking

    quiet_ffmpeg_log()
    source = open_frames(args.video, fps=args.fps)
    if args.select:
        from hart.tracking.selection import select_box  # the only GUI code: imported when asked

        box = select_box(source.first_frame)
    elif args.box_from is not None:
        box = first_box_from(args.box_from)
    else:
        box = parse_box(args.box)
    stem = source.path.resolve().name if source.is_folder else source.path.stem
    output = args.output or Path(f"{stem}_tracked.mp4")
    # Everything a user can get wrong is checked before the model loads, which takes seconds.
    box = check_first_box(box, source.size)
    check_outputs(source, output, args.boxes_out, inputs=[args.box_from] if args.box_from else [])

    from hart.tracking import Tracker

    with tracking_threads(args.threads):
        tracker = Tracker.from_checkpoint(args.checkpoint, device=args.device)
        run = run_tracking(
            source,
            tracker,
            box,
            output,
            args.boxes_out,
            progress=not args.no_progress,
            accept_short=args.accept_short,
        )
    if run.damaged:
        print(
            f"hart track: warning: {source.path}: frame {run.frame_count + 1} cannot be decoded; "
            f"tracked the {run.frame_count} frames before it",
            file=sys.stderr,
        )
    elif run.cut_short:
        print(
            f"hart track: warning: {source.path} declares {run.declared_frames} frames but only "
            f"{run.frame_count} could be decoded; tracked those",
            file=sys.stderr,
        )
    print(
        f"tracked {run.frame_count} frames: {run.tracking_fps:.1f} frames/s tracking alone, "
        f"{run.overall_fps:.1f} frames/s overall (reading, drawing and writing included)"
    )
    print(f"wrote {output}" + (f" and {args.boxes_out}" if args.boxes_out else ""))
    return 0


def first_box_from(path: Path):
    """The first frame's box ``(4,)`` xywh in a ground-truth file, read as the data set readers
    read such files (``load_sequences``): ``x,y,w,h`` lines, ``frame,x,y,w,h`` lines (the video
    layout's; frame 1's line, wherever it is), or VOT's corners of a rotated box and masks
    (their axis-aligned box). Raises :class:`InputError` when the file gives no box for the first
    frame (an absent target: NaN or zeros, or frame 1 unlisted)."""
    import numpy as np

    from hart.boxes import format_box

    # hart.datasets imports torch: only when a box file is given.
    from hart.datasets.annotations import parse_numbers, read_lines
    from hart.datasets.video import read_box_file
    from hart.datasets.vot import read_vot_boxes

    lines = read_lines(path)
    if not lines:
        raise InputError(f"{path}: the file is empty")
    number, text = lines[0]
    vot = text[:1] in "mM" or len(parse_numbers(text, path, number)) not in (4, 5)
    box = (read_vot_boxes(path) if vot else read_box_file(path))[0]
    if not (np.isfinite(box).all() and box[2] > 0 and box[3] > 0):
        raise InputError(
            f"{path}: no box for the first frame (the target is absent there: "
            f"{format_box(box)}); give the first box with --box"
        )
    return box


def file_name(text: str) -> Path:
    """An output file's name as argparse takes it: ``out/`` names a folder (``Path`` would drop
    the slash, and a file called ``out`` would be written)."""
    if text.endswith(("/", os.sep)):
        raise argparse.ArgumentTypeError(f"{text} names a folder; give a file name")
    return Path(text)


def _joined_box_values(argv: list[str]) -> list[str]:
    """``--box -100,20,50,50`` as ``--box=-100,20,50,50``: argparse takes a value starting with
    ``-`` for an option, and a box left of or above the frame starts with one."""
    joined: list[str] = []
    index = 0
    while index < len(argv):
        if argv[index] == "--box" and index + 1 < len(argv) and argv[index + 1].startswith("-"):
            joined.append(f"--box={argv[index + 1]}")
            index += 2
        else:
            joined.append(argv[index])
            index += 1
    return joined


@command("evaluate")
def evaluate_command(argv: list[str]) -> int | None:
    from hart.evaluation.command import main as evaluate_main

    return evaluate_main(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="hart",
        description="Hierarchical Attentive Recurrent Tracking: train, track, evaluate.",
    )
    parser.add_argument("command", choices=sorted(COMMANDS), help="what to do")
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        parser.error(f"unknown command {argv[0]!r} (choose from {', '.join(sorted(COMMANDS))})")
    try:
        with _terminate_as_interrupt():
            return COMMANDS[argv[0]](argv[1:]) or 0
    except HartError as error:
        print(f"hart {argv[0]}: error: {user_message(error)}", file=sys.stderr)
        return 2
    except OSError as error:  # the system said no: a missing file, no permission, a full disk
        print(f"hart {argv[0]}: error: {_os_error_line(error)}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Terminated) as stop:
        return _stopped(argv[0], stop)
    except Exception as error:
        # Raised while unwinding from Ctrl-C or SIGTERM, by a part the signal reached as well:
        # `hart train`'s data loader workers die of a SIGTERM sent to the process group, and
        # shutting them down raises; the signal stopped the command, not this error.
        stop = _stopping_signal(error)
        if stop is None:
            raise
        return _stopped(argv[0], stop)


def _stopped(name: str, stop: BaseException) -> int:
    """Print the one line of a command stopped by Ctrl-C or SIGTERM; its exit status."""
    if isinstance(stop, Terminated):
        print(f"hart {name}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    print(f"hart {name}: interrupted", file=sys.stderr)
    return 130


def _stopping_signal(error: BaseException) -> BaseException | None:
    """The KeyboardInterrupt or :class:`Terminated` that ``error`` was raised while handling
    (Python's "During handling of the above exception"), or None."""
    seen = set()
    context = error.__context__
    while context is not None and id(context) not in seen:
        if isinstance(context, (KeyboardInterrupt, Terminated)):
            return context
        seen.add(id(context))
        context = context.__context__
    return None


def _os_error_line(error: OSError) -> str:
    """``PATH: reason`` for an :class:`OSError`, naming the file a user asked for rather than
    the temporary one it was being written under (:func:`hart.atomic.output_name`)."""
    names = [error.filename, error.filename2]
    shown = list(dict.fromkeys(str(output_name(name)) for name in names if name is not None))
    reason = error.strerror or str(error)
    return f"{' -> '.join(shown)}: {reason}" if shown else reason


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, as KeyboardInterrupt is, so that no ``except
    Exception`` takes it for one tracker's failure and goes on."""


@contextlib.contextmanager
def _terminate_as_interrupt():
    """While a command runs, SIGTERM (``kill``, a container stopping, a job scheduler) unwinds it
    as Ctrl-C does, so every ``finally`` runs and no temporary output is left behind; the
    default action would end the process on the spot."""

    def terminate(signum, frame):
        raise Terminated()

    if threading.current_thread() is not threading.main_thread():  # signals are main-thread only
        yield
        return
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())

"""``hart evaluate ROOT``: our tracker and OpenCV's over a folder of sequences; tables, JSON,
plots."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from hart.atomic import (
    atomic_output,
    file_in_the_way,
    nearest_folder,
    probe_writable,
    write_text,
)
from hart.boxes import comma_numbers
from hart.errors import InputError, path_argument
from hart.evaluation import plots, report
from hart.evaluation.runner import (
    check_cache_folders,
    evaluate,
    shift_first_boxes,
    unique_names,
)
from hart.evaluation.trackers import (
    DEFAULT_BASELINES,
    NANO_ENVIRONMENT,
    OUR_TRACKER,
    NoModelFiles,
    available_trackers,
    baseline_spec,
    missing_opencv_trackers,
    our_spec,
    parse_baselines,
)
from hart.media.frames import quiet_ffmpeg_log
from hart.tracking.threads import add_threads_option, check_threads, tracking_threads

RESULTS_JSON = "results.json"
RESULTS_TABLE = "results.md"
SUCCESS_PLOT = "success_plot.png"
IOU_OVER_TIME_PLOT = "iou_over_time.png"


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hart evaluate",
        description="Run our tracker and OpenCV's over every sequence under ROOT and compare "
        "them: success AUC, precision, normalised precision (OTB), AO and SR (GOT-10k), the "
        "HART paper's IoU over time, fps. Writes a table, results.json and two plots to --out; "
        "results per tracker and sequence are cached there, so a rerun only does new work. "
        "Exit status 1 if a tracker failed on some sequence (the rest is still reported), "
        "2 for bad input.",
    )
    parser.add_argument(
        "root",
        type=path_argument("ROOT", "the folder of sequences (. for the current one)"),
        metavar="ROOT",
        help="folder of sequences (any layout hart reads)",
    )
    parser.add_argument("--format", default="auto", help="dataset layout (default: auto)")
    parser.add_argument(
        "--checkpoint",
        type=path_argument(
            "--checkpoint", "a model file, or leave --checkpoint out for the shipped one"
        ),
        default=None,
        help="our model (default: the shipped one)",
    )
    parser.add_argument("--device", default="cpu", help="torch device for our model (default: cpu)")
    add_threads_option(parser)
    parser.add_argument(
        "--baselines",
        default=",".join(DEFAULT_BASELINES),
        help="comma-separated OpenCV trackers (mil, kcf, csrt, mosse, medianflow, tld, "
        "boosting, nano: TrackerNano, see --nano-models) or 'static' (the first box, never "
        "moved); 'all' for every one available, 'none' for none "
        f"(default: {','.join(DEFAULT_BASELINES)})",
    )
    parser.add_argument(
        "--nano-models",
        type=path_argument(
            "--nano-models", f"a folder, or leave --nano-models out for ${NANO_ENVIRONMENT}"
        ),
        default=None,
        help="folder with TrackerNano's nanotrack_backbone_sim.onnx and nanotrack_head_sim.onnx "
        f"(default: ${NANO_ENVIRONMENT}; without either, nano is skipped)",
    )
    parser.add_argument(
        "--no-hart", action="store_true", help="run the baselines only, not our model"
    )
    parser.add_argument(
        "--sequences", default=None, help="comma-separated names: evaluate only these"
    )
    parser.add_argument(
        "--max-frames", type=int, default=None, help="track only the first N frames of each"
    )
    parser.add_argument(
        "--time-steps",
        type=int,
        default=None,
        help="frames covered by the IoU-over-time curve and average IoU (default: the "
        "shortest sequence, so every point averages every sequence; a larger N averages the "
        "sequences still running at each frame; more than the longest sequence is cut to it)",
    )
    parser.add_argument(
        "--out",
        type=path_argument("--out", "the output folder (. for the current one)"),
        default=Path("outputs/evaluation"),
        help="output folder (default: outputs/evaluation)",
    )
    parser.add_argument(
        "--first-box-shift",
        default="0,0",
        metavar="DX,DY",
        help="start every tracker from the first box moved by DX, DY pixels; the later frames "
        "are scored against the ground truth as before. Runs from starts a pixel apart (1,0 "
        "and 0,1) show how much a mean moves when nothing but the start does (default: 0,0)",
    )
    parser.add_argument("--rerun", action="store_true", help="ignore cached results")
    return parser


def _select(sequences, names: str | None):
    if names is None:
        return sequences
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if not wanted:  # "--sequences $NAMES" with NAMES unset: not "no sequences under ROOT"
        raise InputError(f"--sequences {names!r} names no sequence; give comma-separated names")
    known = {s.name for s in sequences}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise InputError(
            f"no sequence named {', '.join(map(repr, unknown))} "
            f"(there are: {', '.join(sorted(known))})"
        )
    return [s for s in sequences if s.name in wanted]


def _shift(text: str) -> tuple[float, float]:
    """``"DX,DY"`` (pixels) → ``(dx, dy)``; anything but two finite numbers is an error."""
    shift = comma_numbers(text, 2)
    if shift is None:
        raise InputError(f"--first-box-shift {text!r} is not DX,DY (two numbers, e.g. 1,0)")
    return float(shift[0]), float(shift[1])


def _positive(value: int | None, flag: str) -> None:
    if value is not None and value < 2:
        raise InputError(f"{flag} must be at least 2 (the first frame is not scored), got {value}")


def _check_out_folder(out: Path, trackers: list[str]) -> None:
    """Raise :class:`InputError` unless ``--out`` is a folder, or can be made one, with room
    for the results and the cache: checked before any work, so that a mistyped ``--out`` costs
    nothing and never stops a run at its end."""
    blocker = file_in_the_way(out)
    if blocker == out:
        raise InputError(f"--out {out} is a file; --out must be a folder (results go into it)")
    if blocker is not None:
        raise InputError(f"--out {out} cannot be made: {blocker} is not a folder")
    for name in (RESULTS_JSON, RESULTS_TABLE, SUCCESS_PLOT, IOU_OVER_TIME_PLOT):
        if (out / name).is_dir():
            raise InputError(f"{out / name} is a folder where hart writes a file; remove it")
    check_cache_folders(out / "cache", trackers)
    _check_writable(out)


def _check_writable(out: Path) -> None:
    """Raise :class:`InputError` unless ``--out``, or the nearest folder above it that exists
    (where it would be made), can be written (:func:`hart.atomic.probe_writable`): otherwise the
    run fails when it caches its first tracked sequence."""
    existing = nearest_folder(out)
    if existing is None:  # a relative --out, and the current folder was removed
        raise InputError(f"--out {out} cannot be written: no folder above it exists")
    try:
        probe_writable(existing)
    except OSError as error:
        raise InputError(f"--out {out} cannot be written: {error.strerror or error}") from None


def _check_out_holds_no_frames(out: Path, sequences) -> None:
    """Raise :class:`InputError` if ``--out`` is the folder of a sequence's frames (``hart
    evaluate . --out .`` in a VOT sequence): the plots are PNG files, which the next run reads
    as two more frames, and then stops on a row count that no longer matches."""
    out = out.resolve()
    for sequence in sequences:
        if sequence.frames and Path(sequence.frames[0]).parent.resolve() == out:
            raise InputError(
                f"--out {out} holds the frames of sequence {sequence.name!r}: the plots written "
                "there would be read as frames; choose another folder"
            )


def _write_results(out: Path, document: dict, table: str, combined: dict) -> None:
    """Write results.json, results.md and the two plots into ``out``, moved into place together
    once all four are drawn: a Ctrl-C or an error while the plots are drawn (half a second)
    would otherwise leave this run's table beside an earlier run's plots, each file complete
    and the set not."""
    out.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        names = (RESULTS_JSON, RESULTS_TABLE, SUCCESS_PLOT, IOU_OVER_TIME_PLOT)
        temporary = {name: stack.enter_context(atomic_output(out / name)) for name in names}
        report.write_json(temporary[RESULTS_JSON], document)
        write_text(temporary[RESULTS_TABLE], table)
        plots.success_plot(combined, temporary[SUCCESS_PLOT])
        plots.iou_over_time_plot(combined, temporary[IOU_OVER_TIME_PLOT])


def main(argv: list[str]) -> int:
    """``hart evaluate``; returns the exit status (1 when some tracker failed on a sequence)."""
    args = parser().parse_args(argv)
    _positive(args.max_frames, "--max-frames")
    _positive(args.time_steps, "--time-steps")
    shift = _shift(args.first_box_shift)
    check_threads(args.threads)
    # What this installation can run, recorded with the results; asked now, because a
    # --nano-models folder without TrackerNano's files is an error, and not after the run.
    available = available_trackers(args.nano_models)
    # Check every tracker name before loading data or models: a typo should cost nothing.
    baselines = parse_baselines(args.baselines, args.nano_models)
    if OUR_TRACKER in baselines:
        raise InputError(f"{OUR_TRACKER!r} is our model, not a baseline: drop it from --baselines")
    specs = []
    for name in baselines:
        try:
            specs.append(baseline_spec(name, args.nano_models))
        except NoModelFiles as error:  # the rest can still be compared
            print(f"{name}: skipped, {error}", file=sys.stderr)
    if args.no_hart and not specs:
        raise InputError("nothing to evaluate: --no-hart and no --baselines")
    _check_out_folder(args.out, [s.name for s in specs] + ([] if args.no_hart else [OUR_TRACKER]))
    if not args.root.is_dir():
        raise InputError(f"{args.root} is not a folder of sequences")

    from hart.datasets import load_sequences  # the readers import the datasets' dependencies

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    quiet_ffmpeg_log()  # a video reader's error is one line, not FFmpeg's and then ours
    # Named as the report names them (a repeated name suffixed #2) before --sequences picks.
    sequences = unique_names(load_sequences(args.root, format=args.format), log)
    sequences = _select(sequences, args.sequences)
    if not sequences:
        raise InputError(f"no sequences found under {args.root} (format {args.format!r})")
    _check_out_holds_no_frames(args.out, sequences)
    sequences = shift_first_boxes(sequences, shift)

    missing = missing_opencv_trackers()
    if missing:
        log(f"not in this OpenCV (install opencv-contrib-python for them): {', '.join(missing)}")
    with tracking_threads(args.threads):
        if not args.no_hart:
            specs.insert(0, our_spec(args.checkpoint, args.device, args.threads))
        evaluation = evaluate(
            sequences,
            specs,
            cache_dir=args.out / "cache",
            frames=args.max_frames,
            steps=args.time_steps,
            rerun=args.rerun,
            log=log,
        )
    combined = report.overall(evaluation)
    table = report.tables(evaluation, combined)
    if shift != (0.0, 0.0):
        dx, dy = shift
        table += f"\nEvery tracker started from the first box moved by {dx:g}, {dy:g} px.\n"
    context = {
        "root": str(args.root),
        "format": args.format,
        "checkpoint": None if args.checkpoint is None else str(args.checkpoint),
        "max_frames": args.max_frames,
        "first_box_shift": list(shift),
        "trackers": evaluation.trackers,
        "available_trackers": available,
    }
    _write_results(
        args.out, report.results_document(evaluation, combined, context), table, combined
    )
    print(table, end="")
    log(
        f"wrote {RESULTS_TABLE}, {RESULTS_JSON}, {SUCCESS_PLOT}, {IOU_OVER_TIME_PLOT} to {args.out}"
    )
    return 1 if evaluation.failures else 0

"""An evaluation as people read it: tables (Markdown, for the terminal and the README) and JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

from hart.atomic import write_text
from hart.evaluation.metrics import OTB_IOU_THRESHOLDS, OverallScores, overall_scores
from hart.evaluation.runner import Evaluation


def overall(evaluation: Evaluation) -> dict[str, OverallScores]:
    """Each tracker's results over the sequences it completed (see :class:`OverallScores`)."""
    combined = {}
    for tracker in evaluation.trackers:
        names = [s for s in evaluation.sequences if s in evaluation.scores[tracker]]
        combined[tracker] = overall_scores(
            [evaluation.scores[tracker][s] for s in names],
            [evaluation.overlaps[tracker][s] for s in names],
            [evaluation.seconds[tracker][s] for s in names],
            evaluation.steps,
        )
    return combined


def _number(value: float, digits: int = 3) -> str:
    return "—" if math.isnan(value) else f"{value:.{digits}f}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def tables(evaluation: Evaluation, combined: dict[str, OverallScores]) -> str:
    """Two Markdown tables: success AUC per sequence and tracker, then every metric per
    tracker over all sequences; notes on skipped sequences and failures follow."""
    trackers = evaluation.trackers
    lines = [_row(["sequence", "frames", *trackers]), _row(["---"] * (len(trackers) + 2))]
    for name in evaluation.sequences:
        frames = next(
            (evaluation.scores[t][name].frames for t in trackers if name in evaluation.scores[t]),
            None,
        )
        cells = [
            _number(evaluation.scores[t][name].success_auc)
            if name in evaluation.scores[t]
            else "failed"
            for t in trackers
        ]
        lines.append(_row([name, "—" if frames is None else str(frames), *cells]))
    lines.append(_row(["**mean**", "", *(_number(combined[t].success_auc) for t in trackers)]))
    lines += [
        "",
        f"Success AUC (OTB, {len(OTB_IOU_THRESHOLDS)} IoU thresholds), frames 2..N where the "
        "target is visible.",
        "",
    ]
    header = [
        "tracker",
        "sequences",
        "success AUC",
        "precision@20px",
        "norm. precision",
        "AO",
        "SR0.5",
        "SR0.75",
        f"avg IoU ({evaluation.steps} frames)",
        "fps",
    ]
    lines += [_row(header), _row(["---"] * len(header))]
    for tracker in trackers:
        scores = combined[tracker]
        lines.append(
            _row(
                [
                    tracker,
                    str(scores.sequences),
                    _number(scores.success_auc),
                    _number(scores.precision_20px),
                    _number(scores.normalised_precision),
                    _number(scores.average_overlap),
                    _number(scores.success_rate_50),
                    _number(scores.success_rate_75),
                    _number(scores.average_iou),
                    _number(scores.fps, 1),
                ]
            )
        )
    notes = [f"- skipped {name!r}: {why}" for name, why in evaluation.skipped.items()]
    for tracker, failed in evaluation.failures.items():
        notes += [f"- {tracker} failed on {name!r}: {error}" for name, error in failed.items()]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def _finite(value):
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def results_document(
    evaluation: Evaluation, combined: dict[str, OverallScores], context: dict
) -> dict:
    """Everything as plain data: ``context`` (what was run, on what), the protocol, and for
    each tracker its overall and per-sequence scores (NaN written as null)."""
    document = {
        **context,
        "protocol": {
            "scored_frames": "every frame after the first where the target is visible",
            "success_thresholds": OTB_IOU_THRESHOLDS.tolist(),
            "success_auc": "mean over sequences of the success curve, then over thresholds",
            "precision_20px": "fraction of frames with centre error <= 20 px, mean over sequences",
            "normalised_precision": "area under the precision curve of the centre error in "
            "true-box sizes, thresholds 0..0.5, mean over sequences",
            "average_overlap": "GOT-10k AO: mean IoU, frames of all sequences pooled",
            "success_rate": "GOT-10k SR: fraction of frames with IoU above 0.5 / 0.75, pooled",
            "average_iou": f"HART: mean IoU over the first {evaluation.steps} frames of each "
            "sequence, pooled",
            "iou_over_time": "HART: mean IoU over sequences at each frame index (0: given box)",
            "fps": "frames per second of init/update time, frame reading excluded; null for "
            "the static box, which does no work to time",
        },
        "sequences": evaluation.sequences,
        "skipped": evaluation.skipped,
        "failures": evaluation.failures,
        "trackers": {
            tracker: {
                "overall": combined[tracker].as_dict(),
                "sequences": {
                    name: scores.as_dict() for name, scores in evaluation.scores[tracker].items()
                },
            }
            for tracker in evaluation.trackers
        },
    }
    return _finite(document)


def write_json(path: Path, document: dict) -> None:
    """Write ``document`` as indented JSON, atomically."""
    write_text(path, json.dumps(document, indent=2, allow_nan=False) + "\n")

"""The two plots of an evaluation, one line per tracker, written as PNG.

Figures are drawn with matplotlib's object API on the Agg canvas: no pyplot, no global backend
state, nothing that needs a display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hart.atomic import atomic_output
from hart.evaluation.metrics import OTB_IOU_THRESHOLDS, OverallScores


def _colours(combined: dict[str, OverallScores]) -> dict[str, str]:
    """One colour per tracker, the same in both plots (matplotlib's cycle, in tracker order)."""
    return {name: f"C{index % 10}" for index, name in enumerate(combined)}


def _save(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)
    with atomic_output(path) as temporary:
        figure.savefig(temporary, dpi=120)


def success_plot(combined: dict[str, OverallScores], path: Path, title: str = "") -> None:
    """OTB's success plot: success rate against IoU threshold, the AUC in each legend entry,
    trackers in order of AUC."""
    figure = Figure(figsize=(6, 4.5), layout="constrained")
    axes = figure.add_subplot()
    colours = _colours(combined)
    ranked = sorted(combined.items(), key=lambda item: -np.nan_to_num(item[1].success_auc, nan=-1))
    for name, scores in ranked:
        label = f"{name} [{scores.success_auc:.3f}]"
        axes.plot(OTB_IOU_THRESHOLDS, scores.success_curve, color=colours[name], label=label)
    axes.set(
        xlabel="IoU threshold",
        ylabel="success rate",
        xlim=(0, 1),
        ylim=(0, 1),
        title=title or "Success plot (frames 2..N)",
    )
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left")
    _save(figure, path)


def iou_over_time_plot(combined: dict[str, OverallScores], path: Path, title: str = "") -> None:
    """The HART paper's IoU-over-time plot: mean IoU across sequences at each frame index,
    the average IoU in each legend entry."""
    figure = Figure(figsize=(6, 4.5), layout="constrained")
    axes = figure.add_subplot()
    colours = _colours(combined)
    for name, scores in combined.items():
        curve = np.asarray(scores.iou_over_time, dtype=np.float64)
        steps = np.arange(len(curve))
        label = f"{name} [{scores.average_iou:.3f}]"
        axes.plot(steps[1:], curve[1:], color=colours[name], label=label)
    axes.set(
        xlabel="frame (0: the given box)",
        ylabel="mean IoU over sequences",
        ylim=(0, 1),
        title=title or "IoU over time",
    )
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    _save(figure, path)

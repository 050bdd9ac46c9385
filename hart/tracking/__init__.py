"""Tracking with a trained HART: the streaming :class:`Tracker` and the loop over a video.

- :class:`hart.tracking.Tracker` (:mod:`hart.tracking.tracker`): ``init(frame, box)``, then
  ``update(frame) -> box``, the contract of OpenCV's trackers and the got10k toolkit.
- :mod:`hart.tracking.loop`: ``hart track``'s loop from a frame source into an annotated video
  and a boxes file; it works with any tracker of that contract and does not import torch.
- :mod:`hart.tracking.selection`: drawing the first box with the mouse (``--select``).
- :mod:`hart.tracking.threads`: how many CPU threads the network tracks on (``--threads``).

``from hart.tracking import Tracker`` imports torch and the model only when ``Tracker`` is
first asked for, so that the loop and the box checks of ``hart track`` run before that cost.
"""

from __future__ import annotations

__all__ = ["Tracker"]


def __getattr__(name: str):
    if name == "Tracker":
        from hart.tracking.tracker import Tracker

        return Tracker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

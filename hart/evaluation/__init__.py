"""Evaluation: run trackers (ours and OpenCV's) over sequences, score them, report.

- :mod:`~hart.evaluation.metrics` — the HART paper's, OTB's and GOT-10k's metrics, pure numpy;
- :mod:`~hart.evaluation.trackers` — trackers by name behind the ``init``/``update`` contract;
- :mod:`~hart.evaluation.playback` — one tracker over one run of frames, timed;
- :mod:`~hart.evaluation.runner` — every tracker over every sequence, with a cache, scored;
- :mod:`~hart.evaluation.report` and :mod:`~hart.evaluation.plots` — tables, JSON, PNG plots;
- :mod:`~hart.evaluation.command` — ``hart evaluate``.

Import from the submodules. This file imports none of them, so that a worker process running
an OpenCV tracker (:mod:`~hart.evaluation.playback`) does not pay for importing torch.
"""

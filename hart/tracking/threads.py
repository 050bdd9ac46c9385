"""How many CPU threads hart's network uses while it tracks (``hart track``, ``hart evaluate``).

One by default. A tracking step is a chain of small operations on one glimpse, which splitting
over threads hardly speeds up: on a quiet 2-core CPU one thread tracked a 640×480 video about as
fast as two (100-141 against 112-156 frames/s over runs on one day). But a thread pool that
waits for a busy sibling stalls: beside another torch job using both cores, two threads fell
from 143 to 7-17 frames/s, while one thread kept 150. More threads pay off only for larger work
(training, batched evaluation), which keeps torch's own default.

Kept free of torch at import, so the commands still check their arguments before loading it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator

from hart.errors import InputError

DEFAULT_TRACKING_THREADS = 1


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: torch's CPU threads for the tracker."""
    parser.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_TRACKING_THREADS,
        metavar="N",
        help=f"CPU threads for hart's network (default: {DEFAULT_TRACKING_THREADS}, about as "
        "fast as two for one video, and it does not stall beside other jobs; OpenCV's "
        "own threads are left as they are)",
    )


def check_threads(threads: int) -> None:
    """``--threads`` between 1 and four per CPU of this machine: more only wait for a core, and
    a million make OpenMP fail with a line of its own instead of ours."""
    limit = 4 * (os.cpu_count() or 1)
    if not 1 <= threads <= limit:
        raise InputError(
            f"--threads must be between 1 and {limit} (four per CPU here), got {threads}"
        )


@contextlib.contextmanager
def tracking_threads(threads: int) -> Iterator[None]:
    """Torch's intra-op threads (which the CPU glimpse kernel follows too) set to ``threads``
    inside, and back to what they were after: the commands also run inside other programs
    (tests, notebooks) whose own work should keep its threads."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)

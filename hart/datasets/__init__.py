"""Sequence datasets: benchmark readers, synthetic sequences, clip sampling.

- :func:`load_sequences` reads a data set in any known layout (OTB, VOT, UAV123, GOT-10k,
  LaSOT, KITTI tracking, KTH with boxes, a video with a box file) into :class:`Sequence` s.
- :func:`generate_sequence` / :class:`SyntheticClips` make synthetic training sequences from
  a seed; :func:`write_synthetic_sequence` writes one to disk (a layout, or a video).
- :class:`SequenceClips` cuts random training clips from sequences on disk.
"""

from hart.datasets.clips import PAPER_FRAME_SIZE, SequenceClips, SyntheticClips
from hart.datasets.layouts import LAYOUTS, detect_layout, load_sequences
from hart.datasets.sequence import Sequence
from hart.datasets.splits import split_in_time
from hart.datasets.synthetic import (
    PhotoLibrary,
    SyntheticConfig,
    SyntheticSequence,
    generate_sequence,
    render_frames,
    write_synthetic_dataset,
    write_synthetic_sequence,
)
from hart.datasets.writers import write_sequence

__all__ = [
    "LAYOUTS",
    "PAPER_FRAME_SIZE",
    "PhotoLibrary",
    "Sequence",
    "SequenceClips",
    "SyntheticClips",
    "SyntheticConfig",
    "SyntheticSequence",
    "detect_layout",
    "generate_sequence",
    "load_sequences",
    "render_frames",
    "split_in_time",
    "write_sequence",
    "write_synthetic_dataset",
    "write_synthetic_sequence",
]

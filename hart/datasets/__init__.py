"""Sequence datasets: benchmark readers, synthetic sequences, clip sampling."""

from hart.datasets.sequence import Sequence

__all__ = ["Sequence"]

"""Training with Lightning: the only part of hart that imports it.

- :class:`HARTModule` (:mod:`~hart.training.module`): the network, its losses and optimiser;
- :class:`HARTDataModule` (:mod:`~hart.training.datamodule`): synthetic or on-disk clips;
- :mod:`~hart.training.callbacks`: the clip-length curriculum, ``last.ckpt``, TensorBoard images;
- :mod:`~hart.training.lightning_cli`: ``hart train``.
"""

from hart.training.datamodule import HARTDataModule
from hart.training.module import HARTModule

__all__ = ["HARTDataModule", "HARTModule"]

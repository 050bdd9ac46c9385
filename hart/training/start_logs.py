"""Lightning's start-up lines, held back until a run starts fitting.

Lightning logs as it seeds, builds the trainer and starts fitting ("Seed set to 0", "GPU
available: …", a tip about its cloud logger), all before the data module reads a data set. A run
that stops there on bad input (an empty data-set folder, a setting the trainer refuses) would
print those lines ahead of its one error line; held back, they are dropped with the failed run,
and a run that gets as far as fitting (its data read, its model set up, a checkpoint restored)
prints them then, in order, as Lightning would have.
"""

from __future__ import annotations

import logging

import lightning.pytorch as pl

# Lightning's two top loggers: each has its own handler (or passes records on to the root's).
LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")


class HeldBackLogs(logging.Handler):
    """While entered, Lightning's log records are kept instead of printed.

    :meth:`let_through` prints the kept ones through Lightning's own handlers and stops holding;
    leaving the ``with`` block lets them through too, unless it is left by an exception: then they
    are dropped, and the error is all the user sees.
    """

    def __init__(self) -> None:
        super().__init__()
        self._records: list[logging.LogRecord] = []
        self._replaced: dict[str, tuple[list[logging.Handler], bool]] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self._records.append(record)

    def __enter__(self) -> HeldBackLogs:
        self._replaced = {}
        for name in LIGHTNING_LOGGERS:
            logger = logging.getLogger(name)
            self._replaced[name] = (logger.handlers[:], logger.propagate)
            logger.handlers = [self]
            logger.propagate = False
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if error is None:
            self.let_through()
        else:
            self._restore()
            self._records.clear()

    def let_through(self) -> None:
        """Print the records kept so far, and let later ones through; once is enough.

        (Not ``release``: a handler's ``release`` unlocks it after every record it handles.)
        """
        self._restore()
        records, self._records = self._records, []
        for record in records:
            logging.getLogger(record.name).handle(record)

    def _restore(self) -> None:
        for name, (handlers, propagate) in (self._replaced or {}).items():
            logger = logging.getLogger(name)
            logger.handlers = handlers
            logger.propagate = propagate
        self._replaced = None


class ReleaseHeldLogs(pl.Callback):
    """Releases :class:`HeldBackLogs` as fitting (or validating, testing) starts: the data is
    read, the model set up, a checkpoint restored. An error from then on is a bug, whose
    traceback Lightning's lines do not hide; before, they would hide a user's one error line.
    """

    def __init__(self, logs: HeldBackLogs) -> None:
        self.logs: HeldBackLogs | None = logs

    def _let_through(self) -> None:
        if self.logs is not None:
            self.logs.let_through()

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._let_through()

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._let_through()

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._let_through()

    def __getstate__(self) -> dict:
        # A process started by ddp_spawn gets a pickled trainer: its own loggers hold nothing
        # back (and a handler's lock cannot be pickled).
        return {"logs": None}

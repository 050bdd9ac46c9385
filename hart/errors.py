"""Errors meant for the user, as distinct from bugs.

The command line prints the message of a :class:`HartError` as one line and exits non-zero,
without a traceback; anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


class HartError(Exception):
    """A problem the user can act on; its message names it and where it was found."""


class InputError(HartError, ValueError):
    """Bad input from a user: a missing file, an unreadable video, a box outside the frame.

    The message names the problem and the file, line or value it was found in.
    """


class EmptyArgument(HartError):
    """A command-line path argument given as ``""`` (see :func:`path_argument`).

    Not a ValueError, as :class:`InputError` is: argparse catches a ValueError raised by an
    argument's ``type`` and prints its usage and its own "invalid value" line in its place,
    where a user's error is one line that names the argument.
    """


class TrainingDiverged(HartError, RuntimeError):
    """The training loss became NaN or infinite; the message names the step."""


def first_line(error: BaseException, limit: int | None = None) -> str:
    """The first line of ``error``'s message, cut to ``limit`` characters if given; the error's
    type name when the message is empty.

    For an :class:`InputError` that reports an error raised by a library (torch, jsonargparse):
    their messages can run to many lines, and a user's error is one line.
    """
    lines = str(error).strip().splitlines()
    if not lines:
        return type(error).__name__
    return lines[0] if limit is None else lines[0][:limit]


def user_message(error: BaseException) -> str:
    """``error``'s message as a user should read it: for an error a DataLoader worker process
    raised, the message it was raised with.

    PyTorch raises a worker's error again in the main process, as the same type, with the
    worker's whole traceback for a message ("Caught InputError in DataLoader worker process
    0." …); its last line is ``hart.errors.InputError: <the message>``.
    """
    text = str(error)
    if not (text.startswith("Caught ") and "in DataLoader worker process" in text):
        return text
    last = text.rstrip().splitlines()[-1]
    qualified, colon, message = last.partition(": ")  # the class's dotted name holds no ": "
    return message if colon and qualified.endswith(type(error).__name__) else text


def path_argument(
    name: str, expected: str, convert: Callable[[str], Path] = Path
) -> Callable[[str], Path]:
    """An argparse ``type`` for the path argument ``name`` (``--out``, ``ROOT``) of a ``hart``
    command: an empty value is refused with one line, ``NAME is empty; give EXPECTED``
    (:class:`EmptyArgument`); any other is ``convert(text)``.

    ``Path("")`` is the current folder: a script's unset variable (``--out "$OUT"``) would
    otherwise have hart read, write or replace the current folder in silence, or fail with a
    message about ``.`` that does not say which argument was empty.
    """

    def parse(text: str) -> Path:
        if not text:
            raise EmptyArgument(f"{name} is empty; give {expected}")
        return convert(text)

    return parse

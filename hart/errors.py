"""Errors meant for the user, as distinct from bugs.

The command line prints the message of a :class:`HartError` as one line and exits non-zero,
without a traceback; anything else that escapes is a bug and keeps its traceback.
"""


class HartError(Exception):
    """A problem the user can act on; its message names it and where it was found."""


class InputError(HartError, ValueError):
    """Bad input from a user: a missing file, an unreadable video, a box outside the frame.

    The message names the problem and the file, line or value it was found in.
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

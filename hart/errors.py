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

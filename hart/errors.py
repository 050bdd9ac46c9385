"""The error users can cause, as distinct from bugs."""


class InputError(ValueError):
    """Bad input from a user: a missing file, an unreadable video, a box outside the frame.

    The command line prints its message as one line and exits non-zero, without a traceback;
    anything else that escapes is a bug and keeps its traceback. The message names the problem
    and the file, line or value it was found in.
    """

"""The ``hart`` command: ``hart train | track | evaluate | bench``.

Each sub-command parses its arguments here and calls one function of the package; ``train`` hands
its arguments to LightningCLI. Errors a user can cause (:class:`hart.errors.InputError`, a missing
file) print one line and exit with status 2; no traceback, no half-written output.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from hart.errors import InputError

COMMANDS: dict[str, Callable[[list[str]], int | None]] = {}


def command(name: str):
    """Register ``function(argv) -> exit status`` as ``hart NAME``."""

    def register(function):
        COMMANDS[name] = function
        return function

    return register


@command("bench")
def bench_command(argv: list[str]) -> int | None:
    from hart.bench import main as bench_main

    return bench_main(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="hart",
        description="Hierarchical Attentive Recurrent Tracking: train, track, evaluate.",
    )
    parser.add_argument("command", choices=sorted(COMMANDS), help="what to do")
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        parser.error(f"unknown command {argv[0]!r} (choose from {', '.join(sorted(COMMANDS))})")
    try:
        return COMMANDS[argv[0]](argv[1:]) or 0
    except (InputError, FileNotFoundError, NotADirectoryError, IsADirectoryError) as error:
        print(f"hart {argv[0]}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hart {argv[0]}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

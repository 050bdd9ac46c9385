"""``python scripts/evaluate.py ROOT …`` is ``hart evaluate ROOT …`` (see ``--help``)."""

import sys

from hart.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))

"""Time the glimpse readers side by side: ``python scripts/bench_glimpse.py [--quick] …``.

The same as ``hart bench``; see :mod:`hart.bench` for what is measured.
"""

import sys

from hart.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))

"""``python scripts/track.py VIDEO --box X,Y,W,H …``: the same as ``hart track``."""

import sys

from hart.cli import main

if __name__ == "__main__":
    sys.exit(main(["track", *sys.argv[1:]]))

"""``python -m embedmux``: the same command line as the ``embedmux`` script."""

from __future__ import annotations

import sys

from embedmux.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""`python -m emodraw`: the `emodraw` command."""

import sys

from emodraw.cli import main

if __name__ == "__main__":
    sys.exit(main())

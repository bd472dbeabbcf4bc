"""`python -m emodraw.cli`: the entry point `accelerate launch -m emodraw.cli` and the tests use."""

import sys

from emodraw.cli import main

if __name__ == "__main__":
    sys.exit(main())

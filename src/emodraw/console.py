"""Messages to the user on stderr."""

from __future__ import annotations


def log_stderr(message: str) -> None:
    """One line to stderr that does not break a tqdm progress bar drawn there."""
    import sys

    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)

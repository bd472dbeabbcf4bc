"""A full disk, an exhausted quota or a read-only file system while a run writes its files: one line that
names what was being written (an EmodrawError, exit status 2) instead of a traceback.

Checkpoints and the state are written into a temporary folder and renamed into place (emodraw.files), so a
failed save leaves the previous ones as they were and nothing half-written under a real name; the message
says so."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from emodraw.errors import EmodrawError
from emodraw.files import disk_problem
from emodraw.training.state import has_state


def intact_note(run_dir: Path) -> str:
    if has_state(run_dir):
        return " (the previous checkpoint and state are intact)"
    return " (nothing half-written was left)"


@contextlib.contextmanager
def writing(path: Path, run_dir: Path) -> Iterator[None]:
    """Turn a storage failure inside the block into an EmodrawError naming `path`; others pass unchanged."""
    try:
        yield
    except EmodrawError:
        raise
    except Exception as exc:
        reason = disk_problem(exc)
        if reason is None:
            raise
        raise EmodrawError(f"{path}: {reason}{intact_note(run_dir)}") from None

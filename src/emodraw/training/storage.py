"""A full disk, an exhausted quota or a read-only file system while a run writes its files: one line that
names what was being written (an EmodrawError, exit status 2) instead of a traceback.

Checkpoints and the state are written into a temporary folder and renamed into place (emodraw.files), so a
failed save leaves the previous ones as they were and nothing half-written under a real name; the message
says so."""

from __future__ import annotations

import contextlib
import errno
import re
from collections.abc import Iterator
from pathlib import Path

from emodraw.errors import EmodrawError
from emodraw.training.state import has_state

REASONS = {
    errno.ENOSPC: "no space left on device",
    getattr(errno, "EDQUOT", errno.ENOSPC): "disk quota exceeded",
    errno.EROFS: "read-only file system",
}
# safetensors and tokenizers (Rust) raise their own exception types, with the OS error's number in the text.
_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def storage_problem(exc: BaseException) -> str | None:
    """'no space left on device', ... when `exc` is one of the storage failures above, else None."""
    code = exc.errno if isinstance(exc, OSError) else None
    if code is None and not isinstance(exc, OSError):
        match = _RUST_OS_ERROR.search(str(exc))
        code = int(match.group(1)) if match else None
    return REASONS.get(code)


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
        reason = storage_problem(exc)
        if reason is None:
            raise
        raise EmodrawError(f"{path}: {reason}{intact_note(run_dir)}") from None

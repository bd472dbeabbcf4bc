"""Files written so that a crash never leaves a half-written one looking complete, and their hashes.

A file or folder is written into a hidden temporary one beside its destination and renamed into place, so a
crash at any moment leaves either the old complete one or the new complete one. A write that fails for a
reason the user can fix (a full disk, a quota, a read-only or forbidden folder) becomes one EmodrawError
naming the path. The bottom layer: imports only emodraw.errors and the standard library."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from emodraw.errors import EmodrawError


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_TMP, _OLD = ".tmp-", ".old-"


def is_leftover(name: str) -> bool:
    """A name `atomic_folder` or `atomic_file` uses while writing (a crash can leave one behind)."""
    return name.startswith((_TMP, _OLD))


def _fsync_dir(folder: Path) -> None:
    # Makes a rename durable; directories cannot be fsynced on every platform, and the data is safe anyway.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


@contextlib.contextmanager
def atomic_file(
    dest: str | Path, mode: str = "w", *, encoding: str | None = "utf-8", newline: str | None = ""
) -> Iterator[IO]:
    """Yield a file open for writing ("w" text, "wb" binary) on a hidden temporary file beside `dest`; when the
    block ends it is flushed, fsynced and renamed onto `dest` (replacing an old one in one step). On any error,
    KeyboardInterrupt included, the temporary file is removed and an old `dest` is left untouched. The folder of
    `dest` must exist. `handle.name` is the temporary path, for writers that want a path.

    Text mode writes "\n" as is (newline=""), as csv needs; pass newline=None for the platform's line ends."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_file writes a new file: mode 'w' or 'wb', not {mode!r}")
    dest = Path(dest)
    # Beside `dest`, so the rename stays on one file system; a random part so two runs never share one.
    tmp = dest.parent / f"{_TMP}{dest.name}-{os.getpid()}-{secrets.token_hex(4)}"
    # "x": a new file, never one another run has; created 0o666 less the umask, as a plain open() would.
    if mode == "wb":
        handle = open(tmp, "xb")
    else:
        handle = open(tmp, "x", encoding=encoding, newline=newline)
    try:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())  # the data is on disk before the name points at it
        handle.close()
        os.replace(tmp, dest)
    except BaseException:
        # Closing flushes what is buffered, which fails again on a full disk: that must neither hide the
        # original error nor keep the temporary file.
        with contextlib.suppress(OSError):
            handle.close()
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(dest.parent)


_DISK_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
}
if hasattr(errno, "EDQUOT"):  # not on every platform
    _DISK_REASONS[errno.EDQUOT] = "disk quota exceeded"
# safetensors and tokenizers (Rust) raise their own exception types, with the OS error's number in the text.
_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def disk_problem(exc: BaseException) -> str | None:
    """'no space left on device', ... when `exc` is a write failure the user can fix, else None."""
    if isinstance(exc, OSError):
        return _DISK_REASONS.get(exc.errno)
    match = None if isinstance(exc, EmodrawError) else _RUST_OS_ERROR.search(str(exc))
    return _DISK_REASONS.get(int(match.group(1))) if match else None


@contextlib.contextmanager
def disk_errors(path: str | Path, consequence: str | None = None) -> Iterator[None]:
    """Turn a write failure the user can fix (ENOSPC, EDQUOT, EROFS, EACCES; an OSError, or a Rust library's
    error carrying "(os error N)") raised in the block into EmodrawError("PATH: REASON[; CONSEQUENCE]"), e.g.
    "out.jsonl: no space left on device; nothing written"; any other error passes unchanged. Put it outside
    `atomic_file`/`atomic_folder`, so the temporary one is gone first."""
    try:
        yield
    except Exception as exc:
        reason = disk_problem(exc)
        if reason is None:
            raise
        raise EmodrawError(f"{path}: {reason}{f'; {consequence}' if consequence else ''}") from exc


@contextlib.contextmanager
def atomic_folder(dest: Path, finalize: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `dest` (after `finalize(tmp)`, e.g. writing its
    manifest), on error it vanishes."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f"{_TMP}{dest.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if finalize is not None:
            finalize(tmp)
        _fsync_tree(tmp)
        old = dest.parent / f"{_OLD}{dest.name}"
        if dest.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(dest, old)  # a crash from here until the next rename is undone by clean_leftovers
        os.replace(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def clean_leftovers(folder: Path) -> None:
    """Remove half-written files and folders of an interrupted run; restore a replaced folder the crash left
    aside."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.name.startswith(_TMP):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        elif path.name.startswith(_OLD):
            original = folder / path.name[len(_OLD) :]
            if original.exists():
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.replace(path, original)

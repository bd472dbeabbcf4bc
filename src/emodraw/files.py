"""Files written so that a crash never leaves a half-written one looking complete, and their hashes.

A folder is written into a hidden temporary folder beside its destination and renamed into place, so a
crash at any moment leaves either the old complete folder or the new complete one."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_TMP, _OLD = ".tmp-", ".old-"


def is_leftover(name: str) -> bool:
    """A folder name `atomic_folder` uses while writing (a crash can leave one behind)."""
    return name.startswith((_TMP, _OLD))


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    with contextlib.suppress(OSError):  # directories cannot be fsynced on every platform
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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
    """Remove half-written folders of an interrupted run; restore a replaced one the crash left aside."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.name.startswith(_TMP):
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.startswith(_OLD):
            original = folder / path.name[len(_OLD) :]
            if original.exists():
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.replace(path, original)

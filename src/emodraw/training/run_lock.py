"""One emodraw process per run folder: RUN/.lock, held by the main process for the whole of a train or a
resume and removed at the end, also on error.

Two processes writing the same run (a `--resume` while the run still trains) would interleave their epochs
in metrics.csv and overwrite each other's checkpoints. The lock file is created with O_CREAT|O_EXCL, so
only one process can create it, and holds {"pid", "host"}. A lock whose process is gone -- SIGKILLed, the
machine rebooted -- is stale: on the same host a dead pid is taken over with a note. A lock from another
host is respected, since its pid cannot be checked from here.

Where the platform has flock (Linux, macOS) the holder also keeps an flock on the file: the kernel drops it
when the process dies however it dies, and taking over happens under it, so two processes that find the
same stale lock cannot both take it over.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path

from emodraw.errors import EmodrawError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the pid check alone
    fcntl = None

LOCK_FILE = ".lock"


def _flock(fd: int) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _holder(path: Path) -> dict | None:
    """{"pid": int, "host": str} from a lock file; None when it is empty or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {"pid": int(data["pid"]), "host": str(data["host"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs on this machine (a zombie, killed but not yet reaped, does not)."""
    if pid <= 0:  # os.kill(0 or -n, ...) would address process groups
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OverflowError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): os.kill said it exists
    return state not in ("Z", "X")


def _busy(run_dir: Path, holder: dict | None) -> EmodrawError:
    if holder is None:
        who = "another emodraw process"
    elif holder["host"] != socket.gethostname():
        who = f"another emodraw process (pid {holder['pid']} on {holder['host']})"
    else:
        who = f"another emodraw process (pid {holder['pid']})"
    return EmodrawError(f"{run_dir}: {who} is training in this run folder; if it is not, remove {run_dir / LOCK_FILE}")


class RunLock:
    """The lock of one run folder, held by this process until `release()`."""

    def __init__(self, path: Path, fd: int):
        self.path, self.fd = path, fd

    @classmethod
    def acquire(cls, run_dir: Path, log: Callable[[str], None]) -> RunLock:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / LOCK_FILE
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(10):  # another process may remove or replace the file between two steps
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                fd = _take_over(path, run_dir, me, log)
                if fd is None:
                    continue
            else:
                if not _flock(fd):  # taken over in the instant between creating it and locking it
                    os.close(fd)
                    raise _busy(run_dir, _holder(path))
            lock = cls(path, fd)
            try:
                os.ftruncate(fd, 0)
                os.write(fd, json.dumps(me).encode())
            except BaseException:
                lock.release()
                raise
            return lock
        raise _busy(run_dir, _holder(path))

    def release(self) -> None:
        """Remove the lock file (if it is still this lock's) and let go of it. Safe to call twice."""
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            if os.path.samestat(os.fstat(self.fd), os.stat(self.path)):
                self.path.unlink()  # before the fd closes, so nobody can lock the file being removed
        os.close(self.fd)
        self.fd = None

    def __del__(self):  # a Trainer dropped without close() does not keep its folder locked
        try:
            self.release()
        except Exception:  # at interpreter exit; the kernel drops the flock anyway
            pass


def _take_over(path: Path, run_dir: Path, me: dict, log: Callable[[str], None]) -> int | None:
    """An open fd holding the existing lock file, once its holder is known to be gone; None when the file
    went away meanwhile (try creating it again). Raises when its holder may still be running."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    if not _flock(fd):
        os.close(fd)
        raise _busy(run_dir, _holder(path))
    try:
        same = os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        same = False
    holder = _holder(path) if same else None
    if same and holder is not None and holder != me:
        mine = holder["host"] == me["host"]
        if not mine or pid_alive(holder["pid"]):
            os.close(fd)
            raise _busy(run_dir, holder)
    if not same:  # released and removed while we opened it
        os.close(fd)
        return None
    if holder is None:
        log(f"{run_dir}: taking over an unreadable lock file {path}")
    elif holder != me:
        log(f"{run_dir}: taking over the lock of process {holder['pid']}, which is no longer running")
    return fd

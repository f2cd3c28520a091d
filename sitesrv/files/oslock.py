"""A lock file for a read-modify-write of a small state file: one writer at a time.

The operating system's lock on the lock file excludes other processes and is given back when
its holder dies, so there is never a stale lock to judge; a thread lock per file excludes other
threads of this process too (on file systems where the OS lock belongs to the process rather
than to the open file).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from sitesrv.errors import UserError

_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def file_locked(path: Path, purpose: str, hint: str) -> Iterator[None]:
    """Hold the lock file `path` (created if missing) while the block runs.

    `purpose` (`to change the paused addresses`) and `hint` (what may hold it) make the
    UserError when the operating system refuses the lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCKS_GUARD:
        in_process = _THREAD_LOCKS.setdefault(path.resolve(), threading.Lock())
    with in_process, open(path, "a+b") as f:
        try:
            _lock(f.fileno())
        except OSError as e:
            raise UserError(f"Could not lock {path} {purpose}: {e}. {hint}") from None
        try:
            yield
        finally:
            _unlock(f.fileno())


if os.name == "nt":
    import msvcrt

    def _lock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # waits, retrying each second for 10 seconds

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits until the holder is done (or gone)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

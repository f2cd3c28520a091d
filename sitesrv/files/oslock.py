"""A lock file for a read-modify-write of a small state file: one writer at a time.

The operating system's lock on the lock file excludes other processes and is given back when
its holder dies, so there is never a stale lock to judge; a thread lock per file excludes other
threads of this process too (on file systems where the OS lock belongs to the process rather
than to the open file).

The lock file sits in a folder anyone who can write to the share can write into, so it is
opened as every such file is (files/regular.py): never through a link (which would create or
open a file outside the lab) nor as a FIFO (which would block the command), only as a regular
file; anything else under its name is a user error saying to remove it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from sitesrv.errors import UserError
from sitesrv.files.regular import NotRegularFile, open_fd

_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def file_locked(path: Path, purpose: str, hint: str) -> Iterator[None]:
    """Hold the lock file `path` (created if missing) while the block runs.

    `purpose` (`to change the paused addresses`) and `hint` (what may hold it) make the
    UserError when the operating system refuses the lock. Something other than a regular file
    under the name (a link, a FIFO, a folder) is a UserError too, and nothing is opened."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCKS_GUARD:  # the folder resolved, not the name: a link there is refused
        in_process = _THREAD_LOCKS.setdefault(path.parent.resolve() / path.name,
                                              threading.Lock())
    with in_process:
        fd = _open(path, purpose)
        try:
            try:
                _lock(fd)
            except OSError as e:
                raise UserError(f"Could not lock {path} {purpose}: {e}. {hint}") from None
            try:
                yield
            finally:
                _unlock(fd)
        finally:
            os.close(fd)


def _open(path: Path, purpose: str) -> int:
    """The lock file's descriptor, created if missing; only a regular file is opened."""
    try:
        return open_fd(path, os.O_RDWR | os.O_CREAT)
    except NotRegularFile as e:
        raise UserError(f"Could not lock {path} {purpose}: it is {e.problem}, not a regular "
                        "file, and sitesrv never opens a lock file through a link or as a "
                        "FIFO (that could write outside the lab, or wait for ever). Remove "
                        f"{path}, then try again.") from None


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

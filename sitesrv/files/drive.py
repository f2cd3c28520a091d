"""What a site server's disks refuse: a write to a full drive, a move of a file another process
holds open.

Two faults of the operating system, not of SMS (`sitesrv fault disk-full`, `sitesrv fault
lock`: docs/faults.md). They are modelled here, below every component, so that each one meets
them the same way a Windows server's would, as an OSError with the Win32 error SMS logs (112,
32: logs/win32.py): the writers of this layer (`write_temp`, `published_readonly`), the
runtime's (`ComponentContext.write_range`, claims and renames) and the extraction onto a DP
ask `check_space` and `check_unlocked`. What is full or locked is the lab's to say: a run
registers a `DrivePolicy` for its lab's folder (lab/drivefaults.py reads the faults a person
set in the lab), and a path outside every registered folder is never refused.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import Protocol

NOT_ENOUGH_SPACE = "There is not enough space on the disk."  # Win32 error 112
SHARING_VIOLATION = ("The process cannot access the file because it is being used by another "
                     "process.")  # Win32 error 32


class _DriveFault(OSError):
    """A drive fault reads as SMS's logs quote the error: `Win32 Error = 112`."""

    winerror: int

    def __str__(self) -> str:
        return f"Win32 Error = {self.winerror}"


class DiskFull(_DriveFault):
    """A write that does not fit on its drive (ERROR_DISK_FULL, 112)."""

    winerror = 112

    def __init__(self, path: Path | str) -> None:
        super().__init__(errno.ENOSPC, NOT_ENOUGH_SPACE, os.fspath(path))


class SharingViolation(_DriveFault):
    """A file another process holds open, so it cannot be moved, renamed or deleted
    (ERROR_SHARING_VIOLATION, 32)."""

    winerror = 32

    def __init__(self, path: Path | str) -> None:
        super().__init__(errno.EBUSY, SHARING_VIOLATION, os.fspath(path))


def is_transient(error: BaseException) -> bool:
    """Whether `error` is a drive fault that goes away by itself: waited for, never a reason
    to give up on the work."""
    return isinstance(error, _DriveFault)


class DrivePolicy(Protocol):
    """What a lab says about its drives."""

    def fits(self, path: str, adding: int) -> bool:
        """Whether `adding` more bytes at `path` (which may already hold some) fit."""
        ...

    def locked(self, path: str) -> bool:
        """Whether another process holds `path` open."""
        ...


_POLICIES: dict[str, tuple[DrivePolicy, int]] = {}  # folder + separator -> (policy, users)
# What the checks read, made anew from _POLICIES at each change, never changed in place: asked
# before every claim and every write, it is read without the lock and without a copy.
_ACTIVE: tuple[tuple[str, DrivePolicy], ...] = ()
_GUARD = threading.Lock()


def register(folder: Path, policy: DrivePolicy) -> None:
    """Apply `policy` to the paths below `folder` until `unregister` (counted: two runs of
    one lab in a process register it twice)."""
    key = os.path.join(os.path.abspath(folder), "")
    with _GUARD:
        _, users = _POLICIES.get(key, (policy, 0))
        _POLICIES[key] = (policy, users + 1)
        _activate()


def unregister(folder: Path) -> None:
    key = os.path.join(os.path.abspath(folder), "")
    with _GUARD:
        policy, users = _POLICIES.get(key, (None, 0))
        if users > 1 and policy is not None:
            _POLICIES[key] = (policy, users - 1)
        else:
            _POLICIES.pop(key, None)
        _activate()


def _activate() -> None:
    global _ACTIVE
    _ACTIVE = tuple((key, policy) for key, (policy, _) in _POLICIES.items())


def check_space(path: Path | str, adding: int = 0) -> None:
    """Raise DiskFull if `adding` more bytes at `path` do not fit on its drive (with 0: if
    what `path` now holds did not fit)."""
    text = os.fspath(path)
    for key, policy in _ACTIVE:
        if text.startswith(key):
            if not policy.fits(text, adding):
                raise DiskFull(path)
            return


def check_unlocked(path: Path | str) -> None:
    """Raise SharingViolation if another process holds `path` open."""
    text = os.fspath(path)
    for key, policy in _ACTIVE:
        if text.startswith(key):
            if policy.locked(text):
                raise SharingViolation(path)
            return

"""The drive policies the checks read (files/drive.py keeps them as a tuple made anew at each
register and unregister): a check sees each change at once, and a counted registration stays
until its last unregister."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitesrv.files.drive import (
    DiskFull,
    SharingViolation,
    check_space,
    check_unlocked,
    register,
    unregister,
)


class _FullAndLocked:
    """A drive on which nothing fits and every file is held open."""

    def fits(self, path: str, adding: int) -> bool:
        return False

    def locked(self, path: str) -> bool:
        return True


def _assert_refused(path: Path) -> None:
    with pytest.raises(SharingViolation):
        check_unlocked(path)
    with pytest.raises(DiskFull):
        check_space(path, 1)


def test_a_policy_applies_from_its_register_to_its_last_unregister(tmp_path: Path) -> None:
    lab, beside = tmp_path / "lab", tmp_path / "lab2"
    check_space(lab / "X", 1)
    register(lab, _FullAndLocked())
    register(lab, _FullAndLocked())
    try:
        _assert_refused(lab / "SMSPKG" / "X.PCK")
        check_space(beside / "X", 1)  # a folder whose name starts with the lab's: not below
        check_unlocked(beside / "X")
        unregister(lab)
        _assert_refused(lab / "X")  # registered twice: once is still in force
    finally:
        unregister(lab)
    check_space(lab / "X", 1)
    check_unlocked(lab / "X")

"""The Win32 errors and words a site server's log uses for what went wrong (logs/win32.py)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from sitesrv.errors import FormatError, UserError
from sitesrv.files.regular import NotRegularFile
from sitesrv.logs.win32 import error_text, win32_error


def _error(call: object) -> OSError:
    try:
        call()  # type: ignore[operator]
    except OSError as e:
        return e
    raise AssertionError("no error")


def test_a_missing_file_is_2_and_a_missing_path_is_3(tmp_path: Path) -> None:
    assert win32_error(_error(lambda: (tmp_path / "nofile").read_bytes())) == 2
    assert win32_error(_error(lambda: (tmp_path / "nodir" / "nofile").read_bytes())) == 3
    listing = _error(lambda: list((tmp_path / "gone").iterdir()))
    assert win32_error(listing, folder=True) == 3, "a folder to list that is not there"


@pytest.mark.parametrize(("code", "win32"), [
    (errno.EACCES, 5), (errno.EPERM, 5), (errno.EBUSY, 32), (errno.ENOSPC, 112),
    (errno.ENOTDIR, 3), (errno.EROFS, 19), (errno.ELOOP, 31)])
def test_each_errno_has_its_win32_error(code: int, win32: int) -> None:
    assert win32_error(OSError(code, "any")) == win32


def test_error_text_never_has_pythons_words(tmp_path: Path) -> None:
    assert error_text(PermissionError(errno.EACCES, "Permission denied", "/x")) == \
        "Win32 Error = 5"
    assert error_text(RuntimeError("boom")) == "Win32 Error = 1359"
    assert error_text(ValueError("invalid literal for int()")) == "Win32 Error = 13"
    assert error_text(FormatError(tmp_path / "a.PKG", "line 3 is not key=value")) == \
        "line 3 is not key=value", "the line names the file; the problem is sitesrv's"
    assert error_text(UserError("E:\\SMS\\x names no share")) == "E:\\SMS\\x names no share"
    fifo = NotRegularFile(tmp_path / "x.PCK", "a FIFO")
    assert error_text(fifo) == "Win32 Error = 87 (it is a FIFO, not a regular file)"

"""The Win32 error SMS logs for an I/O error, on any platform sitesrv runs on.

SMS's lines carry Win32 error numbers (`Win32 Error = 5`, `Win32 last error = 3`), never a POSIX
error text or a Python exception; what the Python exception said goes to sitesrv's events.
"""

from __future__ import annotations

import errno
import os

from sitesrv.errors import SitesrvError

FILE_NOT_FOUND = 2
PATH_NOT_FOUND = 3
ACCESS_DENIED = 5
INVALID_DATA = 13
SHARING_VIOLATION = 32
DISK_FULL = 112
GENERAL_FAILURE = 31
INTERNAL_ERROR = 1359  # what a site server's log says for a failure that is no I/O error
# errno -> the Win32 error SMS would log (Windows' own OSError.winerror wins where it exists).
WIN32_ERRORS = {errno.ENOENT: PATH_NOT_FOUND, errno.ENOTDIR: PATH_NOT_FOUND,
                errno.EACCES: ACCESS_DENIED, errno.EPERM: ACCESS_DENIED,
                errno.EBUSY: SHARING_VIOLATION, errno.EEXIST: 80, errno.EROFS: 19,
                errno.ENOSPC: DISK_FULL, errno.EISDIR: ACCESS_DENIED,
                errno.ENOTEMPTY: 145, errno.EINVAL: 87, errno.EIO: 1117}


def win32_error(error: OSError, *, folder: bool = False) -> int:
    """The Win32 error of an I/O error. A name that is not there is 2 (the file) when the
    folder it would be in is there, else 3 (the path), as Windows tells them apart; `folder`
    says the name was a folder to list, which Windows reports as 3."""
    winerror = getattr(error, "winerror", None)
    if winerror:
        return int(winerror)
    if error.errno == errno.ENOENT and not folder and error.filename:
        parent = os.path.dirname(os.path.abspath(os.fsdecode(error.filename)))
        if os.path.isdir(parent):
            return FILE_NOT_FOUND
    return WIN32_ERRORS.get(error.errno or 0, GENERAL_FAILURE)


def sms_error(error: BaseException) -> str:
    """An error as a site server's log states it: `Win32 Error = <n>`. Anything but an I/O
    error is ERROR_INTERNAL_ERROR; the Python account of it belongs in sitesrv's events."""
    code = win32_error(error) if isinstance(error, OSError) else INTERNAL_ERROR
    return f"Win32 Error = {code}"


def error_text(error: BaseException) -> str:
    """Why something failed, for a line of a site server's log: a Win32 error for an I/O error
    (13, the data is invalid, for a value that does not read), the problem of a file that
    does not read, sitesrv's own sentence for its own errors; never Python's words."""
    problem = getattr(error, "problem", None)
    if isinstance(error, OSError):
        # A link or a FIFO where a file should be (files/regular.py) has no Win32 error of
        # its own: sitesrv says what it found.
        return sms_error(error) + (f" ({error.strerror})" if isinstance(problem, str) else "")
    if isinstance(problem, str):
        return problem
    if isinstance(error, SitesrvError):
        return str(error)
    if isinstance(error, ValueError | KeyError | TypeError | AttributeError):
        return f"Win32 Error = {INVALID_DATA}"
    return sms_error(error)

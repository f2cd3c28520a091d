"""The Win32 error SMS logs for an I/O error, on any platform sitesrv runs on."""

from __future__ import annotations

import errno

# errno -> the Win32 error SMS would log (Windows' own OSError.winerror wins where it exists).
WIN32_ERRORS = {errno.ENOENT: 3, errno.ENOTDIR: 3, errno.EACCES: 5, errno.EPERM: 5,
                errno.EBUSY: 32, errno.EEXIST: 80, errno.EROFS: 19, errno.ENOSPC: 112}
GENERAL_FAILURE = 31


def win32_error(error: OSError) -> int:
    return getattr(error, "winerror", None) or WIN32_ERRORS.get(error.errno or 0, GENERAL_FAILURE)

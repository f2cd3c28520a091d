"""Open a file only if it is a regular file: never a link, a FIFO, a device or a folder.

Anyone who can write to a share can leave a FIFO where a reader expects a file (opening it
blocks until a writer comes, so the whole server would hang), a symbolic link (followed, it
reads or writes outside the lab) or a hard link to another file (written through, it changes
that file). Every open of a file the lab does not fully control goes through `open_regular`:
O_NOFOLLOW, O_NONBLOCK (so a FIFO opens at once instead of blocking), then fstat on the open
descriptor, which is what will be read or written, so a swap after any check cannot matter.
Where a flag does not exist (Windows has neither), the fstat check still applies, and without
O_NOFOLLOW the path is looked at with lstat before the open (a link there is refused before
it is opened through, or a file created at its target) and after it (a link put there
meanwhile is not the file that was opened: the identities differ).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from sitesrv.errors import UserError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISREG, "a file"))


class NotRegularFile(OSError):
    """The path names something sitesrv never reads or writes through; `problem` says what."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(errno.EINVAL, f"it is {problem}, not a regular file", str(path))
        self.problem = problem


def kind_of(mode: int) -> str:
    """What a file mode names, for messages: `a FIFO`, `a symbolic link`..."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def not_a_file(mode: int) -> str:
    """Why something in an inbox that is neither a file nor a folder (a FIFO, a socket, a
    device) is refused: the reason its quarantine line gives."""
    return f"it is {kind_of(mode)}, not a file, and sitesrv never opens one in an inbox"


def open_fd(path: Path | str, flags: int = os.O_RDONLY, mode: int = 0o666, *,
            sole_name: bool = False) -> int:
    """A descriptor of the regular file at `path` (blocking, as usual), or NotRegularFile.

    With `sole_name` (a file about to be written) a file with more than one name (a hard link
    to a file elsewhere) is refused too. Other errors (FileNotFoundError...) pass through.
    """
    return _open_checked(path, flags, mode, sole_name)[0]


def _open_checked(path: Path | str, flags: int, mode: int, sole_name: bool, *,
                  blocking: bool = True) -> tuple[int, os.stat_result]:
    """`open_fd`, with the fstat of the descriptor it checked. Without `blocking` the
    descriptor is left non-blocking: a regular file reads the same either way, and a caller
    that only reads it whole (`read_regular`) is spared a system call per file."""
    if not _NOFOLLOW:
        with contextlib.suppress(FileNotFoundError):  # missing: the open may create it
            _lstat_regular(path)
    try:
        fd = os.open(path, flags | _NOFOLLOW | _NONBLOCK | _BINARY, mode)
    except FileNotFoundError:
        raise  # nothing there to tell apart (a link is ELOOP, or refused before the open)
    except OSError as e:
        # A link (ELOOP), a FIFO without a reader (ENXIO, when opened to write), a folder...
        try:
            found = os.lstat(path).st_mode
        except OSError:
            raise e from None
        if not stat.S_ISREG(found):
            raise NotRegularFile(path, kind_of(found)) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(path, kind_of(st.st_mode))
        if not _NOFOLLOW:
            named = _lstat_regular(path)
            if (named.st_dev, named.st_ino) != (st.st_dev, st.st_ino):
                raise NotRegularFile(path, "a file put in place of the one opened")
        if sole_name and st.st_nlink != 1:
            raise NotRegularFile(path, f"a file with {st.st_nlink} names (a hard link)")
        if _NONBLOCK and blocking:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _lstat_regular(path: Path | str) -> os.stat_result:
    """The lstat of `path`, or NotRegularFile if it names something else (a link...)."""
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFile(path, kind_of(st.st_mode))
    return st


def open_regular(path: Path | str, *, buffering: int = -1) -> BinaryIO:
    """The regular file at `path`, opened to read (binary), or NotRegularFile.

    The default buffer is the file's block size, as Python 3.11's `open` makes it, but named
    here from the fstat made already: `open` would ask the file whether it is a terminal to
    choose it (a system call whose answer, for a regular file, is known)."""
    fd, st = _open_checked(path, os.O_RDONLY, 0o666, False)
    if buffering < 0:
        size = getattr(st, "st_blksize", 0)  # not on Windows, where `open` takes the default
        buffering = size if size > 1 else io.DEFAULT_BUFFER_SIZE
    return os.fdopen(fd, "rb", buffering=buffering)


def read_regular(path: Path | str, check_size: Callable[[int], None]) -> bytes:
    """The bytes of the regular file at `path`, read only after `check_size(size)` let its size
    through (it raises for a file over a reader's limit); no more than that size and one byte
    is read, and `check_size` judges what was read too (a file that grew meanwhile).

    Read from the descriptor itself: a buffered file object would cost three more system calls
    and its own buffer for bytes that are read whole, and the lab reads some 150 files per
    package it distributes. A read of a regular file that gives fewer bytes than it asked for
    has met the file's end: once the size the fstat gave is read, short of the one byte more,
    no second read is made to find nothing (the bytes are the file's as at that read, the
    same as if it grew just after). The descriptor stays non-blocking, as opened (a regular
    file ignores it); a file system that says a read would block is waited for all the same."""
    fd, st = _open_checked(path, os.O_RDONLY, 0o666, False, blocking=False)
    try:
        check_size(st.st_size)
        wanted = st.st_size + 1
        chunks = []
        while wanted > 0:
            try:
                chunk = os.read(fd, wanted)
            except BlockingIOError:
                os.set_blocking(fd, True)
                continue
            if not chunk:
                break
            chunks.append(chunk)
            wanted -= len(chunk)
            if wanted == 1:
                break  # short of the byte asked beyond its size: the file ends here
    finally:
        os.close(fd)
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    check_size(len(data))
    return data


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write every byte to the descriptor: a short write (a nearly full disk) is continued,
    never taken for the whole."""
    if isinstance(data, bytes) and data:  # the usual write: whole at once, and no view made
        done = os.write(fd, data)
        if done == len(data):
            return
        view = memoryview(data)[done:]
    else:
        view = memoryview(data).cast("B")  # bytes, whatever the view's item size
    while view:
        view = view[os.write(fd, view):]


# The lab's own state files (a busy list, the pauses, a counter, the lab time) are a few hundred
# bytes; a package's state file at a secondary site holds a row per DP, some 600 bytes each.
STATE_FILE_BYTES = 1 << 20
PACKAGE_STATE_BYTES = 64 << 20


class FileTooLarge(OSError):
    """A file over the size its reader takes: refused before it is read."""


def read_limited(path: Path | str, limit: int) -> bytes:
    """A state file of the lab's own, read whole only if it is a regular file of at most
    `limit` bytes; else NotRegularFile or FileTooLarge (OSError: its reader treats it as it
    treats an unreadable file)."""
    def check(size: int) -> None:
        if size > limit:
            raise FileTooLarge(errno.EFBIG, f"{size} bytes, more than the {limit} bytes this "
                               "file may have (docs/limits.md)", str(path))
    return read_regular(path, check)


def check_state_file(path: Path) -> None:
    """Before a state file of the lab's own is read and replaced: a UserError if something
    other than a regular file has its name (a link, a FIFO, a folder). Read as an unreadable
    file and replaced, what a person meant it to hold would be dropped without a word."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise UserError(f"{path} is {kind_of(mode)}, not a regular file, and sitesrv never "
                        "reads or writes its state through one (that could change a file "
                        "outside the lab, or lose what it holds without a word). Remove "
                        f"{path}, then try again.")


def holds_bytes(path: Path | str, data: bytes) -> bool:
    """Whether `path` is a regular file of exactly these bytes, read no further than that and
    never through a link or from a FIFO (which would block the reader)."""
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
            return False
        with open_regular(path) as f:
            return f.read(len(data) + 1) == data
    except OSError:
        return False

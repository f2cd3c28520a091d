"""Streamed copies: another file as publishable content, and a byte range file to file.

Memory does not grow with the file's size, and where the kernel can copy between files the
bytes never pass through Python.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, NamedTuple

COPY_CHUNK = 1024 * 1024
# A kernel copy call that fails with one of these did nothing: the next method is tried.
_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL,
                   errno.EBADF, errno.ETXTBSY, errno.EPERM}


class WrittenRange(NamedTuple):
    """A range written into a file: the bytes copied, and the file's status before and after."""

    copied: int
    before: os.stat_result
    after: os.stat_result


def copy_content(src: Path) -> Callable[[BinaryIO], None]:
    """Content that streams another file, so memory does not grow with its size."""
    def write(f: BinaryIO) -> None:
        with open(src, "rb") as s:
            shutil.copyfileobj(s, f, COPY_CHUNK)
    return write


def copy_range(source: BinaryIO, target: BinaryIO, offset: int, count: int) -> int:
    """Copy `count` bytes at `offset` of `source` to the same offset of `target`.

    Returns the bytes copied: fewer only when `source` ends first. In the kernel where it can
    (`copy_file_range`, else `sendfile` on Linux), so the bytes do not pass through Python;
    otherwise in 1 MiB reads and writes. Pass unbuffered files (`open(..., buffering=0)`).
    """
    done: int | None = None
    if hasattr(os, "copy_file_range"):
        done = _kernel_copy(lambda n, at: os.copy_file_range(
            source.fileno(), target.fileno(), n, at, at), offset, count)
    if done is None and sys.platform.startswith("linux"):
        os.lseek(target.fileno(), offset, os.SEEK_SET)
        done = _kernel_copy(lambda n, at: os.sendfile(
            target.fileno(), source.fileno(), at, n), offset, count)
    done = done or 0
    if done == count:
        return done
    # Reads and writes for the rest: where the kernel cannot copy, and after a kernel copy that
    # stopped short (some FUSE and VM-share file systems report 0 before the end); a read that
    # returns nothing is the real end of the source.
    source.seek(offset + done)
    target.seek(offset + done)
    buffer = memoryview(bytearray(min(COPY_CHUNK, max(count - done, 1))))
    while done < count:
        n = source.readinto(buffer[:min(len(buffer), count - done)])
        if not n:
            break
        view = buffer[:n]
        while view:
            view = view[target.write(view) or 0:]
        done += n
    return done


def _kernel_copy(call: Callable[[int, int], int], offset: int, count: int) -> int | None:
    """Run `call(bytes, at)` until `count` bytes are copied or the source ends; None if the
    kernel cannot copy between these files (nothing was copied then)."""
    done = 0
    while done < count:
        try:
            n = call(min(count - done, 1 << 30), offset + done)
        except OSError as e:
            if done == 0 and e.errno in _NO_KERNEL_COPY:
                return None
            raise
        if n == 0:
            break
        done += n
    return done

"""File primitives of the hand-off protocol: write privately, publish by rename, fsync by setting.

Visibility equals completeness: a file appears under its final name only through `os.replace`
of a finished temp file in the same folder (engineering.md §2.4, rules 1-5). How much is fsynced
follows the lab's `durability`: `none` (a killed process loses nothing the kernel already has),
`file` (fsync the file before the rename) or `file+dir` (also fsync the folders a rename
changed, so the rename itself survives a power cut; skipped on Windows, where a folder cannot be
opened).
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

NONE = "none"
FILE = "file"
FILE_AND_DIR = "file+dir"
COPY_CHUNK = 1024 * 1024
# A kernel copy call that fails with one of these did nothing: the next method is tried.
_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL,
                   errno.EBADF, errno.ETXTBSY, errno.EPERM}

# What a publisher writes: the bytes, chunks of them, or a function that writes to the file.
Content = bytes | Iterable[bytes] | Callable[[BinaryIO], None]


def ignored_by_scans(name: str) -> bool:
    """Scanners never look at temp files (`X.TMP`, `.X.<writer>.tmp`) or other dot-files."""
    return name.startswith(".") or name.upper().endswith(".TMP")


def is_removable_temp(name: str) -> bool:
    """Temp files start-up recovery may delete once stale: any `*.tmp`, never other dot-files."""
    return name.upper().endswith(".TMP")


def sync_dirs(durability: str, *folders: Path) -> None:
    """Make renames into or out of these folders durable, if the lab asks for it."""
    if durability != FILE_AND_DIR or os.name == "nt":
        return
    for folder in dict.fromkeys(folders):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_content(f: BinaryIO, content: Content) -> None:
    if isinstance(content, bytes | bytearray | memoryview):
        f.write(content)
    elif callable(content):
        content(f)
    else:
        for chunk in content:
            f.write(chunk)


def write_temp(tmp: Path, content: Content, durability: str, *, exclusive: bool) -> None:
    """Write a complete file under its temp name; a failed write leaves no temp behind."""
    with open(tmp, "xb" if exclusive else "wb") as f:
        try:
            write_content(f, content)
            if durability != NONE:
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            f.close()
            tmp.unlink(missing_ok=True)
            raise


def rename_into_place(tmp: Path, dest: Path, durability: str) -> None:
    """Rename a finished file to its final name: the moment a reader may see it."""
    os.replace(tmp, dest)
    sync_dirs(durability, dest.parent, tmp.parent)


def replace_file(dest: Path, content: Content, durability: str, *, tmp: Path) -> None:
    """Replace `dest` atomically through `tmp`, a temp name no other writer uses at the same
    time; a leftover of a killed attempt under that name is overwritten, never in the way."""
    write_temp(tmp, content, durability, exclusive=False)
    rename_into_place(tmp, dest, durability)


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

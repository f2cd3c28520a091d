"""File-system moves that behave the same on POSIX and Windows.

Windows refuses to replace or delete a read-only file, and SMS keeps PCKs and many package
files read-only, so every replace and delete here clears the attribute first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from sitesrv.files.drive import check_space

PCK_MODE = 0o444


def is_readonly(mode: int) -> bool:
    return not mode & stat.S_IWUSR


def make_readonly(path: Path) -> None:
    os.chmod(path, stat.S_IMODE(os.lstat(path).st_mode) & ~0o222)


def make_writable(path: Path | str) -> None:
    os.chmod(path, stat.S_IMODE(os.lstat(path).st_mode) | stat.S_IWUSR)


def clear_readonly(path: Path | str) -> bool:
    """Make an existing read-only file writable, so that it can be replaced (Windows); False
    if there is nothing at `path`."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if is_readonly(mode) and not stat.S_ISLNK(mode):
        make_writable(path)
    return True


def remove_file(path: Path | str, mode: int | None = None) -> None:
    """Delete a file if it exists, read-only or not. Nothing there (a temp name, mostly) is
    not deleted again: as if it were deleted at the look. `mode`: the lstat of `path` its
    caller made in the same operation, so that a file that was not read-only is not looked at
    twice. A read-only one is looked at again just before its chmod, which follows links: a
    link put in its place since the caller's look must not have its target made writable."""
    looked_again = mode is None or is_readonly(mode) and not stat.S_ISLNK(mode)
    if looked_again and not clear_readonly(path):
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def remove_tree(path: Path) -> None:
    """Delete a folder tree if it exists, including read-only files in it."""

    def clear_readonly_and_retry(func: Callable[[str], object], failed: str, _exc: object) -> None:
        make_writable(Path(failed))
        func(failed)

    if not os.path.isdir(path) or os.path.islink(path):
        remove_file(path)
    elif sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=clear_readonly_and_retry)
    else:
        shutil.rmtree(path, onerror=clear_readonly_and_retry)


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable; POSIX only (Windows cannot open a folder)."""
    if os.name == "posix":
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


TEMP_SUFFIX = ".sitesrv-tmp"  # the default temp of `published_readonly`: `<dest>.sitesrv-tmp`


@contextlib.contextmanager
def published_readonly(
    dest: Path, temp: Path | None = None, *, durable: bool = False
) -> Iterator[BinaryIO]:
    """Write a file under a temp name, then make it read-only and rename it over `dest`.

    Readers never see a partial file under the final name. On error the temp file goes and
    `dest` is untouched (DiskFull if the file does not fit on its drive: files/drive.py).
    `temp` must be on the same file system as `dest`. The folder of `dest` is created if
    needed, as SMS creates SMSPKG on first use.
    """
    temp = temp if temp is not None else dest.with_name(dest.name + TEMP_SUFFIX)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_file(temp)
    fh = open(temp, "xb")  # noqa: SIM115 - closed on both paths below
    try:
        yield fh
        fh.flush()
        check_space(temp)
        if durable:
            os.fsync(fh.fileno())
        fh.close()
        os.chmod(temp, PCK_MODE)
        clear_readonly(dest)  # Windows: os.replace onto a read-only file is refused
        os.replace(temp, dest)
    except BaseException:
        fh.close()
        remove_file(temp)
        raise
    if durable:
        fsync_dir(dest.parent)

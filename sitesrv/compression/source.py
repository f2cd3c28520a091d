"""Reading a package source folder: which entries it has, refusing what SMS could not ship."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import attrs

from sitesrv.compression.entrysafety import path_problem, tree_problem
from sitesrv.compression.errors import UnsafeEntryError
from sitesrv.files.readonly import is_readonly

CHUNK = 1 << 20
_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)


@attrs.frozen
class SourceItem:
    """A file or an empty folder found in the source folder."""

    path: str
    location: Path
    is_dir: bool


@attrs.frozen
class OpenedFile:
    """A source file opened for packing, with the attributes taken from the open handle."""

    size: int
    mtime_ns: int
    readonly: bool
    chunks: Iterator[bytes]


def scan_source(source_dir: Path) -> list[SourceItem]:
    """All files and empty folders under `source_dir`, sorted by path; refuses unsafe entries."""
    if not source_dir.is_dir():
        raise FileNotFoundError(f"package source folder {source_dir} does not exist")
    items: list[SourceItem] = []
    pending = [(source_dir, "")]
    while pending:
        folder, prefix = pending.pop()
        with os.scandir(folder) as listing:
            children = sorted(listing, key=lambda e: e.name)
        if not children and prefix:
            items.append(SourceItem(prefix.rstrip("/"), folder, is_dir=True))
        for child in children:
            path = prefix + child.name
            problem = path_problem(path) or _kind_problem(child)
            if problem:
                raise UnsafeEntryError(source_dir, path, problem)
            if child.is_dir(follow_symlinks=False):
                pending.append((Path(child.path), path + "/"))
            else:
                items.append(SourceItem(path, Path(child.path), is_dir=False))
    items.sort(key=lambda item: item.path)
    clash = tree_problem((item.path, item.is_dir) for item in items)
    if clash:
        raise UnsafeEntryError(source_dir, *clash)
    return items


def _kind_problem(entry: os.DirEntry[str]) -> str | None:
    if entry.is_symlink():
        return "symbolic link"
    if entry.is_dir(follow_symlinks=False) or entry.is_file(follow_symlinks=False):
        return None
    mode = entry.stat(follow_symlinks=False).st_mode
    return next((name for test, name in _SPECIAL_KINDS if test(mode)), "not a regular file")


@contextlib.contextmanager
def open_source_file(source_dir: Path, item: SourceItem) -> Iterator[OpenedFile]:
    """Open without following links, so a file swapped for a link after the scan is refused."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(item.location, flags)
    except OSError:
        if os.path.islink(item.location):
            raise UnsafeEntryError(source_dir, item.path, "symbolic link") from None
        raise
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeEntryError(source_dir, item.path, "not a regular file")
        yield OpenedFile(
            st.st_size, st.st_mtime_ns, is_readonly(st.st_mode), _chunks(fh, st.st_size, item)
        )


def _chunks(fh: BinaryIO, size: int, item: SourceItem) -> Iterator[bytes]:
    left = size
    while left:
        data = fh.read(min(left, CHUNK))
        if not data:
            raise OSError(f"{item.location} shrank while it was being packed")
        left -= len(data)
        yield data

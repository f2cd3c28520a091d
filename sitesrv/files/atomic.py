"""Write privately, publish by rename, fsync as the lab's durability says.

Visibility equals completeness: a file appears under its final name only through `os.replace`
of a finished temp file in the same folder (the Maildir rule: tmp, then rename into new). How
much is fsynced follows `Durability`: NONE (a killed process loses nothing the kernel already
has), FILE (fsync the file before the rename) or FILE_AND_DIR (also fsync the folders a rename
changed, so the rename itself survives a power cut; skipped on Windows, where a folder cannot
be opened).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from sitesrv.files.drive import check_space
from sitesrv.files.readonly import fsync_dir, remove_file
from sitesrv.files.regular import write_all


class Durability(StrEnum):
    """hierarchy.yaml `durability`: what survives a power cut, at what cost in fsyncs.

    `syncs_files`: whether a file is fsynced before it is renamed into place (and SQLite
    commits). `syncs_folders`: whether the folders a rename changed are fsynced after it. Each
    is a plain attribute of the member, set once: every write and rename asks (a property was
    a call each time, some 40,000 per 100 packages)."""

    syncs_files: bool
    syncs_folders: bool

    NONE = "none"
    FILE = "file"
    FILE_AND_DIR = "file+dir"

    def __init__(self, value: str) -> None:
        self.syncs_files = value != "none"
        self.syncs_folders = value == "file+dir"


# What a publisher writes: the bytes, chunks of them, or a function that writes to the file.
Content = bytes | Iterable[bytes] | Callable[[BinaryIO], None]
# Content given whole (a tuple: `bytes | bytearray | memoryview` is a union built at each use).
_BYTES = (bytes, bytearray, memoryview)
# A temp file is always a new file: O_EXCL never follows a link or opens what is there.
_CREATE_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def sync_dirs(durability: Durability, *folders: Path) -> None:
    """Make renames into or out of these folders durable, if the lab asks for it."""
    if not durability.syncs_folders:
        return
    for folder in dict.fromkeys(folders):
        fsync_dir(folder)


def _write_streamed(f: BinaryIO, content: Callable[[BinaryIO], None] | Iterable[bytes]) -> None:
    if callable(content):
        content(f)
    else:
        for chunk in content:
            f.write(chunk)


def write_temp(tmp: Path | str, content: Content, durability: Durability, *,
               exclusive: bool) -> None:
    """Write a complete file under its temp name; a failed write leaves no temp behind.

    The file is always created new (O_EXCL, which never follows a link): without `exclusive`,
    whatever has the name already (a killed attempt's leftover, or a link someone planted to
    have it written through) is removed, never written into, and the file created new again.
    The name is free almost always, so it is not looked at before the first try: the refused
    create is the look. A file that does not fit on its drive (files/drive.py) is DiskFull.
    """
    try:
        fd = os.open(tmp, _CREATE_NEW, 0o666)
    except FileExistsError:
        if exclusive:
            raise
        remove_file(tmp)
        fd = os.open(tmp, _CREATE_NEW, 0o666)
    try:
        if isinstance(content, _BYTES):
            write_all(fd, content)  # most files: one write, no file object around it
        else:
            with os.fdopen(fd, "wb", closefd=False) as f:
                _write_streamed(f, content)
        check_space(tmp)
        if durability.syncs_files:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    os.close(fd)


def rename_into_place(tmp: Path | str, dest: Path | str, durability: Durability) -> None:
    """Rename a finished file to its final name: the moment a reader may see it."""
    os.replace(tmp, dest)
    if durability.syncs_folders:  # the folders only then: every publish renames
        sync_dirs(durability, Path(dest).parent, Path(tmp).parent)


def replace_file(dest: Path | str, content: Content, durability: Durability, *,
                 tmp: Path | str) -> None:
    """Replace `dest` atomically through `tmp`, a temp name no other writer uses at the same
    time; a leftover of a killed attempt under that name is overwritten, never in the way."""
    write_temp(tmp, content, durability, exclusive=False)
    rename_into_place(tmp, dest, durability)

"""The site's files as the tool reads and writes them: never through a symbolic link.

Anyone who can write to a site's shares can put a link (to a folder outside the lab) or a file
under the name of a folder the tool writes into, at any depth: `replmgr.box\\outbound\\low` as
well as `SMS`. Followed, the link would take the tool's work out of the lab while it reports
success, and the site server, which never writes through one, moves it aside at its next run.
So the tool looks at each folder from the site's root down without following it, before it
reads or changes anything and again before each write, and opens no link as a file. This is
the tool's own code: sitesrv's is not part of the surface a tool may use (docs/tools.md).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class Damaged(Exception):
    """A file of the site is not what a sitesrv lab writes there (damaged, or edited by hand)."""


def check_folders(root: Path, *folders: Path) -> None:
    """Each of `folders`, and every folder between the site's `root` (itself included) and it,
    is a real folder or is missing (the step that needs it finds that); Damaged for the first
    that is a link, a file or anything else."""
    for folder in folders:
        current = root
        for part in ("", *folder.relative_to(root).parts):
            current = current / part
            mode = _mode(current)
            if mode is None:
                break
            if not stat.S_ISDIR(mode):
                raise Damaged(f"{current} is {_kind(current, mode)}, not a folder, and the tool "
                              "never writes through one (nor does a site server): put a real "
                              "folder of that name in its place (for a link, move the folder it "
                              "points to there)")


def check_file(path: Path) -> None:
    """`path` is a regular file or is missing: never a link the tool would write through, nor a
    folder or FIFO it would write over."""
    mode = _mode(path)
    if mode is not None and not stat.S_ISREG(mode):
        raise Damaged(f"{path} is {_kind(path, mode)}, not a file, and the tool never writes "
                      "through one: move it out of the lab (for a link, put the file it points "
                      "to in its place, if that is the site's)")


def read_small(path: Path, limit: int) -> bytes | None:
    """The bytes of a regular file of at most `limit` bytes; None if it does not exist. A link,
    a FIFO, a folder or a device is Damaged, never opened for reading (it could lead out of the
    lab, or block for ever)."""
    if path.is_symlink():
        raise Damaged(f"{path} is a symbolic link to {os.readlink(path)}, not a file, and the "
                      "tool never reads through one")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return None
    except OSError as e:
        raise Damaged(f"{path} cannot be read ({e.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Damaged(f"{path} is not a regular file")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise Damaged(f"{path} is larger than {limit} bytes")
    return data


def write_atomically(root: Path, path: Path, data: bytes) -> None:
    """Write `path`, below the site's `root`, under a temp name in its folder and rename it into
    place. Its folders are checked again just before (Damaged), and so is `path`; a link
    planted at the temp name is replaced, never written through, and the temp file never stays
    behind."""
    check_folders(root, path.parent)
    check_file(path)
    tmp = path.with_name(f".{path.name}.preloadpkgonsite.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _mode(path: Path) -> int | None:
    """What is at `path` itself (a link is not followed); None if nothing is."""
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return None


def _kind(path: Path, mode: int) -> str:
    """What is there instead, as the message names it."""
    if stat.S_ISLNK(mode):
        try:
            return f"a symbolic link to {os.readlink(path)}"
        except OSError:
            return "a symbolic link"
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a FIFO" if stat.S_ISFIFO(mode) else "a socket or a device"

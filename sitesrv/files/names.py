"""File names that always fit: a name the lab makes from a name it was given (a quarantined
file's `corrupt\\<name>.<n>`, a batch's object kept as `<batch>.<object>`) must not fail for
being too long, or the file it is for could never be put aside (ENAMETOOLONG).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

# The longest file name NTFS and the common POSIX file systems (ext4, XFS, APFS) take, in bytes
# (POSIX) or UTF-16 units (NTFS): 255 UTF-8 bytes fits both.
NAME_MAX = 255
_DIGEST = 16  # hex digits of SHA-256 that stand for the cut part: distinct names stay distinct


def fitting_name(name: str, suffix: str = "") -> str:
    """`name + suffix` if it fits NAME_MAX bytes; else the start of `name`, `~`, a digest of the
    whole `name` and `suffix`, which does. The suffix (`.1`, a counter) is always kept whole."""
    whole = name + suffix
    if len(whole.encode("utf-8", "surrogateescape")) <= NAME_MAX:
        return whole
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:_DIGEST]
    tail = f"~{digest}{suffix}"
    room = NAME_MAX - len(tail.encode("utf-8", "surrogateescape"))
    head = name.encode("utf-8", "surrogateescape")[:max(room, 0)].decode("utf-8", "ignore")
    return head + tail


def refused_name(path: Path) -> Path:
    """Where something planted under a folder's name is moved aside: `.<name>.refused` beside
    it, or `.<name>.refused.<n>` if that is taken, each cut to fit a file name."""
    base = f".{path.name.lstrip('.')}.refused"
    aside, n = path.with_name(fitting_name(base)), 0
    while os.path.lexists(aside):
        n += 1
        aside = path.with_name(fitting_name(base, f".{n}"))
    return aside


def refused_file_name(path: Path | str) -> str:
    """Where something planted under a file's name (a log, the server lock) is moved aside:
    `<name>.refused` beside it, or `<name>.refused.<n>` if that is taken."""
    aside, n = f"{path}.refused", 0
    while os.path.lexists(aside):
        n += 1
        aside = f"{path}.refused.{n}"
    return aside

"""Paths as text, joined and split by hand where that gives what `os.path` gives.

A hand-off names its files as text (the temp file beside its destination, the folder whose
owners it wakes, each folder on the way to one it makes). `os.path.join` and `os.path.split`
are Python functions that handle every spelling (drives, separators doubled, an absolute
second part), and they cost four times what the usual spelling needs: a plain name below a
folder on POSIX. That case is done here by hand; anything else, and every path on Windows,
goes to `os.path`.
"""

from __future__ import annotations

import os

_PLAIN = os.altsep is None and os.sep == "/"  # one separator and no drives: POSIX


def join(folder: str, name: str) -> str:
    """`os.path.join(folder, name)`."""
    if _PLAIN and folder and name and folder[-1] != "/" and name[0] != "/":
        return f"{folder}/{name}"
    return os.path.join(folder, name)


def split(path: str) -> tuple[str, str]:
    """`os.path.split(path)`: the folder and the name."""
    if _PLAIN:
        folder, _, name = path.rpartition("/")
        if folder and folder[-1] != "/":
            return folder, name
    return os.path.split(path)

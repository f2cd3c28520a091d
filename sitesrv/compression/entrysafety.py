"""Rules that keep every package entry inside its target folder, on POSIX and on Windows.

Both sides apply them: pack refuses a source tree that breaks them, and install refuses a
container that does, before one byte is written. The rules are stricter than POSIX needs
because a PCK made in a Linux lab must install safely on Windows, where `\\` and `:` are
separators and two names differing only in case are the same file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_FORBIDDEN_CHARS = re.compile(r"[\x00-\x1f\\:]")


def path_problem(path: str) -> str | None:
    """Why `path` (POSIX form, relative) is unsafe as an entry name, or None if it is fine."""
    if not path:
        return "empty name"
    if path.startswith("/") or re.match(r"[A-Za-z]:", path):
        return "absolute path"
    if "\\" in path:
        return "backslash in name (a path separator on Windows)"
    parts = path.split("/")
    if ".." in parts:
        return "path leaves the package folder ('..')"
    if any(part in ("", ".") for part in parts):
        return "empty or '.' path component"
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in path):
        return "name is not valid UTF-8"
    if _FORBIDDEN_CHARS.search(path):
        return "control character or ':' in name"
    return None


def fold(path: str) -> str:
    """The key under which Windows sees a name: simple per-character upper-casing (like NTFS)."""
    return "".join(up if len(up := ch.upper()) == 1 else ch for ch in path)


def tree_problem(entries: Iterable[tuple[str, bool]]) -> tuple[str, str] | None:
    """First (entry, reason) that makes a set of (path, is_dir) entries unusable as one tree.

    Catches duplicates, names that differ only in case (Windows would merge them), a file
    that is also a parent folder, and an "empty" folder that has entries below it.
    """
    seen: dict[str, str] = {}
    kinds: dict[str, bool] = {}
    parents: set[str] = set()
    for path, is_dir in entries:
        if path in kinds:
            return path, "duplicate entry"
        kinds[path] = is_dir
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if depth < len(parts):
                parents.add(prefix)
            other = seen.setdefault(fold(prefix), prefix)
            if other != prefix:
                return path, f"differs from {other!r} only in letter case"
    for parent in sorted(parents):
        if parent in kinds:
            what = "a folder listed as empty" if kinds[parent] else "a file"
            return parent, f"is {what} but has entries below it"
    return None

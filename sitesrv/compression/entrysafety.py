"""Rules that keep every package entry inside its target folder, on POSIX and on Windows.

Both sides apply them: pack refuses a source tree that breaks them, and install refuses a
container that does, before one byte is written. The rules are stricter than POSIX needs
because a PCK made in a Linux lab must install safely on Windows, where `\\` and `:` are
separators and two names differing only in case are the same file. A path's and a name's
length are bounded too (docs/limits.md), as Windows bounds them.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from itertools import pairwise

from sitesrv.compression.manifest import MANIFEST_NAME

_FORBIDDEN_CHARS = re.compile(r"[\x00-\x1f\\:]")
_DRIVE = re.compile(r"[A-Za-z]:")
# Each path is checked at every install (a member's name): one search, not a look per character.
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_PATH_CHARS = 1024  # about four times Windows' MAX_PATH (260), which SMS 2003 keeps to
MAX_NAME_CHARS = 255  # one folder or file name, as NTFS and ext4 allow


def path_problem(path: str) -> str | None:
    """Why `path` (POSIX form, relative) is unsafe as an entry name, or None if it is fine."""
    if not path:
        return "empty name"
    if len(path) > MAX_PATH_CHARS:
        return f"path longer than {MAX_PATH_CHARS} characters"
    if path.startswith("/") or _DRIVE.match(path):
        return "absolute path"
    if "\\" in path:
        return "backslash in name (a path separator on Windows)"
    parts = path.split("/")
    if ".." in parts:
        return "path leaves the package folder ('..')"
    if "" in parts or "." in parts:
        return "empty or '.' path component"
    if max(map(len, parts)) > MAX_NAME_CHARS:
        return f"a name longer than {MAX_NAME_CHARS} characters"
    if _SURROGATE.search(path):
        return "name is not valid UTF-8"
    if _FORBIDDEN_CHARS.search(path):
        return "control character or ':' in name"
    if fold(path) == _MANIFEST_KEY:
        return "the name is reserved for the package manifest"
    return None


def fold(path: str) -> str:
    """The key under which Windows sees a name: simple per-character upper-casing (like NTFS)."""
    upper = path.upper()
    if len(upper) == len(path):  # no character became two: the same as per character
        return upper
    return "".join(up if len(up := ch.upper()) == 1 else ch for ch in path)


_MANIFEST_KEY = fold(MANIFEST_NAME)


def tree_problem(entries: Iterable[tuple[str, bool]]) -> tuple[str, str] | None:
    """First (entry, reason) that makes a set of (path, is_dir) entries unusable as one tree.

    Catches duplicates, names that differ only in case (Windows would merge them), a file
    that is also a parent folder, and an "empty" folder that has entries below it. It keeps
    the entries and one upper-cased copy of each path, nothing per folder, so a manifest of
    deep paths costs no more to check than one of short paths.
    """
    listed = sorted(entries)
    paths = [path for path, _ in listed]
    for before, path in pairwise(paths):
        if before == path:
            return path, "duplicate entry"
    # Ordered by their folded names, name after name, the paths that share folded names follow
    # each other, so a name spelt two ways shows up between two neighbours.
    clash: tuple[str, str] | None = None  # the one whose later path comes first
    for one, other in pairwise(sorted(paths, key=_by_folded_names)):
        first, second = sorted((one, other))
        at = _case_clash(first.split("/"), second.split("/"))
        if at is not None and (clash is None or second < clash[0]):
            clash = second, "/".join(first.split("/")[:at + 1])
    if clash is not None:
        return clash[0], f"differs from {clash[1]!r} only in letter case"
    for path, is_dir in listed:  # in path order: the first such entry is reported
        below = bisect.bisect_left(paths, path + "/")
        if below < len(paths) and paths[below].startswith(path + "/"):
            what = "a folder listed as empty" if is_dir else "a file"
            return path, f"is {what} but has entries below it"
    return None


def _by_folded_names(path: str) -> str:
    # NUL, which no name may hold, sorts a name before its longer spellings: `a`, `a/b`, `a!`.
    return fold(path).replace("/", "\0")


def _case_clash(first: list[str], second: list[str]) -> int | None:
    """The component where two paths spell one name in two ways, if they do before they part."""
    for at, (a, b) in enumerate(zip(first, second, strict=False)):
        if a != b:
            return at if fold(a) == fold(b) else None
    return None


def folder_count(entries: Iterable[tuple[str, bool]]) -> int:
    """How many folders extracting these (path, is_dir) entries makes: sorted by path, and
    a tree `tree_problem` accepts (a manifest's entries are).

    In path order the entries below a folder follow each other, so comparing each entry's
    folders with the previous entry's counts each folder once, in memory for one path.
    """
    count = 0
    previous: list[str] = []
    for path, is_dir in entries:
        parts = path.split("/")
        folders = parts if is_dir else parts[:-1]
        same = 0
        while same < min(len(folders), len(previous)) and folders[same] == previous[same]:
            same += 1
        count += len(folders) - same
        previous = folders
    return count

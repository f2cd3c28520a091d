"""File names that always fit: a name the lab makes from a name it was given (a quarantined
file's `corrupt\\<name>.<n>`, a batch's object kept as `<batch>.<object>`) must not fail for
being too long, or the file it is for could never be put aside (ENAMETOOLONG). And names no
Windows file system holds, which only a Linux lab can meet: what makes one, how it is shown in a
log line, and the name its file is kept under in `corrupt\\`.
"""

from __future__ import annotations

import hashlib
import os
import re
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


# Names no Windows file system holds (NTFS keeps names in UTF-16 and refuses the controls 0-31
# and <>:"/\|?*: docs/sources.md#engineering-sources), so no SMS site server ever lists one; Linux gives sitesrv any byte but `/`
# and NUL, and a byte that is not UTF-8 as a lone surrogate (PEP 383). Such a name in a folder
# others write is a stranger: its file goes to `corrupt\\` under `safe_name`, and log lines
# show the name as `escaped_name`.
_FOREIGN = re.compile('[\x00-\x1f<>:"/\\\\|?*\ud800-\udfff]')
_UNDECODED = range(0xDC80, 0xDD00)  # the surrogates Python gives for the bytes 0x80-0xFF


def is_windows_name(name: str) -> bool:
    """Whether a Windows file system could hold a file of this name."""
    return _FOREIGN.search(name) is None


def foreign_characters(name: str) -> list[str]:
    """The characters of `name` no Windows file name holds, each once, in order."""
    return list(dict.fromkeys(_FOREIGN.findall(name)))


def foreign_name(name: str) -> str | None:
    """Why no Windows file system could hold a file of this name (a reason for the log, the
    characters escaped: `\\xff` a byte that is not UTF-8), or None if one can."""
    bad = foreign_characters(name)
    if not bad:
        return None
    shown = ", ".join(map(escaped_name, bad))
    return f"its name holds {shown}, which no Windows file name can: SMS never sees such a file"


def escaped_name(name: str) -> str:
    """`name` as a log line shows it: each character no Windows name holds as `\\xNN` (the
    byte, for one that is not UTF-8) or `\\uNNNN`, so that a name never breaks a line nor
    reads as a path; the backslash is among them, so the text is never ambiguous."""
    return _FOREIGN.sub(lambda m: _escape(m[0], "\\x{:02x}", "\\u{:04x}"), name)


def safe_name(name: str) -> str:
    """A name any file system holds for a file whose name no Windows one does: each such
    character as `%NN` (or `%uNNNN`), the rest kept. Two names may give the same: where it is
    put, a counter keeps it apart from one already there."""
    return _FOREIGN.sub(lambda m: _escape(m[0], "%{:02X}", "%u{:04X}"), name)


def _escape(ch: str, short: str, long: str) -> str:
    """`ch` in a format: `short` for the byte a surrogate escape stands for, or a code point
    below 0x100; else `long`."""
    code = ord(ch) - 0xDC00 if ord(ch) in _UNDECODED else ord(ch)
    return (short if code < 0x100 else long).format(code)

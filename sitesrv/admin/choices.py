"""The choices the console's actions offer, in a module that imports nothing: the command line
lists them in its help without importing the console (docs/performance.md)."""

from __future__ import annotations

PRIORITIES = {"high": 1, "medium": 2, "low": 3}
# The package's preferred sender, as SMSPackages.PreferredAddress keeps it ('' = any sender).
# Only a package that prefers it goes by the Courier Sender (SMS 2.0 help, ocoursen).
PREFERRED_SENDERS = {"any": "", "lan": "LAN", "courier": "COURIER"}
CORRUPTIONS = ("flip", "truncate")  # how `sitesrv fault corrupt` damages a file (faults.py)
# The bounds of `sitesrv fault slow-link` and `disk-full` (faults.py): a window that ends in
# this lab's lifetime, a drive NTFS could hold; the rate and latency bounds are lab/sizes.py's.
MAX_WINDOW = 10 * 365 * 86_400.0  # lab seconds a link stays slow: ten years
MAX_FREE = 2**63 - 1  # bytes: NTFS's largest volume


def text_problem(value: str) -> str | None:
    """Why a name or note cannot go into the one-line records and log lines the site servers
    write, or None: a line break, tab or other control character (a package named across two
    lines could never be sent), or white space at an end (the readers strip it)."""
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" for c in value):
        return "must be one line of text, without line breaks, tabs or other control characters"
    if value != value.strip():
        return ("must not start or end with white space, which the files the site servers "
                "write cannot keep")
    return None

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

"""Sizes as people write them (`2 GiB`), and how big a package may be by default
(`limits:` in hierarchy.yaml, docs/limits.md). A module of its own, importing nothing but `re`:
`sitesrv pck extract --help` shows the defaults."""

from __future__ import annotations

import re

SIZE_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
_SIZE_RE = re.compile(r"([0-9]{1,20}) ?(" + "|".join(SIZE_UNITS) + ")?")
# The most files (and the most folders) a PCK or DLT may list: the container reader refuses
# more, so `limits.package_files` cannot go higher (docs/limits.md).
MAX_PACKAGE_FILES = 250_000
DEFAULT_PACKAGE_SIZE = 2 << 30  # limits.package_size: bytes, the sum of a package's files
DEFAULT_PACKAGE_FILES = 100_000  # limits.package_files: files; and, separately, folders


def parse_size(value: object) -> int:
    """Bytes from a whole number of bytes or a text such as `2GiB` or `512 MiB` (1024-based)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        shown = str(value).lower() if isinstance(value, bool) else repr(value)  # as YAML has it
        raise ValueError(f"expected a number of bytes, or one with a unit ({', '.join(SIZE_UNITS)}"
                         f"), such as 2GiB or 512 MiB; got {shown}")
    return int(match[1]) * SIZE_UNITS[match[2] or "B"]


def size_text(size: int) -> str:
    """A size for people: `2 GiB`, `1.5 MiB`, `700 bytes`."""
    for unit, factor in reversed(SIZE_UNITS.items()):
        if factor > 1 and size >= factor:
            return f"{size / factor:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


# The bounds of a slowed link (`sitesrv fault slow-link`, and what the Sender reads back): a
# rate the Sender's arithmetic can vary by its jitter, a finite wait before the first byte.
MAX_RATE = 10**12  # bytes per second: a terabyte
MAX_LATENCY = 86_400.0  # seconds before a send's first byte: one day

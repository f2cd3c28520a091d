"""The original tool's command line: `<PkgID> [/UpdateStoredPkgVersion <N>]`, `<PkgID> /Compress`,
and the older `<PkgID> <StoredPkgVersion>` (docs/sources.md#preloadpkgonsite).

Options are spelled with a slash and, as on Windows, in any case. Anything else is a usage
error, answered with the original's USAGE lines.
"""

from __future__ import annotations

import re

import attrs

USAGE = (
    "USAGE 1: PreloadPkgOnSite.exe <PkgID> [/UpdateStoredPkgVersion <StoredPkgVersion>]",
    "USAGE 2: PreLoadPkgOnSite.exe <PkgID> /Compress",
)
UPDATE_OPTION = "/updatestoredpkgversion"
COMPRESS_OPTION = "/compress"
_VERSION_RE = re.compile(r"[0-9]{1,10}")
MAX_VERSION = 2**31 - 1  # SMS keeps versions in an int column


class UsageError(Exception):
    """The arguments are none of the forms the tool takes."""


@attrs.frozen
class Request:
    """What the user asked for: preload `package_id` (with a version, or the default rule), or
    make the compressed file and its information file for it (`compress`)."""

    package_id: str
    stored_version: int | None = None
    compress: bool = False


def parse(args: list[str] | tuple[str, ...]) -> Request:
    """The request the arguments make; UsageError if they make none."""
    if not args or args[0].startswith("/"):
        raise UsageError("no package ID")
    package_id, rest = args[0], [a.lower() if a.startswith("/") else a for a in args[1:]]
    if not rest:
        return Request(package_id)
    if rest == [COMPRESS_OPTION]:
        return Request(package_id, compress=True)
    if len(rest) == 2 and rest[0] == UPDATE_OPTION:
        return Request(package_id, stored_version=_version(rest[1]))
    if len(rest) == 1 and not rest[0].startswith("/"):
        return Request(package_id, stored_version=_version(rest[0]))  # the older form
    raise UsageError("unexpected arguments: " + " ".join(args[1:]))


def _version(text: str) -> int:
    """A StoredPkgVersion: a whole number from 0 (the original takes "positive or 0")."""
    if not _VERSION_RE.fullmatch(text) or int(text) > MAX_VERSION:
        raise UsageError(f"{text!r} is not a version from 0 to {MAX_VERSION}")
    return int(text)

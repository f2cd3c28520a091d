"""Why a PCK or DLT was refused, as distinct types, so callers can react per kind.

Distribution Manager and the Despooler log these messages verbatim; each names the file and
the problem. Container problems are `FormatError`s (the file goes to `corrupt/`); a missing or
wrong merge base is not the delta's fault, so those are plain `SitesrvError`s and the delta waits.
"""

from __future__ import annotations

from pathlib import Path

from sitesrv.errors import FormatError, SitesrvError


class PckError(FormatError):
    """A PCK/DLT file that must not be used."""


class TrailerError(PckError):
    """The end trailer is missing or damaged: the file is truncated or not ours."""


class CorruptError(PckError):
    """The content does not match its checksums, or the container structure is broken."""


class PackageMismatchError(PckError):
    """The file is intact but holds another package, version or kind than expected."""


class PackageLimitError(PckError):
    """The package would expand to more than a limit allows (docs/limits.md); `limit` names it
    (`package_size`, `package_files`), so the caller can say how to raise it."""

    def __init__(self, path: object, limit: str, problem: str) -> None:
        self.limit = limit
        super().__init__(path, problem)


class UnsafeEntryError(FormatError):
    """An entry that could escape or damage the target folder (pack or install side)."""

    def __init__(self, path: object, entry: str, reason: str) -> None:
        self.entry = entry
        self.reason = reason
        super().__init__(path, f"refused entry {entry!r}: {reason}")


class MergeBaseError(SitesrvError):
    """A delta cannot be merged because of its base PCK; the delta itself is fine."""

    def __init__(self, base_path: Path, package_id: str, base_version: int, message: str) -> None:
        self.base_path = base_path
        self.package_id = package_id
        self.base_version = base_version
        super().__init__(message)


class BaseMissingError(MergeBaseError):
    """SMSPKG does not hold the previous version's PCK: no file, or another version.

    The message is despool.log's line verbatim (with real paths); `found_version` is the
    version the file holds instead, or None if there is no file.
    """

    def __init__(
        self, base_path: Path, package_id: str, base_version: int, found_version: int | None = None
    ) -> None:
        self.found_version = found_version
        smspkg_name = base_path.parent / package_id
        super().__init__(
            base_path,
            package_id,
            base_version,
            f"CCompress::Open: Failed to open {smspkg_name} ({base_version})",
        )


class WrongBaseError(MergeBaseError):
    """The base PCK has the right version number but is not what the delta was made from."""

    def __init__(self, base_path: Path, package_id: str, base_version: int, found: str) -> None:
        self.found = found
        super().__init__(
            base_path,
            package_id,
            base_version,
            f"{base_path}: cannot merge the delta of package {package_id}: it needs version "
            f"{base_version} as its base, but this file holds {found}",
        )

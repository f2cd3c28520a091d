"""The manifest: what one package version contains, stored as the last member of a PCK/DLT.

It is the contract between the packer and every reader: install checks each extracted file
against it, deltas are computed from it, and its SHA-256 binds a delta to its base.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

MANIFEST_NAME = ".sitesrv-manifest.json"
MANIFEST_FORMAT = "sitesrv-pck-manifest/1"


@attrs.frozen
class FileEntry:
    """One file: what SMS tracks (name, size, time, read-only) plus the SHA-256 we verify with."""

    path: str
    size: int
    mtime_ns: int
    readonly: bool
    sha256: str


@attrs.frozen
class DirEntry:
    """An empty folder; folders with content are implied by their files' paths."""

    path: str


Entry = FileEntry | DirEntry


@attrs.frozen
class DeltaInfo:
    """What makes a manifest a DLT: the base it applies to and which files it carries."""

    base_version: int
    base_manifest_sha256: str
    shipped: tuple[str, ...]
    deleted: tuple[str, ...]


@attrs.frozen
class Manifest:
    """The complete tree of one source version; `delta` is set when the file is a DLT."""

    package_id: str
    version: int
    entries: tuple[Entry, ...]
    delta: DeltaInfo | None = None

    @property
    def files(self) -> tuple[FileEntry, ...]:
        return tuple(e for e in self.entries if isinstance(e, FileEntry))

    @property
    def source_size(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> bytes:
        """Canonical bytes: the same manifest always hashes the same."""
        doc: dict[str, Any] = {
            "format": MANIFEST_FORMAT,
            "package_id": self.package_id,
            "version": self.version,
            "entries": [_entry_doc(e) for e in self.entries],
        }
        if self.delta is not None:
            doc["delta"] = attrs.asdict(self.delta)
        return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Parse strictly; raises ValueError naming the first problem, whatever the bytes."""
        try:
            doc = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ValueError(f"malformed manifest (UnicodeDecodeError: {exc})") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"manifest is not valid JSON ({exc})") from None
        except RecursionError:
            raise ValueError("malformed manifest (its JSON is nested too deeply)") from None
        except ValueError as exc:  # e.g. a number of more than 4300 digits
            raise ValueError(f"malformed manifest ({exc})") from None
        try:
            if doc.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"unknown manifest format {doc.get('format')!r}")
            delta = doc.get("delta")
            return cls(
                package_id=_typed(doc["package_id"], str),
                version=_typed(doc["version"], int),
                entries=tuple(_entry_from_doc(e) for e in doc["entries"]),
                delta=None if delta is None else _delta_from_doc(delta),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed manifest ({type(exc).__name__}: {exc})") from None


def _entry_doc(entry: Entry) -> dict[str, Any]:
    if isinstance(entry, DirEntry):
        return {"path": entry.path, "type": "dir"}
    return {"type": "file", **attrs.asdict(entry)}


def _typed(value: Any, kind: type) -> Any:
    if type(value) is not kind:
        raise TypeError(f"expected {kind.__name__}, got {value!r}")
    return value


def _entry_from_doc(doc: dict[str, Any]) -> Entry:
    kind = doc["type"]
    if kind == "dir":
        return DirEntry(path=_typed(doc["path"], str))
    if kind != "file":
        raise TypeError(f"unknown entry type {kind!r}")
    sha = _typed(doc["sha256"], str)
    if len(sha) != 64 or sha.strip("0123456789abcdef"):
        raise TypeError(f"bad sha256 {sha!r}")
    size = _typed(doc["size"], int)
    if size < 0:
        raise TypeError(f"negative size {size}")
    return FileEntry(
        path=_typed(doc["path"], str),
        size=size,
        mtime_ns=_typed(doc["mtime_ns"], int),
        readonly=_typed(doc["readonly"], bool),
        sha256=sha,
    )


def _delta_from_doc(doc: dict[str, Any]) -> DeltaInfo:
    return DeltaInfo(
        base_version=_typed(doc["base_version"], int),
        base_manifest_sha256=_typed(doc["base_manifest_sha256"], str),
        shipped=tuple(_typed(p, str) for p in doc["shipped"]),
        deleted=tuple(_typed(p, str) for p in doc["deleted"]),
    )

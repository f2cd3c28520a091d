"""The manifest: what one package version contains, stored as the last member of a PCK/DLT.

It is the contract between the packer and every reader: install checks each extracted file
against it, deltas are computed from it, and its SHA-256 binds a delta to its base. Anyone can
write a PCK into an inbox, so reading one is bounded (docs/limits.md): at most
`MAX_MANIFEST_BYTES` of JSON holding at most `MAX_JSON_VALUES` values, counted before it is
parsed, and at most `MAX_ENTRIES` entries.
"""

from __future__ import annotations

import json
import re
from typing import Any

import attrs

from sitesrv.lab.sizes import MAX_PACKAGE_FILES, size_text

MANIFEST_NAME = ".sitesrv-manifest.json"
MANIFEST_FORMAT = "sitesrv-pck-manifest/1"
MAX_ENTRIES = MAX_PACKAGE_FILES  # and as many shipped, and as many deleted paths
# 64 MiB: room for the most entries with paths of 100 characters on average, or for the
# default limits.package_files (100,000) with paths of 500.
MAX_MANIFEST_BYTES = 64 << 20
# A file entry is an object of 6 values, a folder one of 2; a delta lists paths again.
MAX_JSON_VALUES = 9 * MAX_ENTRIES + 16
# One JSON string (possessive, so no backtracking state piles up on a long one).
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_MARKS = (",", "[", "{")


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
    def from_json(cls, data: bytes | bytearray) -> Manifest:
        """Parse strictly; raises ValueError naming the first problem, whatever the bytes."""
        return cls.from_text(manifest_text(data))

    @classmethod
    def from_text(cls, text: str) -> Manifest:
        """Parse the decoded JSON strictly, as `from_json` does.

        The limits are checked before the JSON is parsed, and each entry becomes a FileEntry
        or DirEntry as soon as it is parsed, so the memory it costs is bounded by them.
        """
        _check_bounds(text)
        try:
            doc = json.loads(text, object_hook=_entry_from_doc)
        except json.JSONDecodeError as exc:
            raise ValueError(f"manifest is not valid JSON ({exc})") from None
        except RecursionError:
            raise ValueError("malformed manifest (its JSON is nested too deeply)") from None
        except ValueError as exc:  # e.g. a number of more than 4300 digits
            raise ValueError(f"malformed manifest ({exc})") from None
        except (KeyError, TypeError) as exc:  # from an entry, built while parsing
            raise ValueError(f"malformed manifest ({type(exc).__name__}: {exc})") from None
        try:
            if doc.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"unknown manifest format {_shown(doc.get('format'))}")
            delta = doc.get("delta")
            entries = _listed(doc["entries"], "entries")
            return cls(
                package_id=_typed(doc["package_id"], str),
                version=_typed(doc["version"], int),
                entries=tuple(_typed(e, (FileEntry, DirEntry)) for e in entries),
                delta=None if delta is None else _delta_from_doc(delta),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed manifest ({type(exc).__name__}: {exc})") from None


def _entry_doc(entry: Entry) -> dict[str, Any]:
    if isinstance(entry, DirEntry):
        return {"path": entry.path, "type": "dir"}
    return {"type": "file", **attrs.asdict(entry)}


def manifest_text(data: bytes | bytearray) -> str:
    """The manifest's JSON text; ValueError if it is too large or not UTF-8.

    A caller that passes a temporary frees the bytes before the text is parsed.
    """
    if len(data) > MAX_MANIFEST_BYTES:
        raise ValueError(f"manifest of {len(data)} bytes is larger than the "
                         f"{size_text(MAX_MANIFEST_BYTES)} a PCK or DLT may have (docs/limits.md)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"malformed manifest (UnicodeDecodeError: {exc})") from None


def _check_bounds(text: str) -> None:
    """Refuse a manifest over the limits before json builds one object of it."""
    if len(text) > MAX_MANIFEST_BYTES:  # UTF-8 takes at least a byte per character
        raise ValueError(f"manifest of {len(text)} characters is larger than the "
                         f"{size_text(MAX_MANIFEST_BYTES)} a PCK or DLT may have (docs/limits.md)")
    if _json_values(text) > MAX_JSON_VALUES:
        raise ValueError(f"manifest has more than {MAX_JSON_VALUES} JSON values, more than "
                         f"{MAX_ENTRIES} entries (the most a PCK or DLT may list) need "
                         "(docs/limits.md)")


def _json_values(text: str) -> int:
    """How many values the JSON holds at most: every one but the first follows a ',', '[' or
    '{'. Counted over all the text first; only if that is too many, outside strings alone."""
    count = 1 + sum(text.count(mark) for mark in _MARKS)
    if count <= MAX_JSON_VALUES:
        return count
    count, done = 1, 0
    for string in _JSON_STRING.finditer(text):
        count += sum(text.count(mark, done, string.start()) for mark in _MARKS)
        done = string.end()
        if count > MAX_JSON_VALUES:
            break
    return count + sum(text.count(mark, done) for mark in _MARKS)


def _listed(value: Any, name: str) -> list[Any]:
    if len(_typed(value, list)) > MAX_ENTRIES:
        raise ValueError(f"manifest lists {len(value)} {name}, more than the {MAX_ENTRIES} a "
                         "PCK or DLT may list (docs/limits.md)")
    return value


def _typed(value: Any, kind: type | tuple[type, ...]) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if type(value) not in kinds:
        names = " or ".join(k.__name__ for k in kinds)
        raise TypeError(f"expected {names}, got {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    """A value for a message, short whatever it is (a hostile one may be megabytes long)."""
    if not isinstance(value, str | int | float | bool | None):
        return f"a {type(value).__name__}"
    text = repr(value[:60] if isinstance(value, str) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def _entry_from_doc(doc: dict[str, Any]) -> Any:
    """json's object hook: an object with a `type` is an entry, built while the JSON is parsed
    (so its dict is freed at once); any other object stays a dict."""
    if "type" not in doc:
        return doc
    kind = doc["type"]
    if kind == "dir":
        return DirEntry(path=_typed(doc["path"], str))
    if kind != "file":
        raise TypeError(f"unknown entry type {_shown(kind)}")
    sha = _typed(doc["sha256"], str)
    if len(sha) != 64 or sha.strip("0123456789abcdef"):
        raise TypeError(f"bad sha256 {_shown(sha)}")
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
        shipped=tuple(_typed(p, str) for p in _listed(doc["shipped"], "shipped paths")),
        deleted=tuple(_typed(p, str) for p in _listed(doc["deleted"], "deleted paths")),
    )

"""Delta replication: `<PkgID>.DLT.<n>` holds the files changed since version n-1.

Granularity is the whole file, as in SMS 2003. A file counts as changed when its content
(SHA-256) changed; with `attribute_changes_count=True` a changed read-only flag or mtime
counts too, emulating DistMgr before the KB872943 fix. The DLT's manifest is the complete
manifest of version n, so merging always yields exactly the PCK a full pack would.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

from sitesrv.compression import known
from sitesrv.compression.container import ContainerReader, ContainerWriter
from sitesrv.compression.errors import BaseMissingError, CorruptError, WrongBaseError
from sitesrv.compression.manifest import DeltaInfo, DirEntry, Entry, FileEntry, Manifest
from sitesrv.compression.pck import (
    PackResult,
    add_source_item,
    check_ids,
    finished_identity,
    optional_path,
)
from sitesrv.compression.source import SourceItem, open_source_file, scan_source
from sitesrv.compression.trailer import Kind
from sitesrv.files.readonly import published_readonly

DELTA_WINDOW = 5


def needs_full_package(
    held_version: int | None, new_version: int, window: int = DELTA_WINDOW
) -> bool:
    """Whether a site holding `held_version` gets the whole PCK of `new_version`, not deltas.

    "More than five versions out of sync ... will receive the entire package": a site at
    most `window` versions behind (new - held <= window) gets DLT.held+1 .. DLT.new. A site
    with no version (None or 0), or one claiming a newer version than the source, gets the
    full package. A site already at `new_version` needs nothing, so this returns False.
    """
    if held_version is None or held_version < 1 or held_version > new_version:
        return True
    return new_version - held_version > window


def make_delta(
    base_pck: Path | str,
    source_dir: Path | str,
    dest_dlt: Path | str,
    package_id: str,
    version: int,
    *,
    level: int = 3,
    threads: int | None = None,
    attribute_changes_count: bool = False,
    temp_path: Path | str | None = None,
    durable: bool = False,
) -> PackResult:
    """Write `<PkgID>.DLT.<version>`: files added or changed since the base PCK (version-1).

    Only the base's manifest is read. Raises BaseMissingError if the base PCK is absent or
    holds another version, WrongBaseError if it is another package.
    """
    check_ids(package_id, version)
    if version < 2:
        raise ValueError("a delta needs a base version, so its version must be 2 or more")
    source = Path(source_dir)
    dest = Path(dest_dlt)
    with _open_base(Path(base_pck), package_id, version - 1) as base:
        base_manifest = base.manifest
        base_sha = base.trailer.manifest_sha256
    items = scan_source(source)
    base_files = {f.path: f for f in base_manifest.files}
    with published_readonly(dest, optional_path(temp_path), durable=durable) as fh:
        writer = ContainerWriter(fh, level=level, threads=threads)
        entries: list[Entry] = []
        shipped: list[str] = []
        for item in items:
            entry = _unchanged(source, item, base_files.get(item.path), attribute_changes_count)
            if entry is None:
                entry = add_source_item(writer, source, item)
                shipped.append(item.path)
            entries.append(entry)
        paths = {e.path for e in entries}
        delta = DeltaInfo(
            base_version=version - 1,
            base_manifest_sha256=base_sha.hex(),
            shipped=tuple(shipped),
            deleted=tuple(e.path for e in base_manifest.entries if e.path not in paths),
        )
        manifest = Manifest(package_id, version, tuple(entries), delta)
        writer.finish(manifest, base_manifest_sha256=base_sha)
        written = finished_identity(fh)
    known.remember(written, writer.file_sha256)
    return PackResult(dest, manifest, manifest.source_size, dest.stat().st_size)


def merge(
    base_pck: Path | str,
    delta_path: Path | str,
    dest_pck: Path | str,
    *,
    level: int = 3,
    threads: int | None = None,
    temp_path: Path | str | None = None,
    durable: bool = False,
) -> PackResult:
    """Apply a DLT to the PCK of the version before it, writing the new version's PCK.

    Streams both inputs and verifies them completely; `dest_pck` may be `base_pck` (the
    new PCK replaces the old one only once it is complete). Raises BaseMissingError /
    WrongBaseError when the base is not the one the delta needs, PckError for a bad file.
    """
    dest = Path(dest_pck)
    with contextlib.ExitStack() as inputs:
        delta = inputs.enter_context(ContainerReader(delta_path))
        delta.expect(kind=Kind.DLT)
        target = delta.manifest
        info = target.delta
        assert info is not None  # a DLT's manifest always has it (checked on reading)
        base_sha = bytes.fromhex(info.base_manifest_sha256)
        base = inputs.enter_context(
            _open_base(Path(base_pck), target.package_id, info.base_version, base_sha)
        )
        _check_delta_fits(delta.path, target, info, base.manifest)
        with published_readonly(dest, optional_path(temp_path), durable=durable) as fh:
            writer = ContainerWriter(fh, level=level, threads=threads)
            from_delta = delta.content()
            from_base = base.content()
            for reading in (from_delta, from_base):  # stop their read-ahead threads on errors
                inputs.callback(reading.close)
            shipped = set(info.shipped)
            for entry in target.entries:
                if isinstance(entry, DirEntry):
                    writer.add_dir(entry.path)
                    continue
                source = from_delta if entry.path in shipped else from_base
                chunks = next(chunks for found, chunks in source if found.path == entry.path)
                writer.add_file(entry.path, entry.size, entry.mtime_ns, entry.readonly, chunks)
            for rest in (from_delta, from_base):
                for _ in rest:  # runs the final checks of both inputs
                    pass
            manifest = Manifest(target.package_id, target.version, target.entries)
            writer.finish(manifest)
            written = finished_identity(fh)
            inputs.close()  # Windows cannot replace the base PCK while it is open
    known.remember_whole(written, writer.file_sha256, target.package_id, target.version)
    return PackResult(dest, manifest, manifest.source_size, dest.stat().st_size)


def _open_base(
    path: Path, package_id: str, base_version: int, manifest_sha: bytes | None = None
) -> ContainerReader:
    if not path.exists():
        raise BaseMissingError(path, package_id, base_version)
    base = ContainerReader(path)
    t = base.trailer
    found = f"{t.kind.name} of package {t.package_id} version {t.version}"
    problem: Exception | None = None
    if t.kind != Kind.PCK or t.package_id != package_id:
        problem = WrongBaseError(path, package_id, base_version, found)
    elif t.version != base_version:
        problem = BaseMissingError(path, package_id, base_version, found_version=t.version)
    elif manifest_sha is not None and t.manifest_sha256 != manifest_sha:
        problem = WrongBaseError(path, package_id, base_version, found + " with other content")
    if problem is not None:
        base.close()
        raise problem
    return base


def _unchanged(
    source: Path, item: SourceItem, base: FileEntry | None, attribute_changes_count: bool
) -> Entry | None:
    """The entry for `item` if the delta need not carry it, else None."""
    if item.is_dir:
        return DirEntry(item.path)
    if base is None:
        return None
    with open_source_file(source, item) as opened:
        attributes_changed = (opened.readonly, opened.mtime_ns) != (base.readonly, base.mtime_ns)
        if opened.size != base.size or (attribute_changes_count and attributes_changed):
            return None
        sha = hashlib.sha256()
        for chunk in opened.chunks:
            sha.update(chunk)
    if sha.hexdigest() != base.sha256:
        return None
    return FileEntry(item.path, opened.size, opened.mtime_ns, opened.readonly, base.sha256)


def _check_delta_fits(delta_path: Path, target: Manifest, info: DeltaInfo, base: Manifest) -> None:
    """Every file the delta does not carry must be in the base, byte for byte."""
    base_files = {f.path: f.sha256 for f in base.files}
    shipped = set(info.shipped)
    for entry in target.files:
        if entry.path not in shipped and base_files.get(entry.path) != entry.sha256:
            raise CorruptError(
                delta_path, f"{entry.path!r} is neither in the delta nor unchanged in the base"
            )
    paths = {e.path for e in target.entries}
    if list(info.deleted) != [e.path for e in base.entries if e.path not in paths]:
        raise CorruptError(delta_path, "the delta's list of deleted files does not fit its base")

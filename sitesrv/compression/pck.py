"""Packing a source folder into `<PkgID>.PCK`, and checking a PCK before anyone uses it."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

import attrs

from sitesrv.compression import known
from sitesrv.compression.container import ContainerReader, ContainerWriter
from sitesrv.compression.errors import PckError, UnsafeEntryError
from sitesrv.compression.manifest import DirEntry, Entry, FileEntry, Manifest
from sitesrv.compression.source import SourceItem, open_source_file, scan_source
from sitesrv.compression.trailer import Kind
from sitesrv.files.readonly import published_readonly
from sitesrv.lab.identifiers import check_package_id


@attrs.frozen
class PackResult:
    """What Distribution Manager logs and stores (`SourceSize`, `SourceCompSize`)."""

    path: Path
    manifest: Manifest
    source_size: int
    compressed_size: int

    @property
    def source_kbytes(self) -> int:
        """For "The size of package X is N KBytes" (rounded up, so 1 byte is 1 KByte)."""
        return -(-self.source_size // 1024)

    @property
    def compressed_kbytes(self) -> int:
        """For "The compressed size of package X is N KBytes"."""
        return -(-self.compressed_size // 1024)


def pack(
    source_dir: Path | str,
    dest_path: Path | str,
    package_id: str,
    version: int,
    *,
    level: int = 3,
    threads: int | None = None,
    temp_path: Path | str | None = None,
    durable: bool = False,
) -> PackResult:
    """Compress `source_dir` into a read-only PCK for (package_id, version).

    Streams: memory does not depend on the package size. `threads=None` uses every core.
    The file is written to `temp_path` (default `<dest>.sitesrv-tmp`, which must be on the
    same file system) and renamed over `dest_path`, replacing a read-only one.
    Raises UnsafeEntryError for links, devices, FIFOs and names that clash on Windows.
    """
    source = Path(source_dir)
    dest = Path(dest_path)
    check_ids(package_id, version)
    items = scan_source(source)
    with published_readonly(dest, optional_path(temp_path), durable=durable) as fh:
        writer = ContainerWriter(fh, level=level, threads=threads)
        entries = tuple(add_source_item(writer, source, item) for item in items)
        manifest = Manifest(package_id=package_id, version=version, entries=entries)
        writer.finish(manifest)
        written = finished_identity(fh)
    known.remember_whole(written, writer.file_sha256, package_id, version)
    return PackResult(dest, manifest, manifest.source_size, dest.stat().st_size)


def finished_identity(fh: BinaryIO) -> known.Identity:
    """The identity of a container just written: the rename into place and the read-only
    attribute keep it, so what the writer hashed is known under the final name too."""
    fh.flush()
    return known.identity(os.fstat(fh.fileno()))


def verify(
    path: Path | str, *, package_id: str | None = None, version: int | None = None
) -> Manifest:
    """Check a PCK or DLT completely; returns its manifest or raises a PckError saying why.

    Catches truncation, any flipped bit, a missing trailer, and (when given) another
    package or version. Raises FileNotFoundError if there is no such file.
    """
    with ContainerReader(path) as reader:
        reader.expect(package_id, version)
        return reader.verify()


@attrs.frozen
class Checked:
    """A file checked as a receiving site checks a PCK, and its SHA-256 from the same pass."""

    sha256: str  # hex, of the whole file
    manifest: Manifest | None  # None when it failed
    error: PckError | UnsafeEntryError | None

    def result(self) -> Manifest:
        """The manifest, or the PckError (or UnsafeEntryError) that the check raised."""
        if self.error is not None:
            raise self.error.with_traceback(None)
        assert self.manifest is not None
        return self.manifest


def check(path: Path | str, *, package_id: str | None = None,
          version: int | None = None) -> Checked:
    """The checks before a PCK is stored, and the whole file's SHA-256, in one read,
    remembered while the file is unchanged.

    The trailer, the manifest (its checksum, its entries) and the SHA-256 of the compressed
    body are checked (`ContainerReader.check_checksums`): a byte changed since packing is
    caught without decompressing. The content is decompressed, and each file's SHA-256
    checked, when it is installed onto a DP. The file is the body and the trailer, so its
    SHA-256 comes from the same read. A file that fails is hashed in a second pass. Asking
    again about an unchanged file (same device, inode, size, modification time) neither
    opens nor reads it: a Despooler asks at every retry of an instruction that waits for its
    package information. A file whose body this process checked or wrote before (its copy,
    as a Sender of this process made it) has its trailer and manifest checked, and its body
    is not read. Raises OSError (FileNotFoundError) if it cannot be read.
    """
    with contextlib.suppress(OSError):  # if it cannot be looked at, the reader says why
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            remembered = known.known_verdict(
                ("check", str(path), known.identity(st), package_id, version))
            if isinstance(remembered, Checked):
                return remembered
    try:
        reader = ContainerReader(path)
    except PckError as error:  # no usable trailer
        return Checked(known.file_sha256(path)[1], None, error)
    with reader:
        ident = known.identity(reader.stat)
        key = ("check", str(path), ident, package_id, version)  # errors name the path
        remembered = known.known_verdict(key)
        if isinstance(remembered, Checked):
            return remembered
        try:
            reader.expect(package_id, version)
            sha256 = _known_body(reader, ident)
            manifest = reader.manifest if sha256 is not None else reader.check_checksums()
        except (PckError, UnsafeEntryError) as error:  # a manifest entry that would escape
            checked = Checked(known.file_sha256(path)[1], None, error.with_traceback(None))
        else:
            checked = Checked(sha256 or reader.file_sha256(), manifest, None)
            if manifest.delta is None:
                known.remember_body(ident, checked.sha256, manifest.package_id, manifest.version)
            else:
                known.remember(ident, checked.sha256)
    known.remember_verdict(key, checked)
    return checked


def _known_body(reader: ContainerReader, ident: known.Identity) -> str | None:
    """The file's SHA-256 if this process already checked (or wrote) its compressed body as
    this package and version, unchanged since (compression.known): the file need not be read
    again. A copy the Sender made of such a file is known so too (its `_vouch_for_copy`)."""
    t = reader.trailer
    if known.known_pck(ident, t.package_id, t.version) is None:
        return None
    return known.known_sha256(ident)


def read_manifest(path: Path | str) -> Manifest:
    """The manifest of a PCK or DLT, checked against the trailer; the content is not read."""
    with ContainerReader(path) as reader:
        return reader.manifest


def add_source_item(writer: ContainerWriter, source_dir: Path, item: SourceItem) -> Entry:
    """Stream one scanned source entry into `writer`; returns its manifest entry."""
    if item.is_dir:
        writer.add_dir(item.path)
        return DirEntry(item.path)
    with open_source_file(source_dir, item) as opened:
        sha = writer.add_file(
            item.path, opened.size, opened.mtime_ns, opened.readonly, opened.chunks
        )
    return FileEntry(item.path, opened.size, opened.mtime_ns, opened.readonly, sha)


def open_pck(path: Path | str, package_id: str, version: int | None = None) -> ContainerReader:
    """Open a file that must be a PCK of `package_id` (and `version`, if given)."""
    reader = ContainerReader(path)
    try:
        reader.expect(package_id, version, Kind.PCK)
    except BaseException:
        reader.close()
        raise
    return reader


def check_ids(package_id: str, version: int) -> None:
    """Both end up in file names and in the trailer's fixed-size fields."""
    check_package_id(package_id)
    if not isinstance(version, int) or not 1 <= version < 2**32:
        raise ValueError(f"source version must be a positive integer, not {version!r}")


def optional_path(path: Path | str | None) -> Path | None:
    """Accept str paths from callers without turning None into Path('None')."""
    return None if path is None else Path(path)

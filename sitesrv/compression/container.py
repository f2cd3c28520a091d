"""The PCK/DLT container: a zstd-compressed tar body, a manifest frame and a trailer.

Layout (details in docs/formats.md): one zstd frame with the content members, one zstd frame
with the manifest member and the tar end blocks, then the trailer in a skippable frame. The
writer streams; the reader checks the trailer on open, reads the manifest from its own frame
without touching the content, and verifies the content while the caller consumes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import zstandard

from sitesrv.compression import known
from sitesrv.compression.entrysafety import path_problem, tree_problem
from sitesrv.compression.errors import (
    CorruptError,
    PackageMismatchError,
    TrailerError,
    UnsafeEntryError,
)
from sitesrv.compression.manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    DirEntry,
    Entry,
    FileEntry,
    Manifest,
    manifest_text,
)
from sitesrv.compression.readahead import ReadAhead
from sitesrv.compression.tarstream import (
    END_OF_ARCHIVE,
    MemberHeader,
    TarFormatError,
    TarReader,
    dir_header,
    file_header,
    padding,
)
from sitesrv.compression.trailer import TRAILER_SIZE, Kind, Trailer, decode_trailer
from sitesrv.files.regular import open_regular
from sitesrv.lab.sizes import size_text

CHUNK = 1 << 20
_READ_AHEAD_FROM = 4 << 20  # compressed body size from which content() decompresses ahead
NO_HASH = bytes(32)
# Levels above 19 need windows of up to 128 MiB to decompress; refusing them (and bigger
# windows in files we read) keeps every reader's memory small whatever the package size.
MAX_LEVEL = 19
MAX_WINDOW = 1 << 23
_MAX_TRAILING_ZEROS = 1 << 20
_JOB_SIZE = 2 << 20


class _HashingSink:
    """Counts and hashes every compressed byte on its way to the file."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.sha = hashlib.sha256()
        self.count = 0

    def write(self, data: bytes) -> int:
        self.fh.write(data)
        self.sha.update(data)
        self.count += len(data)
        return len(data)

    def flush(self) -> None:
        self.fh.flush()


class _HashingSource:
    """Reads at most `limit` bytes of the file, hashing them (unless `hashing` is off)."""

    def __init__(self, fh: BinaryIO, limit: int, *, hashing: bool = True) -> None:
        self.fh = fh
        self.sha = hashlib.sha256()
        self.hashing = hashing
        self.left = limit

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self.fh.read(size)
        if self.hashing:
            self.sha.update(data)
        self.left -= len(data)
        return data


class ContainerWriter:
    """Streams members into a new container; `finish` adds the manifest and the trailer."""

    def __init__(self, fh: BinaryIO, *, level: int = 3, threads: int | None = None) -> None:
        if not 1 <= level <= MAX_LEVEL:
            raise ValueError(f"compression level must be 1..{MAX_LEVEL}, not {level}")
        self._sink = _HashingSink(fh)
        self._settings = (level, -1 if threads is None else threads)
        self._cctx = _take_compressor(self._settings)
        self._content: zstandard.ZstdCompressionWriter | None = None
        self.file_sha256 = ""  # of the whole file, hex, once finished

    def _writer(self) -> zstandard.ZstdCompressionWriter:
        if self._content is None:
            self._content = self._cctx.stream_writer(self._sink, closefd=False)
        return self._content

    def add_dir(self, path: str) -> None:
        self._writer().write(dir_header(path))

    def add_file(
        self, path: str, size: int, mtime_ns: int, readonly: bool, chunks: Iterable[bytes]
    ) -> str:
        """Write one file member from `chunks` (exactly `size` bytes); returns its SHA-256."""
        writer = self._writer()
        writer.write(file_header(path, size, mtime_ns, readonly))
        sha = hashlib.sha256()
        written = 0
        for chunk in chunks:
            sha.update(chunk)
            writer.write(chunk)
            written += len(chunk)
        if written != size:
            raise ValueError(f"{path}: got {written} bytes, announced {size}")
        writer.write(padding(size))
        return sha.hexdigest()

    def finish(self, manifest: Manifest, base_manifest_sha256: bytes = NO_HASH) -> Trailer:
        """End the content frame, write the manifest frame and the trailer."""
        if self._content is not None:
            self._content.close()
        manifest_offset = self._sink.count
        data = manifest.to_json()
        with self._cctx.stream_writer(self._sink, closefd=False) as writer:
            writer.write(file_header(MANIFEST_NAME, len(data), 0, True))
            writer.write(data + padding(len(data)) + END_OF_ARCHIVE)
        trailer = Trailer(
            kind=Kind.PCK if manifest.delta is None else Kind.DLT,
            package_id=manifest.package_id,
            version=manifest.version,
            base_version=0 if manifest.delta is None else manifest.delta.base_version,
            manifest_offset=manifest_offset,
            body_length=self._sink.count,
            manifest_sha256=hashlib.sha256(data).digest(),
            body_sha256=self._sink.sha.digest(),
            base_manifest_sha256=base_manifest_sha256,
        )
        encoded = trailer.encode()
        self._sink.fh.write(encoded)
        whole = self._sink.sha.copy()
        whole.update(encoded)
        self.file_sha256 = whole.hexdigest()
        cctx = self._cctx
        del self._cctx  # the spare's now: a finished writer cannot reach it
        _keep_compressor(self._settings, cctx)
        return trailer


# Making a compressor (its tables zeroed, its worker threads started) costs more than
# compressing a small package with it: the one a finished writer used is kept for the next
# writer with the same settings (level, threads), one writer at a time. A compressor gives
# the same bytes whether new or used before. It is freed before a fork: the child would have
# the object but not its threads.
_spare: tuple[tuple[int, int], zstandard.ZstdCompressor] | None = None
SPARE_BYTES = 32 * 2**20  # the most a kept compressor may hold (`memory_size()`)
_spare_lock = threading.Lock()


def _take_compressor(settings: tuple[int, int]) -> zstandard.ZstdCompressor:
    """The spare compressor if it has these settings, else a new one. threads=-1 uses every
    core. With a fixed job size zstd's multi-threaded output does not depend on the number of
    workers, so a tree gives the same bytes on any machine; 2 MiB jobs keep its buffers near
    30 MiB (the default, 4 windows, costs ~90 MiB)."""
    global _spare
    with _spare_lock:
        spare, _spare = _spare, None
    if spare is not None and spare[0] == settings:
        return spare[1]
    level, threads = settings
    params = zstandard.ZstdCompressionParameters.from_level(
        level, threads=threads, job_size=_JOB_SIZE, write_checksum=True)
    return zstandard.ZstdCompressor(compression_params=params)


def _keep_compressor(settings: tuple[int, int], cctx: zstandard.ZstdCompressor) -> None:
    """Keep a compressor whose last frame has ended, in place of the spare, unless it holds
    more than `SPARE_BYTES`: its buffers grow with the largest pack it made and with the
    cores (a worker context each), and such a pack costs far more than making one."""
    global _spare
    kept = (settings, cctx) if cctx.memory_size() <= SPARE_BYTES else None
    with _spare_lock:
        _spare = kept


def _drop_spare() -> None:
    """Free the spare compressor and its worker threads (before a fork; tests)."""
    global _spare
    with _spare_lock:
        _spare = None


if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork
    os.register_at_fork(before=_drop_spare)


class ContainerReader:
    """An open PCK or DLT. Opening checks the trailer; nothing else is trusted until verified."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._fh = open_regular(self.path)  # closed by close(); never a FIFO or a link
        try:
            self.stat = os.fstat(self._fh.fileno())  # before anything is read
            size = self.stat.st_size
            self._fh.seek(max(size - TRAILER_SIZE, 0))
            self._trailer_bytes = self._fh.read(TRAILER_SIZE)
            self.trailer = decode_trailer(self._trailer_bytes, size)
        except ValueError as exc:
            self._fh.close()
            raise TrailerError(self.path, str(exc)) from None
        except BaseException:
            self._fh.close()
            raise
        self._manifest: Manifest | None = None
        self._body: _HashingSource | None = None  # once the body's checksum was checked
        self._mismatched = False  # in `content`: a file's SHA-256 differed
        # Made when the body is first read: a reader whose manifest is remembered (a retry's
        # look, a Sender's version check) never needs one, and each costs about 8 us.
        self._dctx: zstandard.ZstdDecompressor | None = None

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> ContainerReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def expect(
        self, package_id: str | None = None, version: int | None = None, kind: Kind | None = None
    ) -> None:
        """Refuse a file that holds another package, version or kind than the caller wants."""
        t = self.trailer
        problem = None
        if package_id is not None and t.package_id != package_id:
            problem = f"holds package {t.package_id}, expected {package_id}"
        elif version is not None and t.version != version:
            problem = f"holds version {t.version} of package {t.package_id}, expected {version}"
        elif kind is not None and t.kind != kind:
            problem = f"is a {t.kind.name} file, expected a {kind.name} file"
        if problem:
            raise PackageMismatchError(self.path, problem)

    @property
    def manifest(self) -> Manifest:
        """The manifest, read from its own frame and checked against the trailer; taken from
        memory for the very file read before, unchanged (its identity, its status change time
        and its trailer: compression.known), as a DP install reads the PCK a Sender or another
        install read."""
        if self._manifest is None:
            key = (*known.identity(self.stat), self.stat.st_ctime_ns, self._trailer_bytes)
            manifest = known.known_manifest(key)
            if manifest is None:
                manifest = self._read_manifest()
                known.remember_manifest(key, manifest)
            self._manifest = manifest
        return self._manifest

    def _read_manifest(self) -> Manifest:
        """The manifest as the file holds it, checked against the trailer.

        A small manifest frame is read whole first: the same compressed bytes under the same
        trailer decode and check to the same manifest (compression.known), as each site's
        copy of a PCK, renamed on its way from the Despooler to a DP, has."""
        t = self.trailer
        size = t.body_length - t.manifest_offset
        self._fh.seek(t.manifest_offset)
        if size > known.FRAME_BYTES:
            return self._decode_manifest(self._fh, size)
        frame = self._fh.read(size)
        key = (frame, self._trailer_bytes)
        manifest = known.known_frame(key)
        if manifest is None:
            manifest = self._decode_manifest(io.BytesIO(frame), size)
            known.remember_frame(key, manifest)
        return manifest

    def _decode_manifest(self, fh: BinaryIO, size: int) -> Manifest:
        """The manifest in the `size` bytes of the manifest frame that `fh` reads next."""
        source = _HashingSource(fh, size, hashing=False)
        try:
            with _damage_is_corruption(self.path), self._stream(source) as reader:
                tar = TarReader(reader.read)
                # Temporaries: the bytes are freed once decoded, the text once parsed.
                manifest = Manifest.from_text(
                    manifest_text(self._manifest_member(tar, tar.next_member())))
        except ValueError as exc:
            raise CorruptError(self.path, str(exc)) from None
        self._check_manifest(manifest)
        return manifest

    def content(self, *, trust_known: bool = False) -> Iterator[tuple[Entry, Iterator[bytes]]]:
        """Each content member with its data, in manifest order, verified as it is consumed.

        A file's chunks raise CorruptError at their end if the SHA-256 differs; the generator
        raises at its end unless the manifest member, the tar end and the body checksum all
        match. Data the caller does not consume is still read and checked. With `trust_known`,
        a PCK this process wrote whole (packed, merged) since it last changed (compression.known)
        is not hashed again, and one whose compressed body it checked has only its files hashed:
        the entries, the tar framing and the manifest still are checked. A full PCK whose every
        file was hashed, and held, is then known WHOLE.
        """
        manifest = self.manifest
        expected: Iterable[Entry] = manifest.entries
        if manifest.delta is not None:
            shipped = set(manifest.delta.shipped)
            expected = [f for f in manifest.files if f.path in shipped]
        t = self.trailer
        ident = known.identity(self.stat)
        knows = (known.known_pck(ident, t.package_id, t.version)
                 if trust_known and manifest.delta is None else None)
        hashing = knows != known.WHOLE
        body_hashing = knows is None
        self._mismatched = False  # a caller may catch a file's error and read on: never WHOLE
        self._fh.seek(0)
        source = _HashingSource(self._fh, self.trailer.body_length, hashing=body_hashing)
        with _damage_is_corruption(self.path), self._stream(source) as reader:
            # A thread pays off for big bodies only: for a small one, starting it and handing
            # chunks over cost more than the decompression (1,000 threads for 250 packages).
            ahead = (ReadAhead(reader.read, CHUNK)
                     if self.trailer.body_length >= _READ_AHEAD_FROM else None)
            read = ahead.read if ahead is not None else reader.read
            try:
                tar = TarReader(read)
                for entry in expected:
                    self._check_member(tar.next_member(), entry)
                    is_file = isinstance(entry, FileEntry)
                    chunks = self._file_data(tar, entry, hashing) if is_file else iter(())
                    yield entry, chunks
                    for _ in chunks:  # whatever the caller left unread
                        pass
                self._manifest_member(tar, tar.next_member())
                if tar.next_member() is not None:
                    raise CorruptError(self.path, "unexpected member after the manifest")
                trailing = 0
                while data := read(CHUNK):
                    trailing += len(data)
                    if data.strip(b"\0") or trailing > _MAX_TRAILING_ZEROS:
                        raise CorruptError(
                            self.path, "unexpected data after the end of the archive"
                        )
            finally:
                if ahead is not None:
                    ahead.close()
            source.read()
        if body_hashing:
            self._check_body(source)
        if hashing and manifest.delta is None and not self._mismatched:
            digest = self.file_sha256() if body_hashing else known.known_sha256(ident)
            if digest is not None:
                known.remember_whole(ident, digest, t.package_id, t.version)

    def _check_body(self, source: _HashingSource) -> None:
        """The body read through `source` matches the trailer's SHA-256 (else CorruptError)."""
        if source.sha.digest() != self.trailer.body_sha256:
            raise CorruptError(
                self.path, "checksum mismatch: the file is damaged (SHA-256 of the body differs)"
            )
        self._body = source

    def verify(self) -> Manifest:
        """Read everything and check every checksum; returns the verified manifest."""
        for _entry, _chunks in self.content():
            pass
        return self.manifest

    def check_checksums(self) -> Manifest:
        """The trailer, the manifest and the SHA-256 of the compressed body, without
        decompressing the content; returns the checked manifest.

        What a receiving site checks before it stores a PCK: any byte changed since the file
        was packed is caught, as a file damaged on the way or in a package store. Each file's
        SHA-256 is checked when the content is decompressed onto a DP (`content`).
        """
        manifest = self.manifest
        self._fh.seek(0)
        source = _HashingSource(self._fh, self.trailer.body_length)
        while source.read(CHUNK):
            pass
        self._check_body(source)
        return manifest

    def file_sha256(self) -> str:
        """The SHA-256 (hex) of the whole file as read, after `verify`, `check_checksums` or a
        consumed `content`.

        The body was hashed on its way to the decoder and the trailer is the rest of the file
        (the trailer says so, and opening checked it), so nothing is read again.
        """
        if self._body is None:
            raise RuntimeError("the content has not been read and checked yet")
        whole = self._body.sha.copy()
        whole.update(self._trailer_bytes)
        return whole.hexdigest()

    def _stream(self, source: _HashingSource) -> zstandard.ZstdDecompressionReader:
        if self._dctx is None:
            self._dctx = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
        return self._dctx.stream_reader(source, read_across_frames=True, closefd=False)

    def _manifest_member(self, tar: TarReader, member: MemberHeader | None) -> bytearray:
        if member is None or member.name != MANIFEST_NAME or not member.is_file:
            raise CorruptError(self.path, "the manifest is missing")
        if member.size > MAX_MANIFEST_BYTES:
            raise CorruptError(self.path, f"manifest of {member.size} bytes is larger than the "
                                          f"{size_text(MAX_MANIFEST_BYTES)} a PCK or DLT may "
                                          "have (docs/limits.md)")
        data = bytearray(member.size)  # filled in place: joining chunks would hold it twice
        done = 0
        for chunk in tar.data(CHUNK):
            data[done:done + len(chunk)] = chunk
            done += len(chunk)
        if hashlib.sha256(data).digest() != self.trailer.manifest_sha256:
            raise CorruptError(self.path, "the manifest does not match its checksum")
        return data

    def _check_member(self, member: MemberHeader | None, entry: Entry) -> None:
        if member is None:
            raise CorruptError(self.path, f"archive ends before {entry.path!r}")
        problem = path_problem(member.name)
        if problem:
            raise UnsafeEntryError(self.path, member.name, problem)
        if not (member.is_file or member.is_dir):
            raise UnsafeEntryError(self.path, member.name, member.kind)
        is_file = isinstance(entry, FileEntry)
        if member.name != entry.path or member.is_file != is_file:
            raise CorruptError(
                self.path,
                f"found {member.kind} {member.name!r} where the manifest has "
                f"{'file' if is_file else 'folder'} {entry.path!r}",
            )
        if is_file and member.size != entry.size:
            raise CorruptError(
                self.path, f"{entry.path!r} has {member.size} bytes, manifest says {entry.size}"
            )

    def _file_data(self, tar: TarReader, entry: FileEntry, hashing: bool) -> Iterator[bytes]:
        sha = hashlib.sha256()
        with _damage_is_corruption(self.path):
            for chunk in tar.data(CHUNK):
                if hashing:
                    sha.update(chunk)
                yield chunk
        if hashing and sha.hexdigest() != entry.sha256:
            self._mismatched = True
            raise CorruptError(self.path, f"{entry.path!r} does not match its SHA-256")

    def _check_manifest(self, manifest: Manifest) -> None:
        t = self.trailer
        delta = manifest.delta
        mismatch = (
            manifest.package_id != t.package_id
            or manifest.version != t.version
            or (delta is None) != (t.kind == Kind.PCK)
            or (delta is None and (t.base_version, t.base_manifest_sha256) != (0, NO_HASH))
            or (
                delta is not None
                and (delta.base_version, delta.base_manifest_sha256)
                != (t.base_version, t.base_manifest_sha256.hex())
            )
        )
        if mismatch:
            raise CorruptError(self.path, "the manifest does not match the trailer")
        paths = [e.path for e in manifest.entries]
        for path in paths:
            problem = path_problem(path)
            if problem:
                raise UnsafeEntryError(self.path, path, problem)
        clash = tree_problem((e.path, isinstance(e, DirEntry)) for e in manifest.entries)
        if clash:
            raise UnsafeEntryError(self.path, *clash)
        if paths != sorted(paths):
            raise CorruptError(self.path, "manifest entries are not sorted by path")
        if delta is not None:
            files = {f.path for f in manifest.files}
            shipped, deleted = list(delta.shipped), list(delta.deleted)
            if shipped != sorted(set(shipped)) or not files.issuperset(shipped):
                raise CorruptError(self.path, "the delta's list of shipped files is inconsistent")
            if deleted != sorted(set(deleted)) or set(deleted) & set(paths):
                raise CorruptError(self.path, "the delta's list of deleted files is inconsistent")


@contextlib.contextmanager
def _damage_is_corruption(path: Path) -> Iterator[None]:
    """Turn decoder and tar errors into a CorruptError naming the file."""
    try:
        yield
    except zstandard.ZstdError:  # its words are the decoder's, not for a site server's log
        raise CorruptError(path, "damaged compressed data") from None
    except TarFormatError as exc:
        raise CorruptError(path, str(exc)) from None

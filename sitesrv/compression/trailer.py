"""The fixed-size trailer that ends every PCK/DLT, inside a zstd skippable frame.

A file without a valid trailer is truncated or foreign (the Postfix "END record" rule). The
trailer carries what a reader needs before it decompresses anything: which package and version
this is, where the manifest frame starts, and SHA-256s of the manifest and of every byte before
the trailer, so any flipped bit is caught. zstd and tar skip the frame, so `tar --zstd -xf`
still reads the file. The byte layout is documented in docs/formats.md.
"""

from __future__ import annotations

import enum
import hashlib
import struct

import attrs

SKIPPABLE_MAGIC = 0x184D2A5E
TRAILER_MAGIC = b"SSRVTRLR"
FORMAT_VERSION = 1
# magic, format version, kind, reserved, package ID, version, base version, reserved,
# manifest offset, body length, total length, manifest SHA-256, body SHA-256, base manifest SHA-256
_FIELDS = struct.Struct("<8sHBB16sIII QQQ 32s32s32s")
PAYLOAD_SIZE = _FIELDS.size + 32  # + SHA-256 of the fields above
TRAILER_SIZE = 8 + PAYLOAD_SIZE
_FRAME_HEADER = struct.Struct("<II")


class Kind(enum.IntEnum):
    PCK = 1
    DLT = 2


@attrs.frozen
class Trailer:
    """What the trailer says about the file it ends."""

    kind: Kind
    package_id: str
    version: int
    base_version: int
    manifest_offset: int
    body_length: int
    manifest_sha256: bytes
    body_sha256: bytes
    base_manifest_sha256: bytes

    @property
    def total_length(self) -> int:
        return self.body_length + TRAILER_SIZE

    def encode(self) -> bytes:
        fields = _FIELDS.pack(
            TRAILER_MAGIC,
            FORMAT_VERSION,
            self.kind,
            0,
            self.package_id.encode("ascii"),
            self.version,
            self.base_version,
            0,
            self.manifest_offset,
            self.body_length,
            self.total_length,
            self.manifest_sha256,
            self.body_sha256,
            self.base_manifest_sha256,
        )
        payload = fields + hashlib.sha256(fields).digest()
        return _FRAME_HEADER.pack(SKIPPABLE_MAGIC, PAYLOAD_SIZE) + payload


def decode_trailer(data: bytes, file_size: int) -> Trailer:
    """Parse the last TRAILER_SIZE bytes of a file; raises ValueError saying what is wrong."""
    if len(data) != TRAILER_SIZE:
        raise ValueError("file is too short to hold a trailer (truncated, or not a PCK/DLT file)")
    magic, size = _FRAME_HEADER.unpack_from(data)
    payload = data[8:]
    if magic != SKIPPABLE_MAGIC or size != PAYLOAD_SIZE or payload[:8] != TRAILER_MAGIC:
        raise ValueError("no trailer at the end of the file (truncated, or not a PCK/DLT file)")
    fields, checksum = payload[:-32], payload[-32:]
    if hashlib.sha256(fields).digest() != checksum:
        raise ValueError("the trailer is damaged (its checksum does not match)")
    (
        _,
        fmt,
        kind,
        _,
        pkg,
        version,
        base_version,
        _,
        manifest_offset,
        body_length,
        total,
        manifest_sha,
        body_sha,
        base_sha,
    ) = _FIELDS.unpack(fields)
    if fmt != FORMAT_VERSION:
        raise ValueError(f"unsupported format version {fmt} (this sitesrv reads {FORMAT_VERSION})")
    if kind not in set(Kind):
        raise ValueError(f"unknown container kind {kind}")
    if total != file_size or body_length + TRAILER_SIZE != total or manifest_offset > body_length:
        raise ValueError(
            f"the file has {file_size} bytes but its trailer says {total} "
            "(truncated in the middle, or bytes added)"
        )
    return Trailer(
        kind=Kind(kind),
        package_id=pkg.rstrip(b"\0").decode("ascii", "replace"),
        version=version,
        base_version=base_version,
        manifest_offset=manifest_offset,
        body_length=body_length,
        manifest_sha256=manifest_sha,
        body_sha256=body_sha,
        base_manifest_sha256=base_sha,
    )

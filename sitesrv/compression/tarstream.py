"""Just enough POSIX (PAX) tar to write our members and to read any tar back strictly.

We write with `tarfile.TarInfo.tobuf` so the stream is standard (`tar -x` reads it), and read
with our own loop over `TarInfo.frombuf` instead of `tarfile.open`: tarfile silently treats a
damaged header as the end of the archive and reads in 10 KiB steps, and we want neither.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterator

import attrs

BLOCK = 512
END_OF_ARCHIVE = bytes(2 * BLOCK)
_MAX_PAX_HEADER = 1 << 20
# A decimal number in a PAX header: ASCII digits only (str.isdigit also accepts '²' and '٣'),
# and no more of them than any real size needs (int() refuses more than 4300 digits anyway).
_MAX_DIGITS = 20
_HEADERS_REMEMBERED = 256  # parsed header blocks (512 bytes each) kept by `_header`
# Threads share it: a get, a set and a clear are each atomic, and its values are immutable.
_headers: dict[bytes, tuple[bytes, int, str, bool]] = {}
_TYPE_NAMES = {
    tarfile.SYMTYPE: "symbolic link",
    tarfile.LNKTYPE: "hard link",
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "FIFO",
}


class TarFormatError(ValueError):
    """The decompressed stream is not the tar we expect."""


def padding(size: int) -> bytes:
    return bytes(-size % BLOCK)


def file_header(path: str, size: int, mtime_ns: int, readonly: bool) -> bytes:
    info = tarfile.TarInfo(path)
    info.size = size
    info.mtime = mtime_ns // 1_000_000_000
    info.mode = 0o444 if readonly else 0o644
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")


def dir_header(path: str) -> bytes:
    info = tarfile.TarInfo(path)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")


@attrs.frozen
class MemberHeader:
    """One member as read: its final name (PAX applied) and what kind of thing it is."""

    name: str
    type: bytes
    size: int

    @property
    def is_file(self) -> bool:
        return self.type in (tarfile.REGTYPE, tarfile.AREGTYPE)

    @property
    def is_dir(self) -> bool:
        return self.type == tarfile.DIRTYPE

    @property
    def kind(self) -> str:
        if self.is_file:
            return "file"
        if self.is_dir:
            return "folder"
        return _TYPE_NAMES.get(self.type, f"unsupported tar member type {self.type!r}")


class TarReader:
    """Reads members one by one from `read(n)` (which returns up to n bytes, b'' at the end)."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self._left = 0  # data bytes of the current member not yet read
        self._pad = 0

    def read_exact(self, n: int) -> bytes:
        parts = []
        while n > 0:
            data = self._read(n)
            if not data:
                raise TarFormatError("unexpected end of data")
            parts.append(data)
            n -= len(data)
        return b"".join(parts)

    def next_member(self) -> MemberHeader | None:
        """The next member's header, or None at the end-of-archive block."""
        self.skip_data()
        pax: dict[str, str] = {}
        while True:
            block = self.read_exact(BLOCK)
            if block == bytes(BLOCK):
                if pax:
                    raise TarFormatError("PAX header not followed by a member")
                return None
            kind, size, name, is_dir = _header(block)
            if kind != tarfile.XHDTYPE:
                break
            if size > _MAX_PAX_HEADER:
                raise TarFormatError(f"PAX header of {size} bytes is too large")
            pax.update(_parse_pax(self.read_exact(size + len(padding(size)))[:size]))
        if "path" in pax:
            name = pax["path"]
        if "size" in pax:
            if not _is_decimal(pax["size"]):
                raise TarFormatError(f"bad PAX size {_shorten(pax['size'])!r}")
            size = int(pax["size"])
        if size < 0:
            raise TarFormatError(f"negative size {size} in the header of member {name!r}")
        if pax.get("hdrcharset") == "BINARY" or any(k.startswith("GNU.sparse") for k in pax):
            raise TarFormatError(f"unsupported PAX header in member {name!r}")
        member = MemberHeader(name.rstrip("/") if is_dir else name, kind, size)
        self._left = size if member.is_file else 0
        self._pad = len(padding(self._left))
        return member

    def data(self, chunk_size: int) -> Iterator[bytes]:
        """The current member's data, in chunks of at most chunk_size bytes."""
        while self._left:
            chunk = self._read(min(self._left, chunk_size))
            if not chunk:
                raise TarFormatError("unexpected end of data inside a member")
            self._left -= len(chunk)
            yield chunk
        if self._pad:
            self.read_exact(self._pad)
            self._pad = 0

    def skip_data(self) -> None:
        for _ in self.data(1 << 20):
            pass


def _header(block: bytes) -> tuple[bytes, int, str, bool]:
    """A header block's type, size, name and whether it is a folder, as `TarInfo.frombuf` reads
    them; TarFormatError if it cannot.

    Remembered by the block's bytes, which are all the answer depends on: the same members are
    read again and again (a PCK's manifest at each site's check, its files at each DP install),
    and `frombuf` takes about 20 us a block. A changed byte is another key.
    """
    found = _headers.get(block)
    if found is None:
        try:
            info = tarfile.TarInfo.frombuf(block, "utf-8", "strict")
        except (tarfile.HeaderError, UnicodeDecodeError, ValueError):
            raise TarFormatError("invalid tar header") from None
        found = (info.type, info.size, info.name, info.isdir())
        if len(_headers) >= _HEADERS_REMEMBERED:
            _headers.clear()
        _headers[block] = found
    return found


def _parse_pax(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        length_text = data[pos:space]
        if space < 0 or not _is_decimal(length_text):
            raise TarFormatError("malformed PAX record")
        end = pos + int(length_text)
        record = data[space + 1 : end]
        if end > len(data) or not record.endswith(b"\n") or b"=" not in record:
            raise TarFormatError("malformed PAX record")
        key, _, value = record[:-1].partition(b"=")
        try:
            records[key.decode("utf-8")] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise TarFormatError("PAX record is not UTF-8") from None
        pos = end
    return records


def _is_decimal(text: str | bytes) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS


def _shorten(text: str) -> str:
    return text if len(text) <= 40 else text[:40] + "..."

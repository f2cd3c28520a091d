"""Reading one send request file without disturbing the Sender that may be working on it.

The file is opened read-only, never locked, renamed or written, and read in one go with the
size bound of every instruction file (docs/limits.md), so a live lab's Sender can rename `.srq`
to `.srs` or replace it while we look. What was read is parsed by sitesrv's own reader
(`sitesrv.formats.srq`), which checks the framing and every value; the records are then located
in the bytes, because DumpSend shows each record's length and the records it does not parse.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import attrs

from sitesrv.formats import srq

SUFFIXES = (srq.SRQ, srq.SRS)
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_BINARY", 0)  # no newline translation on Windows
               | getattr(os, "O_NONBLOCK", 0)  # a FIFO under a request's name must not hang us
               | getattr(os, "O_NOFOLLOW", 0))  # a link swapped in after the check is refused
LINK = ("it is a symbolic link, which dumpsend does not follow, as sitesrv never follows one in "
        "an inbox (docs/limits.md); dump the file it points to if you trust it")


class NotARequestFile(Exception):
    """The path is there but holds no file to read: a link, a folder, a FIFO, a device."""


@attrs.frozen
class RawRecord:
    """A `[NAME]` section as it stands in the file: where it starts, its size, its keys."""

    name: str  # normalised as the reader compares names: upper case, single spaces
    line: int
    length: int  # bytes, from its header line to the next header (blank lines included)
    keys: tuple[tuple[str, str], ...]  # (key as written, value), in file order


@attrs.frozen
class RequestFile:
    """A send request as read: the path, the parsed request and the records in file order."""

    path: Path
    request: srq.SendRequest
    records: tuple[RawRecord, ...]

    @property
    def suffix(self) -> str:
        return self.path.suffix.lower()


def is_request_name(name: str) -> bool:
    """A `.srq` or `.srs` in any case (Q123221 shows `1_2zybpc.srs`), but never a temp name."""
    return not name.startswith(".") and name.lower().endswith(SUFFIXES)


def read_request_file(path: Path) -> RequestFile:
    """Read and parse one send request.

    Raises FileNotFoundError if it is gone, NotARequestFile for a symbolic link (which may point
    anywhere, outside the lab too), a folder or another special file, FormatError (with the line at fault) for a file sitesrv's reader refuses or one over
    the size limit, and OSError for what else stops the read.
    """
    limits = srq.LAYOUT.limits
    if path.is_symlink():
        raise NotARequestFile(LINK)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as e:
        if e.errno == errno.ELOOP:  # O_NOFOLLOW met a link made since the check
            raise NotARequestFile(LINK) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotARequestFile("it is a folder" if stat.S_ISDIR(info.st_mode)
                                  else "it is not a regular file")
        limits.check_size(info.st_size, path, srq.LAYOUT.kind)
        data = _read_up_to(fd, limits.file_bytes + 1)  # grown meanwhile: decode refuses it
    finally:
        os.close(fd)
    request = srq.decode(data, path)
    return RequestFile(path, request, tuple(scan_records(data)))


def _read_up_to(fd: int, limit: int) -> bytes:
    chunks = []
    while limit > 0:
        chunk = os.read(fd, min(limit, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        limit -= len(chunk)
    return b"".join(chunks)


def scan_records(data: bytes) -> list[RawRecord]:
    """The sections of a file that `srq.decode` accepted, with their line and byte length.

    Runs only on accepted files, so every non-blank line before `[END]` is a header or a
    `Key=Value` line, and nothing but blank lines follows `[END]`. Lines end at LF, as for the
    reader (a CR before it is white space); LF is never part of a UTF-8 sequence, so the bytes
    split where the text does. Blank lines before the first header belong to no record.
    """
    lines = data.split(b"\n")
    sizes = [len(raw) + 1 for raw in lines]
    sizes[-1] -= 1  # the last line has no LF
    texts = [raw.decode("utf-8") for raw in lines]
    texts[0] = texts[0].removeprefix("\ufeff")  # as the reader, which allows one at the start
    texts = [text.strip() for text in texts]
    starts = [i for i, text in enumerate(texts) if len(text) >= 2 and text[0] + text[-1] == "[]"]
    records = []
    for start, end in zip(starts, [*starts[1:], len(lines)], strict=True):
        pairs = (text.partition("=") for text in texts[start + 1:end])
        records.append(RawRecord(
            name=" ".join(texts[start][1:-1].split()).upper(), line=start + 1,
            length=sum(sizes[start:end]),
            keys=tuple((key.strip(), value.strip()) for key, equals, value in pairs if equals)))
    return records

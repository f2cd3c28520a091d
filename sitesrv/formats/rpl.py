"""`replmgr.box\\ready\\<jobid>.RPL`: a replication batch, the objects of one destination and priority.

Replication Manager packs the objects other components queued for a site (`.PKG` package
information, `.STA` package status) into one batch per destination and priority, and hands it to the
Scheduler as the transfer root of an "Inter Site Replication" job (docs/sources.md#mckinney). At the
destination the Despooler moves it into `replmgr.box\\incoming`, and Replication Manager unpacks
each object into its inbox. The batch carries the sending site's transaction ID, which the receiver
checks against `replmgr.box\\history\\<site>.trs` (Q288970).

An object's bytes are written on one line, escaped so the file stays readable text: `\\n`,
`\\r`, `\\t`, `\\\\`, and `\\xHH` for any byte that is not printable UTF-8 (and for white space
at either end of the value, which the reader would strip). `Size` and `SHA256` of the bytes
guard against hand edits and damaged copies.

A batch has limits of its own (`LIMITS`, docs/limits.md): any object an inbox accepts fits in
one, and `fill` keeps a backlog of objects within them, so a batch is never refused for its size
unless someone else wrote it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import attrs

from sitesrv.formats.sections import (
    INSTRUCTION_LIMITS,
    INTEGER,
    ISO_TIME,
    Codec,
    Key,
    Layout,
    ReadLimits,
    many,
    one,
)
from sitesrv.formats.values import (
    JOB_ID,
    LARGEST_COUNT,
    PRIORITY,
    SITE_CODE,
    TIMESTAMP,
    Check,
    number,
    pattern,
    to_millis,
)

EXTENSION = ".RPL"
MAX_OBJECTS = 10_000
# An object is an instruction file (within INSTRUCTION_LIMITS), and escaping writes at most 4
# characters per byte; the rest is room for the [REPLICATION BATCH] header and each object's
# Name, Size and SHA256 lines.
LIMITS = ReadLimits(file_bytes=4 * INSTRUCTION_LIMITS.file_bytes + (2 << 20), lines=65_536,
                    sections=1 + MAX_OBJECTS)
_OBJECT_ROOM = 256  # bytes of an [OBJECT] section beside its Name and Data values
_HEADER_ROOM = 1024  # bytes of the [REPLICATION BATCH] section and [END]
_SURROGATE_BYTES = range(0xDC80, 0xDD00)  # bytes that are not UTF-8, as surrogateescape keeps them
_SIMPLE = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNSIMPLE = {"\\": b"\\", "n": b"\n", "r": b"\r", "t": b"\t"}
# What escape() rewrites: the simple escapes, control characters (Unicode category Cc), line and
# paragraph separators (Zl, Zp) and bytes that are not UTF-8 (surrogateescape's U+DC80-U+DCFF).
_NEEDS_ESCAPE = re.compile("[\\\\\x00-\x1f\x7f-\x9f\u2028\u2029\udc80-\udcff]")
# The same, less the simple escapes, which `escape` writes with str.replace first.
_NEEDS_HEX = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\udc80-\udcff]")
# The ASCII characters among them, as bytes: all it can find in the text of ASCII bytes.
_ASCII_HEX = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
# One escape as unescape() reads it; neither group set: a bad escape.
_ESCAPE = re.compile(r"\\(?:([\\nrt])|x([0-9A-Fa-f]{2})|)")
# The same in the text's UTF-8 bytes (a backslash byte is a backslash there), and the bytes each
# good escape stands for.
_ESCAPE_BYTES = re.compile(rb"\\(?:[\\nrt]|x[0-9A-Fa-f]{2}|)")
_ONE_PASS_LONGEST = 64 << 10
_HEX_DIGITS = "0123456789abcdefABCDEF"
_ESCAPED = {f"\\{k}".encode(): v for k, v in _UNSIMPLE.items()} | {
    f"\\x{a}{b}".encode(): bytes([int(a + b, 16)]) for a in _HEX_DIGITS for b in _HEX_DIGITS}


def escape(data: bytes) -> str:
    """The bytes as one line of text that `unescape` turns back into exactly these bytes."""
    text = data.decode("utf-8", errors="surrogateescape")
    head = tail = ""
    if text and text[0].isspace() and not _NEEDS_ESCAPE.match(text[0]):
        head, text = _hex(text[0]), text[1:]
    if text and text[-1].isspace() and not _NEEDS_ESCAPE.match(text[-1]):
        text, tail = text[:-1], _hex(text[-1])
    # The backslash first, so that no escape written here is escaped again.
    for ch, escaped in _SIMPLE.items():
        text = text.replace(ch, escaped)
    # Text of ASCII bytes without a control character but the simple ones (most) needs no scan.
    if not (text.isascii() and len(data.translate(None, _ASCII_HEX)) == len(data)):
        text = _NEEDS_HEX.sub(_escape_one, text)
    return head + text + tail


def _escape_one(match: re.Match[str]) -> str:
    ch = match.group()
    if ord(ch) in _SURROGATE_BYTES:
        return f"\\x{ord(ch) - 0xDC00:02X}"
    return _hex(ch)


def _hex(ch: str) -> str:
    return "".join(f"\\x{b:02X}" for b in ch.encode("utf-8"))


def unescape(text: str) -> bytes:
    """The bytes an escaped line stands for; ValueError names a bad escape.

    A short text that is UTF-8 and holds no bad escape is rewritten as bytes in one pass (which
    holds each piece of it at once: not for a long one), by `_replace_simple` if it holds only
    the simple escapes; any other is read escape by escape, which names the first problem
    (`_unescape`).
    """
    if len(text) <= _ONE_PASS_LONGEST:
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            return _unescape(text)
        simple = _replace_simple(data)
        if simple is not None:
            return simple
        try:
            return _ESCAPE_BYTES.sub(_unescape_one, data)
        except KeyError:
            pass
    return _unescape(text)


def _replace_simple(data: bytes) -> bytes | None:
    """The bytes that escaped text stands for if its only escapes are the simple ones (a
    backslash, n, r or t after a backslash) and it holds no NUL, as `escape` writes it; else None.

    `bytes.replace` scans from the left as the reader does: each run of backslashes pairs up into
    escaped backslashes (held as NUL meanwhile), and an odd one escapes the byte after the run.
    Replacing an n, r or t escape by a byte that is no backslash makes no new escape; a
    backslash left over starts a hex escape or a bad one.
    """
    if b"\0" in data:
        return None
    data = data.replace(b"\\\\", b"\0")
    data = data.replace(b"\\n", b"\n").replace(b"\\r", b"\r").replace(b"\\t", b"\t")
    if b"\\" in data:
        return None
    return data.replace(b"\0", b"\\")


def _unescape_one(match: re.Match[bytes]) -> bytes:
    return _ESCAPED[match.group()]  # KeyError: a bad escape


def _unescape(text: str) -> bytes:
    out = bytearray()
    done = 0
    for match in _ESCAPE.finditer(text):
        out += text[done:match.start()].encode("utf-8", errors="strict")
        simple, hex_digits = match.groups()
        if simple is not None:
            out += _UNSIMPLE[simple]
        elif hex_digits is not None:
            out.append(int(hex_digits, 16))
        else:
            i = match.start()
            raise ValueError(f"bad escape {text[i:i + 2]} at character {i + 1} (use \\\\, "
                             "\\n, \\r, \\t or \\xHH)")
        done = match.end()
    out += text[done:].encode("utf-8", errors="strict")
    return bytes(out)


def _bytes(value: object) -> None:
    if not isinstance(value, bytes):
        raise TypeError("must be bytes")


DATA = Codec(escape, unescape)
BYTES = Check(_bytes)
# A file name in an inbox: no folders, no characters Windows forbids (the controls and lone
# surrogates among them: files/names.py), not hidden. At most 200 characters, so that
# `corrupt\\<batch>.<name>` (a quarantined object) fits a file name; sitesrv's own objects are
# `<DEST>_<random8>.<ext>`.
_NAME_CHAR = r"[^\\/:*?\"<>|\x00-\x1f\ud800-\udfff]"
OBJECT_NAME = pattern(rf"(?!\.|\s){_NAME_CHAR}{_NAME_CHAR}{{0,190}}\.[A-Za-z0-9]{{1,8}}",
                      "a file name of at most 200 characters with an extension, e.g. "
                      "P00_Z3AWAX9I.PKG")
SHA256 = pattern(r"[0-9a-f]{64}", "a SHA-256 digest (64 lower-case hex digits)")
TRANSACTION_ID = number(1, LARGEST_COUNT, "1 or more")


@attrs.frozen(kw_only=True)
class ReplicationObject:
    """One queued object: its outbound file name (`<DEST>_<random8>.<ext>`) and its bytes."""

    name: str = attrs.field(validator=OBJECT_NAME)
    size: int = attrs.field(validator=number(0, LARGEST_COUNT, "0 or more"))
    sha256: str = attrs.field(validator=SHA256)
    data: bytes = attrs.field(repr=False, validator=BYTES)

    @classmethod
    def of(cls, name: str, data: bytes) -> ReplicationObject:
        return cls(name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data)

    @property
    def object_class(self) -> str:
        """What kind of object it is: its extension in upper case (`PKG`, `STA`)."""
        return self.name.rsplit(".", 1)[1].upper()

    def __attrs_post_init__(self) -> None:
        if len(self.data) != self.size:
            raise ValueError(f"{self.name}: Size is {self.size} but the data has "
                             f"{len(self.data)} bytes")
        if hashlib.sha256(self.data).hexdigest() != self.sha256:
            raise ValueError(f"{self.name}: the data does not match its SHA256")


@attrs.frozen(kw_only=True)
class ReplicationBatch:
    """One `.RPL`: what `sending_site` replicates to `destination_site` at `priority`."""

    job_id: str = attrs.field(validator=JOB_ID)
    sending_site: str = attrs.field(validator=SITE_CODE)
    destination_site: str = attrs.field(validator=SITE_CODE)
    priority: int = attrs.field(validator=PRIORITY)
    transaction_id: int = attrs.field(validator=TRANSACTION_ID)
    created: float = attrs.field(converter=to_millis, validator=TIMESTAMP)
    objects: tuple[ReplicationObject, ...] = attrs.field(
        converter=tuple,
        validator=attrs.validators.deep_iterable(attrs.validators.instance_of(ReplicationObject)))

    def __attrs_post_init__(self) -> None:
        if not self.objects:
            raise ValueError("a replication batch needs at least one object")
        names = [o.name.upper() for o in self.objects]
        if len(set(names)) != len(names):
            raise ValueError("an object name appears twice (names are compared without case)")
        if self.sending_site == self.destination_site:
            raise ValueError(f"site {self.sending_site} does not replicate to itself")


LAYOUT = Layout(ReplicationBatch, "replication batch", (
    one("REPLICATION BATCH",
        Key("Job ID", "job_id"),
        Key("Sending Site", "sending_site"),
        Key("Destination Site", "destination_site"),
        Key("Priority", "priority", INTEGER),
        Key("Transaction ID", "transaction_id", INTEGER),
        Key("Created", "created", ISO_TIME)),
    many("OBJECT", "objects", ReplicationObject,
         Key("Name", "name"),
         Key("Size", "size", INTEGER),
         Key("SHA256", "sha256"),
         Key("Data", "data", DATA),
         minimum=1),
), LIMITS)
dumps = LAYOUT.dumps
encode = LAYOUT.encode
parse = LAYOUT.parse
decode = LAYOUT.decode
read = LAYOUT.read


def fill(objects: Iterable[ReplicationObject]) -> tuple[ReplicationObject, ...]:
    """The first of `objects` that one batch can carry within `LIMITS`, and always the first.

    Replication Manager leaves the rest for its next batch, so a backlog never makes a batch
    that its receiver refuses. Objects are taken one at a time: the rest are never built.

    The data of `n` bytes takes at most `4 * n` in the batch (a `\\xHH` for each byte): only once
    that much may not fit are the objects escaped to know their sizes, so a batch far from its
    limits (most) is escaped once, when it is written.
    """
    taken: list[ReplicationObject] = []
    room = LIMITS.file_bytes - _HEADER_ROOM  # at least what is left, until `exact`
    exact = False
    for obj in objects:
        size = _size(obj, 4 * len(obj.data))
        if not exact and size > room:  # from here on, by the sizes the objects have
            exact = True
            room = LIMITS.file_bytes - _HEADER_ROOM - sum(_size(o) for o in taken)
        if exact:
            size = _size(obj)
        if taken and (size > room or len(taken) == MAX_OBJECTS):
            break
        taken.append(obj)
        room -= size
    return tuple(taken)


def _size(obj: ReplicationObject, data: int | None = None) -> int:
    """The bytes an object takes in a batch; with `data`, with that many for its data."""
    if data is None:
        data = len(escape(obj.data).encode())
    return len(obj.name.encode()) + data + _OBJECT_ROOM


def batch_file_name(job_id: str) -> str:
    """`<jobid>.RPL` in replmgr.box\\ready: the job that carries the batch names it."""
    JOB_ID.verify(job_id)
    return job_id + EXTENSION

"""`replmgr.box\\history\\<site>.trs`: the highest transaction ID received from one partner site.

An INI text, one section per object class (`[PKG]`, `[STA]`) and one key per priority, as SMS
keeps one per object class (Q288970):

    [PKG]
    Priority 2=17
    [STA]
    Priority 3=18

Replication Manager applies an object of a batch only if the batch's transaction ID is higher
than the one recorded for the object's class and the batch's priority; a restored partner whose
counter went back is therefore silently ignored, as in SMS. Priorities are kept apart because
batches of different priorities travel independently and may overtake each other. The reader
takes what people do to INI files (case, spacing, CRLF, blank lines, `;` comments, unknown
keys) and raises FormatError for anything else, including a file over `MAX_FILE_BYTES`, which
it refuses before reading it (docs/limits.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from os import PathLike

import attrs

from sitesrv.errors import FormatError
from sitesrv.formats.sections import ReadLimits

EXTENSION = ".trs"
_CLASS_RE = re.compile(r"[A-Z0-9_]{1,32}")
_KEY_RE = re.compile(r"PRIORITY\s*([123])")
_VALUE_RE = re.compile(r"[0-9]{1,19}")
# A real history has a few classes of three priorities each: under 200 bytes, a few lines.
MAX_FILE_BYTES = 64 << 10
LIMITS = ReadLimits(file_bytes=MAX_FILE_BYTES, lines=4096, sections=1024)
KIND = "transaction history"


@attrs.frozen
class TransactionHistory:
    """(object class, priority) -> the highest transaction ID applied."""

    highest: Mapping[tuple[str, int], int] = attrs.field(factory=dict, converter=dict)

    def seen(self, object_class: str, priority: int) -> int:
        return self.highest.get((object_class.upper(), priority), 0)

    def with_applied(self, object_class: str, priority: int, transaction_id: int) -> TransactionHistory:
        key = (object_class.upper(), priority)
        return TransactionHistory({**self.highest, key: max(transaction_id, self.seen(*key))})


def dumps(history: TransactionHistory) -> str:
    lines: list[str] = []
    for object_class in sorted({c for c, _ in history.highest}):
        if not _CLASS_RE.fullmatch(object_class):
            raise ValueError(f"{object_class!r} is not an object class (A-Z, 0-9, _)")
        lines.append(f"[{object_class}]")
        lines += [f"Priority {p}={history.highest[(c, p)]}"
                  for c, p in sorted(history.highest) if c == object_class]
    return "".join(f"{line}\n" for line in lines)


def encode(history: TransactionHistory) -> bytes:
    return dumps(history).encode("ascii")


def parse(text: str, path: object = "<text>") -> TransactionHistory:
    LIMITS.check_size(len(text), path, KIND, "characters")
    highest: dict[tuple[str, int], int] = {}
    section: str | None = None
    for number, raw in enumerate(text.removeprefix("\ufeff").split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().upper()
            if not _CLASS_RE.fullmatch(section):
                raise FormatError(path, f"line {number}: [{section}] is not an object class")
            continue
        key, equals, value = line.partition("=")
        if not equals:
            raise FormatError(path, f"line {number}: expected [CLASS] or Priority N=ID, found "
                                    f"{line[:60]!r}")
        if section is None:
            raise FormatError(path, f"line {number}: {line[:60]!r} comes before the first "
                                    "[CLASS] header")
        match = _KEY_RE.fullmatch(key.strip().upper())
        if match is None:
            continue  # an unknown key: a newer writer's, or a person's note
        if not _VALUE_RE.fullmatch(value.strip()):
            raise FormatError(path, f"line {number}: [{section}] {key.strip()}="
                                    f"{value.strip()[:30]!r}: not a transaction ID")
        highest[(section, int(match[1]))] = int(value.strip())
    return TransactionHistory(highest)


def decode(data: bytes, path: object = "<bytes>") -> TransactionHistory:
    LIMITS.check_size(len(data), path, KIND)
    try:
        return parse(data.decode("utf-8"), path)
    except UnicodeDecodeError as e:
        raise FormatError(path, f"not UTF-8 text: byte {data[e.start]:#04x} at offset "
                                f"{e.start}") from None


def read(path: str | PathLike[str]) -> TransactionHistory:
    """The history in a file; an empty one if the file does not exist (nothing received yet)."""
    try:
        data = LIMITS.read(path, KIND)
    except FileNotFoundError:
        return TransactionHistory()
    return decode(data, path)


def history_file_name(site_code: str) -> str:
    """`<site>.trs`, one per partner site."""
    return site_code + EXTENSION

"""The text layout all instruction files share: `[SECTION]` headers, `Key=Value` lines, `[END]`.

One codec serves every kind, so the framing rule (a file without its `[END]` record is truncated)
and the reader's tolerance (CRLF, spacing, case of names, unknown keys and sections) are the same
everywhere. A kind declares a `Layout`: its sections in order, and for each key the record
attribute it fills and how the value is spelled. The record's validators decide what is valid;
the reader runs them key by key so that a bad file is reported with the line and key at fault.
The reader raises `FormatError` and nothing else, whatever the text, and it reads no more than
its `ReadLimits` (size, lines, sections) allow, so a file anyone can write into an inbox cannot
make it spend more than a bounded amount of memory (docs/limits.md).
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from enum import Enum
from os import PathLike
from typing import Any, Generic, TypeVar

import attrs

from sitesrv.errors import FormatError
from sitesrv.files.regular import NotRegularFile, read_regular
from sitesrv.formats.values import Check
from sitesrv.lab.clock import lab_time_text
from sitesrv.lab.sizes import size_text

R = TypeVar("R")

END = "END"
TRUNCATED = "no [END] record: the file is truncated or still being written"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INTEGER_RE = re.compile(r"-?[0-9]{1,30}")
_TIMESTAMP_RE = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,3}))?[Zz]", re.ASCII)


@attrs.frozen
class ReadLimits:
    """The most of a file the reader takes; each bounds the memory a hostile file can cost.

    The size is checked before the file is read, the lines before the text is split and the
    sections while it is scanned (docs/limits.md has the values and what they cost).
    """

    file_bytes: int
    lines: int
    sections: int

    def check_size(self, size: int, path: object, kind: str, unit: str = "bytes") -> None:
        if size > self.file_bytes:
            raise FormatError(path, f"{size} {unit}, more than the {self.file_bytes} bytes "
                                    f"({size_text(self.file_bytes)}) {_a(kind)} may have "
                                    f"(docs/limits.md)")

    def read(self, path: str | PathLike[str], kind: str) -> bytes:
        """A file's bytes, its size checked before it is read (files.regular.read_regular); a
        FIFO, a link or a device in its place is a FormatError naming what it is."""
        try:
            return read_regular(path, lambda size: self.check_size(size, path, kind))
        except NotRegularFile as e:
            raise FormatError(path, f"it is {e.problem}, not a file {_a(kind)} is read from"
                              ) from None

    def check_lines(self, text: str, path: object, kind: str) -> None:
        # Counted before splitting: the split list is what a file of short lines makes big.
        if text.count("\n") > self.lines:
            raise FormatError(path, f"more than {self.lines} lines, the most {_a(kind)} may "
                                    f"have (docs/limits.md)")

    def check_sections(self, count: int, line: int, path: object, kind: str) -> None:
        if count > self.sections:
            raise FormatError(path, f"line {line}: more than {self.sections} sections, the most "
                                    f"{_a(kind)} may have (docs/limits.md)")


# Every instruction file kind: a .PKG lists one [PACKAGE SERVER] of 6 lines and about 135
# bytes per DP, and a .job or .SNI carries a .PKG, so a package may have 10,000 DPs; the worst
# a file within these limits costs to read is measured in docs/limits.md.
INSTRUCTION_LIMITS = ReadLimits(file_bytes=2 << 20, lines=65_536, sections=16_384)


def _a(kind: str) -> str:
    return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}"


@attrs.frozen
class Codec:
    """How one value is spelled in a file: `dump` to text, `load` back (ValueError if bad).

    A codec of a fixed vocabulary lists its values, so that which of them read back as
    themselves is worked out once (`_rereads`), not each time one is written. `load` (and the
    record's converter) must depend on the text alone: the writer remembers the values it has
    seen read back as written (`_KeyPlan`).
    """

    dump: Callable[[Any], str]
    load: Callable[[str], Any]
    vocabulary: tuple[Any, ...] = ()


def parse_timestamp(text: str) -> float:
    """The inverse of `lab_time_text`; the fraction may have 0-3 digits, `T`/`Z` any case."""
    match = _TIMESTAMP_RE.fullmatch(text)
    if not match:
        raise ValueError("not a UTC time like 2007-06-04T09:00:01.000Z")
    *fields, fraction = match.groups()
    try:
        seconds = _utc_minute(*fields[:5])
        if fields[5] > "59":  # datetime's own words, after any bad field of the minute's
            datetime(*map(int, fields), tzinfo=UTC)
    except ValueError as e:
        raise ValueError(f"not a valid date and time ({e})") from None
    seconds += int(fields[5])
    return (seconds * 1000 + int((fraction or "0").ljust(3, "0"))) / 1000


@functools.lru_cache(maxsize=256)
def _utc_minute(*fields: str) -> int:
    """Epoch seconds of the UTC minute `YYYY`, `MM`, `DD`, `hh`, `mm`; ValueError names a field
    out of range. Remembered: the datetime was most of a parse's cost, and the times a run
    writes and reads back fall in few minutes (34 in a step run of 100 packages)."""
    return (datetime(*map(int, fields), tzinfo=UTC) - _EPOCH) // timedelta(seconds=1)


def _load_integer(text: str) -> int:
    if not _INTEGER_RE.fullmatch(text):
        raise ValueError("not a whole number")
    return int(text)


def choice(spellings: Mapping[str, Any]) -> Codec:
    """A value from a fixed vocabulary, read case-insensitively."""
    by_text = {text.upper(): value for text, value in spellings.items()}
    by_value = {value: text for text, value in spellings.items()}

    def load(text: str) -> Any:
        try:
            return by_text[text.upper()]
        except KeyError:
            raise ValueError(f"expected one of: {', '.join(spellings)}") from None

    return Codec(by_value.__getitem__, load, tuple(spellings.values()))


def enum(kind: type[Enum]) -> Codec:
    """An enum spelled by its values (`SREQ_STATUS_OK`, `2`)."""
    return choice({str(m.value): m for m in kind})


PLAIN = Codec(str, str)
INTEGER = Codec(lambda v: str(int(v)), _load_integer)
ZERO_ONE = choice({"0": False, "1": True})
# Times as ISO 8601 UTC with milliseconds, `2007-06-04T09:00:01.000Z`, as events show them.
ISO_TIME = Codec(lab_time_text, parse_timestamp)
OPTIONAL_ISO_TIME = Codec(lambda v: "" if v is None else lab_time_text(v),
                          lambda t: None if t == "" else parse_timestamp(t))


@attrs.frozen
class Key:
    """One `Key=Value` line: the key as written, the record attribute, the value's spelling.

    An `optional` key added to a kind after files of it were written may be missing from a
    file: the record's default stands then, so a file in flight from an older writer still
    reads. The writer always writes it.
    """

    name: str
    attr: str
    codec: Codec = PLAIN
    optional: bool = False


@attrs.frozen
class Section:
    """A `[NAME]` section. A repeating one builds `record` for each occurrence into `attr`."""

    name: str
    keys: tuple[Key, ...]
    record: type | None = None
    attr: str = ""
    minimum: int = 1


def one(name: str, *keys: Key) -> Section:
    """A section that appears exactly once; its keys fill the file's own record."""
    return Section(name, keys)


def many(name: str, attr: str, record: type, *keys: Key, minimum: int = 0) -> Section:
    """A section that repeats, in order; each one is a `record` in the tuple attribute `attr`."""
    return Section(name, keys, record, attr, minimum)


@attrs.frozen
class _Found:
    """A section as read: its name, header line, and `KEY -> (line, value)` by normalised key."""

    name: str
    line: int
    values: dict[str, tuple[int, str]]


@functools.lru_cache(maxsize=1024)  # the same few key names, in every file
def _normal(name: str) -> str:
    """Names compare upper-cased with runs of white space collapsed: `dest  site` is DEST SITE."""
    return " ".join(name.split()).upper()


def _header(line: str) -> str | None:
    stripped = line.strip()
    if len(stripped) >= 2 and stripped[0] == "[" and stripped[-1] == "]":
        return _normal(stripped[1:-1])
    return None


def _quote(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _read_sections(text: str, path: object, limits: ReadLimits, kind: str) -> list[_Found]:
    """Split text into sections, checking the framing and the limits; content rules are the
    Layout's."""
    limits.check_size(len(text), path, kind, "characters")
    limits.check_lines(text, path, kind)
    lines = text.removeprefix("\ufeff").split("\n")
    # `"]" in line` first: most lines are Key=Value, and the test in C spares them the call.
    end = next((i for i, line in enumerate(lines) if "]" in line and _header(line) == END),
               None)
    if end is None:
        raise FormatError(path, TRUNCATED)
    for number in range(end + 2, len(lines) + 1):
        if lines[number - 1].strip():
            raise FormatError(path, f"line {number}: text after the [END] record")
    found: list[_Found] = []
    for number, line in enumerate(lines[:end], 1):
        stripped = line.strip()
        if not stripped:
            continue
        name = _header(stripped) if stripped[0] == "[" else None
        if name is not None:
            if not name:
                raise FormatError(path, f"line {number}: a section header with no name")
            limits.check_sections(len(found) + 1, number, path, kind)
            found.append(_Found(name, number, {}))
            continue
        key, equals, value = stripped.partition("=")
        if not equals or not key.strip():
            raise FormatError(path, f"line {number}: expected [SECTION] or Key=Value, "
                                    f"found {_quote(stripped)}")
        if not found:
            raise FormatError(path, f"line {number}: {_quote(stripped)} comes before the first "
                                    f"[SECTION] header")
        section, normal = found[-1], _normal(key)
        if normal in section.values:
            raise FormatError(path, f"line {number}: key {key.strip()} appears twice in "
                                    f"[{section.name}] (first at line {section.values[normal][0]})")
        section.values[normal] = (number, value.strip())
    return found


@attrs.frozen
class Embedded:
    """Another kind's sections, optionally carried in this file, into the attribute `attr`.

    The reader ignores sections it does not know, so the carried record's sections never
    disturb the host's, and a file that carries one also reads as that other kind.
    """

    attr: str
    layout: Layout


class _Parsed:
    """The records of the texts a layout parsed or wrote last, by text: the same file is read
    several times on its way (a status message when queued, batched and received for
    replication, at every site it passes), and a record is immutable, so the same text is parsed
    once; a text this process wrote reads as the record it was written from, when reading it
    would give that very record (`Layout.dumps`). Bounded in characters (docs/limits.md), the
    oldest forgotten first; shared by a live run's threads."""

    CHARACTERS = 1 << 20
    # A larger text is parsed every time: one text never forgets more than a quarter of the
    # others. A replication batch of a hundred status messages is some 50,000 characters.
    LARGEST = CHARACTERS // 4

    def __init__(self) -> None:
        self._records: dict[str, Any] = {}
        self._characters = 0
        self._lock = threading.Lock()

    def get(self, text: str) -> Any | None:
        with self._lock:
            return self._records.get(text)

    def put(self, text: str, record: Any) -> None:
        if len(text) > self.LARGEST:
            return
        with self._lock:
            if text in self._records:
                return
            self._records[text] = record
            self._characters += len(text)
            while self._characters > self.CHARACTERS:
                oldest = next(iter(self._records))
                del self._records[oldest]
                self._characters -= len(oldest)


@attrs.frozen
class Layout(Generic[R]):
    """One kind of instruction file: its record type, a name for messages, and its sections."""

    record: type[R]
    kind: str
    sections: tuple[Section | Embedded, ...]
    limits: ReadLimits = INSTRUCTION_LIMITS
    _parsed: _Parsed = attrs.field(factory=_Parsed, init=False, eq=False, repr=False)
    # How `_write` writes each section's keys, and whether what it writes can read back as the
    # very record written.
    _keys: dict[str, tuple[str, tuple[_KeyPlan, ...]]] = attrs.field(init=False, eq=False,
                                                                      repr=False)
    _rereads: bool = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_keys", _keys(self))
        object.__setattr__(self, "_rereads", _rereads(self))

    def dumps(self, record: R) -> str:
        """The file's text (LF line ends); the record's validators already refused bad values.

        A text that reads back as this very record (`_write`), within the limits, is remembered
        as that record: in a step run, every file a component reads another wrote moments ago.
        A value whose text holds a line break would break the framing: the whole text is looked
        at for one, and only then (or when writing fails) is the record written again key by key
        (`checked`), to raise what that meets first.
        """
        lines: list[str] = []
        try:
            loads = self._write(record, lines, [] if self._rereads else None)
        except Exception:
            self._write(record, [], None, checked=True)
            raise
        lines.append(f"[{END}]\n")
        text = "\n".join(lines)
        line_ends = text.count("\n")
        if line_ends != len(lines) or "\r" in text:
            self._write(record, [], None, checked=True)
        if (loads is not None and len(text) <= self._parsed.LARGEST
                and self._within_limits(text, line_ends) and _read_back(loads)):
            self._parsed.put(text, record)
        return text

    def encode(self, record: R) -> bytes:
        """The file's bytes, ready for `write_bytes`: UTF-8."""
        return self.dumps(record).encode("utf-8")

    def parse(self, text: str, path: object = "<text>") -> R:
        """The record in `text`; raises FormatError naming `path` and the problem."""
        record = self._parsed.get(text)
        if record is None:
            found: dict[str, list[_Found]] = {}
            for section in _read_sections(text, path, self.limits, self.kind):
                found.setdefault(section.name, []).append(section)
            record = self._record(found, path)
            self._parsed.put(text, record)
        return record

    def decode(self, data: bytes, path: object = "<bytes>") -> R:
        """The record in a file's bytes (UTF-8, an optional BOM)."""
        return self.parse(self._text(data, path), path)

    def read(self, path: str | PathLike[str]) -> R:
        """The record in a file. OSError (e.g. the file was claimed by another) passes through.

        A file over the size limit is refused before it is read, and no more than its size at
        that moment (and one byte) is read. What is not a regular file (a FIFO, a link) is a
        FormatError, never opened as one.
        """
        data = self.limits.read(path, self.kind)
        text = self._text(data, path)
        del data  # parsing costs several times the text: not with the bytes on top
        return self.parse(text, path)

    def _text(self, data: bytes, path: object) -> str:
        self.limits.check_size(len(data), path, self.kind)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise FormatError(path, f"not UTF-8 text: byte {data[e.start]:#04x} at offset "
                                    f"{e.start}") from None

    def every_section(self) -> Iterator[Section]:
        """Its sections and those of the kinds it may carry, in file order."""
        for part in self.sections:
            if isinstance(part, Embedded):
                yield from part.layout.every_section()
            else:
                yield part

    def _write(self, record: R, lines: list[str], loads: list[_Load] | None, *,
               checked: bool = False) -> list[_Load] | None:
        """Appends the record's lines. Unless `loads` is None, also the values that must read
        back as written for `parse` to read the lines as this very record; None if some cannot.
        `checked`: a value whose text holds a line break (which would break the framing) is a
        ValueError as soon as it is met; else `dumps` looks for one in the whole text.

        The record's lines read as this very record when the layout's shape allows it
        (`_rereads`), the record and each repeated one are of the declared types, and each
        value reads back as the same value of the same type (`_read_back`): the record's
        validators passed on it when it was built (it is frozen), so they pass on the value
        read, and its checks across fields see the same fields.
        """
        if not isinstance(record, self.record):
            raise TypeError(f"expected a {self.record.__name__}, got {type(record).__name__}")
        if not self._rereads or type(record) is not self.record:
            loads = None
        for part in self.sections:
            if isinstance(part, Embedded):
                carried = getattr(record, part.attr)
                if carried is not None:
                    loads = part.layout._write(carried, lines, loads, checked=checked)
                continue
            kind = part.record
            if not kind:
                items = (record,)
            else:
                items = getattr(record, part.attr)
                if loads is not None and not (type(items) is tuple and len(items) >= part.minimum):
                    loads = None
            header, keys = self._keys[part.name]
            for item in items:
                if kind and type(item) is not kind:
                    loads = None
                lines.append(header)
                for prefix, attr, dump, plain, itself, codec, converter, known in keys:
                    value = getattr(item, attr)
                    text = dump(value)
                    if checked and ("\n" in text or "\r" in text):  # never written
                        raise ValueError(f"{prefix}{text!r}: must not contain a line break")
                    lines.append(prefix + text)
                    if loads is None:
                        continue
                    if plain:  # reads back as the text
                        if type(value) is not str or text.strip() != text:
                            loads = None
                    elif itself and itself.get(value, _ABSENT) is value:
                        continue
                    elif type(value) not in _REMEMBERED or (type(value), value, text) not in known:
                        loads.append((codec, converter, value, text, known))
        return loads

    def _within_limits(self, text: str, line_ends: int) -> bool:
        """Whether `parse` takes the text this layout wrote: its size, lines and sections."""
        limits = self.limits
        # A key line never starts with "[": each line but a section's header is Key=Value.
        sections = text.count("\n[") + text.startswith("[") - 1  # not [END]
        return (len(text) <= limits.file_bytes and line_ends <= limits.lines
                and sections <= limits.sections)

    def _record(self, found: dict[str, list[_Found]], path: object) -> R:
        values: dict[str, Any] = {}
        for part in self.sections:
            if isinstance(part, Embedded):
                carried = any(s.name in found for s in part.layout.every_section())
                values[part.attr] = part.layout._record(found, path) if carried else None
                continue
            occurrences = found.get(part.name, [])
            if part.record is None:
                if not occurrences:
                    raise FormatError(path, f"missing [{part.name}] section")
                if len(occurrences) > 1:
                    lines = ", ".join(str(o.line) for o in occurrences)
                    raise FormatError(path, f"[{part.name}] appears {len(occurrences)} times "
                                            f"(lines {lines}); expected once")
                values.update(self._load(part, occurrences[0], self.record, path))
            else:
                if len(occurrences) < part.minimum:
                    raise FormatError(path, f"missing [{part.name}] section: at least "
                                            f"{part.minimum} required")
                values[part.attr] = tuple(
                    _build(part.record, self._load(part, o, part.record, path), path,
                           f"[{part.name}] section at line {o.line}")
                    for o in occurrences)
        return _build(self.record, values, path, self.kind)

    @staticmethod
    def _load(section: Section, occurrence: _Found, record: type, path: object) -> dict[str, Any]:
        fields = _fields(record)
        values = {}
        for key in section.keys:
            entry = occurrence.values.get(_normal(key.name))
            if entry is None and key.optional:
                continue
            if entry is None:
                raise FormatError(path, f"[{section.name}] section at line {occurrence.line} "
                                        f"has no {key.name} key")
            line, text = entry
            try:
                value = key.codec.load(text)
                check = fields[key.attr].validator
                if isinstance(check, Check):
                    check.verify(value)
            except (ValueError, TypeError, OverflowError) as e:
                raise FormatError(path, f"line {line}: [{section.name}] {key.name}={_quote(text)}: "
                                        f"{e}") from None
            values[key.attr] = value
        return values


@functools.cache  # one entry per record type
def _fields(record: type) -> dict[str, attrs.Attribute[Any]]:
    return attrs.fields_dict(record)


def _same(read: object, written: object) -> bool:
    """The same value of the same type (and, for a float, of the same sign: -0.0 is not 0.0)."""
    if type(read) is not type(written) or read != written:
        return False
    return type(read) is not float or read != 0 or (
        math.copysign(1.0, read) == math.copysign(1.0, written))  # type: ignore[arg-type]


# A value to read back as written: its codec, its field's converter, the value, its text, and
# where its key remembers the values that read back (`_KeyPlan`).
_Load = tuple[Codec, Callable[[Any], Any] | None, object, str, dict[tuple[type, Any, str], None]]
# How a key is written and its value read back: `Key=`, the record attribute, the codec's
# `dump`, whether the value is its text (plain, no converter), the values of the codec's
# vocabulary that read back as themselves (`_itself`), the codec, the field's converter, and the
# (type, value, text) of values seen to read back as written. Loading depends on the text alone,
# and a value of the same type equal to one seen compares with what the text loads as that one
# did (`_same`), but for a float zero, whose sign `==` ignores: no zero float is remembered.
_KeyPlan = tuple[str, str, Callable[[Any], str], bool, dict[Any, Any], Codec,
                 Callable[[Any], Any] | None, dict[tuple[type, Any, str], None]]
_ABSENT = object()
# The types whose values a key remembers: numbers and None (an optional time not set), small
# whatever the value (texts and bytes may be long, and are rarely written twice).
_REMEMBERED = frozenset({int, float, type(None)})
_REMEMBERED_PER_KEY = 256  # a key's counts and versions repeat in a run; then it starts over


def _read_back(loads: list[_Load]) -> bool:
    """Whether each value written as its text reads as that value again: the reader strips the
    text, loads it and the record converts it. A value that does is remembered by its key."""
    for codec, converter, value, text, known in loads:
        try:
            loaded = codec.load(text.strip())
            converted = loaded if converter is None else converter(loaded)
        except (ValueError, TypeError, OverflowError):
            return False
        if not (_same(loaded, value) and (converted is loaded or _same(converted, value))):
            return False
        kind = type(value)
        if kind in _REMEMBERED and (value or kind is not float):
            if len(known) >= _REMEMBERED_PER_KEY:
                known.clear()
            known[kind, value, text] = None
    return True


def _itself(codec: Codec, converter: Callable[[Any], Any] | None) -> dict[Any, Any]:
    """The values of the codec's vocabulary that read back as themselves, each by itself."""
    itself = {}
    for value in codec.vocabulary:
        text = codec.dump(value)
        try:
            loaded = codec.load(text.strip())
            converted = loaded if converter is None else converter(loaded)
        except (ValueError, TypeError, OverflowError):
            continue
        if loaded is value and converted is value and "\n" not in text and "\r" not in text:
            itself[value] = value
    return itself


def _keys(layout: Layout[Any]) -> dict[str, tuple[str, tuple[_KeyPlan, ...]]]:
    """Each of the layout's own sections' header, and how its keys are written and read back
    (`_KeyPlan`)."""
    keys = {}
    for part in layout.sections:
        if isinstance(part, Embedded):
            continue
        fields = _fields(part.record or layout.record)
        plans = []
        for key in part.keys:
            field = fields.get(key.attr)
            converter = None if field is None else field.converter
            plans.append((f"{key.name}=", key.attr, key.codec.dump,
                          key.codec is PLAIN and converter is None, _itself(key.codec, converter),
                          key.codec, converter, {}))
        keys[part.name] = (f"[{part.name}]", tuple(plans))
    return keys


def _rereads(layout: Layout[Any]) -> bool:
    """Whether any record this layout writes can read back field for field.

    Reading gives every field of each record from a key or a section of its own, so none is
    left to its default; section and key names are unique as the reader compares them, so no
    two are confused; a section's name is written as the reader compares it, is not END, and
    a key's name has no `=` and does not look like a header, so the framing reads as written;
    a carried kind writes a section whenever it is carried; a repeating section's or a carried
    kind's field keeps the tuple or record as it is.
    """
    names = [section.name for section in layout.every_section()]
    if len(set(names)) != len(names):
        return False
    own = _fields(layout.record)
    filled = []
    for part in layout.sections:
        if isinstance(part, Embedded):
            if not part.layout._rereads or not any(
                    isinstance(p, Section) and p.record is None for p in part.layout.sections):
                return False
        elif (part.name != _normal(part.name) or part.name in ("", END) or any(
                "=" in key.name or "\n" in key.name or "\r" in key.name or not key.name.strip()
                or key.name.strip().startswith("[") for key in part.keys)
                or len({_normal(key.name) for key in part.keys}) != len(part.keys)):
            return False
        if isinstance(part, Embedded) or part.record:
            if part.attr not in own or own[part.attr].converter not in (None, tuple):
                return False
            filled.append(part.attr)
        if isinstance(part, Embedded):
            continue
        attrs_ = [key.attr for key in part.keys]
        if not part.record:
            filled += attrs_
        elif len(set(attrs_)) != len(attrs_) or set(attrs_) != _init_names(part.record):
            return False
    return len(set(filled)) == len(filled) and set(filled) == _init_names(layout.record)


def _init_names(record: type) -> set[str] | None:
    """The names `record(**values)` takes, or None if a field is not set that way."""
    fields = attrs.fields(record)
    if not all(field.init for field in fields):
        return None
    return {field.alias for field in fields}


def _build(record: type[R], values: dict[str, Any], path: object, what: str) -> R:
    """Construct the record; a rule across fields that fails is reported as a format error."""
    try:
        return record(**values)
    except (ValueError, TypeError) as e:
        raise FormatError(path, f"invalid {what}: {e}") from None

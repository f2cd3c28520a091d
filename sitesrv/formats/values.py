"""The vocabulary every instruction file draws on: site codes, IDs, priorities, timestamps.

Each rule is a `Check`: an attrs validator that the records use (so the writer refuses a bad
record) and that the reader runs key by key (so a bad file is reported with the key that holds
the bad value). One definition serves both, and the two can never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum, StrEnum
from typing import Any

import attrs

from sitesrv.lab.identifiers import (
    JOB_ID_RE,
    MAX_VERSION,
    PACKAGE_ID_RE,
    PACKAGE_ID_TEXT,
    SERVER_RE,
    SHARE_RE,
    SITE_CODE_RE,
    SITE_CODE_TEXT,
    is_nal_path,
)

PRIORITY_NAMES = {1: "high", 2: "medium", 3: "low"}
# Timestamps are kept as float epoch seconds, in the files as ISO 8601 UTC with milliseconds.
LATEST_TIMESTAMP = 253402300799.999  # 9999-12-31T23:59:59.999Z
LARGEST_COUNT = 2**63 - 1


class Payload(StrEnum):
    """What travels with an instruction: a compressed package, a delta, a replication file."""

    PCK = "PCK"
    DLT = "DLT"
    PKG = "PKG"
    STA = "STA"
    RPL = "RPL"
    NONE = "NONE"


class AddressType(StrEnum):
    """The senders sitesrv emulates (hierarchy.yaml `addresses[].type`)."""

    LAN = "LAN"
    COURIER = "COURIER"


class _Passed:
    """Short texts and whole numbers a rule passed lately: records are built over and over from
    the same site codes, IDs, names and versions, and a rule's verdict on a value never changes.
    Bounded in entries, in each text's length and in each number's size; forgotten all at
    once when full (docs/limits.md)."""

    ENTRIES = 1024
    LONGEST = 64
    LARGEST = 2**64  # a whole number remembered is under this in size

    def __init__(self) -> None:
        self.values: set[str | int] = set()

    def add(self, value: str | int) -> None:
        if (-self.LARGEST < value < self.LARGEST if type(value) is int
                else len(value) <= self.LONGEST):  # type: ignore[arg-type,operator]
            if len(self.values) >= self.ENTRIES:
                self.values.clear()
            self.values.add(value)


@attrs.frozen
class Check:
    """An attrs validator made from a bare rule, so the reader can apply the same rule per key.

    `verify(value)` raises ValueError or TypeError with the problem alone; as a validator the
    message is prefixed with the attribute and the value. The rule is a pure function of the
    value, so a text or a whole number (a `str` or an `int` itself, not a subclass such as
    `bool` or an enum) it passed passes again without it.
    """

    rule: Callable[[Any], None]
    _passed: _Passed = attrs.field(factory=_Passed, init=False, eq=False, repr=False)

    def verify(self, value: object) -> None:
        plain = type(value) is str or type(value) is int
        if plain and value in self._passed.values:
            return
        self.rule(value)
        if plain:
            self._passed.add(value)  # type: ignore[arg-type]

    def __call__(self, instance: object, attribute: attrs.Attribute, value: object) -> None:
        if (type(value) is str or type(value) is int) and value in self._passed.values:
            return  # as verify does, without a call
        try:
            self.verify(value)
        except (ValueError, TypeError) as e:
            raise type(e)(f"{attribute.name}={value!r}: {e}") from None


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("must be a string")
    if "\n" in value or "\r" in value:
        raise ValueError("must not contain a line break")
    if value != value.strip():
        raise ValueError("must not start or end with white space (the reader strips it)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("cannot be written as UTF-8") from None
    return value


def _nonempty_text(value: object) -> None:
    if not _text(value):
        raise ValueError("must not be empty")


def pattern(regex: str | re.Pattern[str], what: str, optional: bool = False) -> Check:
    """Text that must match `regex` in full (or, if optional, be empty)."""
    compiled = re.compile(regex)

    def verify(value: object) -> None:
        text = _text(value)
        if not (optional and text == "") and not compiled.fullmatch(text):
            raise ValueError(f"not {what}{' (or empty)' if optional else ''}")

    return Check(verify)


def number(low: int, high: int, what: str | None = None) -> Check:
    """A whole number from low to high inclusive; `what` names the allowed values."""

    def verify(value: object) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError("must be a whole number")
        if not low <= value <= high:
            raise ValueError(f"must be {what or f'between {low} and {high}'}")

    return Check(verify)


def member(kind: type[Enum]) -> Check:
    """One of an enum's members (records convert plain values with `to_member`)."""

    def verify(value: object) -> None:
        if not isinstance(value, kind):
            raise ValueError(f"must be one of {', '.join(str(m.value) for m in kind)}")

    return Check(verify)


def to_member(kind: type[Enum]) -> Callable[[object], object]:
    """A converter that turns a plain value into the enum member, leaving bad ones to `member`."""

    def convert(value: object) -> object:
        try:
            return kind(value)
        except (ValueError, TypeError):
            return value

    return convert


def _flag(value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError("must be True or False")


def _timestamp(value: object) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError("must be epoch seconds")
    if not 0 <= value <= LATEST_TIMESTAMP:  # also false for NaN
        raise ValueError("must be a time between 1970 and 9999")


def _optional_timestamp(value: object) -> None:
    if value is not None:
        _timestamp(value)


def to_millis(value: object) -> object:
    """Round epoch seconds to the millisecond, the precision the files keep.

    Anything that is not a time in range is left for the TIMESTAMP check to report.
    """
    if (isinstance(value, int | float) and not isinstance(value, bool)
            and 0 <= value <= LATEST_TIMESTAMP):
        return round(value * 1000) / 1000
    return value


TEXT = Check(_text)
NONEMPTY_TEXT = Check(_nonempty_text)
FLAG = Check(_flag)
TIMESTAMP = Check(_timestamp)
OPTIONAL_TIMESTAMP = Check(_optional_timestamp)
COUNT = number(0, LARGEST_COUNT, "0 or more")
PRIORITY = number(1, 3, "1 (high), 2 (medium) or 3 (low)")
VERSION = number(0, MAX_VERSION, f"a version from 0 to {MAX_VERSION} (SMS keeps it in an int)")
SITE_CODE = pattern(SITE_CODE_RE, SITE_CODE_TEXT)
OPTIONAL_SITE_CODE = pattern(SITE_CODE_RE, SITE_CODE_TEXT, optional=True)
PACKAGE_ID = pattern(PACKAGE_ID_RE, PACKAGE_ID_TEXT)
OPTIONAL_PACKAGE_ID = pattern(PACKAGE_ID_RE, PACKAGE_ID_TEXT, optional=True)
JOB_ID = pattern(JOB_ID_RE, "a job ID (8 upper-case hex digits)")
INSTRUCTION_TYPE = pattern(r"[A-Z0-9_]+(?:\|[A-Z0-9_]+)*",
                           "an instruction type such as MICROSOFT|SMS|MINIJOBINSTRUCTION|PACKAGE")
PREFERRED_ADDRESS = pattern(r"\*|" + "|".join(AddressType),
                            f"* (any sender) or an address type ({', '.join(AddressType)})")
SERVER = pattern(SERVER_RE,
                 "a server name (at most 15 characters, none of \" / \\ [ ] ; : | = + * ? , < >)")
SHARE = pattern(SHARE_RE, "a share name (none of \" / [ ] ; : | = + * ? , < >)")


def _nal_path(value: object) -> None:
    if not is_nal_path(_text(value)):
        raise ValueError('not a DP\'s NAL path (MSWNET:["SMS_SITE=P00"]\\\\SERVER\\share\\)')


def _pkg_server(value: object) -> None:
    """PkgStatus.PkgServer: a site server's name (Type 1) or a DP's NAL path (Type 2)."""
    text = _text(value)
    if not (SERVER_RE.fullmatch(text) or is_nal_path(text)):
        raise ValueError("not a server name nor a DP's NAL path")


NAL_PATH = Check(_nal_path)
PKG_SERVER = Check(_pkg_server)


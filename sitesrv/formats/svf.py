"""`statmgr.box\\statmsgs\\<name>.SVF`: one status message on its way to Status Manager.

SMS's own `.svf` layout is not published; this one carries, field for field, what the STATMSG
echo line shows (docs/formats.md). Every component of a site hands its messages to its site's
Status Manager this way, and Replication Manager carries the same file to the parent site.
"""

from __future__ import annotations

import attrs

from sitesrv.formats.sections import INTEGER, ISO_TIME, Key, Layout, ReadLimits, many, one
from sitesrv.formats.values import (
    NONEMPTY_TEXT,
    SITE_CODE,
    TEXT,
    TIMESTAMP,
    Check,
    number,
    pattern,
    to_millis,
)

EXTENSION = ".SVF"
MAX_STRINGS = 10  # ISTR0 to ISTR9
MAX_ATTRIBUTES = 32
# A message is a few hundred bytes; the limits keep a hostile file as small (docs/limits.md).
LIMITS = ReadLimits(file_bytes=64 << 10, lines=512, sections=64)
_ID = number(0, 2**31 - 1, "a number from 0 to 2147483647")


@attrs.frozen(kw_only=True)
class InsertionString:
    """One of the message's insertion strings, ISTR0 to ISTR9 in order."""

    value: str = attrs.field(validator=TEXT)


@attrs.frozen(kw_only=True)
class Attribute:
    """One attribute: its ID (400 package, 404 DP, 410 version) and value."""

    id: int = attrs.field(validator=_ID)
    value: str = attrs.field(validator=TEXT)


def _at_most(count: int, what: str) -> Check:
    def check(value: object) -> None:
        if len(value) > count:  # type: ignore[arg-type]
            raise ValueError(f"at most {count} {what}")
    return Check(check)


@attrs.frozen(kw_only=True)
class StatusMessageFile:
    """One `.SVF` file: one status message, as the site database stores it."""

    message_id: int = attrs.field(validator=_ID)
    severity: str = attrs.field(validator=pattern("[IWE]", "I, W or E"))
    level: str = attrs.field(validator=pattern("[A-Z]", "one upper-case letter (M)"))
    module_name: str = attrs.field(validator=NONEMPTY_TEXT)
    component: str = attrs.field(validator=NONEMPTY_TEXT)
    machine_name: str = attrs.field(validator=NONEMPTY_TEXT)
    site_code: str = attrs.field(validator=SITE_CODE)
    process_id: int = attrs.field(validator=_ID)
    thread_id: int = attrs.field(validator=_ID)
    time: float = attrs.field(converter=to_millis, validator=TIMESTAMP)
    strings: tuple[InsertionString, ...] = attrs.field(
        default=(), converter=tuple, validator=_at_most(MAX_STRINGS, "insertion strings"))
    attributes: tuple[Attribute, ...] = attrs.field(
        default=(), converter=tuple, validator=_at_most(MAX_ATTRIBUTES, "attributes"))


LAYOUT = Layout(StatusMessageFile, "status message file", (
    one("STATUS MESSAGE",
        Key("MessageID", "message_id", INTEGER),
        Key("Severity", "severity"),
        Key("Level", "level"),
        Key("ModuleName", "module_name"),
        Key("Component", "component"),
        Key("MachineName", "machine_name"),
        Key("SiteCode", "site_code"),
        Key("ProcessID", "process_id", INTEGER),
        Key("ThreadID", "thread_id", INTEGER),
        Key("Time", "time", ISO_TIME)),
    many("INSERTION STRING", "strings", InsertionString, Key("Value", "value")),
    many("ATTRIBUTE", "attributes", Attribute,
         Key("ID", "id", INTEGER),
         Key("Value", "value")),
), limits=LIMITS)
dumps = LAYOUT.dumps
encode = LAYOUT.encode
parse = LAYOUT.parse
decode = LAYOUT.decode
read = LAYOUT.read

"""How two log viewers read an SMS site-server log, for tests that check every line still reads.

Trace32 (the SMS 2003 Toolkit's viewer) takes a message's text up to the last `$$<` of its
entry and the three `<...>` fields after it; lines without them belong to the next entry (a
multi-line message). CMTrace (ConfigMgr's) splits each entry at its first `$$`, as the CMWT
parser does (docs/sources.md#cmwt), and the rest at `><`. Both read the time as
`MM-DD-YYYY HH:MM:SS.mmm` followed by the signed bias, and the thread as `thread=N (0xHEX)`.
Each raises ViewerError for an entry it could not show as one message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

import attrs

_TIME = re.compile(r"(\d\d-\d\d-\d{4} \d\d:\d\d:\d\d\.\d{3})([+-]\d{2,3})")
_THREAD = re.compile(r"thread=(\d+) \(0x([0-9A-F]+)\)")
_COMPONENT = re.compile(r"[A-Z][A-Z0-9_]*")


class ViewerError(ValueError):
    """An entry a viewer would not show as one message with its component, time and thread."""


@attrs.frozen
class Entry:
    text: str
    component: str
    local_time: datetime  # the site's local time; the bias says how far it is from UTC
    bias_minutes: int
    thread: int


def _fields(component: str, time: str, thread: str, entry: str) -> tuple[str, datetime, int, int]:
    if not _COMPONENT.fullmatch(component):
        raise ViewerError(f"no component in {entry!r}")
    t = _TIME.fullmatch(time)
    if t is None:
        raise ViewerError(f"no time in {entry!r}")
    th = _THREAD.fullmatch(thread)
    if th is None or int(th[1]) != int(th[2], 16):
        raise ViewerError(f"no thread in {entry!r}")
    return (component, datetime.strptime(t[1], "%m-%d-%Y %H:%M:%S.%f"), int(t[2]),
            int(th[1]))


def _entries(text: str) -> Iterator[str]:
    """Physical lines gathered into entries: an entry ends at a line that holds `$$<`."""
    pending: list[str] = []
    for line in text.splitlines():
        pending.append(line)
        if "$$<" in line:
            yield "\n".join(pending)
            pending = []
    if pending:
        raise ViewerError(f"text after the last entry: {pending!r}")


def trace32(text: str) -> list[Entry]:
    out = []
    for entry in _entries(text):
        message, _, trailer = entry.rpartition("$$<")
        m = re.fullmatch(r"([^<>]*)><([^<>]*)><([^<>]*)>", trailer)
        if m is None:
            raise ViewerError(f"Trace32 finds no <component><time><thread> in {entry!r}")
        component, when, bias, thread = _fields(m[1], m[2], m[3], entry)
        out.append(Entry(message.rstrip(" "), component, when, bias, thread))
    return out


def cmtrace(text: str) -> list[Entry]:
    out = []
    for entry in _entries(text):
        message, _, rest = entry.partition("$$")
        rest = rest.strip()
        if not (rest.startswith("<") and rest.endswith(">")):
            raise ViewerError(f"CMTrace finds no <...> fields after $$ in {entry!r}")
        fields = rest[1:-1].split("><")
        if len(fields) != 3:
            raise ViewerError(f"CMTrace finds {len(fields)} fields, not 3, in {entry!r}")
        component, when, bias, thread = _fields(*fields, entry)
        out.append(Entry(message.strip(), component, when, bias, thread))
    return out

"""`LAB/events.jsonl`: one structured event stream for the whole lab, for machines.

Every component step that matters (a file claimed, published, quarantined, deferred; a package
stored, installed, sent) becomes one JSON line carrying the lab time, site, component, event name,
and, where known, package ID and file. `sitesrv trace` reads it. SMS logs are for people who know
SMS; this stream is for scripts. Each line is one `write` on a file opened for append, so several
processes of one lab can share the file.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any

from sitesrv.lab.clock import Clock, lab_time_text
from sitesrv.logs.appendfile import AppendFile


class EventSink:
    """Appends events to events.jsonl through a structlog logger bound to the lab clock."""

    def __init__(self, path: Path, clock: Clock,
                 on_lost: Callable[[int, OSError], None] | None = None) -> None:
        """`on_lost(count, error)`: events that could not be written (appendfile.py)."""
        import structlog  # here: reading events (`sitesrv trace`, `status`) does not need it

        self.path = Path(path)
        self.clock = clock
        self._file = _LineFile(self.path, on_lost=on_lost)
        # For an event with a value other than a text or an int, which `_render` leaves to it.
        self._json = structlog.processors.JSONRenderer(sort_keys=False)
        # Bound now, not through the lazy proxy's lookup at every event; one processor, which
        # stamps and renders (two cost a second hop and a second dict per event).
        self._logger = structlog.wrap_logger(self._file, processors=[self._render],
                                             wrapper_class=_event_logger()).bind()

    def _render(self, logger: Any, name: str, event_dict: dict[str, Any]) -> str | bytes:
        """The event's JSON line: its time, its name, then its fields as given, but for those
        that are None. As structlog's JSONRenderer writes it (`json.dumps`: ASCII, `", "` and
        `": "`), spelled directly when every value is a text or an int, as in nearly every
        event, without building an encoder per event."""
        event = event_dict.pop("event")
        stamp = lab_time_text(self.clock.now())  # digits and `-T:.Z`: nothing to escape
        parts = [f'{{"time": "{stamp}", "event": {encode_basestring_ascii(event)}']
        for key, value in event_dict.items():
            kind = type(value)
            if kind is str:
                parts.append(f"{encode_basestring_ascii(key)}: {encode_basestring_ascii(value)}")
            elif kind is int:
                parts.append(f"{encode_basestring_ascii(key)}: {int.__repr__(value)}")
            elif value is not None:
                return self._json(logger, name, {"time": stamp, "event": event, **{
                    key: value for key, value in event_dict.items() if value is not None}})
        return ", ".join(parts) + "}"

    def emit(self, event: str, *, site: str, component: str, **fields: Any) -> None:
        """Record one event. `package` and `file` are the conventional extra fields; a field
        that is None is left out."""
        self._logger.msg(event, site=site, component=component, **fields)

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Hold this thread's events and write them together when the batch ends."""
        return self._file.batch

    def close(self) -> None:
        """Close the file until the next event."""
        self._file.close()


@functools.cache
def _event_logger() -> type[Any]:
    """The bound logger's class: structlog's base with one method, `msg`, which runs the
    processors and hands the line to the file (structlog's custom wrapper classes). Its
    default class's `msg` also interpolates, goes through two more calls and looks the file's
    method up by name: 40 % more per event. Made at the first sink: importing structlog costs
    the commands that only read events."""
    import structlog

    class EventLogger(structlog.BoundLoggerBase):
        def msg(self, event: str, **fields: Any) -> None:
            (line,), _ = self._process_event("msg", event, fields)
            self._logger.info(line)

    return EventLogger


class _LineFile(AppendFile):
    """The logger structlog hands each rendered event to (its `msg` is this `info`): one JSON
    text, one line. Not structlog's PrintLogger, whose `print` took a lock and made two writes
    and a flush for a line this file writes in one append."""

    def info(self, message: str) -> None:
        self.append((message + "\n").encode("utf-8"))


EVENT_START = '{"time": '  # how every line `EventSink` writes begins
EVENT_KEYS = {"time", "event", "site", "component"}  # and what every event has


def read_events(path: Path) -> list[dict[str, Any]]:
    """All events of a lab, in file order.

    A torn line (a writer killed mid-line) is skipped; the next writer appends after it, so its
    first event may be glued to the fragment, and is read from where it starts. A line that is
    JSON but not an object (someone's `[1, 2]`) is skipped too.
    """
    out: list[dict[str, Any]] = []
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        try:
            event = json.loads(line)
            if isinstance(event, dict):  # a line that is JSON but no event is no event
                out.append(event)
        except json.JSONDecodeError:
            start = line.rfind(EVENT_START)
            if start > 0:
                with contextlib.suppress(json.JSONDecodeError):
                    event = json.loads(line[start:])
                    if isinstance(event, dict) and event.keys() >= EVENT_KEYS:
                        out.append(event)  # not an object nested in the torn event
    return out

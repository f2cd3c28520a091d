"""`LAB/events.jsonl`: one structured event stream for the whole lab, for machines.

Every component step that matters (a file claimed, published, quarantined, deferred; a package
stored, installed, sent) becomes one JSON line carrying the lab time, site, component, event name,
and, where known, package ID and file. `sitesrv trace` reads it. SMS logs are for people who know
SMS; this stream is for scripts. Each line is one `write` on a file opened for append, so several
processes of one lab can share the file.
"""

from __future__ import annotations

import contextlib
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
        # Bound now, not through the lazy proxy's lookup at every event.
        self._logger = structlog.wrap_logger(
            self._file,
            processors=[self._stamp,
                        structlog.processors.JSONRenderer(_event_json, sort_keys=False)],
        ).bind()

    def _stamp(self, _logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        event = event_dict.pop("event")
        return {"time": lab_time_text(self.clock.now()), "event": event, **event_dict}

    def emit(self, event: str, *, site: str, component: str, **fields: Any) -> None:
        """Record one event. `package` and `file` are the conventional extra fields."""
        clean = {k: v for k, v in fields.items() if v is not None}
        self._logger.msg(event, site=site, component=component, **clean)

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Hold this thread's events and write them together when the batch ends."""
        return self._file.batch()

    def close(self) -> None:
        """Close the file until the next event."""
        self._file.close()


def _event_json(event: dict[str, Any], **dumps_kw: Any) -> str:
    """`json.dumps(event, **dumps_kw)`, spelled directly when every key is a text and every
    value a text or an int, as in nearly every event: the same text (ASCII, `", "` and `": "`,
    in order) without building an encoder per event. Only with the arguments the renderer
    passes here (`sort_keys=False` and its fallback for other values); any others, as given."""
    if dumps_kw.keys() - {"sort_keys", "default"} or dumps_kw.get("sort_keys"):
        return json.dumps(event, **dumps_kw)
    parts = []
    for key, value in event.items():
        kind = type(value)
        if type(key) is not str or (kind is not str and kind is not int):
            return json.dumps(event, **dumps_kw)
        parts.append(f"{encode_basestring_ascii(key)}: "
                     f"{encode_basestring_ascii(value) if kind is str else int.__repr__(value)}")
    return "{" + ", ".join(parts) + "}"


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

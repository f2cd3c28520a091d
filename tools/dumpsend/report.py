"""One dumped file, as text for people and as JSON for scripts.

A file that was listed may be gone when it is read (the Sender renames `.srq` to `.srs`, the
Scheduler deletes finished requests), and one may be unreadable; both are outcomes to report,
not failures of the tool, so a listing goes on with the next file.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import attrs

from dumpsend.records import dumpsend_records
from dumpsend.requestfile import NotARequestFile, RequestFile, read_request_file
from dumpsend.waiting import place_of, why_it_waits
from sitesrv.errors import FormatError
from sitesrv.formats.sections import OPTIONAL_ISO_TIME
from sitesrv.formats.values import OPTIONAL_TIMESTAMP

WHY_TITLE = "WHY IT WAITS (sitesrv's reading of the records above; DumpSend has no such record)"
GONE = ("gone: it was renamed or removed after it was listed (the Sender renames .srq to .srs, "
        "the Scheduler deletes finished requests); run dumpsend again to see the folder now")


@attrs.frozen
class Dump:
    """What reading one path gave: the request file, or that it is gone, or why it is not
    readable."""

    path: Path
    file: RequestFile | None = None
    gone: bool = False
    problem: str = ""
    malformed: bool = False  # the problem is in the file's content: fix it or delete it


def read_dump(path: Path) -> Dump:
    try:
        return Dump(path, file=read_request_file(path))
    except FileNotFoundError:
        return Dump(path, gone=True)
    except FormatError as e:
        return Dump(path, problem=f"it is not a valid send request: {e.problem}", malformed=True)
    except NotARequestFile as e:
        return Dump(path, problem=str(e))
    except OSError as e:
        return Dump(path, problem=f"it cannot be read: {e.strerror or e}")


def by_destination(dumps: list[Dump]) -> dict[str, list[RequestFile]]:
    """The requests read per destination site (the next hop), sorted: what a site has queued
    for each child or parent, at a glance."""
    out: dict[str, list[RequestFile]] = {}
    for dump in dumps:
        if dump.file is not None:
            out.setdefault(dump.file.request.dest_site, []).append(dump.file)
    return dict(sorted(out.items()))


def hop_text(file: RequestFile) -> str:
    """The file's name, and the site it goes on to when the destination only routes it."""
    final = file.request.final_destination_site
    return file.path.name + (f" (on to {final})" if final != file.request.dest_site else "")


def text_lines(dump: Dump) -> list[str]:
    """The file's records as DumpSend prints them, then why the request waits."""
    lines = [f"Send request file: {dump.path}"]
    if dump.file is None:
        return [*lines, dump.problem or GONE]
    for record in dumpsend_records(dump.file):
        lines += ["", *record.lines()]
    why = why_it_waits(dump.file, place_of(dump.path))
    return [*lines, "", WHY_TITLE, *(f"{label}: {text}" for label, text in why.items())]


def json_object(dump: Dump) -> dict[str, Any]:
    """The same as `text_lines`, with the request's values as sitesrv's reader gives them."""
    out: dict[str, Any] = {"file": str(dump.path)}
    if dump.file is None:
        return {**out, "outcome": "unreadable" if dump.problem else "gone",
                "problem": dump.problem or GONE}
    return {
        **out, "outcome": "dumped",
        "request": attrs.asdict(dump.file.request, value_serializer=_plain),
        "records": [attrs.asdict(record, filter=lambda a, _: a.name != "separator")
                    for record in dumpsend_records(dump.file)],
        "why_it_waits": why_it_waits(dump.file, place_of(dump.path)),
    }


def _plain(_: object, field: attrs.Attribute | None, value: Any) -> Any:
    """Codes as their values, times as in the file (ISO 8601 UTC, milliseconds)."""
    if isinstance(value, Enum):
        return value.value
    if field is not None and field.validator is OPTIONAL_TIMESTAMP:
        return OPTIONAL_ISO_TIME.dump(value) or None
    return value

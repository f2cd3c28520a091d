"""A send request's records as DumpSend shows them: record names, lengths and field labels.

The labels are DumpSend's own, as the SMS 2.0 sample output and the SMS 1.x field list print
them (docs/sources.md, Q200645 and Q123221): `Dest Site: A00`, `Job request:`, `Preferred
Address *` (no colon), `Ignore Schedule: 0`, `Sync point is:`, `Mode: Not cancelled`, and an
ADDRESS of the form `{}{\\\\VERMONT\\SMS_SITE <encrypted password>}`. Where the sources give a
label but no value format, values are shown plainly: numbers and codes as digits, times in UTC.

Records and fields DumpSend would not parse are kept and marked, as DumpSend marks the records
it does not parse: sitesrv's `Address Type`, its `[END]` mark, and any section or key that
sitesrv's reader ignores.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import attrs

from dumpsend.requestfile import RequestFile
from sitesrv.formats import srq
from sitesrv.formats.sections import OPTIONAL_ISO_TIME

NOT_SET = "(not set)"
NONE = "(none)"
# sitesrv keeps no password, where DumpSend shows the encrypted one (docs/differences.md).
NO_PASSWORD = "<no password>"
END_NOTE = "sitesrv's end-of-file mark; a file without it is cut short or still being written"


@attrs.frozen
class Field:
    """One line of a record: DumpSend's label and the value; `parsed` False if DumpSend would
    not show it."""

    label: str
    value: str
    parsed: bool = True
    separator: str = ": "  # DumpSend prints `Preferred Address *`, with a space only

    def text(self) -> str:
        line = f"{self.label}{self.separator}{self.value}"
        return line if self.parsed else f"{line} (not parsed by DumpSend)"


@attrs.frozen
class Record:
    """One record: DumpSend's heading (`<title> RECORD`), where it is in the file, its fields.

    A record DumpSend does not parse has no fields, only a `note` on what it is."""

    title: str
    line: int
    length: int
    fields: tuple[Field, ...] = ()
    parsed: bool = True
    note: str = ""

    def lines(self) -> list[str]:
        head = [f"{self.title} RECORD", f"Length: {self.length}"]
        if not self.parsed:
            return [*head, f"Not parsed by DumpSend{': ' + self.note if self.note else ''}."]
        return head + [f.text() for f in self.fields]


def when(seconds: float | None) -> str:
    """A time for DumpSend's `... at:` fields: as the file spells it, `2007-06-04 09:00:03.000
    UTC` for `2007-06-04T09:00:03.000Z`, or not set."""
    if seconds is None:
        return NOT_SET
    return OPTIONAL_ISO_TIME.dump(seconds).replace("T", " ").replace("Z", " UTC")


def _flag(value: bool) -> str:
    return str(int(value))


def _send_request_data(r: srq.SendRequest, _: int) -> list[Field]:
    return [Field("Priority", str(r.priority)),
            Field("Dest Site", r.dest_site),
            Field("Job", r.job_id),
            Field("Job request", r.request_id),
            Field("Outbox", r.outbox),
            Field("Preferred Address", r.preferred_address, separator=" "),
            Field("Ignore Schedule", _flag(r.ignore_schedule))]


def _status(r: srq.SendRequest, _: int) -> list[Field]:
    return [Field("Sender status", r.status.value),
            Field("First sender started at", when(r.first_started_at)),
            Field("Sender started at", when(r.started_at)),
            Field("Sender ended at", when(r.ended_at)),
            Field("Sender gate heartbeat at", when(r.heartbeat_at)),
            Field("Scheduler to restart at", when(r.restart_at)),
            Field("Total bytes to send", str(r.total_bytes)),
            Field("Bytes left to send", str(r.bytes_left)),
            Field("Sync point is", str(r.sync_point)),
            Field("File type is", str(int(r.file_type))),
            Field("Number of connects", str(r.connects)),
            Field("Sender ID", r.sender_id or NONE)]


def _address(r: srq.SendRequest, index: int) -> list[Field]:
    address = r.addresses[index]
    return [Field("Address", f"{{}}{{{address.address} {NO_PASSWORD}}}"),
            Field("Address Type", address.type.value, parsed=False)]


# sitesrv's sections, in DumpSend's order, and the fields DumpSend shows for each; the index
# is the occurrence of a section that repeats (ADDRESS).
FIELDS: dict[str, Callable[[srq.SendRequest, int], list[Field]]] = {
    "SEND REQUEST DATA": _send_request_data,
    "STATUS": _status,
    "CANCEL": lambda r, _: [Field("Mode", "Cancelled" if r.cancelled else "Not cancelled")],
    "ACTION CODE": lambda r, _: [Field("Code", str(int(r.action_code)))],
    "ADDRESS": _address,
    "PACKAGE FILE": lambda r, _: [Field("File", r.package_file or NONE)],
    "INSTRUCTION FILE": lambda r, _: [Field("File", r.instruction_file)],
    "ROUTING": lambda r, _: [
        Field("Routing Master Request ID", r.routing_master_request_id or NONE),
        Field("Job Originating Site", r.originating_site),
        Field("Job Final Destination Site", r.final_destination_site)],
    "CONFIRMATION": lambda r, _: [Field("Confirmation Needed", _flag(r.confirmation_needed))],
}
TITLES = {"STATUS": "Sender/scheduler"}  # DumpSend's heading where it is not sitesrv's name
# The keys sitesrv's reader knows in each section, as it compares them.
KNOWN_KEYS = {section.name: {key.name.upper() for key in section.keys}
              for section in srq.LAYOUT.every_section()}


def dumpsend_records(file: RequestFile) -> list[Record]:
    """Every record of the file in file order, as DumpSend would print it."""
    seen: Counter[str] = Counter()
    out = []
    for raw in file.records:
        if raw.name not in FIELDS:
            note = END_NOTE if raw.name == "END" else ""
            out.append(Record(raw.name, raw.line, raw.length, parsed=False, note=note))
            continue
        fields = FIELDS[raw.name](file.request, seen[raw.name])
        seen[raw.name] += 1
        ignored = [Field(key, value or NONE, parsed=False) for key, value in raw.keys
                   if " ".join(key.split()).upper() not in KNOWN_KEYS[raw.name]]
        out.append(Record(TITLES.get(raw.name, raw.name), raw.line, raw.length,
                          (*fields, *ignored)))
    return out

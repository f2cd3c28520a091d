"""Send requests: `schedule.box\\outboxes\\<sender>\\<id>.srq`, `.srs` once a sender has it.

The Scheduler writes a send request for each hop of a job; the Sender works it, keeps its
`[STATUS]` current and sets the `[ACTION CODE]` after a failure; the Scheduler acts on that code
(0 nothing, 1 retry, 2 delete). The sections are the records DumpSend shows (Q123221,
Q200645), in DumpSend's order; the `dumpsend` tool (docs/dumpsend.md) prints one as it does.

A send request ID is `<priority><counter><site>`: the priority digit, a base-36 counter from the
`schedule.box\\UID` tokens (`_` and 3 digits below 36**3, else 4 digits), and the code of the
site that made it: `2_001CEN`, `1_C6CT01` (the rule: sitesrv.lab.identifiers).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any

import attrs

from sitesrv.formats.sections import (
    INTEGER,
    OPTIONAL_ISO_TIME,
    ZERO_ONE,
    Key,
    Layout,
    choice,
    enum,
    many,
    one,
)
from sitesrv.formats.values import (
    COUNT,
    FLAG,
    JOB_ID,
    NONEMPTY_TEXT,
    OPTIONAL_TIMESTAMP,
    PREFERRED_ADDRESS,
    PRIORITY,
    SITE_CODE,
    TEXT,
    AddressType,
    Check,
    member,
    to_member,
    to_millis,
)
from sitesrv.lab.identifiers import parse_request_id, request_id

SRQ, SRS = ".srq", ".srs"


def _request_id(value: object) -> None:
    if not isinstance(value, str):
        raise TypeError("must be a string")
    parts = parse_request_id(value)
    if request_id(*parts) != value:
        raise ValueError("must be written in upper case")


REQUEST_ID = Check(_request_id)
OPTIONAL_REQUEST_ID = Check(lambda value: None if value == "" else _request_id(value))


class SenderStatus(StrEnum):
    """The sender's state of a send request, with DumpSend's flag names."""

    NONE = "SREQ_STATUS_NONE"
    STARTED = "SREQ_STATUS_STARTED"
    CONNECTING = "SREQ_STATUS_CONNECTING"
    SENDING = "SREQ_STATUS_SENDING"
    ERROR = "SREQ_STATUS_ERROR"
    INVALID = "SREQ_STATUS_INVALID"
    CANCELLED = "SREQ_STATUS_CANCELLED"
    SUSPENDED = "SREQ_STATUS_SUSPENDED"
    OK = "SREQ_STATUS_OK"


class ActionCode(IntEnum):
    """Set by the Sender after a failure, obeyed by the Scheduler."""

    NOTHING = 0
    RETRY = 1
    DELETE = 2


class FileType(IntEnum):
    """What the sender is sending: nothing yet, the instruction, the package (DumpSend)."""

    SENDER_ONLY = 0
    INSTRUCTION = 1
    PACKAGE = 2


# As DumpSend explains the codes.
ACTION_MEANINGS = {ActionCode.NOTHING: "do nothing", ActionCode.RETRY: "retry",
                   ActionCode.DELETE: "delete send request"}


@attrs.frozen(kw_only=True)
class SenderAddress:
    """An ADDRESS record: the destination's `\\\\<server>\\SMS_SITE` share and the sender type."""

    address: str = attrs.field(validator=NONEMPTY_TEXT)
    type: AddressType = attrs.field(default=AddressType.LAN, converter=to_member(AddressType),
                                    validator=member(AddressType))


def _stamp() -> Any:
    return attrs.field(default=None, converter=to_millis, validator=OPTIONAL_TIMESTAMP)


@attrs.frozen(kw_only=True)
class SendRequest:
    """One send request: a hop of a job from this site to `dest_site` over `addresses`."""

    # SEND REQUEST DATA
    priority: int = attrs.field(validator=PRIORITY)
    dest_site: str = attrs.field(validator=SITE_CODE)
    job_id: str = attrs.field(validator=JOB_ID)
    request_id: str = attrs.field(validator=REQUEST_ID)
    outbox: str = attrs.field(validator=NONEMPTY_TEXT)
    preferred_address: str = attrs.field(default="*", validator=PREFERRED_ADDRESS)
    ignore_schedule: bool = attrs.field(default=False, validator=FLAG)
    # STATUS
    status: SenderStatus = attrs.field(default=SenderStatus.NONE,
                                       converter=to_member(SenderStatus),
                                       validator=member(SenderStatus))
    first_started_at: float | None = _stamp()
    started_at: float | None = _stamp()
    ended_at: float | None = _stamp()
    heartbeat_at: float | None = _stamp()
    restart_at: float | None = _stamp()
    total_bytes: int = attrs.field(default=0, validator=COUNT)
    bytes_left: int = attrs.field(default=0, validator=COUNT)
    sync_point: int = attrs.field(default=0, validator=COUNT)
    file_type: FileType = attrs.field(default=FileType.SENDER_ONLY, converter=to_member(FileType),
                                      validator=member(FileType))
    connects: int = attrs.field(default=0, validator=COUNT)
    sender_id: str = attrs.field(default="", validator=TEXT)
    # CANCEL, ACTION CODE
    cancelled: bool = attrs.field(default=False, validator=FLAG)
    action_code: ActionCode = attrs.field(default=ActionCode.NOTHING,
                                          converter=to_member(ActionCode),
                                          validator=member(ActionCode))
    # ADDRESS (one or more)
    addresses: tuple[SenderAddress, ...] = attrs.field(
        converter=tuple,
        validator=attrs.validators.deep_iterable(attrs.validators.instance_of(SenderAddress)))
    # PACKAGE FILE, INSTRUCTION FILE
    package_file: str = attrs.field(default="", validator=TEXT)
    instruction_file: str = attrs.field(validator=NONEMPTY_TEXT)
    # ROUTING, CONFIRMATION
    routing_master_request_id: str = attrs.field(default="", validator=OPTIONAL_REQUEST_ID)
    originating_site: str = attrs.field(validator=SITE_CODE)
    final_destination_site: str = attrs.field(validator=SITE_CODE)
    confirmation_needed: bool = attrs.field(default=False, validator=FLAG)

    def __attrs_post_init__(self) -> None:
        if not self.addresses:
            raise ValueError("a send request needs at least one address")
        if int(self.request_id[0]) != self.priority:
            raise ValueError(f"request ID {self.request_id} does not start with its "
                             f"priority {self.priority}")
        for name in ("bytes_left", "sync_point"):
            if getattr(self, name) > self.total_bytes:
                raise ValueError(f"{name} ({getattr(self, name)}) exceeds total_bytes "
                                 f"({self.total_bytes})")


LAYOUT = Layout(SendRequest, "send request", (
    one("SEND REQUEST DATA",
        Key("Priority", "priority", INTEGER),
        Key("Dest Site", "dest_site"),
        Key("Job", "job_id"),
        Key("Job Request", "request_id"),
        Key("Outbox", "outbox"),
        Key("Preferred Address", "preferred_address"),
        Key("Ignore Schedule", "ignore_schedule", ZERO_ONE)),
    one("STATUS",
        Key("Sender Status", "status", enum(SenderStatus)),
        Key("First Sender Started At", "first_started_at", OPTIONAL_ISO_TIME),
        Key("Sender Started At", "started_at", OPTIONAL_ISO_TIME),
        Key("Sender Ended At", "ended_at", OPTIONAL_ISO_TIME),
        Key("Sender Gate Heartbeat At", "heartbeat_at", OPTIONAL_ISO_TIME),
        Key("Scheduler To Restart At", "restart_at", OPTIONAL_ISO_TIME),
        Key("Total Bytes To Send", "total_bytes", INTEGER),
        Key("Bytes Left To Send", "bytes_left", INTEGER),
        Key("Sync Point", "sync_point", INTEGER),
        Key("File Type", "file_type", enum(FileType)),
        Key("Number Of Connects", "connects", INTEGER),
        Key("Sender ID", "sender_id")),
    one("CANCEL",
        Key("Mode", "cancelled", choice({"Not cancelled": False, "Cancelled": True}))),
    one("ACTION CODE",
        Key("Action Code", "action_code", enum(ActionCode))),
    many("ADDRESS", "addresses", SenderAddress,
         Key("Address", "address"),
         Key("Address Type", "type", enum(AddressType)),
         minimum=1),
    one("PACKAGE FILE",
        Key("Path", "package_file")),
    one("INSTRUCTION FILE",
        Key("Path", "instruction_file")),
    one("ROUTING",
        Key("Routing Master Request ID", "routing_master_request_id"),
        Key("Job Originating Site", "originating_site"),
        Key("Job Final Destination Site", "final_destination_site")),
    one("CONFIRMATION",
        Key("Confirmation Needed", "confirmation_needed", ZERO_ONE)),
))
dumps = LAYOUT.dumps
encode = LAYOUT.encode
parse = LAYOUT.parse
decode = LAYOUT.decode
read = LAYOUT.read


def file_name(request: SendRequest, suffix: str = SRQ) -> str:
    """`<request id>.srq` (not yet taken by a sender) or `<request id>.srs` (in progress)."""
    if suffix not in (SRQ, SRS):
        raise ValueError(f"suffix {suffix!r} is neither {SRQ} nor {SRS}")
    return request.request_id + suffix

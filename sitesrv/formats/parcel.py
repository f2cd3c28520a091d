"""Courier Sender parcels: `LAB\\media\\<ParcelID>.parcel` and their status records.

A parcel is "any collection of files transferred from one site to another", with a packing list
the receiving site uses (SMS 2003 Courier Sender help). SMS's own parcel layout is not public;
sitesrv's is a header line, the packing list (the instruction-file text layout), then each
file's bytes in packing-list order:

    SITESRV-PARCEL 1 <bytes of the packing list>\\n
    [PARCEL] ... [FILE] ... [SEND REQUEST] ... [END]
    <file 1><file 2>...

Each package file travels once, whatever the number of send requests that need it (the
one-copy-per-destination bug of SMS 2.0 before SP3 is not reproduced, Q264740). The packing
list is read with the instruction files' bounds; the files after it are not checked at all:
Courier Sender Manager receives a truncated or modified parcel "with a success status"
(Q206835), and a short file is delivered short. The sending site keeps a `ParcelRecord` per
parcel (its status, Created, Sent, Confirmed, and how it was sent) in `coursend.box\\outgoing`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from typing import BinaryIO

import attrs

from sitesrv.errors import FormatError
from sitesrv.formats.sections import (
    INSTRUCTION_LIMITS,
    INTEGER,
    ISO_TIME,
    OPTIONAL_ISO_TIME,
    Embedded,
    Key,
    Layout,
    enum,
    many,
    one,
)
from sitesrv.formats.srq import REQUEST_ID
from sitesrv.formats.values import (
    COUNT,
    JOB_ID,
    NONEMPTY_TEXT,
    OPTIONAL_PACKAGE_ID,
    OPTIONAL_TIMESTAMP,
    SITE_CODE,
    TEXT,
    TIMESTAMP,
    member,
    pattern,
    to_member,
    to_millis,
)

EXTENSION = ".parcel"  # LAB\\media\\<ParcelID>.parcel, and the record in coursend.box
MAGIC = b"SITESRV-PARCEL 1 "
HEADER_BYTES = len(MAGIC) + 12  # the header line at most: magic, up to 10 digits, newline
PARCEL_ID = pattern(r"[A-Z0-9]{3}-[0-9]{4}", "a parcel ID (the site code, '-', 4 digits)")
_MEMBER_NAME_RE = r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*"  # a plain name: no folder, no '..'
_MEMBER_NAME_TEXT = "a file name in a parcel (letters, digits, '_' and dots between them)"
MEMBER_NAME = pattern(_MEMBER_NAME_RE, _MEMBER_NAME_TEXT)
OPTIONAL_MEMBER_NAME = pattern(_MEMBER_NAME_RE, _MEMBER_NAME_TEXT, optional=True)
CHUNK = 1 << 20


class ParcelStatus(StrEnum):
    """A parcel's status; it only moves forward (SMS 2003 Courier Sender help, cour2vow)."""

    CREATED = "Created"
    SENT = "Sent"
    CONFIRMED = "Confirmed"

    @property
    def rank(self) -> int:
        return list(ParcelStatus).index(self)


@attrs.frozen(kw_only=True)
class ParcelFile:
    """One file in the parcel, by its name there and its size."""

    name: str = attrs.field(validator=MEMBER_NAME)
    size: int = attrs.field(validator=COUNT)


@attrs.frozen(kw_only=True)
class ParcelRequest:
    """A send request the parcel carries: its instruction and package file, and where they go.

    `deliver_to` is the destination's `\\\\<server>\\SMS_SITE`, as the send request's ADDRESS
    would be; the receiving site refuses a parcel whose address is not its own.
    """

    request_id: str = attrs.field(validator=REQUEST_ID)
    dest_site: str = attrs.field(validator=SITE_CODE)
    job_id: str = attrs.field(validator=JOB_ID)
    package_id: str = attrs.field(default="", validator=OPTIONAL_PACKAGE_ID)
    instruction: str = attrs.field(validator=MEMBER_NAME)
    package_file: str = attrs.field(default="", validator=OPTIONAL_MEMBER_NAME)
    deliver_to: str = attrs.field(validator=NONEMPTY_TEXT)


@attrs.frozen(kw_only=True)
class PackingList:
    """What a parcel holds and for whom."""

    parcel_id: str = attrs.field(validator=PARCEL_ID)
    name: str = attrs.field(validator=NONEMPTY_TEXT)
    sending_site: str = attrs.field(validator=SITE_CODE)
    created: float = attrs.field(converter=to_millis, validator=TIMESTAMP)
    files: tuple[ParcelFile, ...] = attrs.field(
        default=(), converter=tuple,
        validator=attrs.validators.deep_iterable(attrs.validators.instance_of(ParcelFile)))
    requests: tuple[ParcelRequest, ...] = attrs.field(
        converter=tuple,
        validator=attrs.validators.deep_iterable(attrs.validators.instance_of(ParcelRequest)))

    def __attrs_post_init__(self) -> None:
        names = [f.name.upper() for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError("two [FILE] sections have the same name")
        for request in self.requests:
            for name in (request.instruction, request.package_file):
                if name and name.upper() not in names:
                    raise ValueError(f"send request {request.request_id} names {name}, which "
                                     "is no [FILE] of the parcel")

    @property
    def destinations(self) -> tuple[str, ...]:
        return tuple(sorted({r.dest_site for r in self.requests}))

    def spans(self, start: int) -> dict[str, tuple[int, int]]:
        """Each file's offset in the parcel (its data begins at `start`) and size, by name."""
        spans, offset = {}, start
        for f in self.files:
            spans[f.name.upper()] = (offset, f.size)
            offset += f.size
        return spans


@attrs.frozen(kw_only=True)
class ParcelRecord:
    """The sending site's record of a parcel: its status and how it was sent (smc_21013)."""

    status: ParcelStatus = attrs.field(converter=to_member(ParcelStatus),
                                       validator=member(ParcelStatus))
    sent_at: float | None = attrs.field(default=None, converter=to_millis,
                                        validator=OPTIONAL_TIMESTAMP)
    tracking_number: str = attrs.field(default="", validator=TEXT)
    sent_by: str = attrs.field(default="", validator=TEXT)
    confirmed_at: float | None = attrs.field(default=None, converter=to_millis,
                                             validator=OPTIONAL_TIMESTAMP)
    packing_list: PackingList = attrs.field(
        validator=attrs.validators.instance_of(PackingList))


LAYOUT = Layout(PackingList, "packing list", (
    one("PARCEL",
        Key("ParcelID", "parcel_id"),
        Key("Name", "name"),
        Key("SendingSite", "sending_site"),
        Key("Created", "created", ISO_TIME)),
    many("FILE", "files", ParcelFile,
         Key("Name", "name"),
         Key("Size", "size", INTEGER)),
    many("SEND REQUEST", "requests", ParcelRequest,
         Key("RequestID", "request_id"),
         Key("DestSite", "dest_site"),
         Key("JobID", "job_id"),
         Key("PackageID", "package_id"),
         Key("Instruction", "instruction"),
         Key("PackageFile", "package_file"),
         Key("DeliverTo", "deliver_to"),
         minimum=1),
))
dumps = LAYOUT.dumps
encode = LAYOUT.encode
decode = LAYOUT.decode

RECORD_LAYOUT = Layout(ParcelRecord, "parcel record", (
    one("PARCEL STATUS",
        Key("Status", "status", enum(ParcelStatus)),
        Key("SentAt", "sent_at", OPTIONAL_ISO_TIME),
        Key("TrackingNumber", "tracking_number"),
        Key("SentBy", "sent_by"),
        Key("ConfirmedAt", "confirmed_at", OPTIONAL_ISO_TIME)),
    Embedded("packing_list", LAYOUT),
))
encode_record = RECORD_LAYOUT.encode
read_record = RECORD_LAYOUT.read

_HEADER_RE = re.compile(rb"SITESRV-PARCEL 1 ([0-9]{1,10})\r?\n")


def file_name(parcel_id: str) -> str:
    PARCEL_ID.verify(parcel_id)
    return f"{parcel_id}{EXTENSION}"


def header(packing_list_bytes: int) -> bytes:
    return MAGIC + str(packing_list_bytes).encode("ascii") + b"\n"


def read_packing_list(f: BinaryIO, path: object) -> tuple[PackingList, int]:
    """The packing list at the start of an open parcel, and where its files begin.

    Reads no more than the header line and the packing list's announced length, which the
    instruction files' limit bounds. Raises FormatError, and nothing else, for any bytes.
    """
    line = f.readline(HEADER_BYTES)
    match = _HEADER_RE.fullmatch(line)
    if match is None:
        raise FormatError(path, "not a sitesrv parcel: it does not begin with the line "
                                f"'{MAGIC.decode()}<length of the packing list>'")
    length = int(match.group(1))
    INSTRUCTION_LIMITS.check_size(length, path, "packing list")
    data = f.read(length)
    if len(data) < length:
        raise FormatError(path, f"the parcel ends inside its packing list ({len(data)} of "
                                f"{length} bytes)")
    return decode(data, path), len(line) + length


def write(f: BinaryIO, packing: PackingList, contents: Iterator[BinaryIO]) -> None:
    """Header, packing list, then each [FILE]'s bytes from `contents`, in order.

    Raises OSError if a file has fewer bytes than its [FILE] says (it changed meanwhile).
    """
    text = encode(packing)
    f.write(header(len(text)))
    f.write(text)
    for entry, source in zip(packing.files, contents, strict=True):
        if copy_bytes(source, f, entry.size) != entry.size:
            raise OSError(f"{entry.name} ended before its {entry.size} bytes were written")


def copy_bytes(source: BinaryIO, target: BinaryIO, count: int) -> int:
    """Up to `count` bytes from `source` to `target`, in bounded chunks; returns how many."""
    done = 0
    while done < count:
        chunk = source.read(min(CHUNK, count - done))
        if not chunk:
            break
        target.write(chunk)
        done += len(chunk)
    return done

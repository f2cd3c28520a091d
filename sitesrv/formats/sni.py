"""The instruction that travels with a payload: `tosend\\<jobid>.IPT`, then `<reqid>.SNI`.

The Scheduler writes it to `schedule.box\\tosend\\<jobid>.IPT`. The Sender copies the payload to the
destination's `SMS_SITE` share (`despoolr.box\\receive`) as `<reqid>.PCK`, then the instruction as
`<reqid>.TMP`, and renames that to `<reqid>.SNI` only when both are complete
(docs/sources.md#package-actions). The Despooler acts on `.SNI` files alone, and before it does it
checks the payload against `Payload Size` and `Payload SHA256` ("Verifying signature for
instruction").

A content instruction (compressed files for a package) also carries the sending site's `.PKG`
for that version, as that file's own sections after `[INSTRUCTION]`; the Despooler hands it to
Distribution Manager (docs/distribution.md).
"""

from __future__ import annotations

import attrs

from sitesrv.formats import pkg
from sitesrv.formats.sections import INTEGER, Embedded, Key, Layout, enum, one
from sitesrv.formats.srq import OPTIONAL_REQUEST_ID, REQUEST_ID
from sitesrv.formats.values import (
    COUNT,
    INSTRUCTION_TYPE,
    JOB_ID,
    OPTIONAL_PACKAGE_ID,
    PRIORITY,
    SITE_CODE,
    TEXT,
    VERSION,
    Payload,
    member,
    pattern,
    to_member,
)

IPT, TMP, SNI, PCK = ".IPT", ".TMP", ".SNI", ".PCK"


@attrs.frozen(kw_only=True)
class Instruction:
    """One instruction file: what the payload is, where it comes from and goes, its digest."""

    instruction_type: str = attrs.field(validator=INSTRUCTION_TYPE)
    job_id: str = attrs.field(validator=JOB_ID)
    request_id: str = attrs.field(default="", validator=OPTIONAL_REQUEST_ID)
    originating_site: str = attrs.field(validator=SITE_CODE)
    sending_site: str = attrs.field(validator=SITE_CODE)
    final_destination_site: str = attrs.field(validator=SITE_CODE)
    package_id: str = attrs.field(default="", validator=OPTIONAL_PACKAGE_ID)
    package_version: int = attrs.field(default=0, validator=VERSION)
    payload: Payload = attrs.field(converter=to_member(Payload), validator=member(Payload))
    payload_size: int = attrs.field(default=0, validator=COUNT)
    payload_sha256: str = attrs.field(default="", validator=pattern(
        r"[0-9a-f]{64}", "a SHA-256 digest (64 lower-case hex digits)", optional=True))
    priority: int = attrs.field(default=2, validator=PRIORITY)
    description: str = attrs.field(default="", validator=TEXT)
    package: pkg.PackageReplication | None = pkg.carried_field()

    def __attrs_post_init__(self) -> None:
        pkg.check_carried(self.package, self.package_id)
        if self.payload is Payload.NONE:
            if self.payload_sha256 or self.payload_size:
                raise ValueError("an instruction without payload has no payload size or SHA256")
        elif not self.payload_sha256:
            raise ValueError(f"a {self.payload} payload needs its SHA256")


LAYOUT = Layout(Instruction, "instruction", (
    one("INSTRUCTION",
        Key("Type", "instruction_type"),
        Key("Job ID", "job_id"),
        Key("Send Request ID", "request_id"),
        Key("Originating Site", "originating_site"),
        Key("Sending Site", "sending_site"),
        Key("Final Destination Site", "final_destination_site"),
        Key("Package ID", "package_id"),
        Key("Package Version", "package_version", INTEGER),
        Key("Payload", "payload", enum(Payload)),
        Key("Payload Size", "payload_size", INTEGER),
        Key("Payload SHA256", "payload_sha256"),
        Key("Priority", "priority", INTEGER),
        Key("Description", "description")),
    Embedded("package", pkg.LAYOUT),
))
dumps = LAYOUT.dumps
encode = LAYOUT.encode
parse = LAYOUT.parse
decode = LAYOUT.decode
read = LAYOUT.read


def instruction_file_name(job_id: str) -> str:
    """`<jobid>.IPT`, the instruction the Scheduler leaves in schedule.box\\tosend."""
    JOB_ID.verify(job_id)
    return job_id + IPT


def _received(request_id: str, extension: str) -> str:
    REQUEST_ID.verify(request_id)
    return request_id + extension


def payload_file_name(request_id: str) -> str:
    """`<reqid>.PCK`: the payload on the destination's SMS_SITE share, written first."""
    return _received(request_id, PCK)


def tmp_file_name(request_id: str) -> str:
    """`<reqid>.TMP`: the instruction while the Sender is still writing it."""
    return _received(request_id, TMP)


def sni_file_name(request_id: str) -> str:
    """`<reqid>.SNI`: the ready instruction; the Sender renames the .TMP to it last."""
    return _received(request_id, SNI)

"""`schedule.box\\<jobid>.job`: work for the Scheduler — send a file to a site.

Distribution Manager (software distribution) and Replication Manager (inter-site replication)
write jobs; the Scheduler activates one, writes its instruction to `tosend`, makes a send request
per hop, and records its progress here (`State`, `Send Request ID`). Job IDs are 8 hex digits
from the `schedule.box\\UID` counter (Q266195, Q320638). A content job also carries the sending site's
`.PKG` for that version, which the Scheduler copies into the instruction.
"""

from __future__ import annotations

from enum import StrEnum

import attrs

from sitesrv.formats import pkg
from sitesrv.formats.sections import INTEGER, ISO_TIME, Embedded, Key, Layout, enum, one
from sitesrv.formats.srq import OPTIONAL_REQUEST_ID
from sitesrv.formats.values import (
    INSTRUCTION_TYPE,
    JOB_ID,
    OPTIONAL_PACKAGE_ID,
    PREFERRED_ADDRESS,
    PRIORITY,
    SITE_CODE,
    TEXT,
    TIMESTAMP,
    VERSION,
    Payload,
    member,
    to_member,
    to_millis,
)

EXTENSION = ".job"
PACKAGE_INSTRUCTION = "MICROSOFT|SMS|MINIJOBINSTRUCTION|PACKAGE"
REPLICATION_INSTRUCTION = "MICROSOFT|SMS|MINIJOBINSTRUCTION|REPLICATION"


class JobState(StrEnum):
    """Where the job is: waiting, being sent, done, given up."""

    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


@attrs.frozen(kw_only=True)
class SchedulerJob:
    """One `.job` file: send `transfer_root` (holding `payload`) towards `destination_site`."""

    job_id: str = attrs.field(validator=JOB_ID)
    description: str = attrs.field(validator=TEXT)
    destination_site: str = attrs.field(validator=SITE_CODE)
    preferred_address: str = attrs.field(default="*", validator=PREFERRED_ADDRESS)
    priority: int = attrs.field(default=2, validator=PRIORITY)
    instruction_type: str = attrs.field(validator=INSTRUCTION_TYPE)
    transfer_root: str = attrs.field(default="", validator=TEXT)
    payload: Payload = attrs.field(converter=to_member(Payload), validator=member(Payload))
    package_id: str = attrs.field(default="", validator=OPTIONAL_PACKAGE_ID)
    package_version: int = attrs.field(default=0, validator=VERSION)
    originating_site: str = attrs.field(validator=SITE_CODE)
    state: JobState = attrs.field(default=JobState.PENDING, converter=to_member(JobState),
                                  validator=member(JobState))
    send_request_id: str = attrs.field(default="", validator=OPTIONAL_REQUEST_ID)
    created: float = attrs.field(converter=to_millis, validator=TIMESTAMP)
    package: pkg.PackageReplication | None = pkg.carried_field()

    def __attrs_post_init__(self) -> None:
        pkg.check_carried(self.package, self.package_id)
        if (self.payload is Payload.NONE) != (self.transfer_root == ""):
            raise ValueError("the transfer root must be empty exactly when the payload is NONE "
                             f"(payload {self.payload}, transfer root {self.transfer_root!r})")


LAYOUT = Layout(SchedulerJob, "scheduler job", (
    one("JOB",
        Key("JobID", "job_id"),
        Key("Description", "description"),
        Key("Destination Site", "destination_site"),
        Key("Preferred Address", "preferred_address"),
        Key("Priority", "priority", INTEGER),
        Key("Instruction Type", "instruction_type"),
        Key("Transfer Root", "transfer_root"),
        Key("Payload", "payload", enum(Payload)),
        Key("Package ID", "package_id"),
        Key("Package Version", "package_version", INTEGER),
        Key("Originating Site", "originating_site"),
        Key("State", "state", enum(JobState)),
        Key("Send Request ID", "send_request_id"),
        Key("Created", "created", ISO_TIME)),
    Embedded("package", pkg.LAYOUT),
))
dumps = LAYOUT.dumps
encode = LAYOUT.encode
parse = LAYOUT.parse
decode = LAYOUT.decode
read = LAYOUT.read


def job_file_name(job_id: str) -> str:
    """`<jobid>.job` in schedule.box."""
    JOB_ID.verify(job_id)
    return job_id + EXTENSION

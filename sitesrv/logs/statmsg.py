"""Status messages: the `STATMSG:` echo line every SMS server component logs, and its DB row.

The line's shape, from an SMS 2003 log (docs/sources.md#deepmicrosoft):
`STATMSG: ID=2300 SEV=I LEV=M SOURCE="SMS Server" COMP="SMS_DISTRIBUTION_MANAGER" SYS=LCTOPAZCEN
SITE=CEN PID=3808 TID=3612 GMTDATE=Mon Jun 07 23:23:16.472 2004 ISTR0="..." ... ISTR9=""
NUMATTRS=1 AID0=400 AVAL0="CEN0000E"`. A primary stores the message in its database; a secondary
has none, so there the line in the component log is the whole record (see differences.md).
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from datetime import UTC, datetime

from sitesrv.db.sitedb import StatusMessage
from sitesrv.formats import svf
from sitesrv.logs.smslog import SmsLog

# Attribute IDs (docs/sources.md#package-actions): 400 package ID, 404 DP NAL path, 410 version.
AID_PACKAGE = 400
AID_DP = 404
AID_VERSION = 410


def process_id_for(site: str) -> int:
    """A stable SMSEXEC process ID per site, so step-mode logs are deterministic."""
    return 1000 + zlib.crc32(site.encode()) % 3000


def gmt_date(when: float) -> str:
    """`Mon Jun 07 23:23:16.472 2004`: GMTDATE as the echo line writes it. Milliseconds are
    rounded as the site database rounds them, so a stored message makes the same line."""
    ms = round(when * 1000)
    second, year = _gmt_second(ms // 1000)
    return f"{second}.{ms % 1000:03d} {year}"


@functools.lru_cache(maxsize=64)
def _gmt_second(seconds: int) -> tuple[str, str]:
    """The date and time of one second, and its year: a unit raises its messages within the
    same few seconds, and formatting a datetime cost more than the rest of the line."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment:%a %b %d %H:%M:%S}", f"{moment:%Y}"


def statmsg_line(message: StatusMessage) -> str:
    strings, attributes = message.InsStrings, message.Attributes
    parts = [
        f"STATMSG: ID={message.MessageID} SEV={message.Severity} LEV={message.Level} "
        f'SOURCE="{message.ModuleName}" COMP="{message.Component}" SYS={message.MachineName} '
        f"SITE={message.SiteCode} PID={message.ProcessID} TID={message.ThreadID} "
        f"GMTDATE={gmt_date(message.Time)}",
        *[f'ISTR{i}="{s}"' for i, s in enumerate(strings)],
    ]
    if len(strings) < len(_UNUSED_STRINGS):
        parts.append(_UNUSED_STRINGS[len(strings)])
    parts.append(f"NUMATTRS={len(attributes)}")
    parts += [f'AID{i}={aid} AVAL{i}="{value}"' for i, (aid, value) in enumerate(attributes)]
    return " ".join(parts)


# `ISTRn=""` to `ISTR9=""` by n: the insertion strings a message leaves empty, written once.
_UNUSED_STRINGS = tuple(" ".join(f'ISTR{i}=""' for i in range(n, 10)) for n in range(10))


def to_file(message: StatusMessage) -> svf.StatusMessageFile:
    """The `.SVF` record of a message."""
    return svf.StatusMessageFile(
        message_id=message.MessageID, severity=message.Severity, level=message.Level,
        module_name=message.ModuleName, component=message.Component,
        machine_name=message.MachineName, site_code=message.SiteCode,
        process_id=message.ProcessID, thread_id=message.ThreadID, time=message.Time,
        strings=[svf.InsertionString(value=s) for s in message.InsStrings],
        attributes=[svf.Attribute(id=aid, value=value) for aid, value in message.Attributes])


def from_file(record: svf.StatusMessageFile) -> StatusMessage:
    """The message an `.SVF` carries, as the database stores it."""
    return StatusMessage(
        MessageID=record.message_id, Severity=record.severity, Level=record.level,
        ModuleName=record.module_name, Component=record.component,
        MachineName=record.machine_name, SiteCode=record.site_code,
        ProcessID=record.process_id, ThreadID=record.thread_id, Time=record.time,
        InsStrings=tuple([s.value for s in record.strings]),
        Attributes=tuple([(a.id, a.value) for a in record.attributes]))


class StatusReporter:
    """Raises status messages for one component at one site: the log line, then `deliver`."""

    def __init__(self, log: SmsLog, site: str, server: str,
                 deliver: Callable[[StatusMessage], object]) -> None:
        self.log = log
        self.site = site
        self.server = server
        self.deliver = deliver

    def report(self, message_id: int, *strings: str, severity: str = "I",
               attributes: tuple[tuple[int, str], ...] = ()) -> StatusMessage:
        message = StatusMessage(
            MessageID=message_id,
            Severity=severity,
            Component=self.log.component,
            MachineName=self.server,
            SiteCode=self.site,
            Time=self.log.clock.now(),
            ProcessID=process_id_for(self.site),
            ThreadID=self.log.thread,
            InsStrings=strings,
            Attributes=attributes,
        )
        self.log.write(statmsg_line(message))
        self.deliver(message)
        return message

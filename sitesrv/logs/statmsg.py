"""Status messages: the `STATMSG:` echo line every SMS server component logs, and its DB row.

The line's shape, from an SMS 2003 log (docs/sources.md#deepmicrosoft):
`STATMSG: ID=2300 SEV=I LEV=M SOURCE="SMS Server" COMP="SMS_DISTRIBUTION_MANAGER" SYS=LCTOPAZCEN
SITE=CEN PID=3808 TID=3612 GMTDATE=Mon Jun 07 23:23:16.472 2004 ISTR0="..." ... ISTR9=""
NUMATTRS=1 AID0=400 AVAL0="CEN0000E"`. A primary stores the message in its database; a secondary
has none, so there the line in the component log is the whole record (see differences.md).
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

from sitesrv.db.sitedb import SiteDatabase, StatusMessage
from sitesrv.logs.smslog import SmsLog

# Attribute IDs (docs/sources.md#package-actions): 400 package ID, 404 DP NAL path, 410 version.
AID_PACKAGE = 400
AID_DP = 404
AID_VERSION = 410


def process_id_for(site: str) -> int:
    """A stable SMSEXEC process ID per site, so step-mode logs are deterministic."""
    return 1000 + zlib.crc32(site.encode()) % 3000


def gmt_date(when: float) -> str:
    """`Mon Jun 07 23:23:16.472 2004`: GMTDATE as the echo line writes it."""
    moment = datetime.fromtimestamp(when, UTC)
    return f"{moment:%a %b %d %H:%M:%S}.{moment.microsecond // 1000:03d} {moment:%Y}"


def statmsg_line(message: StatusMessage) -> str:
    strings = message.InsStrings + ("",) * (10 - len(message.InsStrings))
    parts = [
        f"STATMSG: ID={message.MessageID} SEV={message.Severity} LEV={message.Level} "
        f'SOURCE="{message.ModuleName}" COMP="{message.Component}" SYS={message.MachineName} '
        f"SITE={message.SiteCode} PID={message.ProcessID} TID={message.ThreadID} "
        f"GMTDATE={gmt_date(message.Time)}",
        *(f'ISTR{i}="{s}"' for i, s in enumerate(strings)),
        f"NUMATTRS={len(message.Attributes)}",
        *(f'AID{i}={aid} AVAL{i}="{value}"' for i, (aid, value) in enumerate(message.Attributes)),
    ]
    return " ".join(parts)


class StatusReporter:
    """Raises status messages for one component at one site."""

    def __init__(self, log: SmsLog, site: str, server: str, db: SiteDatabase | None) -> None:
        self.log = log
        self.site = site
        self.server = server
        self.db = db

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
        if self.db is not None:
            self.db.insert_status_message(message)
        return message

"""The STATMSG echo line has the shape of docs/sources.md#deepmicrosoft, and primaries store the message."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sitesrv.db.sitedb import SiteDatabase, StatusMessage
from sitesrv.lab.clock import VirtualClock
from sitesrv.logs.smslog import SmsLog, parse_line
from sitesrv.logs.statmsg import AID_PACKAGE, StatusReporter, statmsg_line


def test_line_matches_the_reference_sample() -> None:
    when = datetime(2004, 6, 7, 23, 23, 16, 472000, tzinfo=UTC).timestamp()
    message = StatusMessage(
        MessageID=2300, Severity="I", Component="SMS_DISTRIBUTION_MANAGER",
        MachineName="LCTOPAZCEN", SiteCode="CEN", Time=when, ProcessID=3808, ThreadID=3612,
        InsStrings=("Lab 1 - Test package", "CEN0000E"), Attributes=((AID_PACKAGE, "CEN0000E"),),
    )
    assert statmsg_line(message) == (
        'STATMSG: ID=2300 SEV=I LEV=M SOURCE="SMS Server" COMP="SMS_DISTRIBUTION_MANAGER" '
        "SYS=LCTOPAZCEN SITE=CEN PID=3808 TID=3612 GMTDATE=Mon Jun 07 23:23:16.472 2004 "
        'ISTR0="Lab 1 - Test package" ISTR1="CEN0000E" ISTR2="" ISTR3="" ISTR4="" ISTR5="" '
        'ISTR6="" ISTR7="" ISTR8="" ISTR9="" NUMATTRS=1 AID0=400 AVAL0="CEN0000E"'
    )


def test_reporter_logs_and_stores(tmp_path: Path) -> None:
    clock = VirtualClock()
    log = SmsLog(tmp_path / "distmgr.log", "SMS_DISTRIBUTION_MANAGER", clock, site="ZZZ")
    with SiteDatabase.create(tmp_path / "site.db") as db:
        StatusReporter(log, "ZZZ", "MGMT01", db.insert_status_message).report(
            2301, "Demo", "ZZZ00001", attributes=((AID_PACKAGE, "ZZZ00001"),))
        rows = db.execute_user_sql(
            "SELECT MessageID, Severity, Component, MachineName, SiteCode, ISTR0, ISTR1 "
            "FROM StatusMessages").rows
    assert rows == ((2301, "I", "SMS_DISTRIBUTION_MANAGER", "MGMT01", "ZZZ", "Demo", "ZZZ00001"),)
    (line,) = (tmp_path / "distmgr.log").read_text().splitlines()
    parsed = parse_line(line)
    assert parsed is not None and parsed.text.startswith("STATMSG: ID=2301 SEV=I LEV=M")
    assert f"TID={log.thread} " in parsed.text and "SYS=MGMT01 SITE=ZZZ" in parsed.text

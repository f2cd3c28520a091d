"""Status Manager: every site's status messages reach the central site's database (step mode).

Components hand their messages to `statmgr.box\\statmsgs` as `.SVF` files; each primary stores
them, and every site but the central one replicates them to its parent.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from sitesrv.admin import console
from sitesrv.admin.lab import Lab
from sitesrv.db.sitedb import StatusMessage, parse_time
from sitesrv.formats import svf
from sitesrv.lab.clock import VIRTUAL_EPOCH
from sitesrv.logs.statmsg import statmsg_line
from sitesrv.testing import (
    assert_in_order,
    drop,
    files,
    log_lines,
    log_messages,
    query,
    running,
    wait_for,
    write_source,
)

ALL_DPS = ["ZZZ:MGMT01", "P00:REMOTE_DP", "S01:SEC01"]
LOGS = ("distmgr.log", "despool.log", "sched.log", "sender.log", "replmgr.log", "offermgr.log",
        "inboxmgr.log")
COLUMNS = ("MessageID, Severity, Level, ModuleName, Component, MachineName, SiteCode, "
           "ProcessID, ThreadID, Time, " + ", ".join(f"ISTR{i}" for i in range(10)) + ", RecordID")
HOUR = 3600.0


def stored(lab: Lab, site: str, origin: str) -> list[str]:
    """The STATMSG lines that `site`'s StatusMessages rows of messages raised at `origin` make."""
    lines = []
    for *fields, record_id in query(lab, site, f"SELECT {COLUMNS} FROM StatusMessages WHERE "
                                               "SiteCode = ? ORDER BY RecordID", (origin,)):
        attributes = query(lab, site, "SELECT AttributeID, AttributeValue FROM "
                                      "StatusMessageAttributes WHERE RecordID = ?", (record_id,))
        strings = tuple(fields[10:])
        while strings and strings[-1] == "":
            strings = strings[:-1]
        lines.append(statmsg_line(StatusMessage(
            MessageID=fields[0], Severity=fields[1], Level=fields[2], ModuleName=fields[3],
            Component=fields[4], MachineName=fields[5], SiteCode=fields[6],
            ProcessID=fields[7], ThreadID=fields[8], Time=parse_time(fields[9]),
            InsStrings=strings, Attributes=tuple(map(tuple, attributes)))))
    return lines


def logged(lab: Lab, site: str) -> list[str]:
    """Every STATMSG line the site's components logged."""
    return [m for log in LOGS for m in log_messages(lab, site, log) if m.startswith("STATMSG: ")]


def message(when: float, message_id: int = 2301) -> svf.StatusMessageFile:
    return svf.StatusMessageFile(
        message_id=message_id, severity="I", level="M", module_name="SMS Server",
        component="SMS_DISTRIBUTION_MANAGER", machine_name="MGMT03", site_code="P00",
        process_id=2154, thread_id=1001, time=when,
        strings=(svf.InsertionString(value="Demo"),))


def test_the_messages_of_the_child_and_the_secondary_reach_the_central_site(
        lab: Lab, tmp_path: Path) -> None:
    console.create_package(lab, "ZZZ", name="Demo", source=write_source(tmp_path / "src"),
                           dps=ALL_DPS)
    assert lab.run_until_idle(seed=1).status == "idle"
    for origin in ("P00", "S01"):
        raised = logged(lab, origin)
        assert raised, f"{origin} raised status messages"
        # Each message the site logged is a row at the central site, field for field as the
        # line shows it (the line is unchanged: it is made from the same message).
        assert sorted(stored(lab, "ZZZ", origin)) == sorted(raised), origin
    assert sorted(stored(lab, "P00", "P00")) == sorted(logged(lab, "P00"))
    assert sorted(stored(lab, "P00", "S01")) == sorted(logged(lab, "S01")), "P00 stores S01's"
    assert sorted(stored(lab, "ZZZ", "ZZZ")) == sorted(logged(lab, "ZZZ"))
    for site in ("ZZZ", "P00", "S01"):
        assert not files(lab.site(site).inbox("statmgr.box\\statmsgs"), "*.SVF"), site
    summary = [m for m in log_messages(lab, "S01", "statmgr.log") if "processed" in m]
    assert summary and all("0 were written to the site database" in m for m in summary)


def test_a_message_from_the_future_waits_in_futureq_until_it_is_due(lab: Lab) -> None:
    due = VIRTUAL_EPOCH + 2 * HOUR
    drop(lab.site("ZZZ").inbox("statmgr.box\\statmsgs"), "FUTURE01.SVF",
         svf.encode(message(due)))
    report = lab.run_until_idle(seed=1, horizon=HOUR)
    assert report.status == "waiting"
    assert files(lab.site("ZZZ").inbox("statmgr.box\\futureq"), "*.SVF") == ["FUTURE01.SVF"]
    assert query(lab, "ZZZ", "SELECT COUNT(*) FROM StatusMessages") == [(0,)]
    assert any("FUTURE01.SVF is stamped" in m and "futureq" in m
               for m in log_messages(lab, "ZZZ", "statmgr.log"))
    assert lab.run_until_idle(seed=1, horizon=2 * HOUR).status == "idle"
    assert not files(lab.site("ZZZ").inbox("statmgr.box\\futureq"))
    ((when,),) = query(lab, "ZZZ", "SELECT Time FROM StatusMessages")
    assert parse_time(when) == due
    last = log_lines(lab, "ZZZ", "statmgr.log")[-1]
    assert "1 were written to the site database" in last.text


def test_a_malformed_message_goes_to_corrupt_with_its_line(lab: Lab) -> None:
    box = lab.site("P00").inbox("statmgr.box\\statmsgs")
    drop(box, "BROKEN01.SVF", b"[STATUS MESSAGE]\nMessageID=many\n[END]\n")
    report = lab.run_until_idle(seed=1)
    assert report.status == "waiting", "a quarantined file is a problem the run reports"
    assert any("BROKEN01.SVF" in line for line in report.lines())
    assert (box / "corrupt" / "BROKEN01.SVF").is_file()
    assert any("BROKEN01.SVF" in m for m in log_messages(lab, "P00", "statmgr.log"))
    assert query(lab, "P00", "SELECT COUNT(*) FROM StatusMessages") == [(0,)]


@pytest.mark.live_fs
def test_live_the_secondarys_messages_reach_the_central_site(lab: Lab, tmp_path: Path) -> None:
    """The same with the site servers running live: the watchers find each .SVF in
    statmgr.box\\statmsgs, and S01's messages end up in ZZZ's database."""
    console.create_package(lab, "ZZZ", name="Live", source=write_source(tmp_path / "source"),
                           dps=["ZZZ:MGMT01", "S01:SEC01"])

    def s01_rows() -> list[tuple[object, ...]]:
        return query(lab, "ZZZ", "SELECT MessageID FROM StatusMessages WHERE SiteCode = 'S01'")

    with running(lab, timeout=60):
        wait_for(s01_rows, 60, "a status message of S01 in ZZZ's database")


def test_a_message_of_a_site_not_in_the_lab_or_not_below_is_refused(lab: Lab) -> None:
    """A valid message of site XYZ dropped at P00 was stored there and sent up to ZZZ (a bug
    hunt found it): a site stores its own messages and those of the sites below it."""
    box = lab.site("P00").inbox("statmgr.box\\statmsgs")
    drop(box, "STRANGE1.SVF", svf.encode(attrs.evolve(message(VIRTUAL_EPOCH), site_code="XYZ")))
    drop(box, "PARENTS1.SVF", svf.encode(attrs.evolve(message(VIRTUAL_EPOCH), site_code="ZZZ")))
    drop(box, "SECONDRY.SVF", svf.encode(attrs.evolve(message(VIRTUAL_EPOCH), site_code="S01")))
    report = lab.run_until_idle(seed=1)
    assert report.status == "waiting", "a quarantined file is a problem the run reports"
    assert sorted(p.name for p in (box / "corrupt").glob("*.SVF")) == ["PARENTS1.SVF",
                                                                        "STRANGE1.SVF"]
    assert_in_order(log_messages(lab, "P00", "statmgr.log"), [
        "Moved the corrupt file E:\\SMS\\inboxes\\statmgr.box\\statmsgs\\PARENTS1.SVF to "
        "E:\\SMS\\inboxes\\statmgr.box\\statmsgs\\corrupt\\PARENTS1.SVF: it reports status of "
        "site ZZZ, which is neither P00 nor a site below it",
        "Moved the corrupt file E:\\SMS\\inboxes\\statmgr.box\\statmsgs\\STRANGE1.SVF to "
        "E:\\SMS\\inboxes\\statmgr.box\\statmsgs\\corrupt\\STRANGE1.SVF: it reports status of "
        "site XYZ, which is not in this lab"])
    for site in ("P00", "ZZZ"):
        assert query(lab, site, "SELECT SiteCode FROM StatusMessages WHERE MessageID = 2301 "
                                "ORDER BY SiteCode") == [("S01",)], site

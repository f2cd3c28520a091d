"""`sitesrv trace`: the waits of a package's files are part of its journey (bug hunt: the trace
left them out, and with them the stuck part of every story)."""

from __future__ import annotations

import json

from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from sitesrv.admin.lab import Lab
from sitesrv.admin.status import _waits, trace_lines
from sitesrv.cli.main import cli
from sitesrv.testing import StuckLabFactory

SCHEDULE = "E:\\SMS\\inboxes\\schedule.box\\"
SNI = "E:\\SMS\\inboxes\\despoolr.box\\receive\\2_001ZZZ.SNI"
INCOMING = "E:\\SMS\\inboxes\\distmgr.box\\INCOMING\\"
INFO = "waits for the package information of ZZZ00001 version 1"


def event(second: int, name: str, site: str, component: str, **fields: object) -> str:
    return json.dumps({"time": f"2007-06-04T09:00:{second:02d}.000Z", "event": name,
                       "site": site, "component": component, **fields}) + "\n"


def deferred(second: int, site: str, component: str, file: str, reason: str) -> str:
    return event(second, "deferred", site, component, file=file, reason=reason,
                 until=f"2007-06-04T09:01:{second:02d}.000Z")


def test_a_wait_is_the_packages_by_its_reason_its_file_or_its_job_and_repeats_are_counted(
        lab: Lab) -> None:
    distmgr, sched, despool = ("SMS_DISTRIBUTION_MANAGER", "SMS_SCHEDULER", "SMS_DESPOOLER")
    lab.layout.events.write_text("".join([
        event(1, "job_activated", "ZZZ", sched, job="00000001", package="ZZZ00001", to="P00"),
        deferred(1, "ZZZ", sched, SCHEDULE + "00000001.job", "waits for send request 2_001ZZZ"),
        deferred(2, "ZZZ", sched, SCHEDULE + "00000002.job", "waits for send request 2_002ZZZ"),
        event(3, "instruction_retry", "P00", despool, file=SNI, package="ZZZ00001", version=1,
              reason=INFO),
        deferred(3, "P00", despool, SNI, INFO),  # the retry above says it already
        deferred(4, "P00", despool, SNI, "waits for a job ID (UID)"),  # its file is the package's
        *(deferred(s, "S01", distmgr, INCOMING + "F64G8PUG.PKG", "waits for version 1 of "
                   "ZZZ00001") for s in (5, 35, 59)),
        deferred(6, "S01", distmgr, INCOMING + "AAAAAAAA.PKG", "waits for version 1 of ZZZ00002"),
        deferred(7, "S01", distmgr, INCOMING + "BBBBBBBB.PKG", "waits for version 1 of ZZZ000012"),
    ]))
    assert trace_lines(lab, "zzz00001") == [
        "2007-06-04T09:00:01.000Z  ZZZ  SMS_SCHEDULER               job_activated       to=P00",
        "2007-06-04T09:00:01.000Z  ZZZ  SMS_SCHEDULER               deferred            "
        f"{SCHEDULE}00000001.job  reason=waits for send request 2_001ZZZ",
        "2007-06-04T09:00:03.000Z  P00  SMS_DESPOOLER               instruction_retry   "
        f"{SNI}  version=1  reason={INFO}",
        "2007-06-04T09:00:04.000Z  P00  SMS_DESPOOLER               deferred            "
        f"{SNI}  reason=waits for a job ID (UID)",
        "2007-06-04T09:00:05.000Z  S01  SMS_DISTRIBUTION_MANAGER    deferred            "
        f"{INCOMING}F64G8PUG.PKG  reason=waits for version 1 of ZZZ00001  times=3  "
        "last=2007-06-04T09:00:59.000Z"]


def test_the_trace_of_a_child_that_lost_its_pck_ends_in_its_wait(
        sitesrv_stuck_lab: StuckLabFactory) -> None:
    """The symptom, P00 waiting for the compressed files, is the trace's last step, once."""
    lab = sitesrv_stuck_lab("child-lost-its-pck", seed=1)
    result = CliRunner().invoke(cli, ["trace", "ZZZ00001", "--lab", str(lab.root)])
    assert result.exit_code == 0, result.output
    last = result.output.splitlines()[-1].split()
    assert last[1:4] == ["P00", "SMS_DISTRIBUTION_MANAGER", "deferred"]
    assert "reason=waits for the compressed files of ZZZ00001  times=" in result.output
    assert result.output.count("waits for the compressed files") == 1
    assert int(last[-2].removeprefix("times=")) > 10, "every retry pass, counted"




WAITS = st.lists(st.tuples(st.integers(0, 59), st.sampled_from(["ZZZ", "P00", "S01"]),
                           st.sampled_from(["A.PKG", "B.PKG"]),
                           st.sampled_from(["ZZZ00001", "ZZZ00002", "zzz00001", "ZZZ000012"])),
                 max_size=30)


@given(waits=WAITS)
def test_each_wait_of_the_package_is_counted_once_on_the_line_of_its_file_and_reason(
        waits: list[tuple[int, str, str, str]]) -> None:
    events = [json.loads(deferred(second, site, "SMS_DISTRIBUTION_MANAGER", INCOMING + file,
                                  f"waits for version 1 of {package}"))
              for second, site, file, package in waits]
    mine = [e for e, w in zip(events, waits, strict=True) if w[3].upper() == "ZZZ00001"]
    lines = _waits(events, [], "ZZZ00001")
    assert sum(line["times"] for line in lines) == len(mine)
    for line in lines:
        same = [e for e in mine if (e["site"], e["file"], e["reason"]) ==
                (line["site"], line["file"], line["reason"])]
        assert (line["time"], line["last"], line["times"]) == (
            same[0]["time"], same[-1]["time"], len(same)), "first and last in the log's order"

"""Instructions for another site become a job for this site's Scheduler; batches go to their inbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitesrv.formats import job, pkg, sta
from sitesrv.formats.values import Payload
from sitesrv.runtime.idle import ExitCode
from sitesrv.testing import files
from tests.despooler.conftest import (
    PKG_ID,
    Packages,
    carried,
    deliver,
    despool_log,
    run,
    site,
)


def test_an_instruction_for_another_site_becomes_a_job_here(
        lab: Path, packages: Packages) -> None:
    instruction = deliver(lab, "P00", "2_001ZZZ", packages.pck1, final="S01")
    report = run(lab)
    assert report.exit_code == ExitCode.IDLE and report.errors == 0

    layout = site(lab, "P00")
    tosend = layout.inbox("schedule.box\\tosend") / "2_001ZZZ.PCK"
    assert tosend.read_bytes() == packages.pck1.read_bytes()
    assert files(layout.inbox("schedule.box")) == ["00000001.job"]
    assert files(layout.inbox("schedule.box\\UID")) == ["00000001.req", "00000002.job"]
    made = job.read(layout.inbox("schedule.box") / "00000001.job")
    assert made == job.SchedulerJob(
        job_id="00000001", description=instruction.description, destination_site="S01",
        priority=2, instruction_type=job.PACKAGE_INSTRUCTION,
        transfer_root="\\\\MGMT03\\SMS_P00\\inboxes\\schedule.box\\tosend\\2_001ZZZ.PCK",
        payload=Payload.PCK, package_id=PKG_ID, package_version=1, originating_site="ZZZ",
        created=made.created, package=carried(1))
    assert files(layout.receive) == [] and files(layout.smspkg) == []
    assert despool_log(lab, "P00")[-2:] == [
        "~The final destination of this instruction is site S01, created job 00000001 to send "
        "it on.",
        "~Despooler successfully executed one instruction.",
    ]


@pytest.mark.parametrize("kind, folder, pattern", [
    (Payload.RPL, "replmgr.box\\incoming", "2_001ZZZ.RPL"),
    (Payload.PKG, "distmgr.box\\INCOMING", "*.PKG"),
    (Payload.STA, "distmgr.box\\INCOMING", "*.STA"),
])
def test_a_replication_payload_moves_to_its_inbox(
        lab: Path, kind: Payload, folder: str, pattern: str) -> None:
    data = {Payload.RPL: b"a replication batch\n", Payload.PKG: pkg.encode(carried(1)),
            Payload.STA: sta.encode(sta.PackageStatusReport(
                reporting_site="ZZZ", package_id=PKG_ID, rows=(sta.PkgStatusRow(
                    package_id=PKG_ID, type=1, site_code="ZZZ", pkg_server="MGMT01", status=2,
                    source_version=1, update_time=0.0),)))}[kind]
    deliver(lab, "P00", "2_001ZZZ", data, kind=kind)
    report = run(lab)
    assert report.exit_code == ExitCode.IDLE and report.errors == 0
    inbox = site(lab, "P00").inbox(folder)
    [name] = files(inbox, pattern)
    assert (inbox / name).read_bytes() == data
    assert files(site(lab, "P00").receive) == []
    assert despool_log(lab, "P00")[-1] == "~Despooler successfully executed one instruction."

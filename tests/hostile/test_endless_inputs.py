"""Inputs that could keep a site server busy for ever must let a run end.

Each of these files, dropped into a fresh lab, makes a step-mode run end as `idle` or
`waiting` (never `timeout`) within 3000 counted steps, and the run's report names the file or
where it was quarantined, so a person can find it. Both timing profiles: `lab`, and
`sms2003` (SMS's real delays; marked slow, as a run that waits covers its 14-day horizon of
SQL Monitor polls, minutes of real time).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sitesrv.admin.lab import Lab, default_hierarchy_file
from sitesrv.compression import pack
from sitesrv.formats import job as jobfile
from sitesrv.formats import pkg, sni, srq
from sitesrv.lab.clock import VIRTUAL_EPOCH
from sitesrv.testing import LabFactory, drop, write_source

from .conftest import (
    JOB_ID,
    REMOTE_DP,
    REQUEST_ID,
    assert_ended,
    carried_package,
    deliver,
    instruction,
    instruction_file,
    run,
    scheduler_job,
    send_request,
    stored_pck,
)

# Each plants its input in the lab and returns a text the run's report must name.
Input = Callable[[Lab, Path], str]


def _job_named_after_another_id(lab: Lab, tmp_path: Path) -> str:
    stored_pck(lab, tmp_path)
    drop(lab.site("ZZZ").inbox("schedule.box"), "00000099.job", jobfile.encode(scheduler_job()))
    return "00000099.job"


def _two_jobs_with_one_job_id(lab: Lab, tmp_path: Path) -> str:
    stored_pck(lab, tmp_path)
    box = lab.site("ZZZ").inbox("schedule.box")
    drop(box, jobfile.job_file_name(JOB_ID), jobfile.encode(scheduler_job()))
    drop(box, jobfile.job_file_name(JOB_ID).upper(), jobfile.encode(scheduler_job()))
    return JOB_ID


def _instruction_for_version_2_to_the_31(lab: Lab, tmp_path: Path) -> str:
    # sitesrv refuses to write such a version (SMS keeps versions in an int): written by hand.
    data = pack(write_source(tmp_path / "big-version"), tmp_path / "ZZZ00001.PCK", "ZZZ00001",
                1).path.read_bytes()
    text = sni.encode(instruction(data, version=1, package=carried_package(1)))
    deliver(lab, "P00", REQUEST_ID, data,
            text.replace(b"Package Version=1\n", f"Package Version={2**31}\n".encode()))
    return REQUEST_ID


def _package_no_site_knows(lab: Lab, tmp_path: Path) -> str:
    record = pkg.PackageReplication(
        package_id="ZZZ0ABCD", name="Ghost", source_site="ZZZ", source_version=1,
        last_refresh_time=VIRTUAL_EPOCH, action=pkg.PackageAction.UPDATE, issuing_site="ZZZ",
        content_site="ZZZ", servers=(REMOTE_DP,))
    drop(lab.site("P00").inbox("distmgr.box\\INCOMING"), "GHOST001.PKG", pkg.encode(record))
    return "GHOST001.PKG"


def _send_request_to_a_site_not_in_the_lab(lab: Lab, tmp_path: Path) -> str:
    pck = stored_pck(lab, tmp_path)
    instruction_file(lab, payload=pck.read_bytes())
    request = send_request(lab, dest_site="QQQ", final_destination_site="QQQ", addresses=(
        srq.SenderAddress(address="\\\\QQQSRV\\SMS_SITE", type="LAN"),))
    drop(lab.site("ZZZ").inbox("schedule.box\\outboxes\\LAN"), f"{REQUEST_ID}.srq",
         srq.encode(request))
    return f"{REQUEST_ID}.srq"


INPUTS: dict[str, Input] = {
    "a valid job named after another job ID": _job_named_after_another_id,
    "two jobs with the same job ID": _two_jobs_with_one_job_id,
    "an instruction for package version 2147483648": _instruction_for_version_2_to_the_31,
    "a .PKG for a package no site knows": _package_no_site_knows,
    "a send request to site QQQ, not in the lab": _send_request_to_a_site_not_in_the_lab,
}
PROFILES = [pytest.param("lab", id="lab profile"),
            pytest.param("sms2003", id="sms2003 profile", marks=pytest.mark.slow)]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("plant", INPUTS.values(), ids=INPUTS.keys())
def test_a_run_ends_and_names_an_input_that_never_completes(
        sitesrv_lab_factory: LabFactory, tmp_path: Path, plant: Input, profile: str) -> None:
    text = default_hierarchy_file().read_text(encoding="utf-8")
    assert "profile: lab" in text
    lab = sitesrv_lab_factory(text.replace("profile: lab", f"profile: {profile}"), name="lab")
    name = plant(lab, tmp_path)

    report = run(lab)

    assert_ended(report)
    assert any(name in line for line in report.lines()), (
        f"the report does not name {name}:\n" + "\n".join(report.lines()))

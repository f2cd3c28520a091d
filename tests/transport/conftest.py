"""Labs and helpers for transport tests: Replication Manager, Scheduler, Sender (and, where a
test follows a batch to its destination, the Despooler).

Labs come from the plugin: `lab` is the default lab's folder, and `sitesrv_lab_factory` builds
one from `two_children(...)`; the shared helpers are sitesrv.testing's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sitesrv.admin.lab import Lab
from sitesrv.components.despooler import Despooler
from sitesrv.components.replmgr import ReplicationManager
from sitesrv.components.scheduler import Scheduler
from sitesrv.components.sender import Sender
from sitesrv.formats import job as jobfile
from sitesrv.formats import pkg, sta
from sitesrv.formats.values import Payload
from sitesrv.runtime.registry import Registry
from sitesrv.testing import drop, free_files, inbox

TRANSPORT = (ReplicationManager, Scheduler, Sender)
SENDING = Registry(primary=(Scheduler, Sender), secondary=(Scheduler, Sender))
EVERYTHING = Registry(primary=(*TRANSPORT, Despooler), secondary=(*TRANSPORT, Despooler))
START = datetime(2007, 6, 4, 9, 0, 0, tzinfo=UTC).timestamp()

# Central ZZZ with two child primaries; rates, schedules and sender settings set per test. The
# transport tests pin the Sender's, Scheduler's and Replication Manager's own timers to the
# millisecond (a retry 2 s after a failure, a batch held 60 s), so their labs take files at no
# cost in lab time (sitesrv.testing.free_files).
TWO_CHILDREN = """\
sites:
  - {{code: ZZZ, server: MGMT01, drive: E, package_drive: F, time_zone_bias: 300}}
  - {{code: P00, server: MGMT03, parent: ZZZ, drive: E, package_drive: F, time_zone_bias: 300}}
  - {{code: P01, server: MGMT04, parent: ZZZ, drive: E, package_drive: F, time_zone_bias: 300}}
addresses:
  - {{from: ZZZ, to: P00, priority: 1{p00}}}
  - {{from: ZZZ, to: P01, priority: 1{p01}}}
sender: {{max_concurrent: {total}, max_per_site: {per_site}, retries: 2}}
timing: {{profile: lab, file_notice: 0, instruction_cost: 0{timing}}}  # free_files
"""


def two_children(*, p00: str = "", p01: str = "", total: int = 5, per_site: int = 3,
                 timing: str = "") -> str:
    return TWO_CHILDREN.format(p00=p00, p01=p01, total=total, per_site=per_site, timing=timing)


@pytest.fixture
def sitesrv_hierarchy(default_hierarchy_text: str) -> str:
    """The default lab, taking files at no cost in lab time."""
    return free_files(default_hierarchy_text)


@pytest.fixture
def lab(sitesrv_lab: Lab) -> Path:
    """The default lab's folder, which the drivers and the helpers below take."""
    return sitesrv_lab.root


def event_time(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()


def content_job(lab: Path, job_id: str, data: bytes, *, dest: str = "P00", priority: int = 2,
                package_id: str = "ZZZ00001", site: str = "ZZZ") -> Path:
    """A Distribution Manager-style minijob: send `SMSPKG\\<PkgID>.PCK` (these bytes) to `dest`."""
    pck = lab / site / "SMSPKG" / f"{package_id}.PCK"
    pck.write_bytes(data)
    record = pkg.PackageReplication(
        package_id=package_id, name="Demo", source_site=site, source_version=1,
        last_refresh_time=START, priority=priority, action=pkg.PackageAction.UPDATE,
        issuing_site=site, content_site=site, forward=True, content=True, servers=())
    job = jobfile.SchedulerJob(
        job_id=job_id, description=f"Software Distribution for Demo, Package ID = {package_id}",
        destination_site=dest, priority=priority, instruction_type=jobfile.PACKAGE_INSTRUCTION,
        transfer_root=f"\\\\MGMT01\\SMS_CPSF$\\{package_id}.PCK", payload=Payload.PCK,
        package_id=package_id, package_version=1, originating_site=site, created=START,
        package=record)
    return drop(inbox(lab, site, "schedule.box"), jobfile.job_file_name(job_id),
                jobfile.encode(job))


def pkg_object(tag: str = "") -> bytes:
    """A replication `.PKG` that reads as one (Replication Manager sends nothing else), told
    apart from others by `tag` in the package's name."""
    return pkg.encode(pkg.PackageReplication(
        package_id="ZZZ00001", name=f"Demo{tag}", source_site="ZZZ", source_version=1,
        last_refresh_time=START, action=pkg.PackageAction.UPDATE, issuing_site="ZZZ"))


def sta_object(site: str = "S01") -> bytes:
    """A `.STA` that reads as one: `site`'s compressed copy of ZZZ00001 received."""
    return sta.encode(sta.PackageStatusReport(
        reporting_site=site, package_id="ZZZ00001", rows=(sta.PkgStatusRow(
            package_id="ZZZ00001", type=sta.MASTER, site_code=site, pkg_server="SEC01",
            status=2, source_version=1, update_time=START),)))


def replication_object(lab: Path, dest: str, name: str, data: bytes, *, site: str = "ZZZ",
                       priority_folder: str = "normal") -> Path:
    return drop(inbox(lab, site, f"replmgr.box\\outbound\\{priority_folder}"),
                f"{dest}_{name}", data)

"""Scheduler: jobs become instructions and send requests, routed through the parent when there
is no direct address, completed, retried or failed as the Sender's `.srs` says."""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path

import attrs
import pytest

from sitesrv.components.scheduler import Scheduler
from sitesrv.components.statmgr import StatusManager
from sitesrv.formats import job as jobfile
from sitesrv.formats import sni, srq
from sitesrv.formats.job import JobState
from sitesrv.formats.values import Payload
from sitesrv.runtime.faults import AFTER_PUBLISH, BEFORE_PUBLISH, FaultPoint
from sitesrv.runtime.live import LiveDriver
from sitesrv.runtime.registry import Registry
from sitesrv.runtime.step import run_until_idle
from sitesrv.testing import LabFactory, assert_in_order, events, files, inbox, log_messages, query
from tests.transport.conftest import (
    EVERYTHING,
    SENDING,
    START,
    TRANSPORT,
    content_job,
    event_time,
    replication_object,
    sta_object,
    two_children,
)

SCHEDULER_ONLY = Registry(primary=(Scheduler,), secondary=(Scheduler,))
# The Scheduler and Status Manager, which stores the Scheduler's status messages.
WITH_STATUS = Registry(primary=(Scheduler, StatusManager), secondary=(Scheduler,))
DATA = random.Random(7).randbytes(300_000)


class Watch:
    """An injector that never crashes: it notes each publish, and what `receive` held then."""

    def __init__(self, receive: Path) -> None:
        self.receive = receive
        self.seen: list[tuple[str, str, list[str], int]] = []

    def __call__(self, point: FaultPoint) -> bool:
        if point.name in (BEFORE_PUBLISH, AFTER_PUBLISH) and point.path:
            pck = self.receive / "2_001ZZZ.PCK"
            size = pck.stat().st_size if pck.exists() else -1
            self.seen.append((point.name, Path(point.path).name, files(self.receive), size))
        return False


def test_a_content_job_arrives_as_pck_then_sni_with_its_digest(lab: Path) -> None:
    content_job(lab, "00000001", DATA)
    receive = inbox(lab, "P00", "despoolr.box\\receive")
    watch = Watch(receive)
    report = run_until_idle(lab, components=SENDING, sites=["ZZZ"], faults=watch)
    assert (report.status, report.errors) == ("idle", 0)

    assert files(receive) == ["2_001ZZZ.PCK", "2_001ZZZ.SNI"]  # no .TMP, no .PCK.TMP
    assert (receive / "2_001ZZZ.PCK").read_bytes() == DATA
    instruction = sni.read(receive / "2_001ZZZ.SNI")
    assert instruction.payload_sha256 == hashlib.sha256(DATA).hexdigest()
    assert instruction.payload_size == len(DATA)
    assert (instruction.request_id, instruction.sending_site, instruction.originating_site,
            instruction.final_destination_site) == ("2_001ZZZ", "ZZZ", "ZZZ", "P00")
    assert instruction.package is not None and instruction.package.package_id == "ZZZ00001"
    # The package file was complete, under its final name, when the instruction's .TMP was
    # written and renamed .SNI.
    (sni_publish,) = [s for s in watch.seen if s[:2] == (BEFORE_PUBLISH, "2_001ZZZ.SNI")]
    assert sni_publish[2] == ["2_001ZZZ.PCK", "2_001ZZZ.TMP"] and sni_publish[3] == len(DATA)
    # The stored package is the package's, not the job's: it stays.
    assert (lab / "ZZZ/SMSPKG/ZZZ00001.PCK").read_bytes() == DATA
    sched = log_messages(lab, "ZZZ", "sched.log")
    assert "Transfer root:  \\\\MGMT01\\SMS_CPSF$\\ZZZ00001.PCK~" in sched
    assert not [t for t in sched if t.startswith("Deleting job package source")]
    assert files(inbox(lab, "ZZZ", "schedule.box")) == []
    assert files(inbox(lab, "ZZZ", "schedule.box\\tosend")) == []
    sender = log_messages(lab, "ZZZ", "sender.log")
    writes = [t for t in sender if t.startswith("~Wrote ")]
    assert_in_order(sender, [
        "~Package file = F:\\SMSPKG\\ZZZ00001.PCK",
        "~Sending Started [F:\\SMSPKG\\ZZZ00001.PCK]",
        *writes,
        "~Sending completed [F:\\SMSPKG\\ZZZ00001.PCK]",
        "~Finished sending SWD package ZZZ00001 version 1 to site P00",
        "~Sending Started [E:\\SMS\\inboxes\\schedule.box\\tosend\\00000001.IPT]",
        "~Sending completed [E:\\SMS\\inboxes\\schedule.box\\tosend\\00000001.IPT]",
        "~Renaming remote file \\\\MGMT03\\SMS_SITE\\2_001ZZZ.TMP to "
        "\\\\MGMT03\\SMS_SITE\\2_001ZZZ.SNI",
        "~Sending completed successfully",
    ])
    assert sum(int(t.split()[1]) for t in writes) == len(DATA)


def test_sched_log_follows_the_cm12_sequence_of_reference_4_5(lab: Path) -> None:
    content_job(lab, "00000001", DATA)
    report = run_until_idle(lab, components=SENDING, sites=["ZZZ"])
    assert (report.status, report.errors) == ("idle", 0)
    sched = log_messages(lab, "ZZZ", "sched.log")
    first = sched.index("========  Processing Jobs  ========")
    assert sched[first:first + 9] == [
        "========  Processing Jobs  ========",
        "<Activating JOB 00000001>[Software Distribution for Demo, Package ID = ZZZ00001]~",
        "Destination site:  P00, Preferred Address: *, Priority: 2",
        "Instruction type:  MICROSOFT|SMS|MINIJOBINSTRUCTION|PACKAGE~",
        "Creating instruction file: \\\\MGMT01\\SMS_ZZZ\\inboxes\\schedule.box\\tosend\\00000001.IPT~",
        "Transfer root:  \\\\MGMT01\\SMS_CPSF$\\ZZZ00001.PCK~",
        "Created new send request ID:  2_001ZZZ~",
        "====== Updating Send Request List =======",
        "There is direct address to site P00, no need for routing for send request 2_001ZZZ.",
    ]
    checking = sched.index("======  Checking Status of All Send Requests  ======")
    assert sched[checking:checking + 5] == [
        "======  Checking Status of All Send Requests  ======",
        "~====  Checking send requests for outbox \\\\MGMT01\\SMS_ZZZ\\inboxes\\schedule.box\\"
        "outboxes\\LAN.~~",
        "Checking send request 2_001ZZZ~",
        sched[checking + 3],
        "Send request has successfully completed.~",
    ]
    assert re.fullmatch(r"Sending completed \(\d+ bytes/sec\)\.~", sched[checking + 3])
    assert sched[checking + 5:] == [
        "<JOB STATUS - COMPLETE>~",
        "Deleting instruction file \\\\MGMT01\\SMS_ZZZ\\inboxes\\schedule.box\\tosend\\"
        "00000001.IPT.~",
        "Deleting send request with ID: 2_001ZZZ.~",
        "Deleted job 00000001.~",
    ]


def test_a_site_without_direct_address_is_reached_through_requests_and_the_parent(
        lab: Path) -> None:
    replication_object(lab, "S01", "Z3AWAX9I.STA", sta_object(), priority_folder="low")
    run_until_idle(lab, components=Registry(primary=(TRANSPORT[0], Scheduler)), sites=["ZZZ"])
    assert_in_order(log_messages(lab, "ZZZ", "sched.log"), [
        "Created new send request ID:  3_001ZZZ~",
        "There is no direct address to site S01, routing send request 3_001ZZZ through site P00.",
        "Scheduling send request 3_001ZZZ.",
    ])
    request = srq.read(inbox(lab, "ZZZ", "schedule.box\\outboxes\\LAN") / "3_001ZZZ.srq")
    assert (request.dest_site, request.routing_master_request_id, request.originating_site,
            request.final_destination_site) == ("P00", "3_001ZZZ", "ZZZ", "S01")
    assert [a.address for a in request.addresses] == ["\\\\MGMT03\\SMS_SITE"]
    assert files(inbox(lab, "ZZZ", "schedule.box\\requests")) == []

    run_until_idle(lab, components=SENDING, sites=["ZZZ"])
    instruction = sni.read(inbox(lab, "P00", "despoolr.box\\receive") / "3_001ZZZ.SNI")
    assert (instruction.final_destination_site, instruction.originating_site,
            instruction.sending_site, instruction.payload) == ("S01", "ZZZ", "ZZZ", Payload.RPL)


def test_a_routed_batch_travels_on_from_the_parent_and_its_copy_there_is_deleted(
        lab: Path) -> None:
    replication_object(lab, "S01", "Z3AWAX9I.STA", sta_object(), priority_folder="low")
    report = run_until_idle(lab, seed=3, components=EVERYTHING)
    assert (report.status, report.errors) == ("idle", 0)
    incoming = inbox(lab, "S01", "distmgr.box\\INCOMING")
    (name,) = files(incoming)
    assert (incoming / name).read_bytes() == sta_object()
    assert "There is direct address to site S01, no need for routing for send request " \
        "3_001P00." in log_messages(lab, "P00", "sched.log")
    assert "Deleting job package source [\\\\MGMT03\\SMS_P00\\inboxes\\schedule.box\\tosend\\" \
        "3_001ZZZ.PCK].~" in log_messages(lab, "P00", "sched.log")
    assert files(inbox(lab, "P00", "schedule.box\\tosend")) == []
    assert (inbox(lab, "S01", "replmgr.box\\history") / "ZZZ.trs").exists()


NO_ADDRESS = """\
sites:
  - {code: ZZZ, server: MGMT01, drive: E, package_drive: F, time_zone_bias: 300}
  - {code: P00, server: MGMT03, parent: ZZZ, drive: E, package_drive: F, time_zone_bias: 300}
addresses:
  - {from: P00, to: ZZZ, priority: 1}
timing: {profile: lab, scheduler_deleted_site_retention: 70s, sender_busy_hold: 30s,
         file_notice: 0, instruction_cost: 0}  # testing.free_files
"""


def test_a_missing_address_gives_3400_and_the_job_is_given_up_after_the_retention(
        sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(NO_ADDRESS).root
    content_job(lab, "00000001", DATA)
    report = run_until_idle(lab, components=WITH_STATUS, sites=["ZZZ"], horizon=1)
    assert report.status == "waiting"
    assert report.lines() == ["ZZZ SMS_SCHEDULER: 00000001.job waits for an address to site P00"]
    sched = log_messages(lab, "ZZZ", "sched.log")
    assert sched[0] == "There is no address defined for site P00"
    assert sched[1].startswith('STATMSG: ID=3400 SEV=E LEV=M SOURCE="SMS Server" '
                               'COMP="SMS_SCHEDULER" SYS=MGMT01 SITE=ZZZ ')
    assert 'ISTR0="P00" ISTR1="ZZZ" ISTR2=""' in sched[1]
    job = jobfile.read(inbox(lab, "ZZZ", "schedule.box") / "00000001.job")
    assert job.state is JobState.PENDING
    assert query(lab, "ZZZ", "SELECT MessageID, Severity, ISTR0, ISTR1 FROM StatusMessages") == [
        (3400, "E", "P00", "ZZZ")]

    report = run_until_idle(lab, components=SCHEDULER_ONLY, sites=["ZZZ"])
    assert report.status == "idle"
    sched = log_messages(lab, "ZZZ", "sched.log")
    # Once in the first run; in the second at 0 (a restart looks again), 30, 60 and 70 s.
    assert sched.count("There is no address defined for site P00") == 5
    assert_in_order(sched, [
        "<JOB STATUS - FAILED>~",
        "Job 00000001 failed: no address to site P00 for 70 seconds. The job file is kept as "
        "E:\\SMS\\inboxes\\schedule.box\\failed\\00000001.job.",
    ])
    failed = jobfile.read(inbox(lab, "ZZZ", "schedule.box\\failed") / "00000001.job")
    assert failed.state is JobState.FAILED
    assert (lab / "ZZZ/SMSPKG/ZZZ00001.PCK").exists()
    assert event_time(events(lab, "job_failed")[0]) == START + 70


def test_a_request_whose_files_are_gone_ends_with_action_2_and_fails_its_job(
        lab: Path) -> None:
    content_job(lab, "00000001", DATA)
    run_until_idle(lab, components=SCHEDULER_ONLY, sites=["ZZZ"])
    (lab / "ZZZ/SMSPKG/ZZZ00001.PCK").unlink()
    report = run_until_idle(lab, components=SENDING, sites=["ZZZ"])
    assert (report.status, report.errors) == ("idle", 0)
    sender = log_messages(lab, "ZZZ", "sender.log")
    assert [t for t in sender if t.startswith("~Cannot send request 2_001ZZZ: one of its files "
                                              "cannot be read (")]
    assert_in_order(log_messages(lab, "ZZZ", "sched.log"), [
        "Checking send request 2_001ZZZ~",
        "<JOB STATUS - FAILED>~",
        "Deleting instruction file \\\\MGMT01\\SMS_ZZZ\\inboxes\\schedule.box\\tosend\\"
        "00000001.IPT.~",
        "Deleting send request with ID: 2_001ZZZ.~",
        "Job 00000001 failed: send request 2_001ZZZ ended with SREQ_STATUS_INVALID and ACTION "
        "CODE 2 (delete). The job file is kept as "
        "E:\\SMS\\inboxes\\schedule.box\\failed\\00000001.job.",
    ])
    assert files(inbox(lab, "ZZZ", "schedule.box\\failed")) == ["00000001.job"]
    assert files(inbox(lab, "ZZZ", "schedule.box\\outboxes\\LAN")) == []
    assert files(inbox(lab, "P00", "despoolr.box\\receive")) == []


def test_an_active_job_whose_request_was_deleted_gets_it_again(lab: Path) -> None:
    content_job(lab, "00000001", DATA)
    run_until_idle(lab, components=SCHEDULER_ONLY, sites=["ZZZ"])
    (inbox(lab, "ZZZ", "schedule.box\\outboxes\\LAN") / "2_001ZZZ.srq").unlink()
    report = run_until_idle(lab, components=SENDING, sites=["ZZZ"])
    assert (report.status, report.errors) == ("idle", 0)
    assert "Send request 2_001ZZZ of job 00000001 is missing; creating it again.~" in \
        log_messages(lab, "ZZZ", "sched.log")
    assert files(inbox(lab, "P00", "despoolr.box\\receive")) == ["2_001ZZZ.PCK", "2_001ZZZ.SNI"]


class EditJob:
    """An injector that never crashes: when the Sender publishes its `.srs`, the ACTIVE job
    file is rewritten naming another destination."""

    def __init__(self, box: Path) -> None:
        self.box = box

    def __call__(self, point: FaultPoint) -> bool:
        if point.name == BEFORE_PUBLISH and point.path and Path(point.path).suffix == ".srs":
            path = self.box / "00000001.job"  # deferred, it waits in the box itself
            job = jobfile.read(path)
            assert job.state is JobState.ACTIVE
            path.write_bytes(jobfile.encode(attrs.evolve(job, destination_site="S09")))
        return False


def test_an_active_job_changed_on_disk_is_read_anew_when_its_request_ends(lab: Path) -> None:
    # The Scheduler keeps the job it made ACTIVE, to skip parsing it again: only while the file
    # holds the very bytes it wrote.
    content_job(lab, "00000001", DATA)
    report = run_until_idle(lab, components=SENDING, sites=["ZZZ"],
                            faults=EditJob(inbox(lab, "ZZZ", "schedule.box")))
    assert (report.status, report.errors) == ("idle", 0)
    (complete,) = events(lab, "job_complete")
    assert (complete["job"], complete["to"]) == ("00000001", "S09")


@pytest.mark.live_fs
def test_a_job_rewrite_left_half_done_by_a_killed_server_is_written_over(
        sitesrv_lab_factory: LabFactory) -> None:
    # A server killed while the Scheduler rewrote a job leaves the rewrite's temp file in
    # schedule.box. Start-up recovery keeps temp files younger than stale_tmp_age in live mode
    # (another writer's may be in flight), so the next server's rewrite meets it.
    lab = sitesrv_lab_factory(two_children()).root
    job = content_job(lab, "00000001", random.Random(2).randbytes(4096))
    left = job.with_name(f".{job.name}.SMS_SCHEDULER.rewrite.tmp")
    left.write_bytes(b"[half a job")
    report = LiveDriver(lab, components=SENDING, sites=["ZZZ"]).run(until_idle=True, timeout=60)
    assert report is not None and (report.status, report.errors) == ("idle", 0)
    assert files(inbox(lab, "P00", "despoolr.box\\receive")) == ["2_001ZZZ.PCK", "2_001ZZZ.SNI"]
    assert not left.exists()


def test_a_restored_request_token_skips_the_ids_of_requests_still_there(lab: Path) -> None:
    # `sitesrv init` put back 00000001.req while request 2_001ZZZ still waits in the outbox.
    outbox = inbox(lab, "ZZZ", "schedule.box\\outboxes\\LAN")
    content_job(lab, "00000001", DATA)
    run_until_idle(lab, components=SCHEDULER_ONLY, sites=["ZZZ"], horizon=0)
    uid = inbox(lab, "ZZZ", "schedule.box\\UID")
    (token,) = uid.glob("*.req")
    token.rename(uid / "00000001.req")
    content_job(lab, "00000002", DATA, package_id="ZZZ00002")
    run_until_idle(lab, components=SCHEDULER_ONLY, sites=["ZZZ"], horizon=0)
    assert files(outbox) == ["2_001ZZZ.srq", "2_002ZZZ.srq"]
    assert srq.read(outbox / "2_001ZZZ.srq").job_id == "00000001"

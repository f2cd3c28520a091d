"""Replication Manager: an object queued at one site arrives in the right inbox at another,
batched per destination and priority, exactly once, whatever crashes on the way."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from sitesrv.components.replmgr import BATCH_EARLY, ReplicationManager
from sitesrv.components.statusup import queue_replication
from sitesrv.formats import rpl, trs
from sitesrv.runtime.faults import FaultPoint
from sitesrv.runtime.registry import Registry
from sitesrv.runtime.step import run_until_idle
from sitesrv.testing import assert_in_order, drop, events, files, inbox, log_messages
from tests.conftest import site_contexts
from tests.transport.conftest import (
    EVERYTHING,
    START,
    event_time,
    pkg_object,
    replication_object,
)

REPLMGR_ONLY = Registry(primary=(ReplicationManager,), secondary=(ReplicationManager,))
PKG = pkg_object()
RANDOM_PKG = re.compile(r"[A-Z0-9]{8}\.PKG")


def delivered(lab: Path, site: str = "P00") -> list[bytes]:
    folder = inbox(lab, site, "distmgr.box\\INCOMING")
    names = files(folder)
    assert all(RANDOM_PKG.fullmatch(n) or n.endswith(".STA") for n in names), names
    return sorted((folder / n).read_bytes() for n in names)


def leftovers(lab: Path) -> list[str]:
    """Anything the journey may leave behind at either end, claimed or not."""
    found = []
    for site, folder in (("ZZZ", "schedule.box"), ("ZZZ", "schedule.box\\tosend"),
                         ("ZZZ", "schedule.box\\requests"), ("ZZZ", "schedule.box\\outboxes\\LAN"),
                         ("ZZZ", "replmgr.box\\ready"), ("ZZZ", "replmgr.box\\outbound\\normal"),
                         ("ZZZ", "replmgr.box\\process\\P00_2"), ("P00", "replmgr.box\\incoming"),
                         ("P00", "despoolr.box\\receive")):
        path = inbox(lab, site, folder)
        found += [f"{site} {folder}\\{n}" for n in files(path) + files(path / ".work")]
    return found


def test_an_object_queued_at_zzz_arrives_at_p00_with_every_line_in_order(lab: Path) -> None:
    replication_object(lab, "P00", "Z3AWAX9I.PKG", PKG)
    report = run_until_idle(lab, seed=5, components=EVERYTHING)
    assert (report.status, report.errors, report.waits) == ("idle", 0, ())
    assert delivered(lab) == [PKG]
    assert leftovers(lab) == []
    assert trs.read(inbox(lab, "P00", "replmgr.box\\history") / "ZZZ.trs") == \
        trs.TransactionHistory({("PKG", 2): 1})

    assert_in_order(log_messages(lab, "ZZZ", "replmgr.log"), [
        "Queued E:\\SMS\\inboxes\\replmgr.box\\outbound\\normal\\P00_Z3AWAX9I.PKG for site P00 "
        "at priority 2",
        "Created replication job 00000001 for site P00, priority 2: 1 object(s), transaction "
        "ID 1, E:\\SMS\\inboxes\\replmgr.box\\ready\\00000001.RPL",
    ])
    assert_in_order(log_messages(lab, "ZZZ", "sched.log"), [
        "========  Processing Jobs  ========",
        "<Activating JOB 00000001>[Inter Site Replication]~",
        "Destination site:  P00, Preferred Address: *, Priority: 2",
        "Instruction type:  MICROSOFT|SMS|MINIJOBINSTRUCTION|REPLICATION~",
        "Creating instruction file: \\\\MGMT01\\SMS_ZZZ\\inboxes\\schedule.box\\tosend\\"
        "00000001.IPT~",
        "Transfer root:  E:\\SMS\\inboxes\\replmgr.box\\ready\\00000001.RPL~",
        "Created new send request ID:  2_001ZZZ~",
        "There is direct address to site P00, no need for routing for send request 2_001ZZZ.",
        "======  Checking Status of All Send Requests  ======",
        "~====  Checking send requests for outbox \\\\MGMT01\\SMS_ZZZ\\inboxes\\schedule.box\\"
        "outboxes\\LAN.~~",
        "Checking send request 2_001ZZZ~",
        "Send request has successfully completed.~",
        "<JOB STATUS - COMPLETE>~",
        "Deleting instruction file \\\\MGMT01\\SMS_ZZZ\\inboxes\\schedule.box\\tosend\\"
        "00000001.IPT.~",
        "Deleting job package source [E:\\SMS\\inboxes\\replmgr.box\\ready\\00000001.RPL].~",
        "Deleting send request with ID: 2_001ZZZ.~",
        "Deleted job 00000001.~",
    ])
    sender = log_messages(lab, "ZZZ", "sender.log")
    written = [line for line in sender if line.startswith("~Wrote ")]
    assert len(written) == 1
    assert_in_order(sender, [
        "Found send request.  ID: 2_001ZZZ, Dest Site: P00~",
        "Checking for site-specific sending capacity.  Used 0 out of 3.~",
        "~Trying the No. 1 address (out of 1)",
        "~Passed the xmit file test, use the existing connection",
        "~Package file = E:\\SMS\\inboxes\\replmgr.box\\ready\\00000001.RPL",
        "~Instruction file = E:\\SMS\\inboxes\\schedule.box\\tosend\\00000001.IPT",
        "~Checking for remote file \\\\MGMT03\\SMS_SITE\\2_001ZZZ.PCK",
        "~Checking for remote file \\\\MGMT03\\SMS_SITE\\2_001ZZZ.SNI",
        "~Checking for remote file \\\\MGMT03\\SMS_SITE\\2_001ZZZ.TMP",
        "~Attempt to create/open the remote file \\\\MGMT03\\SMS_SITE\\2_001ZZZ.PCK",
        "~Created/opened the remote file \\\\MGMT03\\SMS_SITE\\2_001ZZZ.PCK",
        "~Sending Started [E:\\SMS\\inboxes\\replmgr.box\\ready\\00000001.RPL]",
        written[0],
        "~Sending completed [E:\\SMS\\inboxes\\replmgr.box\\ready\\00000001.RPL]",
        "~Sending Started [E:\\SMS\\inboxes\\schedule.box\\tosend\\00000001.IPT]",
        "~Sending completed [E:\\SMS\\inboxes\\schedule.box\\tosend\\00000001.IPT]",
        "~Renaming remote file \\\\MGMT03\\SMS_SITE\\2_001ZZZ.TMP to "
        "\\\\MGMT03\\SMS_SITE\\2_001ZZZ.SNI",
        "~Rename completed [\\\\MGMT03\\SMS_SITE\\2_001ZZZ.TMP]",
        "~Sending completed successfully",
    ])
    assert re.fullmatch(r"~Wrote \d+ bytes to \\\\MGMT03\\SMS_SITE\\2_001ZZZ\.PCK at position 0",
                        written[0])
    assert_in_order(log_messages(lab, "P00", "replmgr.log"), [
        "Processing replication file E:\\SMS\\inboxes\\replmgr.box\\incoming\\2_001ZZZ.RPL from "
        "site ZZZ, transaction ID 1",
    ])
    (line,) = [t for t in log_messages(lab, "P00", "replmgr.log") if t.startswith("~Replicated")]
    assert re.fullmatch(r"~Replicated P00_Z3AWAX9I\.PKG from site ZZZ to "
                        r"E:\\SMS\\inboxes\\distmgr\.box\\INCOMING\\[A-Z0-9]{8}\.PKG", line)


def test_temp_files_of_a_killed_run_never_fail_the_next_ones(lab: Path) -> None:
    # A run killed while taking a transaction ID leaves its temp file in SMS\\state, which no
    # start-up recovery sweeps: the next runs must write through it, not fail on it.
    state = lab / "ZZZ" / "SMS" / "state"
    state.mkdir(parents=True, exist_ok=True)
    left = [state / ".replmgr-transaction-id.ZZZ-SMS_REPLICATION_MANAGER.000001.tmp",  # earlier
            state / ".replmgr-transaction-id.SMS_REPLICATION_MANAGER.tmp"]  # versions; this one
    for path in left:
        path.write_text("7")
    for n, name in enumerate(["Z3AWAX9I.PKG", "Z3AWAX9J.PKG"], start=1):
        replication_object(lab, "P00", name, PKG)
        report = run_until_idle(lab, seed=5, components=EVERYTHING)
        assert (report.status, report.errors, report.waits) == ("idle", 0, ())
        assert (state / "replmgr-transaction-id").read_text() == f"{n}\n"
    assert delivered(lab) == [PKG, PKG]
    assert [p.exists() for p in left] == [True, False]  # this version's temp was renamed


def test_three_objects_queued_while_a_job_is_pending_go_in_one_later_batch(
        lab: Path) -> None:
    replication_object(lab, "P00", "AAAAAAAA.PKG", pkg_object("1"))
    run_until_idle(lab, components=REPLMGR_ONLY, sites=["ZZZ"])
    assert files(inbox(lab, "ZZZ", "replmgr.box\\ready")) == ["00000001.RPL"]
    for n in (2, 3, 4):
        replication_object(lab, "P00", f"{'BCD'[n - 2] * 8}.PKG", pkg_object(str(n)))
    report = run_until_idle(lab, components=REPLMGR_ONLY, sites=["ZZZ"], horizon=1)
    assert report.status == "waiting"
    assert report.lines() == [
        "ZZZ SMS_REPLICATION_MANAGER: process\\P00_2 waits for job 00000001 to complete before "
        "the next batch to site P00 (at most until 06-04-2007 04:01:00.000+300)"]
    assert len(files(inbox(lab, "ZZZ", "replmgr.box\\process\\P00_2"))) == 3

    report = run_until_idle(lab, seed=2, components=EVERYTHING)
    assert (report.status, report.errors) == ("idle", 0)
    assert delivered(lab) == sorted(pkg_object(str(n)) for n in (1, 2, 3, 4))
    assert "Created replication job 00000002 for site P00, priority 2: 3 object(s), " \
        "transaction ID 2, E:\\SMS\\inboxes\\replmgr.box\\ready\\00000002.RPL" in \
        log_messages(lab, "ZZZ", "replmgr.log")
    assert leftovers(lab) == []


def test_a_long_burst_of_objects_goes_in_batches_of_batch_early_as_it_is_queued(
        lab: Path) -> None:
    # Objects keep coming (status for hundreds of packages): the first BATCH_EARLY go while the
    # rest are still being queued; the rest wait for that batch's job, as any objects do.
    count = BATCH_EARLY + 50
    for n in range(count):
        replication_object(lab, "P00", f"A{n:07d}.PKG", pkg_object(str(n)))
    report = run_until_idle(lab, components=REPLMGR_ONLY, sites=["ZZZ"], horizon=1)
    assert report.status == "waiting"
    assert files(inbox(lab, "ZZZ", "replmgr.box\\ready")) == ["00000001.RPL"]
    [first] = events(lab, "replication_batch")
    assert first["objects"] == BATCH_EARLY
    waiting = files(inbox(lab, "ZZZ", "replmgr.box\\process\\P00_2"))
    assert waiting == [f"P00_A{n:07d}.PKG" for n in range(BATCH_EARLY, count)]
    lines = log_messages(lab, "ZZZ", "replmgr.log")
    built = next(i for i, m in enumerate(lines) if m.startswith("Created replication job "))
    assert [m.startswith("Queued ") for m in lines].count(True) == count
    assert sum(m.startswith("Queued ") for m in lines[built:]) == 50  # queued after it

    report = run_until_idle(lab, seed=2, components=EVERYTHING)
    assert (report.status, report.errors) == ("idle", 0)
    assert delivered(lab) == sorted(pkg_object(str(n)) for n in range(count))
    assert [e["objects"] for e in events(lab, "replication_batch", site="ZZZ")] == [
        BATCH_EARLY, 50]


def test_a_long_burst_without_a_job_id_says_so_once_and_goes_when_one_comes(
        lab: Path) -> None:
    uid = inbox(lab, "ZZZ", "schedule.box\\UID")
    token = next(uid.glob("*.job"))
    aside = token.rename(lab / token.name)
    count = BATCH_EARLY + 50
    for n in range(count):
        replication_object(lab, "P00", f"A{n:07d}.PKG", pkg_object(str(n)))
    report = run_until_idle(lab, components=REPLMGR_ONLY, sites=["ZZZ"], horizon=1)
    assert report.status == "waiting"
    missing = [m for m in log_messages(lab, "ZZZ", "replmgr.log")
               if m.startswith("Could not retrieve a job ID")]
    assert len(missing) == 2  # once as the burst went on, once when it paused; not per object
    assert len(files(inbox(lab, "ZZZ", "replmgr.box\\process\\P00_2"))) == count

    aside.rename(token)
    report = run_until_idle(lab, seed=2, components=EVERYTHING)
    assert (report.status, report.errors) == ("idle", 0)
    assert delivered(lab) == sorted(pkg_object(str(n)) for n in range(count))


def test_an_outbound_object_never_takes_the_name_of_one_still_queued(lab: Path) -> None:
    # `<DEST>_<8 random>.<ext>`: a name taken in outbound (or claimed there), or by an object
    # waiting in its stream folder for the next batch, would be replaced by the new object.
    runtime, [ctx] = site_contexts(lab, "ZZZ")
    probe = copy.deepcopy(ctx.ids)  # the same draws, in the same order
    first, second, third = (probe.random_chars() for _ in range(3))
    stream = inbox(lab, "ZZZ", "replmgr.box\\process") / "P00_3"
    stream.mkdir()
    waiting = [drop(inbox(lab, "ZZZ", "replmgr.box\\outbound\\low"), f"P00_{first}.STA", b"1"),
               drop(stream, f"P00_{second}.STA", b"2")]
    path = queue_replication(ctx, "P00", 3, ".STA", b"3")
    assert Path(path).name == f"P00_{third}.STA"
    assert [p.read_bytes() for p in waiting] == [b"1", b"2"]
    runtime.unlock()


def test_waiting_objects_go_anyway_once_they_are_batch_hold_old(lab: Path) -> None:
    replication_object(lab, "P00", "AAAAAAAA.PKG", PKG)
    run_until_idle(lab, components=REPLMGR_ONLY, sites=["ZZZ"])
    replication_object(lab, "P00", "BBBBBBBB.PKG", PKG)
    run_until_idle(lab, components=REPLMGR_ONLY, sites=["ZZZ"])
    assert files(inbox(lab, "ZZZ", "replmgr.box\\ready")) == ["00000001.RPL", "00000002.RPL"]
    second = events(lab, "replication_batch", job="00000002")
    assert event_time(second[0]) == START + 60  # replmgr_batch_hold of the lab profile
    assert files(inbox(lab, "ZZZ", "schedule.box")) == ["00000001.job", "00000002.job"]


def batch(transaction: int, *objects: tuple[str, bytes], priority: int = 2,
          dest: str = "P00") -> bytes:
    return rpl.encode(rpl.ReplicationBatch(
        job_id="00000009", sending_site="ZZZ", destination_site=dest, priority=priority,
        transaction_id=transaction, created=START,
        objects=[rpl.ReplicationObject.of(name, data) for name, data in objects]))


def test_incoming_batches_are_checked_against_the_partners_transaction_history(
        lab: Path) -> None:
    incoming = inbox(lab, "P00", "replmgr.box\\incoming")

    def receive(name: str, data: bytes) -> None:
        drop(incoming, name, data)
        report = run_until_idle(lab, components=REPLMGR_ONLY, sites=["P00"])
        assert report.errors == 0 and files(incoming) == []

    receive("A.RPL", batch(5, ("P00_AAAAAAAA.PKG", b"five")))
    assert delivered(lab) == [b"five"]
    log = log_messages(lab, "P00", "replmgr.log")
    receive("B.RPL", batch(5, ("P00_BBBBBBBB.PKG", b"again")))
    receive("C.RPL", batch(4, ("P00_CCCCCCCC.PKG", b"older")))
    assert log_messages(lab, "P00", "replmgr.log") == log  # nothing logged (Q288970)
    receive("D.RPL", batch(3, ("P00_DDDDDDDD.STA", b"status"), priority=3))
    receive("E.RPL", batch(6, ("P00_EEEEEEEE.PKG", b"six"), ("P00_FFFFFFFF.STA", b"six too")))
    assert delivered(lab) == [b"five", b"six", b"six too", b"status"]
    history = inbox(lab, "P00", "replmgr.box\\history") / "ZZZ.trs"
    assert history.read_text() == "[PKG]\nPriority 2=6\n[STA]\nPriority 2=6\nPriority 3=3\n"


@pytest.mark.parametrize(("name", "data", "problem"), [
    ("X.RPL", b"not a batch\n", "no [END] record"),
    ("Z.RPL", batch(1, ("P01_AAAAAAAA.PKG", b"?"), dest="S01"), "the batch is for site S01"),
])
def test_batches_that_cannot_be_applied_go_to_corrupt(lab: Path, name: str, data: bytes,
                                                       problem: str) -> None:
    incoming = inbox(lab, "P00", "replmgr.box\\incoming")
    drop(incoming, name, data)
    run_until_idle(lab, components=REPLMGR_ONLY, sites=["P00"])
    assert files(incoming / "corrupt") == [name, "quarantine.log"]
    assert delivered(lab) == []
    assert any(problem in t for t in log_messages(lab, "P00", "replmgr.log"))


def test_a_batch_delivers_its_good_objects_and_keeps_a_bad_one_aside(lab: Path) -> None:
    incoming = inbox(lab, "P00", "replmgr.box\\incoming")
    drop(incoming, "Y.RPL", batch(1, ("P00_AAAAAAAA.XYZ", b"?"), ("P00_BBBBBBBB.PKG", PKG)))
    run_until_idle(lab, components=REPLMGR_ONLY, sites=["P00"])
    assert files(incoming) == []
    assert files(incoming / "corrupt") == ["Y.RPL.P00_AAAAAAAA.XYZ", "quarantine.log"]
    assert (incoming / "corrupt" / "Y.RPL.P00_AAAAAAAA.XYZ").read_bytes() == b"?"
    assert delivered(lab) == [PKG]
    line = ("Moved the corrupt object Y.RPL.P00_AAAAAAAA.XYZ of E:\\SMS\\inboxes\\replmgr.box\\"
            "incoming\\Y.RPL to E:\\SMS\\inboxes\\replmgr.box\\incoming\\corrupt\\"
            "Y.RPL.P00_AAAAAAAA.XYZ: it is a .XYZ object, which no component of this site takes "
            "(known: .COL, .OFR, .PKG, .STA, .SVF)")
    assert line in log_messages(lab, "P00", "replmgr.log")
    assert line in (incoming / "corrupt" / "quarantine.log").read_text()


def test_outbound_objects_for_no_site_go_to_corrupt(lab: Path) -> None:
    replication_object(lab, "XYZ", "AAAAAAAA.PKG", PKG)
    replication_object(lab, "ZZZ", "BBBBBBBB.PKG", PKG)
    run_until_idle(lab, components=REPLMGR_ONLY, sites=["ZZZ"])
    outbound = inbox(lab, "ZZZ", "replmgr.box\\outbound\\normal")
    assert files(outbound / "corrupt") == ["XYZ_AAAAAAAA.PKG", "ZZZ_BBBBBBBB.PKG", "quarantine.log"]
    assert files(inbox(lab, "ZZZ", "schedule.box")) == []


class CrashNth:
    """Crash one component at its n-th fault point, whatever the point."""

    def __init__(self, component: str, n: int) -> None:
        self.component = component
        self.left = n
        self.fired: list[FaultPoint] = []

    def __call__(self, point: FaultPoint) -> bool:
        if point.component != self.component or self.left <= 0:
            return False
        self.left -= 1
        if self.left == 0:
            self.fired.append(point)
        return self.left == 0


# Every fault point each component meets on the way (claims, publishes, the PCK's rename).
FAULT_POINTS = {"SMS_REPLICATION_MANAGER": 14, "SMS_SCHEDULER": 7, "SMS_LAN_SENDER": 7}


@pytest.mark.parametrize(("component", "n"), [(c, n) for c, k in FAULT_POINTS.items()
                                              for n in range(1, k + 1)])
def test_a_crash_anywhere_delivers_each_object_once(lab: Path, component: str,
                                                    n: int) -> None:
    for name in ("AAAAAAAA", "BBBBBBBB"):
        replication_object(lab, "P00", f"{name}.PKG", pkg_object(name))
    crash = CrashNth(component, n)
    report = run_until_idle(lab, seed=n, components=EVERYTHING, faults=crash)
    assert crash.fired and (report.status, report.errors) == ("idle", 0)
    assert delivered(lab) == [pkg_object("AAAAAAAA"), pkg_object("BBBBBBBB")]
    assert leftovers(lab) == []

"""The hand-off protocol's rules and the names components give files, one by one, on a fake
file system (pyfakefs).

A probe component at the secondary SEC owns `despoolr.box\\receive` (`*.sni`) and
`distmgr.box\\INCOMING` (`*.PKG`, re-examined on arrival); tests drive its context and inboxes
directly, through the same host the drivers use.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import BinaryIO

import pytest

from sitesrv.components.replmgr import ReplicationManager
from sitesrv.lab.boxes import REPLMGR_INCOMING
from sitesrv.lab.clock import RealClock, VirtualClock
from sitesrv.runtime.component import Component
from sitesrv.runtime.faults import AFTER_PUBLISH, BEFORE_PUBLISH, CrashAt, SimulatedCrash
from sitesrv.runtime.host import ComponentHost, LabRuntime
from sitesrv.runtime.ids import Ids
from sitesrv.runtime.inbox import InboxSpec
from sitesrv.runtime.registry import Registry
from sitesrv.testing import drop, events
from tests.runtime.conftest import HIERARCHY

RECEIVE = "despoolr.box\\receive"
INCOMING = "distmgr.box\\INCOMING"


class Probe(Component):
    name = "SMS_PROBE"
    log_name = "probe.log"
    inboxes = (InboxSpec(RECEIVE, ("*.sni",)),
               InboxSpec(INCOMING, ("*.PKG",), recheck_on_arrival=True),
               next(spec for spec in ReplicationManager.inboxes if spec.folder == REPLMGR_INCOMING))

    def work(self) -> bool:
        return False


def boot_probe(root: Path, clock: VirtualClock | RealClock, durability: str = "none") -> ComponentHost:
    root.mkdir(parents=True, exist_ok=True)
    (root / "hierarchy.yaml").write_text(HIERARCHY + f"durability: {durability}\n")
    runtime = LabRuntime(root, clock=clock, seed=7, registry=Registry(secondary=(Probe,)),
                         open_database=None)
    host = runtime.hosts[0]
    host.boot()
    return host


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def probe(fs: object, clock: VirtualClock) -> ComponentHost:
    return boot_probe(Path("/lab"), clock)


def receive(host: ComponentHost) -> Path:
    return host.ctx.inbox(RECEIVE).path


def names(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def arrive(host: ComponentHost, folder: Path, name: str, data: bytes) -> None:
    """Another writer drops a file and announces it, as a publish or the watcher's hint does."""
    drop(folder, name, data)
    host.runtime.notify(folder, name)


# --- writing and publishing ---------------------------------------------------------------------

def test_publish_writes_a_private_temp_then_renames_it_into_place(probe: ComponentHost) -> None:
    dest = receive(probe) / "A.SNI"
    seen: list[list[str]] = []

    def write(f: BinaryIO) -> None:
        f.write(b"half")
        seen.append(names(dest.parent))
        f.write(b" and the rest")

    probe.ctx.publish(dest, write)
    (during,) = seen
    assert "A.SNI" not in during
    assert [n for n in during if n.startswith(".A.SNI.")] == [".A.SNI.SEC-SMS_PROBE.000001.tmp"]
    assert dest.read_bytes() == b"half and the rest"
    assert names(dest.parent) == [".work", "A.SNI"]


def test_an_explicit_temp_name_is_what_the_sender_uses(probe: ComponentHost) -> None:
    dest = receive(probe) / "2_0001.SNI"
    seen: list[list[str]] = []

    def write(f: BinaryIO) -> None:
        seen.append(names(dest.parent))
        f.write(b"instruction")

    (dest.parent / "2_0001.TMP").write_bytes(b"leftover of an earlier attempt")
    probe.ctx.publish(dest, write, tmp_name="2_0001.TMP")
    assert seen == [[".work", "2_0001.TMP"]]
    assert names(dest.parent) == [".work", "2_0001.SNI"]
    assert dest.read_bytes() == b"instruction"


def test_a_failed_write_leaves_neither_temp_nor_final_file(probe: ComponentHost) -> None:
    dest = receive(probe) / "A.SNI"

    def broken(f: BinaryIO) -> None:
        f.write(b"part")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        probe.ctx.publish(dest, broken)
    assert names(dest.parent) == [".work"]


def test_publish_streams_chunks_and_copies(probe: ComponentHost) -> None:
    folder = receive(probe)
    probe.ctx.publish(folder / "A.SNI", iter([b"a", b"b", b"c"]))
    probe.ctx.publish_copy(folder / "A.SNI", folder / "B.SNI")
    assert (folder / "B.SNI").read_bytes() == b"abc"


def test_publishing_again_overwrites_so_a_redo_never_duplicates(probe: ComponentHost) -> None:
    incoming = probe.ctx.inbox(INCOMING).path
    name = probe.ctx.ids.name_for("A.SNI", ".PKG")
    probe.ctx.publish(incoming / name, b"first attempt")
    probe.ctx.publish(incoming / probe.ctx.ids.name_for("A.SNI", ".PKG"), b"redo")
    assert names(incoming) == [".work", name]
    assert (incoming / name).read_bytes() == b"redo"


def test_publish_wakes_the_owner_of_the_destination(probe: ComponentHost) -> None:
    probe.wanted.clear()
    probe.layout.inbox("pkginfo.box").mkdir()
    probe.ctx.publish(probe.layout.inbox("pkginfo.box") / "X.NAL", b"")
    assert not probe.wanted.is_set()  # nobody owns pkginfo.box here
    probe.ctx.publish(receive(probe) / "A.SNI", b"")
    assert probe.wanted.is_set()


# --- scanning and claiming ----------------------------------------------------------------------

def test_scans_skip_temp_files_dot_files_folders_and_other_names(probe: ComponentHost) -> None:
    folder = receive(probe)
    for name in ("B.SNI", "a.sni", "C.TMP", "D.tmp", ".E.SNI", "F.PCK", "G.SNI.TMP"):
        (folder / name).write_bytes(b"x")
    (folder / "corrupt").mkdir()
    (folder / "corrupt" / "H.SNI").write_bytes(b"x")
    (folder / "I.SNI").mkdir()
    (folder / ".work" / "J.SNI").write_bytes(b"x")
    inbox = probe.ctx.inbox(RECEIVE)
    assert inbox.listing() == ["B.SNI", "a.sni"]  # sorted; *.sni matched without regard to case
    assert [inbox.claim_next().name for _ in range(2)] == ["B.SNI", "a.sni"]
    assert inbox.claim_next() is None


def test_claim_moves_the_file_into_the_work_folder(probe: ComponentHost) -> None:
    (receive(probe) / "A.SNI").write_bytes(b"x")
    item = probe.ctx.claim_next()
    assert item is not None and item.path == receive(probe) / ".work" / "A.SNI"
    assert names(receive(probe)) == [".work"] and item.read_bytes() == b"x"
    assert list(probe.journal.in_flight) == [item]


def test_losing_a_claim_is_a_skip_not_an_error(probe: ComponentHost) -> None:
    folder = receive(probe)
    for name in ("A.SNI", "B.SNI"):
        (folder / name).write_bytes(b"x")
    inbox = probe.ctx.inbox(RECEIVE)
    assert inbox.claim("A.SNI") is not None
    assert inbox.claim("A.SNI") is None  # someone else (here: we) renamed it first
    (folder / "B.SNI").unlink()  # taken by another process after our scan
    assert inbox.claim_next() is None


def test_done_removes_the_input_and_forward_moves_it_on(probe: ComponentHost) -> None:
    folder = receive(probe)
    (folder / "A.SNI").write_bytes(b"a")
    (folder / "B.SNI").write_bytes(b"b")
    probe.ctx.claim_next().done()
    probe.ctx.claim_next().forward(probe.ctx.inbox(INCOMING).path / "B.PKG")
    assert names(folder / ".work") == []
    assert (probe.ctx.inbox(INCOMING).path / "B.PKG").read_bytes() == b"b"
    assert probe.journal.in_flight == {}


# --- quarantine ---------------------------------------------------------------------------------

def test_quarantine_moves_to_corrupt_and_logs_the_windows_path_and_reason(
        probe: ComponentHost) -> None:
    folder = receive(probe)
    (folder / "A.SNI").write_bytes(b"garbage")
    probe.ctx.claim_next().quarantine("no INSTRUCTION record")
    arrive(probe, folder, "A.SNI", b"garbage again")
    probe.ctx.claim_next().quarantine("no INSTRUCTION record")
    assert names(folder / "corrupt") == ["A.SNI", "A.SNI.1", "quarantine.log"]
    assert (folder / "corrupt" / "A.SNI").read_bytes() == b"garbage"
    log = probe.log.path.read_text()
    assert ("Moved the corrupt file E:\\SMS\\inboxes\\despoolr.box\\receive\\A.SNI to "
            "E:\\SMS\\inboxes\\despoolr.box\\receive\\corrupt\\A.SNI: no INSTRUCTION record  "
            "$$<SMS_PROBE><06-04-2007 09:00:00.") in log  # after taking the file (its cost)
    (first, _) = events(probe.runtime.root, "quarantined")
    assert first["file"] == "E:\\SMS\\inboxes\\despoolr.box\\receive\\A.SNI"
    assert first["reason"] == "no INSTRUCTION record" and first["site"] == "SEC"


def test_quarantined_files_of_one_name_are_numbered_never_replaced(probe: ComponentHost) -> None:
    folder = receive(probe)
    for n in range(3):
        arrive(probe, folder, "A.SNI", f"garbage {n}".encode())
        probe.ctx.claim_next().quarantine("no INSTRUCTION record")
    assert names(folder) == [".work", "corrupt"]
    assert [(folder / "corrupt" / n).read_bytes() for n in ("A.SNI", "A.SNI.1", "A.SNI.2")] == [
        b"garbage 0", b"garbage 1", b"garbage 2"]
    shown = [e["to"] for e in events(probe.runtime.root, "quarantined")]
    assert shown == ["E:\\SMS\\inboxes\\despoolr.box\\receive\\corrupt\\A.SNI",
                     "E:\\SMS\\inboxes\\despoolr.box\\receive\\corrupt\\A.SNI.1",
                     "E:\\SMS\\inboxes\\despoolr.box\\receive\\corrupt\\A.SNI.2"]


def test_a_released_file_is_back_under_its_name_and_eligible_at_once(
        probe: ComponentHost) -> None:
    folder = receive(probe)
    (folder / "A.SNI").write_bytes(b"a")
    probe.ctx.claim_next().release()
    assert names(folder) == [".work", "A.SNI"] and names(folder / ".work") == []
    again = probe.ctx.claim_next()
    assert again is not None and again.name == "A.SNI" and again.read_bytes() == b"a"


@pytest.mark.parametrize("newcomer", [None, b"a", b"other", "link"])
def test_a_deferred_file_goes_back_unless_a_newcomer_has_its_name(
        probe: ComponentHost, newcomer: bytes | str | None) -> None:
    """The one look at the name decides: nothing there, the same bytes (ours is dropped),
    other bytes (ours goes to corrupt\\), or a link (it goes to corrupt\\ unopened, ours back)."""
    folder = receive(probe)
    (folder / "A.SNI").write_bytes(b"a")
    item = probe.ctx.claim_next()
    if newcomer == "link":
        (folder / "A.SNI").symlink_to("/etc/passwd")
    elif newcomer is not None:
        (folder / "A.SNI").write_bytes(newcomer)
    item.defer(0.0, "waits")
    assert names(folder / ".work") == []
    assert (folder / "A.SNI").read_bytes() == (b"other" if newcomer == b"other" else b"a")
    corrupt = folder / "corrupt"
    if newcomer == b"other":
        assert (corrupt / "A.SNI").read_bytes() == b"a"
    elif newcomer == "link":
        assert (corrupt / "A.SNI").is_symlink() and not (folder / "A.SNI").is_symlink()
    else:
        assert not corrupt.exists() or names(corrupt) == []


def test_a_rewrite_keeps_the_file_claimed_and_leaves_no_temp(probe: ComponentHost) -> None:
    folder = receive(probe)
    (folder / "A.SNI").write_bytes(b"state 1")
    item = probe.ctx.claim_next()
    item.rewrite(b"state 2")
    assert names(folder) == [".work"]
    assert names(folder / ".work") == ["A.SNI"]
    assert item.read_bytes() == b"state 2"
    probe.boot()  # a restart returns it with what it last held
    assert (folder / "A.SNI").read_bytes() == b"state 2"


def test_start_up_returns_only_the_claims_of_this_component(probe: ComponentHost) -> None:
    # Two components may share a folder with other patterns (the Sender's *.srq, the
    # Scheduler's *.srs); the probe takes *.sni here, so a claimed .SRS is another's.
    work = receive(probe) / ".work"
    (work / "A.SNI").write_bytes(b"mine")
    (work / "B.SRS").write_bytes(b"another component's")
    probe.boot()
    assert names(receive(probe)) == [".work", "A.SNI"]
    assert names(work) == ["B.SRS"]
    assert [e["file"] for e in events(probe.runtime.root, "returned_to_inbox")] == [
        "E:\\SMS\\inboxes\\despoolr.box\\receive\\A.SNI"]


# --- deferral -----------------------------------------------------------------------------------

def test_a_deferred_file_stays_visible_and_waits_until_due(probe: ComponentHost,
                                                           clock: VirtualClock) -> None:
    inbox = probe.ctx.inbox(INCOMING)
    (inbox.path / "Z3AWAX9I.PKG").write_bytes(b"v3")
    inbox.claim_next().defer(clock.now() + 60, "waits for version 3 of ZZZ00148")
    assert names(inbox.path) == [".work", "Z3AWAX9I.PKG"]
    assert inbox.claim_next() is None
    assert [w.item + " " + w.reason for w in probe.waits()] == [
        "INCOMING\\Z3AWAX9I.PKG waits for version 3 of ZZZ00148"]
    assert probe.next_timer() == clock.now() + 60
    probe.wanted.clear()
    clock.advance(59)
    assert not probe.fire_timers(clock.now())
    clock.advance(1)
    assert probe.fire_timers(clock.now()) and probe.wanted.is_set()
    item = inbox.claim_next()
    assert item is not None and item.name == "Z3AWAX9I.PKG"
    item.done()
    assert probe.waits() == [] and probe.next_timer() is None


def test_a_new_arrival_makes_deferred_files_eligible_again(probe: ComponentHost,
                                                           clock: VirtualClock) -> None:
    inbox = probe.ctx.inbox(INCOMING)
    (inbox.path / "B.PKG").write_bytes(b"waits")
    inbox.claim_next().defer(clock.now() + 3600, "waits for content")
    arrive(probe, inbox.path, "A.PKG", b"content arrived")
    assert inbox.claim_next().name == "A.PKG"
    assert inbox.claim_next().name == "B.PKG"  # re-examined at once, not in an hour


def test_deferrals_in_inboxes_without_recheck_ignore_arrivals(probe: ComponentHost,
                                                              clock: VirtualClock) -> None:
    inbox = probe.ctx.inbox(RECEIVE)
    (inbox.path / "B.SNI").write_bytes(b"waits")
    inbox.claim_next().defer(clock.now() + 300, "won't be processed till later")
    arrive(probe, inbox.path, "A.SNI", b"new")
    assert inbox.claim_next().name == "A.SNI"
    assert inbox.claim_next() is None


def test_an_unannounced_file_is_found_by_the_periodic_rescan(probe: ComponentHost) -> None:
    folder = receive(probe)
    (folder / "A.SNI").write_bytes(b"a")
    probe.ctx.claim_next().done()
    (folder / "B.SNI").write_bytes(b"dropped by hand, no one told")
    probe.wake(rescan=True)  # the live driver's periodic rescan; a restart does the same
    assert probe.ctx.claim_next().name == "B.SNI"


def test_announced_files_join_the_queue_in_name_order_before_retries(
        probe: ComponentHost, clock: VirtualClock) -> None:
    inbox = probe.ctx.inbox(RECEIVE)
    (inbox.path / "C.SNI").write_bytes(b"c")
    inbox.claim_next().defer(clock.now() + 60, "waits")
    for name in ("D.SNI", "A.SNI", "notwork.TMP"):
        arrive(probe, inbox.path, name, b"x")
    assert inbox.claim_next().name == "A.SNI"
    clock.advance_to(clock.now() + 60)  # C falls due while D waits in the queue
    assert probe.fire_timers(clock.now())
    assert [inbox.claim_next().name for _ in range(2)] == ["D.SNI", "C.SNI"]
    assert inbox.claim_next() is None and names(inbox.path) == [".work", "notwork.TMP"]


@pytest.mark.parametrize("how", ["announced", "listed"])
def test_a_file_that_arrives_is_taken_before_every_retry_that_fell_due(
        probe: ComponentHost, clock: VirtualClock, how: str) -> None:
    """Bug hunt: at 500 packages the Despooler's instructions that waited for their package
    information fell due again faster than it got through them, and the instruction that
    carried the information sorted after them all: it was never taken, and a step run of 500
    packages never ended."""
    inbox = probe.ctx.inbox(RECEIVE)
    for i in range(5):
        (inbox.path / f"A{i}.SNI").write_bytes(b"waits")
    for _ in range(5):
        inbox.claim_next().defer(clock.now() + 60, "waits")
    clock.advance_to(clock.now() + 60)
    assert probe.fire_timers(clock.now())
    if how == "announced":
        arrive(probe, inbox.path, "Z.SNI", b"z")
    else:  # another process's file, found by a listing
        (inbox.path / "Z.SNI").write_bytes(b"z")
        inbox.invalidate()
    assert [inbox.claim_next().name for _ in range(6)] == ["Z.SNI", *(f"A{i}.SNI"
                                                                      for i in range(5))]


def test_retries_that_fell_due_are_taken_the_longest_due_first(
        probe: ComponentHost, clock: VirtualClock) -> None:
    """Review: retries sorted by name let those that keep falling due again keep out one that
    sorts after them (the file that carries what they wait for, deferred once itself): each
    retry here takes 10 s and waits 30 s, so A0-A4 fall due again faster than they are
    taken."""
    inbox = probe.ctx.inbox(RECEIVE)
    for name in ("A0.SNI", "A1.SNI", "A2.SNI", "A3.SNI", "A4.SNI", "Z.SNI"):
        (inbox.path / name).write_bytes(b"waits")
    for _ in range(6):
        inbox.claim_next().defer(clock.now() + 30, "waits")
    taken: list[str] = []
    while len(taken) < 12 and "Z.SNI" not in taken:
        probe.fire_timers(clock.now())
        item = inbox.claim_next()
        if item is None:
            clock.advance_to(probe.next_timer())
            continue
        taken.append(item.name)
        clock.advance_to(clock.now() + 10)  # the retry's work
        item.defer(clock.now() + 30, "waits")
    assert taken == ["A0.SNI", "A1.SNI", "A2.SNI", "A3.SNI", "A4.SNI", "Z.SNI"]


def test_replication_batches_are_taken_in_name_order_retried_or_not(
        probe: ComponentHost, clock: VirtualClock) -> None:
    """Review: a batch that waited, taken after a newer one that arrived meanwhile, would be of
    an older transaction and dropped as out of sync (Q288970): Replication Manager's incoming
    keeps the order its batches were sent in, their names'."""
    inbox = probe.ctx.inbox(REPLMGR_INCOMING)
    (inbox.path / "2_001ZZZ.RPL").write_bytes(b"older")
    inbox.claim_next().defer(clock.now() + 5, "waits")
    clock.advance_to(clock.now() + 5)
    assert probe.fire_timers(clock.now())
    arrive(probe, inbox.path, "2_002ZZZ.RPL", b"newer")
    assert [inbox.claim_next().name for _ in range(2)] == ["2_001ZZZ.RPL", "2_002ZZZ.RPL"]


def test_an_announced_link_goes_to_corrupt_unopened(probe: ComponentHost) -> None:
    folder = receive(probe)
    (folder / "A.SNI").write_bytes(b"a")
    probe.ctx.claim_next().done()
    (folder / "B.SNI").symlink_to("/etc/passwd")
    probe.runtime.notify(folder, "B.SNI")
    arrive(probe, folder, "C.SNI", b"c")
    arrive(probe, folder, "GONE.SNI", b"removed before it was claimed")
    (folder / "GONE.SNI").unlink()
    assert probe.ctx.claim_next().name == "C.SNI"
    assert (folder / "corrupt" / "B.SNI").is_symlink() and not (folder / "B.SNI").exists()
    assert "it is a symbolic link" in probe.log.path.read_text()


def test_a_deferred_file_deleted_by_hand_stops_waiting(probe: ComponentHost,
                                                       clock: VirtualClock) -> None:
    inbox = probe.ctx.inbox(RECEIVE)
    (inbox.path / "B.SNI").write_bytes(b"waits")
    inbox.claim_next().defer(clock.now() + 300, "waits")
    (inbox.path / "B.SNI").unlink()
    inbox.invalidate()
    assert inbox.claim_next() is None and probe.waits() == []


# --- recovery -----------------------------------------------------------------------------------

def test_start_up_returns_claimed_work_to_the_inbox(probe: ComponentHost) -> None:
    folder = receive(probe)
    (folder / "A.SNI").write_bytes(b"a")
    assert probe.ctx.claim_next() is not None
    probe.boot()  # a restart: the claimed file was never finished
    assert names(folder) == [".work", "A.SNI"]
    assert names(folder / ".work") == []
    assert probe.ctx.claim_next().name == "A.SNI"


def test_start_up_never_overwrites_a_newer_file_of_the_same_name(probe: ComponentHost) -> None:
    folder = receive(probe)
    for name in ("SAME.SNI", "DIFF.SNI"):
        (folder / name).write_bytes(b"old")
        probe.ctx.inbox(RECEIVE).claim(name)
    (folder / "SAME.SNI").write_bytes(b"old")  # an upstream redo: identical
    (folder / "DIFF.SNI").write_bytes(b"new")
    probe.boot()
    assert names(folder) == [".work", "DIFF.SNI", "SAME.SNI", "corrupt"]
    assert (folder / "DIFF.SNI").read_bytes() == b"new"
    assert (folder / "corrupt" / "DIFF.SNI").read_bytes() == b"old"


def test_start_up_deletes_only_stale_temp_files(fs: object) -> None:
    host = boot_probe(Path("/lab"), RealClock(rate=1.0))
    folder = receive(host)
    old = time.time() - host.runtime.hierarchy.timing.stale_tmp_age - 10
    for name in (".A.SNI.CEN-SMS_X.000001.tmp", "B.TMP", ".fresh.tmp", "C.TMP", ".keep"):
        (folder / name).write_bytes(b"x")
    for name in (".A.SNI.CEN-SMS_X.000001.tmp", "B.TMP", ".keep"):
        os.utime(folder / name, (old, old))
    host.boot()
    assert names(folder) == [".fresh.tmp", ".keep", ".work", "C.TMP"]
    assert "Deleted the stale temporary file E:\\SMS\\inboxes\\despoolr.box\\receive\\B.TMP" in (
        host.log.path.read_text())


def test_in_step_mode_every_temp_file_is_stale_at_the_first_start_up(fs: object) -> None:
    folder = Path("/lab/SEC/SMS/inboxes/despoolr.box/receive")
    folder.mkdir(parents=True)
    for name in (".X.SNI.CEN-SMS_X.000001.tmp", "Y.PCK.TMP"):
        (folder / name).write_bytes(b"x")
    boot_probe(Path("/lab"), VirtualClock())
    assert names(folder) == [".work"]


def test_in_step_mode_a_restart_keeps_the_temp_files_of_other_writers(
        probe: ComponentHost) -> None:
    # Another component's transfer in flight across units, and a file it is publishing.
    for name in ("Y.PCK.TMP", ".X.SNI.CEN-SMS_X.000001.tmp"):
        (receive(probe) / name).write_bytes(b"x")
    probe.boot()  # a restart after a simulated crash
    assert names(receive(probe)) == [".X.SNI.CEN-SMS_X.000001.tmp", ".work", "Y.PCK.TMP"]


class Nested(Component):
    """Three inboxes, one inside another, recovered in this order: the folders the first's
    recovery found real, the second's may change under the third."""

    name = "SMS_NESTED"
    log_name = "nested.log"
    inboxes = (InboxSpec("x.box\\sub", ("*.sni",)), InboxSpec("x.box", ("*",)),
               InboxSpec("x.box\\sub\\deeper", ("*.sni",)))

    def work(self) -> bool:
        return False


def test_start_up_looks_again_at_a_folder_an_earlier_inbox_recovery_changed(fs: object) -> None:
    # The inboxes of one component share what their recovery found real (Inbox.recover), until
    # one recovery moves something: here `x.box`'s claimed file `sub` goes back in place of the
    # folder `x.box\sub` (itself moved to corrupt\), so `deeper` is below a file now.
    root = Path("/lab")
    root.mkdir()
    (root / "hierarchy.yaml").write_text(HIERARCHY)
    runtime = LabRuntime(root, clock=VirtualClock(), seed=7,
                         registry=Registry(secondary=(Nested,)), open_database=None)
    host = runtime.hosts[0]
    host.boot()
    box = host.ctx.inboxes[1].path
    (box / ".work" / "sub").write_bytes(b"claimed")
    host.boot()
    assert (box / ".sub.refused").read_bytes() == b"claimed"
    assert names(box / "sub") == ["deeper"]  # its own `.work` is made at its next start
    assert names(box / "corrupt" / "sub") == [".work", "deeper"]
    assert ("Moved E:\\SMS\\inboxes\\x.box\\sub aside to E:\\SMS\\inboxes\\x.box\\.sub.refused: "
            "it was a file, not a folder") in host.log.path.read_text()


# --- fault points -------------------------------------------------------------------------------

@pytest.mark.parametrize("point", [BEFORE_PUBLISH, AFTER_PUBLISH])
def test_fault_points_around_the_publishing_rename(probe: ComponentHost, point: str) -> None:
    probe.faults.injector = CrashAt(point, site="SEC")
    dest = receive(probe) / "A.SNI"
    with pytest.raises(SimulatedCrash) as crash:
        probe.ctx.publish(dest, b"x")
    assert crash.value.point.path == str(dest)
    assert dest.exists() == (point == AFTER_PUBLISH)
    assert any(n.startswith(".A.SNI.") for n in names(dest.parent)) == (point == BEFORE_PUBLISH)


# --- names --------------------------------------------------------------------------------------

def draws(seed: int, count: int, suffix: str = ".PKG") -> list[str]:
    """The first names a writer's random_name would try with this seed."""
    ids = Ids(random.Random(seed), "P00-X")
    return [ids.random_chars() + suffix for _ in range(count)]


def test_random_names_never_collide_with_files_or_claimed_work(fs: object) -> None:
    folder = Path("/lab/P00/SMS/inboxes/distmgr.box/INCOMING")
    (folder / ".work").mkdir(parents=True)
    first = Ids(random.Random(1), "P00-X").random_name(folder, ".PKG")
    assert first == draws(1, 1)[0]
    assert len(first) == 12 and first[:8].isalnum() and first[:8].upper() == first[:8]
    # Every way a name can be taken: the file itself, its lower-case spelling (Windows would
    # call it the same file), a claimed file of that name, a folder, a dangling link.
    taken = draws(1, 5)
    (folder / taken[0]).write_bytes(b"")
    (folder / taken[1].lower()).write_bytes(b"")
    (folder / ".work" / taken[2]).write_bytes(b"")
    (folder / taken[3]).mkdir()
    os.symlink(folder / "gone", folder / taken[4])
    before = sorted(os.listdir(folder)), sorted(os.listdir(folder / ".work"))
    name = Ids(random.Random(1), "P00-X").random_name(folder, ".PKG")
    assert name == draws(1, 6)[5]  # the first draw that names nothing there
    assert (sorted(os.listdir(folder)), sorted(os.listdir(folder / ".work"))) == before


def test_a_random_name_published_after_a_prefix_is_checked_with_it(fs: object) -> None:
    # Replication Manager's outbound objects are `<DEST>_<8 random>.<ext>`: the check of the
    # bare name saw nothing there, and a second object of the same draw replaced the first.
    folder = Path("/lab/P00/SMS/inboxes/replmgr.box/outbound/low")
    (folder / ".work").mkdir(parents=True)
    taken = draws(1, 2, ".STA")
    (folder / f"ZZZ_{taken[0]}").write_bytes(b"")
    (folder / ".work" / f"ZZZ_{taken[1]}").write_bytes(b"")
    ids = Ids(random.Random(1), "P00-X")
    assert ids.random_name(folder, ".STA", prefix="ZZZ_") == draws(1, 3, ".STA")[2]
    assert Ids(random.Random(1), "P00-X").random_name(folder, ".STA", prefix="S01_") == taken[0]


def test_derived_names_are_stable_and_temp_names_count() -> None:
    a, b = Ids(random.Random(1), "P00-X"), Ids(random.Random(2), "P00-X")
    assert a.name_for("K.SNI", ".PKG") == b.name_for("K.SNI", ".PKG")
    assert a.name_for("K.SNI") != a.name_for("L.SNI")
    assert a.name_for("K.SNI") != Ids(random.Random(1), "S01-X").name_for("K.SNI")
    assert [a.temp_name("A.PKG"), a.temp_name("A.PKG")] == [
        ".A.PKG.P00-X.000001.tmp", ".A.PKG.P00-X.000002.tmp"]
    # Two writers of one site never share a temp name, whatever they write.
    assert Ids(random.Random(1), "P00-SMS_DESPOOLER").temp_name("A.PKG") != \
        Ids(random.Random(1), "P00-SMS_DISTRIBUTION_MANAGER").temp_name("A.PKG")


def test_a_restarted_writer_steps_past_the_temp_file_its_killed_run_left(
        probe: ComponentHost) -> None:
    # The counter starts again at 1 after a restart: the leftover keeps its name and bytes (only
    # start-up recovery deletes it, once stale) and the new file is published all the same.
    folder = receive(probe)
    leftover = folder / ".A.SNI.SEC-SMS_PROBE.000001.tmp"
    leftover.write_bytes(b"half of the killed run's A.SNI")
    probe.ctx.publish(folder / "A.SNI", b"complete")
    assert names(folder) == [".A.SNI.SEC-SMS_PROBE.000001.tmp", ".work", "A.SNI"]
    assert (folder / "A.SNI").read_bytes() == b"complete"
    assert leftover.read_bytes() == b"half of the killed run's A.SNI"
    assert probe.ctx.inbox(RECEIVE).listing() == ["A.SNI"]  # temp files are never work


# --- durability ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("durability", "files", "folders"),
                         [("none", 0, 0), ("file", 1, 0), ("file+dir", 1, 1)])
def test_durability_decides_what_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            durability: str, files: int, folders: int) -> None:
    host = boot_probe(tmp_path / "lab", VirtualClock(), durability)
    synced: list[bool] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.path.isdir(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    host.ctx.publish(receive(host) / "A.SNI", b"x")
    assert synced.count(False) == files
    assert synced.count(True) == folders


def test_a_claim_that_fails_leaves_its_file_to_the_next_look(
        probe: ComponentHost, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rename that claims a file is refused once (a scanner holding it, a permission):
    the unit fails, and the file is taken by the next claim, not left until a rescan."""
    folder = receive(probe)
    (folder / "B.SNI").write_bytes(b"b")
    probe.ctx.claim_next().done()
    arrive(probe, folder, "A.SNI", b"a")
    real_replace = os.replace
    refused: list[str] = []

    def refuse_once(src: str, dst: str) -> None:
        if not refused and str(src).endswith("A.SNI"):
            refused.append(str(src))
            raise PermissionError(13, "Permission denied", str(src))
        real_replace(src, dst)

    monkeypatch.setattr("sitesrv.runtime.inbox.os.replace", refuse_once)
    with pytest.raises(PermissionError):
        probe.ctx.claim_next()
    again = probe.ctx.claim_next()
    assert refused and again is not None and again.name == "A.SNI"

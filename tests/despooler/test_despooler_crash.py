"""A crash at any hand-off point, then a restart: nothing lost, nothing duplicated."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitesrv.compression import read_manifest
from sitesrv.db.sitedb import StatusType
from sitesrv.formats.values import Payload
from sitesrv.runtime.faults import AFTER_CLAIM, AFTER_PUBLISH, BEFORE_PUBLISH, FaultPoint
from sitesrv.runtime.idle import ExitCode
from sitesrv.testing import assert_in_order, files
from tests.despooler.conftest import (
    PKG_ID,
    Packages,
    copy_readonly,
    deliver,
    despool_log,
    register,
    run,
    site,
    store,
)


class CrashOnce:
    """Crash P00's Despooler the first time it reaches `point` for a file ending in `suffix`."""

    def __init__(self, point: str, suffix: str) -> None:
        self.point = point
        self.suffix = suffix.upper()
        self.fired: list[FaultPoint] = []

    def __call__(self, point: FaultPoint) -> bool:
        if self.fired or (point.site, point.component) != ("P00", "SMS_DESPOOLER"):
            return False
        path = (point.path or "").replace("\\", "/").upper()
        if point.name != self.point or not path.endswith(self.suffix):
            return False
        self.fired.append(point)
        return True


@pytest.mark.parametrize("point, suffix, reports", [
    (AFTER_CLAIM, ".SNI", 1),
    (BEFORE_PUBLISH, "SMSPKG/ZZZ00001.PCK", 1),
    (AFTER_PUBLISH, "SMSPKG/ZZZ00001.PCK", 1),  # stored, nothing registered yet
    (BEFORE_PUBLISH, ".STA", 1),
    (AFTER_PUBLISH, ".STA", 1),  # the redo replaces the status file: its name comes from the request
    (BEFORE_PUBLISH, ".PKG", 1),
    (AFTER_PUBLISH, ".PKG", 1),
])
def test_a_crash_while_storing_content_neither_loses_nor_duplicates(
        lab: Path, packages: Packages, point: str, suffix: str, reports: int) -> None:
    register(lab, "P00", source_version=1)
    deliver(lab, "P00", "2_001ZZZ", packages.pck1)
    crash = CrashOnce(point, suffix)
    report = run(lab, faults=crash)
    assert crash.fired and report.exit_code == ExitCode.IDLE and report.errors == 0

    layout = site(lab, "P00")
    assert len(files(layout.inbox("distmgr.box\\INCOMING"), "*.PKG")) == 1
    assert len(files(layout.inbox("replmgr.box\\outbound\\low"), "*.STA")) == reports
    assert files(layout.smspkg) == [f"{PKG_ID}.PCK"]
    assert files(layout.receive) == [] and files(layout.receive / ".work") == []
    with store(lab, "P00") as s:
        package = s.package(PKG_ID)
        assert package is not None and package.StoredPkgVersion == 1
        assert len(s.statuses(PKG_ID, status_type=StatusType.MASTER)) == 1
    texts = despool_log(lab, "P00")
    assert sum(t.startswith("STATMSG: ID=4400 ") for t in texts) == 1
    assert texts[-1] == "~Despooler successfully executed one instruction."


@pytest.mark.parametrize("point, suffix", [
    (BEFORE_PUBLISH, "2_001ZZZ.PCK"),
    (AFTER_PUBLISH, "2_001ZZZ.PCK"),  # the payload is in tosend, no job yet
    (BEFORE_PUBLISH, ".JOB"),
    (AFTER_PUBLISH, ".JOB"),
])
def test_a_crash_while_handing_on_makes_one_job(
        lab: Path, packages: Packages, point: str, suffix: str) -> None:
    deliver(lab, "P00", "2_001ZZZ", packages.pck1, final="S01")
    crash = CrashOnce(point, suffix)
    report = run(lab, faults=crash)
    assert crash.fired and report.exit_code == ExitCode.IDLE and report.errors == 0
    layout = site(lab, "P00")
    taken = 2 if point == AFTER_PUBLISH or suffix != ".JOB" else 3  # a crash may waste an ID
    [made] = files(layout.inbox("schedule.box"), "*.job")
    assert files(layout.inbox("schedule.box\\UID"), "*.job") == [f"{taken:08X}.job"]
    assert made == f"{taken - 1:08X}.job"
    assert files(layout.inbox("schedule.box\\tosend")) == ["2_001ZZZ.PCK"]
    assert files(layout.receive) == []


class CrashAndTake(CrashOnce):
    """Crash after the hand-over, and let the payload's owner take it before the restart (as
    Replication Manager unpacks a batch, or a job sends `tosend\\<reqid>.PCK` and deletes it)."""

    def __call__(self, point: FaultPoint) -> bool:
        fired = super().__call__(point)
        if fired:
            Path(point.path or "").unlink()
        return fired


@pytest.mark.parametrize("taken", [False, True])
def test_a_crash_after_moving_a_batch_finishes_the_instruction(lab: Path, taken: bool) -> None:
    """`taken`: Replication Manager unpacked the batch before the restart; the hand-over note
    tells the redo it was moved, not lost."""
    deliver(lab, "P00", "2_001ZZZ", b"a replication batch\n", kind=Payload.RPL)
    crash = (CrashAndTake if taken else CrashOnce)(AFTER_PUBLISH, ".RPL")
    report = run(lab, faults=crash)
    assert crash.fired and report.exit_code == ExitCode.IDLE and report.errors == 0
    layout = site(lab, "P00")
    assert files(layout.inbox("replmgr.box\\incoming")) == ([] if taken else ["2_001ZZZ.RPL"])
    assert files(layout.receive) == [] and not (layout.receive / "corrupt").exists()
    assert despool_log(lab, "P00")[-1] == "~Despooler successfully executed one instruction."


def test_a_routed_payload_its_job_sent_before_the_restart_is_not_quarantined(
        lab: Path, packages: Packages) -> None:
    deliver(lab, "P00", "2_001ZZZ", packages.pck1, final="S01")
    crash = CrashAndTake(AFTER_PUBLISH, "2_001ZZZ.PCK")
    report = run(lab, faults=crash)
    assert crash.fired and report.exit_code == ExitCode.IDLE and report.errors == 0
    layout = site(lab, "P00")
    assert files(layout.receive) == [] and not (layout.receive / "corrupt").exists()
    assert files(layout.inbox("schedule.box"), "*.job") == [], "no second job"
    assert despool_log(lab, "P00")[-2:] == [
        "~The final destination of this instruction is site S01, the job created before the "
        "Despooler stopped has already finished with it.",
        "~Despooler successfully executed one instruction."]


def test_a_batch_lost_from_receive_is_still_quarantined(lab: Path) -> None:
    """Without the hand-over note a missing payload is a loss, not a redo."""
    deliver(lab, "P00", "2_001ZZZ", b"a replication batch\n", kind=Payload.RPL)
    (site(lab, "P00").receive / "2_001ZZZ.PCK").unlink()
    report = run(lab)
    assert report.exit_code == ExitCode.WAITING
    assert files(site(lab, "P00").receive / "corrupt", "*.SNI") == ["2_001ZZZ.SNI"]


class CrashTakeAndForge(CrashAndTake):
    """As CrashAndTake, and the hand-over note then names somewhere else, or is a link to a
    note that does: no proof that this payload was handed over."""

    def __init__(self, *args: object, link: bool) -> None:
        super().__init__(*args)
        self.link = link

    def __call__(self, point: FaultPoint) -> bool:
        fired = super().__call__(point)
        if fired:
            (note,) = Path(point.path or "").parents[2].glob(
                "despoolr.box/receive/ds_*.hnd")
            forged = b"E:\\SMS\\inboxes\\replmgr.box\\incoming\\OTHER.RPL\r\n"
            if self.link:
                real = note.read_bytes()
                target = note.with_name("elsewhere.txt")
                target.write_bytes(real)
                note.unlink()
                note.symlink_to(target)
            else:
                note.write_bytes(forged)
        return fired


@pytest.mark.parametrize("link", [False, True])
def test_a_hand_over_note_that_is_not_this_payloads_proves_nothing(lab: Path,
                                                                   link: bool) -> None:
    deliver(lab, "P00", "2_001ZZZ", b"a replication batch\n", kind=Payload.RPL)
    crash = CrashTakeAndForge(AFTER_PUBLISH, ".RPL", link=link)
    report = run(lab, faults=crash)
    assert crash.fired and report.exit_code == ExitCode.WAITING
    assert files(site(lab, "P00").receive / "corrupt", "*.SNI") == ["2_001ZZZ.SNI"]


def test_a_hand_over_note_left_by_a_finished_instruction_is_removed_at_start(lab: Path) -> None:
    receive = site(lab, "P00").receive
    (receive / "ds_abcde.hnd").write_bytes(b"E:\\SMS\\inboxes\\replmgr.box\\incoming\\X.RPL\r\n")
    report = run(lab)
    assert report.exit_code == ExitCode.IDLE
    assert files(receive) == []
    assert despool_log(lab, "P00") == [
        "Deleted the hand-over note E:\\SMS\\inboxes\\despoolr.box\\receive\\ds_abcde.hnd, "
        "whose instruction is finished"]


@pytest.mark.parametrize("point, suffix", [
    (AFTER_PUBLISH, "SMSPKG/ZZZ00001.PCK"),  # merged, the delta not yet removed
    (AFTER_PUBLISH, ".STA"),
])
def test_a_crash_after_merging_a_delta_registers_it_once(
        lab: Path, packages: Packages, point: str, suffix: str) -> None:
    layout = site(lab, "P00")
    copy_readonly(packages.pck1, layout.smspkg / f"{PKG_ID}.PCK")
    register(lab, "P00", source_version=2, stored=1)
    deliver(lab, "P00", "2_001ZZZ", packages.dlt2, kind=Payload.DLT, version=2)
    crash = CrashOnce(point, suffix)
    report = run(lab, faults=crash)
    assert crash.fired and report.exit_code == ExitCode.IDLE and report.errors == 0
    assert len(files(layout.inbox("distmgr.box\\INCOMING"), "*.PKG")) == 1
    assert read_manifest(layout.smspkg / f"{PKG_ID}.PCK") == read_manifest(packages.pck2)
    assert files(layout.receive) == []
    with store(lab, "P00") as s:
        package = s.package(PKG_ID)
        assert package is not None and package.StoredPkgVersion == 2


def test_a_pck_copied_by_hand_is_not_taken_for_the_merge(lab: Path, packages: Packages) -> None:
    """The site has registered version 1; someone copied version 2's PCK into SMSPKG by hand.

    Only a delta renamed for its merge (`ds_xxxxx.mrg`) makes a PCK of the new version count
    as merged: this one is not, so the delta must merge onto version 1 and waits (error 8),
    as SMS waits until PreloadPkgOnSite registers the copy (docs/sources.md#smsutils).
    """
    layout = site(lab, "P00")
    copy_readonly(packages.pck2, layout.smspkg / f"{PKG_ID}.PCK")
    register(lab, "P00", source_version=2, stored=1)
    deliver(lab, "P00", "2_001ZZZ", packages.dlt2, kind=Payload.DLT, version=2)
    report = run(lab)
    assert report.exit_code == ExitCode.WAITING and report.errors == 0
    assert [w.reason for w in report.waits] == [f"waits for version 1 of {PKG_ID} to merge a delta"]
    texts = despool_log(lab, "P00")
    assert_in_order(texts, [
        f"CCompress::Open: Failed to open F:\\SMSPKG\\{PKG_ID} (1)",
        "Despooler failed to execute the instruction, error code = 8"])
    assert not any(t.startswith("~Stored Package") for t in texts)
    assert (layout.smspkg / f"{PKG_ID}.PCK").read_bytes() == packages.pck2.read_bytes()
    assert files(layout.inbox("distmgr.box\\INCOMING"), "*.PKG") == []
    assert [p.suffix for p in layout.receive.glob("ds_*")] == [".pkg"], "not left as merging"
    with store(lab, "P00") as s:
        package = s.package(PKG_ID)
        assert package is not None and package.StoredPkgVersion == 1

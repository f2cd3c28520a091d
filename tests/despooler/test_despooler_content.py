"""Compressed files: stored, merged, retried (error 12 and 8), parked when forwarded."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from sitesrv.components.despooler import Despooler
from sitesrv.components.signals import package_information_signal
from sitesrv.compression import read_manifest, verify
from sitesrv.db.pkgstore import PackageStore, open_store
from sitesrv.db.sitedb import Package, PackageStatus, StatusType
from sitesrv.formats import pkg, sta
from sitesrv.formats.values import Payload
from sitesrv.lab.clock import VIRTUAL_EPOCH
from sitesrv.runtime import context
from sitesrv.runtime.component import Component
from sitesrv.runtime.idle import ExitCode
from sitesrv.runtime.registry import Registry
from sitesrv.testing import files, log_lines
from tests.despooler.conftest import (
    PKG_ID,
    RECEIVE,
    Packages,
    carried,
    copy_readonly,
    deliver,
    despool_log,
    register,
    run,
    site,
    store,
)

TYPE = "MICROSOFT|SMS|MINIJOBINSTRUCTION|PACKAGE"


def preamble(texts: list[str], request: str, sender: str) -> list[str]:
    """The CM12 lines every instruction starts with, filled in from the log's own values."""
    thread = re.fullmatch(r"~Created a new despooling thread ([0-9A-F]+)", texts[2])
    work = re.search(r"\\(ds_[0-9a-z]{5})\.ist ", texts[3])
    assert thread and work, texts[:4]
    return [
        f"~Found ready instruction {request.lower()}.sni",
        "~Used 0 out of 3 despooling threads",
        f"~Created a new despooling thread {thread[1]}",
        f"~Verifying signature for instruction {RECEIVE}\\{work[1]}.ist of type {TYPE}",
        f"~Signature checked out OK for instruction coming from site {sender}, proceed with the "
        "instruction execution.",
        f"~Executing instruction of type {TYPE}",
    ]


def work_name(texts: list[str]) -> str:
    found = re.search(r"\\(ds_[0-9a-z]{5})\.ist ", texts[3])
    assert found
    return found[1]


@pytest.mark.parametrize("code, sender, parent, server, drive", [
    ("P00", "ZZZ", "ZZZ", "MGMT03", "F"),
    ("S01", "P00", "P00", "SEC01", "E"),
])
def test_a_pck_from_the_source_site_is_stored_and_reported(
        lab: Path, packages: Packages, code: str, sender: str, parent: str, server: str,
        drive: str) -> None:
    register(lab, code, source_version=1)
    deliver(lab, code, "2_001ZZZ", packages.pck1, sending=sender)
    report = run(lab)
    assert report.exit_code == ExitCode.IDLE and report.errors == 0

    layout = site(lab, code)
    pck = layout.smspkg / f"{PKG_ID}.PCK"
    assert pck.read_bytes() == packages.pck1.read_bytes()
    assert not pck.stat().st_mode & 0o222, "a stored PCK is read-only (docs/sources.md#preloadpkgonsite)"
    unc = f"\\\\{server}\\SMS_CPS{drive}$\\{PKG_ID}.PCK"
    with store(lab, code) as s:
        package = s.package(PKG_ID)
        assert package is not None
        assert (package.StoredPkgVersion, package.StoredPkgPath) == (1, unc)
        [row] = s.statuses(PKG_ID, status_type=StatusType.MASTER)
    assert (row.SiteCode, row.PkgServer, row.Status, row.SourceVersion, row.Location) == (
        code, server, PackageStatus.RECEIVED, 1, unc)
    assert row.UpdateTime == VIRTUAL_EPOCH

    outbound = layout.inbox("replmgr.box\\outbound\\low")
    [sta_name] = files(outbound)
    assert sta_name.startswith(f"{parent}_") and sta_name.endswith(".STA")
    report_rows = sta.read(outbound / sta_name).rows
    assert [(r.type, r.site_code, r.status, r.source_version) for r in report_rows] == [
        (1, code, 2, 1)]

    incoming = layout.inbox("distmgr.box\\INCOMING")
    [pkg_name] = files(incoming)
    assert re.fullmatch(r"[A-Z0-9]{8}\.PKG", pkg_name)
    assert pkg.read(incoming / pkg_name) == carried(1)
    assert files(layout.receive) == []

    texts = despool_log(lab, code)
    work = work_name(texts)
    assert texts[:6] == preamble(texts, "2_001ZZZ", sender)
    assert texts[6:12] == [
        f"~Received package {PKG_ID} version 1. Compressed file -  {drive}:\\SMSPKG\\{PKG_ID}.PCK"
        f" as {RECEIVE}\\{work}.pkg",
        "~Old package storedUNC path is .",
        f"~Use drive {drive} for storing the compressed package.",
        f"~Package {PKG_ID} (version 0) exists in the distribution source, save the newer "
        "version (version 1).",
        f"~Stored Package {PKG_ID}. Stored Package Version = 1",
        f"Forward package status for pkg {PKG_ID} to site {parent}",
    ]
    assert texts[12].startswith(
        f'STATMSG: ID=4400 SEV=I LEV=M SOURCE="SMS Server" COMP="SMS_DESPOOLER" SYS={server} '
        f"SITE={code} ")
    assert f'ISTR0="{PKG_ID}" ISTR1="{unc}" ' in texts[12]
    assert texts[12].endswith(f'NUMATTRS=2 AID0=400 AVAL0="{PKG_ID}" AID1=410 AVAL1="1"')
    assert texts[13:] == ["~Despooler successfully executed one instruction."]


class InformationArrives(Component):
    """Registers the package information 2 lab seconds after start, as DistMgr would."""

    name = "SMS_TEST_INFORMATION"
    log_name = "testinfo.log"

    def start(self) -> None:
        self.due = self.ctx.clock.now() + 2
        self.ctx.wake_at(self.due)

    def work(self) -> bool:
        if self.ctx.clock.now() < self.due:
            return False
        store = self.ctx.store
        package = store.package(PKG_ID)
        if package is None or package.SourceVersion < 1:
            store.put_package(Package(PkgID=PKG_ID, SourceSite="ZZZ", Name="Demo",
                                      SourceVersion=1))
        return False


def test_content_before_its_package_information_is_retried_with_error_12(
        lab: Path, packages: Packages) -> None:
    deliver(lab, "P00", "2_001ZZZ", packages.pck1)
    report = run(lab, components=Registry(primary=(Despooler, InformationArrives)))
    assert report.exit_code == ExitCode.IDLE and report.errors == 0

    texts = despool_log(lab, "P00")
    first = texts.index("Despooler failed to execute the instruction, error code = 12")
    assert texts[first - 2:first + 2] == [
        f"~This package[{PKG_ID}]'s information hasn't arrived yet for this version [1]. "
        "Retry later ...",
        "Created retry instruction for job 0002DF38",
        "Despooler failed to execute the instruction, error code = 12",
        f"~Instruction {RECEIVE}\\2_001ZZZ.SNI won't be processed till 6/4/2007 4:00:05 AM "
        "Eastern Standard Time",
    ]
    assert texts.count("~Despooler successfully executed one instruction.") == 1
    stamped = log_lines(lab, "P00", "despool.log")
    done = next(line for line in stamped if line.text.startswith("~Stored Package"))
    assert done.timestamp == "06-04-2007 04:00:05.000", "retried after despooler_retry_delay"
    with store(lab, "P00") as s:
        package = s.package(PKG_ID)
        assert package is not None and package.StoredPkgVersion == 1


class InformationSignalled(InformationArrives):
    """Registers the package information and signals it, as Distribution Manager does."""

    name = "SMS_TEST_INFORMATION_SIGNALLED"

    def work(self) -> bool:
        if self.ctx.clock.now() < self.due:
            return False
        super().work()
        self.ctx.signal(package_information_signal(PKG_ID))
        return False


def test_content_waiting_for_its_package_information_goes_as_soon_as_it_is_recorded(
        lab: Path, packages: Packages) -> None:
    # The log still promises the retry delay, but the instruction is stored when Distribution
    # Manager records the information (2 s in), not 5 s in (docs/differences.md).
    deliver(lab, "P00", "2_001ZZZ", packages.pck1)
    report = run(lab, components=Registry(primary=(Despooler, InformationSignalled)))
    assert report.exit_code == ExitCode.IDLE and report.errors == 0
    texts = despool_log(lab, "P00")
    assert texts.count("Despooler failed to execute the instruction, error code = 12") == 1
    assert f"~Instruction {RECEIVE}\\2_001ZZZ.SNI won't be processed till 6/4/2007 4:00:05 AM " \
        "Eastern Standard Time" in texts
    stamped = log_lines(lab, "P00", "despool.log")
    done = next(line for line in stamped if line.text.startswith("~Stored Package"))
    assert done.timestamp == "06-04-2007 04:00:02.000"


def test_the_waiting_instruction_keeps_its_payload_under_the_work_name(
        lab: Path, packages: Packages) -> None:
    deliver(lab, "P00", "2_001ZZZ", packages.pck1)
    report = run(lab, horizon=7)
    assert report.exit_code == ExitCode.WAITING
    assert report.lines() == [f"P00 SMS_DESPOOLER: receive\\2_001ZZZ.SNI waits for the package "
                              f"information of {PKG_ID} version 1"]
    work = work_name(despool_log(lab, "P00"))
    assert files(site(lab, "P00").receive) == ["2_001ZZZ.SNI", f"{work}.pkg"]


def test_a_delta_is_merged_onto_the_previous_version(lab: Path, packages: Packages) -> None:
    layout = site(lab, "P00")
    copy_readonly(packages.pck1, layout.smspkg / f"{PKG_ID}.PCK")
    register(lab, "P00", source_version=2, stored=1)
    deliver(lab, "P00", "2_001ZZZ", packages.dlt2, kind=Payload.DLT, version=2)
    report = run(lab)
    assert report.exit_code == ExitCode.IDLE and report.errors == 0

    pck = layout.smspkg / f"{PKG_ID}.PCK"
    assert verify(pck, package_id=PKG_ID, version=2) == read_manifest(packages.pck2)
    assert not pck.stat().st_mode & 0o222
    with store(lab, "P00") as s:
        package = s.package(PKG_ID)
        assert package is not None and package.StoredPkgVersion == 2
    texts = despool_log(lab, "P00")
    start = texts.index(f"Received package {PKG_ID} version 2")
    assert texts[start + 1:start + 4] == [
        "~Use drive F for storing the compressed package.",
        f"~Package {PKG_ID} (version 1) exists in the distribution source, save the newer "
        "version (version 2).",
        f"~Stored Package {PKG_ID}. Stored Package Version = 2",
    ]
    assert files(layout.receive) == []


def test_merges_left_half_done_by_a_killed_server_are_removed_at_start_up(
        lab: Path, packages: Packages) -> None:
    layout = site(lab, "P00")
    copy_readonly(packages.pck1, layout.smspkg / f"{PKG_ID}.PCK")
    for half in (f"{PKG_ID}.PCK.sitesrv-tmp", "ZZZ00009.PCK.sitesrv-tmp"):  # the server died
        (layout.smspkg / half).write_bytes(packages.pck2.read_bytes()[:1000])  # while merging
    register(lab, "P00", source_version=2, stored=1)
    deliver(lab, "P00", "2_001ZZZ", packages.dlt2, kind=Payload.DLT, version=2)
    report = run(lab)
    assert report.exit_code == ExitCode.IDLE and report.errors == 0
    assert verify(layout.smspkg / f"{PKG_ID}.PCK", package_id=PKG_ID, version=2) == \
        read_manifest(packages.pck2)
    assert files(layout.smspkg) == [f"{PKG_ID}.PCK"]
    texts = despool_log(lab, "P00")
    for half in ("ZZZ00001.PCK.sitesrv-tmp", "ZZZ00009.PCK.sitesrv-tmp"):
        assert f"Deleted the stale temporary file F:\\SMSPKG\\{half}" in texts


def test_a_delta_without_its_base_is_stuck_until_the_full_package_arrives(
        lab: Path, packages: Packages) -> None:
    register(lab, "S01", source_version=2, stored=1)
    deliver(lab, "S01", "2_001P00", packages.dlt2, kind=Payload.DLT, version=2, sending="P00")
    report = run(lab, horizon=120)
    assert report.exit_code == ExitCode.WAITING
    assert report.lines() == [f"S01 SMS_DESPOOLER: receive\\2_001P00.SNI waits for version 1 "
                              f"of {PKG_ID} to merge a delta"]
    texts = despool_log(lab, "S01")
    attempt = [
        f"Received package {PKG_ID} version 2",
        f"CCompress::Open: Failed to open E:\\SMSPKG\\{PKG_ID} (1)",
        "Created retry instruction for job 0002DF38",
        "Despooler failed to execute the instruction, error code = 8",
    ]
    starts = [i for i, t in enumerate(texts) if t == attempt[0]]
    # Retried for ever (docs/sources.md#delta-stuck), after 5, 10, 20, 40 s: the delay doubles.
    assert len(starts) >= 5
    tills = []
    for i in starts:
        assert texts[i:i + 4] == attempt
        assert texts[i + 4].startswith(f"~Instruction {RECEIVE}\\2_001P00.SNI won't be "
                                       "processed till ")
        tills.append(texts[i + 4].rsplit(" till ", 1)[1])
    assert tills[:4] == [f"6/4/2007 {t} AM Eastern Standard Time"
                         for t in ("4:00:05", "4:00:15", "4:00:35", "4:01:15")]

    deliver(lab, "S01", "2_002P00", packages.pck2, version=2, sending="P00")
    report = run(lab)
    assert report.exit_code == ExitCode.IDLE and report.errors == 0
    pck = site(lab, "S01").smspkg / f"{PKG_ID}.PCK"
    assert pck.read_bytes() == packages.pck2.read_bytes()
    with store(lab, "S01") as s:
        package = s.package(PKG_ID)
        assert package is not None and package.StoredPkgVersion == 2
    assert despool_log(lab, "S01")[-2:] == [
        f"~Package {PKG_ID} version 2 is already stored, discard the received version 2.",
        f"Forward package status for pkg {PKG_ID} to site P00"]
    # Stored once, reported twice: the sender of the old delta set the row to SENT.
    outbound = site(lab, "S01").inbox("replmgr.box\\outbound\\low")
    assert [[(r.type, r.site_code, r.status, r.source_version) for r in sta.read(path).rows]
            for path in sorted(outbound.iterdir())] == [[(1, "S01", 2, 2)]] * 2
    assert files(site(lab, "S01").receive) == []


def test_content_forwarded_by_the_nearest_site_is_parked_for_distribution_manager(
        lab: Path, packages: Packages) -> None:
    forwarded = carried(1, issuing="P00")
    deliver(lab, "S01", "2_001P00", packages.pck1, sending="P00", originating="P00",
            package=forwarded)
    report = run(lab)
    assert report.exit_code == ExitCode.IDLE and report.errors == 0

    layout = site(lab, "S01")
    pending = layout.smspkg / f"{PKG_ID}.PCK.1"
    assert files(layout.smspkg) == [f"{PKG_ID}.PCK.1"]
    assert pending.read_bytes() == packages.pck1.read_bytes()
    assert not pending.stat().st_mode & 0o222
    with store(lab, "S01") as s:
        assert s.package(PKG_ID) is None, "Distribution Manager registers it, not the Despooler"
        assert s.statuses(PKG_ID) == []
    incoming = layout.inbox("distmgr.box\\INCOMING")
    [pkg_name] = files(incoming)
    assert pkg.read(incoming / pkg_name) == forwarded
    assert files(layout.inbox("replmgr.box\\outbound\\low")) == []
    texts = despool_log(lab, "S01")
    work = work_name(texts)
    assert texts[6:] == [
        f"~Received package {PKG_ID} version 1. Compressed file -  E:\\SMSPKG\\{PKG_ID}.PCK.1 as "
        f"{RECEIVE}\\{work}.pkg",
        "~Old package storedUNC path is .",
        "~Use drive E for storing the compressed package.",
        f"~Package {PKG_ID} version 1 came from site P00, not from its source site ZZZ: stored "
        f"it as E:\\SMSPKG\\{PKG_ID}.PCK.1 for Distribution Manager to register.",
        "~Despooler successfully executed one instruction.",
    ]


class RacingStore:
    """The Despooler's store, with Distribution Manager registering version 2 just after the
    Despooler read the package (another thread of the site in live mode)."""

    def __init__(self, inner: PackageStore) -> None:
        self.inner = inner
        self.raced = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def package(self, pkg_id: str) -> Package | None:
        found = self.inner.package(pkg_id)
        if found is not None and not self.raced:
            self.raced = True
            self.inner.put_package(attrs.evolve(found, SourceVersion=2,
                                                LastRefresh=VIRTUAL_EPOCH + 60))
        return found


@pytest.mark.parametrize("code, sender", [("P00", "ZZZ"), ("S01", "P00")])
def test_storing_keeps_what_distribution_manager_registered_meanwhile(
        lab: Path, packages: Packages, monkeypatch: pytest.MonkeyPatch, code: str,
        sender: str) -> None:
    racing: list[RacingStore] = []

    def open_racing_store(*args: object) -> RacingStore:
        racing.append(RacingStore(open_store(*args)))  # type: ignore[arg-type]
        return racing[-1]

    monkeypatch.setattr(context, "open_store", open_racing_store)
    register(lab, code, source_version=1)
    deliver(lab, code, "2_001ZZZ", packages.pck1, sending=sender)
    report = run(lab)
    assert report.exit_code == ExitCode.IDLE and report.errors == 0
    assert sum(r.raced for r in racing) == 1, "one site's Despooler read the package"

    with store(lab, code) as s:
        package = s.package(PKG_ID)
    assert package is not None
    assert (package.SourceVersion, package.LastRefresh) == (2, VIRTUAL_EPOCH + 60), (
        "the Despooler sets only StoredPkgVersion and StoredPkgPath")
    assert package.StoredPkgVersion == 1


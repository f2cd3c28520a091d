"""Junk in Replication Manager's outbound folders, and junk inside a replication batch.

Any component (or person) can drop a file into `replmgr.box\\outbound\\<priority>`. What is not
an object Replication Manager can send (an unknown class, an empty or unreadable `.PKG` or
`.STA`, a name without a site) is quarantined at the sending site before it joins a batch, and
a good package sent at the same time still reaches every DP. A batch that arrives with one
object of an unknown class delivers its other objects and quarantines only that one.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sitesrv.admin.lab import Lab
from sitesrv.formats import rpl, sta
from sitesrv.testing import drop, log_messages, query

from .conftest import (
    assert_ended,
    assert_installed_everywhere,
    assert_quarantined,
    create_good_package,
    every_quarantine,
    quarantined,
    run,
)

OUTBOUND = "replmgr.box\\outbound\\normal"
EXE = b"MZ\x90\x00\x03\x00\x00\x00 this program cannot be run in DOS mode, nor replicated"


@pytest.mark.parametrize(("site", "name", "data"), [
    ("P00", "ZZZ_ABCDEFGH.EXE", EXE),
    ("ZZZ", "P00_ABCDEFGH.PKG", b""),
    ("ZZZ", "P00_ABCDEFGH.STA", random.Random(16).randbytes(4096)),
    ("ZZZ", "ABCDEFGH.PKG", b"[PACKAGE DEFINITION]\n[END]\n"),
], ids=["an .EXE for the parent site", "an empty .PKG", "random bytes named .STA",
        "a name with no site"])
def test_junk_in_the_outbound_folder_is_quarantined_at_the_sending_site_and_a_good_package_installs(
        lab: Lab, tmp_path: Path, site: str, name: str, data: bytes) -> None:
    """The junk is dropped while the console creates a good package for every DP."""
    package = create_good_package(lab, tmp_path)
    drop(lab.site(site).inbox(OUTBOUND), name, data)

    report = run(lab)

    assert_ended(report)
    assert_quarantined(lab, site, OUTBOUND, name, "replmgr.log")
    assert (lab.site(site).inbox(OUTBOUND) / "corrupt" / name).read_bytes() == data
    assert every_quarantine(lab) == [f"{site}/SMS/inboxes/replmgr.box/outbound/normal/corrupt/"
                                     f"{name}"], "the junk travelled on and was refused elsewhere"
    assert_installed_everywhere(lab, package)


def _summarized(lab: Lab, package_id: str) -> list[tuple[object, ...]]:
    return query(lab, "ZZZ", "SELECT UpdateTime, Status FROM PkgStatus WHERE ID = ? AND Type = 2 "
                 "AND SiteCode = 'P00'", (package_id,))


def test_a_batch_with_one_object_of_an_unknown_class_delivers_its_good_objects(
        lab: Lab, tmp_path: Path) -> None:
    """After a package is installed everywhere, a batch from P00 reaches ZZZ's Replication
    Manager with a good status report (REMOTE_DP installed, at a later time) and an `.EXE`."""
    package = create_good_package(lab, tmp_path)
    assert_ended(run(lab))
    assert_installed_everywhere(lab, package)
    [(before, _)] = _summarized(lab, package.package_id)
    later = datetime(2007, 6, 5, 12, 34, 56, tzinfo=UTC).timestamp()
    row = sta.PkgStatusRow(
        package_id=package.package_id, type=sta.COPY, site_code="P00",
        pkg_server='MSWNET:["SMS_SITE=P00"]\\\\REMOTE_DP\\smsapps\\SMSPKG\\', status=3,
        source_version=1, update_time=later,
        location=f"\\\\REMOTE_DP\\smsapps\\SMSPKG\\{package.package_id}\\",
        share_name="smsapps\\SMSPKG")
    report_object = sta.encode(sta.PackageStatusReport(
        reporting_site="P00", package_id=package.package_id, rows=(row,)))
    batch = rpl.ReplicationBatch(
        job_id="0000BEEF", sending_site="P00", destination_site="ZZZ", priority=3,
        transaction_id=1000, created=later,
        objects=[rpl.ReplicationObject.of("ZZZ_GOODSTAT.STA", report_object),
                 rpl.ReplicationObject.of("ZZZ_ABCDEFGH.EXE", EXE)])
    incoming = lab.site("ZZZ").inbox("replmgr.box\\incoming")
    drop(incoming, "3_9ZZZP00.RPL", rpl.encode(batch))

    report = run(lab)

    assert_ended(report)
    [(after, status)] = _summarized(lab, package.package_id)
    assert (after, status) != (before, 3), "the good status report was not applied"
    assert after.startswith("2007-06-05 12:34:56"), after
    corrupt = [incoming / "corrupt" / n for n in quarantined(incoming)]
    assert len(corrupt) == 1, f"expected the .EXE alone in corrupt, found {corrupt}"
    assert EXE in corrupt[0].read_bytes()
    assert b"GOODSTAT" not in corrupt[0].read_bytes()
    assert_installed_everywhere(lab, package)


def test_an_object_with_the_longest_name_is_quarantined_and_the_good_objects_delivered(
        lab: Lab) -> None:
    """A batch with a good status report and an object of an unknown class whose name is the
    longest an object of that class may have, and `corrupt\\<batch>.<name>` taken already:
    the kept object's name is cut to fit, and the good object is delivered."""
    long_name = "ZZZ_" + "A" * 187 + ".EXE"  # the longest with a 3-letter extension
    assert len(long_name) == 195
    row = sta.PkgStatusRow(
        package_id="ZZZ00001", type=sta.COPY, site_code="P00",
        pkg_server='MSWNET:["SMS_SITE=P00"]\\\\REMOTE_DP\\smsapps\\SMSPKG\\', status=3,
        source_version=1, update_time=datetime(2007, 6, 5, tzinfo=UTC).timestamp(),
        location="\\\\REMOTE_DP\\smsapps\\SMSPKG\\ZZZ00001\\", share_name="smsapps\\SMSPKG")
    good = sta.encode(sta.PackageStatusReport(reporting_site="P00", package_id="ZZZ00001",
                                              rows=(row,)))
    batch = rpl.ReplicationBatch(
        job_id="0000BEEF", sending_site="P00", destination_site="ZZZ", priority=3,
        transaction_id=1000, created=datetime(2007, 6, 5, tzinfo=UTC).timestamp(),
        objects=[rpl.ReplicationObject.of("ZZZ_GOODSTAT.STA", good),
                 rpl.ReplicationObject.of(long_name, EXE)])
    incoming = lab.site("ZZZ").inbox("replmgr.box\\incoming")
    (incoming / "corrupt").mkdir(parents=True, exist_ok=True)
    (incoming / "corrupt" / f"3_9ZZZP00.RPL.{long_name}").write_bytes(b"an earlier one\n")
    drop(incoming, "3_9ZZZP00.RPL", rpl.encode(batch))

    report = run(lab)

    assert_ended(report)
    assert any("Replicated ZZZ_GOODSTAT.STA" in m
               for m in log_messages(lab, "ZZZ", "replmgr.log")), "the good .STA was lost"
    kept = [p for p in (incoming / "corrupt").iterdir() if EXE in p.read_bytes()]
    assert len(kept) == 1 and len(kept[0].name.encode()) <= 255


def test_junk_dropped_into_the_process_folder_is_quarantined_unread_and_the_good_package_goes(
        lab: Lab, tmp_path: Path) -> None:
    """`replmgr.box\\process\\P00_2` is written by Replication Manager only, but anyone who can
    write to the box can drop files there: a 40 MiB `.PKG`, an `.EXE` and a nameless `.PKG`."""
    package = create_good_package(lab, tmp_path)
    process = lab.site("ZZZ").inbox("replmgr.box\\process") / "P00_2"
    process.mkdir(parents=True, exist_ok=True)
    with open(process / "P00_HUGE0001.PKG", "wb") as f:
        f.truncate(40 << 20)  # sparse: costs no disk
    (process / "P00_ABCDEFGH.EXE").write_bytes(EXE)
    (process / "P00_ .PKG").write_bytes(b"junk\n")

    report = run(lab)

    assert_ended(report)
    corrupt = lab.site("ZZZ").inbox(OUTBOUND) / "corrupt"
    assert sorted(p.name for p in corrupt.iterdir() if p.name != "quarantine.log") == [
        "P00_ .PKG", "P00_ABCDEFGH.EXE", "P00_HUGE0001.PKG"]
    lines = [m for m in log_messages(lab, "ZZZ", "replmgr.log")
             if m.startswith("Moved the corrupt file ") and "process\\P00_2\\" in m]
    assert any("P00_HUGE0001.PKG" in m and "more than the" in m for m in lines), lines
    assert_installed_everywhere(lab, package)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="a folder without permissions is readable by root")
def test_an_unreadable_process_folder_never_stops_replication_manager(
        lab: Lab, tmp_path: Path) -> None:
    package = create_good_package(lab, tmp_path)
    folder = lab.site("ZZZ").inbox("replmgr.box\\process") / "S01_3"
    folder.mkdir(parents=True)
    folder.chmod(0)
    try:
        report = run(lab)
    finally:
        folder.chmod(0o755)

    assert_ended(report)
    assert any(m.startswith("Cannot list ") for m in log_messages(lab, "ZZZ", "replmgr.log"))
    assert_installed_everywhere(lab, package)

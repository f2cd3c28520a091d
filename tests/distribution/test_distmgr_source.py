"""Distribution Manager at the package's source site: compress, install, report (step mode)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sitesrv.admin import console, faults
from sitesrv.admin.lab import Lab
from sitesrv.components.distmgr import DistributionManager
from sitesrv.components.sqlmon import SqlMonitor
from sitesrv.components.statmgr import StatusManager
from sitesrv.runtime.registry import Registry
from sitesrv.testing import (
    LabFactory,
    assert_in_order,
    log_lines,
    log_messages,
    query,
    write_source,
)
from tests.conftest import DEFAULT_HIERARCHY

# Status Manager stores the messages Distribution Manager raises.
LOCAL = Registry(primary=(SqlMonitor, DistributionManager, StatusManager))


def test_create_compresses_installs_and_reports(lab: Lab, tmp_path: Path) -> None:
    source = write_source(tmp_path / "src")
    pkg_id = console.create_package(lab, "ZZZ", name="Demo", source=source, dps=["ZZZ:MGMT01"])
    assert pkg_id == "ZZZ00001"
    report = lab.run_until_idle(seed=3, components=LOCAL)
    assert report.status == "idle"
    zzz = lab.site("ZZZ")
    pck = zzz.smspkg / "ZZZ00001.PCK"
    assert not pck.stat().st_mode & stat.S_IWUSR, "a stored PCK is read-only"
    dp = zzz.root / "dp" / "MGMT01" / "SMSPKGC$" / "ZZZ00001"
    assert (dp / "SETUP.INI").read_bytes() == (source / "SETUP.INI").read_bytes()
    assert (dp / "DATA" / "PAYLOAD.BIN").read_bytes() == (source / "DATA/PAYLOAD.BIN").read_bytes()
    box = zzz.inbox("pkginfo.box")
    assert (box / "ZZZ00001.PKG").is_file() and (box / "ZZZ00001.NAL").is_file()
    assert (box / "ZZZ00001.ICO").is_dir()
    assert not list(zzz.inbox("distmgr.box").glob("*.PKN")), "the .PKN was consumed"
    assert not list(zzz.root.glob("_S *.TMP")), "no compression temp file is left"
    assert query(lab, "ZZZ", "SELECT SourceVersion, StoredPkgVersion, Action "
                             "FROM SMSPackages") == [(1, 1, 0)]
    # The DP's Type 2 row INSTALLED, and the source site's own Type 1 row: its compressed copy,
    # RECEIVED at version 1, on its site server, located as its StoredPkgPath.
    assert query(lab, "ZZZ", "SELECT Type, SiteCode, PkgServer, Status, SourceVersion, Location "
                             "FROM PkgStatus WHERE Type = 1") == [
        (1, "ZZZ", "MGMT01", 2, 1, "\\\\MGMT01\\SMS_CPSF$\\ZZZ00001.PCK")]
    assert query(lab, "ZZZ", "SELECT StoredPkgPath FROM SMSPackages") == [
        ("\\\\MGMT01\\SMS_CPSF$\\ZZZ00001.PCK",)]
    assert query(lab, "ZZZ", "SELECT Status, SourceVersion FROM PkgStatus WHERE Type = 2") == [
        (3, 1)]
    assert query(lab, "ZZZ", "SELECT State FROM SMS_PackageStatusDistPointsSummarizer") == [(0,)]
    assert query(lab, "ZZZ", "SELECT MessageID FROM StatusMessages ORDER BY RecordID") == [
        (2300,), (2339,), (2339,), (2342,), (2330,), (2301,)]  # information to P00 and S01
    assert_in_order(log_messages(lab, "ZZZ", "smsdbmon.log"), [
        "0007SMS_ZZZ0015PKGNOTIFICATION0006INSERT0008ZZZ00001",
        "Received notification: Table=PKGNOTIFICATION, Type=INSERT, KeyName=ZZZ00001.",
        "Created notification file E:\\SMS\\inboxes\\distmgr.box\\ZZZ00001.PKN",
    ])
    messages = log_messages(lab, "ZZZ", "distmgr.log")
    decompress = next(m for m in messages if m.startswith("Decompressing package "))
    temp = decompress.split(" to ", 1)[1]
    assert temp.startswith("F:\\_S ") and temp.endswith(".TMP") and len(temp) == 15
    assert_in_order(messages, [
        "Start adding package ZZZ00001...",
        "Package ZZZ00001 uses the compressed copy of the source directory.",
        "Package ZZZ00001 doesn't have a compressed copy of the source directory, starting the "
        "compression.",
        "The size of package ZZZ00001 is 196 KBytes",
        "Validating the compressed file F:\\SMSPKG\\ZZZ00001.PCK for package ZZZ00001",
        "Attempting to create subdirectory ZZZ00001 under the export.",
        f"Copying {temp}\\DATA\\PAYLOAD.BIN to \\\\MGMT01\\SMSPKGC$\\ZZZ00001\\DATA\\PAYLOAD.BIN, OK",
        f"Successfully copied package ZZZ00001 from {temp}\\ to "
        'MSWNET:["SMS_SITE=ZZZ"]\\\\MGMT01\\SMSPKGC$\\ZZZ00001\\',
        "StoredPkgVersion (1) of package ZZZ00001. StoredPkgVersion in database is 1.",
        "SourceVersion (1) of package ZZZ00001. SourceVersion in database is 1.",
    ])
    assert sum(m.startswith("STATMSG: ID=2301 ") for m in messages) == 1
    compress = next(m for m in messages if m.startswith("Starting to compress "))
    assert compress.startswith("Starting to compress \\\\MGMT01\\Sources\\src to F:\\_S ")
    assert compress.endswith(".TMP for package ZZZ00001")


def test_a_package_pass_runs_on_its_package_processing_thread(lab: Lab, tmp_path: Path) -> None:
    """SMS 2003 starts a package processing thread per package (`Starting package processing
    thread,thread ID = E1C`); the package's lines and its 2300 (TID=3612 = 0xE1C) are that
    thread's, while the replication thread keeps INCOMING."""
    console.create_package(lab, "ZZZ", name="Demo", source=write_source(tmp_path / "src"),
                           dps=["ZZZ:MGMT01"])
    lab.run_until_idle(seed=3, components=LOCAL)
    lines = log_lines(lab, "ZZZ", "distmgr.log")
    replication = lines[0]
    assert replication.text == ("Starting thread for processing replication,thread ID = "
                                f"{replication.thread:X}")
    start = next(n for n, x in enumerate(lines)
                 if x.text.startswith("Starting package processing thread,thread ID = "))
    package = int(lines[start].text.rsplit("= ", 1)[1], 16)
    assert lines[start].text == f"Starting package processing thread,thread ID = {package:X}"
    assert lines[start].thread == replication.thread != package
    pass_lines = lines[start + 1:]
    assert pass_lines[0].text.startswith("STATMSG: ID=2300 SEV=I LEV=M SOURCE=\"SMS Server\" "
                                         "COMP=\"SMS_DISTRIBUTION_MANAGER\" SYS=MGMT01 SITE=ZZZ "
                                         "PID=")
    assert f" TID={package} " in pass_lines[0].text
    assert {x.thread for x in pass_lines} == {package}
    assert query(lab, "ZZZ", "SELECT DISTINCT ThreadID FROM StatusMessages WHERE MessageID "
                             "IN (2300, 2301, 2342, 2330)") == [(package,)]
    # A second pass on the package: the same thread's ID again.
    console.refresh_dp(lab, "ZZZ00001", "ZZZ:MGMT01")
    lab.run_until_idle(seed=3, components=LOCAL)
    again = log_lines(lab, "ZZZ", "distmgr.log")[len(lines):]
    assert [x.text for x in again if x.text.startswith("Starting package")] == [
        f"Starting package processing thread,thread ID = {package:X}"]


def test_a_dp_added_to_a_package_says_so_as_yuvaraj_s_flow(lab: Lab, tmp_path: Path) -> None:
    pkg_id = console.create_package(lab, "ZZZ", name="Demo", source=write_source(tmp_path / "s"),
                                    dps=[])
    lab.run_until_idle(seed=3, components=LOCAL)
    assert "No action specified for the package ZZZ00001." not in log_messages(
        lab, "ZZZ", "distmgr.log"), "the package's own ADD is an action"
    console.add_dp(lab, pkg_id, "ZZZ:MGMT01")
    lab.run_until_idle(seed=3, components=LOCAL)
    messages = log_messages(lab, "ZZZ", "distmgr.log")
    assert_in_order(messages, [
        "No action specified for the package ZZZ00001.",
        'Start adding package to server ["Display=\\\\MGMT01\\"]MSWNET:["SMS_SITE=ZZZ"]'
        "\\\\MGMT01\\...",
        'Established connection to ["Display=\\\\MGMT01\\"]MSWNET:["SMS_SITE=ZZZ"]'
        "\\\\MGMT01\\"])
    start = messages.index("No action specified for the package ZZZ00001.")
    assert messages[start - 1].startswith("STATMSG: ID=2300 ")
    assert messages[start + 3].startswith("STATMSG: ID=2342 "), "then the copy"


def test_a_package_made_at_a_child_primary_shows_its_copy_at_the_central_site(
        lab: Lab, tmp_path: Path) -> None:
    pkg_id = console.create_package(lab, "P00", name="Local", source=write_source(tmp_path / "s"),
                                    dps=["P00:REMOTE_DP"])
    assert lab.run_until_idle(seed=2).status == "idle"
    row = ("P00", "MGMT03", 2, 1, f"\\\\MGMT03\\SMS_CPSF$\\{pkg_id}.PCK")
    sql = ("SELECT SiteCode, PkgServer, Status, SourceVersion, Location FROM PkgStatus "
           f"WHERE Type = 1 AND ID = '{pkg_id}'")
    assert query(lab, "P00", sql) == [row]
    assert query(lab, "ZZZ", sql) == [row], "sent up as any changed row"


def test_update_makes_a_delta_and_a_new_version(lab: Lab, tmp_path: Path) -> None:
    source = write_source(tmp_path / "src")
    pkg_id = console.create_package(lab, "ZZZ", name="Demo", source=source, dps=["ZZZ:MGMT01"])
    lab.run_until_idle(seed=1, components=LOCAL)
    (source / "SETUP.INI").write_bytes(b"[Setup]\r\nVersion=2\r\n")
    console.update_package(lab, pkg_id)
    lab.run_until_idle(seed=1, components=LOCAL)
    zzz = lab.site("ZZZ")
    assert (zzz.smspkg / "ZZZ00001.DLT.2").is_file()
    dp = zzz.root / "dp" / "MGMT01" / "SMSPKGC$" / "ZZZ00001"
    assert (dp / "SETUP.INI").read_bytes() == b"[Setup]\r\nVersion=2\r\n"
    assert query(lab, "ZZZ", "SELECT SourceVersion, StoredPkgVersion FROM SMSPackages") == [
        (2, 2)]
    assert query(lab, "ZZZ", "SELECT Type, Status, SourceVersion FROM PkgStatus "
                             "ORDER BY Type") == [(1, 2, 2), (2, 3, 2)]
    assert "Start updating the package ZZZ00001..." in log_messages(lab, "ZZZ", "distmgr.log")


def test_update_asks_for_a_refresh_a_new_source_path_does_not(lab: Lab, tmp_path: Path) -> None:
    """`package update` sets UpdateMask 32 as RefreshPkgSource does; set-source only the path.
    Distribution Manager clears both with the action."""
    source = write_source(tmp_path / "src")
    pkg_id = console.create_package(lab, "ZZZ", name="Demo", source=source, dps=["ZZZ:MGMT01"])
    lab.run_until_idle(seed=1, components=LOCAL)
    columns = "SELECT Action, UpdateMask, Source, StoredPkgSource FROM SMSPackages"
    src, other = "\\\\MGMT01\\Sources\\src", "\\\\MGMT01\\Sources\\other"
    assert query(lab, "ZZZ", columns) == [(0, 0, src, src)]
    console.set_source(lab, pkg_id, tmp_path / "other")
    assert query(lab, "ZZZ", columns) == [(1, 0, other, src)]
    console.update_package(lab, pkg_id)
    assert query(lab, "ZZZ", columns) == [(1, 32, other, src)]
    console.set_source(lab, pkg_id, source)  # a pending refresh stays asked for
    assert query(lab, "ZZZ", columns) == [(1, 32, src, src)]
    lab.run_until_idle(seed=1, components=LOCAL)
    assert query(lab, "ZZZ", columns) == [(0, 0, src, src)]
    assert query(lab, "ZZZ", "SELECT SourceVersion FROM SMSPackages") == [(2,)]
    assert (lab.site("ZZZ").smspkg / "ZZZ00001.DLT.2").is_file(), "a refresh of the same folder"


def test_a_new_source_path_makes_no_delta_even_with_an_update(lab: Lab, tmp_path: Path) -> None:
    """A delta is only against the same source; one left by a pass that stopped is removed,
    not sent as this version's."""
    source = write_source(tmp_path / "src")
    pkg_id = console.create_package(lab, "ZZZ", name="Demo", source=source, dps=["ZZZ:MGMT01"])
    lab.run_until_idle(seed=1, components=LOCAL)
    leftover = lab.site("ZZZ").smspkg / "ZZZ00001.DLT.2"
    leftover.write_bytes(b"a delta of version 2 from the old folder")
    other = write_source(tmp_path / "other")
    (other / "SETUP.INI").write_bytes(b"[Setup]\r\nOther=1\r\n")
    console.set_source(lab, pkg_id, other)
    console.update_package(lab, pkg_id)  # both in one pass (KB834123)
    lab.run_until_idle(seed=1, components=LOCAL)
    assert not leftover.exists()
    assert query(lab, "ZZZ", "SELECT SourceVersion, StoredPkgSource FROM SMSPackages") == [
        (2, "\\\\MGMT01\\Sources\\other")]
    dp = lab.site("ZZZ").root / "dp" / "MGMT01" / "SMSPKGC$" / "ZZZ00001"
    assert (dp / "SETUP.INI").read_bytes() == b"[Setup]\r\nOther=1\r\n"


@pytest.mark.parametrize("where", ["gone", "gone/deeper", "a-file", "a-file/below"])
def test_a_source_that_cannot_be_read_makes_no_version(lab: Lab, tmp_path: Path,
                                                       where: str) -> None:
    """A missing folder, or a file in its place: Win32 error 3, as sitesrv logs any path not
    found (logs/win32.py)."""
    source = write_source(tmp_path / "src")
    pkg_id = console.create_package(lab, "ZZZ", name="Demo", source=source, dps=["ZZZ:MGMT01"])
    lab.run_until_idle(seed=1, components=LOCAL)
    (tmp_path / "a-file").write_text("not a folder")
    console.set_source(lab, pkg_id, tmp_path / where)
    assert lab.run_until_idle(seed=1, components=LOCAL).status == "idle"
    messages = log_messages(lab, "ZZZ", "distmgr.log")
    shown = "\\\\MGMT01\\Sources\\" + where.replace("/", "\\")
    assert f"~The source directory {shown} doesn't exist or the SMS service cannot " \
        "access it, Win32 last error = 3" in messages
    assert messages[-1].startswith("STATMSG: ID=2302 SEV=E ")
    assert query(lab, "ZZZ", "SELECT SourceVersion, StoredPkgSource, Action FROM "
                             "SMSPackages") == [(1, "", 0)]
    assert query(lab, "ZZZ", "SELECT State FROM SMS_PackageStatusDistPointsSummarizer") == [(3,)]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs a POSIX user that permissions apply to")
def test_a_source_folder_that_cannot_be_read_is_access_denied(lab: Lab, tmp_path: Path) -> None:
    source = write_source(tmp_path / "src")
    pkg_id = console.create_package(lab, "ZZZ", name="Demo", source=source, dps=["ZZZ:MGMT01"])
    lab.run_until_idle(seed=1, components=LOCAL)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    try:
        console.set_source(lab, pkg_id, locked)
        lab.run_until_idle(seed=1, components=LOCAL)
    finally:
        locked.chmod(0o755)
    assert f"~The source directory {locked} doesn't exist or the SMS service cannot access " \
        "it, Win32 last error = 5" in log_messages(lab, "ZZZ", "distmgr.log")


def test_refresh_at_own_site_recopies_without_new_version(lab: Lab, tmp_path: Path) -> None:
    source = write_source(tmp_path / "src")
    pkg_id = console.create_package(lab, "ZZZ", name="Demo", source=source, dps=["ZZZ:MGMT01"])
    lab.run_until_idle(seed=1, components=LOCAL)
    dp = lab.site("ZZZ").root / "dp" / "MGMT01" / "SMSPKGC$" / "ZZZ00001"
    (dp / "SETUP.INI").chmod(0o644)
    (dp / "SETUP.INI").write_bytes(b"damaged")
    console.refresh_dp(lab, pkg_id, "ZZZ:MGMT01")
    lab.run_until_idle(seed=1, components=LOCAL)
    assert (dp / "SETUP.INI").read_bytes() == b"[Setup]\r\n"
    assert query(lab, "ZZZ", "SELECT SourceVersion FROM SMSPackages") == [(1,)]


def test_remove_dp_and_delete_clean_up(lab: Lab, tmp_path: Path) -> None:
    source = write_source(tmp_path / "src")
    pkg_id = console.create_package(lab, "ZZZ", name="Demo", source=source, dps=["ZZZ:MGMT01"])
    lab.run_until_idle(seed=1, components=LOCAL)
    dp = lab.site("ZZZ").root / "dp" / "MGMT01" / "SMSPKGC$" / "ZZZ00001"
    console.remove_dp(lab, pkg_id, "ZZZ:MGMT01")
    lab.run_until_idle(seed=1, components=LOCAL)
    assert not dp.exists()
    assert query(lab, "ZZZ", "SELECT COUNT(*) FROM PkgServers") == [(0,)]
    assert query(lab, "ZZZ", "SELECT Type FROM PkgStatus") == [(1,)], "the site keeps its copy"
    console.delete_package(lab, pkg_id)
    lab.run_until_idle(seed=1, components=LOCAL)
    assert query(lab, "ZZZ", "SELECT COUNT(*) FROM PkgStatus") == [(0,)]
    assert not list(lab.site("ZZZ").smspkg.iterdir())
    assert "~Successfully deleted the package ZZZ00001" in log_messages(lab, "ZZZ", "distmgr.log")
    assert query(lab, "ZZZ", "SELECT COUNT(*) FROM SMSPackages") == [(0,)]


def test_start_up_finishes_an_interrupted_dp_swap_and_removes_temp_files(lab: Lab,
                                                                         tmp_path: Path) -> None:
    source = write_source(tmp_path / "src")
    console.create_package(lab, "ZZZ", name="Demo", source=source, dps=["ZZZ:MGMT01"])
    lab.run_until_idle(seed=1, components=LOCAL)
    share = lab.site("ZZZ").root / "dp" / "MGMT01" / "SMSPKGC$"
    (share / "ZZZ00001").rename(share / "ZZZ00001.sitesrv-old")  # killed between the renames
    temp = lab.site("ZZZ").root / "_S AbCdE.TMP"
    temp.write_bytes(b"half a PCK")
    lab.run_until_idle(seed=1, components=LOCAL)
    assert (share / "ZZZ00001" / "SETUP.INI").read_bytes() == b"[Setup]\r\n"
    assert not (share / "ZZZ00001.sitesrv-old").exists()
    assert not temp.exists()
    messages = log_messages(lab, "ZZZ", "distmgr.log")
    assert "Recovered an interrupted copy to \\\\MGMT01\\SMSPKGC$\\ZZZ00001: restored" in messages
    assert "Deleted the compression temporary file F:\\_S AbCdE.TMP" in messages


def test_a_dp_that_cannot_be_written_retries_then_fails(
        tmp_path: Path, sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(DEFAULT_HIERARCHY.read_text().replace("  retries: 100",
                                                                    "  retries: 2"))
    source = write_source(tmp_path / "src")
    console.create_package(lab, "ZZZ", name="Demo", source=source, dps=["ZZZ:MGMT01"])
    faults.deny_dp_folders(lab, "ZZZ:MGMT01")  # the package's DATA folder cannot be made
    report = lab.run_until_idle(seed=1, components=LOCAL)
    messages = log_messages(lab, "ZZZ", "distmgr.log")
    assert sum(m.startswith("Failed to copy package ZZZ00001 to ") for m in messages) == 3
    assert sum(m.startswith("STATMSG: ID=2328 SEV=E") for m in messages) == 3
    assert any(m.startswith("STATMSG: ID=2302 SEV=E") for m in messages)
    assert query(lab, "ZZZ", "SELECT Status FROM PkgStatus WHERE Type = 2") == [(5,)]
    assert query(lab, "ZZZ", "SELECT State FROM SMS_PackageStatusDistPointsSummarizer") == [(3,)]
    assert report.status in ("idle", "waiting")
    # The pass and each retry pass (two copies, then giving up) on the package's thread.
    lines = log_lines(lab, "ZZZ", "distmgr.log")
    starts = [x for x in lines if x.text.startswith("Starting package processing thread,")]
    assert len(starts) == 4 and len({x.text for x in starts}) == 1
    package = int(starts[0].text.rsplit("= ", 1)[1], 16)
    assert {x.thread for x in lines if x.text.startswith(("Failed to copy package",
                                                          "STATMSG: ID=2302"))} == {package}
    faults.deny_dp_folders(lab, "ZZZ:MGMT01", deny=False)
    console.refresh_dp(lab, "ZZZ00001", "ZZZ:MGMT01")
    lab.run_until_idle(seed=1, components=LOCAL)
    assert query(lab, "ZZZ", "SELECT State FROM SMS_PackageStatusDistPointsSummarizer") == [(0,)]


@pytest.mark.parametrize("before_fix", [False, True])
def test_kb872943_an_attribute_change_alone_is_not_a_change(
        tmp_path: Path, sitesrv_lab_factory: LabFactory, before_fix: bool) -> None:
    """A backup program touched the files; only the pre-KB872943 emulation ships them."""
    import os

    from sitesrv.compression import read_manifest

    text = DEFAULT_HIERARCHY.read_text()
    if before_fix:
        text = text.replace("  retries: 100", "  retries: 100\n  attribute_changes_count: true")
    lab = sitesrv_lab_factory(text)
    source = write_source(tmp_path / "src")
    pkg_id = console.create_package(lab, "ZZZ", name="Demo", source=source, dps=["ZZZ:MGMT01"])
    lab.run_until_idle(seed=1, components=LOCAL)
    os.utime(source / "DATA" / "PAYLOAD.BIN", (1_000_000_000, 1_000_000_000))
    (source / "SETUP.INI").write_bytes(b"[Setup]\r\nchanged\r\n")
    console.update_package(lab, pkg_id)
    lab.run_until_idle(seed=1, components=LOCAL)
    delta = read_manifest(lab.site("ZZZ").smspkg / f"{pkg_id}.DLT.2")
    assert delta.delta is not None
    expected = ["DATA/PAYLOAD.BIN", "SETUP.INI"] if before_fix else ["SETUP.INI"]
    assert sorted(delta.delta.shipped) == expected

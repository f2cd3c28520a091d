"""Distribution Manager at a child site: the INCOMING `.PKG` rules (KB936465,
docs/distribution.md)."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from sitesrv.admin.lab import Lab
from sitesrv.components.distmgr import DistributionManager
from sitesrv.compression import pack
from sitesrv.db.sitedb import Package, SiteDatabase
from sitesrv.formats import pkg, sta
from sitesrv.lab.clock import VIRTUAL_EPOCH
from sitesrv.lab.loader import parse_hierarchy
from sitesrv.runtime.registry import Registry
from sitesrv.testing import LabFactory, assert_in_order, drop, log_messages, query, write_source
from tests.conftest import DEFAULT_HIERARCHY

DISTMGR = Registry(primary=(DistributionManager,), secondary=(DistributionManager,))
REMOTE_DP = 'MSWNET:["SMS_SITE=P00"]\\\\REMOTE_DP\\smsapps\\SMSPKG\\'
SEC01_DP = 'MSWNET:["SMS_SITE=S01"]\\\\SEC01\\SMSPKGC$\\'


def replication(version: int, lrt: float, *, site: str = "P00", issuing: str = "ZZZ",
                content: bool = False, action: str = "UPDATE") -> pkg.PackageReplication:
    server, share, nal = (("REMOTE_DP", "smsapps\\SMSPKG", REMOTE_DP) if site == "P00"
                          else ("SEC01", "SMSPKGC$", SEC01_DP))
    return pkg.PackageReplication(
        package_id="ZZZ00001", name="Demo", source_site="ZZZ", source_version=version,
        last_refresh_time=lrt, action=pkg.PackageAction.UPDATE, issuing_site=issuing,
        content_site=issuing, content=content,
        servers=(pkg.PackageServer(site_code=site, server=server, share=share, nal_path=nal,
                                   action=pkg.PackageAction(action)),))


def replicate(lab: Lab, site: str, name: str, record: pkg.PackageReplication) -> Path:
    """The `.PKG` a parent site's Sender delivers into the site's INCOMING."""
    return drop(lab.site(site).inbox("distmgr.box\\INCOMING"), name, pkg.encode(record))


def stored(lab: Lab, site: str, version: int, tmp_path: Path, *, name: str = "ZZZ00001.PCK",
           register: bool = True) -> None:
    """A compressed copy of `version` at the site, as the Despooler would have left it."""
    source = write_source(tmp_path / f"src{version}", {"SETUP.INI": f"v{version}".encode()})
    pack(source, lab.site(site).smspkg / name, "ZZZ00001", version)
    if register and site == "P00":
        with SiteDatabase.open(lab.site("P00").database) as db:
            old = db.get_package("ZZZ00001") or Package(PkgID="ZZZ00001", SourceSite="ZZZ")
            db.put_package(attrs.evolve(old, StoredPkgVersion=version))


def incoming(lab: Lab, site: str) -> list[str]:
    return sorted(p.name for p in lab.site(site).inbox("distmgr.box\\INCOMING").glob("*.PKG"))


def test_skip_and_keep_until_the_compressed_files_arrive(lab: Lab, tmp_path: Path) -> None:
    replicate(lab, "P00", "Z3AWAX9I.PKG", replication(1, VIRTUAL_EPOCH))
    report = lab.run_until_idle(seed=1, components=DISTMGR)
    line = ("Package ZZZ00001 requires a newer version (1) of source files and the new compressed "
            "files haven't arrived yet, current version is 0, skip "
            "E:\\SMS\\inboxes\\distmgr.box\\INCOMING\\Z3AWAX9I.PKG")
    messages = log_messages(lab, "P00", "distmgr.log")
    assert_in_order(messages, [
        "Processing incoming file E:\\SMS\\inboxes\\distmgr.box\\INCOMING\\Z3AWAX9I.PKG.",
        "~Updated replicated package info for package ZZZ00001", line])
    assert messages.count(line) >= 2, "the kept file is retried on every pass"
    assert incoming(lab, "P00") == ["Z3AWAX9I.PKG"], "the file stays in INCOMING"
    assert report.status == "waiting"
    assert any("INCOMING\\Z3AWAX9I.PKG waits for version 1 of ZZZ00001" in str(w)
               for w in report.waits)
    stored(lab, "P00", 1, tmp_path)
    lab.run_until_idle(seed=1, components=DISTMGR)
    assert incoming(lab, "P00") == []
    dp = lab.site("P00").root / "dp/REMOTE_DP/smsapps/SMSPKG/ZZZ00001"
    assert (dp / "SETUP.INI").read_bytes() == b"v1"
    assert_in_order(log_messages(lab, "P00", "distmgr.log"), [
        "Start updating the package ZZZ00001...",
        "Successfully created/updated the package ZZZ00001",
        "Validating the compressed file F:\\SMSPKG\\ZZZ00001.PCK for package ZZZ00001",
        "Attempting to create subdirectory ZZZ00001 under the export.",
        "Successsfully created the package directory SMSPKG\\ZZZ00001\\ under the export.",
        'Successfully created sub directory ZZZ00001 off MSWNET:["SMS_SITE=P00"]'
        "\\\\REMOTE_DP\\smsapps\\SMSPKG\\ZZZ00001\\",
        "Forward package status for pkg ZZZ00001 to site ZZZ",
    ])
    outbound = list(lab.site("P00").inbox("replmgr.box\\outbound\\low").glob("ZZZ_*.STA"))
    rows = [r for f in outbound for r in sta.read(f).rows]
    assert (2, "P00", REMOTE_DP, 3, 1) in [
        (r.type, r.site_code, r.pkg_server, r.status, r.source_version) for r in rows]


def test_newer_version_already_arrived_deletes_the_file(lab: Lab, tmp_path: Path) -> None:
    stored(lab, "P00", 3, tmp_path)
    replicate(lab, "P00", "NK81JJDQ.PKG", replication(2, VIRTUAL_EPOCH))
    lab.run_until_idle(seed=1, components=DISTMGR)
    assert ("A newer version (3) of package ZZZ00001 has already arrived, delete the replication "
            "file E:\\SMS\\inboxes\\distmgr.box\\INCOMING\\NK81JJDQ.PKG for version 2 ."
            in log_messages(lab, "P00", "distmgr.log"))
    assert incoming(lab, "P00") == []


def secondary_hotfix(hotfix: bool) -> str:
    """The default hierarchy, with KB936465 installed at the secondary S01 or not."""
    text = DEFAULT_HIERARCHY.read_text()
    if hotfix:
        text = text.replace("    # hotfixes: [KB936465]", "    hotfixes: [KB936465]")
    assert parse_hierarchy(text).site("S01").has_hotfix("KB936465") is hotfix
    return text


@pytest.mark.parametrize("hotfix", [False, True])
def test_an_older_content_instruction_is_lost_without_the_hotfix(
        tmp_path: Path, sitesrv_lab_factory: LabFactory, hotfix: bool) -> None:
    """KB936465 at the secondary: the source's definition (later LastRefreshTime) was processed
    first; the nearest site's content instruction (earlier) carries the forwarded PCK."""
    lab = sitesrv_lab_factory(secondary_hotfix(hotfix))
    t1, t2 = VIRTUAL_EPOCH + 10, VIRTUAL_EPOCH + 20
    replicate(lab, "S01", "AAAAAAAA.PKG", replication(1, t2, site="S01"))
    lab.run_until_idle(seed=1, components=DISTMGR)
    stored(lab, "S01", 1, tmp_path, name="ZZZ00001.PCK.1", register=False)
    replicate(lab, "S01", "BBBBBBBB.PKG", replication(1, t1, site="S01", issuing="P00",
                                                      content=True, action="ADD"))
    report = lab.run_until_idle(seed=1, components=DISTMGR)
    messages = log_messages(lab, "S01", "distmgr.log")
    dp = lab.site("S01").root / "dp/SEC01/SMSPKGC$/ZZZ00001"
    stuck = ("Package ZZZ00001 requires a newer version (1) of source files and the new "
             "compressed files haven't arrived yet, current version is 0, skip "
             "E:\\SMS\\inboxes\\distmgr.box\\INCOMING\\AAAAAAAA.PKG")
    if hotfix:
        assert (dp / "SETUP.INI").read_bytes() == b"v1"
        assert report.status == "idle"
        assert incoming(lab, "S01") == []
    else:
        assert not dp.exists()
        assert messages.count(stuck) >= 3, "the exact KB936465 line, repeating"
        assert any(m.startswith("~The replication file E:\\SMS\\inboxes\\distmgr.box\\INCOMING"
                                "\\BBBBBBBB.PKG for package ZZZ00001 is older") for m in messages)
        assert incoming(lab, "S01") == ["AAAAAAAA.PKG"]
        assert report.status == "waiting"


def test_status_rows_are_applied_monotonically_and_passed_up(lab: Lab) -> None:
    with SiteDatabase.open(lab.site("P00").database) as db:
        db.put_package(Package(PkgID="ZZZ00001", SourceSite="ZZZ"))
    box = lab.site("P00").inbox("distmgr.box\\INCOMING")

    def report(name: str, status: int, version: int) -> None:
        row = sta.PkgStatusRow(package_id="ZZZ00001", type=2, site_code="S01",
                               pkg_server=SEC01_DP, status=status, source_version=version,
                               update_time=VIRTUAL_EPOCH)
        (box / name).write_bytes(sta.encode(sta.PackageStatusReport(
            reporting_site="S01", package_id="ZZZ00001", rows=(row,))))

    report("AAAAAAAA.STA", 3, 2)
    report("BBBBBBBB.STA", 4, 1)  # older: must not win (Q318834)
    lab.run_until_idle(seed=1, components=DISTMGR)
    assert query(lab, "P00", "SELECT Status, SourceVersion FROM PkgStatus") == [(3, 2)]
    sent = [sta.read(p) for p in
            lab.site("P00").inbox("replmgr.box\\outbound\\low").glob("ZZZ_*.STA")]
    assert [(r.status, r.source_version) for s in sent for r in s.rows] == [(3, 2)]
    assert "~Successfully delete package status file E:\\SMS\\inboxes\\distmgr.box\\INCOMING\\" \
           "AAAAAAAA.STA" in log_messages(lab, "P00", "distmgr.log")


def test_a_pending_removal_taken_after_the_removal_leaves_no_row(lab: Lab) -> None:
    """A child's 7 PENDING_REMOVE and the DP site's 6 REMOVED reach this site in one batch,
    taken in name order: the REMOVED first. The late PENDING_REMOVE finds no row of the DP and
    changes nothing, so the DP is not REMOVAL_PENDING here for ever."""
    with SiteDatabase.open(lab.site("P00").database) as db:
        db.put_package(Package(PkgID="ZZZ00001", SourceSite="ZZZ"))
    box = lab.site("P00").inbox("distmgr.box\\INCOMING")

    def report(name: str, status: int) -> None:
        row = sta.PkgStatusRow(package_id="ZZZ00001", type=2, site_code="S01",
                               pkg_server=SEC01_DP, status=status, source_version=1,
                               update_time=VIRTUAL_EPOCH)
        (box / name).write_bytes(sta.encode(sta.PackageStatusReport(
            reporting_site="S01", package_id="ZZZ00001", rows=(row,))))

    report("AAAAAAAA.STA", 3)
    lab.run_until_idle(seed=1, components=DISTMGR)
    report("BBBBBBBB.STA", 6)
    report("CCCCCCCC.STA", 7)
    lab.run_until_idle(seed=1, components=DISTMGR)
    assert query(lab, "P00", "SELECT COUNT(*) FROM PkgStatus") == [(0,)]


def test_an_unreadable_pkg_goes_to_corrupt_with_a_line_naming_it(lab: Lab) -> None:
    box = lab.site("P00").inbox("distmgr.box\\INCOMING")
    (box / "GARBAGE1.PKG").write_text("[PACKAGE DEFINITION]\nPackageID=ZZZ00001\n")
    report = lab.run_until_idle(seed=1, components=DISTMGR)
    assert (box / "corrupt" / "GARBAGE1.PKG").is_file()
    line = next(m for m in log_messages(lab, "P00", "distmgr.log")
                if m.startswith("Moved the corrupt file E:\\SMS\\inboxes\\distmgr.box\\INCOMING"
                                "\\GARBAGE1.PKG to "))
    assert "truncated" in line
    assert report.status == "waiting"  # a quarantine is reported


def test_a_deletion_of_a_package_never_known_here_drops_its_parked_files(
        lab: Lab, tmp_path: Path) -> None:
    """Review: compressed files forwarded by the nearest site were parked before the package's
    information came, and the deletion came first: nothing removed them."""
    stored(lab, "S01", 1, tmp_path, name="ZZZ00001.PCK.1", register=False)
    replicate(lab, "S01", "DELETE01.PKG", attrs.evolve(
        replication(1, VIRTUAL_EPOCH + 60, site="S01"), action=pkg.PackageAction.DELETE,
        servers=()))
    replicate(lab, "S01", "LATECONT.PKG", replication(1, VIRTUAL_EPOCH, site="S01", content=True,
                                                      issuing="P00"))
    assert lab.run_until_idle(seed=1, components=DISTMGR).status == "idle"
    assert sorted(p.name for p in lab.site("S01").smspkg.iterdir()) == []
    assert incoming(lab, "S01") == []
    assert any(m.endswith("is older (LastRefreshTime) than the last one processed, discard it.")
               for m in log_messages(lab, "S01", "distmgr.log"))
    sent = [sta.read(p) for p in
            lab.site("S01").inbox("replmgr.box\\outbound\\low").glob("P00_*.STA")]
    assert [(r.pkg_server, r.status) for s in sent for r in s.rows] == [
        ("SEC01", 6), (SEC01_DP, 6)], "its copy and its DP are not the package's: the sites " \
        "above drop its Type 1 row and end any pending removal of its DP"


@pytest.mark.parametrize(("site", "source", "problem"), [
    ("P00", "S01", "its source site S01 is not above this site"),
    ("P00", "P00", "it would change an object of this site (P00), which only this site changes"),
    ("ZZZ", "ZZZ", "it would change an object of this site (ZZZ), which only this site changes"),
    ("S01", "QQQ", "its source site QQQ is not in this lab"),
])
def test_a_pkg_whose_package_is_not_from_a_site_above_goes_to_corrupt(
        lab: Lab, site: str, source: str, problem: str) -> None:
    """Packages flow down only, as advertisements do: a forged `.PKG` changing a package of
    this site, or of a site below or outside the lab, changes nothing."""
    forged = attrs.evolve(replication(1, VIRTUAL_EPOCH, site="S01" if site == "S01" else "P00"),
                          package_id=f"{source}00001", source_site=source)
    replicate(lab, site, "FORGED01.PKG", forged)
    lab.run_until_idle(seed=1, components=DISTMGR)
    assert (lab.site(site).inbox("distmgr.box\\INCOMING") / "corrupt" / "FORGED01.PKG").is_file()
    assert (f"Moved the corrupt file E:\\SMS\\inboxes\\distmgr.box\\INCOMING\\FORGED01.PKG to "
            f"E:\\SMS\\inboxes\\distmgr.box\\INCOMING\\corrupt\\FORGED01.PKG: it changes package "
            f"{source}00001, but {problem}") in log_messages(lab, site, "distmgr.log")
    if site != "S01":
        assert query(lab, site, "SELECT COUNT(*) FROM SMSPackages") == [(0,)]

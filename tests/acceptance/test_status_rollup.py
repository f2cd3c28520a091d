"""Status roll-up to the central site: removals pending until the DP's site confirms them,
a child's old version seen at the central site, a refresh's status reaching the parent."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitesrv.admin import console, faults
from sitesrv.admin.lab import Lab
from sitesrv.admin.status import status_rows
from sitesrv.db.sitedb import SiteDatabase
from sitesrv.testing import log_messages, query
from tests.acceptance.conftest import assert_dp_gone, dp_folder, installed, sample

S01_DP = "MSWNET:[\"SMS_SITE=S01\"]\\\\SEC01\\SMSPKGC$\\"
SUMMARY = ("SELECT SiteCode, State FROM SMS_PackageStatusDistPointsSummarizer "
           "WHERE PackageID = '{}' ORDER BY SiteCode")


def test_a_dp_removed_below_is_removal_pending_until_its_site_removes_it(
        lab: Lab, tmp_path: Path) -> None:
    pkg_id, _ = installed(lab, tmp_path, 2)
    faults.set_link(lab, "ZZZ", "P00", up=False)
    console.remove_dp(lab, pkg_id, "S01:SEC01")
    lab.run_until_idle(seed=2)  # the removal waits for the link
    assert dp_folder(lab, "S01", pkg_id).is_dir()
    assert query(lab, "ZZZ", SUMMARY.format(pkg_id)) == [("P00", 0), ("S01", 4), ("ZZZ", 0)]
    assert query(lab, "ZZZ", "SELECT Status FROM PkgStatus WHERE Type = 2 AND "
                             "SiteCode = 'S01'") == [(7,)]
    assert query(lab, "ZZZ", "SELECT Action FROM PkgServers WHERE SiteCode = 'S01'") == [(3,)]
    faults.set_link(lab, "ZZZ", "P00", up=True)
    assert lab.run_until_idle(seed=2).status == "idle"
    assert_dp_gone(lab, pkg_id, "S01")
    assert query(lab, "ZZZ", SUMMARY.format(pkg_id)) == [("P00", 0), ("ZZZ", 0)]


def test_a_deleted_packages_dps_below_are_removal_pending_until_their_sites_delete_it(
        lab: Lab, tmp_path: Path) -> None:
    pkg_id, _ = installed(lab, tmp_path, 2)
    faults.set_link(lab, "ZZZ", "P00", up=False)
    console.delete_package(lab, pkg_id)
    lab.run_until_idle(seed=2)  # the deletion waits for the link
    assert not dp_folder(lab, "ZZZ", pkg_id).exists()
    assert dp_folder(lab, "P00", pkg_id).is_dir() and dp_folder(lab, "S01", pkg_id).is_dir()
    assert query(lab, "ZZZ", SUMMARY.format(pkg_id)) == [("P00", 4), ("S01", 4)]
    assert query(lab, "ZZZ", "SELECT COUNT(*) FROM SMSPackages") == [(0,)]
    assert (lab.site("ZZZ").state_dir / "deleted" / pkg_id).is_file()
    faults.set_link(lab, "ZZZ", "P00", up=True)
    assert lab.run_until_idle(seed=2).status == "idle"
    for site in ("P00", "S01"):
        assert not dp_folder(lab, site, pkg_id).exists(), site
        assert (lab.site(site).state_dir / "deleted" / pkg_id).is_file(), site
    for site in ("ZZZ", "P00"):
        for table in ("SMSPackages", "PkgServers", "PkgStatus"):
            assert query(lab, site, f"SELECT COUNT(*) FROM {table}") == [(0,)], (site, table)


def test_a_child_stuck_on_an_old_version_of_a_child_primarys_package_is_pending_at_the_top(
        lab: Lab, tmp_path: Path) -> None:
    """The central site has no SMSPackages row for a package created at P00: the summarizer
    takes its version from P00's own Type 1 row, so the smsutils query finds S01 stuck."""
    source = sample(tmp_path)
    pkg_id = console.create_package(lab, "P00", name="PP", source=source,
                                    dps=["P00:REMOTE_DP", "S01:SEC01"])
    assert lab.run_until_idle(seed=2).status == "idle"
    faults.fill_disk(lab, "S01", free=100)
    (source / "BIG.BIN").write_bytes(bytes(range(256)) * 200)
    console.update_package(lab, pkg_id)
    lab.run_until_idle(seed=2)  # S01 cannot store version 2
    for site in ("P00", "ZZZ"):
        assert query(lab, site, "SELECT SiteCode, SourceVersion, State FROM "
                                "SMS_PackageStatusDistPointsSummarizer WHERE State != 0") == [
            ("S01", 1, 1)], site


def test_a_child_primarys_deleted_package_leaves_no_row_at_the_central_site(
        lab: Lab, tmp_path: Path) -> None:
    """A bug hunt found P00's and S01's Type 1 rows left at ZZZ, which has no SMSPackages row
    for P00's package to go with them: `sitesrv status` showed the deleted package RECEIVED.
    Each deleting site now reports its own copy REMOVED, as it does its DPs."""
    pkg_id = console.create_package(lab, "P00", name="PP", source=sample(tmp_path),
                                    dps=["P00:REMOTE_DP", "S01:SEC01"])
    assert lab.run_until_idle(seed=2).status == "idle"
    assert query(lab, "ZZZ", "SELECT SiteCode FROM PkgStatus WHERE Type = 1 ORDER BY 1") == [
        ("P00",), ("S01",)]
    console.delete_package(lab, pkg_id)
    assert lab.run_until_idle(seed=2).status == "idle"
    for site in ("ZZZ", "P00"):
        assert query(lab, site, "SELECT * FROM PkgStatus") == [], site
    assert all(rows == [] for rows in status_rows(lab, pkg_id).values())


@pytest.mark.parametrize(("dp", "repair"), [
    ("P00:REMOTE_DP", "UPDATE PkgStatus SET Status = 5 WHERE ID = '{}' AND Type = 2 AND "
                      "SiteCode = 'P00'"),
    ("S01:SEC01", "DELETE FROM PkgStatus WHERE ID = '{}' AND Type = 2 AND SiteCode = 'S01'"),
])
def test_a_refreshed_dp_reports_its_row_up_even_when_unchanged_below(
        lab: Lab, tmp_path: Path, dp: str, repair: str) -> None:
    """A hand-edited (or deleted) DP row at the central site: refreshing the DP recopies it,
    and its site's row, unchanged there, goes up and rewrites the rows above."""
    pkg_id, _ = installed(lab, tmp_path, 2)
    site = dp.split(":")[0]
    with SiteDatabase.open(lab.site("ZZZ").database) as db:
        db.execute_user_sql(repair.format(pkg_id))
    assert (site, 0) not in query(lab, "ZZZ", SUMMARY.format(pkg_id))
    console.refresh_dp(lab, pkg_id, dp)
    assert lab.run_until_idle(seed=2).status == "idle"
    assert query(lab, "ZZZ", SUMMARY.format(pkg_id)) == [("P00", 0), ("S01", 0), ("ZZZ", 0)]


def test_a_dps_last_refresh_is_when_its_add_was_processed_where_it_was_added(
        lab: Lab, tmp_path: Path) -> None:
    """docs/database.md, PkgServers.LastRefresh: the time the source site processed the ADD
    (during the package's first pass); SMS's 1970 default in rows replicated below."""
    pkg_id, _ = installed(lab, tmp_path, 2)
    [(stamp,)] = query(lab, "ZZZ", "SELECT LastRefresh FROM SMSPackages")
    [(added,)] = query(lab, "ZZZ", "SELECT DISTINCT LastRefresh FROM PkgServers")
    assert stamp <= added < "2007-06-04 09:01", "the first pass, not the default"
    assert query(lab, "P00", "SELECT DISTINCT LastRefresh FROM PkgServers") == [
        ("1970-04-10 06:35:00.000",)]
    console.refresh_dp(lab, pkg_id, "P00:REMOTE_DP", at="P00")
    assert lab.run_until_idle(seed=2).status == "idle"
    assert query(lab, "P00", "SELECT SiteCode, LastRefresh > '2007' FROM PkgServers "
                             "ORDER BY SiteCode") == [("P00", 1), ("S01", 0)]


def test_removing_a_dp_row_of_no_dp_in_the_lab_takes_its_rows_at_once(
        lab: Lab, tmp_path: Path) -> None:
    """A row typed by hand for a DP the lab has not: no site can remove it or say so, so its
    removal is not left pending for ever."""
    pkg_id, _ = installed(lab, tmp_path, 2)
    nal = 'MSWNET:["SMS_SITE=S01"]\\\\NOSUCH\\SMSPKGC$\\'
    with SiteDatabase.open(lab.site("ZZZ").database) as db:
        db.execute_user_sql(f"INSERT INTO PkgServers (PkgID, NALPath, SiteCode, SourceSite, "
                            f"Action) VALUES ('{pkg_id}', '{nal}', 'S01', 'ZZZ', 3)")
        db.execute_user_sql(f"INSERT INTO PkgStatus (ID, Type, SiteCode, PkgServer, Status) "
                            f"VALUES ('{pkg_id}', 2, 'S01', '{nal}', 3)")
        db.execute_user_sql(f"INSERT INTO PkgNotification (PkgID) VALUES ('{pkg_id}')")
    assert lab.run_until_idle(seed=2).status == "idle"
    assert query(lab, "ZZZ", "SELECT COUNT(*) FROM PkgServers WHERE NALPath = ?", (nal,)) == [
        (0,)]
    assert query(lab, "ZZZ", SUMMARY.format(pkg_id)) == [("P00", 0), ("S01", 0), ("ZZZ", 0)]


def test_a_site_between_shows_the_removal_pending_too(lab: Lab, tmp_path: Path) -> None:
    pkg_id, _ = installed(lab, tmp_path, 2)
    faults.set_link(lab, "P00", "S01", up=False)
    console.remove_dp(lab, pkg_id, "S01:SEC01")
    lab.run_until_idle(seed=2)  # P00 has the removal; S01 does not
    assert dp_folder(lab, "S01", pkg_id).is_dir()
    for site in ("ZZZ", "P00"):
        assert ("S01", 4) in query(lab, site, SUMMARY.format(pkg_id)), site
        assert query(lab, site, "SELECT Action FROM PkgServers WHERE SiteCode = 'S01'") == [
            (3,)], site
    faults.set_link(lab, "P00", "S01", up=True)
    assert lab.run_until_idle(seed=2).status == "idle"
    assert_dp_gone(lab, pkg_id, "S01")


def test_a_deletion_that_reaches_every_site_logs_no_orphan_status(
        lab: Lab, tmp_path: Path) -> None:
    pkg_id, _ = installed(lab, tmp_path, 2)
    console.delete_package(lab, pkg_id)
    assert lab.run_until_idle(seed=2).status == "idle"
    assert not [m for m in log_messages(lab, "ZZZ", "distmgr.log") if "SQL Msg #99901" in m]
    assert query(lab, "ZZZ", "SELECT COUNT(*) FROM PkgStatus") == [(0,)]

"""Acceptance 5 and 7: clean-up at every tier, the child-lost-its-PCK field
report (docs/sources.md), and the KB936465 race."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from sitesrv.admin import console
from sitesrv.admin.lab import Lab
from sitesrv.admin.scenarios.kb936465 import race_hierarchy
from sitesrv.cli.main import cli
from sitesrv.db.sitedb import PackageStatus
from sitesrv.testing import assert_in_order, log_messages, query, tree_digest
from tests.acceptance.conftest import (
    DP_FOLDERS,
    assert_dp_gone,
    create,
    dp_folder,
    lab_from,
    sample,
)
from tests.conftest import DEFAULT_HIERARCHY


def test_remove_dp_and_delete_clean_up_every_tier(lab: Lab, tmp_path: Path) -> None:
    pkg_id = create(lab, sample(tmp_path))
    assert lab.run_until_idle(seed=2).status == "idle"
    console.remove_dp(lab, pkg_id, "S01:SEC01")
    assert lab.run_until_idle(seed=2).status == "idle"
    assert_dp_gone(lab, pkg_id, "S01")
    assert dp_folder(lab, "P00", pkg_id).is_dir(), "other DPs keep the package"
    console.delete_package(lab, pkg_id)
    assert lab.run_until_idle(seed=2).status == "idle"
    for site in ("ZZZ", "P00", "S01"):
        assert not dp_folder(lab, site, pkg_id).exists(), site
        assert not list(lab.site(site).smspkg.glob(f"{pkg_id}*")), site
    for site in ("ZZZ", "P00"):
        for table in ("SMSPackages", "PkgServers", "PkgStatus"):
            assert query(lab, site, f"SELECT COUNT(*) FROM {table}") == [(0,)], (site, table)
    assert not list((lab.site("S01").state_dir / "packages").glob("*.json"))


def test_field_report_13_1_child_pck_gone(lab: Lab, tmp_path: Path) -> None:
    """The child's PCK was deleted; refresh does not help; SourceVersion = 0 and refresh does."""
    source = sample(tmp_path)
    pkg_id = create(lab, source, dps=["ZZZ:MGMT01", "P00:REMOTE_DP"])
    assert lab.run_until_idle(seed=4).status == "idle"
    pck = lab.site("P00").smspkg / f"{pkg_id}.PCK"
    pck.chmod(0o644)
    os.unlink(pck)
    target = dp_folder(lab, "P00", pkg_id)
    for f in sorted(target.rglob("*"), reverse=True):
        f.chmod(0o755 if f.is_dir() else 0o644)
    for f in sorted(target.rglob("*"), reverse=True):
        f.rmdir() if f.is_dir() else f.unlink()
    console.refresh_dp(lab, pkg_id, "P00:REMOTE_DP")
    assert lab.run_until_idle(seed=4).status == "waiting"
    line = (f"The compressed files for package {pkg_id} hasn't arrived from site ZZZ yet, will "
            "retry later.")
    assert line in log_messages(lab, "P00", "distmgr.log")
    assert not any(target.iterdir())
    diagnosis = CliRunner().invoke(cli, [
        "sql", "ZZZ", f"SELECT ID, SiteCode, PkgServer, Status, SourceVersion FROM PkgStatus "
        f"WHERE (ID = '{pkg_id}') AND (SiteCode = 'P00') AND (PkgServer = 'MGMT03')",
        "--lab", str(lab.root)])
    assert diagnosis.exit_code == 0 and "MGMT03" in diagnosis.output
    repair = CliRunner().invoke(cli, [
        "sql", "ZZZ", f"UPDATE PkgStatus SET SourceVersion = 0 WHERE (ID = '{pkg_id}') AND "
        "(SiteCode = 'P00') AND (PkgServer = 'MGMT03')", "--lab", str(lab.root)])
    assert repair.exit_code == 0
    before = len(log_messages(lab, "ZZZ", "distmgr.log"))
    console.refresh_dp(lab, pkg_id, "P00:REMOTE_DP")
    assert lab.run_until_idle(seed=4).status == "idle"
    assert_in_order(log_messages(lab, "ZZZ", "distmgr.log")[before:], [
        f"Needs to send the compressed package for package {pkg_id} to site P00",
        f"Sending a copy of package {pkg_id} to site P00",
        f"Created minijob to send compressed copy of package {pkg_id} to site P00. Tranfer root "
        f"= \\\\MGMT01\\SMS_CPSF$\\{pkg_id}.PCK.",
        f"A distribution point has been changed at this site, adding site P00 to the list of "
        f"sites to which we are sending package {pkg_id}.",
        f"Sent package changes to site P00 for package {pkg_id}",
        f"StoredPkgVersion (1) of package {pkg_id}. StoredPkgVersion in database is 1.",
    ])
    assert_in_order(log_messages(lab, "P00", "distmgr.log")[-40:], [
        f"Start updating the package {pkg_id}...",
        f"Successfully created/updated the package {pkg_id}",
        f"Validating the compressed file F:\\SMSPKG\\{pkg_id}.PCK for package {pkg_id}",
        "Attempting to create subdirectory ZZZ00001 under the export.",
        f"Forward package status for pkg {pkg_id} to site ZZZ",
    ])
    assert tree_digest(target) == tree_digest(source)


def race_lab(tmp_path: Path, hotfix: bool) -> Lab:
    """KB936465's hierarchy over a WAN, as `sitesrv scenario run kb936465` builds it."""
    return lab_from(tmp_path, race_hierarchy(DEFAULT_HIERARCHY, hotfix))


def race(tmp_path: Path, hotfix: bool, record: Path | None = None,
         replay: Path | None = None) -> tuple[Lab, str, object]:
    lab = race_lab(tmp_path, hotfix)
    pkg_id = create(lab, sample(tmp_path), dps=["ZZZ:MGMT01", "P00:REMOTE_DP"])
    assert lab.run_until_idle(seed=2).status == "idle"
    console.add_dp(lab, pkg_id, "S01:SEC01", at="P00")  # the DP is added at the child primary
    report = lab.run_until_idle(seed=2, record=record, replay=replay)  # seed 2 loses the race
    return lab, pkg_id, report


def test_kb936465_race_leaves_the_secondary_stuck(tmp_path: Path) -> None:
    schedule = tmp_path / "race.jsonl"
    lab, pkg_id, report = race(tmp_path / "a", hotfix=False, record=schedule)
    assert report.status == "waiting"
    distmgr = log_messages(lab, "S01", "distmgr.log")
    stuck = [m for m in distmgr if m.startswith(
        f"Package {pkg_id} requires a newer version (1) of source files and the new compressed "
        "files haven't arrived yet, current version is 0, skip E:\\SMS\\inboxes\\distmgr.box"
        "\\INCOMING\\") and m.endswith(".PKG")]
    assert len(stuck) >= 3 and len(set(stuck)) == 1, "the exact KB936465 line, repeating"
    assert any("is older (LastRefreshTime) than the last one processed, discard it." in m
               for m in distmgr), "the content instruction was discarded"
    assert not dp_folder(lab, "S01", pkg_id).exists()
    assert (lab.site("S01").smspkg / f"{pkg_id}.PCK.1").is_file(), "the PCK did arrive"
    assert query(lab, "ZZZ", "SELECT State FROM SMS_PackageStatusDistPointsSummarizer "
                             "WHERE SiteCode = 'S01'") == [(1,)], "Install Pending"
    # The recorded schedule replays to the same stuck secondary.
    again, _, replayed = race(tmp_path / "b", hotfix=False, replay=schedule)
    assert replayed.status == "waiting"
    assert log_messages(again, "S01", "distmgr.log") == distmgr


def test_kb936465_hotfix_installs_everywhere(tmp_path: Path) -> None:
    lab, pkg_id, report = race(tmp_path, hotfix=True)
    assert report.status == "idle"
    assert any(m.endswith(f"for package {pkg_id} is older (LastRefreshTime) than the last one "
                          "processed; KB936465: apply its actions.")
               for m in log_messages(lab, "S01", "distmgr.log")), "the hotfix path was taken"
    for site in ("ZZZ", "P00", "S01"):
        assert (lab.root / DP_FOLDERS[site] / pkg_id / "SETUP.INI").is_file(), site
    assert query(lab, "ZZZ", "SELECT * FROM SMS_PackageStatusDistPointsSummarizer "
                             "WHERE State != 0") == []


def test_kb936465_stuck_secondary_preloaded_installs_and_drops_the_parked_copy(
        tmp_path: Path) -> None:
    from preloadpkgonsite.cli import command  # the tool ships beside sitesrv

    lab, pkg_id, report = race(tmp_path, hotfix=False)
    assert report.status == "waiting"
    smspkg = lab.site("S01").smspkg
    parked = smspkg / f"{pkg_id}.PCK.1"
    assert parked.is_file()
    (smspkg / f"{pkg_id}.PCK").write_bytes((lab.site("ZZZ").smspkg / f"{pkg_id}.PCK").read_bytes())
    (smspkg / f"{pkg_id}.PCK").chmod(0o444)
    result = CliRunner().invoke(command, ["--lab", str(lab.root), "--site", "S01", pkg_id])
    assert result.exit_code == 0, result.output
    assert lab.run_until_idle(seed=2).status == "idle"
    assert tree_digest(dp_folder(lab, "S01", pkg_id)) == tree_digest(
        dp_folder(lab, "ZZZ", pkg_id))
    assert not parked.exists(), "the forwarded copy the stuck instruction left is dropped"
    assert sorted(p.name for p in smspkg.iterdir()) == [f"{pkg_id}.PCK"]
    assert f"~Deleted the forwarded compressed file E:\\SMSPKG\\{pkg_id}.PCK.1: version 1 of " \
           f"package {pkg_id} is registered as E:\\SMSPKG\\{pkg_id}.PCK." in log_messages(
               lab, "S01", "distmgr.log")


def _sitesrv(lab: Lab, *args: str) -> None:
    result = CliRunner().invoke(cli, [*args, "--lab", str(lab.root)])
    assert result.exit_code == 0, result.output


def test_a_package_deleted_while_its_replication_waits_stays_deleted_below(
        lab: Lab, tmp_path: Path) -> None:
    """Bug hunt: the child processed the deletion, then the older `.PKG` it had kept back
    (waiting for the files), and the package was made again there, waiting for ever."""
    _sitesrv(lab, "address", "pause", "ZZZ", "P00")
    pkg_id = create(lab, sample(tmp_path), dps=["P00:REMOTE_DP"])
    assert lab.run_until_idle(seed=1).status == "waiting"  # queued behind the paused address
    console.delete_package(lab, pkg_id)
    assert lab.run_until_idle(seed=1).status == "waiting"
    _sitesrv(lab, "address", "resume", "ZZZ", "P00")
    assert lab.run_until_idle(seed=1).status == "idle"

    assert query(lab, "P00", "SELECT PkgID FROM SMSPackages") == []
    assert not dp_folder(lab, "P00", pkg_id).exists()
    distmgr = log_messages(lab, "P00", "distmgr.log")
    assert_in_order(distmgr, [f"~Successfully deleted the package {pkg_id}"])
    deleted = distmgr.index(f"~Successfully deleted the package {pkg_id}")
    assert any(m.endswith(f"for package {pkg_id} is older (LastRefreshTime) than the last one "
                          "processed, discard it.") for m in distmgr[deleted:])


def test_a_parcel_of_a_package_deleted_since_is_discarded(tmp_path: Path) -> None:
    from tests.courier.conftest import courier_lab, courier_package

    lab = courier_lab(tmp_path)
    pkg_id, _ = courier_package(lab, tmp_path, ["P00:REMOTE_DP"])
    assert lab.run_until_idle(seed=3).status == "waiting"  # in the Courier outbox
    _sitesrv(lab, "courier", "create", "ZZZ")
    (parcel,) = (lab.root / "media").iterdir()
    disc = tmp_path / "disc"
    disc.mkdir()
    carried = disc / parcel.name
    carried.write_bytes(parcel.read_bytes())
    console.delete_package(lab, pkg_id)
    assert lab.run_until_idle(seed=3).status == "idle"
    _sitesrv(lab, "courier", "receive", "P00", str(carried))

    assert lab.run_until_idle(seed=3).status == "idle", "nothing waits for information"
    assert (f"~Package {pkg_id} was deleted at this site after version 1 was sent, discard "
            "the received version 1.") in log_messages(lab, "P00", "despool.log")
    assert query(lab, "P00", "SELECT PkgID FROM SMSPackages") == []
    assert not (lab.site("P00").smspkg / f"{pkg_id}.PCK").exists()
    assert not dp_folder(lab, "P00", pkg_id).exists()


def test_a_dp_given_up_on_stays_failed_while_its_pkg_waits(lab: Lab, tmp_path: Path) -> None:
    """Bug hunt: after 2302 the kept `.PKG`, looked at again, set the FAILED DP back to
    retrying (State 3 for 30 s, then State 2 for ever). Only a new `.PKG` retries it."""
    pkg_id = create(lab, sample(tmp_path), dps=["ZZZ:MGMT01", "P00:REMOTE_DP"])
    assert lab.run_until_idle(seed=4).status == "idle"
    pck = lab.site("P00").smspkg / f"{pkg_id}.PCK"
    pck.chmod(0o644)
    os.unlink(pck)
    console.refresh_dp(lab, pkg_id, "P00:REMOTE_DP")
    runs = 0
    while not any("ID=2302 " in m for m in log_messages(lab, "P00", "distmgr.log")):
        assert lab.run_until_idle(seed=4).status == "waiting"
        runs += 1
        assert runs < 5, "the retries are used up within a few runs"
    for _ in range(2):
        assert query(lab, "P00", "SELECT Status FROM PkgStatus WHERE Type = 2") == [
            (PackageStatus.FAILED,)]
        assert query(lab, "ZZZ", "SELECT State FROM SMS_PackageStatusDistPointsSummarizer "
                                 "WHERE SiteCode = 'P00'") == [(3,)]
        assert lab.run_until_idle(seed=4).status == "waiting"  # the .PKG is looked at again
    console.refresh_dp(lab, pkg_id, "P00:REMOTE_DP")  # a new .PKG: retried again
    assert lab.run_until_idle(seed=4, horizon=10).status == "waiting"
    assert query(lab, "P00", "SELECT Status FROM PkgStatus WHERE Type = 2") == [
        (PackageStatus.RETRY,)]

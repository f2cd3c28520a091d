"""Review findings: a crash during an update, DP actions made at a child primary, retries after
a restart, status for a deleted package, the Q319189 orphan DP."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitesrv.admin import console, faults
from sitesrv.admin.lab import Lab
from sitesrv.formats import pkg
from sitesrv.runtime.faults import AFTER_PUBLISH, BEFORE_PUBLISH, CrashAt
from sitesrv.testing import log_messages, query, tree_digest, write_source
from tests.acceptance.conftest import (
    assert_dp_gone,
    create,
    dp_folder,
    installed,
    lab_from,
    sample,
)
from tests.conftest import DEFAULT_HIERARCHY


@pytest.mark.parametrize("point", [BEFORE_PUBLISH, AFTER_PUBLISH])
@pytest.mark.parametrize("times", [1, 2, 3])
def test_a_crash_during_an_update_is_redone_not_lost(lab: Lab, tmp_path: Path, point: str,
                                                     times: int) -> None:
    pkg_id, source = installed(lab, tmp_path, 3)
    (source / "SETUP.INI").write_text("[Setup]\r\nversion 2\r\n")
    console.update_package(lab, pkg_id)
    crash = CrashAt(point, site="ZZZ", component="SMS_DISTRIBUTION_MANAGER", times=times)
    assert lab.run_until_idle(seed=3, faults=crash).status == "idle"
    assert crash.fired, "the crash happened"
    for site in ("ZZZ", "P00", "S01"):
        assert tree_digest(dp_folder(lab, site, pkg_id)) == tree_digest(source), site
    assert query(lab, "ZZZ", "SELECT SourceVersion, Action FROM SMSPackages") == [(2, 0)]


@pytest.mark.parametrize("site, seed, moved", [
    ("P00", 6, "2_002ZZZ.RPL"),  # the field report: Replication Manager took it before the redo
    ("P00", 13, "2_002ZZZ.RPL"),
    ("S01", 6, "2_001P00.RPL"),
])
def test_a_crash_after_the_despooler_moved_a_batch_ends_as_without_one(
        lab: Lab, tmp_path: Path, site: str, seed: int, moved: str) -> None:
    source = sample(tmp_path)
    pkg_id = create(lab, source)
    crash = CrashAt(AFTER_PUBLISH, site=site)
    report = lab.run_until_idle(seed=seed, faults=crash)
    assert [(p.component, Path(p.path or "").name) for p in crash.fired] == [
        ("SMS_DESPOOLER", moved)]
    assert report.status == "idle", report.waits
    assert list(lab.root.glob("*/SMS/inboxes/despoolr.box/receive/corrupt/*")) == []
    assert list(lab.root.glob("*/SMS/inboxes/despoolr.box/receive/ds_*")) == []
    for code in ("ZZZ", "P00", "S01"):
        assert tree_digest(dp_folder(lab, code, pkg_id)) == tree_digest(source), code


def test_refresh_and_remove_of_a_secondary_dp_made_at_the_child_primary(lab: Lab,
                                                                        tmp_path: Path) -> None:
    pkg_id, source = installed(lab, tmp_path, 3)
    damaged = dp_folder(lab, "S01", pkg_id) / "SETUP.INI"
    damaged.chmod(0o644)
    damaged.write_text("damaged")
    console.refresh_dp(lab, pkg_id, "S01:SEC01", at="P00")
    assert lab.run_until_idle(seed=3).status == "idle"
    assert tree_digest(dp_folder(lab, "S01", pkg_id)) == tree_digest(source)
    console.remove_dp(lab, pkg_id, "S01:SEC01", at="P00")
    assert lab.run_until_idle(seed=3).status == "idle"
    assert_dp_gone(lab, pkg_id, "S01")


def test_dp_retries_survive_a_restart(tmp_path: Path) -> None:
    lab = lab_from(tmp_path, DEFAULT_HIERARCHY.read_text().replace("  retries: 100",
                                                                    "  retries: 999"))
    source = write_source(tmp_path / "nested", {"A.TXT": b"a\r\n", "SUB/B.TXT": b"b\r\n"})
    faults.deny_dp_folders(lab, "P00:REMOTE_DP")  # SUB cannot be made there
    pkg_id = create(lab, source, dps=["ZZZ:MGMT01", "P00:REMOTE_DP"])
    lab.run_until_idle(seed=3, max_steps=150)  # stopped while P00's DP is being retried
    assert query(lab, "ZZZ", "SELECT State FROM SMS_PackageStatusDistPointsSummarizer "
                             "WHERE SiteCode = 'P00'") == [(2,)], "Install Retrying"
    faults.deny_dp_folders(lab, "P00:REMOTE_DP", deny=False)
    assert lab.run_until_idle(seed=3).status == "idle"  # a new run: the retry state is rebuilt
    assert tree_digest(dp_folder(lab, "P00", pkg_id)) == tree_digest(source)


def test_late_status_for_a_deleted_package_leaves_no_orphan_rows(lab: Lab,
                                                                  tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sitesrv.cli.main import cli

    pkg_id, source = installed(lab, tmp_path, 3)
    CliRunner().invoke(cli, ["address", "pause", "P00", "ZZZ", "--lab", str(lab.root)])
    (source / "SETUP.INI").write_text("v2")
    console.update_package(lab, pkg_id)
    lab.run_until_idle(seed=3)
    console.delete_package(lab, pkg_id)
    lab.run_until_idle(seed=3)
    CliRunner().invoke(cli, ["address", "resume", "P00", "ZZZ", "--lab", str(lab.root)])
    lab.run_until_idle(seed=3)
    assert query(lab, "ZZZ", "SELECT COUNT(*) FROM PkgStatus") == [(0,)]
    assert (f"~SQL Msg #99901> This PkgID ({pkg_id}) does not exist in the parent table, "
            "SMSPackages.~") in log_messages(lab, "ZZZ", "distmgr.log")


def test_a_dp_of_an_unknown_site_keeps_the_pkg_and_logs_q319189(lab: Lab) -> None:
    record = pkg.PackageReplication(
        package_id="ZZZ00001", name="Demo", source_site="ZZZ", source_version=1,
        last_refresh_time=1181000000.0, action=pkg.PackageAction.UPDATE, issuing_site="ZZZ",
        servers=(pkg.PackageServer(site_code="SEC", server="NTSERVER", share="SMSPKGC$",
                                   nal_path='MSWNET:["SMS_SITE=SEC"]\\\\NTSERVER\\SMSPKGC$\\',
                                   action=pkg.PackageAction.ADD),))
    incoming = lab.site("P00").inbox("distmgr.box\\INCOMING")
    (incoming / "RD5L85BW.PKG").write_bytes(pkg.encode(record))
    report = lab.run_until_idle(seed=3)
    log = log_messages(lab, "P00", "distmgr.log")
    assert "~SQL Msg #99901> This SiteCode (SEC) does not exist in the parent table, Sites.~" \
        in log
    assert ('~Cannot update the package server ["Display=\\\\NTSERVER\\"]MSWNET:["SMS_SITE=SEC"]'
            "\\\\NTSERVER\\ for package ZZZ00001, error = 3") in log
    assert (incoming / "RD5L85BW.PKG").exists(), "the .pkg is not deleted (Q319189)"
    assert report.status == "waiting"

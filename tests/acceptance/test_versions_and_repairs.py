"""Acceptance 3 and 4: deltas, the delta-stuck child (docs/sources.md) and its repair, refresh vs update."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from sitesrv.admin import console
from sitesrv.admin.lab import Lab
from sitesrv.cli.main import cli
from sitesrv.testing import assert_in_order, events, log_messages, query, tree_digest
from tests.acceptance.conftest import dp_folder, installed, installs, request_tokens


def change(source: Path) -> None:
    setup = source / "SETUP.INI"
    setup.write_text("[Setup]\r\nProgram=SETUP.EXE /q /v2\r\n")


def test_update_sends_a_delta_that_a_child_holding_v1_merges(lab: Lab, tmp_path: Path) -> None:
    pkg_id, source = installed(lab, tmp_path, 5)
    change(source)
    console.update_package(lab, pkg_id)
    assert lab.run_until_idle(seed=5).status == "idle"
    assert (lab.site("ZZZ").smspkg / f"{pkg_id}.DLT.2").is_file()
    sent = events(lab, "content_sent")
    assert [(e["to"], e["file"].rsplit("\\", 1)[1]) for e in sent if e["version"] == 2][:1] == [
        ("P00", f"{pkg_id}.DLT.2")]
    for site in ("ZZZ", "P00", "S01"):
        assert tree_digest(dp_folder(lab, site, pkg_id)) == tree_digest(source), site
    assert query(lab, "ZZZ", "SELECT SiteCode, Status, SourceVersion FROM PkgStatus "
                             "ORDER BY Type, SiteCode") == [
        ("P00", 2, 2), ("S01", 2, 2), ("P00", 3, 2), ("S01", 3, 2), ("ZZZ", 3, 2)]


def test_a_child_that_lost_v1_is_stuck_until_the_sql_repair(lab: Lab, tmp_path: Path) -> None:
    pkg_id, source = installed(lab, tmp_path, 5)
    pck = lab.site("P00").smspkg / f"{pkg_id}.PCK"
    pck.chmod(0o644)
    os.unlink(pck)  # "deleted to free disk space"
    change(source)
    console.update_package(lab, pkg_id)
    report = lab.run_until_idle(seed=5)
    assert report.status == "waiting"
    despool = log_messages(lab, "P00", "despool.log")
    assert_in_order(despool, [f"Received package {pkg_id} version 2",
                              f"CCompress::Open: Failed to open F:\\SMSPKG\\{pkg_id} (1)",
                              "Despooler failed to execute the instruction, error code = 8"])
    stuck = (f"Package {pkg_id} requires a newer version (2) of source files and the new "
             "compressed files haven't arrived yet, current version is 1, skip "
             "E:\\SMS\\inboxes\\distmgr.box\\INCOMING\\")
    assert sum(m.startswith(stuck) for m in log_messages(lab, "P00", "distmgr.log")) >= 2
    # Diagnosis at the source (docs/sources.md#delta-stuck): the child's Type 1 row is not 0 and has a version.
    result = CliRunner().invoke(cli, [
        "sql", "ZZZ", "SELECT PkgStatus.* FROM PkgStatus WHERE (Type = 1) AND "
        f"(ID = '{pkg_id}') AND (SiteCode = 'P00')", "--lab", str(lab.root), "--json"])
    assert result.exit_code == 0 and '"Status": 1' in result.output
    # The unsupported repair that works, verbatim, then a refresh of the package's DP.
    result = CliRunner().invoke(cli, [
        "sql", "ZZZ", "UPDATE PkgStatus SET Status = 2, SourceVersion = 0 WHERE "
        f"(ID = '{pkg_id}') AND (Type = 1) AND (PkgServer = 'MGMT03')", "--lab", str(lab.root)])
    assert result.exit_code == 0 and "(1 row(s) affected)" in result.output
    before = {site: installs(lab, site) for site in ("P00", "S01")}
    console.refresh_dp(lab, pkg_id, "P00:REMOTE_DP")
    assert lab.run_until_idle(seed=5).status == "idle"
    assert f"Needs to send the compressed package for package {pkg_id} to site P00" in \
        log_messages(lab, "ZZZ", "distmgr.log")
    for site in ("P00", "S01"):
        assert tree_digest(dp_folder(lab, site, pkg_id)) == tree_digest(source), site
        assert installs(lab, site) == before[site] + 1, f"{site} installs version 2 once"


def test_refresh_at_the_dps_own_site_sends_nothing(lab: Lab, tmp_path: Path) -> None:
    pkg_id, source = installed(lab, tmp_path, 5)
    damaged = dp_folder(lab, "P00", pkg_id) / "SETUP.INI"
    damaged.chmod(0o644)
    damaged.write_text("damaged")
    before = request_tokens(lab)
    console.refresh_dp(lab, pkg_id, "P00:REMOTE_DP", at="P00")
    assert lab.run_until_idle(seed=5).status == "idle"
    assert tree_digest(dp_folder(lab, "P00", pkg_id)) == tree_digest(source)
    assert request_tokens(lab) == before, "no send request was made anywhere"
    assert query(lab, "ZZZ", "SELECT SourceVersion FROM SMSPackages") == [(1,)]


def test_refresh_at_the_parent_sends_only_package_information(lab: Lab, tmp_path: Path) -> None:
    pkg_id, source = installed(lab, tmp_path, 5)
    damaged = dp_folder(lab, "P00", pkg_id) / "SETUP.INI"
    damaged.chmod(0o644)
    damaged.write_text("damaged")
    before = len(events(lab))
    console.refresh_dp(lab, pkg_id, "P00:REMOTE_DP")  # at the source site, ZZZ
    assert lab.run_until_idle(seed=5).status == "idle"
    new = events(lab)[before:]
    assert not [e for e in new if e["event"] == "content_sent"], "never the PCK"
    assert any(e["event"] == "package_info_sent" and e["to"] == "P00" for e in new)
    assert tree_digest(dp_folder(lab, "P00", pkg_id)) == tree_digest(source)
    assert query(lab, "ZZZ", "SELECT SourceVersion FROM SMSPackages") == [(1,)]

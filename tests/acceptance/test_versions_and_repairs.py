"""Acceptance 3 and 4: deltas, the delta-stuck child (docs/sources.md) and its repairs (the
unsupported SQL, and the smsutils report's Repair A: a new source path), refresh vs update."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitesrv.admin import console
from sitesrv.admin.lab import Lab
from sitesrv.cli.main import cli
from sitesrv.testing import assert_in_order, events, log_messages, query, tree_digest
from tests.acceptance.conftest import dp_folder, installed, installs, request_tokens


def change(source: Path) -> None:
    setup = source / "SETUP.INI"
    setup.write_text("[Setup]\r\nProgram=SETUP.EXE /q /v2\r\n")


def stuck_on_a_delta(lab: Lab, tmp_path: Path) -> tuple[str, Path]:
    """The delta-stuck child: P00 lost its v1 PCK, then an update made a delta it cannot merge."""
    pkg_id, source = installed(lab, tmp_path, 5)
    pck = lab.site("P00").smspkg / f"{pkg_id}.PCK"
    pck.chmod(0o644)
    os.unlink(pck)  # "deleted to free disk space"
    change(source)
    console.update_package(lab, pkg_id)
    assert lab.run_until_idle(seed=5).status == "waiting"
    return pkg_id, source


def new_events(lab: Lab, before: int, kind: str) -> list[dict[str, object]]:
    return [e for e in events(lab)[before:] if e["event"] == kind]


def lose_pck(lab: Lab, site: str, pkg_id: str, how: str) -> None:
    """Delete or rename a site's stored PCK, clearing its read-only bit first, as one must."""
    pck = lab.site(site).smspkg / f"{pkg_id}.PCK"
    pck.chmod(0o644)
    if how == "delete":
        os.unlink(pck)
    else:
        pck.rename(pck.with_name(f"{pck.name}.old"))


def assert_everywhere(lab: Lab, pkg_id: str, source: Path) -> None:
    """Every DP holds the source, and the smsutils report's query finds nothing at ZZZ."""
    for site in ("ZZZ", "P00", "S01"):
        assert tree_digest(dp_folder(lab, site, pkg_id)) == tree_digest(source), site
    assert query(lab, "ZZZ", "SELECT * FROM SMS_PackageStatusDistPointsSummarizer "
                             "WHERE State != 0") == []


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
        ("P00", 2, 2), ("S01", 2, 2), ("ZZZ", 2, 2),  # Type 1: each site's copy, the source's too
        ("P00", 3, 2), ("S01", 3, 2), ("ZZZ", 3, 2)]


def test_a_child_that_lost_v1_is_stuck_until_the_sql_repair(lab: Lab, tmp_path: Path) -> None:
    pkg_id, source = stuck_on_a_delta(lab, tmp_path)
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


@pytest.mark.parametrize(("parent", "child", "server", "dp"), [
    ("ZZZ", "P00", "MGMT03", "P00:REMOTE_DP"), ("P00", "S01", "SEC01", "S01:SEC01")],
    ids=["a-child-primary", "a-secondary"])
def test_the_sql_repair_of_a_child_that_holds_the_version_ends_received(
        lab: Lab, tmp_path: Path, parent: str, child: str, server: str, dp: str) -> None:
    """The repair run on a child that already holds the version it is sent again: the child
    stores nothing, reports its copy up, and the parent's row goes back to RECEIVED (a bug
    hunt found it stuck at 1 SENT, which the delta-stuck report's check flags for ever)."""
    pkg_id, source = installed(lab, tmp_path, 5)
    pck = lab.site(child).smspkg / f"{pkg_id}.PCK"
    kept = (pck.stat().st_ino, pck.stat().st_mtime_ns, pck.read_bytes())
    result = CliRunner().invoke(cli, [
        "sql", parent, "UPDATE PkgStatus SET Status = 2, SourceVersion = 0 WHERE "
        f"(ID = '{pkg_id}') AND (Type = 1) AND (PkgServer = '{server}')", "--lab", str(lab.root)])
    assert result.exit_code == 0 and "(1 row(s) affected)" in result.output, result.output
    before = {site: installs(lab, site) for site in ("P00", "S01")}
    console.refresh_dp(lab, pkg_id, dp)
    assert lab.run_until_idle(seed=5).status == "idle"
    assert [e["to"] for e in new_events(lab, 0, "content_sent") if e["to"] == child] == [
        child, child], "the full PCK was sent again"
    despool = log_messages(lab, child, "despool.log")
    discarded = f"~Package {pkg_id} version 1 is already stored, discard the received version 1."
    assert despool.count(discarded) == 1
    assert [e["event"] for e in events(lab) if e.get("site") == child and e["event"] in (
        "package_stored", "content_parked")] == ["content_parked" if child == "S01"
                                                 else "package_stored"], "stored once"
    assert despool[despool.index(discarded) + 1] == \
        f"Forward package status for pkg {pkg_id} to site {parent}"
    assert (pck.stat().st_ino, pck.stat().st_mtime_ns, pck.read_bytes()) == kept
    assert {site: installs(lab, site) for site in ("P00", "S01")} == {
        site: before[site] + (site == child) for site in before}, "only the refresh installs"
    assert tree_digest(dp_folder(lab, child, pkg_id)) == tree_digest(source)
    rows = f"SELECT Status, SourceVersion FROM PkgStatus WHERE Type = 1 AND SiteCode = '{child}'"
    for site in dict.fromkeys([parent, "ZZZ"]):
        assert query(lab, site, rows) == [(2, 1)], site
    shown = CliRunner().invoke(cli, ["status", "--lab", str(lab.root)])
    assert shown.exit_code == 0 and "SENT" not in shown.output, shown.output
    settled = len(events(lab))
    assert lab.run_until_idle(seed=5).status == "idle"
    assert len(events(lab)) == settled, "a second run changes nothing"


def test_refresh_at_the_dps_own_site_sends_nothing(lab: Lab, tmp_path: Path) -> None:
    pkg_id, source = installed(lab, tmp_path, 5)
    damaged = dp_folder(lab, "P00", pkg_id) / "SETUP.INI"
    damaged.chmod(0o644)
    damaged.write_text("damaged")
    before = request_tokens(lab)
    console.refresh_dp(lab, pkg_id, "P00:REMOTE_DP", at="P00")
    assert lab.run_until_idle(seed=5).status == "idle"
    assert tree_digest(dp_folder(lab, "P00", pkg_id)) == tree_digest(source)
    after = request_tokens(lab)
    # P00's Status Manager replicates the refresh's status messages up to ZZZ, the one send
    # request left; no other site sends anything.
    assert {site: after[site] for site in after if site != "P00"} == {
        site: before[site] for site in before if site != "P00"}, "only P00 sent anything"
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


# --- the smsutils report's Repair A: change the package's source path (docs/distribution.md) --


def test_repair_a_a_new_source_path_and_straight_back_unsticks_the_delta_stuck_child(
        lab: Lab, tmp_path: Path) -> None:
    pkg_id, source = stuck_on_a_delta(lab, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(source, elsewhere)
    before = len(events(lab))
    for folder, version in ((elsewhere, 3), (source, 4)):
        console.set_source(lab, pkg_id, folder)
        assert lab.run_until_idle(seed=5).status == "idle", folder
        shown = f"\\\\MGMT01\\Sources\\{folder.name}"
        assert query(lab, "ZZZ", "SELECT SourceVersion, Source, StoredPkgSource "
                                 "FROM SMSPackages") == [(version, shown, shown)]
        assert_everywhere(lab, pkg_id, folder)  # the stuck child recovers at the first change
    sent = new_events(lab, before, "content_sent")
    assert {(e["to"], e["version"]) for e in sent} == {("P00", 3), ("S01", 3), ("P00", 4),
                                                       ("S01", 4)}
    assert all(str(e["file"]).endswith(f"{pkg_id}.PCK") for e in sent), "whole PCKs, no delta"
    assert sorted(p.name for p in lab.site("ZZZ").smspkg.glob(f"{pkg_id}.DLT.*")) == [
        f"{pkg_id}.DLT.2"]
    # The old delta instruction the child's Despooler kept retrying (error 8) ends as old news.
    assert_in_order(log_messages(lab, "P00", "despool.log"), [
        f"~Stored Package {pkg_id}. Stored Package Version = 3",
        f"~Package {pkg_id} version 3 is already stored, discard the received version 2."])
    assert [e["version"] for e in new_events(lab, before, "content_discarded")] == [2]
    assert not list(lab.site("P00").inbox("despoolr.box\\receive").glob("*.SNI"))
    assert_everywhere(lab, pkg_id, source)


@pytest.mark.parametrize("folders", [["same"], ["elsewhere", "same"]],
                         ids=["the-same-folder", "a-new-value-and-straight-back"])
def test_repair_a_finds_nothing_changed_when_the_pck_is_of_that_folder(
        lab: Lab, tmp_path: Path, folders: list[str]) -> None:
    """"Sometimes no new PCK is generated": the path the stored PCK was made from, set again
    (also a new value and straight back in one pass of Distribution Manager, KB834123)."""
    pkg_id, source = installed(lab, tmp_path, 5)
    tokens, before = request_tokens(lab), len(events(lab))
    lines = len(log_messages(lab, "ZZZ", "distmgr.log"))
    for folder in folders:  # "elsewhere" need not exist: it is never read
        console.set_source(lab, pkg_id, source if folder == "same" else tmp_path / folder)
    assert lab.run_until_idle(seed=5).status == "idle"
    messages = log_messages(lab, "ZZZ", "distmgr.log")[lines:]
    assert_in_order(messages, [
        f"Start updating the package {pkg_id}...",
        f"Package {pkg_id} uses the compressed copy of the source directory.",
        f"SourceVersion (1) of package {pkg_id}. SourceVersion in database is 1."])
    assert not [m for m in messages if "compression" in m or m.startswith("Starting to compress")]
    assert query(lab, "ZZZ", "SELECT SourceVersion, Action, UpdateMask FROM SMSPackages") == [
        (1, 0, 0)]
    assert request_tokens(lab) == tokens, "no send request was made anywhere"
    assert not [e for e in events(lab)[before:]
                if e["event"] in ("package_compressed", "content_sent", "package_info_sent")]
    assert_everywhere(lab, pkg_id, source)


@pytest.mark.parametrize("how", ["delete", "rename"])
def test_repair_a_after_losing_the_primarys_pck_forces_a_new_whole_version(
        lab: Lab, tmp_path: Path, how: str) -> None:
    pkg_id, source = installed(lab, tmp_path, 5)
    lose_pck(lab, "ZZZ", pkg_id, how)
    before = len(events(lab))
    console.set_source(lab, pkg_id, source)
    assert lab.run_until_idle(seed=5).status == "idle"
    assert f"Package {pkg_id} doesn't have a compressed copy of the source directory, starting " \
        "the compression." in log_messages(lab, "ZZZ", "distmgr.log")[-40:]
    assert query(lab, "ZZZ", "SELECT SourceVersion FROM SMSPackages") == [(2,)]
    sent = new_events(lab, before, "content_sent")
    assert {(e["to"], e["version"]) for e in sent} == {("P00", 2), ("S01", 2)}
    assert all(str(e["file"]).endswith(f"{pkg_id}.PCK") for e in sent)
    assert not list(lab.site("ZZZ").smspkg.glob(f"{pkg_id}.DLT.*"))
    assert_everywhere(lab, pkg_id, source)


def test_repair_a_to_a_missing_folder_is_taken_then_reported_then_set_back(
        lab: Lab, tmp_path: Path) -> None:
    pkg_id, source = installed(lab, tmp_path, 5)
    missing = tmp_path / "gone" / "source"
    result = CliRunner().invoke(cli, ["package", "set-source", pkg_id, str(missing),
                                      "--lab", str(lab.root)])
    shown = "\\\\MGMT01\\Sources\\gone\\source"
    assert (result.exit_code, result.output) == (
        0, f"Package {pkg_id} now uses {shown} (the folder {missing}).\n")
    tokens, lines = request_tokens(lab), len(log_messages(lab, "ZZZ", "distmgr.log"))
    assert lab.run_until_idle(seed=5).status == "idle"
    assert_in_order(log_messages(lab, "ZZZ", "distmgr.log")[lines:], [
        f"Start updating the package {pkg_id}...",
        f"Package {pkg_id} uses the compressed copy of the source directory.",
        f"~The source for package {pkg_id} has changed or the package source needs to be "
        "refreshed",
        f"~The source directory {shown} doesn't exist or the SMS service cannot access it, "
        "Win32 last error = 3"])
    assert query(lab, "ZZZ", "SELECT MessageID, Severity, ISTR0, ISTR1 FROM StatusMessages "
                             "WHERE MessageID = 2302") == [(2302, "E", "Sample Package", pkg_id)]
    assert query(lab, "ZZZ", "SELECT SourceVersion, Source, StoredPkgSource, Action "
                             "FROM SMSPackages") == [(1, shown, "", 0)]
    assert query(lab, "ZZZ", "SELECT SiteCode, SourceVersion, State FROM "
                             "SMS_PackageStatusDistPointsSummarizer WHERE State != 0") == [
        ("ZZZ", 1, 3)]
    assert request_tokens(lab) == tokens, "nothing was sent"
    before = len(events(lab))
    console.set_source(lab, pkg_id, source)
    assert lab.run_until_idle(seed=5).status == "idle"
    assert query(lab, "ZZZ", "SELECT SourceVersion FROM SMSPackages") == [(2,)]
    sent = new_events(lab, before, "content_sent")
    assert {(e["to"], e["version"]) for e in sent} == {("P00", 2), ("S01", 2)}
    assert all(str(e["file"]).endswith(f"{pkg_id}.PCK") for e in sent)
    assert_everywhere(lab, pkg_id, source)


def test_an_update_while_the_first_send_waits_reaches_every_site(lab: Lab, tmp_path: Path) -> None:
    """Bug hunt: version 1's send went out after the update with version 2's bytes, was
    quarantined at P00, and version 2 came as a delta P00 could never merge."""
    from tests.acceptance.conftest import create, sample

    CliRunner().invoke(cli, ["address", "pause", "ZZZ", "P00", "--lab", str(lab.root)])
    source = sample(tmp_path)
    pkg_id = create(lab, source, dps=["P00:REMOTE_DP", "S01:SEC01"])
    assert lab.run_until_idle(seed=3).status == "waiting"
    (source / "SETUP.INI").write_text("[Setup]\r\nversion 2, a little longer\r\n")
    console.update_package(lab, pkg_id)
    assert lab.run_until_idle(seed=3).status == "waiting"
    CliRunner().invoke(cli, ["address", "resume", "ZZZ", "P00", "--lab", str(lab.root)])

    report = lab.run_until_idle(seed=3)

    assert report.status == "idle", report.lines()
    for site in ("P00", "S01"):
        assert tree_digest(dp_folder(lab, site, pkg_id)) == tree_digest(source), site
    assert any(m.startswith("~Cannot send request 2_001ZZZ: its package file "
                            f"F:\\SMSPKG\\{pkg_id}.PCK has ") and "a newer version replaced it"
               in m for m in log_messages(lab, "ZZZ", "sender.log"))
    assert list(lab.root.glob("*/SMS/inboxes/**/corrupt/*")) == []


def test_deltas_pile_up_behind_a_closed_address(lab: Lab, tmp_path: Path) -> None:
    """Review: a new version went whole whenever the previous one was only SENT; deltas on
    their way never change, so two updates behind a closed address send DLT.2, then DLT.3."""
    pkg_id, source = installed(lab, tmp_path, 3)
    CliRunner().invoke(cli, ["address", "pause", "ZZZ", "P00", "--lab", str(lab.root)])
    for n in (2, 3):
        (source / "SETUP.INI").write_text(f"[Setup]\r\nversion {n}\r\n")
        console.update_package(lab, pkg_id)
        assert lab.run_until_idle(seed=3).status == "waiting"
    CliRunner().invoke(cli, ["address", "resume", "ZZZ", "P00", "--lab", str(lab.root)])
    assert lab.run_until_idle(seed=3).status == "idle"
    sent = [e["file"].rsplit("\\", 1)[1] for e in events(lab, "content_sent")
            if e["to"] == "P00" and e["version"] > 1]
    assert sent == [f"{pkg_id}.DLT.2", f"{pkg_id}.DLT.3"]
    for site in ("P00", "S01"):
        assert tree_digest(dp_folder(lab, site, pkg_id)) == tree_digest(source), site

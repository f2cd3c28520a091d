"""Bug hunt: missing `schedule.box\\UID` tokens and missing folders below a site's inboxes are
waited for or made again, never a reason to quarantine a good file; temp files a killed server
left in `tosend` and `history` are deleted at start (docs/distribution.md, docs/transport.md)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from sitesrv.admin import console
from sitesrv.admin.lab import Lab
from sitesrv.cli.main import cli
from sitesrv.components.uidtokens import SKIPPING_MINIJOB
from sitesrv.runtime.idle import IdleReport
from sitesrv.testing import inbox, log_messages, tree_digest
from tests.acceptance.conftest import create, dp_folder, installed, sample

RESTORE = "a schedule.box\\UID token is missing (sitesrv init --lab LAB restores it)"


def without_tokens(lab: Lab, site: str) -> None:
    for token in inbox(lab, site, "schedule.box\\UID").iterdir():
        token.unlink()


def init_again(lab: Lab) -> None:
    """What the wait line tells the user to run: it restores the tokens and the folders."""
    result = CliRunner().invoke(cli, ["init", "--lab", str(lab.root)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr


def waits(lab: Lab, report: IdleReport) -> list[str]:
    """The wait lines of a run that ended waiting, with nothing failed and nothing quarantined."""
    assert report.status == "waiting", report.lines()
    assert (report.errors, report.problems) == (0, ()), report.lines()
    assert list(lab.root.glob("*/SMS/inboxes/**/corrupt/*")) == []
    return [str(w) for w in report.waits]


def finishes(lab: Lab, source: Path, pkg_id: str) -> None:
    report = lab.run_until_idle(seed=1)
    assert report.status == "idle", report.lines()
    assert list(lab.root.glob("*/SMS/inboxes/**/corrupt/*")) == []
    for site in ("ZZZ", "P00", "S01"):
        assert tree_digest(dp_folder(lab, site, pkg_id)) == tree_digest(source), site


def test_a_child_without_job_id_tokens_waits_then_finishes_after_init(lab: Lab,
                                                                       tmp_path: Path) -> None:
    source = sample(tmp_path)
    pkg_id = create(lab, source)
    without_tokens(lab, "P00")
    lines = waits(lab, lab.run_until_idle(seed=1))
    forward = (f" waits for a job ID to send the compressed files of {pkg_id} to site S01: "
               f"{RESTORE}")
    assert any(w.startswith("P00 SMS_DISTRIBUTION_MANAGER: INCOMING\\") and w.endswith(forward)
               for w in lines), lines
    assert SKIPPING_MINIJOB in log_messages(lab, "P00", "distmgr.log")
    init_again(lab)
    finishes(lab, source, pkg_id)


def test_the_central_site_without_job_id_tokens_keeps_its_notification(lab: Lab,
                                                                         tmp_path: Path) -> None:
    source = sample(tmp_path)
    pkg_id = create(lab, source)
    without_tokens(lab, "ZZZ")
    lines = waits(lab, lab.run_until_idle(seed=1))
    assert (f"ZZZ SMS_DISTRIBUTION_MANAGER: {pkg_id}.PKN waits for a job ID to send the "
            f"compressed files of {pkg_id} to site P00: {RESTORE}") in lines
    init_again(lab)
    finishes(lab, source, pkg_id)


def test_a_pass_without_a_notification_waits_for_the_retry_pass(lab: Lab,
                                                                  tmp_path: Path) -> None:
    # Package actions left set with no notification coming: the pass of start-up.
    source = sample(tmp_path)
    pkg_id = create(lab, source)
    with sqlite3.connect(lab.site("ZZZ").database) as db:
        db.execute("DELETE FROM PkgNotification")
    without_tokens(lab, "ZZZ")
    lines = waits(lab, lab.run_until_idle(seed=1))
    assert (f"ZZZ SMS_DISTRIBUTION_MANAGER: {pkg_id} waits for a job ID to send the compressed "
            f"files of {pkg_id} to site P00: {RESTORE}") in lines
    init_again(lab)
    finishes(lab, source, pkg_id)


def test_a_secondary_whose_inboxes_were_deleted_waits_for_its_tokens(lab: Lab,
                                                                     tmp_path: Path) -> None:
    source = sample(tmp_path)
    pkg_id = create(lab, source)
    shutil.rmtree(lab.root / "S01/SMS/inboxes")
    lines = waits(lab, lab.run_until_idle(seed=1))
    # The batch from ZZZ was applied (its history made again); the one to P00 waits.
    assert (inbox(lab, "S01", "replmgr.box\\history") / "ZZZ.trs").is_file()
    assert inbox(lab, "S01", "schedule.box\\tosend").is_dir()
    assert (f"S01 SMS_REPLICATION_MANAGER: process\\P00_3 waits for a job ID for the batch to "
            f"site P00: {RESTORE}") in lines
    init_again(lab)
    finishes(lab, source, pkg_id)


def test_a_childs_history_and_tosend_folders_are_made_again(lab: Lab, tmp_path: Path) -> None:
    pkg_id, source = installed(lab, tmp_path, 1)
    for box in ("replmgr.box\\history", "schedule.box\\tosend"):
        shutil.rmtree(inbox(lab, "P00", box))
    (source / "SETUP.INI").write_text("[Setup]\r\nversion 2\r\n")
    console.update_package(lab, pkg_id)
    finishes(lab, source, pkg_id)
    assert (inbox(lab, "P00", "replmgr.box\\history") / "ZZZ.trs").is_file()


def test_temp_files_a_killed_server_left_in_tosend_and_history_are_deleted(
        lab: Lab, tmp_path: Path) -> None:
    installed(lab, tmp_path, 1)
    left = [inbox(lab, "P00", "schedule.box\\tosend") / ".00000007.IPT.P00-SMS_SCHEDULER.000003.tmp",
            inbox(lab, "P00", "replmgr.box\\history") /
            ".ZZZ.trs.P00-SMS_REPLICATION_MANAGER.000002.tmp"]
    for path in left:
        path.write_text("x")
    assert lab.run_until_idle(seed=1).status == "idle"
    assert [p for p in left if p.exists()] == []
    assert "Deleted the stale temporary file E:\\SMS\\inboxes\\schedule.box\\tosend\\.00000007.IPT." \
           "P00-SMS_SCHEDULER.000003.tmp" in log_messages(lab, "P00", "sched.log")
    assert "Deleted the stale temporary file E:\\SMS\\inboxes\\replmgr.box\\history\\.ZZZ.trs." \
           "P00-SMS_REPLICATION_MANAGER.000002.tmp" in log_messages(lab, "P00", "replmgr.log")

"""Bug hunt: missing `schedule.box\\UID` tokens and missing folders below a site's inboxes are
waited for or made again, never a reason to quarantine a good file; temp files a killed server
left in `tosend` and `history` are deleted at start (docs/distribution.md, docs/transport.md)."""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitesrv.admin import console
from sitesrv.admin.demo import write_sample_source
from sitesrv.admin.lab import Lab
from sitesrv.cli.main import cli
from sitesrv.components.uidtokens import SKIPPING_MINIJOB
from sitesrv.runtime.idle import IdleReport
from sitesrv.testing import inbox, log_messages, tree_digest
from tests.acceptance.conftest import ALL_DPS, create, dp_folder, installed, sample

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


def no_notification(lab: Lab) -> None:
    """Package actions left set with no notification coming: the pass of start-up."""
    with sqlite3.connect(lab.site("ZZZ").database) as db:
        db.execute("DELETE FROM PkgNotification")
    without_tokens(lab, "ZZZ")


def no_inboxes(lab: Lab) -> None:
    shutil.rmtree(lab.root / "S01/SMS/inboxes")


SENDING = "waits for a job ID to send package ZZZ00001"


@pytest.mark.parametrize("prepare, line", [
    # A child's Distribution Manager keeps the .PKG whose content it forwards.
    (lambda lab: without_tokens(lab, "P00"),
     rf"P00 SMS_DISTRIBUTION_MANAGER: INCOMING\\\w{{8}}\.PKG {SENDING}: "),
    # The central site's keeps its notification, and the pass's actions.
    (lambda lab: without_tokens(lab, "ZZZ"),
     rf"ZZZ SMS_DISTRIBUTION_MANAGER: ZZZ00001\.PKN {SENDING}: "),
    (no_notification, rf"ZZZ SMS_DISTRIBUTION_MANAGER: ZZZ00001 {SENDING}: "),
    # A secondary whose inboxes were deleted: the batch from ZZZ is applied (its history
    # made again); the one to P00 waits.
    (no_inboxes, r"S01 SMS_REPLICATION_MANAGER: process\\P00_3 waits for a job ID for the "
                 r"batch to site P00: "),
], ids=["child", "central", "pass", "secondary"])
def test_without_job_id_tokens_a_site_waits_then_finishes_after_init(
        lab: Lab, tmp_path: Path, prepare: Callable[[Lab], None], line: str) -> None:
    source = sample(tmp_path)
    pkg_id = create(lab, source)
    prepare(lab)
    lines = waits(lab, lab.run_until_idle(seed=1))
    assert any(re.fullmatch(line + re.escape(RESTORE), w) for w in lines), lines
    # Whatever waits says what restores it, or waits for what does (the child's Despooler
    # for the package information the waiting .PKG brings).
    assert all(w.endswith(RESTORE) or " waits for the package information of " in w
               for w in lines), lines
    if prepare is no_inboxes:
        assert (inbox(lab, "S01", "replmgr.box\\history") / "ZZZ.trs").is_file()
        assert inbox(lab, "S01", "schedule.box\\tosend").is_dir()
    else:
        assert SKIPPING_MINIJOB in log_messages(lab, line[:3], "distmgr.log")
    init_again(lab)
    finishes(lab, source, pkg_id)


def test_a_pass_that_would_send_information_first_waits_before_it_sends_anything(
        lab: Lab, tmp_path: Path) -> None:
    """Review: with a DP at S01 only, ZZZ sent P00 the package's information before the
    minijob to S01 was skipped, and again, newly stamped, at every retry: the run never ended."""
    source = sample(tmp_path)
    pkg_id = create(lab, source, dps=["S01:SEC01"])
    without_tokens(lab, "ZZZ")
    lines = waits(lab, lab.run_until_idle(seed=1))
    assert lines == [f"ZZZ SMS_DISTRIBUTION_MANAGER: {pkg_id}.PKN {SENDING}: {RESTORE}"]
    assert not any(m.startswith("Sent package changes to site")
                   for m in log_messages(lab, "ZZZ", "distmgr.log"))
    init_again(lab)
    assert lab.run_until_idle(seed=1).status == "idle"
    assert tree_digest(dp_folder(lab, "S01", pkg_id)) == tree_digest(source)


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


def test_a_pass_that_sends_nothing_below_does_not_wait_for_a_token(
        lab: Lab, tmp_path: Path) -> None:
    """Review: every pass waited for a token, even one with the site's own DPs only, and logged
    Q266195's line though no minijob was skipped."""
    source = sample(tmp_path)
    pkg_id = create(lab, source, dps=["ZZZ:MGMT01"])
    without_tokens(lab, "ZZZ")
    # Only Replication Manager waits, to send the package's information to the child.
    lines = waits(lab, lab.run_until_idle(seed=1))
    assert [w.split(":")[0] for w in lines] == ["ZZZ SMS_REPLICATION_MANAGER"], lines
    assert tree_digest(dp_folder(lab, "ZZZ", pkg_id)) == tree_digest(source)
    assert SKIPPING_MINIJOB not in log_messages(lab, "ZZZ", "distmgr.log")


def request_token(lab: Lab, site: str) -> Path:
    (token,) = inbox(lab, site, "schedule.box\\UID").glob("*.req")
    return token


def test_without_the_request_token_the_scheduler_logs_q320638_waits_then_sends_after_init(
        lab: Lab, tmp_path: Path) -> None:
    """sched.log's own lines (Q320638), not Distribution Manager's (Q266195); every job of ZZZ
    waits for its send request ID, and goes once `sitesrv init` restored the token."""
    source = sample(tmp_path)
    pkg_id = create(lab, source)
    request_token(lab, "ZZZ").unlink()
    lines = waits(lab, lab.run_until_idle(seed=1))
    jobs = [w for w in lines if w.startswith("ZZZ SMS_SCHEDULER: ")]
    assert jobs and all(re.fullmatch(r"ZZZ SMS_SCHEDULER: \w{8}\.job waits for a send request "
                                     r"ID: " + re.escape(RESTORE), w) for w in jobs), lines
    sched = log_messages(lab, "ZZZ", "sched.log")
    skipped = [i for i, m in enumerate(sched)
               if m == "Skipping minijob. Could not retrieve the request ID"]
    assert len(skipped) >= len(jobs)
    assert all(sched[i - 1] == "Need to generate send request for minijob.~" for i in skipped)
    assert not any(m.startswith("Created new send request ID") for m in sched)
    assert SKIPPING_MINIJOB not in sched
    assert list(lab.layout.site("P00").receive.glob("*.SNI")) == []
    init_again(lab)
    finishes(lab, source, pkg_id)
    assert any(m.startswith("Created new send request ID:  ")
               for m in log_messages(lab, "ZZZ", "sched.log"))


def test_a_restored_request_token_skips_the_ids_of_instructions_waiting_at_the_destination(
        lab: Lab, tmp_path: Path) -> None:
    """Review: a token `sitesrv init` put back counted from 1 again, and a new send reused the
    ID of an instruction that still waited in P00's despoolr.box\\receive, writing over it."""
    first_source = sample(tmp_path)
    first = create(lab, first_source)
    assert lab.run_until_idle(seed=1, sites=["ZZZ"]).errors == 0  # P00 does not despool yet
    receive = lab.layout.site("P00").receive
    waiting = {p.name: p.read_bytes() for p in sorted(receive.glob("*.SNI"))}
    assert "2_001ZZZ.SNI" in waiting, sorted(waiting)
    request_token(lab, "ZZZ").unlink()
    init_again(lab)
    assert request_token(lab, "ZZZ").name == "00000001.req"
    second_source = write_sample_source(tmp_path / "second")
    second = console.create_package(lab, "ZZZ", name="Second Package", source=second_source,
                                    dps=ALL_DPS)
    assert lab.run_until_idle(seed=1, sites=["ZZZ"]).errors == 0
    now = {p.name: p.read_bytes() for p in sorted(receive.glob("*.SNI"))}
    assert {name: now.get(name) for name in waiting} == waiting  # none written over
    assert len(now) > len(waiting)
    sched = log_messages(lab, "ZZZ", "sched.log")
    created = [m.split()[-1].rstrip("~") for m in sched
               if m.startswith("Created new send request ID:  ")]
    assert len(created) == len(set(created)), created
    finishes(lab, first_source, first)
    for site in ("ZZZ", "P00", "S01"):
        assert tree_digest(dp_folder(lab, site, second)) == tree_digest(second_source), site

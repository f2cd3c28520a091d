"""`sitesrv fault`: each fault as one command, the SMS lines it causes, and the recovery once it
is lifted (step mode)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sitesrv.admin import console
from sitesrv.admin.lab import Lab
from sitesrv.cli.main import cli
from sitesrv.runtime.lock import LOCK_FILE, Holder, process_start
from sitesrv.testing import (
    assert_in_order,
    events,
    files,
    log_lines,
    log_messages,
    query,
    tree_digest,
    write_source,
)
from tests.acceptance.conftest import create, dp_folder, sample


def fault(lab: Lab, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["fault", *args, "--lab", str(lab.root)])
    assert result.exit_code == 0, result.output
    return result


def recorded(lab: Lab, kind: str) -> dict[str, object]:
    (event,) = [e for e in events(lab, "fault") if e["fault"] == kind]
    trace = CliRunner().invoke(cli, ["trace", str(event["package"]), "--lab", str(lab.root)])
    assert f"fault={kind}" in trace.output, "sitesrv trace shows it"
    return event


def test_a_deleted_pck_leaves_the_delta_nothing_to_merge_on(lab: Lab, tmp_path: Path) -> None:
    source = sample(tmp_path)
    pkg_id = create(lab, source, dps=["ZZZ:MGMT01", "P00:REMOTE_DP"])
    assert lab.run_until_idle(seed=2).status == "idle"
    result = fault(lab, "delete-pck", "P00", pkg_id)
    assert result.output == f"Deleted {lab.site('P00').smspkg / (pkg_id + '.PCK')}.\n"
    assert recorded(lab, "delete")["file"] == f"F:\\SMSPKG\\{pkg_id}.PCK"
    (source / "SETUP.INI").write_bytes(b"[Setup]\r\nProgram=SETUP.EXE /q /v2\r\n")
    console.update_package(lab, pkg_id)
    assert lab.run_until_idle(seed=2).status == "waiting"
    assert f"CCompress::Open: Failed to open F:\\SMSPKG\\{pkg_id} (1)" in \
        log_messages(lab, "P00", "despool.log")


def test_a_corrupt_stored_pck_is_quarantined_at_the_child_until_compressed_again(
        lab: Lab, tmp_path: Path) -> None:
    source = sample(tmp_path)
    pkg_id = create(lab, source, dps=["ZZZ:MGMT01"])
    assert lab.run_until_idle(seed=2).status == "idle"
    pck = lab.site("ZZZ").smspkg / f"{pkg_id}.PCK"
    before = pck.read_bytes()
    fault(lab, "corrupt", "ZZZ", pkg_id)
    after = pck.read_bytes()
    assert sum(a != b for a, b in zip(after, before, strict=True)) == 1
    assert not pck.stat().st_mode & 0o222, "still read-only"
    recorded(lab, "flip")
    console.add_dp(lab, pkg_id, "P00:REMOTE_DP")
    assert lab.run_until_idle(seed=2).status == "waiting"
    assert any(m.startswith("Moved the corrupt file E:\\SMS\\inboxes\\despoolr.box\\receive\\")
               for m in log_messages(lab, "P00", "despool.log"))
    # ZZZ's row says it sent P00 version 1 (Status 1): it sends no copy again by itself, and
    # its copy is the damaged one. A new version, compressed afresh, and the delta-stuck
    # report's repair, so that the whole PCK goes.
    console.update_package(lab, pkg_id)
    resend(lab, pkg_id)
    assert tree_digest(dp_folder(lab, "P00", pkg_id)) == tree_digest(source)


def test_a_pck_cut_short_in_transit_is_quarantined_and_the_sql_repair_resends_it(
        lab: Lab, tmp_path: Path) -> None:
    source = sample(tmp_path)
    pkg_id = create(lab, source, dps=["ZZZ:MGMT01", "P00:REMOTE_DP"])
    assert lab.run_until_idle(seed=2, sites=["ZZZ"]).status in ("idle", "waiting")
    fault(lab, "corrupt", "P00", pkg_id, "--in-transit", "--how", "truncate")
    assert recorded(lab, "truncate")["in_transit"] is True
    assert lab.run_until_idle(seed=2).status == "waiting"
    assert any(m.startswith("Moved the corrupt file ") for m in
               log_messages(lab, "P00", "despool.log"))
    console.refresh_dp(lab, pkg_id, "P00:REMOTE_DP")
    assert lab.run_until_idle(seed=2).status == "waiting", \
        "a refresh alone does not help: ZZZ's row says the copy was sent (Status 1)"
    assert query(lab, "ZZZ", "SELECT Status, SourceVersion FROM PkgStatus WHERE Type = 1 AND "
                             "SiteCode = 'P00'") == [(1, 1)]
    resend(lab, pkg_id)
    assert tree_digest(dp_folder(lab, "P00", pkg_id)) == tree_digest(source)


def resend(lab: Lab, pkg_id: str) -> None:
    """The delta-stuck report's repair at ZZZ, then a refresh: the whole PCK goes to P00."""
    result = CliRunner().invoke(cli, [
        "sql", "ZZZ", "UPDATE PkgStatus SET Status = 2, SourceVersion = 0 WHERE "
        f"(ID = '{pkg_id}') AND (Type = 1) AND (PkgServer = 'MGMT03')", "--lab", str(lab.root)])
    assert result.exit_code == 0, result.output
    console.refresh_dp(lab, pkg_id, "P00:REMOTE_DP")
    assert lab.run_until_idle(seed=2).status == "idle"


def test_a_link_down_holds_the_package_until_it_is_up(lab: Lab, tmp_path: Path) -> None:
    source = sample(tmp_path)
    fault(lab, "link-down", "ZZZ", "P00")
    pkg_id = create(lab, source, dps=["ZZZ:MGMT01", "P00:REMOTE_DP"])
    assert lab.run_until_idle(seed=2).status == "waiting"
    assert not dp_folder(lab, "P00", pkg_id).exists()
    assert [e["fault"] for e in events(lab, "fault")] == ["link down"]
    assert fault(lab, "link-up", "ZZZ", "P00").output == "The link from ZZZ to P00 is up.\n"
    assert lab.run_until_idle(seed=2).status == "idle"
    assert tree_digest(dp_folder(lab, "P00", pkg_id)) == tree_digest(source)
    assert query(lab, "ZZZ", "SELECT * FROM SMS_PackageStatusDistPointsSummarizer "
                             "WHERE State != 0") == []


@pytest.mark.parametrize(("args", "message"), [
    (["delete-pck", "P00", "ZZZ00009"], "Site P00 has no ZZZ00009.PCK in its SMSPKG folder"),
    (["delete-pck", "P00", "nonsense"], "invalid package ID"),
    (["corrupt", "QQQ", "ZZZ00001"], "There is no site 'QQQ'"),
    (["corrupt", "P00", "ZZZ00001", "--in-transit"], "is waiting in site P00's"),
    (["link-down", "ZZZ", "S01"], "There is no address from site ZZZ to site S01"),
    (["corrupt", "P00", "ZZZ00001", "--how", "truncate", "--offset", "3"], "--offset"),
    (["slow-link", "ZZZ", "S01", "--rate", "100"], "There is no address from site ZZZ to site S01"),
    (["link-normal", "QQQ", "P00"], "There is no site 'QQQ'"),
    (["disk-full", "QQQ"], "There is no site 'QQQ'"),
    (["disk-free", "QQQ"], "There is no site 'QQQ'"),
    (["lock", "ZZZ", "--box", "nowhere.box"], "Site ZZZ has no inbox 'nowhere.box'"),
    (["lock", "ZZZ", "--box", "schedule.box\\..\\.."], "Site ZZZ has no inbox"),
    (["lock", "ZZZ", "--pattern", "a/b"], "is not a file name pattern"),
    (["lock", "ZZZ", "--pattern", "a\x00"], "is not a file name pattern"),
    (["lock", "ZZZ", "--box", "."], "Site ZZZ has no inbox '.'"),
    (["lock", "ZZZ", "--box", "schedule.box\\."], "Site ZZZ has no inbox"),
    (["unlock", "QQQ"], "There is no site 'QQQ'"),
    (["deny-dp-folders", "P00:NOWHERE"], "Site P00 has no distribution point on server NOWHERE"),
    (["allow-dp-folders", "P00"], "does not name a distribution point"),
    (["kill", "ZZZ"], "Site ZZZ's server is not running"),
    (["kill", "QQQ"], "There is no site 'QQQ'"),
])
def test_mistakes_exit_2_with_one_paragraph(lab: Lab, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["fault", *args, "--lab", str(lab.root)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("sitesrv: ") and message in result.stderr
    assert result.stderr.count("\n") == 1
    assert events(lab, "fault") == [], "nothing recorded"


def test_truncated_at_rest_at_a_secondary_and_a_link_taken_down_twice(
        lab: Lab, tmp_path: Path) -> None:
    source = sample(tmp_path)
    pkg_id = create(lab, source)
    assert lab.run_until_idle(seed=2).status == "idle"
    pck = lab.site("S01").smspkg / f"{pkg_id}.PCK"
    size = pck.stat().st_size
    fault(lab, "corrupt", "S01", pkg_id, "--how", "truncate")
    assert pck.stat().st_size == size // 2
    assert recorded(lab, "truncate")["site"] == "S01"
    fault(lab, "link-down", "P00", "S01")
    assert fault(lab, "link-down", "P00", "S01").output == "The link from P00 to S01 is already " \
        "down.\n"
    assert [e["fault"] for e in events(lab, "fault")] == ["truncate", "link down"], \
        "a link already down is no new fault"
    trace = CliRunner().invoke(cli, ["trace", pkg_id, "--lab", str(lab.root)])
    assert "fault=link down  to=S01" in trace.output, "a link fault shows for every package"


TAKING = 0.5  # lab seconds at most to take a file: the lab profile's file_notice and
# instruction_cost with their jitter


def send_seconds(lab: Lab, pkg_id: str, to: str) -> list[float]:
    """The lab seconds each send of the package's compressed files to `to` took, from the
    Sender's `Found send request` line (the connection, before the address's latency) to the
    send's end."""
    found = {line.text.split()[4].rstrip(","): line.lab_time
             for line in log_lines(lab, "ZZZ", "sender.log")
             if line.text.startswith("Found send request.  ID: ")}
    started = [e for e in events(lab, "send_started", to=to) if e.get("package") == pkg_id]
    finished = {e["request"]: e for e in events(lab, "send_finished", to=to)}
    return [round(lab_datetime(finished[e["request"]]["time"]).timestamp()
                  - found[e["request"]], 3) for e in started]


def lab_datetime(text: object) -> datetime:
    return datetime.fromisoformat(str(text))


def writes(lab: Lab, site: str) -> list[int]:
    """The sizes of the Sender's writes to a remote package file (`~Wrote N bytes to ...`)."""
    return [int(m.split()[1]) for m in log_messages(lab, site, "sender.log")
            if m.startswith("~Wrote ")]


def test_a_slow_link_sends_at_its_rate_in_its_window_and_at_the_normal_rate_after(
        lab: Lab, tmp_path: Path) -> None:
    source = sample(tmp_path)
    result = fault(lab, "slow-link", "ZZZ", "P00", "--rate", "200000", "--latency", "2",
                   "--for", "5")
    assert result.output == ("The link from ZZZ to P00 sends at 200000 bytes per second until "
                             "2007-06-04T09:00:05.000Z (lab time).\n")
    (event,) = events(lab, "fault")
    assert (event["fault"], event["to"], event["rate_limit"], event["latency"], event["until"]) \
        == ("slow link", "P00", 200000, 2, "2007-06-04T09:00:05.000Z")
    pkg_id = create(lab, source, dps=["ZZZ:MGMT01", "P00:REMOTE_DP"])
    assert lab.run_until_idle(seed=2).status == "idle"
    size = (lab.site("ZZZ").smspkg / f"{pkg_id}.PCK").stat().st_size
    (slow,) = send_seconds(lab, pkg_id, "P00")
    # The latency, then 200,000 bytes a second (the last write starts at its due time); the
    # send's time runs from when the Sender took the request, up to TAKING before its line.
    assert slow >= 2 + (size - size % 50000) / 200000 - TAKING
    assert writes(lab, "ZZZ").count(50000) == size // 50000, "a quarter second's bytes each"
    assert tree_digest(dp_folder(lab, "P00", pkg_id)) == tree_digest(source)
    # The window is over: the next version goes at the address's own (unlimited) rate.
    (source / "SETUP.INI").write_bytes(b"[Setup]\r\nProgram=SETUP.EXE /q /v2\r\n")
    console.update_package(lab, pkg_id)
    assert lab.run_until_idle(seed=2).status == "idle"
    (fast,) = send_seconds(lab, pkg_id, "P00")[1:]
    assert fast < slow / 10, "the address's own rate: the LAN's, no limit"
    assert writes(lab, "ZZZ").count(50000) == size // 50000, "the delta in one write"
    assert tree_digest(dp_folder(lab, "P00", pkg_id)) == tree_digest(source)


def test_a_slow_link_without_a_window_lasts_until_link_normal(lab: Lab, tmp_path: Path) -> None:
    source = sample(tmp_path)
    fault(lab, "slow-link", "ZZZ", "P00", "--rate", "50000")
    pkg_id = create(lab, source, dps=["ZZZ:MGMT01", "P00:REMOTE_DP"])
    assert lab.run_until_idle(seed=2).status == "idle"
    size = (lab.site("ZZZ").smspkg / f"{pkg_id}.PCK").stat().st_size
    assert send_seconds(lab, pkg_id, "P00")[0] >= (size - size % 12500) / 50000 - TAKING
    assert fault(lab, "link-normal", "ZZZ", "P00").output == \
        "The link from ZZZ to P00 sends at its rate from hierarchy.yaml.\n"
    assert fault(lab, "link-normal", "ZZZ", "P00").output == \
        "The link from ZZZ to P00 already sends at its rate from hierarchy.yaml.\n"
    assert [e["fault"] for e in events(lab, "fault")] == ["slow link", "link normal"]
    console.refresh_dp(lab, pkg_id, "P00:REMOTE_DP")
    resend(lab, pkg_id)
    slow, fast = send_seconds(lab, pkg_id, "P00")
    assert fast < slow / 10, "the whole PCK again, at the LAN's rate"
    assert tree_digest(dp_folder(lab, "P00", pkg_id)) == tree_digest(source)


def test_a_full_drive_at_the_child_fails_the_sends_with_error_112_until_it_is_freed(
        lab: Lab, tmp_path: Path) -> None:
    source = sample(tmp_path)
    assert fault(lab, "disk-full", "P00").output == \
        "Site P00's package drive is full: 0 more bytes fit.\n"
    pkg_id = create(lab, source, dps=["ZZZ:MGMT01", "P00:REMOTE_DP"])
    # The Sender retries, and so does the Scheduler, for ever: retries are no progress, so the
    # run ends waiting (it ran out its step budget, exit 4, before: a bug hunt found it).
    report = lab.run_until_idle(seed=2, max_steps=3000)
    assert report.status == "waiting"
    assert any("site P00 is on the busy list" in line for line in report.lines())
    assert_in_order(log_messages(lab, "ZZZ", "sender.log"), [
        "Cannot create/open the remote file \\\\MGMT03\\SMS_SITE\\2_001ZZZ.PCK, Win32 error = "
        "112.",
        "Operation is retryable.",
        "Will retry send request 2_001ZZZ at 06-04-2007 04:00:04.537+300 (retry 1 of 2)."])
    # The run may stop between a create and its first write: an empty file may be there, never
    # a partial one.
    assert [p.stat().st_size for p in lab.site("P00").receive.glob("*") if p.is_file()] \
        in ([], [0]), "no partial file left behind"
    assert not dp_folder(lab, "P00", pkg_id).exists()
    assert fault(lab, "disk-free", "P00").output == "Site P00's package drive has space.\n"
    assert [e["fault"] for e in events(lab, "fault")] == ["disk full", "disk free"]
    assert lab.run_until_idle(seed=2).status == "idle"
    assert tree_digest(dp_folder(lab, "P00", pkg_id)) == tree_digest(source)
    assert query(lab, "ZZZ", "SELECT * FROM SMS_PackageStatusDistPointsSummarizer "
                             "WHERE State != 0") == []


def test_a_full_drive_at_the_source_fails_compression_with_2302_and_it_is_retried(
        lab: Lab, tmp_path: Path) -> None:
    source = sample(tmp_path)
    fault(lab, "disk-full", "ZZZ", "--free", "1000")
    pkg_id = create(lab, source, dps=["ZZZ:MGMT01", "P00:REMOTE_DP"])
    # compression failing at every retry pass: retries are no progress, so the run ends waiting (it
    # ran out its step budget before, exit 4: a bug hunt found it)
    assert lab.run_until_idle(seed=2, max_steps=3000).status == "waiting"
    messages = log_messages(lab, "ZZZ", "distmgr.log")
    assert_in_order(messages, [
        f"Package {pkg_id} doesn't have a compressed copy of the source directory, starting the "
        "compression.",
        "Cannot write to output file, Win32 Error = 112",
        f"~Failed to compress package {pkg_id}, will retry later.",
        f"Start adding package {pkg_id}...",  # the retry pass takes it again
        "Cannot write to output file, Win32 Error = 112"])
    assert query(lab, "ZZZ", "SELECT DISTINCT MessageID, Severity, ISTR0, ISTR1 FROM "
                             "StatusMessages WHERE MessageID = 2302") == \
        [(2302, "E", "Sample Package", pkg_id)]
    assert files(lab.site("ZZZ").smspkg) == [], "no PCK"
    assert files(lab.site("ZZZ").root, "_S *") == [], "the compression temp went with the write"
    fault(lab, "disk-free", "ZZZ")
    assert lab.run_until_idle(seed=2).status == "idle"
    for site in ("ZZZ", "P00"):
        assert tree_digest(dp_folder(lab, site, pkg_id)) == tree_digest(source)


def test_a_full_drive_fails_a_dp_copy_with_2328_until_it_is_freed(
        lab: Lab, tmp_path: Path) -> None:
    source = sample(tmp_path)
    pkg_id = create(lab, source, dps=["ZZZ:MGMT01"])
    assert lab.run_until_idle(seed=2).status == "idle"
    room = (lab.site("ZZZ").smspkg / f"{pkg_id}.PCK").stat().st_size + 100_000
    fault(lab, "disk-full", "P00", "--free", str(room))  # for the PCK, not for the copy
    console.add_dp(lab, pkg_id, "P00:REMOTE_DP")
    assert lab.run_until_idle(seed=2, max_steps=300).status != "idle"
    assert_in_order(log_messages(lab, "P00", "distmgr.log"), [
        f"Decompressing package F:\\SMSPKG\\{pkg_id}.PCK to F:\\_S qCBqU.TMP",
        f"Failed to copy package {pkg_id} to MSWNET:[\"SMS_SITE=P00\"]\\\\REMOTE_DP\\smsapps\\"
        "SMSPKG\\: Win32 Error = 112"])
    assert not dp_folder(lab, "P00", pkg_id).exists(), "the DP keeps what it had"
    assert query(lab, "P00", "SELECT DISTINCT MessageID FROM StatusMessages WHERE "
                             "MessageID = 2328") == [(2328,)]
    fault(lab, "disk-free", "P00")
    assert lab.run_until_idle(seed=2).status == "idle"
    assert tree_digest(dp_folder(lab, "P00", pkg_id)) == tree_digest(source)


HELD_OPEN = ("Error 32: The process cannot access the file because it is being used by another "
             "process.")


def test_send_requests_held_open_by_a_scanner_wait_and_go_once_it_lets_go(
        lab: Lab, tmp_path: Path) -> None:
    source = sample(tmp_path)
    assert fault(lab, "lock", "ZZZ", "--pattern", "*.SRQ").output == \
        "Files *.SRQ in site ZZZ's schedule.box are held open.\n"
    pkg_id = create(lab, source, dps=["ZZZ:MGMT01", "P00:REMOTE_DP"])
    # a claim of a held file retried: retries are no progress, so the run ends waiting (it
    # ran out its step budget before, exit 4: a bug hunt found it)
    assert lab.run_until_idle(seed=2, max_steps=3000).status == "waiting"
    assert_in_order(log_messages(lab, "ZZZ", "sender.log"), [
        HELD_OPEN,
        "Cannot move E:\\SMS\\inboxes\\schedule.box\\outboxes\\LAN\\2_001ZZZ.srq, will retry in "
        "5 seconds.",
        HELD_OPEN])
    assert not dp_folder(lab, "P00", pkg_id).exists()
    assert fault(lab, "unlock", "ZZZ").output == "No file in site ZZZ's inboxes is held open.\n"
    assert [e["fault"] for e in events(lab, "fault")] == ["lock", "unlock"]
    assert lab.run_until_idle(seed=2).status == "idle"
    assert tree_digest(dp_folder(lab, "P00", pkg_id)) == tree_digest(source)
    assert files(lab.site("ZZZ").inbox("schedule.box\\outboxes\\LAN\\corrupt")) == []


def test_a_locked_schedule_box_is_retried_never_quarantined(lab: Lab, tmp_path: Path) -> None:
    source = sample(tmp_path)
    fault(lab, "lock", "ZZZ")  # every file: the job counters in schedule.box\UID too
    pkg_id = create(lab, source, dps=["ZZZ:MGMT01", "P00:REMOTE_DP"])
    # the job counter held: each retry of the package: retries are no progress, so the run ends waiting (it
    # ran out its step budget before, exit 4: a bug hunt found it)
    assert lab.run_until_idle(seed=2, max_steps=3000).status == "waiting"
    assert_in_order(log_messages(lab, "ZZZ", "distmgr.log"), [
        f"Sending a copy of package {pkg_id} to site P00",
        f"{HELD_OPEN} (E:\\SMS\\inboxes\\schedule.box\\UID\\00000001.job)",
        f"~E:\\SMS\\inboxes\\distmgr.box\\{pkg_id}.PKN is retried in 5 seconds.",
        f"{HELD_OPEN} (E:\\SMS\\inboxes\\schedule.box\\UID\\00000001.job)",
        f"~E:\\SMS\\inboxes\\distmgr.box\\{pkg_id}.PKN is retried in 10 seconds."])
    assert events(lab, "drive_fault")[0]["win32"] == 32
    fault(lab, "unlock", "ZZZ")
    assert lab.run_until_idle(seed=2).status == "idle"
    for site in ("ZZZ", "P00"):
        assert tree_digest(dp_folder(lab, site, pkg_id)) == tree_digest(source)
    assert files(lab.site("ZZZ").inbox("distmgr.box\\corrupt")) == []
    assert query(lab, "ZZZ", "SELECT * FROM SMS_PackageStatusDistPointsSummarizer "
                             "WHERE State != 0") == []


def test_a_locked_receive_at_the_destination_ends_waiting_and_sends_after_unlock(
        lab: Lab, tmp_path: Path) -> None:
    """Bug hunt: the Sender wrote the whole PCK at every retry, and only its rename met the
    lock, so each retry was progress and the run never ended; its log said the remote file was
    created, then that it could not be."""
    source = sample(tmp_path)
    fault(lab, "lock", "P00", "--box", "despoolr.box\\receive")
    pkg_id = create(lab, source, dps=["P00:REMOTE_DP"])
    assert lab.run_until_idle(seed=2, max_steps=3000).status == "waiting"
    sender = log_messages(lab, "ZZZ", "sender.log")
    remote = "\\\\MGMT03\\SMS_SITE\\2_001ZZZ.PCK"
    assert_in_order(sender, [f"~Attempt to create/open the remote file {remote}",
                             f"Cannot create/open the remote file {remote}, Win32 error = 32.",
                             "Operation is retryable."])
    assert not any(m.startswith("~Wrote ") for m in sender), "no byte crosses a held file"
    fault(lab, "unlock", "P00")
    assert lab.run_until_idle(seed=2).status == "idle"
    assert tree_digest(dp_folder(lab, "P00", pkg_id)) == tree_digest(source)


@pytest.mark.parametrize("args", [
    ["slow-link", "ZZZ", "P00", "--rate", "0"],
    ["slow-link", "ZZZ", "P00", "--rate", "fast"],
    ["slow-link", "ZZZ", "P00"],
    ["slow-link", "ZZZ", "P00", "--rate", "100", "--for", "0"],
    ["slow-link", "ZZZ", "P00", "--rate", "100", "--latency", "-1"],
    ["disk-full", "P00", "--free", "-5"],
    ["disk-full", "P00", "--free", str(2**63)],
    ["slow-link", "ZZZ", "P00", "--rate", "100", "--for", "inf"],
    ["slow-link", "ZZZ", "P00", "--rate", "100", "--for", "1e20"],
    ["slow-link", "ZZZ", "P00", "--rate", "100", "--latency", "inf"],
    ["slow-link", "ZZZ", "P00", "--rate", "100", "--latency", "86401"],
])
def test_bad_numbers_exit_2_and_record_nothing(lab: Lab, args: list[str]) -> None:
    result = CliRunner().invoke(cli, ["fault", *args, "--lab", str(lab.root)])
    assert result.exit_code == 2, result.output
    assert "Invalid value" in result.stderr or "Missing option" in result.stderr
    assert events(lab, "fault") == []
    assert not (lab.site("ZZZ").state_dir / "slow_links.json").exists()
    assert not (lab.site("P00").state_dir / "disk_quota.json").exists()


@pytest.mark.parametrize(("option", "message"), [
    ("--for", "A window of nan lab seconds is not one a link can be slowed for"),
    ("--latency", "A latency of nan seconds is not a wait a send ends after"),
])
def test_a_slow_link_of_no_number_exits_2_and_writes_nothing(lab: Lab, option: str,
                                                            message: str) -> None:
    result = CliRunner().invoke(cli, ["fault", "slow-link", "ZZZ", "P00", "--rate", "100",
                                      option, "nan", "--lab", str(lab.root)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("sitesrv: ") and message in result.stderr
    assert events(lab, "fault") == []
    assert not (lab.site("ZZZ").state_dir / "slow_links.json").exists()


def test_denied_dp_folders_fail_a_nested_package_until_they_are_allowed(
        lab: Lab, tmp_path: Path) -> None:
    source = write_source(tmp_path / "nested", {"A.TXT": b"a\r\n", "SUB/B.TXT": b"b\r\n"})
    assert fault(lab, "deny-dp-folders", "P00:REMOTE_DP").output == \
        "Folders below a package's own on P00:REMOTE_DP are denied.\n"
    assert fault(lab, "deny-dp-folders", "P00:REMOTE_DP").output == \
        "Folders below a package's own on P00:REMOTE_DP are already denied.\n"
    (event,) = events(lab, "fault")
    assert (event["fault"], event["site"], event["dp"]) == (
        "deny dp folders", "P00", 'MSWNET:["SMS_SITE=P00"]\\\\REMOTE_DP\\smsapps\\SMSPKG\\')
    pkg_id = create(lab, source, dps=["ZZZ:MGMT01", "P00:REMOTE_DP"])
    assert lab.run_until_idle(seed=2, horizon=10).status == "waiting"
    assert_in_order(log_messages(lab, "P00", "distmgr.log"), [
        f"Failed to create the directory \\\\REMOTE_DP\\smsapps\\SMSPKG\\{pkg_id}\\SUB, Win32 "
        "Error = 5",
        f"Failed to copy package {pkg_id} to MSWNET:[\"SMS_SITE=P00\"]\\\\REMOTE_DP\\smsapps\\"
        "SMSPKG\\: Win32 Error = 5"])
    fault(lab, "allow-dp-folders", "P00:REMOTE_DP")
    assert [e["fault"] for e in events(lab, "fault")] == ["deny dp folders", "allow dp folders"]
    assert lab.run_until_idle(seed=2).status == "idle", "the retry pass copies it"
    assert tree_digest(dp_folder(lab, "P00", pkg_id)) == tree_digest(source)
    assert query(lab, "ZZZ", "SELECT * FROM SMS_PackageStatusDistPointsSummarizer "
                             "WHERE State != 0") == []


def test_a_dp_that_failed_its_retries_is_copied_after_the_fault_and_a_refresh(
        lab: Lab, tmp_path: Path) -> None:
    """faults.md: a step run without a horizon spends every retry; the DP is FAILED (2302), a
    run after allow-dp-folders alone leaves it so, a refresh copies it."""
    source = write_source(tmp_path / "nested", {"A.TXT": b"a\r\n", "SUB/B.TXT": b"b\r\n"})
    fault(lab, "deny-dp-folders", "P00:REMOTE_DP")
    pkg_id = create(lab, source, dps=["P00:REMOTE_DP"])
    assert lab.run_until_idle(seed=2).status == "idle"
    assert any("ID=2302 " in m for m in log_messages(lab, "P00", "distmgr.log"))
    state = ("SELECT State FROM SMS_PackageStatusDistPointsSummarizer WHERE SiteCode = 'P00'")
    assert query(lab, "ZZZ", state) == [(3,)]
    fault(lab, "allow-dp-folders", "P00:REMOTE_DP")
    assert lab.run_until_idle(seed=2).status == "idle"
    assert query(lab, "ZZZ", state) == [(3,)], "given up on: no retry pass copies it"
    console.refresh_dp(lab, pkg_id, "P00:REMOTE_DP")
    assert lab.run_until_idle(seed=2).status == "idle"
    assert tree_digest(dp_folder(lab, "P00", pkg_id)) == tree_digest(source)
    assert query(lab, "ZZZ", state) == [(0,)]


def test_a_full_drive_at_the_child_holds_the_delta_merge_until_it_is_freed(
        lab: Lab, tmp_path: Path) -> None:
    source = sample(tmp_path)
    pkg_id = create(lab, source, dps=["ZZZ:MGMT01", "P00:REMOTE_DP"])
    assert lab.run_until_idle(seed=2).status == "idle"
    fault(lab, "disk-full", "P00", "--free", "50000")  # room for the delta, not for the merge
    (source / "SETUP.INI").write_bytes(b"[Setup]\r\nProgram=SETUP.EXE /q /v2\r\n")
    console.update_package(lab, pkg_id)
    assert lab.run_until_idle(seed=2, max_steps=200).status == "waiting"
    messages = log_messages(lab, "P00", "despool.log")
    full = ("Error 112: There is not enough space on the disk. "
            f"(F:\\SMSPKG\\{pkg_id}.PCK.sitesrv-tmp)")
    assert_in_order(messages, [
        f"Received package {pkg_id} version 2", full,
        "~E:\\SMS\\inboxes\\despoolr.box\\receive\\2_004ZZZ.SNI is retried in 5 seconds.",
        full,
        "~E:\\SMS\\inboxes\\despoolr.box\\receive\\2_004ZZZ.SNI is retried in 10 seconds."])
    assert events(lab, "drive_fault", site="P00")[0]["win32"] == 112
    assert files(lab.site("P00").receive / "corrupt") == [], "retried, never quarantined"
    fault(lab, "disk-free", "P00")
    assert lab.run_until_idle(seed=2).status == "idle"
    assert tree_digest(dp_folder(lab, "P00", pkg_id)) == tree_digest(source)


def hold_lock(lab: Lab, site: str, pid: int, ticks: int | None) -> None:
    """Write the site's server lock as a server with `pid` (started at `ticks`) would."""
    lock = lab.site(site).state_dir / LOCK_FILE
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(Holder(pid, socket.gethostname(), "2025-06-02T14:03:11Z", "0" * 16,
                           ticks).to_json())


@pytest.fixture
def sleeper() -> object:
    """A process that is not a site server."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    yield process
    process.kill()
    process.wait()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="no /proc to tell a process by")
@pytest.mark.parametrize("whose", ["parent", "sleeper", "sleeper, an old lock"])
def test_kill_refuses_a_process_the_lock_does_not_show_to_be_its_holder(
        lab: Lab, sleeper: subprocess.Popen[bytes], whose: str) -> None:
    pid = os.getppid() if whose == "parent" else sleeper.pid
    # The lock's holder started at another time: its pid has been given to this process since;
    # an old lock does not say when its holder started.
    ticks = None if whose.endswith("old lock") else process_start(pid) + 1  # type: ignore[operator]
    hold_lock(lab, "ZZZ", pid, ticks)
    result = CliRunner().invoke(cli, ["fault", "kill", "ZZZ", "--lab", str(lab.root)])
    assert result.exit_code == 2, result.output
    # A recorded start that is not the pid's: no holder, so no server is running; an old lock
    # without one: a holder that cannot be shown to be the server.
    refusal = (f"Process {pid}, named by " if whose.endswith("old lock")
               else "Site ZZZ's server is not running")
    assert refusal in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1
    assert sleeper.poll() is None and process_start(pid) is not None, "both still run"
    assert events(lab, "fault") == []


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="no /proc to tell a process by")
def test_kill_of_another_users_server_exits_2(lab: Lab, sleeper: subprocess.Popen[bytes],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    hold_lock(lab, "ZZZ", sleeper.pid, process_start(sleeper.pid))

    def refused(pid: int, signal: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "kill", refused)
    result = CliRunner().invoke(cli, ["fault", "kill", "ZZZ", "--lab", str(lab.root)])
    monkeypatch.undo()
    assert result.exit_code == 2, result.output
    assert "belongs to another user" in result.stderr
    assert sleeper.poll() is None


def test_a_site_with_no_address_to_its_parent_ends_the_run_waiting(tmp_path: Path) -> None:
    """Bug hunt: each 3400 about the missing address was itself sent up, through a new job that
    failed the same way, so a step run never ended (exit 4 at its budget). Reports and their
    transport are no progress now."""
    from tests.acceptance.conftest import lab_from
    from tests.conftest import DEFAULT_HIERARCHY

    text = "".join(line for line in DEFAULT_HIERARCHY.read_text().splitlines(keepends=True)
                   if "from: S01, to: P00" not in line)
    lab = lab_from(tmp_path, text)
    create(lab, sample(tmp_path), dps=["S01:SEC01"])
    report = lab.run_until_idle(seed=2, max_steps=20_000)
    assert report.status == "waiting", report.lines()
    assert any(line.startswith("S01 SMS_SCHEDULER: ") and
               line.endswith(" waits for an address to site P00") for line in report.lines())

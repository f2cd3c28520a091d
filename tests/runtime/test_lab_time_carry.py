"""Lab time never goes backwards between runs: a killed live run's time is kept (its periodic
save, its last event), and a console action during a live run stamps the running time."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sitesrv.admin.faults import slow_link
from sitesrv.admin.lab import Lab
from sitesrv.lab.clock import CLOCK_FILE, VIRTUAL_EPOCH, lab_start, lab_time_text
from sitesrv.runtime.idle import ExitCode
from sitesrv.runtime.step import run_until_idle
from sitesrv.testing import LabFactory, drop, events, inbox, running, wait_for
from tests.runtime.test_lock import dead_pid, write_lock
from tests.runtime.toy import OUTBOX, REGISTRY, instruction


def clock_file(lab: Path, site: str) -> Path:
    return lab / site / "SMS" / "state" / CLOCK_FILE


def test_a_killed_live_runs_saved_time_and_last_event_are_where_the_next_run_starts(
        lab: Path) -> None:
    # What a live run killed mid-run leaves: its last periodic save (lab time, wall time) and
    # events stamped after it.
    saved = VIRTUAL_EPOCH + 3600.0
    for site in ("CEN", "SEC"):
        clock_file(lab, site).parent.mkdir(parents=True, exist_ok=True)
        clock_file(lab, site).write_text(f"{saved!r} {time.time()!r}\n")
    with (lab / "events.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps({"time": lab_time_text(saved + 0.75), "event": "file_claimed",
                            "site": "CEN", "component": "SMS_X"}) + "\n")
        f.write('{"time": "2007-06-04T1')  # torn by the kill
    sites = Lab.open(lab).layout.sites()
    assert lab_start(sites) == pytest.approx(saved + 0.75, abs=0.001)
    report = run_until_idle(lab, components=REGISTRY)
    assert report.exit_code == ExitCode.IDLE
    assert report.lab_time >= saved + 0.7495


def test_a_step_run_stamps_a_lock_takeover_at_the_labs_time(lab: Path) -> None:
    drop(inbox(lab, "CEN", OUTBOX), "W.SRQ", instruction("W", needs="NEVER"))
    first = run_until_idle(lab, components=REGISTRY, horizon=30)
    assert first.lab_time > VIRTUAL_EPOCH
    write_lock(lab, "SEC", dead_pid(), datetime.now(UTC))
    run_until_idle(lab, components=REGISTRY)
    (event,) = events(lab, "server_lock_taken_over")
    assert event["time"] == lab_time_text(first.lab_time)


def test_the_lab_time_during_a_live_run_is_its_running_time(lab: Path) -> None:
    """A console action while a live run holds the lab: the run's last save moved on by the
    wall time since (times the clock rate, 1 here); not a dead run's save, nor after it."""
    saved, wall = VIRTUAL_EPOCH + 3600.0, time.time()
    for site in ("CEN", "SEC"):
        clock_file(lab, site).write_text(f"{saved!r} {wall - 5.0!r}\n")
    started = datetime.fromtimestamp(wall - 10.0, UTC)
    write_lock(lab, "CEN", os.getpid(), started)  # a live run of this process holds CEN
    assert Lab.open(lab).time() >= saved + 5.0
    write_lock(lab, "CEN", dead_pid(), started)  # killed: its save is where the lab is
    assert Lab.open(lab).time() == saved
    write_lock(lab, "CEN", os.getpid(), datetime.fromtimestamp(wall, UTC))
    assert Lab.open(lab).time() == saved, "a save from before the run that holds the lab"
    write_lock(lab, "CEN", os.getpid(), datetime.fromtimestamp(wall - 5.0, UTC))
    assert Lab.open(lab).time() == saved, "a save in the second the run started: maybe a dead one"


def test_a_stale_save_or_a_lock_whose_pid_was_given_again_moves_no_time_on(lab: Path) -> None:
    """A day-old save under a lock naming a live pid, and a lock whose recorded start is not
    its pid's: a dead run's time, where the lab is, not moved on by the wall time since."""
    saved, wall = VIRTUAL_EPOCH + 3600.0, time.time()
    for site in ("CEN", "SEC"):
        clock_file(lab, site).write_text(f"{saved!r} {wall - 86_400.0!r}\n")
    write_lock(lab, "CEN", os.getpid(), datetime.fromtimestamp(wall - 90_000.0, UTC))
    assert Lab.open(lab).time() == saved, "a save older than a live run's is a dead run's"
    for site in ("CEN", "SEC"):
        clock_file(lab, site).write_text(f"{saved!r} {wall - 1.0!r}\n")
    lock = write_lock(lab, "CEN", os.getpid(), datetime.fromtimestamp(wall - 10.0, UTC))
    held = json.loads(lock.read_text())
    lock.write_text(json.dumps({**held, "ticks": 1}))  # this pid, another process's start
    assert Lab.open(lab).time() == saved


@pytest.mark.live_fs
def test_a_live_run_saves_its_lab_time_while_it_runs(lab: Path) -> None:
    before = lab_start(Lab.open(lab).layout.sites())

    def saved_running() -> list[float] | None:
        numbers = [float(n) for n in clock_file(lab, "SEC").read_text().split()] \
            if clock_file(lab, "SEC").exists() else []
        return numbers if len(numbers) == 2 and numbers[0] > before else None

    with running(lab, components=REGISTRY):
        wait_for(saved_running, what="the running lab time saved with its wall time",
                 timeout=10)
        assert Lab.open(lab).time() > before
    assert len(clock_file(lab, "SEC").read_text().split()) == 1, "the end: the time only"



def test_a_slow_link_window_during_a_live_run_counts_from_the_running_time(
        sitesrv_lab_factory: LabFactory, default_hierarchy_text: str) -> None:
    lab = sitesrv_lab_factory(default_hierarchy_text)
    saved, wall = VIRTUAL_EPOCH + 3600.0, time.time()
    clock_file(lab.root, "ZZZ").write_text(f"{saved!r} {wall - 5.0!r}\n")
    write_lock(lab.root, "ZZZ", os.getpid(), datetime.fromtimestamp(wall - 10.0, UTC))
    slow = slow_link(lab, "ZZZ", "P00", rate=1000, seconds=60.0)
    assert slow.until is not None and slow.until >= saved + 65.0
    (event,) = [e for e in events(lab.root, "fault") if e["fault"] == "slow link"]
    assert event["time"] >= lab_time_text(saved + 5.0)


def test_a_live_run_reports_the_lab_time_it_saved(lab: Path) -> None:
    """The report said a few milliseconds later than the `lab-clock` saved, so the next run
    seemed to start before the last one ended (a bug hunt found it)."""
    from sitesrv.lab.clock import saved_lab_time
    from sitesrv.runtime.live import LiveDriver

    drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
    report = LiveDriver(lab, components=REGISTRY).run(until_idle=True, timeout=60)
    assert report is not None and report.exit_code == ExitCode.IDLE
    assert report.lab_time == saved_lab_time(Lab.open(lab).layout.sites())

"""`sitesrv run --processes per-site`: a live site server process per site, one supervisor.

Real processes on real folders (spawned, as on Windows); waits have deadlines.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from sitesrv.errors import UserError
from sitesrv.events import read_events
from sitesrv.runtime.idle import ExitCode
from sitesrv.runtime.live import LiveDriver
from sitesrv.runtime.lock import LOCK_FILE
from sitesrv.runtime.siteprocs import ServerProcessError, SiteProcesses
from tests.runtime.conftest import drop, inbox, make_lab
from tests.runtime.toy import (
    DYING_STATUS,
    INSTALLED,
    OUTBOX,
    REGISTRY,
    installed_items,
    instruction,
)

pytestmark = pytest.mark.live_fs

TOYS = "tests.runtime.toy:REGISTRY"


def supervisor(lab: Path, components: str = TOYS, **options: object) -> SiteProcesses:
    return SiteProcesses(lab, components=components, watcher="inotify", workers=2,
                         **options)  # type: ignore[arg-type]


def locks(lab: Path) -> list[Path]:
    return sorted(lab.glob(f"*/SMS/state/{LOCK_FILE}"))


@pytest.mark.parametrize("start_method", ["fork", "spawn"] if sys.platform.startswith("linux")
                         else ["spawn"])
def test_each_site_runs_in_its_own_process_and_files_cross_between_them(
        tmp_path: Path, start_method: str) -> None:
    lab = make_lab(tmp_path / "lab")
    drop(lab, "CEN", OUTBOX, "A.SRQ", instruction("A"))
    drop(lab, "CEN", OUTBOX, "B.SRQ", instruction("B", needs="A"))
    pids: list[int] = []
    report = supervisor(lab, start_method=start_method).run(until_idle=True, timeout=60, on_started=lambda s: pids.extend(
        c.process.pid for c in s.children))
    assert report is not None and report.exit_code == ExitCode.IDLE, report
    assert installed_items(inbox(lab, "SEC", INSTALLED)) == ["A", "B"]
    assert len(set(pids)) == 2 and os.getpid() not in pids
    assert locks(lab) == []
    stops = [e["site"] for e in read_events(lab / "events.jsonl") if e["event"] == "server_stopped"]
    assert sorted(stops) == ["CEN", "SEC"]


def test_until_idle_reports_what_waits_in_any_process(tmp_path: Path) -> None:
    lab = make_lab(tmp_path / "lab")
    drop(lab, "CEN", OUTBOX, "W.SRQ", instruction("W", needs="NEVER"))
    report = supervisor(lab, horizon=1.0).run(until_idle=True, timeout=60)
    assert report is not None and report.exit_code == ExitCode.WAITING
    assert report.lines() == ["SEC SMS_TOY_DESPOOLER: receive\\W.SNI waits for NEVER"]


def test_stopping_stops_every_site_process_and_gives_back_the_locks(tmp_path: Path) -> None:
    lab = make_lab(tmp_path / "lab")
    stop = threading.Event()
    running = supervisor(lab)

    def started(s: SiteProcesses) -> None:
        assert len(locks(lab)) == 2  # each child holds its site's lock
        stop.set()

    assert running.run(stop=stop, on_started=started) is None
    assert [c.process.exitcode for c in running.children] == [0, 0]
    assert locks(lab) == []


def test_a_site_that_already_runs_is_a_user_error_and_nothing_stays_running(
        tmp_path: Path) -> None:
    lab = make_lab(tmp_path / "lab")
    other = LiveDriver(lab, components=REGISTRY, sites=["SEC"])
    other.start()
    try:
        running = supervisor(lab)
        with pytest.raises(UserError, match="Site SEC's server is already running"):
            running.run(until_idle=True, timeout=60)
        assert all(not c.process.is_alive() for c in running.children)
        assert [p.parts[-4] for p in locks(lab)] == ["SEC"]  # only the other process's
    finally:
        other.stop()


def test_a_site_process_that_dies_stops_the_others_with_an_error(tmp_path: Path) -> None:
    lab = make_lab(tmp_path / "lab")
    drop(lab, "CEN", OUTBOX, "X.DIE", b"")
    running = supervisor(lab, components="tests.runtime.toy:DYING")
    with pytest.raises(ServerProcessError, match=rf"The site server process of CEN stopped "
                                                 rf"unexpectedly \(exit code {DYING_STATUS}\)"):
        running.run(until_idle=True, timeout=60)
    assert all(not c.process.is_alive() for c in running.children)
    assert [c.process.exitcode for c in running.children] == [DYING_STATUS, 0]

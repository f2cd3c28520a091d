"""`sitesrv run --processes per-site`: a live site server process per site, one supervisor.

Real processes on real folders: forked on Linux, spawned when the test process runs other
threads and on other platforms (the first test runs both ways); waits have deadlines.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from sitesrv.errors import UserError
from sitesrv.lab.loader import parse_hierarchy
from sitesrv.runtime.host import FAILED, UnitOutcome
from sitesrv.runtime.idle import ExitCode
from sitesrv.runtime.live import LiveDriver
from sitesrv.runtime.lock import LOCK_FILE
from sitesrv.runtime.siteprocs import (
    ServerProcessError,
    SiteProcesses,
    group_label,
    site_groups,
)
from sitesrv.testing import drop, events, inbox, wait_for
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


# Spawning starts a new interpreter per site, importing sitesrv afresh: seconds, not a moment.
SPAWN = pytest.param("spawn", marks=pytest.mark.slow)


@pytest.mark.parametrize("start_method", ["fork", SPAWN] if sys.platform.startswith("linux")
                         else [SPAWN])
def test_each_site_runs_in_its_own_process_and_files_cross_between_them(
        lab: Path, start_method: str) -> None:
    drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
    drop(inbox(lab, "CEN", OUTBOX), "B.SRQ", instruction("B", needs="A"))
    pids: list[int] = []
    report = supervisor(lab, start_method=start_method).run(until_idle=True, timeout=60, on_started=lambda s: pids.extend(
        c.process.pid for c in s.children))
    assert report is not None and report.exit_code == ExitCode.IDLE, report
    assert installed_items(inbox(lab, "SEC", INSTALLED)) == ["A", "B"]
    assert len(set(pids)) == 2 and os.getpid() not in pids
    assert locks(lab) == []
    stops = [e["site"] for e in events(lab, "server_stopped")]
    assert sorted(stops) == ["CEN", "SEC"]


def test_with_a_number_of_processes_each_runs_a_group_of_sites(lab: Path) -> None:
    drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
    running = supervisor(lab, processes=1)
    report = running.run(until_idle=True, timeout=60)
    assert report is not None and report.exit_code == ExitCode.IDLE, report
    assert installed_items(inbox(lab, "SEC", INSTALLED)) == ["A"]
    assert [c.sites for c in running.children] == [["CEN", "SEC"]]
    assert sorted(e["site"] for e in events(lab, "server_stopped")) == ["CEN", "SEC"]
    assert locks(lab) == []


def test_sites_are_grouped_depth_first_in_runs_of_nearly_equal_size() -> None:
    hierarchy = parse_hierarchy(yaml.safe_dump({"sites": [
        {"code": "CEN", "name": "C", "server": "CENSRV", "type": "primary"},
        *({"code": f"P0{n}", "name": "P", "server": f"P0{n}SRV", "type": "primary",
           "parent": "CEN"} for n in (1, 2)),
        *({"code": f"S0{n}", "name": "S", "server": f"S0{n}SRV", "type": "secondary",
           "parent": f"P0{(n + 1) // 2}"} for n in (1, 2, 3, 4))]}))
    codes = [s.code for s in hierarchy.sites]
    assert site_groups(hierarchy, codes, 2) == [["CEN", "P01", "S01", "S02"],
                                                ["P02", "S03", "S04"]]
    assert site_groups(hierarchy, codes, 3) == [["CEN", "P01", "S01"], ["S02", "P02"],
                                                ["S03", "S04"]]
    assert site_groups(hierarchy, codes, 50) == [[c] for c in
                                                 ["CEN", "P01", "S01", "S02", "P02", "S03", "S04"]]
    assert site_groups(hierarchy, codes, None) == [[c] for c in codes]
    # --site: a site whose parent does not run here heads a run of its own.
    assert site_groups(hierarchy, ["S03", "P01", "S01"], 1) == [["P01", "S01", "S03"]]
    assert group_label(["CEN"]) == "CEN"
    assert group_label(["CEN", "P01", "S01"]) == "sites CEN, P01 and S01"
    assert group_label(codes) == "sites CEN, P01, P02 and 4 more"


def test_sites_named_in_any_case_are_grouped_as_the_hierarchy_spells_them(lab: Path) -> None:
    # `--site sec`: a group matched the codes as typed, and SEC was left out of every one.
    assert supervisor(lab, sites=["cen", "sec"], processes=2).groups == [["CEN"], ["SEC"]]
    assert supervisor(lab, sites=["sec"], processes=2).groups == [["SEC"]]
    with pytest.raises(ValueError, match="processes must be 1 or more"):
        supervisor(lab, processes=0)


def test_until_idle_reports_what_waits_in_any_process(lab: Path) -> None:
    drop(inbox(lab, "CEN", OUTBOX), "W.SRQ", instruction("W", needs="NEVER"))
    report = supervisor(lab, horizon=1.0).run(until_idle=True, timeout=60)
    assert report is not None and report.exit_code == ExitCode.WAITING
    assert report.lines() == ["SEC SMS_TOY_DESPOOLER: receive\\W.SNI waits for NEVER"]


def test_stopping_stops_every_site_process_and_gives_back_the_locks(lab: Path) -> None:
    stop = threading.Event()
    running = supervisor(lab)

    def started(s: SiteProcesses) -> None:
        assert len(locks(lab)) == 2  # each child holds its site's lock
        stop.set()

    assert running.run(stop=stop, on_started=started) is None
    assert [c.process.exitcode for c in running.children] == [0, 0]
    assert locks(lab) == []


def test_a_site_that_already_runs_is_a_user_error_and_nothing_stays_running(
        lab: Path) -> None:
    other = LiveDriver(lab, components=REGISTRY, sites=["SEC"])
    other.start()
    try:
        started = len(events(lab, "server_started"))
        # Refused before any site's process starts: the other sites' servers used to start
        # and work before SEC's refused (a bug hunt found it).
        with pytest.raises(UserError, match="Site SEC's server is already running"):
            supervisor(lab).run(until_idle=True, timeout=60)
        assert len(events(lab, "server_started")) == started
        assert [p.parts[-4] for p in locks(lab)] == ["SEC"]  # only the other process's
    finally:
        other.stop()


def test_a_site_process_that_dies_stops_the_others_with_an_error(lab: Path) -> None:
    drop(inbox(lab, "CEN", OUTBOX), "X.DIE", b"")
    running = supervisor(lab, components="tests.runtime.toy:DYING")
    with pytest.raises(ServerProcessError, match=rf"The site server process of CEN stopped "
                                                 rf"unexpectedly \(exit code {DYING_STATUS}\)"):
        running.run(until_idle=True, timeout=60)
    assert all(not c.process.is_alive() for c in running.children)
    assert [c.process.exitcode for c in running.children] == [DYING_STATUS, 0]


def test_a_failed_unit_that_sent_a_file_to_another_process_is_not_the_end(
        lab: Path) -> None:
    # The sender fails after handing A to the secondary's process, and polling sees A there
    # only within a second: the failed unit's hand-off must keep the lab from being idle.
    drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
    report = SiteProcesses(lab, components="tests.runtime.toy:LEAKY", watcher="polling",
                           workers=2).run(until_idle=True, timeout=60)
    assert report is not None and report.exit_code == ExitCode.WAITING  # a failed unit
    assert installed_items(inbox(lab, "SEC", INSTALLED)) == ["A"]


def test_a_failed_unit_counts_as_progress_only_if_it_published(lab: Path) -> None:
    runtime = LiveDriver(lab, components=REGISTRY).runtime
    runtime.count(UnitOutcome(FAILED, ("claimed CEN/SMS/inboxes/x/A.SRQ",), "boom"))
    assert (runtime.progress_count, runtime.error_count) == (0, 1)
    runtime.count(UnitOutcome(FAILED, ("published SEC/SMS/inboxes/despoolr.box/receive/A.SNI",),
                              "boom"))
    assert (runtime.progress_count, runtime.error_count) == (1, 2)


def test_a_timeout_reports_what_waits_in_the_busy_process(lab: Path) -> None:
    # The timeout counts from before the processes start, and the ticker's wait is only known
    # once it ran its first unit: on a slow machine 0.5 s could run out before that. Waiting
    # for it in on_started lets the timeout fire only after the wait is known.
    report = supervisor(lab, components="tests.runtime.toy:TICKER").run(
        until_idle=True, timeout=0.5, on_started=lambda s: wait_for(
            lambda: any(c.ask_status().waits for c in s.children),
            what="the ticker's first unit"))
    assert report is not None and report.exit_code == ExitCode.TIMEOUT
    assert report.lines() == ["CEN SMS_TOY_TICKER: ticker waits for nothing in particular"]


def _cli(lab: Path, *options: str, stderr: Path,
         components: str = TOYS) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "from sitesrv.cli.main import main; main()", "run", "--lab",
         str(lab), "--processes", "per-site", "--components", components, *options],
        stdout=subprocess.DEVNULL, stderr=stderr.open("wb"), start_new_session=True)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
def test_the_site_processes_stop_when_their_supervisor_is_killed(tmp_path: Path, lab: Path) -> None:
    proc = _cli(lab, stderr=tmp_path / "stderr")
    try:
        wait_for(lambda: "Running site servers" in (tmp_path / "stderr").read_text(),
                 timeout=60, what="the site servers to start")
        assert len(locks(lab)) == 2
        proc.kill()
        proc.wait(timeout=30)
        # Each child sees its supervisor gone, stops, and gives back its lock.
        wait_for(lambda: locks(lab) == [], timeout=30, what="the children to stop")
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="POSIX signals")
def test_ctrl_c_stops_every_process_and_exits_130_before_idle(tmp_path: Path, lab: Path) -> None:
    proc = _cli(lab, "--until-idle", stderr=tmp_path / "stderr",
                components="tests.runtime.toy:TICKER")
    wait_for(lambda: "Running site servers" in (tmp_path / "stderr").read_text(), timeout=60,
             what="the site servers to start")
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    assert proc.wait(timeout=60) == ExitCode.STOPPED
    assert locks(lab) == []
    assert "Traceback" not in (tmp_path / "stderr").read_text()

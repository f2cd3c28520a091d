"""One server per site: the lock in `<SITE>\\SMS\\state\\server.lock`, taken by both drivers."""

from __future__ import annotations

import errno
import gc
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sitesrv.errors import UserError
from sitesrv.lab.layout import LabLayout
from sitesrv.lab.loader import load_hierarchy
from sitesrv.runtime import lock as lock_module
from sitesrv.runtime.component import Component
from sitesrv.runtime.idle import ExitCode
from sitesrv.runtime.registry import Registry
from sitesrv.runtime.step import run_until_idle
from sitesrv.testing import drop, events, inbox, running, wait_for
from tests.conftest import REPO
from tests.runtime.toy import OUTBOX, REGISTRY, installed_items, instruction


def lock_file(lab: Path, site: str) -> Path:
    return lab / site / "SMS" / "state" / "server.lock"


def dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def write_lock(lab: Path, site: str, pid: int, started: datetime,
               host: str | None = None, ticks: int | None = None) -> Path:
    path = lock_file(lab, site)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(),
                                "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                "token": "0123456789abcdef", "ticks": ticks}))
    return path


@pytest.mark.live_fs
def test_a_second_run_of_a_running_site_exits_2_and_touches_nothing(lab: Path) -> None:
    with running(lab, components=REGISTRY):
        held = json.loads(lock_file(lab, "CEN").read_text())
        assert held["pid"] == os.getpid() and held["host"] == socket.gethostname()
        sec_lock = lock_file(lab, "SEC").read_text()
        # A file the running server has claimed: a second server's recovery would return it.
        claimed = inbox(lab, "CEN", OUTBOX) / ".work" / "A.SRQ"
        claimed.write_bytes(instruction("A"))
        done = subprocess.run(
            [sys.executable, "-m", "sitesrv.cli.run", "--lab", str(lab), "--step",
             "--components", "tests.runtime.toy:REGISTRY"],
            cwd=REPO, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert re.fullmatch(
            rf"sitesrv: Site CEN's server is already running \(pid {os.getpid()}, started "
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)\. Stop it first, or pass --lab with another "
            r"lab\.\n", done.stderr)
        with pytest.raises(UserError, match="Site CEN's server is already running"):
            run_until_idle(lab, components=REGISTRY)
        assert claimed.exists()
        # The refused runs left the live server's locks alone.
        assert lock_file(lab, "SEC").read_text() == sec_lock
    assert not lock_file(lab, "CEN").exists() and not lock_file(lab, "SEC").exists()


@pytest.mark.live_fs
def test_two_processes_may_run_disjoint_sites(lab: Path) -> None:
    with running(lab, components=REGISTRY, sites=["CEN"]):
        drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
        wait_for(lambda: (inbox(lab, "SEC", "despoolr.box\\receive") / "A.SNI").exists(),
                 what="A to be sent")
        report = run_until_idle(lab, components=REGISTRY, sites=["SEC"])
        assert report.exit_code == ExitCode.IDLE
        assert installed_items(inbox(lab, "SEC", "pkginfo.box")) == ["A"]


def test_a_stale_lock_is_taken_over_with_a_warning(
        lab: Path, caplog: pytest.LogCaptureFixture) -> None:
    pid = dead_pid()
    path = write_lock(lab, "SEC", pid, datetime.now(UTC))
    with caplog.at_level(logging.WARNING, logger=lock_module.__name__):
        report = run_until_idle(lab, components=REGISTRY)
    assert report.exit_code == ExitCode.IDLE
    assert any(m.startswith(f"Site SEC: took over the stale server lock {path} (pid {pid} on ")
               and m.endswith(f"; pid {pid} is not running)") for m in caplog.messages)
    (event,) = events(lab, "server_lock_taken_over")
    assert (event["site"], event["component"], event["pid"]) == ("SEC", "SMS_EXECUTIVE", pid)
    assert not path.exists()  # taken over, then given back at the end of the run


@pytest.mark.skipif(lock_module.process_start(os.getpid()) is None,
                    reason="needs /proc to tell when a process started")
def test_a_lock_whose_pid_another_process_has_now_is_taken_over(
        lab: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Bug hunt: after a restart the pid belonged to another process; `run` said the server
    was running while `fault kill` said it was not. Its start time tells them apart."""
    mine = lock_module.process_start(os.getpid())
    assert mine is not None
    path = write_lock(lab, "SEC", os.getpid(), datetime.now(UTC), ticks=mine + 1)
    with caplog.at_level(logging.WARNING, logger=lock_module.__name__):
        assert run_until_idle(lab, components=REGISTRY).exit_code == ExitCode.IDLE
    assert any(m.startswith(f"Site SEC: took over the stale server lock {path} (pid ")
               and m.endswith("was given to another process since)")
               for m in caplog.messages)


def test_a_lock_without_its_start_time_says_how_to_clear_a_recycled_pid(lab: Path) -> None:
    path = write_lock(lab, "SEC", os.getpid(), datetime.now(UTC))
    with pytest.raises(UserError, match=re.escape(f"If it is not running (its pid may have been "
                                                  f"given to another process since), delete "
                                                  f"{path}.")):
        run_until_idle(lab, components=REGISTRY)


def test_the_locks_are_given_back_when_a_run_is_interrupted(lab: Path) -> None:
    class Interrupted(Component):
        name = "SMS_TOY_INTERRUPTED"
        log_name = "toyint.log"

        def work(self) -> bool:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_until_idle(lab, components=Registry(primary=(Interrupted,)))
    assert not lock_file(lab, "CEN").exists()


def test_a_refused_run_gives_back_the_locks_it_took(lab: Path) -> None:
    write_lock(lab, "SEC", os.getpid(), datetime.now(UTC))  # SEC runs in "this" process
    frozen = gc.get_freeze_count()  # what an earlier test's runtime may have left
    with pytest.raises(UserError, match="Site SEC's server is already running"):
        run_until_idle(lab, components=REGISTRY)
    assert not lock_file(lab, "CEN").exists()  # CEN's lock was taken first, then given back
    # Refused after the runtime was built, before it started: nothing of it is left frozen
    # out of the garbage collector's looks (runtime/host.py `built_to_last`).
    assert (gc.isenabled(), gc.get_freeze_count()) == (True, frozen)


def test_without_pid_checks_a_lock_is_stale_only_after_hours(
        lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lock_module, "can_check_pids", lambda: False)  # as on Windows
    now = datetime.now(UTC)
    path = write_lock(lab, "SEC", dead_pid(), now - timedelta(hours=1))
    with pytest.raises(UserError, match=re.escape(f"If it is not running, delete {path}.")):
        run_until_idle(lab, components=REGISTRY)
    write_lock(lab, "SEC", dead_pid(), now - timedelta(hours=13))
    assert run_until_idle(lab, components=REGISTRY).exit_code == ExitCode.IDLE


def test_a_lock_of_another_host_is_never_taken_over(lab: Path) -> None:
    path = write_lock(lab, "CEN", dead_pid(), datetime.now(UTC) - timedelta(days=30),
                      host="ELSEWHERE")
    with pytest.raises(UserError, match=re.escape(
            "Site CEN's server is already running on host ELSEWHERE (pid ")):
        run_until_idle(lab, components=REGISTRY)
    assert path.exists()


# A starter killed at a moment of writing its lock: its process ends inside os.link.
DIE_IN_LINK = """
import os, sys
from pathlib import Path
from sitesrv.lab.loader import load_hierarchy
from sitesrv.lab.layout import LabLayout
from sitesrv.runtime import lock
lab = Path(sys.argv[1])
site = LabLayout(lab, load_hierarchy(lab / "hierarchy.yaml")).site("SEC")
real_link = os.link
def link(src, dst):
    if sys.argv[2] == "after":
        real_link(src, dst)
    os._exit(9)
os.link = link
lock.SiteLock(site).acquire()
"""


@pytest.mark.parametrize("moment", ["before", "after"])
def test_a_starter_killed_while_taking_its_lock_never_blocks_the_next_start(
        lab: Path, moment: str, caplog: pytest.LogCaptureFixture) -> None:
    died = subprocess.run([sys.executable, "-c", DIE_IN_LINK, str(lab), moment], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert died.returncode == 9, died.stderr
    state = lock_file(lab, "SEC").parent
    (leftover,) = state.glob(".server.lock.*.tmp")  # it died before removing its temp file
    path = lock_file(lab, "SEC")
    if moment == "after":  # a complete lock of a dead pid: stale at once
        assert json.loads(path.read_text())["pid"] == died_pid(leftover)
    else:  # no lock at all, never an empty one
        assert not path.exists()
    with caplog.at_level(logging.WARNING, logger=lock_module.__name__):
        report = run_until_idle(lab, components=REGISTRY)
    assert report.exit_code == ExitCode.IDLE
    took_over = [m for m in caplog.messages if "took over the stale server lock" in m]
    assert len(took_over) == (moment == "after")
    assert not leftover.exists() and not path.exists()


def died_pid(temp: Path) -> int:
    return int(temp.name.removeprefix(".server.lock.").partition("-")[0])


def test_the_temp_file_of_a_starter_still_running_is_left_alone(lab: Path) -> None:
    state = lock_file(lab, "SEC").parent
    state.mkdir(parents=True, exist_ok=True)
    starting = state / f".server.lock.{os.getpid()}-fedcba9876543210.tmp"
    starting.write_text("{}\n")
    assert run_until_idle(lab, components=REGISTRY).exit_code == ExitCode.IDLE
    assert starting.exists()


def test_without_hard_links_the_lock_is_created_exclusively(
        lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(src: object, dst: object) -> None:
        raise PermissionError(1, "Operation not permitted")  # as on a FAT volume

    monkeypatch.setattr(lock_module.os, "link", no_links)
    first = sec_lock(lab)
    first.acquire()
    held = json.loads(lock_file(lab, "SEC").read_text())
    assert held["pid"] == os.getpid()
    with pytest.raises(UserError, match="Site SEC's server is already running"):
        sec_lock(lab).acquire()
    first.release()
    assert not lock_file(lab, "SEC").exists()
    assert not list(lock_file(lab, "SEC").parent.glob(".server.lock.*"))


def test_an_unreadable_lock_is_refused_for_a_minute_then_taken_over(lab: Path) -> None:
    path = lock_file(lab, "SEC")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")  # the fallback's holder died between creating and writing it
    with pytest.raises(UserError, match=re.escape(
            f"Site SEC's server is starting in another process (its lock {path} is being "
            "written)")):
        run_until_idle(lab, components=REGISTRY)
    old = path.stat().st_mtime - lock_module.UNREADABLE_STALE_AFTER
    os.utime(path, (old, old))
    assert run_until_idle(lab, components=REGISTRY).exit_code == ExitCode.IDLE
    assert not path.exists()


def sec_lock(lab: Path) -> lock_module.SiteLock:
    return lock_module.SiteLock(LabLayout(lab, load_hierarchy(lab / "hierarchy.yaml")).site("SEC"))


def test_a_link_failure_that_is_not_a_missing_feature_is_not_papered_over(
        lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(src: object, dst: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lock_module.os, "link", disk_full)
    with pytest.raises(UserError, match=r"No space left on device\. Fix that \(free space"):
        sec_lock(lab).acquire()
    assert not list(lock_file(lab, "SEC").parent.glob("*server.lock*"))


def test_a_temp_file_that_cannot_be_removed_does_not_fail_the_lock(
        lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_unlink = Path.unlink

    def shared(self: Path, missing_ok: bool = False) -> None:
        if self.name.startswith(".server.lock."):  # as Windows, while another starter reads it
            raise PermissionError(13, "The process cannot access the file", str(self))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", shared)
    lock = sec_lock(lab)
    lock.acquire()
    assert json.loads(lock_file(lab, "SEC").read_text())["pid"] == os.getpid()
    lock.release()
    assert not lock_file(lab, "SEC").exists()


def test_without_pid_checks_a_dead_starter_s_temp_file_goes_once_a_minute_old(
        lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lock_module, "can_check_pids", lambda: False)  # as on Windows
    state = lock_file(lab, "SEC").parent
    state.mkdir(parents=True, exist_ok=True)
    young, old = (state / f".server.lock.{dead_pid()}-{n}.tmp" for n in ("0" * 16, "1" * 16))
    for temp in (young, old):
        temp.write_text("{}\n")
    past = time.time() - lock_module.UNREADABLE_STALE_AFTER - 1
    os.utime(old, (past, past))
    lock = sec_lock(lab)
    lock.acquire()
    lock.release()
    assert (young.exists(), old.exists()) == (True, False)


def test_a_state_folder_that_cannot_hold_a_lock_is_a_user_error(
        lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bug hunt: a read-only (or immutable) `SMS\\state` gave a traceback, exit 1."""
    def refuse(path: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted", str(path))

    monkeypatch.setattr(lock_module, "write_temp", refuse)
    with pytest.raises(UserError, match=r"Cannot take site CEN's server lock in .*state: "
                                        r"Operation not permitted\. Make that folder writable"):
        run_until_idle(lab, components=REGISTRY)

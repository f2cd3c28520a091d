"""The live driver on real folders: watcher hints, start-up scan, bursts, failures, supervision.

Waits poll a condition with a deadline; nothing here sleeps and hopes. Labs whose periodic
rescan is an hour away prove that it was the watcher (or the start-up scan, or a full rescan)
that found a file.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from watchdog.events import EventsLostEvent

from sitesrv.runtime import host as host_module
from sitesrv.runtime import watcher as watcher_module
from sitesrv.runtime.component import Component, Waiting
from sitesrv.runtime.host import ComponentHost, LabRuntime
from sitesrv.runtime.idle import ExitCode
from sitesrv.runtime.inbox import InboxSpec
from sitesrv.runtime.live import LONG_UNIT, LiveDriver
from sitesrv.runtime.registry import Registry
from sitesrv.runtime.watcher import OVERFLOW_LOGGER
from sitesrv.testing import LabFactory, drop, events, inbox, running, wait_for
from tests.runtime.conftest import two_sites
from tests.runtime.toy import (
    INSTALLED,
    OUTBOX,
    RECEIVE,
    REGISTRY,
    ToyBroken,
    ToyTicker,
    installed_items,
    instruction,
)

pytestmark = pytest.mark.live_fs

NO_RESCAN = two_sites("  rescan_interval: 1h\n")
FAST_RETRY = two_sites("  rescan_interval: 0.2s\n")


class ToySink(Component):
    """Takes every `.SNI` at a secondary and removes it: one progressed unit per file."""

    name = "SMS_TOY_SINK"
    log_name = "toysink.log"
    inboxes = (InboxSpec(RECEIVE, ("*.SNI",)),)

    def work(self) -> bool:
        item = self.ctx.claim_next()
        if item is None:
            return False
        item.done()
        return True


class ToyWaiter(Component):
    """Keeps an `.SNI` until a `.GO` of its name has come (and left `.GO.seen`), with a retry
    an hour away; a `.GO` makes the waiting files eligible at once (`recheck_on_arrival`),
    leaving the hour-away timer entry behind, stale."""

    name = "SMS_TOY_WAITER"
    log_name = "toywait.log"
    inboxes = (InboxSpec(RECEIVE, ("*.SNI", "*.GO"), recheck_on_arrival=True),)

    def work(self) -> bool:
        item = self.ctx.claim_next()
        if item is None:
            return False
        stem = item.name.rsplit(".", 1)[0]
        if item.name.endswith(".SNI") and not (item.inbox.path / f"{stem}.GO.seen").exists():
            item.defer(self.ctx.clock.now() + 3600, f"waits for {stem}.GO")
        elif item.name.endswith(".SNI"):
            item.done()
            self.ctx.log.write(f"Done {stem}")
        else:
            item.inbox.path.joinpath(f"{stem}.GO.seen").write_bytes(b"")
            item.done()
        return True


def installed(lab: Path) -> list[str]:
    return installed_items(inbox(lab, "SEC", INSTALLED))


def test_a_file_dropped_into_an_inbox_is_processed(sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(NO_RESCAN).root
    with running(lab, components=REGISTRY):
        drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
        wait_for(lambda: installed(lab) == ["A"], what="A to be installed")


def test_a_deferral_ended_early_leaves_no_worker_waiting_for_its_old_time(
        sitesrv_lab_factory: LabFactory) -> None:
    # The workers look at each host's earliest timer entry, stale ones included: the hour-away
    # entry of a deferral that ended early must neither hold the file nor keep the lab busy.
    # (A guard for that look: the look before it, which listed live entries only, passed too.)
    lab = sitesrv_lab_factory(NO_RESCAN).root
    folder = inbox(lab, "SEC", RECEIVE)
    with running(lab, components=Registry(secondary=(ToyWaiter,))) as driver:
        drop(folder, "A.SNI", b"a")
        wait_for(lambda: bool(driver.waits()), what="A.SNI to wait for A.GO")
        drop(folder, "A.GO", b"go")
        wait_for(lambda: not (folder / "A.SNI").exists(), what="A.SNI to be done")
        wait_for(driver.quiet, what="the waiter to go back to sleep")
        assert driver.waits() == []
    report = LiveDriver(lab, components=Registry(secondary=(ToyWaiter,))).run(
        until_idle=True, timeout=20)
    assert report is not None and report.exit_code == ExitCode.IDLE


def test_a_file_present_before_start_up_is_processed(sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(NO_RESCAN).root
    drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
    (inbox(lab, "CEN", OUTBOX) / ".work").mkdir()
    (inbox(lab, "CEN", OUTBOX) / ".work" / "B.SRQ").write_bytes(instruction("B"))  # claimed by a
    # run that was killed
    with running(lab, components=REGISTRY):
        wait_for(lambda: installed(lab) == ["A", "B"], what="A and B to be installed")


@pytest.mark.slow
def test_a_burst_of_20000_files_into_one_inbox_loses_none(sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(NO_RESCAN).root
    folder = inbox(lab, "SEC", RECEIVE)
    source = lab / "source.SNI"
    source.write_bytes(b"x")
    # Another process makes the burst, as another site server would: each hard link is a
    # complete file the moment it appears, like a rename, and far quicker to make.
    burst = (f"import os\nfor n in range(20_000):\n"
             f"    os.link({str(source)!r}, os.path.join({str(folder)!r}, f'{{n:05d}}.SNI'))")
    with running(lab, components=Registry(secondary=(ToySink,))) as driver:
        subprocess.run([sys.executable, "-c", burst], check=True, timeout=120)
        wait_for(lambda: driver.runtime.progress_count >= 20_000, timeout=120,
                 what="20,000 files to be processed")
        wait_for(driver.quiet, what="the sink to go back to sleep")
    assert driver.runtime.progress_count == 20_000
    assert [p.name for p in folder.iterdir()] == [".work"]


def test_a_processing_exception_does_not_stop_later_work(sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(FAST_RETRY).root
    with running(lab, components=REGISTRY):
        drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A", fail="always"))
        wait_for(lambda: (inbox(lab, "SEC", RECEIVE) / "corrupt" / "A.SNI").exists(),
                 what="A.SNI to be quarantined after three failures")
        drop(inbox(lab, "CEN", OUTBOX), "B.SRQ", instruction("B"))
        wait_for(lambda: installed(lab) == ["B"], what="B to be installed")
    log = (lab / "SEC/SMS/Logs/toydesp.log").read_text()
    assert "(attempt 3 of 3): Win32 Error = 1359" in log and "RuntimeError" not in log


def test_a_failing_event_handler_does_not_stop_later_events(
        sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(NO_RESCAN).root
    with running(lab, components=REGISTRY) as driver:
        route = driver.watcher.route
        calls: list[str] = []

        def flaky(folder: str) -> None:
            calls.append(folder)
            if len(calls) == 1:
                raise RuntimeError("handler bug")
            route(folder)

        driver.watcher.route = flaky
        drop(inbox(lab, "SEC", RECEIVE), "A.SNI", instruction("A"))
        wait_for(lambda: calls, what="the failing handler call")
        drop(inbox(lab, "SEC", RECEIVE), "B.SNI", instruction("B"))
        wait_for(lambda: installed(lab) == ["A", "B"], what="A and B to be installed")
        assert driver.watcher.observer.is_alive() and driver.watcher.restarts == 0
    reasons = [e.get("reason") for e in events(lab, "full_rescan")]
    assert "the arrival of a file could not be handled" in reasons, "A was found by a rescan"


def test_a_dead_observer_is_restarted_with_a_full_rescan(sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(NO_RESCAN).root
    with running(lab, components=REGISTRY) as driver:
        dead = driver.watcher.observer
        dead.stop()
        dead.join(timeout=10)
        wait_for(lambda: driver.watcher.restarts == 1, what="the supervisor to restart it")
        drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
        wait_for(lambda: installed(lab) == ["A"], what="A to be installed")
    reasons = [e.get("reason") for e in events(lab, "full_rescan")]
    assert "the file system watcher stopped and was restarted" in reasons


def test_an_inotify_overflow_warning_triggers_a_full_rescan(
        sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(NO_RESCAN).root
    with running(lab, components=REGISTRY) as driver:
        driver.watcher.route = lambda folder: None  # every hint lost, as in an overflow
        drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
        logging.getLogger(OVERFLOW_LOGGER).warning(
            "Inotify queue overflowed; filesystem events were lost")
        wait_for(lambda: not (inbox(lab, "CEN", OUTBOX) / "A.SRQ").exists(),
                 what="the rescan to find A.SRQ")
    assert logging.getLogger(OVERFLOW_LOGGER).handlers == []  # removed at stop


def test_events_the_watcher_lost_trigger_a_full_rescan(sitesrv_lab_factory: LabFactory) -> None:
    """watchdog's `EventsLostEvent` (ReadDirectoryChangesW's buffer overflowing on Windows)
    names no file: the supervisor's next look rescans, and finds what no hint named."""
    lab = sitesrv_lab_factory(NO_RESCAN).root
    with running(lab, components=REGISTRY) as driver:
        driver.watcher.route = lambda path: None  # every hint lost
        drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
        observer = driver.watcher.observer
        watch = next(iter(observer.emitters)).watch
        observer.event_queue.put((EventsLostEvent(watch.path), watch))
        wait_for(lambda: installed(lab) == ["A"], what="the rescan to find A.SRQ")
    reasons = [e.get("reason") for e in events(lab, "full_rescan")]
    assert "the file system watcher lost events" in reasons


def test_the_polling_watcher_finds_files_too(sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(NO_RESCAN).root
    with running(lab, components=REGISTRY, watcher="polling") as driver:
        assert driver.watcher.kind == "polling"
        drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
        wait_for(lambda: installed(lab) == ["A"], what="A to be installed")


def test_on_linux_the_watcher_is_the_arrivals_only_inotify_emitter(
        sitesrv_lab_factory: LabFactory) -> None:
    if not watcher_module.inotify_available():
        pytest.skip("no inotify here")
    lab = sitesrv_lab_factory(NO_RESCAN).root
    with running(lab, components=REGISTRY) as driver:
        assert driver.watcher.kind == "inotify"
        emitters = driver.watcher.observer.emitters
        assert {type(e).__name__ for e in emitters} == {"ArrivalsEmitter"}


@pytest.mark.parametrize("kind", watcher_module.WATCHERS)
def test_a_file_in_a_folder_made_after_start_up_becomes_a_hint(tmp_path: Path,
                                                               kind: str) -> None:
    # Files take a short way from inotify to the hint; a new folder takes watchdog's, which
    # watches it and reports what is already in it. Both must end in hints.
    root = tmp_path / "inboxes"
    root.mkdir()
    hints: list[str] = []
    watcher = watcher_module.Watcher([root], kind, route=hints.append, rescan=lambda why: None)
    watcher.start()
    try:
        made = root / "despoolr.box" / "receive"
        made.mkdir(parents=True)
        (made / "A.SNI").write_bytes(b"a")  # may come before or after the folder is watched
        wait_for(lambda: str(made / "A.SNI") in hints, what="the hint for A.SNI")
        (made / ".B.SNI.test.tmp").write_bytes(b"b")
        (made / ".B.SNI.test.tmp").rename(made / "B.SNI")  # once watched, the short way
        wait_for(lambda: str(made / "B.SNI") in hints, what="the hint for B.SNI")
    finally:
        watcher.stop()
    assert set(hints) == {str(made / "A.SNI"), str(made / "B.SNI")}


@pytest.mark.parametrize("kind", watcher_module.WATCHERS)
def test_only_arrivals_of_work_names_become_hints(tmp_path: Path, kind: str) -> None:
    # A temp file written and a claim into the work folder name no new work (nor do the
    # folder's own events); the file renamed into place does, and its hint comes last, so
    # every earlier event has been handled by then.
    folder = tmp_path / "inboxes" / "distmgr.box"
    (folder / ".work").mkdir(parents=True)
    hints: list[str] = []
    watcher = watcher_module.Watcher([tmp_path / "inboxes"], kind, route=hints.append,
                                     rescan=lambda why: None)
    watcher.start()
    try:
        (folder / ".A.PKN.test.tmp").write_bytes(b"a")
        (folder / "B.TMP").write_bytes(b"b")
        (folder / "B.TMP").rename(folder / ".work" / "B.PKN")
        (folder / ".A.PKN.test.tmp").rename(folder / "A.PKN")
        wait_for(lambda: str(folder / "A.PKN") in hints, what="the hint for A.PKN")
    finally:
        watcher.stop()
    assert set(hints) == {str(folder / "A.PKN")}


def _watched_inodes() -> set[int]:
    """The inodes the process's inotify reader watches, as the kernel lists them."""
    reader = watcher_module.gathering_reader()
    info = Path(f"/proc/self/fdinfo/{reader._inotify_fd}").read_text()
    return {int(m, 16) for m in re.findall(r"^inotify wd:\S+ ino:([0-9a-f]+)", info, re.M)}


def test_work_folders_take_no_inotify_watch(tmp_path: Path) -> None:
    # Watches are a per-user kernel limit (fs.inotify.max_user_watches) a large lab runs into,
    # and a work folder's events are claims, which are never hints: it is not watched, whether
    # it was there at start-up or made later.
    if not watcher_module.inotify_available() or not Path("/proc/self/fdinfo").is_dir():
        pytest.skip("no inotify here")
    root = tmp_path / "inboxes"
    (root / "distmgr.box" / ".work").mkdir(parents=True)
    hints: list[str] = []
    watcher = watcher_module.Watcher([root], "inotify", route=hints.append,
                                     rescan=lambda why: None)
    watcher.start()
    try:
        later = root / "despoolr.box" / "receive"
        (later / ".work").mkdir(parents=True)
        (later / "A.SNI").write_bytes(b"a")
        wait_for(lambda: str(later / "A.SNI") in hints, what="the hint for A.SNI")
        wait_for(lambda: later.stat().st_ino in _watched_inodes(), what="receive's watch")
        watched = _watched_inodes()
    finally:
        watcher.stop()
    folders = [root, root / "distmgr.box", root / "despoolr.box", later]
    assert all(f.stat().st_ino in watched for f in folders)
    assert not {(f / ".work").stat().st_ino for f in folders[1::2]} & watched


def test_a_lab_below_a_folder_named_like_a_work_folder_is_watched(tmp_path: Path) -> None:
    # Only the folders below the watched root count as work folders.
    if not watcher_module.inotify_available():
        pytest.skip("no inotify here")
    folder = tmp_path / ".work" / "inboxes" / "distmgr.box"
    folder.mkdir(parents=True)
    hints: list[str] = []
    watcher = watcher_module.Watcher([tmp_path / ".work" / "inboxes"], "inotify",
                                     route=hints.append, rescan=lambda why: None)
    watcher.start()
    try:
        (folder / "A.PKN").write_bytes(b"a")
        wait_for(lambda: str(folder / "A.PKN") in hints, what="the hint for A.PKN")
    finally:
        watcher.stop()


def test_a_dead_inotify_reader_is_replaced_and_a_rescan_asked_for(tmp_path: Path) -> None:
    if not watcher_module.inotify_available():
        pytest.skip("no inotify here")
    folder = tmp_path / "inboxes" / "distmgr.box"
    folder.mkdir(parents=True)
    hints: list[str] = []
    rescans: list[str] = []
    watcher = watcher_module.Watcher([tmp_path / "inboxes"], "inotify", route=hints.append,
                                     rescan=rescans.append)
    watcher.start()
    try:
        assert watcher.check() is False
        reader = watcher_module.gathering_reader()
        reader.stop()  # as a failure in its threads ends it
        reader.join(5)
        assert watcher.check() is True
        assert rescans == ["the file system watcher stopped and was restarted"]
        assert watcher_module.gathering_reader() is not reader
        (folder / "A.PKN").write_bytes(b"a")
        wait_for(lambda: str(folder / "A.PKN") in hints, what="the hint for A.PKN")
        # A reader that keeps dying (its watchdog changed under it) is given up for polling.
        for _ in range(watcher_module.READER_DEATHS - 1):
            reader = watcher_module.gathering_reader()
            reader.stop()
            reader.join(5)
            assert watcher.check() is True
        assert watcher.kind == "polling"
        (folder / "B.PKN").write_bytes(b"b")
        wait_for(lambda: str(folder / "B.PKN") in hints, what="the hint for B.PKN")
    finally:
        watcher.stop()


def test_without_inotify_the_platform_observer_is_used(
        sitesrv_lab_factory: LabFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    from watchdog.observers import Observer

    monkeypatch.setattr(watcher_module, "inotify_available", lambda: False)  # macOS, Windows
    lab = sitesrv_lab_factory(NO_RESCAN).root
    with running(lab, components=REGISTRY) as driver:
        assert driver.watcher.kind == "native"
        assert isinstance(driver.watcher.observer, Observer)
        drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
        wait_for(lambda: installed(lab) == ["A"], what="A to be installed")
    assert {e["watcher"] for e in events(lab, "server_started")} == {"native"}


def test_an_observer_that_cannot_start_falls_back_to_polling(
        sitesrv_lab_factory: LabFactory, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    def unsupported() -> None:
        # What watchdog's default observer raised on macOS: not an OSError.
        raise TypeError("'NoneType' object is not callable")

    monkeypatch.setattr(watcher_module, "inotify_available", lambda: False)
    monkeypatch.setattr(watcher_module, "platform_observer", unsupported)
    lab = sitesrv_lab_factory(NO_RESCAN).root
    with (caplog.at_level(logging.WARNING, logger=watcher_module.__name__),
          running(lab, components=REGISTRY) as driver):
        assert driver.watcher.kind == "polling"
        drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
        wait_for(lambda: installed(lab) == ["A"], what="A to be installed")
    assert ("the file system watcher could not start (TypeError: 'NoneType' object is not "
            "callable); watching by polling instead") in caplog.messages


def test_stopping_lets_the_unit_in_progress_finish(sitesrv_lab_factory: LabFactory) -> None:
    entered, release = threading.Event(), threading.Event()

    class Slow(ToySink):
        name = "SMS_TOY_SLOW"

        def work(self) -> bool:
            item = self.ctx.claim_next()
            if item is None:
                return False
            entered.set()
            release.wait(10)
            item.done()
            return True

    lab = sitesrv_lab_factory(NO_RESCAN).root
    driver = LiveDriver(lab, components=Registry(secondary=(Slow,)))
    stop = threading.Event()
    thread = threading.Thread(target=driver.run, kwargs={"stop": stop})
    drop(inbox(lab, "SEC", RECEIVE), "A.SNI", b"")
    thread.start()
    assert entered.wait(20)
    stop.set()
    release.set()
    thread.join(timeout=30)
    assert [p.name for p in inbox(lab, "SEC", RECEIVE).rglob("*")] == [".work"]


# --- until idle -------------------------------------------------------------------------------

def test_until_idle_reports_idle_when_all_is_done(lab: Path) -> None:
    drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
    report = LiveDriver(lab, components=REGISTRY).run(until_idle=True, timeout=30)
    assert report is not None and report.exit_code == ExitCode.IDLE
    assert installed(lab) == ["A"]


def test_until_idle_reports_what_waits(lab: Path) -> None:
    drop(inbox(lab, "CEN", OUTBOX), "W.SRQ", instruction("W", needs="NEVER"))
    report = LiveDriver(lab, components=REGISTRY, horizon=1.0).run(until_idle=True, timeout=30)
    assert report is not None and report.exit_code == ExitCode.WAITING
    assert report.lines() == ["SEC SMS_TOY_DESPOOLER: receive\\W.SNI waits for NEVER"]


def test_until_idle_with_failed_units_and_quarantined_files_ends_as_waiting(
        lab: Path) -> None:
    drop(inbox(lab, "CEN", OUTBOX), "BAD.SRQ", b"not an instruction\n")
    registry = Registry(primary=(*REGISTRY.primary, ToyBroken), secondary=REGISTRY.secondary)
    report = LiveDriver(lab, components=registry).run(until_idle=True, timeout=30)
    assert report is not None and report.exit_code == ExitCode.WAITING and report.waits == ()
    (broken, bad) = sorted(report.lines())
    # At least the start-up pass failed; the confirming rescan may have run it again.
    assert re.fullmatch(r"CEN SMS_TOY_BROKEN: \d+ unit\(s\) failed \(RuntimeError: no such "
                        r"table: PkgNotification\); see toybroken.log", broken)
    assert bad == ("CEN SMS_TOY_SENDER: outboxes\\LAN\\corrupt\\BAD.SRQ quarantined: line "
                   "'not an instruction' is not key=value")


def test_until_idle_ends_a_wait_no_timer_can_end_without_waiting_for_the_horizon(
        lab: Path) -> None:
    class Stuck(Component):
        name = "SMS_TOY_STUCK"
        log_name = "toystuck.log"

        def work(self) -> bool:
            return False

        def waiting(self) -> list[Waiting]:
            return [Waiting("address to SEC", "waits for a person to resume it")]

    # The default horizon is 1200 s of lab time, 20 real minutes at clock rate 1.
    report = LiveDriver(lab, components=Registry(primary=(Stuck,))).run(until_idle=True,
                                                                         timeout=30)
    assert report is not None and report.exit_code == ExitCode.WAITING
    assert report.lines() == ["CEN SMS_TOY_STUCK: address to SEC waits for a person to resume it"]


def test_until_idle_times_out_while_the_lab_is_busy_waiting(lab: Path) -> None:
    driver = LiveDriver(lab, components=Registry(primary=(ToyTicker,)))
    # The timeout counts from before start-up, and the ticker's wait is only known once it ran
    # its first unit: on a slow machine 0.5 s could run out before that. Waiting for it in
    # on_started lets the timeout fire only after the wait is known, with the lab still busy.
    report = driver.run(until_idle=True, timeout=0.5, on_started=lambda d: wait_for(
        lambda: bool(d.waits()), what="the ticker's first unit"))
    assert report is not None and report.exit_code == ExitCode.TIMEOUT
    assert report.lines() == ["CEN SMS_TOY_TICKER: ticker waits for nothing in particular"]


# --- the worker pool ----------------------------------------------------------------------------

def test_a_busy_wait_shows_in_the_report_even_when_the_unit_left_its_component_wanted(
        lab: Path) -> None:
    """A bug hunt found `Timed out ..., still busy; nothing waits.` while SQL Monitor retried a
    held site database: a unit after which its component was wanted again (a signal came
    meanwhile) did not refresh the waits the report shows."""
    class Busy(Component):
        name = "SMS_TOY_BUSY"
        log_name = "toybusy.log"
        host: ComponentHost | None = None

        def work(self) -> bool:
            if Busy.host is None:
                return False  # its first units: no wait, and that is what the report had
            Busy.host.wanted.set()  # as a signal coming during the unit does
            error = sqlite3.OperationalError("database is locked")
            error.sqlite_errorcode = sqlite3.SQLITE_BUSY  # as sqlite3 raises it
            raise error

    def hand_over(driver: LiveDriver) -> None:
        wait_for(lambda: not driver.waits() and driver.quiet(), what="the first units")
        Busy.host = next(h for h in driver.hosts if h.name == Busy.name)
        Busy.host._want()

    report = LiveDriver(lab, components=Registry(primary=(Busy,))).run(
        until_idle=True, timeout=1.0, on_started=hand_over)
    assert report is not None and report.exit_code == ExitCode.TIMEOUT
    assert report.lines() == ["CEN SMS_TOY_BUSY: (the component) waits for the site database "
                              "(OperationalError: database is locked)"]


def test_a_long_unit_of_one_component_does_not_hold_up_the_others(
        sitesrv_lab_factory: LabFactory) -> None:
    # Two workers: while one is inside a slow unit at the secondary, the other carries the
    # central site's sends through, and the slow component gets its later files afterwards.
    entered, release = threading.Event(), threading.Event()

    class SlowFirst(ToySink):
        name = "SMS_TOY_SLOW"

        def work(self) -> bool:
            item = self.ctx.claim_next()
            if item is None:
                return False
            if item.name == "A.SNI":
                entered.set()
                release.wait(20)
            item.done()
            return True

    lab = sitesrv_lab_factory(NO_RESCAN).root
    registry = Registry(primary=(REGISTRY.primary[0],), secondary=(SlowFirst,))
    with running(lab, components=registry, workers=2):
        drop(inbox(lab, "SEC", RECEIVE), "A.SNI", b"")
        assert entered.wait(20)
        for n in range(5):
            drop(inbox(lab, "CEN", OUTBOX), f"B{n}.SRQ", instruction(f"B{n}"))
        wait_for(lambda: len(list(inbox(lab, "SEC", RECEIVE).glob("B*.SNI"))) == 5,
                 what="the sends the other worker makes meanwhile")
        release.set()
        wait_for(lambda: not [p for p in inbox(lab, "SEC", RECEIVE).iterdir() if p.is_file()],
                 what="the slow component to take the rest")


def test_a_component_never_runs_two_units_at_once(sitesrv_lab_factory: LabFactory) -> None:
    inside, most, lock = [0], [0], threading.Lock()

    class Counting(ToySink):
        def work(self) -> bool:
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            try:
                return super().work()
            finally:
                with lock:
                    inside[0] -= 1

    lab = sitesrv_lab_factory(NO_RESCAN).root
    for n in range(300):
        drop(inbox(lab, "SEC", RECEIVE), f"F{n:03d}.SNI", b"")
    report = LiveDriver(lab, components=Registry(secondary=(Counting,)), workers=4).run(
        until_idle=True, timeout=60)
    assert report is not None and report.exit_code == ExitCode.IDLE
    assert not [p for p in inbox(lab, "SEC", RECEIVE).iterdir() if p.is_file()]
    assert most[0] == 1


class ThreeTicks(ToyTicker):
    """Ticks at its start-up unit, then twice on its own timer, then asks for none."""

    def start(self) -> None:
        self.ticks = 0

    def work(self) -> bool:
        self.ticks += 1
        self.ctx.log.write(f"Tick {self.ticks}")
        if self.ticks < 3:
            self.ctx.wake_at(self.ctx.clock.now() + self.ctx.timing.distmgr_sleep)
        return False

    def waiting(self) -> list[Waiting]:
        return []


def test_a_timer_alone_wakes_a_sleeping_component_until_it_asks_for_none(
        sitesrv_lab_factory: LabFactory) -> None:
    """The workers keep the hosts' timers in a heap, keyed when a unit ends: a component woken
    by nothing but its own timers (no file, no rescan for an hour) runs at each of them."""
    lab = sitesrv_lab_factory(two_sites("  rescan_interval: 1h\n  distmgr_sleep: 0.2s\n")).root
    log = lab / "SEC/SMS/Logs/toytick.log"

    def ticks() -> list[int]:
        return [int(n) for n in re.findall(r"Tick (\d+)", log.read_text())] \
            if log.exists() else []

    with running(lab, components=Registry(secondary=(ThreeTicks,))) as driver:
        wait_for(lambda: ticks() == [1, 2, 3], what="three ticks, two of them on its timer")
        ticker = next(h for h in driver.hosts if h.name == ThreeTicks.name)
        wait_for(lambda: driver.quiet() and ticker.next_timer() is None,
                 what="the ticker to sleep with no timer left")
    assert ticks() == [1, 2, 3]


class WaitsFailOnce(ToySink):
    """A sink whose first look at what it waits for fails: the worker, not the unit, meets
    the error, and holds the component for a rescan interval."""

    failed = False

    def waiting(self) -> list[Waiting]:
        if not WaitsFailOnce.failed:
            WaitsFailOnce.failed = True
            raise RuntimeError("cannot list the waits")
        return []


def test_a_component_held_after_a_worker_error_runs_when_the_hold_ends(
        sitesrv_lab_factory: LabFactory) -> None:
    """A file that wakes a held component is taken once the hold (0.2 s here) ends, with no
    rescan to wake it again: the waiting worker wakes for the hold's end."""
    lab = sitesrv_lab_factory(FAST_RETRY).root
    folder = inbox(lab, "SEC", RECEIVE)
    WaitsFailOnce.failed = False
    with running(lab, components=Registry(secondary=(WaitsFailOnce,))) as driver:
        driver.rescan_all = lambda why="": None  # type: ignore[method-assign]
        wait_for(lambda: WaitsFailOnce.failed, what="the first look at the waits to fail")
        drop(folder, "A.SNI", b"a")  # during the hold
        wait_for(lambda: not (folder / "A.SNI").exists(), what="A.SNI to be taken")
    log = (lab / "SEC/SMS/Logs/toysink.log").read_text()
    assert "Unexpected error in the component's worker thread" in log


def test_short_units_of_different_components_run_one_at_a_time(
        sitesrv_lab_factory: LabFactory) -> None:
    """A worker starts a unit beside another only once that one has run LONG_UNIT: short
    units side by side would only pass the interpreter lock to and fro (docs/runtime.md)."""
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    class Timed(ToySink):
        def work(self) -> bool:
            started = time.monotonic()
            try:
                return super().work()
            finally:
                with lock:
                    spans.append((started, time.monotonic()))

    class TimedOther(Timed):
        name = "SMS_TOY_OTHER"
        log_name = "toyother.log"
        inboxes = (InboxSpec(RECEIVE, ("*.XYZ",)),)

    lab = sitesrv_lab_factory(NO_RESCAN).root
    for n in range(150):
        drop(inbox(lab, "SEC", RECEIVE), f"F{n:03d}.SNI", b"")
        drop(inbox(lab, "SEC", RECEIVE), f"G{n:03d}.XYZ", b"")
    report = LiveDriver(lab, components=Registry(secondary=(Timed, TimedOther)),
                        workers=4).run(until_idle=True, timeout=60)
    assert report is not None and report.exit_code == ExitCode.IDLE
    assert not [p for p in inbox(lab, "SEC", RECEIVE).iterdir() if p.is_file()]
    spans.sort()
    beside = [(a, b) for i, a in enumerate(spans) for b in spans[i + 1:]
              if b[0] < a[1] and b[0] - a[0] < LONG_UNIT]
    assert not beside, f"{len(beside)} short units started beside another"


def _echoing(sitesrv_lab_factory: LabFactory) -> tuple[LabRuntime, ComponentHost, str]:
    """A runtime that remembers echoes, as the live driver's does with inotify."""
    lab = sitesrv_lab_factory(NO_RESCAN).root
    runtime = LiveDriver(lab, components=Registry(secondary=(ToySink,))).runtime
    runtime.echoes = {}
    return runtime, runtime.hosts[0], str(inbox(lab, "SEC", RECEIVE))


def test_the_watchers_echo_of_a_file_this_process_published_wakes_nobody_again(
        sitesrv_lab_factory: LabFactory) -> None:
    runtime, host, folder = _echoing(sitesrv_lab_factory)
    runtime.notify(folder, "A.SNI")  # what publish does: wakes the owner at once...
    assert host.wanted.is_set()
    host.wanted.clear()
    runtime.hint(str(Path(folder) / "A.SNI"))  # ...so its echo does not
    assert not host.wanted.is_set()
    runtime.hint(str(Path(folder) / "B.SNI"))  # a file someone else dropped still wakes it
    assert host.wanted.is_set()


def test_an_echo_that_never_came_does_not_swallow_a_later_drop_of_that_name(
        sitesrv_lab_factory: LabFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # The watcher's hint can come before the publisher's notify (or never, after an overflow):
    # the remembered name then expires, and someone else's drop of the same name still wakes.
    runtime, host, folder = _echoing(sitesrv_lab_factory)
    monkeypatch.setattr(host_module, "ECHO_SECONDS", 0.0)  # instead of waiting 2 s
    path = str(Path(folder) / "A.SNI")
    runtime.hint(path)  # the hint first...
    runtime.notify(folder, "A.SNI")  # ...then the publisher's own notify: an echo never comes
    host.wanted.clear()
    runtime.hint(path)  # later, someone else drops a file of that name
    assert host.wanted.is_set()


def test_a_hint_wakes_an_owner_only_for_a_name_that_is_its_work(
        sitesrv_lab_factory: LabFactory) -> None:
    # ToySink takes `*.SNI`: a payload handed over beside its instruction (`X.PCK`) is no work
    # of it, and step mode never wakes it for one.
    runtime, host, folder = _echoing(sitesrv_lab_factory)
    host.wanted.clear()
    runtime.hint(str(Path(folder) / "X.PCK"))
    assert not host.wanted.is_set()
    runtime.hint(str(Path(folder) / "x.sni"))  # names match as on Windows
    assert host.wanted.is_set()


def test_a_failure_while_reading_a_files_event_does_not_stop_the_watcher(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A file's event is handled in watchdog's dispatcher thread: a failure there would end it.
    if not watcher_module.inotify_available():
        pytest.skip("no inotify here")
    folder = tmp_path / "inboxes" / "distmgr.box"
    folder.mkdir(parents=True)
    hints: list[str] = []
    watcher = watcher_module.Watcher([tmp_path / "inboxes"], "inotify", route=hints.append,
                                     rescan=lambda why: None)
    watcher.start()
    try:
        assert watcher.observer is not None
        groups = {type(emitter._inotify).__name__ for emitter in watcher.observer.emitters}
        assert groups == {"ArrivalsWatchGroup"}, "the fast path in watchdog's dispatcher"
        failed = threading.Event()

        def broken(folder: str, name: str) -> bool:
            failed.set()
            raise RuntimeError("a bug")

        monkeypatch.setattr(watcher_module, "may_be_work", broken)
        (folder / "A.PKN").write_bytes(b"a")
        wait_for(failed.is_set, what="the event of A.PKN to be handled")
        monkeypatch.undo()
        (folder / "B.PKN").write_bytes(b"b")
        wait_for(lambda: str(folder / "B.PKN") in hints, what="the hint for B.PKN")
    finally:
        watcher.stop()

"""A site database that another program holds locked.

A person's `sitesrv sql` session, a backup or a report tool can hold a primary's `site.db`
write lock for a while. That is a reason to wait and try again, never a reason to call the
files that need the database corrupt: once the lock is gone, they are processed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from sitesrv.admin import console
from sitesrv.admin.lab import Lab
from sitesrv.components.registry import SMS_COMPONENTS
from sitesrv.db.sitedb import SiteDatabase
from sitesrv.formats import svf
from sitesrv.lab.clock import VIRTUAL_EPOCH
from sitesrv.runtime.component import Component
from sitesrv.runtime.idle import IdleReport
from sitesrv.runtime.registry import Registry
from sitesrv.runtime.schedule import read_schedule
from sitesrv.testing import drop, events, files, log_messages, query

from .conftest import (
    assert_installed_everywhere,
    create_good_package,
    every_quarantine,
    hold_write_lock,
    run,
)


def later_registry(seconds: float, action: Callable[[Path], None]) -> Registry:
    """SMS's components plus one that calls `action(lab_root)` once, `seconds` of lab time
    into the run."""
    class Later(Component):
        name = "TEST_LATER"
        log_name = "test-later.log"
        inboxes = ()
        due: float | None = None

        def work(self) -> bool:
            now = self.ctx.clock.now()
            if Later.due is None:
                Later.due = now + seconds
                self.ctx.wake_at(Later.due)
            elif now >= Later.due > 0:
                Later.due = 0
                action(self.ctx.lab.root)
            return False

    return Registry(primary=(*SMS_COMPONENTS.primary, Later), secondary=SMS_COMPONENTS.secondary)


def run_with_the_lock_released_later(lab: Lab, site: str) -> IdleReport:
    """A step run while another connection holds `site`'s database write lock, which it
    gives back 200 s of lab time into the run."""
    lock = hold_write_lock(lab.site(site).database)

    def release(root: Path) -> None:
        lock.rollback()
        lock.close()

    try:
        return run(lab, components=later_registry(200, release))
    finally:
        lock.close()


@pytest.mark.usefixtures("short_busy_timeout")
def test_replicated_packages_wait_while_the_site_database_is_locked_and_install_after(
        lab: Lab, tmp_path: Path) -> None:
    """A package for every DP is created at ZZZ while another connection holds P00's database
    in `BEGIN IMMEDIATE`; the first run ends with the lock still held, the second after it is
    released."""
    package = create_good_package(lab, tmp_path)
    lock = hold_write_lock(lab.site("P00").database)
    try:
        held = run(lab)
        incoming = files(lab.site("P00").inbox("distmgr.box\\INCOMING"), "*.PKG")
    finally:
        lock.rollback()
        lock.close()

    assert held.status == "waiting", "\n".join(held.lines())
    assert held.errors == 0, "a wait for the database was counted as a failed unit"
    assert not [p for p in held.problems if "failed" in p.item], "\n".join(held.lines())
    assert every_quarantine(lab) == []
    assert events(lab, "quarantined") == []
    assert incoming, "no replicated .PKG waits in P00's distmgr.box\\INCOMING"

    released = run(lab)

    assert released.status == "idle", "\n".join(released.lines())
    assert every_quarantine(lab) == []
    assert_installed_everywhere(lab, package)


@pytest.mark.usefixtures("short_busy_timeout")
def test_a_lock_released_during_the_run_leaves_no_failed_unit(lab: Lab, tmp_path: Path) -> None:
    """The lock goes 200 s of lab time into the run: everything installs, and the run ends
    idle, as if nothing had waited (no failed unit is reported)."""
    package = create_good_package(lab, tmp_path)
    report = run_with_the_lock_released_later(lab, "P00")

    assert report.status == "idle", "\n".join(report.lines())
    assert report.errors == 0
    assert every_quarantine(lab) == []
    assert_installed_everywhere(lab, package)


@pytest.mark.usefixtures("short_busy_timeout")
def test_a_database_locked_exclusively_when_components_open_it_is_waited_for(
        lab: Lab, tmp_path: Path) -> None:
    """Another program holds P00's database in locking_mode=EXCLUSIVE (a backup, a person's
    sqlite3 session) for the whole first run: the components that open it as they start wait,
    nothing is quarantined, no unit fails, and the second run installs everything."""
    package = create_good_package(lab, tmp_path)
    other = sqlite3.connect(lab.site("P00").database, isolation_level=None, timeout=0)
    other.execute("PRAGMA locking_mode = EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    other.execute("COMMIT")  # the exclusive lock stays until the connection closes
    try:
        held = run(lab)
    finally:
        other.close()

    assert held.status == "waiting", "\n".join(held.lines())
    assert held.errors == 0, "\n".join(held.lines())
    assert every_quarantine(lab) == []
    assert any(m.startswith("The site database is busy; the component starts again in ")
               for m in log_messages(lab, "P00", "distmgr.log"))

    released = run(lab)

    assert released.status == "idle", "\n".join(released.lines())
    assert_installed_everywhere(lab, package)


@pytest.mark.usefixtures("short_busy_timeout")
def test_status_messages_wait_in_retry_while_the_database_is_held(lab: Lab) -> None:
    """Another program holds ZZZ's database EXCLUSIVE: a status message moves to
    `statmgr.box\\retry` and waits there, counted as no failure; once the lock is gone it is
    stored, once."""
    site = lab.site("ZZZ")
    drop(site.inbox("statmgr.box\\statmsgs"), "HELD0001.SVF", svf.encode(svf.StatusMessageFile(
        message_id=2301, severity="I", level="M", module_name="SMS Server",
        component="SMS_DISTRIBUTION_MANAGER", machine_name="MGMT03", site_code="P00",
        process_id=2154, thread_id=1001, time=VIRTUAL_EPOCH,
        strings=(svf.InsertionString(value="Held"),))))
    lock = sqlite3.connect(site.database, isolation_level=None, timeout=0)
    try:
        lock.execute("PRAGMA locking_mode = EXCLUSIVE")
        lock.execute("BEGIN EXCLUSIVE")
        held = run(lab)
        assert held.errors == 0, "a wait for the database was counted as a failed unit"
        assert not [p for p in held.problems if "failed" in p.item], "\n".join(held.lines())
        assert files(site.inbox("statmgr.box\\retry"), "*.SVF") == ["HELD0001.SVF"]
        assert "The site database is busy; status message HELD0001.SVF waits in " \
               "E:\\SMS\\inboxes\\statmgr.box\\retry\\HELD0001.SVF" in \
               log_messages(lab, "ZZZ", "statmgr.log")
    finally:
        lock.close()
    released = run(lab)
    assert released.errors == 0 and every_quarantine(lab) == []
    assert not files(site.inbox("statmgr.box\\retry"))
    with SiteDatabase.open(site.database) as db:
        rows = db.execute_user_sql("SELECT MessageID, ISTR0 FROM StatusMessages").rows
    assert rows == ((2301, "Held"),)


@pytest.mark.usefixtures("short_busy_timeout")
def test_sql_monitor_polls_past_a_write_lock_while_nothing_is_queued(lab: Lab,
                                                                    tmp_path: Path) -> None:
    """A poll that finds no notification only reads: a person's open write transaction (a
    `sitesrv sql` session in the middle of a repair) does not make SQL Monitor wait for it."""
    lock = hold_write_lock(lab.site("P00").database)
    try:
        run(lab, max_steps=200, record=tmp_path / "schedule.jsonl")
    finally:
        lock.rollback()
        lock.close()
    polls = [s.did for s in read_schedule(tmp_path / "schedule.jsonl").steps
             if (s.site, s.component) == ("P00", "SMS_SQL_MONITOR")]
    assert polls and set(polls) == {"nothing"}, polls  # it polled, and never waited
    messages = log_messages(lab, "P00", "smsdbmon.log")
    assert not [m for m in messages if "busy" in m], messages
    assert not [e for e in events(lab.root, "database_busy")
                if e["component"] == "SMS_SQL_MONITOR"]


@pytest.mark.usefixtures("short_busy_timeout")
def test_a_notification_sql_monitor_cannot_take_keeps_the_run_waiting(lab: Lab,
                                                                      tmp_path: Path) -> None:
    """A package waits in PkgNotification while another program holds ZZZ's write lock: SQL
    Monitor's poll finds it but cannot take it. The run retries and ends waiting, its wait
    listed, not idle with "nothing waits"; once the lock is gone the package is installed."""
    package = create_good_package(lab, tmp_path)
    lock = hold_write_lock(lab.site("ZZZ").database)
    try:
        held = run(lab)
    finally:
        lock.rollback()
        lock.close()

    assert held.status == "waiting", "\n".join(held.lines())
    assert held.errors == 0, "\n".join(held.lines())
    assert [str(w) for w in held.waits if w.site == "ZZZ" and w.component == "SMS_SQL_MONITOR"
            ] == ["ZZZ SMS_SQL_MONITOR: (the component) waits for the site database "
                  "(OperationalError: database is locked)"], "\n".join(held.lines())
    assert "The site database is busy; the component runs again in 80 seconds" in \
        log_messages(lab, "ZZZ", "smsdbmon.log"), "the retries stopped before the horizon"

    released = run(lab)

    assert released.status == "idle", "\n".join(released.lines())
    assert query(lab, "ZZZ", "SELECT COUNT(*) FROM PkgNotification") == [(0,)]
    assert_installed_everywhere(lab, package)


@pytest.mark.usefixtures("short_busy_timeout")
def test_a_pass_that_meets_a_busy_database_is_done_again_in_the_same_run(
        lab: Lab, tmp_path: Path) -> None:
    """A bug hunt found a pass taken up at start-up (its actions set, no notification coming:
    KB834123) dropped for the rest of the run when its first write met a held database: the
    delta went to P00, the package information never did, and P00 waited for it. The lock goes
    200 s into the run; the pass is done again and version 2 reaches every DP."""
    package = create_good_package(lab, tmp_path)
    run(lab)
    (package.source / "NEW.TXT").write_bytes(b"version 2")
    console.update_package(lab, package.package_id)
    with sqlite3.connect(lab.site("ZZZ").database) as db:  # the pass is taken up at start-up
        db.execute("DELETE FROM PkgNotification")
    report = run_with_the_lock_released_later(lab, "ZZZ")

    assert report.status == "idle", "\n".join(report.lines())
    assert any(m.startswith("The site database is busy; the component runs again in ")
               for m in log_messages(lab, "ZZZ", "distmgr.log"))
    assert_installed_everywhere(lab, package)
    assert query(lab, "ZZZ", "SELECT SourceVersion, Action FROM SMSPackages") == [(2, 0)]

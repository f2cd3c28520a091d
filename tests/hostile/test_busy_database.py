"""A site database that another program holds locked.

A person's `sitesrv sql` session, a backup or a report tool can hold a primary's `site.db`
write lock for a while. That is a reason to wait and try again, never a reason to call the
files that need the database corrupt: once the lock is gone, they are processed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sitesrv.admin.lab import Lab
from sitesrv.db import sitedb
from sitesrv.db.sitedb import SiteDatabase
from sitesrv.testing import events, files

from .conftest import (
    assert_installed_everywhere,
    create_good_package,
    every_quarantine,
    hold_write_lock,
    run,
)

SHORT_BUSY_TIMEOUT = 0.01  # seconds; the default of 10 s would make each attempt slow


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Components give up on a locked database after a fraction of a second."""
    monkeypatch.setattr(sitedb, "DEFAULT_BUSY_TIMEOUT", SHORT_BUSY_TIMEOUT)
    # The constant is also the default argument of these, bound when they were defined.
    for method in (SiteDatabase.open, SiteDatabase.create):
        monkeypatch.setitem(method.__func__.__kwdefaults__, "busy_timeout", SHORT_BUSY_TIMEOUT)


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
    assert every_quarantine(lab) == []
    assert events(lab, "quarantined") == []
    assert incoming, "no replicated .PKG waits in P00's distmgr.box\\INCOMING"

    released = run(lab)

    assert released.status == "idle", "\n".join(released.lines())
    assert every_quarantine(lab) == []
    assert_installed_everywhere(lab, package)

"""A person's UPDATE from another process while the site server holds a transaction."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import sitesrv
from sitesrv.db.sitedb import ChangeResult, QueryResult, Site, SiteDatabase, SiteType
from sitesrv.errors import UserError

# How long the server holds its transaction, so the person's UPDATE meets the lock. The tests
# assert what happened (the final values, the error), never how long anything took.
HOLD_SECONDS = 0.6

# What `sitesrv sql ZZZ "UPDATE ..."` does, in a process of its own.
PERSON = """
import sys
from sitesrv.db.sitedb import SiteDatabase
db = SiteDatabase.open(sys.argv[1])
print("ready", flush=True)
result = db.execute_user_sql("UPDATE Sites SET SiteName = 'by hand' WHERE SiteCode = 'ZZZ'")
print(result.rowcount, flush=True)
"""


@pytest.fixture
def site_db(db: SiteDatabase) -> SiteDatabase:
    db.put_site(Site("ZZZ", "MGMT01", SiteType.PRIMARY, SiteName="Central"))
    return db


def site_name(db: SiteDatabase) -> str:
    result = db.execute_user_sql("SELECT SiteName FROM Sites WHERE SiteCode = 'ZZZ'")
    assert isinstance(result, QueryResult)
    return result.rows[0][0]


@pytest.mark.live_fs  # another process, and the real time it takes to meet the lock
def test_another_process_waits_for_the_transaction_then_updates(site_db: SiteDatabase) -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(sitesrv.__file__).parent.parent))
    with subprocess.Popen(
        [sys.executable, "-c", PERSON, str(site_db.path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as person:
        assert person.stdout is not None
        with site_db.transaction():
            site_db.execute_user_sql("UPDATE Sites SET SiteName = 'by the server'")
            assert person.stdout.readline().strip() == "ready"
            time.sleep(HOLD_SECONDS)
        rowcount = person.stdout.readline().strip()
    assert person.returncode == 0
    assert rowcount == "1"
    # The person's UPDATE came after the server's committed one: it waited, it did not fail.
    assert site_name(site_db) == "by hand"


def test_readers_are_not_blocked_by_a_writer(site_db: SiteDatabase) -> None:
    with SiteDatabase.open(site_db.path, busy_timeout=0.1) as reader, site_db.transaction():
        site_db.execute_user_sql("UPDATE Sites SET SiteName = 'uncommitted'")
        assert site_name(reader) == "Central"
    assert site_db.path.with_name("site.db-wal").exists()


def test_a_writer_gives_up_after_the_busy_timeout(site_db: SiteDatabase) -> None:
    with (
        SiteDatabase.open(site_db.path, busy_timeout=0.2) as other,
        site_db.transaction(),
        pytest.raises(UserError) as caught,
    ):
        other.execute_user_sql("UPDATE Sites SET SiteName = 'too late'")
    assert str(caught.value) == (
        "SQL error: database is locked (another process held the site database for more "
        "than 0.2 s; try again)"
    )
    assert site_name(site_db) == "Central"


def test_a_connection_can_be_handed_to_a_worker_thread(site_db: SiteDatabase) -> None:
    """A component opens its database when it starts and works from its worker thread."""
    outcome: dict[str, object] = {}

    def worker() -> None:
        outcome["read"] = site_db.get_site("ZZZ")
        with SiteDatabase.open(site_db.path) as own:
            outcome["own"] = own.execute_user_sql("UPDATE Sites SET SiteName = 'worker'")

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert outcome["read"] is not None
    assert outcome["own"] == ChangeResult(1)
    assert site_name(site_db) == "worker"

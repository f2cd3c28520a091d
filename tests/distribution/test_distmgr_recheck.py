"""A `.PKG` kept in INCOMING is looked at again and again (the retry pass, a restart): each
look logs as SMS's does, and one that finds nothing changed writes nothing (issue 15)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sitesrv.admin.lab import Lab
from sitesrv.lab.clock import VIRTUAL_EPOCH
from sitesrv.testing import events, log_messages, query
from tests.distribution.test_distmgr_child import DISTMGR, incoming, replicate, replication, stored

INCOMING = "E:\\SMS\\inboxes\\distmgr.box\\INCOMING\\"
WAITING = ("Package ZZZ00001 requires a newer version (1) of source files and the new compressed "
           f"files haven't arrived yet, current version is 0, skip {INCOMING}Z3AWAX9I.PKG")
LOOKS = (f"Processing incoming file {INCOMING}Z3AWAX9I.PKG.",
         "~Updated replicated package info for package ZZZ00001", WAITING)
TABLES = ("SMSPackages", "PkgServers")


def audit(lab: Lab, site: str) -> None:
    """Record every row written to the package tables of a site's database from now on, by
    whatever connection writes it (triggers, as in schema.sql)."""
    with sqlite3.connect(lab.site(site).database) as db:
        db.execute("CREATE TABLE Written (TableName TEXT, Operation TEXT)")
        for table in TABLES:
            for operation in ("INSERT", "UPDATE", "DELETE"):
                db.execute(f"CREATE TRIGGER Audit{table}{operation} AFTER {operation} ON {table} "
                           f"BEGIN INSERT INTO Written VALUES ('{table}', '{operation}'); END")


def written(lab: Lab, site: str) -> list[tuple[str, str]]:
    return query(lab, site, "SELECT TableName, Operation FROM Written")


def rows(lab: Lab, site: str) -> list[list[tuple[object, ...]]]:
    return [query(lab, site, f"SELECT * FROM {t}") for t in TABLES]


def looks(lab: Lab, site: str) -> dict[str, int]:
    messages = log_messages(lab, site, "distmgr.log")
    return {line: messages.count(line) for line in LOOKS}


def test_a_look_again_that_finds_nothing_changed_writes_no_row(lab: Lab) -> None:
    replicate(lab, "P00", "Z3AWAX9I.PKG", replication(1, VIRTUAL_EPOCH))
    lab.run_until_idle(seed=1, components=DISTMGR)
    first = looks(lab, "P00")
    assert set(first.values()) != {0} and len(set(first.values())) == 1
    kept = rows(lab, "P00")
    assert kept[0] and kept[1], "the first look recorded the package and its DP"
    deferred = len(events(lab, "deferred"))
    audit(lab, "P00")
    report = lab.run_until_idle(seed=1, components=DISTMGR)  # a restart: every file again
    again = looks(lab, "P00")
    assert all(again[line] > first[line] for line in LOOKS), "each look logs its lines"
    assert len(set(again.values())) == 1
    assert len(events(lab, "deferred")) - deferred == again[WAITING] - first[WAITING]
    assert written(lab, "P00") == []
    assert rows(lab, "P00") == kept
    assert incoming(lab, "P00") == ["Z3AWAX9I.PKG"] and report.status == "waiting"


def test_a_look_again_puts_back_what_changed_since(lab: Lab, tmp_path: Path) -> None:
    """Only a look that finds the rows as the file left them writes nothing: one that finds
    them changed writes the file's values again, as every look did before; a newer `.PKG`
    and the compressed files arriving are written as ever."""
    replicate(lab, "P00", "Z3AWAX9I.PKG", replication(1, VIRTUAL_EPOCH))
    lab.run_until_idle(seed=1, components=DISTMGR)
    kept = rows(lab, "P00")
    audit(lab, "P00")
    with sqlite3.connect(lab.site("P00").database) as db:  # a person's SQL meanwhile
        db.execute("UPDATE SMSPackages SET Name = 'Edited', Priority = 3")
        db.execute("UPDATE PkgServers SET SourceSite = 'P00'")
        db.execute("DELETE FROM Written")
    lab.run_until_idle(seed=1, components=DISTMGR)
    assert ("SMSPackages", "UPDATE") in written(lab, "P00")
    assert ("PkgServers", "UPDATE") in written(lab, "P00")
    assert rows(lab, "P00") == kept
    replicate(lab, "P00", "AAAAAAAA.PKG", replication(2, VIRTUAL_EPOCH + 600))
    lab.run_until_idle(seed=1, components=DISTMGR)
    assert query(lab, "P00", "SELECT SourceVersion, LastRefresh FROM SMSPackages") == [
        (2, "2007-06-04 09:10:00.000")], "the newer .PKG's"
    assert incoming(lab, "P00") == ["AAAAAAAA.PKG"], "the older one is discarded (KB936465)"
    stored(lab, "P00", 2, tmp_path)
    lab.run_until_idle(seed=1, components=DISTMGR)
    assert incoming(lab, "P00") == []
    assert query(lab, "P00", "SELECT Status, SourceVersion FROM PkgStatus WHERE Type = 2") == [
        (3, 2)]
    dp = lab.site("P00").root / "dp/REMOTE_DP/smsapps/SMSPKG/ZZZ00001"
    assert (dp / "SETUP.INI").read_bytes() == b"v2"


def test_a_secondary_keeps_its_package_file_while_the_pkg_waits(lab: Lab) -> None:
    """A secondary keeps the same facts in a file per package: a look that changes nothing
    leaves that file alone (the same file, not a copy written again)."""
    name = "Z3AWAX9I.PKG"
    replicate(lab, "S01", name, replication(1, VIRTUAL_EPOCH, site="S01"))
    lab.run_until_idle(seed=1, components=DISTMGR)
    state = lab.site("S01").state_dir / "packages" / "ZZZ00001.json"
    before = (state.stat().st_ino, state.stat().st_mtime_ns, state.read_bytes())
    first = looks(lab, "S01")
    lab.run_until_idle(seed=1, components=DISTMGR)
    assert all(n > first[line] for line, n in looks(lab, "S01").items())
    assert (state.stat().st_ino, state.stat().st_mtime_ns, state.read_bytes()) == before
    assert incoming(lab, "S01") == [name]

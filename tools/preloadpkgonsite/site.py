"""One site of a lab as the tool sees it: its package facts, and the changes the tool makes.

A primary keeps its packages in its site database (`<SITE>\\SMS\\site.db`, SMS's tables), read
and written here with plain SQL; a secondary has no database and keeps the same facts in
`<SITE>\\SMS\\state\\packages\\<PkgID>.json` (docs/tools.md has both formats). Nothing here
imports sitesrv's own database or store code: these are the files any tool may use. Every file
in a lab may have been damaged by hand, so each read is bounded and checked (Damaged).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import attrs

from preloadpkgonsite.files import Damaged, check_file, read_small, write_atomically

RECEIVED = 2  # PkgStatus.Status: the site holds the compressed copy
MASTER = 1  # PkgStatus.Type: the site's compressed copy (Type 2 rows are DPs)
BUSY_TIMEOUT = 10.0  # seconds to wait for a site database another connection holds
MAX_STATE_BYTES = 16 * 1024 * 1024  # a secondary's package state file, read whole
MAX_SMALL_FILE = 64 * 1024  # server.lock, a stored package information file
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")  # what SQLite keeps beside a database


class SiteBusy(Exception):
    """The site cannot be changed now (its database is locked, its site server runs)."""


@attrs.frozen
class Package:
    """What the site knows of a package: the columns the tool reads."""

    package_id: str
    source_site: str
    source: str
    source_version: int
    stored_version: int


@attrs.frozen
class StoredCopy:
    """The site's copy to register: the PkgStatus Type 1 row RECEIVED and the package's
    StoredPkgVersion and StoredPkgPath."""

    package_id: str
    site_code: str
    site_server: str
    version: int
    path: str  # StoredPkgPath and the row's Location: the PCK's UNC path
    when: float  # lab time, seconds since the Unix epoch (UTC)


class PackageFacts(Protocol):
    folder: Path  # where the facts are kept: checked before they are opened (files.py)

    def package(self, package_id: str) -> Package | None: ...

    def register(self, copy: StoredCopy, announce: Callable[[], None]) -> None:
        """Register `copy`, calling `announce` (which sends the status up) once the site is
        sure to take the change and before it is made: a failure leaves nothing half done."""


class SiteDatabase:
    """A primary site's database, through SQL."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.folder = path.parent

    def _connect(self) -> sqlite3.Connection:
        # SQLite writes the database and, beside it, its -wal, -shm or -journal file, each
        # through a link planted under its name: none may be one.
        for path in (self.path, *(self.path.with_name(self.path.name + suffix)
                                  for suffix in SQLITE_SIDE_FILES)):
            check_file(path)
        if not self.path.is_file():
            raise Damaged(f"the site database {self.path} is missing")
        uri = self.path.absolute().as_uri() + "?mode=rw"
        return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT, isolation_level=None)

    def package(self, package_id: str) -> Package | None:
        connection = self._connect()
        try:
            row = connection.execute(
                "SELECT PkgID, SourceSite, Source, SourceVersion, StoredPkgVersion "
                "FROM SMSPackages WHERE PkgID = ?", (package_id,)).fetchone()
        except sqlite3.Error as e:
            raise _busy_or_damaged(e, self.path) from None
        finally:
            connection.close()
        return None if row is None else _package(dict(zip(
            ("PkgID", "SourceSite", "Source", "SourceVersion", "StoredPkgVersion"), row,
            strict=True)), self.path)

    def register(self, copy: StoredCopy, announce: Callable[[], None]) -> None:
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")  # the lock first: busy is found before anything
            connection.execute(
                "UPDATE SMSPackages SET StoredPkgVersion = ?, StoredPkgPath = ? WHERE PkgID = ?",
                (copy.version, copy.path, copy.package_id))
            connection.execute(
                "INSERT INTO PkgStatus (ID, Type, SiteCode, PkgServer, Status, UpdateTime, "
                "Location, SourceVersion) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (ID, Type, SiteCode, PkgServer) DO UPDATE SET "
                "Status = excluded.Status, UpdateTime = excluded.UpdateTime, "
                "Location = excluded.Location, SourceVersion = excluded.SourceVersion",
                (copy.package_id, MASTER, copy.site_code, copy.site_server, RECEIVED,
                 database_time(copy.when), copy.path, copy.version))
            announce()
            connection.execute("COMMIT")
        except sqlite3.Error as e:
            raise _busy_or_damaged(e, self.path) from None
        finally:
            connection.close()  # without COMMIT, the transaction is rolled back


class StateFiles:
    """A secondary site's package state files (one JSON file per package)."""

    def __init__(self, state_dir: Path, site_root: Path) -> None:
        self.state_dir = state_dir
        self.folder = state_dir / "packages"
        self.site_root = site_root

    def _path(self, package_id: str) -> Path:
        return self.folder / f"{package_id.upper()}.json"

    def _load(self, package_id: str) -> dict[str, Any] | None:
        path = self._path(package_id)
        data = read_small(path, MAX_STATE_BYTES)
        if data is None:
            return None
        try:
            doc = json.loads(data)
        except ValueError as e:
            raise Damaged(f"{path} is not JSON ({e})") from None
        if not (isinstance(doc, dict) and isinstance(doc.get("package"), dict)
                and isinstance(doc.get("status", []), list)
                and all(isinstance(r, dict) for r in doc.get("status", []))):
            raise Damaged(f"{path} is not a package state file (docs/tools.md)")
        _package(doc["package"], path)
        return doc

    def package(self, package_id: str) -> Package | None:
        doc = self._load(package_id)
        return None if doc is None else _package(doc["package"], self._path(package_id))

    def register(self, copy: StoredCopy, announce: Callable[[], None]) -> None:
        self._refuse_if_running()
        doc = self._load(copy.package_id)
        if doc is None:
            raise Damaged(f"the package state of {copy.package_id} is gone")
        doc["package"].update(StoredPkgVersion=copy.version, StoredPkgPath=copy.path)
        row = {"ID": copy.package_id, "Type": MASTER, "SiteCode": copy.site_code,
               "PkgServer": copy.site_server, "Status": RECEIVED, "UpdateTime": copy.when,
               "Location": copy.path, "ShareName": "", "SourceVersion": copy.version,
               "Personality": 0}
        key = (MASTER, copy.site_code.upper(), copy.site_server.upper())
        rows = [r for r in doc.get("status", []) if _row_key(r) != key]
        doc["status"] = sorted([*rows, row], key=_row_key)
        data = json.dumps(doc, indent=1, sort_keys=True).encode("utf-8")
        announce()
        write_atomically(self.site_root, self._path(copy.package_id), data)

    def _refuse_if_running(self) -> None:
        """A site server keeps these files up to date itself; a change made beside it could be
        lost. Its lock (`state\\server.lock`, docs/runtime.md) says whether one runs."""
        lock = self.state_dir / "server.lock"
        data = read_small(lock, MAX_SMALL_FILE)
        try:
            holder = json.loads(data) if data else {}
            host, pid = holder.get("host"), int(holder.get("pid", 0))
        except (ValueError, TypeError, AttributeError):
            raise Damaged(f"{lock} does not say which process holds it: if no site server runs "
                          "the site, delete it") from None
        if host == socket.gethostname() and _alive(pid):
            raise SiteBusy(f"a site server (process {pid}) is running this secondary site "
                           f"({lock} is held): stop it, or wait until its run ends, and run "
                           "the tool again")


def database_time(when: float) -> str:
    """Lab time as the site database keeps it: `2007-06-04 09:00:00.000` (UTC). The format is
    the database's documented one (docs/tools.md); the tool writes it with its own code, as a
    tool of yours would."""
    ms = round(when * 1000)
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.") + \
        f"{ms % 1000:03d}"


def _package(row: dict[str, Any], where: Path) -> Package:
    """The columns the tool reads, each of the type SMS keeps it in."""
    try:
        values = {name: row[name] for name in ("PkgID", "SourceSite", "SourceVersion",
                                                "StoredPkgVersion")}
        source = row.get("Source") or ""
    except KeyError as e:
        raise Damaged(f"{where} has no {e.args[0]} for the package") from None
    if not (all(isinstance(values[k], str) for k in ("PkgID", "SourceSite"))
            and all(type(values[k]) is int for k in ("SourceVersion", "StoredPkgVersion"))
            and isinstance(source, str)):
        raise Damaged(f"{where} holds a package row with values of the wrong type")
    return Package(values["PkgID"], values["SourceSite"], source, values["SourceVersion"],
                   values["StoredPkgVersion"])


def _row_key(row: dict[str, Any]) -> tuple[int, str, str]:
    try:
        return int(row["Type"]), str(row["SiteCode"]).upper(), str(row["PkgServer"]).upper()
    except (KeyError, TypeError, ValueError):
        raise Damaged("a package state file holds a status row without Type, SiteCode and "
                      "PkgServer") from None


def _alive(pid: int) -> bool:
    if pid <= 0 or os.name == "nt":
        return pid > 0  # Windows: os.kill would end the process; take the lock as held
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _busy_or_damaged(e: sqlite3.Error, path: Path) -> Exception:
    if "locked" in str(e) or "busy" in str(e):
        return SiteBusy(f"the site database is in use by another connection ({e}) and stayed "
                        f"so for {BUSY_TIMEOUT:.0f} seconds: commit or close it, and run the "
                        "tool again")
    return Damaged(f"the site database {path} cannot be used ({e})")

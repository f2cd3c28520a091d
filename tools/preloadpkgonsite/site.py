"""One site of a lab as the tool sees it: its package facts, and the changes the tool makes.

A primary keeps its packages in its site database (`<SITE>\\SMS\\site.db`, SMS's tables), read
and written here with plain SQL; a secondary has no database and keeps the same facts in
`<SITE>\\SMS\\state\\packages\\<PkgID>.json` (docs/tools.md has both formats). Nothing here
imports sitesrv's own database or store code: these are the files any tool may use.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import attrs

RECEIVED = 2  # PkgStatus.Status: the site holds the compressed copy
MASTER = 1  # PkgStatus.Type: the site's compressed copy (Type 2 rows are DPs)
BUSY_TIMEOUT = 10.0  # seconds to wait for a site database another connection holds
MAX_STATE_BYTES = 16 * 1024 * 1024  # a secondary's package state file, read whole


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
    stored_path: str


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
    def package(self, package_id: str) -> Package | None: ...
    def register(self, copy: StoredCopy) -> None: ...


class SiteDatabase:
    """A primary site's database, through SQL."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri() + "?mode=rw"
        return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT, isolation_level=None)

    def package(self, package_id: str) -> Package | None:
        connection = self._connect()
        try:
            row = connection.execute(
                "SELECT PkgID, SourceSite, Source, SourceVersion, StoredPkgVersion, "
                "StoredPkgPath FROM SMSPackages WHERE PkgID = ?", (package_id,)).fetchone()
        except sqlite3.OperationalError as e:
            raise _busy_or(e) from None
        finally:
            connection.close()
        return None if row is None else Package(*row)

    def register(self, copy: StoredCopy) -> None:
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
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
            connection.execute("COMMIT")
        except sqlite3.OperationalError as e:
            raise _busy_or(e) from None
        finally:
            connection.close()


class StateFiles:
    """A secondary site's package state files (one JSON file per package)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def _path(self, package_id: str) -> Path:
        return self.state_dir / "packages" / f"{package_id.upper()}.json"

    def _load(self, package_id: str) -> dict[str, Any] | None:
        path = self._path(package_id)
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            return None
        if len(data) > MAX_STATE_BYTES:
            raise ValueError(f"{path} is larger than {MAX_STATE_BYTES} bytes")
        doc = json.loads(data)
        return doc if isinstance(doc, dict) and isinstance(doc.get("package"), dict) else None

    def package(self, package_id: str) -> Package | None:
        doc = self._load(package_id)
        if doc is None:
            return None
        p = doc["package"]
        return Package(p["PkgID"], p["SourceSite"], p.get("Source", ""), p["SourceVersion"],
                       p["StoredPkgVersion"], p.get("StoredPkgPath", ""))

    def register(self, copy: StoredCopy) -> None:
        self._refuse_if_running()
        doc = self._load(copy.package_id)
        if doc is None:
            raise ValueError(f"the package state of {copy.package_id} is gone")
        doc["package"].update(StoredPkgVersion=copy.version, StoredPkgPath=copy.path)
        row = {"ID": copy.package_id, "Type": MASTER, "SiteCode": copy.site_code,
               "PkgServer": copy.site_server, "Status": RECEIVED, "UpdateTime": copy.when,
               "Location": copy.path, "ShareName": "", "SourceVersion": copy.version,
               "Personality": 0}
        key = (MASTER, copy.site_code.upper(), copy.site_server.upper())
        rows = [r for r in doc.get("status", [])
                if (r["Type"], r["SiteCode"].upper(), r["PkgServer"].upper()) != key]
        doc["status"] = sorted([*rows, row], key=lambda r: (r["Type"], r["SiteCode"].upper(),
                                                           r["PkgServer"].upper()))
        write_atomically(self._path(copy.package_id),
                         json.dumps(doc, indent=1, sort_keys=True).encode("utf-8"))

    def _refuse_if_running(self) -> None:
        """A site server keeps these files up to date itself; a change made beside it could be
        lost. Its lock (`state\\server.lock`, docs/runtime.md) says whether one runs."""
        lock = self.state_dir / "server.lock"
        try:
            holder = json.loads(lock.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return
        if holder.get("host") == socket.gethostname() and _alive(int(holder.get("pid", 0))):
            raise SiteBusy(f"a site server (process {holder['pid']}) is running this secondary "
                           f"site ({lock} is held): stop it, or wait until its run ends, and run "
                           "the tool again")


def write_atomically(path: Path, data: bytes) -> None:
    """Write `path` under a temp name in its folder and rename it into place; a link planted at
    the temp name is replaced, never written through."""
    tmp = path.with_name(f".{path.name}.preloadpkgonsite.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def database_time(when: float) -> str:
    """Lab time as the site database keeps it: `2007-06-04 09:00:00.000` (UTC)."""
    ms = round(when * 1000)
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.") + \
        f"{ms % 1000:03d}"


def _alive(pid: int) -> bool:
    if pid <= 0 or os.name == "nt":
        return pid > 0  # Windows: os.kill would end the process; take the lock as held
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _busy_or(e: sqlite3.OperationalError) -> Exception:
    if "locked" in str(e) or "busy" in str(e):
        return SiteBusy(f"the site database is in use by another connection ({e}) and stayed "
                        f"so for {BUSY_TIMEOUT:.0f} seconds: commit or close it, and run the "
                        "tool again")
    return e

"""The site database of a primary site: SQLite with SMS 2003's tables (see docs/database.md).

Users' repair SQL from the field reports runs verbatim against it, so the tables keep SMS's names
and the helpers below keep SMS's rules (monotonic SourceVersion, parent-table checks, package ID
sequence). Times are lab time, seconds since the Unix epoch (UTC) as `Clock.now()` returns them,
so step mode stays deterministic; the database stores them as text (`format_time`).

Threads: each component opens its own `SiteDatabase` when it starts (in the driver's thread) and
then uses it from the live driver's workers, one thread at a time; connections are opened without
sqlite3's same-thread check for that hand-over. WAL mode and a busy timeout let all the
connections, and a person's `sitesrv sql` from another process, share the file safely.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import stat
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import attrs

from sitesrv.errors import FormatError, SitesrvError, UserError
from sitesrv.files.regular import kind_of
from sitesrv.lab.identifiers import MAX_PACKAGE_NUMBER
from sitesrv.lab.identifiers import format_package_id as format_package_id  # API here too
from sitesrv.lab.identifiers import parse_package_id as parse_package_id

SCHEMA_VERSION = 5
DEFAULT_BUSY_TIMEOUT = 10.0
# Columns of later schema versions than a table's first: `create` adds those a database made by
# an older sitesrv lacks (CREATE TABLE IF NOT EXISTS leaves its tables as they were).
_ADDED_COLUMNS = (
    ("SMSPackages", "UpdateMask", "INTEGER NOT NULL DEFAULT 0"),
    ("SMSPackages", "StoredPkgSource", "TEXT COLLATE NOCASE NOT NULL DEFAULT ''"),
)
# SMSPackages.UpdateMask: the bit RefreshPkgSource ("update distribution points") sets with the
# UPDATE action (docs/sources.md#package-actions); an UPDATE without it is a property change.
REFRESH_SOURCE = 32
# What `init` does to a site database that is older than this sitesrv or lacks part of its schema.
INIT_REPAIRS = ("run 'sitesrv init' on its lab (with --lab), which brings its databases up to "
                "date, making what they lack, and keeps their data")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_TIME_FORMAT = "YYYY-MM-DD HH:MM:SS.mmm"


class PackageStatus(IntEnum):
    """PkgStatus.Status (SDK SMS_PackageStatus.Status)."""

    NONE = 0
    SENT = 1
    RECEIVED = 2
    INSTALLED = 3
    RETRY = 4
    FAILED = 5
    REMOVED = 6
    PENDING_REMOVE = 7


class StatusType(IntEnum):
    """PkgStatus.Type: MASTER is a site's compressed copy, COPY is one DP."""

    MASTER = 1
    COPY = 2


class SiteType(IntEnum):
    """Sites.Type, as SMS_Site.Type."""

    SECONDARY = 1
    PRIMARY = 2


class PackageAction(IntEnum):
    """SMSPackages.Action, PkgServers.Action and PkgNotification.Type."""

    NONE = 0
    UPDATE = 1
    ADD = 2
    DELETE = 3


def is_busy(error: BaseException) -> bool:
    """Whether `error` is another connection holding the database for longer than the busy
    timeout (SQLITE_BUSY, SQLITE_LOCKED, with their extended codes): a transient cause, to
    wait for, never a reason to give up on the work."""
    code = getattr(error, "sqlite_errorcode", None)
    return (isinstance(error, sqlite3.OperationalError) and code is not None
            and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED))


def busy_advice(busy_timeout: float) -> str:
    """What a person is told when the site database stayed busy (`sitesrv sql`, any command)."""
    return (f"another process held the site database for more than {busy_timeout:g} s; "
            "try again")


def database_busy(error: sqlite3.OperationalError) -> UserError:
    """A command that found the site database busy (is_busy): not a bug to show a traceback
    of, but a wait the person at the keyboard ends by trying again, as `sitesrv sql` says."""
    return UserError(f"The site database is busy: {error} ({busy_advice(DEFAULT_BUSY_TIMEOUT)}"
                     "; a sqlite3 or 'sitesrv sql' session with an open transaction, a backup "
                     "or a site server's long unit holds it).")


@functools.lru_cache(maxsize=1024)
def format_time(when: float) -> str:
    """Lab time as the database stores it: UTC text that sorts and that SQLite's date functions read.

    Remembered: a unit stamps its rows and status messages with a few lab times, and
    `strftime` costs more than the insert's own Python."""
    ms = round(when * 1000)
    return (_EPOCH + ms * _MS).strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"


@functools.cache
def _columns(cls: type) -> tuple[tuple[str, bool], ...]:
    """A record's columns, each with whether it holds a time: looked up once per record type,
    not for every row read."""
    return tuple((f.name, bool(f.metadata.get("time"))) for f in attrs.fields(cls))


def parse_time(text: str) -> float:
    """Read a stored time; also accepts what people type in SQL ('2007-06-04 09:00:00', a date)."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not a time in the form {_TIME_FORMAT}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return ((moment - _EPOCH) // _MS) / 1000


# A unit reads the same few stored times again and again (a package's LastRefresh at every look).
_stored_time = functools.lru_cache(maxsize=1024, typed=True)(parse_time)


@functools.cache
def _row_layout(cls: type, keys: tuple[str, ...]) -> tuple[tuple[int, ...],
                                                           tuple[tuple[int, str], ...]]:
    """Where each field of a record is in a row of these columns (by name, in any case, as
    sqlite3.Row looks it up), and which fields hold times: worked out once per record type and
    column list, so that a row is read by position, its record made from positional values."""
    where = {key.upper(): at for at, key in enumerate(keys)}
    columns = _columns(cls)
    for name, _ in columns:
        if name.upper() not in where:
            raise IndexError("No item with that key")  # as sqlite3.Row says it
    return (tuple(where[name.upper()] for name, _ in columns),
            tuple((at, name) for at, (name, is_time) in enumerate(columns) if is_time))


class SourceFlag(IntEnum):
    """SMSPackages.StorePkgFlag, as SMS_Package.PkgSourceFlag."""

    NO_SOURCE = 1
    DIRECT = 2
    COMPRESSED = 3
    LOCAL = 4


_TIME_FIELD = {"time": True}


def _time(**kwargs: Any) -> Any:
    """An attrs field that the database stores as `format_time` text."""
    return attrs.field(metadata=_TIME_FIELD, **kwargs)


@attrs.frozen
class Site:
    """A Sites row: a site this database knows; PkgServers rows may only name these."""

    SiteCode: str
    SiteServer: str
    Type: SiteType = attrs.field(converter=SiteType)
    SiteName: str = ""
    ReportingSite: str = ""
    InstallDir: str = ""


@attrs.frozen
class Package:
    """An SMSPackages row. SourceVersion is the owner's version, StoredPkgVersion this site's PCK."""

    PkgID: str
    SourceSite: str
    Name: str = ""
    Source: str = ""
    StoredPkgPath: str = ""
    StoredPkgVersion: int = 0
    SourceVersion: int = 0
    SourceDate: float | None = _time(default=None)
    SourceSize: int = 0
    SourceCompSize: int = 0
    LastRefresh: float | None = _time(default=None)
    ShareName: str = ""
    ShareType: int = 1
    PkgFlags: int = 0
    Priority: int = 2
    PreferredAddress: str = ""
    IgnoreSchedule: int = 0
    StorePkgFlag: int = int(SourceFlag.DIRECT)
    Action: PackageAction = attrs.field(default=PackageAction.NONE, converter=PackageAction)
    UpdateMask: int = 0
    StoredPkgSource: str = ""


# SMS's LastRefresh for a DP that was never refreshed: 04/10/1970 06:35:00.
NEVER_REFRESHED = parse_time("1970-04-10 06:35:00")


@attrs.frozen
class PkgServer:
    """A PkgServers row: one distribution point of a package."""

    PkgID: str
    NALPath: str
    SiteCode: str
    SiteName: str = ""
    SourceSite: str = ""
    LastRefresh: float = _time(default=NEVER_REFRESHED)
    RefreshTrigger: int = 0
    UpdateMask: int = 0
    Action: PackageAction = attrs.field(default=PackageAction.NONE, converter=PackageAction)


@attrs.frozen
class PkgStatus:
    """A PkgStatus row; Type 1 rows name the site server, Type 2 rows a DP's NAL path."""

    ID: str
    Type: StatusType = attrs.field(converter=StatusType)
    SiteCode: str
    PkgServer: str
    Status: PackageStatus = attrs.field(converter=PackageStatus)
    UpdateTime: float = _time()
    Location: str = ""
    ShareName: str = ""
    SourceVersion: int = 0
    Personality: int = 0


@attrs.frozen
class Notification:
    """A PkgNotification row: one package action waiting for SQL Monitor."""

    RecordID: int
    PkgID: str
    Priority: int
    Type: PackageAction = attrs.field(converter=PackageAction)
    TimeKey: float = _time()


@attrs.frozen
class Collection:
    """A Collections row: the minimal model, a collection and how many clients it has."""

    CollectionID: str
    Name: str = ""
    MemberCount: int = 0
    SourceSite: str = ""


@attrs.frozen
class Advertisement:
    """An Advertisements row: a program of a package offered to a collection."""

    AdvertisementID: str
    PackageID: str
    ProgramName: str
    CollectionID: str
    SourceSite: str
    AdvertisementName: str = ""
    PresentTime: float = _time(default=0.0)


@attrs.frozen
class OfferNotification:
    """An OfferNotification row: one advertisement change waiting for SQL Monitor."""

    RecordID: int
    OfferID: str
    Type: PackageAction = attrs.field(converter=PackageAction)
    TimeKey: float = _time()


@attrs.frozen
class StatusMessage:
    """One status message, field for field the STATMSG echo line a component logs."""

    MessageID: int
    Severity: str = attrs.field(validator=attrs.validators.in_(("I", "W", "E")))
    Component: str
    MachineName: str
    SiteCode: str
    Time: float
    Level: str = "M"
    ModuleName: str = "SMS Server"
    ProcessID: int = 0
    ThreadID: int = 0
    InsStrings: tuple[str, ...] = attrs.field(
        default=(), converter=tuple, validator=attrs.validators.max_len(10)
    )
    Attributes: tuple[tuple[int, str], ...] = attrs.field(default=(), converter=tuple)


@attrs.frozen
class QueryResult:
    """What a query returned, for `sitesrv sql`."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@attrs.frozen
class ChangeResult:
    """How many rows a change touched, for `sitesrv sql`."""

    rowcount: int


class ParentRowMissing(SitesrvError):
    """A PkgServers row names a package or site the database lacks (SMS's SQL message 99901).

    The message is SMS's text, e.g. `This SiteCode (SEC) does not exist in the parent table,
    Sites.`; Distribution Manager logs it as `SQL Msg #99901> <message>` (Q319189, Q235774).
    """

    number = 99901

    def __init__(self, column: str, value: str, table: str) -> None:
        self.column = column
        self.value = value
        self.table = table
        super().__init__(f"This {column} ({value}) does not exist in the parent table, {table}.")


# The literal messages of the parent-table triggers in schema.sql, and what each one checks.
_PARENT_CHECKS = {
    "This PkgID does not exist in the parent table, SMSPackages.": ("PkgID", "SMSPackages"),
    "This SiteCode does not exist in the parent table, Sites.": ("SiteCode", "Sites"),
}

R = TypeVar("R")


def _to_db(record: Any) -> dict[str, Any]:
    row = {}
    for name, is_time in _columns(type(record)):
        value = getattr(record, name)
        row[name] = format_time(value) if is_time and value is not None else value
    return row


@functools.cache  # the same few statements, written at every upsert
def _upsert_sql(table: str, cls: type, key: tuple[str, ...]) -> str:
    names = [f.name for f in attrs.fields(cls)]
    updates = ", ".join(f"{n} = excluded.{n}" for n in names if n not in key)
    return (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


_SIDE_FILES = ("-wal", "-shm", "-journal")  # SQLite's files beside a database


def check_database_file(path: Path | str) -> None:
    """Refuse (UserError) a site database that is there but is not a file of the site's own: a
    symbolic link (SQLite would write through it, into a database outside the lab), a hard
    link (its writes change the file's other name too), a folder or a FIFO; and SQLite's -wal,
    -shm and -journal files beside it when one of those is not a file. None can be moved
    aside, as a folder can: the site's data would be lost. A missing database passes."""
    path = Path(path)
    for name in (str(path), *(f"{path}{suffix}" for suffix in _SIDE_FILES)):
        try:
            st = os.lstat(name)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode):
            kind = kind_of(st.st_mode)
        elif name == str(path) and st.st_nlink != 1:
            kind = f"a file with {st.st_nlink} names (a hard link)"
        else:
            continue
        if name != str(path):
            raise UserError(
                f"The site database {path} is refused: {name} beside it is {kind}, not a file "
                "of the site's own, and sitesrv never writes a site database through one. "
                f"Delete {name} while no site server runs (SQLite makes it anew).")
        raise UserError(
            f"The site database {path} is {kind}, not a file of the site's own, and sitesrv "
            "never writes a site database through one. Replace it by a copy of the database "
            "it stands for (with the -wal and -shm files beside that, made while no site "
            "server runs), or delete it and run 'sitesrv init' on its lab, which builds a new "
            "database with its site rows (the site's packages are then gone from it).")


def _schema_sql() -> str:
    return resources.files("sitesrv.db").joinpath("schema.sql").read_text("utf-8")


@functools.cache
def schema_objects() -> tuple[tuple[str, str], ...]:
    """(type, name) of every table, view and trigger schema.sql makes, as sqlite_master has
    them: what a site database must have for sitesrv's queries (SiteDatabase.open checks)."""
    connection = sqlite3.connect(":memory:")
    try:
        connection.executescript(_schema_sql())
        return tuple(connection.execute(
            "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite%' "
            "ORDER BY type, name").fetchall())
    finally:
        connection.close()


def missing_objects(connection: sqlite3.Connection) -> list[str]:
    """`view SMS_PackageStatusDistPointsSummarizer`, ...: what schema.sql makes that the
    database lacks (a person's DROP through `sitesrv sql` or sqlite3)."""
    there = {tuple(row) for row in connection.execute("SELECT type, name FROM sqlite_master")}
    return [f"{kind} {name}" for kind, name in schema_objects() if (kind, name) not in there]


class _Transaction:
    """A `SiteDatabase.transaction` block: a small class rather than a generator's context
    manager, as every status message and most writes of a unit open one."""

    __slots__ = ("_conn", "_began")

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        self._began = False

    def __enter__(self) -> None:
        if not self._conn.in_transaction:  # else it joins the outer one
            self._conn.execute("BEGIN IMMEDIATE")
            self._began = True

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if not self._began:
            return
        if kind is None:
            self._conn.execute("COMMIT")
        elif self._conn.in_transaction:
            self._conn.execute("ROLLBACK")


class SiteDatabase:
    """One connection to a site's `SMS/site.db`; use it from the thread that opened it."""

    def __init__(self, connection: sqlite3.Connection, path: Path, busy_timeout: float) -> None:
        self._conn = connection
        self.path = path
        self.busy_timeout = busy_timeout

    @classmethod
    def create(
        cls, path: Path | str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
    ) -> SiteDatabase:
        """Create the database, or bring an existing one up to the schema and keep its data."""
        path = Path(path)
        check_database_file(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = cls._connect(str(path), path, busy_timeout, uri=False)
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise UserError(
                    f"The site database {path} has schema version {version}, newer than this "
                    f"sitesrv understands ({SCHEMA_VERSION}). Use a newer sitesrv or a new lab."
                )
            # Before packages without source (the Advertisements table came with them),
            # StorePkgFlag 1 was written for every package with direct source files: such a
            # database's 1s become 2 (DIRECT), or its packages would lose their source.
            direct_was_one = 0 < version < SCHEMA_VERSION and connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'Advertisements'"
            ).fetchone() is None
            schema = _schema_sql()
            connection.executescript(f"BEGIN IMMEDIATE;\n{schema}\nCOMMIT;")
            connection.execute("BEGIN IMMEDIATE")
            try:
                for table, column, declaration in _ADDED_COLUMNS:
                    if column not in {row[1] for row in connection.execute(
                            f"PRAGMA table_info({table})")}:
                        connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
                if direct_was_one:
                    connection.execute(
                        "UPDATE SMSPackages SET StorePkgFlag = 2 WHERE StorePkgFlag = 1")
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        except BaseException:
            connection.close()
            raise
        return cls(connection, path, busy_timeout)

    @classmethod
    def open(cls, path: Path | str, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
             durable: bool = True, whole: bool = True) -> SiteDatabase:
        """Open an existing site database; a missing one is a user error, never created here,
        and so is one of another schema version, or (`whole`) one that lacks a table, view or
        trigger of its schema: every command and site server refuses it, saying to run init,
        which makes what is missing. `sitesrv sql` opens it anyway (whole=False), to look.

        Not `durable`: commits are not fsynced (synchronous=NORMAL, still safe in WAL mode
        against a killed process), for site servers of a lab whose durability is `none`."""
        path = Path(path)
        check_database_file(path)
        if not path.is_file():
            raise UserError(
                f"There is no site database at {path}. Only primary sites have one (secondary "
                "sites keep no database); check the site code and the lab folder, and create "
                "the lab first if it does not exist yet."
            )
        # nofollow: a link swapped in since the check is refused by SQLite too (the resolved
        # path has no other link on it).
        uri = path.resolve().as_uri() + "?mode=rw&nofollow=1"
        connection = cls._connect(uri, path, busy_timeout, uri=True)
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            missing = missing_objects(connection) if whole else []
        except BaseException:  # busy: the caller waits and opens it again
            connection.close()
            raise
        if version != SCHEMA_VERSION:
            connection.close()
            remedy = (f" It was made by an older sitesrv: {INIT_REPAIRS}."
                      if 0 < version < SCHEMA_VERSION else "")
            raise UserError(
                f"{path} is not a sitesrv site database of schema version {SCHEMA_VERSION} "
                f"(it has version {version}).{remedy}"
            )
        if missing:
            connection.close()
            raise UserError(
                f"The site database {path} lacks the {', '.join(missing)} of sitesrv's "
                f"schema (dropped since it was made): {INIT_REPAIRS}.")
        if not durable:
            connection.execute("PRAGMA synchronous = NORMAL")
        return cls(connection, path, busy_timeout)

    @staticmethod
    def _connect(target: str, path: Path, busy_timeout: float, *, uri: bool) -> sqlite3.Connection:
        # isolation_level=None: statements autocommit unless transaction() opened one, so a
        # person's UPDATE through execute_user_sql never waits for a commit that never comes.
        # check_same_thread=False: a component opens its connection when it starts and uses it
        # from the pool's workers; one component uses one connection, never two threads at once.
        connection = sqlite3.connect(target, timeout=busy_timeout, isolation_level=None, uri=uri,
                                     check_same_thread=False)
        connection.row_factory = sqlite3.Row
        try:
            connection.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as exc:
            connection.close()
            if is_busy(exc):  # another program holds it (locking_mode=EXCLUSIVE): wait for it
                raise
            raise UserError(f"{path} is not an SQLite site database: {exc}. Put back a copy "
                            "you kept, or delete it (with its -wal and -shm files) and run "
                            "'sitesrv init', which builds a lost database with its site rows; "
                            "the site's packages are then gone from it.") from None
        return connection

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SiteDatabase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def transaction(self) -> _Transaction:
        """Group writes atomically; BEGIN IMMEDIATE takes the write lock up front, so two
        writers never deadlock upgrading read locks. Nested use joins the outer transaction."""
        return _Transaction(self._conn)

    def _read(self, cls: type[R], rows: list[sqlite3.Row], table: str) -> list[R]:
        if not rows:
            return []
        places, times = _row_layout(cls, tuple(rows[0].keys()))
        records = []
        for row in rows:
            values = [row[i] for i in places]
            for at, name in times:
                value = values[at]
                if value is not None:
                    try:
                        values[at] = _stored_time(value)
                    except ValueError as exc:
                        raise FormatError(self.path, f"{table}.{name}: {exc}") from None
            records.append(cls(*values))
        return records

    # Sites

    def put_site(self, site: Site) -> None:
        """Insert or replace a Sites row (the lab writes one per site it knows)."""
        self._conn.execute(_upsert_sql("Sites", Site, ("SiteCode",)), _to_db(site))

    def get_site(self, site_code: str) -> Site | None:
        rows = self._conn.execute("SELECT * FROM Sites WHERE SiteCode = ?", (site_code,)).fetchall()
        return next(iter(self._read(Site, rows, "Sites")), None)

    # Packages

    def put_package(self, package: Package) -> None:
        """Insert a package or overwrite its definition (a new or replicated package)."""
        self._conn.execute(_upsert_sql("SMSPackages", Package, ("PkgID",)), _to_db(package))

    def get_package(self, pkg_id: str) -> Package | None:
        rows = self._conn.execute("SELECT * FROM SMSPackages WHERE PkgID = ?", (pkg_id,)).fetchall()
        return next(iter(self._read(Package, rows, "SMSPackages")), None)

    def update_package(self, pkg_id: str, **columns: Any) -> None:
        """Set some SMSPackages columns only, so a concurrent writer's other columns survive."""
        names = {f.name for f in attrs.fields(Package)}
        unknown = set(columns) - names
        if unknown:
            raise ValueError(f"SMSPackages has no column {', '.join(sorted(unknown))}")
        row = _to_db(attrs.evolve(Package(PkgID=pkg_id, SourceSite=""), **columns))
        sets = ", ".join(f"{n} = :{n}" for n in columns)
        self._conn.execute(f"UPDATE SMSPackages SET {sets} WHERE PkgID = :PkgID", row)

    def set_stored(self, pkg_id: str, version: int, path: str) -> None:
        """This site's compressed copy is now `version` at `path`; never lowers the version."""
        self._conn.execute(
            "UPDATE SMSPackages SET StoredPkgVersion = ?, StoredPkgPath = ? "
            "WHERE PkgID = ? AND StoredPkgVersion <= ?", (version, path, pkg_id, version))

    def clear_package_action(self, pkg_id: str, handled: PackageAction) -> None:
        """The action Distribution Manager handled, and what it asked for (UpdateMask), are
        done, unless someone set another action since."""
        self._conn.execute(
            "UPDATE SMSPackages SET Action = 0, UpdateMask = 0 WHERE PkgID = ? AND Action = ?",
            (pkg_id, int(handled)))

    def settle_pkg_server(self, server: PkgServer, when: float) -> None:
        """A DP's handled action and refresh are done, unless changed again since."""
        self._conn.execute(
            "UPDATE PkgServers SET Action = 0, RefreshTrigger = 0, LastRefresh = ? "
            "WHERE PkgID = ? AND NALPath = ? AND Action = ? AND RefreshTrigger = ?",
            (format_time(when), server.PkgID, server.NALPath, int(server.Action),
             server.RefreshTrigger))

    def package_ids(self) -> list[str]:
        rows = self._conn.execute("SELECT PkgID FROM SMSPackages ORDER BY PkgID").fetchall()
        return [row[0] for row in rows]

    def move_package_sources(self, moved: Iterable[tuple[str | None, str, str]]) -> None:
        """For each (package ID or None for every package, old, new): point the package whose
        `Source` is `old` at `new` (a lab restored from a snapshot, with its sources copied
        beside it), and its `StoredPkgSource` too: the stored PCK was made from the same files,
        so an update still makes a delta. Packages that shared a folder outside the lab get
        a copy each, so each is moved by its ID."""
        for column in ("Source", "StoredPkgSource"):
            for pkg_id, old, new in moved:
                if pkg_id is None:
                    self._conn.execute(f"UPDATE SMSPackages SET {column} = ? WHERE {column} = ?",
                                       (new, old))
                else:
                    self._conn.execute(f"UPDATE SMSPackages SET {column} = ? WHERE PkgID = ? "
                                       f"AND {column} = ?", (new, pkg_id, old))

    def delete_package(self, pkg_id: str) -> None:
        """Remove a package with its DP and status rows, so no orphans are left behind."""
        with self.transaction():
            self._conn.execute("DELETE FROM PkgStatus WHERE ID = ?", (pkg_id,))
            self._conn.execute("DELETE FROM PkgServers WHERE PkgID = ?", (pkg_id,))
            self._conn.execute("DELETE FROM SMSPackages WHERE PkgID = ?", (pkg_id,))

    # Distribution points

    def put_pkg_server(self, server: PkgServer) -> None:
        """Insert or update a package's DP row.

        Raises ParentRowMissing with SMS's message when the package or the DP's site is unknown.
        """
        try:
            self._conn.execute(
                _upsert_sql("PkgServers", PkgServer, ("PkgID", "NALPath")), _to_db(server)
            )
        except sqlite3.IntegrityError as exc:
            if str(exc) not in _PARENT_CHECKS:
                raise
            column, table = _PARENT_CHECKS[str(exc)]
            raise ParentRowMissing(column, getattr(server, column), table) from None

    def get_pkg_servers(self, pkg_id: str) -> list[PkgServer]:
        rows = self._conn.execute(
            "SELECT * FROM PkgServers WHERE PkgID = ? ORDER BY NALPath", (pkg_id,)
        ).fetchall()
        return self._read(PkgServer, rows, "PkgServers")

    def has_pkg_server(self, pkg_id: str, nal_path: str) -> bool:
        """Whether the package has a row for this DP (NALPath compared as its column does,
        without regard to ASCII case): one row looked at, not the package's every DP."""
        return self._conn.execute(
            "SELECT 1 FROM PkgServers WHERE PkgID = ? AND NALPath = ? LIMIT 1", (pkg_id, nal_path)
        ).fetchone() is not None

    def delete_pkg_server(self, pkg_id: str, nal_path: str) -> None:
        """Drop a DP row once Distribution Manager has removed the package from that DP."""
        self._conn.execute(
            "DELETE FROM PkgServers WHERE PkgID = ? AND NALPath = ?", (pkg_id, nal_path)
        )

    # Notifications (SQL Monitor)

    def add_notification(
        self, pkg_id: str, action: PackageAction, *, priority: int, when: float
    ) -> int:
        """Queue a package action for SQL Monitor; one row per action, as SMS writes them."""
        cursor = self._conn.execute(
            "INSERT INTO PkgNotification (PkgID, Priority, Type, TimeKey) VALUES (?, ?, ?, ?)",
            (pkg_id, priority, int(action), format_time(when)),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def has_notifications(self) -> bool:
        """Whether a package or advertisement notification waits: one read, without the write
        lock `take_notifications` takes, so that a poll that finds none (most do) never holds
        up, or waits for, another writer of the database."""
        row = self._conn.execute("SELECT EXISTS (SELECT 1 FROM PkgNotification) "
                                 "OR EXISTS (SELECT 1 FROM OfferNotification)").fetchone()
        return bool(row[0])

    def take_notifications(self) -> list[Notification]:
        """Read and delete the pending notifications in one step, oldest first.

        Call it inside `transaction()` and write the `.PKN` files before the block ends: the rows
        are only gone once the files exist, so a crash in between loses nothing.
        """
        with self.transaction():
            rows = self._conn.execute("SELECT * FROM PkgNotification ORDER BY RecordID").fetchall()
            if rows:
                self._conn.execute(
                    "DELETE FROM PkgNotification WHERE RecordID <= ?", (rows[-1]["RecordID"],)
                )
        return self._read(Notification, rows, "PkgNotification")

    def add_offer_notification(self, offer_id: str, action: PackageAction, *,
                               when: float) -> None:
        """Queue an advertisement change for SQL Monitor (`offermgr.box\\<OfferID>.OFN`)."""
        self._conn.execute("INSERT INTO OfferNotification (OfferID, Type, TimeKey) "
                           "VALUES (?, ?, ?)", (offer_id, int(action), format_time(when)))

    def take_offer_notifications(self) -> list[OfferNotification]:
        """As `take_notifications`, for advertisements."""
        with self.transaction():
            rows = self._conn.execute(
                "SELECT * FROM OfferNotification ORDER BY RecordID").fetchall()
            if rows:
                self._conn.execute("DELETE FROM OfferNotification WHERE RecordID <= ?",
                                   (rows[-1]["RecordID"],))
        return self._read(OfferNotification, rows, "OfferNotification")

    # Collections and advertisements

    def put_collection(self, collection: Collection) -> None:
        self._conn.execute(_upsert_sql("Collections", Collection, ("CollectionID",)),
                           _to_db(collection))

    def get_collection(self, collection_id: str) -> Collection | None:
        rows = self._conn.execute("SELECT * FROM Collections WHERE CollectionID = ?",
                                  (collection_id,)).fetchall()
        return next(iter(self._read(Collection, rows, "Collections")), None)

    def get_collections(self) -> list[Collection]:
        rows = self._conn.execute("SELECT * FROM Collections ORDER BY CollectionID").fetchall()
        return self._read(Collection, rows, "Collections")

    def put_advertisement(self, advertisement: Advertisement) -> None:
        self._conn.execute(_upsert_sql("Advertisements", Advertisement, ("AdvertisementID",)),
                           _to_db(advertisement))

    def get_advertisements(self, pkg_id: str | None = None) -> list[Advertisement]:
        """Every advertisement, or those of one package, by ID."""
        sql, params = "SELECT * FROM Advertisements", ()
        if pkg_id is not None:
            sql, params = sql + " WHERE PackageID = ?", (pkg_id,)
        rows = self._conn.execute(sql + " ORDER BY AdvertisementID", params).fetchall()
        return self._read(Advertisement, rows, "Advertisements")

    def delete_advertisement(self, advertisement_id: str) -> None:
        self._conn.execute("DELETE FROM Advertisements WHERE AdvertisementID = ?",
                           (advertisement_id,))

    # Package status

    def upsert_pkg_status(self, status: PkgStatus) -> bool:
        """Record a status report unless it is older than what is stored.

        Status reports can arrive out of order; one whose SourceVersion is lower than the stored
        row's is stale and changes nothing (Q318834), so SourceVersion never goes down here.
        People may still lower it by hand with SQL, which is how the field repairs work.
        Returns whether the row was written.
        """
        sql = (
            _upsert_sql("PkgStatus", PkgStatus, ("ID", "Type", "SiteCode", "PkgServer"))
            + " WHERE excluded.SourceVersion >= PkgStatus.SourceVersion"
        )
        return self._conn.execute(sql, _to_db(status)).rowcount > 0

    def get_pkg_status(
        self, pkg_id: str, *, status_type: StatusType | None = None, site_code: str | None = None
    ) -> list[PkgStatus]:
        sql = "SELECT * FROM PkgStatus WHERE ID = ?"
        params: list[Any] = [pkg_id]
        if status_type is not None:
            sql += " AND Type = ?"
            params.append(int(status_type))
        if site_code is not None:
            sql += " AND SiteCode = ?"
            params.append(site_code)
        rows = self._conn.execute(sql + " ORDER BY Type, SiteCode, PkgServer", params).fetchall()
        return self._read(PkgStatus, rows, "PkgStatus")

    def delete_pkg_status(
        self, pkg_id: str, status_type: StatusType, site_code: str, pkg_server: str
    ) -> None:
        """Drop one row: a DP that was removed (Status 6 REMOVED rows are not kept)."""
        self._conn.execute(
            "DELETE FROM PkgStatus WHERE ID = ? AND Type = ? AND SiteCode = ? AND PkgServer = ?",
            (pkg_id, int(status_type), site_code, pkg_server),
        )

    # Status messages

    def insert_status_message(self, message: StatusMessage) -> int:
        """Store a status message and its attributes; returns its RecordID."""
        strings = message.InsStrings + ("",) * (10 - len(message.InsStrings))
        with self.transaction():
            cursor = self._conn.execute(
                "INSERT INTO StatusMessages (MessageID, Severity, Level, ModuleName, Component, "
                "MachineName, SiteCode, ProcessID, ThreadID, Time, ISTR0, ISTR1, ISTR2, ISTR3, "
                "ISTR4, ISTR5, ISTR6, ISTR7, ISTR8, ISTR9) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message.MessageID,
                    message.Severity,
                    message.Level,
                    message.ModuleName,
                    message.Component,
                    message.MachineName,
                    message.SiteCode,
                    message.ProcessID,
                    message.ThreadID,
                    format_time(message.Time),
                    *strings,
                ),
            )
            record_id = cursor.lastrowid
            assert record_id is not None
            self._conn.executemany(
                "INSERT INTO StatusMessageAttributes (RecordID, AttributeID, AttributeValue) "
                "VALUES (?, ?, ?)",
                [(record_id, aid, value) for aid, value in message.Attributes],
            )
        return record_id

    # Package IDs

    def next_package_id(self, site_code: str) -> str:
        """Allocate the site's next package ID (ZZZ00001, ..., ZZZ0000A); the counter is stored
        in the database, so IDs continue in sequence across restarts."""
        with self.transaction():
            row = self._conn.execute(
                "SELECT LastNumber FROM PackageIDCounters WHERE SiteCode = ?", (site_code,)
            ).fetchone()
            number = (row[0] if row else 0) + 1
            if number > MAX_PACKAGE_NUMBER:
                raise UserError(
                    f"Site {site_code.upper()} has no package numbers left: "
                    f"{format_package_id(site_code, MAX_PACKAGE_NUMBER)} was the last one."
                )
            package_id = format_package_id(site_code, number)
            self._conn.execute(
                "INSERT INTO PackageIDCounters (SiteCode, LastNumber) VALUES (?, ?) "
                "ON CONFLICT (SiteCode) DO UPDATE SET LastNumber = excluded.LastNumber",
                (site_code.upper(), number),
            )
        return package_id

    def next_object_id(self, kind: str, site_code: str, first: int,
                       last: int = MAX_PACKAGE_NUMBER) -> str:
        """Allocate the site's next ID of a kind of object ('Advertisement' from ZZZ20000,
        'Collection' from ZZZ10000 to ZZZ1FFFF): the shape of a package ID, in a range of its
        own."""
        with self.transaction():
            row = self._conn.execute(
                "SELECT LastNumber FROM ObjectIDCounters WHERE Kind = ? AND SiteCode = ?",
                (kind, site_code)).fetchone()
            number = max(row[0] + 1 if row else first, first)
            if number > last:
                raise UserError(f"Site {site_code.upper()} has no {kind.lower()} IDs left.")
            self._conn.execute(
                "INSERT INTO ObjectIDCounters (Kind, SiteCode, LastNumber) VALUES (?, ?, ?) "
                "ON CONFLICT (Kind, SiteCode) DO UPDATE SET LastNumber = excluded.LastNumber",
                (kind, site_code.upper(), number))
        return format_package_id(site_code, number)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query of sitesrv's own (reports that need a view or a join)."""
        return [tuple(row) for row in self._conn.execute(sql, params).fetchall()]

    # People's SQL

    def execute_user_sql(self, statement: str) -> QueryResult | ChangeResult:
        """Run one statement a person typed (`sitesrv sql`); it commits on its own.

        A query returns its columns and rows, a change the number of rows it touched. Any SQL
        error becomes a UserError that names the problem.
        """
        if not statement.strip():
            raise UserError("No SQL statement was given.")
        try:
            cursor = self._conn.execute(statement)
            if cursor.description is None:
                return ChangeResult(max(cursor.rowcount, 0))
            columns = tuple(d[0] for d in cursor.description)
            return QueryResult(columns, tuple(tuple(row) for row in cursor.fetchall()))
        except (sqlite3.Error, sqlite3.Warning) as exc:
            message = f"SQL error: {exc}"
            if is_busy(exc):
                message += f" ({busy_advice(self.busy_timeout)})"
            raise UserError(message) from None

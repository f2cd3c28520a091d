"""Creating and opening a site database, as `sitesrv init` and `sitesrv sql` do."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sitesrv.db.sitedb import (
    SCHEMA_VERSION,
    ChangeResult,
    Package,
    QueryResult,
    Site,
    SiteDatabase,
    SiteType,
    SourceFlag,
    schema_objects,
)
from sitesrv.errors import FormatError, UserError

TABLES = {
    "Sites",
    "SMSPackages",
    "PkgServers",
    "PkgStatus",
    "PkgNotification",
    "StatusMessages",
    "StatusMessageAttributes",
    "PackageIDCounters",
    "Collections",
    "Advertisements",
    "OfferNotification",
    "ObjectIDCounters",
}


def names(db: SiteDatabase, kind: str) -> set[str]:
    result = db.execute_user_sql(f"SELECT name FROM sqlite_master WHERE type = '{kind}'")
    assert isinstance(result, QueryResult)
    return {row[0] for row in result.rows}


def test_create_makes_the_sms_tables_and_the_summarizer_view(db: SiteDatabase) -> None:
    assert names(db, "table") >= TABLES
    assert names(db, "view") == {"SMS_PackageStatusDistPointsSummarizer"}
    assert db.execute_user_sql("PRAGMA user_version") == QueryResult(
        ("user_version",), ((SCHEMA_VERSION,),)
    )


def test_create_again_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "SMS" / "site.db"
    with SiteDatabase.create(path) as db:
        db.put_site(Site("ZZZ", "MGMT01", SiteType.PRIMARY))
        db.put_package(Package(db.next_package_id("ZZZ"), "ZZZ", Name="Office"))
    with SiteDatabase.create(path) as again:
        assert again.get_package("ZZZ00001") == Package("ZZZ00001", "ZZZ", Name="Office")
        assert again.next_package_id("ZZZ") == "ZZZ00002"


def test_wal_mode_and_busy_timeout(db: SiteDatabase) -> None:
    assert db.execute_user_sql("PRAGMA journal_mode") == QueryResult(("journal_mode",), (("wal",),))
    assert db.execute_user_sql("PRAGMA busy_timeout") == QueryResult(("timeout",), ((10000,),))


def test_open_a_missing_database_says_why(tmp_path: Path) -> None:
    with pytest.raises(UserError) as caught:
        SiteDatabase.open(tmp_path / "S01" / "SMS" / "site.db")
    message = str(caught.value)
    assert "There is no site database at" in message
    assert "secondary sites keep no database" in message
    assert not (tmp_path / "S01").exists()


def test_open_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "site.db"
    path.write_text("not sqlite at all, just text that is long enough to be read " * 10)
    with pytest.raises(UserError, match="is not an SQLite site database"):
        SiteDatabase.open(path)


def test_open_a_database_of_another_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "site.db"
    sqlite3.connect(path).execute("PRAGMA user_version = 99").connection.close()
    with pytest.raises(UserError, match=f"schema version {SCHEMA_VERSION} \\(it has version 99\\)\\.$"):
        SiteDatabase.open(path)
    with pytest.raises(UserError, match="newer than this sitesrv understands"):
        SiteDatabase.create(path)


# Drops what an older sitesrv's database lacks: main's Repair A columns (schema 3) and the
# advertisement tables and trigger of issue 13 (the branch's own schema 3).
_REPAIR_A = ("ALTER TABLE SMSPackages DROP COLUMN UpdateMask; "
             "ALTER TABLE SMSPackages DROP COLUMN StoredPkgSource; ")
_ADVERTISEMENTS = ("DROP TRIGGER SMSPackages_delete_advertisements; DROP TABLE Collections; "
                   "DROP TABLE Advertisements; DROP TABLE OfferNotification; "
                   "DROP TABLE ObjectIDCounters; ")
OLDER = {  # version, what it lacks, whether its StorePkgFlag 1 meant direct source files
    "v1": (1, _REPAIR_A + _ADVERTISEMENTS, True),
    "v2": (2, _REPAIR_A + _ADVERTISEMENTS, True),
    "v3-repair-a": (3, _ADVERTISEMENTS, True),
    "v3-advertisements": (3, _REPAIR_A, False),
    "v4": (4, "", False),  # its summarizer view is older: remade
}


@pytest.mark.parametrize("kind", sorted(OLDER))
def test_a_database_of_an_older_sitesrv_says_how_to_upgrade_and_create_upgrades_it(
        tmp_path: Path, kind: str) -> None:
    """An older database lacks SMSPackages.UpdateMask and StoredPkgSource (before schema 3 of
    Repair A), or the advertisement tables (before schema 3 of issue 13), or both: the servers
    and the console refuse it, saying to run `sitesrv init` on the lab, whose
    SiteDatabase.create adds what is missing and keeps its rows. Before packages without source,
    StorePkgFlag 1 was every package with direct source files: it becomes 2 (DIRECT)."""
    old, lacks, direct_was_one = OLDER[kind]
    path = tmp_path / "site.db"
    with SiteDatabase.create(path) as db:
        db.put_site(Site("ZZZ", "MGMT01", SiteType.PRIMARY))
        db.put_package(Package("ZZZ00001", "ZZZ", Name="Office", Source="/src", StorePkgFlag=1))
        db.put_package(Package("ZZZ00002", "ZZZ", Name="Visio", Source="/v", StorePkgFlag=3))
    before = sqlite3.connect(path)
    before.executescript(f"{lacks}PRAGMA user_version = {old};")
    before.close()
    with pytest.raises(UserError, match="older sitesrv: run 'sitesrv init' on its lab .* keeps "
                                        "their data"):
        SiteDatabase.open(path)
    SiteDatabase.create(path).close()
    with SiteDatabase.open(path) as db:
        assert names(db, "table") >= TABLES
        assert db.get_package("ZZZ00001") == Package(
            "ZZZ00001", "ZZZ", Name="Office", Source="/src",
            StorePkgFlag=int(SourceFlag.DIRECT if direct_was_one else SourceFlag.NO_SOURCE))
        assert db.get_package("ZZZ00002") == Package("ZZZ00002", "ZZZ", Name="Visio",
                                                     Source="/v", StorePkgFlag=3)
        db.execute_user_sql("INSERT INTO Advertisements (AdvertisementID, PackageID, "
                            "ProgramName, CollectionID, SourceSite, PresentTime) VALUES "
                            "('ZZZ20000', 'ZZZ00001', 'Setup', 'ZZZ10000', 'ZZZ', "
                            "'2007-06-04 09:00:00.000')")
        db.delete_package("ZZZ00001")  # the trigger is there too
        assert db.get_advertisements() == []
    SiteDatabase.create(path).close()  # again: a current database's flags stay as they are
    with SiteDatabase.open(path) as db:
        assert db.get_package("ZZZ00002").StorePkgFlag == 3


def test_create_adds_no_column_the_database_has_already(tmp_path: Path) -> None:
    path = tmp_path / "site.db"
    SiteDatabase.create(path).close()
    sqlite3.connect(path).execute("PRAGMA user_version = 1").connection.close()
    SiteDatabase.create(path).close()  # version 1 by its number, with every column
    SiteDatabase.open(path).close()


def test_open_sees_what_create_wrote(tmp_path: Path) -> None:
    path = tmp_path / "dir with space" / "site.db"
    SiteDatabase.create(path).close()
    with SiteDatabase.open(path) as db:
        assert db.execute_user_sql(
            "INSERT INTO Sites (SiteCode, SiteServer, Type) VALUES ('ZZZ', 'MGMT01', 2)"
        ) == ChangeResult(1)


def test_key_columns_are_case_insensitive_like_sql_server(db: SiteDatabase) -> None:
    db.put_site(Site("ZZZ", "MGMT01", SiteType.PRIMARY))
    db.put_package(Package("ZZZ00148", "ZZZ"))
    assert db.get_package("zzz00148") is not None
    with pytest.raises(UserError, match="UNIQUE constraint failed: SMSPackages.PkgID"):
        db.execute_user_sql(
            "INSERT INTO SMSPackages (PkgID, SourceSite) VALUES ('zzz00148', 'ZZZ')"
        )


def test_codes_outside_sms_2003_are_refused(db: SiteDatabase) -> None:
    db.put_site(Site("ZZZ", "MGMT01", SiteType.PRIMARY))
    db.put_package(Package("ZZZ00148", "ZZZ"))
    with pytest.raises(UserError, match="CHECK constraint failed"):
        db.execute_user_sql(
            "INSERT INTO PkgStatus (ID, Type, SiteCode, PkgServer, Status) "
            "VALUES ('ZZZ00148', 2, 'ZZZ', 'x', 9)"
        )


def test_columns_left_out_get_sms_defaults(db: SiteDatabase) -> None:
    db.put_site(Site("ZZZ", "MGMT01", SiteType.PRIMARY))
    db.put_package(Package("ZZZ00148", "ZZZ"))
    db.execute_user_sql(
        "INSERT INTO PkgServers (PkgID, NALPath, SiteCode) VALUES ('ZZZ00148', 'nal', 'ZZZ')"
    )
    db.execute_user_sql(
        "INSERT INTO PkgStatus (ID, Type, SiteCode, PkgServer) VALUES ('ZZZ00148', 2, 'ZZZ', 'nal')"
    )
    result = db.execute_user_sql("SELECT LastRefresh, Action, RefreshTrigger FROM PkgServers")
    assert isinstance(result, QueryResult)
    assert result.rows == (("1970-04-10 06:35:00.000", 0, 0),)
    status = db.get_pkg_status("ZZZ00148")[0]
    assert status.Status == 0 and status.SourceVersion == 0 and status.UpdateTime > 1.6e9


def test_deleting_a_package_row_deletes_its_advertisements_as_smss_triggers_do(
        db: SiteDatabase) -> None:
    """Q257318: at a primary, SQL triggers delete a deleted package's advertisements."""
    db.execute_user_sql("INSERT INTO SMSPackages (PkgID, SourceSite) VALUES ('ZZZ00001', 'ZZZ')")
    db.execute_user_sql("INSERT INTO Advertisements (AdvertisementID, PackageID, ProgramName, "
                        "CollectionID, SourceSite, PresentTime) VALUES ('ZZZ20000', 'zzz00001', "
                        "'Setup', 'ZZZ10000', 'ZZZ', '2007-06-04 09:00:00.000')")
    db.execute_user_sql("DELETE FROM SMSPackages WHERE PkgID = 'ZZZ00001'")
    assert db.get_advertisements() == []


@pytest.mark.parametrize("dropped", schema_objects(), ids=" ".join)
def test_a_database_that_lacks_part_of_its_schema_is_refused_until_init_remakes_it(
        tmp_path: Path, dropped: tuple[str, str]) -> None:
    """A table, view or trigger dropped by hand (`sitesrv sql ... "DROP VIEW ..."`): every
    command and server that opens the database refuses it, naming what it lacks and saying to
    run init; `sitesrv sql` still opens it; init (SiteDatabase.create) makes it again."""
    path = tmp_path / "site.db"
    with SiteDatabase.create(path) as db:
        db.put_site(Site("ZZZ", "MGMT01", SiteType.PRIMARY))
    kind, name = dropped
    with SiteDatabase.open(path, whole=False) as db:
        db.execute_user_sql(f"DROP {kind.upper()} {name}")

    with pytest.raises(UserError) as refused:
        SiteDatabase.open(path)
    lacks = f"{kind} {name}"
    if (kind, name) == ("table", "SMSPackages"):  # its trigger goes with it
        lacks = "table SMSPackages, trigger SMSPackages_delete_advertisements"
    if (kind, name) == ("table", "PkgServers"):
        lacks = "table PkgServers, trigger PkgServers_parent_insert, trigger PkgServers_parent_update"
    assert str(refused.value) == (
        f"The site database {path} lacks the {lacks} of sitesrv's schema (dropped since it "
        "was made): run 'sitesrv init' on its lab (with --lab), which brings its databases "
        "up to date, making what they lack, and keeps their data.")
    SiteDatabase.open(path, whole=False).close()
    SiteDatabase.create(path).close()
    with SiteDatabase.open(path) as db:
        assert names(db, kind) >= {name}
        if name != "Sites":
            assert db.get_site("ZZZ") == Site("ZZZ", "MGMT01", SiteType.PRIMARY)


def test_rows_are_read_by_column_name_whatever_the_order_of_a_tables_columns(
        tmp_path: Path) -> None:
    """A row is read by position, the positions worked out once per column list: a table whose
    columns come in another order (and another case) is read by its own, in the same process."""
    package = Package("ZZZ00001", "ZZZ", Name="Office", Source="/src", LastRefresh=1181000000.5)
    fresh, rebuilt = tmp_path / "fresh.db", tmp_path / "rebuilt.db"
    for path in (fresh, rebuilt):
        with SiteDatabase.create(path) as db:
            db.put_package(package)
    connection = sqlite3.connect(rebuilt)
    columns = [row[1] for row in connection.execute("PRAGMA table_info(SMSPackages)")]
    reordered = ", ".join(name.lower() for name in reversed(columns))
    connection.executescript(
        "PRAGMA foreign_keys = OFF; PRAGMA legacy_alter_table = ON;"
        f"CREATE TABLE Reordered AS SELECT {reordered} FROM SMSPackages;"
        "DROP TABLE SMSPackages; ALTER TABLE Reordered RENAME TO SMSPackages;")
    connection.close()
    with SiteDatabase.open(fresh, whole=False) as first, \
            SiteDatabase.open(rebuilt, whole=False) as second:
        assert first.get_package("ZZZ00001") == package
        assert second.get_package("ZZZ00001") == package
        second.execute_user_sql("UPDATE SMSPackages SET LastRefresh = 'soon'")
        with pytest.raises(FormatError, match="SMSPackages.LastRefresh"):
            second.get_package("ZZZ00001")

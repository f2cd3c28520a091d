"""`sitesrv sql`: running a person's statement and printing what it returned."""

from __future__ import annotations

import json

import pytest

from sitesrv.db.sitedb import ChangeResult, QueryResult, Site, SiteDatabase, SiteType
from sitesrv.db.sqlcli import render_result
from sitesrv.errors import UserError


@pytest.fixture
def site_db(db: SiteDatabase) -> SiteDatabase:
    db.put_site(Site("ZZZ", "MGMT01", SiteType.PRIMARY, SiteName="Central"))
    db.put_site(Site("P00", "MGMT03", SiteType.PRIMARY, ReportingSite="ZZZ"))
    return db


def test_a_query_returns_columns_and_rows(site_db: SiteDatabase) -> None:
    assert site_db.execute_user_sql(
        "SELECT SiteCode, ReportingSite FROM Sites ORDER BY SiteCode;"
    ) == QueryResult(("SiteCode", "ReportingSite"), (("P00", "ZZZ"), ("ZZZ", "")))
    assert site_db.execute_user_sql("SELECT * FROM Sites WHERE 0") == QueryResult(
        ("SiteCode", "SiteName", "ReportingSite", "SiteServer", "Type", "InstallDir"), ()
    )


def test_a_change_returns_how_many_rows_it_touched(site_db: SiteDatabase) -> None:
    assert site_db.execute_user_sql("UPDATE Sites SET InstallDir = 'E:\\SMS'") == ChangeResult(2)
    assert site_db.execute_user_sql("DELETE FROM Sites WHERE SiteCode = 'nope'") == ChangeResult(0)
    assert site_db.execute_user_sql("CREATE TABLE Notes (Text TEXT)") == ChangeResult(0)


def test_a_change_is_committed_at_once(site_db: SiteDatabase) -> None:
    site_db.execute_user_sql("UPDATE Sites SET SiteName = 'Renamed' WHERE SiteCode = 'ZZZ'")
    with SiteDatabase.open(site_db.path) as other:
        site = other.get_site("ZZZ")
    assert site is not None and site.SiteName == "Renamed"


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("SELECT Nope FROM PkgStatus", "SQL error: no such column: Nope"),
        ("SELEC * FROM PkgStatus", 'SQL error: near "SELEC": syntax error'),
        ("SELECT * FROM PkgStatuses", "SQL error: no such table: PkgStatuses"),
        ("SELECT 1; SELECT 2", "SQL error: You can only execute one statement at a time."),
        ("   ", "No SQL statement was given."),
    ],
)
def test_sql_errors_name_the_problem(site_db: SiteDatabase, statement: str, message: str) -> None:
    with pytest.raises(UserError) as caught:
        site_db.execute_user_sql(statement)
    assert str(caught.value) == message


QUERY = QueryResult(
    ("ID", "PkgServer", "SourceVersion"),
    (("ZZZ00148", "MGMT03", 2), ("ZZZ00162", None, 10)),
)


def test_a_query_prints_as_aligned_columns() -> None:
    assert render_result(QUERY) == (
        "ID        PkgServer  SourceVersion\n"
        "--------  ---------  -------------\n"
        "ZZZ00148  MGMT03     2\n"
        "ZZZ00162  NULL       10\n"
    )


def test_an_empty_query_prints_its_header() -> None:
    assert render_result(QueryResult(("ID",), ())) == "ID\n--\n"


def test_a_query_prints_as_json_objects() -> None:
    assert json.loads(render_result(QUERY, as_json=True)) == [
        {"ID": "ZZZ00148", "PkgServer": "MGMT03", "SourceVersion": 2},
        {"ID": "ZZZ00162", "PkgServer": None, "SourceVersion": 10},
    ]


def test_a_change_prints_its_row_count() -> None:
    assert render_result(ChangeResult(1)) == "(1 row(s) affected)\n"
    assert json.loads(render_result(ChangeResult(3), as_json=True)) == {"rows_affected": 3}


def test_blobs_print_as_sql_server_hex() -> None:
    result = QueryResult(("b",), ((b"\x01\xab",),))
    assert render_result(result).splitlines()[-1] == "0x01AB"
    assert json.loads(render_result(result, as_json=True)) == [{"b": "0x01AB"}]

"""Every SQL statement the field reports quote runs verbatim and does what the report says.

The statements are copied character for character from the reports (docs/sources.md), placeholders
included; `fill` puts in the values of the child-lost-its-PCK lab (central ZZZ on MGMT01, child
primary P00 on MGMT03), which is where the field reports ran them.
"""

from __future__ import annotations

from sitesrv.db.sitedb import ChangeResult, PackageStatus, PkgStatus, QueryResult, StatusType

from .conftest import REMOTE_DP, T0

# docs/sources.md#child-lost-its-pck: which of the child's compressed copies does the parent think exist?
DIAGNOSE_MISSING_PCK = "SELECT ID, SiteCode, PkgServer, Status, SourceVersion FROM PkgStatus WHERE (ID = 'ZZZ00148' OR ID = 'ZZZ00162' OR …) AND (SiteCode = 'P00') AND (PkgServer = 'MGMT03')"
# docs/sources.md#delta-stuck (WMUG): the child's Type 1 row at the source site.
CHECK_CHILD_MASTER = "SELECT PkgStatus.* FROM PkgStatus WHERE (Type = 1) AND (ID = '<PackageID>') AND (SiteCode = '<SiteCode>')"
# docs/sources.md#delta-stuck: the unsupported repair that makes the parent resend the full PCK.
FORCE_RESEND = "UPDATE PkgStatus SET Status = 2, SourceVersion = 0 WHERE (ID = '<PackageID>') AND (Type = 1) AND (PkgServer = '<SMSChildSite>')"
# docs/sources.md#smsutils: every package/DP pair that is not installed.
NOT_INSTALLED = "SELECT * FROM SMS_PackageStatusDistPointsSummarizer WHERE State != 0"

PKGSTATUS_COLUMNS = (
    "ID",
    "Type",
    "SiteCode",
    "PkgServer",
    "Status",
    "UpdateTime",
    "Location",
    "ShareName",
    "SourceVersion",
    "Personality",
)


def fill(template: str) -> str:
    """The report's placeholders, and its elided "OR …" (the 11 packages were not all listed)."""
    return (
        template.replace(" OR …", "")
        .replace("<PackageID>", "ZZZ00148")
        .replace("<SiteCode>", "P00")
        .replace("<SMSChildSite>", "MGMT03")
    )


def query(db, statement: str) -> QueryResult:
    result = db.execute_user_sql(statement)
    assert isinstance(result, QueryResult)
    return result


def test_13_1_diagnosis_lists_the_childs_compressed_copies(parent_db) -> None:
    result = query(parent_db, fill(DIAGNOSE_MISSING_PCK))
    assert result.columns == ("ID", "SiteCode", "PkgServer", "Status", "SourceVersion")
    assert sorted(result.rows) == [
        ("ZZZ00148", "P00", "MGMT03", 2, 2),
        ("ZZZ00162", "P00", "MGMT03", 2, 2),
    ]


def test_13_1_repair_sets_source_version_zero_on_those_rows(parent_db) -> None:
    # The report says "set SourceVersion to 0 on those rows" without quoting SQL; this is it.
    repair = (
        "UPDATE PkgStatus SET SourceVersion = 0 WHERE (ID = 'ZZZ00148' OR ID = 'ZZZ00162') "
        "AND (SiteCode = 'P00') AND (PkgServer = 'MGMT03')"
    )
    assert parent_db.execute_user_sql(repair) == ChangeResult(2)
    rows = query(parent_db, fill(DIAGNOSE_MISSING_PCK)).rows
    assert sorted(rows) == [
        ("ZZZ00148", "P00", "MGMT03", 2, 0),
        ("ZZZ00162", "P00", "MGMT03", 2, 0),
    ]
    untouched = parent_db.get_pkg_status("ZZZ00170", status_type=StatusType.MASTER, site_code="P00")
    assert untouched[0].SourceVersion == 2


def test_13_2_check_shows_the_childs_type_1_row(parent_db) -> None:
    result = query(parent_db, fill(CHECK_CHILD_MASTER))
    assert result.columns == PKGSTATUS_COLUMNS
    assert result.rows == (
        ("ZZZ00148", 1, "P00", "MGMT03", 2, "2007-06-05 09:00:00.000", "", "", 2, 0),
    )


def test_13_2_repair_changes_only_the_childs_type_1_row(parent_db) -> None:
    before = query(parent_db, "SELECT * FROM PkgStatus ORDER BY ID, Type, SiteCode, PkgServer")
    assert parent_db.execute_user_sql(fill(FORCE_RESEND)) == ChangeResult(1)
    after = query(parent_db, "SELECT * FROM PkgStatus ORDER BY ID, Type, SiteCode, PkgServer")
    changed = [(b, a) for b, a in zip(before.rows, after.rows, strict=True) if a != b]
    assert len(changed) == 1
    assert changed[0][1][:5] == ("ZZZ00148", 1, "P00", "MGMT03", 2)
    assert changed[0][1][8] == 0  # SourceVersion
    # The parent now believes the child lacks the PCK; the resent version's status raises it again.
    assert query(parent_db, fill(CHECK_CHILD_MASTER)).rows[0][8] == 0
    resent = PkgStatus(
        "ZZZ00148", StatusType.MASTER, "P00", "MGMT03", PackageStatus.SENT, T0 + 60, SourceVersion=2
    )
    assert parent_db.upsert_pkg_status(resent)
    assert query(parent_db, fill(CHECK_CHILD_MASTER)).rows[0][4:9:4] == (1, 2)


def test_13_3_lists_every_package_dp_pair_not_installed(parent_db) -> None:
    result = query(parent_db, NOT_INSTALLED)
    assert result.columns == (
        "PackageID",
        "ServerNALPath",
        "SiteCode",
        "SourceNALPath",
        "SourceVersion",
        "State",
        "SummaryDate",
        "LastCopied",
    )
    assert sorted(result.rows) == [
        (
            pkg,
            REMOTE_DP,
            "P00",
            'MSWNET:["SMS_SITE=P00"]\\\\MGMT03\\',
            2,
            1,
            "2007-06-05 09:00:00.000",
            None,
        )
        for pkg in ("ZZZ00148", "ZZZ00162")
    ]


def test_keys_compare_case_insensitively_as_on_sql_server(parent_db) -> None:
    lower = fill(CHECK_CHILD_MASTER).replace("ZZZ00148", "zzz00148").replace("'P00'", "'p00'")
    assert len(query(parent_db, lower).rows) == 1
    view = query(parent_db, NOT_INSTALLED + " AND PackageID = 'zzz00162'")
    assert [row[0] for row in view.rows] == ["ZZZ00162"]

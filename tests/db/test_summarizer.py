"""SMS_PackageStatusDistPointsSummarizer: the console's per-DP view, derived from PkgStatus."""

from __future__ import annotations

import pytest

from sitesrv.db.sitedb import (
    Package,
    PackageStatus,
    PkgStatus,
    QueryResult,
    Site,
    SiteDatabase,
    SiteType,
    StatusType,
)

from .conftest import REMOTE_DP, T0

# docs/database.md: Type 2 Status -> State; None means the row is absent.
MAPPING = [
    (PackageStatus.NONE, 1),
    (PackageStatus.SENT, 1),
    (PackageStatus.RECEIVED, 1),
    (PackageStatus.INSTALLED, 0),
    (PackageStatus.RETRY, 2),
    (PackageStatus.FAILED, 3),
    (PackageStatus.REMOVED, None),
    (PackageStatus.PENDING_REMOVE, 4),
]


@pytest.fixture
def site_db(db: SiteDatabase) -> SiteDatabase:
    db.put_site(Site("P00", "MGMT03", SiteType.PRIMARY))
    db.put_package(Package("ZZZ00148", "ZZZ"))
    return db


def summarizer(db: SiteDatabase, where: str = "") -> QueryResult:
    result = db.execute_user_sql(
        "SELECT PackageID, ServerNALPath, State, SummaryDate, LastCopied "
        f"FROM SMS_PackageStatusDistPointsSummarizer {where}"
    )
    assert isinstance(result, QueryResult)
    return result


@pytest.mark.parametrize(("status", "state"), MAPPING)
def test_each_dp_status_maps_to_its_state(
    site_db: SiteDatabase, status: PackageStatus, state: int | None
) -> None:
    site_db.upsert_pkg_status(
        PkgStatus("ZZZ00148", StatusType.COPY, "P00", REMOTE_DP, status, T0, SourceVersion=1)
    )
    rows = summarizer(site_db).rows
    if state is None:
        assert rows == ()
    else:
        last_copied = "2007-06-05 09:00:00.000" if status == PackageStatus.INSTALLED else None
        assert rows == (("ZZZ00148", REMOTE_DP, state, "2007-06-05 09:00:00.000", last_copied),)


def test_site_rows_are_not_dp_rows(site_db: SiteDatabase) -> None:
    site_db.upsert_pkg_status(
        PkgStatus("ZZZ00148", StatusType.MASTER, "P00", "MGMT03", PackageStatus.SENT, T0)
    )
    assert summarizer(site_db).rows == ()


def test_state_not_zero_finds_every_dp_not_installed(site_db: SiteDatabase) -> None:
    for n, (status, _state) in enumerate(MAPPING):
        server = f'MSWNET:["SMS_SITE=P00"]\\\\DP{n}\\SMSPKGC$\\'
        site_db.upsert_pkg_status(
            PkgStatus("ZZZ00148", StatusType.COPY, "P00", server, status, T0, SourceVersion=1)
        )
    states = sorted(row[2] for row in summarizer(site_db, "WHERE State != 0").rows)
    assert states == [1, 1, 1, 2, 3, 4]


def test_a_dp_of_an_unknown_site_has_no_source_nal_path(site_db: SiteDatabase) -> None:
    site_db.upsert_pkg_status(
        PkgStatus("ZZZ00148", StatusType.COPY, "SEC", "nal", PackageStatus.SENT, T0)
    )
    result = site_db.execute_user_sql(
        "SELECT SiteCode, SourceNALPath FROM SMS_PackageStatusDistPointsSummarizer"
    )
    assert isinstance(result, QueryResult)
    assert result.rows == (("SEC", None),)


@pytest.mark.parametrize(("installed", "state"), [(1, 1), (2, 0), (3, 0)])
def test_an_installed_dp_of_an_older_version_is_install_pending(
        db: SiteDatabase, installed: int, state: int) -> None:
    """The package is at SourceVersion 2: a DP installed with version 1 waits for the new one
    (the smsutils query finds it); version 2, or a newer one reported early, is installed."""
    db.put_site(Site("P00", "MGMT03", SiteType.PRIMARY))
    db.put_package(Package("ZZZ00148", "ZZZ", SourceVersion=2))
    db.upsert_pkg_status(PkgStatus("ZZZ00148", StatusType.COPY, "P00", REMOTE_DP,
                                   PackageStatus.INSTALLED, T0, SourceVersion=installed))
    assert [row[2] for row in summarizer(db).rows] == [state]


@pytest.mark.parametrize(("installed", "state"), [(1, 1), (2, 0)])
def test_above_the_source_site_the_package_version_is_the_source_sites_type_1_row(
        db: SiteDatabase, installed: int, state: int) -> None:
    """At the central site a package created at child primary P00 has no SMSPackages row: its
    version is that of P00's own Type 1 row (RECEIVED at version 2), so a DP below at version 1
    is Install Pending there too (the smsutils query finds it)."""
    db.put_site(Site("P00", "MGMT03", SiteType.PRIMARY))
    db.put_site(Site("S01", "SEC01", SiteType.SECONDARY))
    db.upsert_pkg_status(PkgStatus("P0000001", StatusType.MASTER, "P00", "MGMT03",
                                   PackageStatus.RECEIVED, T0, SourceVersion=2))
    db.upsert_pkg_status(PkgStatus("P0000001", StatusType.MASTER, "S01", "SEC01",
                                   PackageStatus.RECEIVED, T0, SourceVersion=1))
    dp = 'MSWNET:["SMS_SITE=S01"]\\\\SEC01\\SMSPKGC$\\'
    db.upsert_pkg_status(PkgStatus("P0000001", StatusType.COPY, "S01", dp,
                                   PackageStatus.INSTALLED, T0, SourceVersion=installed))
    assert [row[2] for row in summarizer(db).rows] == [state]
    assert len(summarizer(db, "WHERE State != 0").rows) == state

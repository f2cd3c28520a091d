"""The typed helpers components use, and the SMS rules they keep."""

from __future__ import annotations

import pytest

from sitesrv.db.sitedb import (
    NEVER_REFRESHED,
    Notification,
    Package,
    PackageAction,
    PackageStatus,
    ParentRowMissing,
    PkgServer,
    PkgStatus,
    QueryResult,
    Site,
    SiteDatabase,
    SiteType,
    StatusMessage,
    StatusType,
)
from sitesrv.errors import FormatError, UserError

from .conftest import REMOTE_DP, T0


@pytest.fixture
def site_db(db: SiteDatabase) -> SiteDatabase:
    db.put_site(Site("ZZZ", "MGMT01", SiteType.PRIMARY))
    db.put_site(Site("P00", "MGMT03", SiteType.PRIMARY, ReportingSite="ZZZ"))
    db.put_package(Package("ZZZ00148", "ZZZ", Name="Flash Player", SourceVersion=1))
    return db


def rows(db: SiteDatabase, sql: str) -> tuple[tuple[object, ...], ...]:
    result = db.execute_user_sql(sql)
    assert isinstance(result, QueryResult)
    return result.rows


def dp_status(status: PackageStatus, version: int, when: float = T0) -> PkgStatus:
    return PkgStatus(
        "ZZZ00148", StatusType.COPY, "P00", REMOTE_DP, status, when, SourceVersion=version
    )


# PkgStatus: SourceVersion never goes down through status reports (Q318834).


def test_an_older_status_report_changes_nothing(site_db: SiteDatabase) -> None:
    assert site_db.upsert_pkg_status(dp_status(PackageStatus.INSTALLED, 3, T0 + 10))
    assert not site_db.upsert_pkg_status(dp_status(PackageStatus.RETRY, 2, T0 + 20))
    assert site_db.get_pkg_status("ZZZ00148") == [dp_status(PackageStatus.INSTALLED, 3, T0 + 10)]


def test_same_or_newer_version_reports_apply(site_db: SiteDatabase) -> None:
    site_db.upsert_pkg_status(dp_status(PackageStatus.SENT, 2))
    assert site_db.upsert_pkg_status(dp_status(PackageStatus.INSTALLED, 2, T0 + 5))
    assert site_db.upsert_pkg_status(dp_status(PackageStatus.SENT, 3, T0 + 9))
    (row,) = site_db.get_pkg_status("ZZZ00148", status_type=StatusType.COPY, site_code="p00")
    assert (row.Status, row.SourceVersion, row.UpdateTime) == (PackageStatus.SENT, 3, T0 + 9)


def test_one_row_per_site_and_one_per_dp(site_db: SiteDatabase) -> None:
    site_db.upsert_pkg_status(
        PkgStatus("ZZZ00148", StatusType.MASTER, "P00", "MGMT03", PackageStatus.SENT, T0)
    )
    site_db.upsert_pkg_status(dp_status(PackageStatus.SENT, 0))
    site_db.upsert_pkg_status(
        PkgStatus("zzz00148", StatusType.MASTER, "p00", "mgmt03", PackageStatus.RECEIVED, T0)
    )
    assert rows(
        site_db, "SELECT ID, Type, SiteCode, PkgServer, Status FROM PkgStatus ORDER BY Type"
    ) == (
        ("ZZZ00148", 1, "P00", "MGMT03", 2),
        ("ZZZ00148", 2, "P00", REMOTE_DP, 1),
    )


# SMSPackages and PkgServers


def test_package_round_trip_and_update(site_db: SiteDatabase) -> None:
    package = Package(
        "ZZZ00162",
        "ZZZ",
        Name="Office",
        Source="C:\\packages\\offxp",
        SourceDate=T0,
        LastRefresh=T0 + 0.5,
        SourceSize=1,
        SourceCompSize=19821,
        StorePkgFlag=3,
        Action=PackageAction.ADD,
    )
    site_db.put_package(package)
    assert site_db.get_package("ZZZ00162") == package
    updated = Package("ZZZ00162", "ZZZ", Name="Office", SourceVersion=2, StoredPkgVersion=2)
    site_db.put_package(updated)
    assert site_db.get_package("ZZZ00162") == updated
    assert site_db.get_package("ZZZ09999") is None


def test_deleting_a_package_leaves_no_orphans(site_db: SiteDatabase) -> None:
    site_db.put_pkg_server(PkgServer("ZZZ00148", REMOTE_DP, "P00"))
    site_db.upsert_pkg_status(dp_status(PackageStatus.INSTALLED, 1))
    site_db.delete_package("ZZZ00148")
    assert site_db.get_package("ZZZ00148") is None
    assert site_db.get_pkg_servers("ZZZ00148") == []
    assert site_db.get_pkg_status("ZZZ00148") == []


def test_pkg_servers_round_trip(site_db: SiteDatabase) -> None:
    new = PkgServer("ZZZ00148", REMOTE_DP, "P00", SourceSite="ZZZ", Action=PackageAction.ADD)
    site_db.put_pkg_server(new)
    assert site_db.get_pkg_servers("ZZZ00148") == [new]
    assert new.LastRefresh == NEVER_REFRESHED
    done = PkgServer("ZZZ00148", REMOTE_DP, "P00", SourceSite="ZZZ", LastRefresh=T0)
    site_db.put_pkg_server(done)
    assert site_db.get_pkg_servers("ZZZ00148") == [done]
    site_db.delete_pkg_server("ZZZ00148", REMOTE_DP)
    assert site_db.get_pkg_servers("ZZZ00148") == []


def test_a_dp_of_an_unknown_site_gives_sms_message_99901(site_db: SiteDatabase) -> None:
    with pytest.raises(ParentRowMissing) as caught:
        site_db.put_pkg_server(
            PkgServer("ZZZ00148", 'MSWNET:["SMS_SITE=SEC"]\\\\NTSERVER\\', "SEC")
        )
    assert str(caught.value) == "This SiteCode (SEC) does not exist in the parent table, Sites."
    assert caught.value.number == 99901
    assert site_db.get_pkg_servers("ZZZ00148") == []


def test_a_dp_of_an_unknown_package_gives_sms_message_99901(site_db: SiteDatabase) -> None:
    with pytest.raises(ParentRowMissing) as caught:
        site_db.put_pkg_server(PkgServer("40100002", REMOTE_DP, "P00"))
    assert (
        str(caught.value)
        == "This PkgID (40100002) does not exist in the parent table, SMSPackages."
    )


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO PkgServers (PkgID, NALPath, SiteCode) VALUES ('ZZZ00148', 'nal', 'SEC')",
        "UPDATE PkgServers SET SiteCode = 'SEC'",
    ],
)
def test_people_s_sql_meets_the_same_parent_check(site_db: SiteDatabase, statement: str) -> None:
    site_db.put_pkg_server(PkgServer("ZZZ00148", REMOTE_DP, "P00"))
    with pytest.raises(UserError) as caught:
        site_db.execute_user_sql(statement)
    assert (
        str(caught.value) == "SQL error: This SiteCode does not exist in the parent table, Sites."
    )


def test_a_time_a_person_mistyped_is_a_format_error(site_db: SiteDatabase) -> None:
    site_db.execute_user_sql("UPDATE SMSPackages SET LastRefresh = 'yesterday'")
    with pytest.raises(FormatError) as caught:
        site_db.get_package("ZZZ00148")
    assert "SMSPackages.LastRefresh: 'yesterday' is not a time" in str(caught.value)
    site_db.execute_user_sql("UPDATE SMSPackages SET LastRefresh = '2007-06-05 09:00:00'")
    package = site_db.get_package("ZZZ00148")
    assert package is not None and package.LastRefresh == T0


# PkgNotification (SQL Monitor)


def test_notifications_are_taken_once_in_order(site_db: SiteDatabase) -> None:
    first = site_db.add_notification("ZZZ00148", PackageAction.ADD, priority=2, when=T0)
    second = site_db.add_notification("ZZZ00162", PackageAction.UPDATE, priority=1, when=T0 + 1)
    assert site_db.take_notifications() == [
        Notification(first, "ZZZ00148", 2, PackageAction.ADD, T0),
        Notification(second, "ZZZ00162", 1, PackageAction.UPDATE, T0 + 1),
    ]
    assert site_db.take_notifications() == []


def test_notifications_survive_a_crash_before_the_pkn_is_written(site_db: SiteDatabase) -> None:
    site_db.add_notification("ZZZ00148", PackageAction.ADD, priority=2, when=T0)
    with pytest.raises(OSError), site_db.transaction():
        assert len(site_db.take_notifications()) == 1
        raise OSError("disk full while writing ZZZ00148.PKN")
    assert [n.PkgID for n in site_db.take_notifications()] == ["ZZZ00148"]


# Status messages


def test_status_message_is_stored_as_its_statmsg_line_reads(site_db: SiteDatabase) -> None:
    message = StatusMessage(
        2300,
        "I",
        "SMS_DISTRIBUTION_MANAGER",
        "LCTOPAZCEN",
        "CEN",
        T0,
        ProcessID=3808,
        ThreadID=3612,
        InsStrings=("Lab 1 - Test package", "CEN0000E"),
        Attributes=((400, "CEN0000E"),),
    )
    record_id = site_db.insert_status_message(message)
    assert rows(
        site_db,
        "SELECT MessageID, Severity, Level, ModuleName, Component, MachineName, "
        "SiteCode, ProcessID, ThreadID, Time, ISTR0, ISTR1, ISTR9 FROM StatusMessages",
    ) == (
        (
            2300,
            "I",
            "M",
            "SMS Server",
            "SMS_DISTRIBUTION_MANAGER",
            "LCTOPAZCEN",
            "CEN",
            3808,
            3612,
            "2007-06-05 09:00:00.000",
            "Lab 1 - Test package",
            "CEN0000E",
            "",
        ),
    )
    assert rows(site_db, "SELECT * FROM StatusMessageAttributes") == ((record_id, 400, "CEN0000E"),)


def test_status_message_fields_are_checked(site_db: SiteDatabase) -> None:
    with pytest.raises(ValueError):
        StatusMessage(2300, "X", "SMS_DISTRIBUTION_MANAGER", "SRV", "CEN", T0)
    with pytest.raises(ValueError):
        StatusMessage(
            2300, "I", "SMS_DISTRIBUTION_MANAGER", "SRV", "CEN", T0, InsStrings=("",) * 11
        )

"""Site databases for the db tests: an empty one, and the parent site of the child-lost-its-PCK
report (docs/sources.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sitesrv.db.sitedb import (
    Package,
    PackageStatus,
    PkgServer,
    PkgStatus,
    Site,
    SiteDatabase,
    SiteType,
    StatusType,
)

T0 = 1181034000.0  # 2007-06-05 09:00:00 UTC
REMOTE_DP = 'MSWNET:["SMS_SITE=P00"]\\\\REMOTE_DP\\smsapps\\'
LOCAL_DP = 'MSWNET:["SMS_SITE=ZZZ"]\\\\MGMT01\\SMSPKGC$\\'


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SiteDatabase]:
    with SiteDatabase.create(tmp_path / "ZZZ" / "SMS" / "site.db") as database:
        yield database


@pytest.fixture
def parent_db(db: SiteDatabase) -> SiteDatabase:
    """Central site ZZZ (MGMT01) with child primary P00 (MGMT03) whose DP REMOTE_DP waits for
    ZZZ00148 and ZZZ00162: the parent believes P00 holds version 2 of both PCKs (docs/sources.md#child-lost-its-pck)."""
    with db.transaction():
        db.put_site(Site("ZZZ", "MGMT01", SiteType.PRIMARY, SiteName="Central"))
        db.put_site(Site("P00", "MGMT03", SiteType.PRIMARY, SiteName="Child", ReportingSite="ZZZ"))
        for pkg_id in ("ZZZ00148", "ZZZ00162", "ZZZ00170"):
            db.put_package(Package(pkg_id, "ZZZ", Name=pkg_id, SourceVersion=2, StoredPkgVersion=2))
            db.put_pkg_server(PkgServer(pkg_id, LOCAL_DP, "ZZZ", SourceSite="ZZZ"))
            db.put_pkg_server(PkgServer(pkg_id, REMOTE_DP, "P00", SourceSite="ZZZ"))
            rows = [
                PkgStatus(
                    pkg_id,
                    StatusType.MASTER,
                    "ZZZ",
                    "MGMT01",
                    PackageStatus.INSTALLED,
                    T0,
                    SourceVersion=2,
                ),
                PkgStatus(
                    pkg_id,
                    StatusType.COPY,
                    "ZZZ",
                    LOCAL_DP,
                    PackageStatus.INSTALLED,
                    T0,
                    SourceVersion=2,
                ),
                PkgStatus(
                    pkg_id,
                    StatusType.MASTER,
                    "P00",
                    "MGMT03",
                    PackageStatus.RECEIVED,
                    T0,
                    SourceVersion=2,
                ),
                PkgStatus(
                    pkg_id,
                    StatusType.COPY,
                    "P00",
                    REMOTE_DP,
                    PackageStatus.INSTALLED if pkg_id == "ZZZ00170" else PackageStatus.SENT,
                    T0,
                    SourceVersion=2,
                ),
            ]
            for row in rows:
                db.upsert_pkg_status(row)
    return db

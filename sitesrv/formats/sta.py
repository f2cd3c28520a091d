"""`distmgr.box\\INCOMING\\<random8>.STA`: package status rows travelling up the hierarchy.

A child site reports its PkgStatus rows for one package to its parent; the parent's Distribution
Manager stores them and reports them on to its own parent, so the central site sees every site's
status (docs/distribution.md, "Status going up"). Secondary sites keep no PkgStatus table: this file
is how theirs gets up.
"""

from __future__ import annotations

import attrs

from sitesrv.formats.sections import INTEGER, ISO_TIME, Key, Layout, many, one
from sitesrv.formats.values import (
    PACKAGE_ID,
    PKG_SERVER,
    SITE_CODE,
    TEXT,
    TIMESTAMP,
    VERSION,
    number,
    to_millis,
)

EXTENSION = ".STA"  # after 8 random characters, like .PKG
MASTER, COPY = 1, 2  # PkgStatus.Type: the site's compressed copy / a DP's copy


@attrs.frozen(kw_only=True)
class PkgStatusRow:
    """One PkgStatus row, as the site database keeps it (docs/database.md, SMS_PackageStatus)."""

    package_id: str = attrs.field(validator=PACKAGE_ID)
    type: int = attrs.field(validator=number(MASTER, COPY, "1 (master) or 2 (copy)"))
    site_code: str = attrs.field(validator=SITE_CODE)
    pkg_server: str = attrs.field(validator=PKG_SERVER)
    status: int = attrs.field(validator=number(0, 7, "a status from 0 to 7"))
    source_version: int = attrs.field(validator=VERSION)
    update_time: float = attrs.field(converter=to_millis, validator=TIMESTAMP)
    location: str = attrs.field(default="", validator=TEXT)
    share_name: str = attrs.field(default="", validator=TEXT)
    personality: int = attrs.field(default=0,
                                   validator=number(0, 2, "0 (none), 1 (MAC) or 2 (FPNW)"))


@attrs.frozen(kw_only=True)
class PackageStatusReport:
    """One `.STA` file: a site's status rows for one package."""

    reporting_site: str = attrs.field(validator=SITE_CODE)
    package_id: str = attrs.field(validator=PACKAGE_ID)
    rows: tuple[PkgStatusRow, ...] = attrs.field(
        converter=tuple,
        validator=attrs.validators.deep_iterable(attrs.validators.instance_of(PkgStatusRow)))

    def __attrs_post_init__(self) -> None:
        if not self.rows:
            raise ValueError("a status report needs at least one row")
        for row in self.rows:
            if row.package_id != self.package_id:
                raise ValueError(f"row for package {row.package_id} in a report for "
                                 f"package {self.package_id}")


LAYOUT = Layout(PackageStatusReport, "package status report", (
    one("STATUS REPORT",
        Key("ReportingSite", "reporting_site"),
        Key("PackageID", "package_id")),
    many("PKGSTATUS", "rows", PkgStatusRow,
         Key("ID", "package_id"),
         Key("Type", "type", INTEGER),
         Key("SiteCode", "site_code"),
         Key("PkgServer", "pkg_server"),
         Key("Status", "status", INTEGER),
         Key("SourceVersion", "source_version", INTEGER),
         Key("UpdateTime", "update_time", ISO_TIME),
         Key("Location", "location"),
         Key("ShareName", "share_name"),
         Key("Personality", "personality", INTEGER),
         minimum=1),
))
dumps = LAYOUT.dumps
encode = LAYOUT.encode
parse = LAYOUT.parse
decode = LAYOUT.decode
read = LAYOUT.read


"""Registering a site's compressed copy of a package: what makes it count, not the file on disk.

A site holds a package's content when it has registered the copy: StoredPkgVersion and
StoredPkgPath, the Type 1 PkgStatus row RECEIVED, and the stored package information file
`distmgr.box\\<PkgID>.PKG`. Distribution Manager and the Despooler compare versions with what is
registered, never with a PCK found in SMSPKG: a PCK copied there by hand counts only once
PreloadPkgOnSite registers it (docs/sources.md#smsutils).
"""

from __future__ import annotations

from pathlib import Path

from sitesrv.db.sitedb import PackageStatus, PkgStatus, StatusType
from sitesrv.formats import storedpkg
from sitesrv.lab.boxes import DISTMGR
from sitesrv.runtime.context import ComponentContext


def received_row(ctx: ComponentContext, pkg_id: str, version: int, pck: Path) -> PkgStatus:
    """The Type 1 row of this site's copy: RECEIVED, at `version`, located at the PCK's UNC."""
    return PkgStatus(ID=pkg_id, Type=StatusType.MASTER, SiteCode=ctx.site.code,
                     PkgServer=ctx.site.server, Status=PackageStatus.RECEIVED,
                     UpdateTime=ctx.clock.now(), SourceVersion=version,
                     Location=ctx.layout.unc(pck))


def register(ctx: ComponentContext, row: PkgStatus) -> None:
    """Record the copy `row` describes: the stored package information file, then the package's
    stored columns and the row together (a redo that finds the row written has the file too)."""
    write_information(ctx, row.ID, row.SourceVersion, row.Location)
    with ctx.store.transaction():
        # Only these columns: the package read earlier may be stale by now (another component
        # of the site registers newer information in another thread in live mode).
        ctx.store.set_stored(row.ID, row.SourceVersion, row.Location)
        ctx.store.put_status(row)


def write_information(ctx: ComponentContext, pkg_id: str, version: int, path: str) -> None:
    """`distmgr.box\\<PkgID>.PKG`: the stored package information file of this site's copy.

    Replaced in place, waking nobody: it is the site's record, not work for a component.
    """
    record = storedpkg.StoredPackage(package_id=pkg_id, version=version, path=path)
    ctx.replace(information_file(ctx, pkg_id), storedpkg.encode(record))


def information_file(ctx: ComponentContext, pkg_id: str) -> Path:
    return ctx.layout.inbox(DISTMGR) / storedpkg.file_name(pkg_id)

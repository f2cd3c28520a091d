"""Sending objects to other sites through Replication Manager, and status up the hierarchy.

A component replicates something by publishing it into `replmgr.box\\outbound\\<priority>` as
`<DEST>_<random8>.<ext>`; Replication Manager batches it for that destination
(docs/sources.md#mckinney). Package status rows go to the parent at low priority as a `.STA`
(docs/distribution.md, "Status going up"); each parent applies them and forwards them on, so
they reach the central site.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from sitesrv.db.sitedb import PkgStatus
from sitesrv.formats import sta
from sitesrv.lab.boxes import REPLMGR_OUTBOUND, REPLMGR_PROCESS
from sitesrv.runtime.context import ComponentContext

STATUS_PRIORITY = 3  # status travels at low priority by default (docs/sources.md#steverac)


def outbound_destination(name: str) -> str:
    """The destination site of an outbound object from its name (`P00_Z3AWAX9I.STA` -> P00)."""
    return name.split("_", 1)[0].upper()


def queue_replication(ctx: ComponentContext, dest: str, priority: int, extension: str,
                      data: bytes, *, key: str | None = None) -> str:
    """Hand one object for site `dest` to Replication Manager; the path it was published as.

    With `key` (derived from the input being processed) the name is the same on a redo after a
    crash, so the object is replaced rather than sent twice. The path is joined as text: it is
    only published.
    """
    folder = ctx.layout.inbox(REPLMGR_OUTBOUND[priority])
    if key is not None:
        random8 = ctx.ids.name_for(f"{dest}/{key}", extension)
    else:
        # A random name is checked as it is published, and in the stream folder the object
        # moves to next (`process\\<DEST>_<priority>`), where it waits for its batch (joined
        # as text: only looked at).
        stream = f"{ctx.layout.inbox(REPLMGR_PROCESS)}{os.sep}{dest}_{priority}"
        random8 = ctx.ids.random_name(folder, extension, prefix=f"{dest}_", also=(stream,))
    return ctx.publish(f"{folder}{os.sep}{dest}_{random8}", data)


def to_row(row: PkgStatus) -> sta.PkgStatusRow:
    return sta.PkgStatusRow(
        package_id=row.ID, type=int(row.Type), site_code=row.SiteCode, pkg_server=row.PkgServer,
        status=int(row.Status), source_version=row.SourceVersion, update_time=row.UpdateTime,
        location=row.Location, share_name=row.ShareName, personality=row.Personality,
    )


def from_row(row: sta.PkgStatusRow) -> PkgStatus:
    return PkgStatus(
        ID=row.package_id, Type=row.type, SiteCode=row.site_code, PkgServer=row.pkg_server,
        Status=row.status, UpdateTime=row.update_time, Location=row.location,
        ShareName=row.share_name, SourceVersion=row.source_version, Personality=row.personality,
    )


def forward_status(ctx: ComponentContext, package_id: str, rows: Iterable[PkgStatus], *,
                   key: str | None = None) -> bool:
    """Send changed status rows of one package to the parent site; False at the central site.

    Logs `Forward package status for pkg <id> to site <parent>` as the field reports show.
    `key` makes the file name repeatable (see queue_replication).
    """
    parent = ctx.site.parent
    if parent is None:  # the central site: no rows turned into a report's only to be dropped
        return False
    found = [to_row(r) for r in rows]
    if not found:
        return False
    report = sta.PackageStatusReport(reporting_site=ctx.site.code, package_id=package_id,
                                     rows=tuple(found))
    queue_replication(ctx, parent, STATUS_PRIORITY, sta.EXTENSION, sta.encode(report), key=key)
    ctx.log.write(f"Forward package status for pkg {package_id} to site {parent}")
    ctx.emit("status_forwarded", package=package_id, to=parent, rows=len(found))
    return True

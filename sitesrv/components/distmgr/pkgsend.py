"""What a Distribution Manager sends to other sites: package information and compressed files.

Package information is the replication `.PKG`, handed to Replication Manager. Compressed files
go as a minijob whose transfer root is the stored `SMSPKG\\<PkgID>.PCK` or `.DLT.<n>`, carrying
this site's `.PKG` for that version (a content instruction). docs/distribution.md is the model;
the log lines are those of the parent's distmgr.log in docs/sources.md#child-lost-its-pck.

A minijob needs a job ID from `schedule.box\\UID`. Without one (a token is missing) the minijob
is skipped with Q266195's line and `MinijobSkipped` ends the unit: nothing of the pass after it
is done, so the pass (its actions stay set) or the `.PKG` is done again later, as a pass a crash
stopped is (`wait_for_job_id`). A pass, or a `.PKG` that forwards compressed files, looks for the
token before it does anything (`need_job_id`): information sent to a site before the minijob was
skipped would be sent again, newly stamped, at every retry, and a lab would never be idle.
"""

from __future__ import annotations

from collections.abc import Iterable, Set

import attrs

from sitesrv.components.statusup import queue_replication
from sitesrv.components.uidtokens import (
    SKIPPING_MINIJOB,
    MissingToken,
    has_job_token,
    take_job_id,
    waits_for,
)
from sitesrv.compression import needs_full_package
from sitesrv.db.pkgstore import PackageStore
from sitesrv.db.sitedb import (
    Package,
    PackageAction,
    PackageStatus,
    PkgServer,
    PkgStatus,
    StatusType,
)
from sitesrv.errors import FormatError
from sitesrv.formats import job as jobfile
from sitesrv.formats import pkg
from sitesrv.formats.values import Payload
from sitesrv.lab.boxes import SCHEDULE, WORK_DIR
from sitesrv.lab.hierarchy import DistributionPoint, Hierarchy
from sitesrv.runtime.context import ComponentContext
from sitesrv.runtime.inbox import WorkItem


class MinijobSkipped(MissingToken):
    """No job ID for a minijob: nothing of it was written. `reason` is the wait line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


ACTIONS = {
    PackageAction.NONE: pkg.PackageAction.NONE,
    PackageAction.UPDATE: pkg.PackageAction.UPDATE,
    PackageAction.ADD: pkg.PackageAction.ADD,
    PackageAction.DELETE: pkg.PackageAction.DELETE,
}


def dp_for(hierarchy: Hierarchy, site_code: str, nal_path: str) -> DistributionPoint | None:
    """The hierarchy's DP behind a PkgServers NAL path."""
    for dp in hierarchy.site(site_code).distribution_points:
        if dp.nal_path(site_code).upper() == nal_path.upper():
            return dp
    return None


def server_display(server: str, site_code: str) -> str:
    """A DP's server as Distribution Manager's lines name it (Q319189, Yuvaraj):
    `["Display=\\\\SRV\\"]MSWNET:["SMS_SITE=P00"]\\\\SRV\\`."""
    return f'["Display=\\\\{server}\\"]MSWNET:["SMS_SITE={site_code}"]\\\\{server}\\'


def pkgstore_server(server: pkg.PackageServer, package_id: str, source_site: str) -> PkgServer:
    """The PkgServers row a replicated DP becomes at the receiving site."""
    return PkgServer(PkgID=package_id, NALPath=server.nal_path, SiteCode=server.site_code,
                     SourceSite=source_site)


def replication_servers(hierarchy: Hierarchy, servers: Iterable[PkgServer],
                        sites: Set[str], refresh: set[str] = frozenset()) -> tuple[pkg.PackageServer, ...]:
    """The `[PACKAGE SERVER]` records for the DPs at `sites`."""
    out = []
    for row in servers:
        if row.SiteCode.upper() not in sites:
            continue
        dp = dp_for(hierarchy, row.SiteCode, row.NALPath)
        if dp is None:
            continue
        action = (pkg.PackageAction.REFRESH if row.NALPath.upper() in refresh
                  else ACTIONS[row.Action])
        out.append(pkg.PackageServer(site_code=row.SiteCode.upper(), server=dp.server,
                                     share=dp.share, nal_path=row.NALPath, action=action))
    return tuple(out)


# The subtrees of the hierarchy they were worked out for, by site: the hierarchy is frozen, and
# Status Manager asks at every message, Distribution Manager at every pass.
_subtrees: tuple[Hierarchy | None, dict[str, frozenset[str]]] = (None, {})


def subtree(hierarchy: Hierarchy, site: str) -> frozenset[str]:
    """`site` and every site below it."""
    global _subtrees
    held, known = _subtrees
    if held is not hierarchy:
        known = {}
        _subtrees = (hierarchy, known)
    found = known.get(site)
    if found is None:
        found = known[site] = frozenset((site, *(s.code for s in hierarchy.descendants(site))))
    return found


def content_site(hierarchy: Hierarchy, sender: str, dp_sites: set[str], target: str,
                 source: str) -> str:
    """Which site sends the compressed files to `target`: "the nearest site in the hierarchy".

    With the setting on, the nearest ancestor of `target` below `sender` that has DPs of the
    package (so it holds the compressed copy) forwards them; otherwise `sender` sends them.
    With it off, the package's `source` site sends them, also for a DP added at a child primary
    (which then sends the package's information only): KB936465's first workaround, as the
    source's later definition then carries the files (docs/sources.md#kb936465).
    """
    if not hierarchy.software_distribution.send_from_nearest_site:
        return source
    for ancestor in hierarchy.ancestors(target):
        if ancestor.code == sender:
            break
        if ancestor.code in dp_sites and ancestor.is_primary:
            return ancestor.code
    return sender


def definition(package: Package, *, action: pkg.PackageAction, issuing_site: str,
               content_site_code: str, forward: bool, content: bool,
               servers: tuple[pkg.PackageServer, ...], source_version: int | None = None,
               ) -> pkg.PackageReplication:
    """A `.PKG` for this package as this site knows it, stamped with its LastRefreshTime."""
    return pkg.PackageReplication(
        package_id=package.PkgID, name=package.Name or package.PkgID,
        source_site=package.SourceSite,
        source_version=package.SourceVersion if source_version is None else source_version,
        last_refresh_time=package.LastRefresh or 0.0, priority=package.Priority,
        pkg_flags=package.PkgFlags, share_name=package.ShareName, share_type=package.ShareType,
        source_flag=package.StorePkgFlag, preferred_address=package.PreferredAddress or "*",
        action=action, issuing_site=issuing_site, content_site=content_site_code,
        forward=forward, content=content, servers=servers,
    )


def send_information(ctx: ComponentContext, record: pkg.PackageReplication, dest: str) -> None:
    """Package information to `dest` through Replication Manager, and status 2339."""
    queue_replication(ctx, dest, record.priority, pkg.EXTENSION, pkg.encode(record))
    ctx.log.write(f"Sent package changes to site {dest} for package {record.package_id}")
    ctx.emit("package_info_sent", package=record.package_id, to=dest,
             version=record.source_version)


def held_version(store: PackageStore, package_id: str, site: str) -> tuple[int | None, bool]:
    """What this site believes `site` holds: its Type 1 row's SourceVersion, and RECEIVED."""
    rows = store.statuses(package_id, status_type=StatusType.MASTER, site_code=site)
    if not rows:
        return None, False
    return rows[0].SourceVersion, rows[0].Status == PackageStatus.RECEIVED


def need_job_id(ctx: ComponentContext, pkg_id: str) -> None:
    """MinijobSkipped, with Q266195's line, if no job ID could be taken now: before a pass of
    `pkg_id` does anything it would do again when it is retried."""
    if not has_job_token(ctx):
        ctx.log.write(SKIPPING_MINIJOB)
        raise MinijobSkipped(waits_for(f"a job ID to send package {pkg_id}"))


def send_compressed(ctx: ComponentContext, store: PackageStore, package: Package, dest: str,
                    record: pkg.PackageReplication, holds: tuple[int | None, bool], *,
                    full: bool = False) -> None:
    """Minijobs for the compressed files `dest` lacks: deltas if it is close, else the PCK.
    `holds`: what this site believes `dest` holds (`held_version`), as the caller just read it.

    Marks `dest`'s Type 1 row SENT with the version sent.
    """
    pkg_id = package.PkgID
    version = package.StoredPkgVersion
    smspkg = ctx.layout.smspkg
    held, received = holds
    deltas = [smspkg / f"{pkg_id}.DLT.{k}" for k in range(((held or 0) + 1), version + 1)]
    # A whole PCK still waiting to go to `dest` (its job here) is replaced in place by this
    # version and will never arrive as the version it says: a delta onto it would wait for
    # ever, so this version goes whole too. Deltas still on their way are files that never
    # change: deltas pile up behind them (a link down through several updates).
    in_flight = (held is not None and held < version and not received
                 and _pck_job_pending(ctx, pkg_id, dest))
    if full or in_flight or needs_full_package(held, version) or \
            not all(d.exists() for d in deltas):
        files = [(smspkg / f"{pkg_id}.PCK", Payload.PCK, version)]
    else:
        files = [(d, Payload.DLT, int(d.suffix[1:])) for d in deltas]
    dest_server = ctx.hierarchy.site(dest).server
    ctx.log.write(f"Needs to send the compressed package for package {pkg_id} to site {dest}")
    ctx.log.write(f"Sending a copy of package {pkg_id} to site {dest}")
    if ctx.hierarchy.site(dest).parent == ctx.site.code:
        ctx.log.write(f"~The reporting site of site {dest} is this site.")
    try:  # all of them first: a minijob is written for every file or for none
        job_ids = [take_job_id(ctx) for _ in files]
    except MissingToken as e:
        ctx.log.write(SKIPPING_MINIJOB)
        raise MinijobSkipped(waits_for(f"a job ID to send the compressed files of {pkg_id} to "
                                       f"site {dest}")) from e
    for (path, payload, file_version), job_id in zip(files, job_ids, strict=True):
        root = ctx.layout.unc(path)
        job = jobfile.SchedulerJob(
            job_id=job_id, description=f"Software Distribution for {package.Name}, "
            f"Package ID = {pkg_id}", destination_site=dest, priority=package.Priority,
            instruction_type=jobfile.PACKAGE_INSTRUCTION, transfer_root=root, payload=payload,
            package_id=pkg_id, package_version=file_version, originating_site=ctx.site.code,
            created=ctx.clock.now(), preferred_address=record.preferred_address,
            package=attrs.evolve(record, source_version=file_version, content=True),
        )
        ctx.publish(ctx.layout.inbox(SCHEDULE) / jobfile.job_file_name(job_id),
                    jobfile.encode(job))
        ctx.log.write(f"Created minijob to send compressed copy of package {pkg_id} to site "
                      f"{dest}. Tranfer root = {root}.")
        ctx.emit("content_sent", package=pkg_id, to=dest, version=file_version,
                 file=root, job=job_id)
    store.put_status(PkgStatus(
        ID=pkg_id, Type=StatusType.MASTER, SiteCode=dest, PkgServer=dest_server,
        Status=PackageStatus.SENT, UpdateTime=ctx.clock.now(), SourceVersion=version,
        Location=f"\\\\{dest_server}\\SMS_CPS{ctx.hierarchy.site(dest).package_drive}$\\"
                 f"{pkg_id}.PCK",
    ))


def _pck_job_pending(ctx: ComponentContext, pkg_id: str, dest: str) -> bool:
    """Whether a minijob of this site still carries the package's whole PCK to `dest` (the
    Scheduler keeps a job until its send completes). Asked only when `dest` has not yet said it
    received the version sent last, so the scan of the schedule box is rare."""
    box = ctx.layout.inbox(SCHEDULE)
    for path in [*sorted(box.glob(f"*{jobfile.EXTENSION}")),
                 *sorted((box / WORK_DIR).glob(f"*{jobfile.EXTENSION}"))]:
        try:
            job = jobfile.read(path)
        except (OSError, FormatError):
            continue  # gone meanwhile, or not one this site can send
        if (job.package_id.upper(), job.destination_site.upper(), job.payload) == (
                pkg_id.upper(), dest.upper(), Payload.PCK):
            return True
    return False


def wait_for_job_id(ctx: ComponentContext, item: WorkItem, skipped: MinijobSkipped) -> None:
    """The file whose unit skipped a minijob waits for the token and is taken again: a
    transient cause, tried again until `sitesrv init` restores the token, never quarantined."""
    ctx.retrying()
    item.defer(ctx.clock.now() + ctx.timing.distmgr_retry_interval, skipped.reason)

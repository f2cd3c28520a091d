"""Compressed files for a package: store the PCK or merge the delta, then tell Distribution Manager.

The model is docs/distribution.md, "What the receiving site does". Content straight from the
package's source site (the carried `.PKG` was issued by its source site) needs this site's
package information for that version first (error 12), becomes `SMSPKG\\<PkgID>.PCK` with
StoredPkgVersion, the Type 1 RECEIVED row and status 4400. Content forwarded by the nearest
site is only parked as `SMSPKG\\<PkgID>.PCK.<n>`: Distribution Manager registers it when it
processes the forwarder's `.PKG` (our reading of KB936465, §9.2 variant).

A payload leaves receive only once the content is in place (a PCK is renamed into SMSPKG; a
delta is removed after the merge), so a redo after a crash recognises stored content by the
version in SMSPKG and only repeats the bookkeeping (docs/despooler.md, "Crash recovery").
"""

from __future__ import annotations

from pathlib import Path

import attrs

from sitesrv.components.despooler.receive import Received
from sitesrv.components.despooler.retry import retry_later
from sitesrv.components.signals import package_information_signal
from sitesrv.components.statusup import forward_status
from sitesrv.compression import (
    BaseMissingError,
    MergeBaseError,
    PckError,
    check,
    merge,
    read_manifest,
)
from sitesrv.db.pkgstore import PackageStore
from sitesrv.db.sitedb import Package, PackageStatus, PkgStatus, StatusType
from sitesrv.formats import pkg
from sitesrv.formats.values import Payload
from sitesrv.lab.boxes import DISTMGR_INCOMING
from sitesrv.logs.statmsg import AID_PACKAGE, AID_VERSION, StatusReporter
from sitesrv.runtime.faults import AFTER_PUBLISH

INFORMATION_MISSING = 12  # the package information for this version has not arrived
CONTENT_MISSING = 8  # the delta's previous version is not in SMSPKG


@attrs.define
class Content:
    """One compressed-files instruction at this site, with what the site knows of the package."""

    r: Received
    carried: pkg.PackageReplication
    package: Package | None

    @property
    def store(self) -> PackageStore:
        return self.r.ctx.store

    @property
    def status(self) -> StatusReporter:
        return self.r.ctx.status

    @property
    def pkg_id(self) -> str:
        return self.r.ins.package_id

    @property
    def version(self) -> int:
        return self.r.ins.package_version

    @property
    def direct(self) -> bool:
        """Sent by the source site itself (not forwarded by the nearest site)."""
        return self.carried.issuing_site == self.carried.source_site

    @property
    def stored_version(self) -> int:
        return self.package.StoredPkgVersion if self.package is not None else 0

    @property
    def pck(self) -> Path:
        return self.r.ctx.layout.smspkg / f"{self.pkg_id}.PCK"

    @property
    def target(self) -> Path:
        """Where this content goes: the PCK, or the pending `.PCK.<n>` of forwarded content."""
        return self.pck if self.direct else self.pck.with_name(f"{self.pck.name}.{self.version}")

    def old_news(self) -> bool:
        """This site already has this version or a newer one (and its PCK is still there)."""
        stored = self.stored_version
        return stored > self.version or (stored == self.version and self.pck.exists())

    def information_arrived(self) -> bool:
        return self.package is not None and self.package.SourceVersion >= self.version


def content_problem(r: Received) -> str | None:
    """What a compressed-files instruction lacks, or None."""
    ins = r.ins
    if not ins.package_id or ins.package_version < 1 or ins.package is None:
        return (f"a {ins.payload} instruction must name the package and its version and carry "
                "the sending site's .PKG")
    return None


def execute(r: Received, payload: Path | None) -> None:
    """Store or merge the received compressed files; see the module docstring."""
    assert r.ins.package is not None
    c = Content(r, r.ins.package, r.ctx.store.package(r.ins.package_id))
    ctx = r.ctx
    log = ctx.log.write
    resumed = payload is None
    if resumed and not holds(c.target, c.pkg_id, c.version):
        if c.old_news():
            _old_news(c)
        else:
            r.missing_payload(f"stored as {ctx.windows(c.target)}")
        return
    if r.ins.payload is Payload.DLT:
        log(f"Received package {c.pkg_id} version {c.version}")
    else:
        log(f"~Received package {c.pkg_id} version {c.version}. Compressed file -  "
            f"{ctx.windows(c.target)} as {ctx.windows(r.work_payload)}")
        log(f"~Old package storedUNC path is "
            f"{c.package.StoredPkgPath if c.package is not None else ''}.")
    if resumed:
        log(f"~Package {c.pkg_id} version {c.version} was stored in {ctx.windows(c.target)} "
            "before the Despooler stopped, finish the instruction.")
    elif c.old_news():
        _old_news(c)
        return
    if c.direct and not c.information_arrived():
        log(f"~This package[{c.pkg_id}]'s information hasn't arrived yet for this version "
            f"[{c.version}]. Retry later ...")
        retry_later(r, INFORMATION_MISSING,
                    f"waits for the package information of {c.pkg_id} version {c.version}",
                    tilde=True, signal=package_information_signal(c.pkg_id))
        return
    if payload is not None and not _store(c, payload):
        return
    log(f"~Use drive {ctx.site.package_drive} for storing the compressed package.")
    if c.direct:
        _register(c, resumed)
    else:
        log(f"~Package {c.pkg_id} version {c.version} came from site {c.carried.issuing_site}, "
            f"not from its source site {c.carried.source_site}: stored it as "
            f"{ctx.windows(c.target)} for Distribution Manager to register.")
        ctx.emit("content_parked", package=c.pkg_id, version=c.version,
                 file=ctx.windows(c.target), sender=c.carried.issuing_site)
    name = ctx.ids.name_for(r.request_id.upper(), pkg.EXTENSION)
    ctx.publish(ctx.layout.inbox(DISTMGR_INCOMING) / name, pkg.encode(c.carried))
    log("~Despooler successfully executed one instruction.")
    r.finish()


def holds(path: Path, pkg_id: str, version: int) -> bool:
    """Whether `path` is a whole PCK of that package and version (its trailer and manifest)."""
    try:
        manifest = read_manifest(path)
    except (OSError, PckError):
        return False
    return (manifest.package_id == pkg_id and manifest.version == version
            and manifest.delta is None)


def _old_news(c: Content) -> None:
    c.r.ctx.log.write(f"~Package {c.pkg_id} version {c.stored_version} is already stored, "
                      f"discard the received version {c.version}.")
    c.r.ctx.emit("content_discarded", package=c.pkg_id, version=c.version,
                 stored=c.stored_version)
    c.r.finish()


def _store(c: Content, payload: Path) -> bool:
    """Put the content at its target; False if the instruction was deferred or quarantined."""
    r = c.r
    durable = r.ctx.durability.syncs_files
    try:
        if r.ins.payload is Payload.PCK:
            # Verified with the signature check if the payload is unchanged since; else now.
            manifest = check(payload, package_id=c.pkg_id, version=c.version).result()
            if manifest.delta is not None:
                r.quarantine(f"the payload {r.payload_name} is a delta, the instruction says PCK")
                return False
            r.hand_over(c.target, readonly=True)
            return True
        if not holds(c.target, c.pkg_id, c.version):  # else merged before a restart
            manifest = read_manifest(payload)
            if ((manifest.package_id, manifest.version) != (c.pkg_id, c.version)
                    or not manifest.delta):
                r.quarantine(f"the payload {r.payload_name} is not the delta of package "
                             f"{c.pkg_id} version {c.version}")
                return False
            merge(c.pck, payload, c.target, durable=durable)
            r.ctx.faults.point(AFTER_PUBLISH, c.target)
    except MergeBaseError as e:
        _base_unusable(c, e)
        return False
    except PckError as e:
        if Path(e.path) != payload:
            _base_unusable(c, e)
            return False
        r.quarantine(e.problem)
        return False
    r.ctx.remove(payload)  # the delta goes once merged: a redo then sees stored content
    return True


def _base_unusable(c: Content, error: MergeBaseError | PckError) -> None:
    """The delta cannot be merged onto what SMSPKG holds: error 8, retried until content comes."""
    ctx = c.r.ctx
    base = c.version - 1
    if isinstance(error, BaseMissingError):
        ctx.log.write(f"CCompress::Open: Failed to open {ctx.windows(c.pck.parent / c.pkg_id)} "
                      f"({base})")
    else:
        ctx.log.write(f"~Cannot merge the delta of package {c.pkg_id} version {c.version}: "
                      f"{ctx.windows(c.pck)} is not the version {base} it was made from")
    retry_later(c.r, CONTENT_MISSING, f"waits for version {base} of {c.pkg_id} to merge a delta",
                tilde=False)


def _register(c: Content, resumed: bool) -> None:
    """StoredPkgVersion, the Type 1 RECEIVED row, status up to the parent, and 4400.

    Status goes up before the database is written: a crash in between sends a second,
    identical report instead of none. A redo that finds the row already written skips it all.
    """
    r = c.r
    ctx = r.ctx
    layout = ctx.layout
    ctx.log.write(f"~Package {c.pkg_id} (version {c.stored_version}) exists in the "
                  f"distribution source, save the newer version (version {c.version}).")
    ctx.log.write(f"~Stored Package {c.pkg_id}. Stored Package Version = {c.version}")
    ctx.emit("package_stored", package=c.pkg_id, version=c.version, file=ctx.windows(c.pck))
    row = PkgStatus(ID=c.pkg_id, Type=StatusType.MASTER, SiteCode=ctx.site.code,
                    PkgServer=ctx.site.server, Status=PackageStatus.RECEIVED,
                    UpdateTime=ctx.clock.now(), SourceVersion=c.version,
                    Location=layout.unc(c.pck))
    if resumed and _registered(c, row):
        return
    assert c.package is not None  # the information arrived (error 12 otherwise)
    forward_status(ctx, c.pkg_id, [row], key=r.request_id.upper())
    c.status.report(4400, c.pkg_id, layout.unc(c.pck),
                    attributes=((AID_PACKAGE, c.pkg_id), (AID_VERSION, str(c.version))))
    with c.store.transaction():
        # Only the Despooler's columns: the package read at the start may be stale by now
        # (Distribution Manager registers newer information in another thread in live mode).
        c.store.set_stored(c.pkg_id, c.version, layout.unc(c.pck))
        c.store.put_status(row)


def _registered(c: Content, row: PkgStatus) -> bool:
    if c.stored_version != c.version:
        return False
    return any(old.PkgServer.upper() == row.PkgServer.upper() and old.Status == row.Status
               and old.SourceVersion == row.SourceVersion
               for old in c.store.statuses(c.pkg_id, status_type=StatusType.MASTER,
                                           site_code=row.SiteCode))

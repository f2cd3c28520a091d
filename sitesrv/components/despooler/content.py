"""Compressed files for a package: store the PCK or merge the delta, then tell Distribution Manager.

The model is docs/distribution.md, "What the receiving site does". Content straight from the
package's source site (the carried `.PKG` was issued by its source site) needs this site's
package information for that version first (error 12), becomes `SMSPKG\\<PkgID>.PCK` with
StoredPkgVersion, the Type 1 RECEIVED row and status 4400. Content forwarded by the nearest
site is only parked as `SMSPKG\\<PkgID>.PCK.<n>`: Distribution Manager registers it when it
processes the forwarder's `.PKG` (our reading of KB936465: docs/differences.md).

A payload leaves receive only once the content is in place (a PCK is renamed into SMSPKG; a
delta is removed after the merge), so a redo after a crash recognises stored content by the
version in SMSPKG and only repeats the bookkeeping (docs/despooler.md, "Crash recovery"). A
delta is renamed `ds_xxxxx.mrg` while it is merged: only then is a PCK of the new version in
SMSPKG taken as this merge's work. A PCK someone copied there by hand is not: as on SMS, what
counts is the version the site has registered (StoredPkgVersion), not the files on disk, and
the delta must merge onto the registered version (error 8 until it can, or until
PreloadPkgOnSite registers the copy).
"""

from __future__ import annotations

import functools
from pathlib import Path

import attrs

from sitesrv.components import deletions, storedcopy
from sitesrv.components.despooler.receive import Received
from sitesrv.components.despooler.retry import retry_later
from sitesrv.components.signals import package_information_signal
from sitesrv.components.statusup import forward_status
from sitesrv.compression import (
    BaseMissingError,
    CorruptError,
    MergeBaseError,
    PckError,
    UnsafeEntryError,
    check,
    merge,
    read_manifest,
)
from sitesrv.db.pkgstore import PackageStore
from sitesrv.db.sitedb import Package, PkgStatus, StatusType
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

    received: Received
    carried: pkg.PackageReplication
    package: Package | None

    @property
    def store(self) -> PackageStore:
        return self.received.ctx.store

    @property
    def status(self) -> StatusReporter:
        return self.received.ctx.status

    @property
    def pkg_id(self) -> str:
        return self.received.ins.package_id

    @property
    def version(self) -> int:
        return self.received.ins.package_version

    @property
    def direct(self) -> bool:
        """Sent by the source site itself (not forwarded by the nearest site)."""
        return self.carried.issuing_site == self.carried.source_site

    @property
    def stored_version(self) -> int:
        return self.package.StoredPkgVersion if self.package is not None else 0

    @functools.cached_property
    def pck(self) -> Path:
        """`SMSPKG\\<PkgID>.PCK`, joined once: a unit names it up to four times."""
        return self.received.ctx.layout.smspkg / f"{self.pkg_id}.PCK"

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


def content_problem(received: Received) -> str | None:
    """What a compressed-files instruction lacks, or None."""
    ins = received.ins
    if not ins.package_id or ins.package_version < 1 or ins.package is None:
        return (f"a {ins.payload} instruction must name the package and its version and carry "
                "the sending site's .PKG")
    return None


def execute(received: Received, payload: Path | None) -> None:
    """Store or merge the received compressed files; see the module docstring."""
    assert received.ins.package is not None
    content = Content(received, received.ins.package,
                      received.ctx.store.package(received.ins.package_id))
    ctx = received.ctx
    log = ctx.log.write
    resumed = payload is None
    if resumed and not holds(content.target, content.pkg_id, content.version):
        if content.old_news():
            _old_news(content)
        else:
            received.missing_payload(f"stored as {ctx.windows(content.target)}")
        return
    if received.ins.payload is Payload.DLT:
        log(f"Received package {content.pkg_id} version {content.version}")
    else:
        log(f"~Received package {content.pkg_id} version {content.version}. Compressed file -  "
            f"{ctx.windows(content.target)} as {ctx.windows(received.work_payload)}")
        log(f"~Old package storedUNC path is "
            f"{content.package.StoredPkgPath if content.package is not None else ''}.")
    if resumed:
        log(f"~Package {content.pkg_id} version {content.version} was stored in "
            f"{ctx.windows(content.target)} before the Despooler stopped, finish the instruction.")
    elif content.old_news():
        _old_news(content)
        return
    if content.package is None and deletions.superseded(ctx, content.pkg_id,
                                                        content.carried.last_refresh_time):
        _deleted(content)
        return
    if content.direct and not content.information_arrived():
        log(f"~This package[{content.pkg_id}]'s information hasn't arrived yet for this version "
            f"[{content.version}]. Retry later ...")
        retry_later(received, INFORMATION_MISSING,
                    f"waits for the package information of {content.pkg_id} version "
                    f"{content.version}",
                    signal=package_information_signal(content.pkg_id))
        return
    if payload is not None and not _store(content, payload):
        return
    log(f"~Use drive {ctx.site.package_drive} for storing the compressed package.")
    if content.direct:
        _register(content, resumed)
    else:
        log(f"~Package {content.pkg_id} version {content.version} came from site "
            f"{content.carried.issuing_site}, not from its source site "
            f"{content.carried.source_site}: stored it as "
            f"{ctx.windows(content.target)} for Distribution Manager to register.")
        ctx.emit("content_parked", package=content.pkg_id, version=content.version,
                 file=ctx.windows(content.target), sender=content.carried.issuing_site)
    name = ctx.ids.name_for(received.request_id, pkg.EXTENSION)
    ctx.publish(ctx.layout.inbox(DISTMGR_INCOMING) / name, pkg.encode(content.carried))
    log("~Despooler successfully executed one instruction.")
    received.finish()


def holds(path: Path, pkg_id: str, version: int) -> bool:
    """Whether `path` is a whole PCK of that package and version (its trailer and manifest)."""
    try:
        manifest = read_manifest(path)
    except (OSError, PckError):
        return False
    return (manifest.package_id == pkg_id and manifest.version == version
            and manifest.delta is None)


def _old_news(content: Content) -> None:
    """Nothing is stored again, but the copy this site holds is reported up once more.

    Whoever sent the content set this site's Type 1 row to SENT, as the delta-stuck report's
    repair makes the parent do for a version the site already holds: without the report the
    parent's row stays SENT for ever. The key makes a redo replace the report, not add one.
    """
    received = content.received
    ctx = received.ctx
    ctx.log.write(
        f"~Package {content.pkg_id} version {content.stored_version} is already stored, "
        f"discard the received version {content.version}.")
    ctx.emit("content_discarded", package=content.pkg_id, version=content.version,
             stored=content.stored_version)
    forward_status(ctx, content.pkg_id, [_own_row(content)], key=received.request_id)
    received.finish()


def _own_row(content: Content) -> PkgStatus:
    """This site's Type 1 row as it stands, or as storing its version would have written it."""
    ctx = content.received.ctx
    for row in content.store.statuses(content.pkg_id, status_type=StatusType.MASTER,
                                      site_code=ctx.site.code):
        if row.PkgServer.upper() == ctx.site.server.upper():
            return row
    return storedcopy.received_row(ctx, content.pkg_id, content.stored_version, content.pck)


def _deleted(content: Content) -> None:
    """The site deleted the package after these files were sent (deletions.py): storing them
    would wait for ever for information that is not coming, or make the package again."""
    ctx = content.received.ctx
    ctx.log.write(f"~Package {content.pkg_id} was deleted at this site after version "
                  f"{content.version} was sent, discard the received version {content.version}.")
    if content.received.handed_over(content.target):  # stored before a restart: not kept
        ctx.remove(content.target)
    ctx.emit("content_discarded", package=content.pkg_id, version=content.version,
             stored=0, reason="deleted")
    content.received.finish()


def _store(content: Content, payload: Path) -> bool:
    """Put the content at its target; False if the instruction was deferred or quarantined."""
    received = content.received
    durable = received.ctx.durability.syncs_files
    try:
        if received.ins.payload is Payload.PCK:
            # Checked with the signature if the payload is unchanged since; else now.
            manifest = check(payload, package_id=content.pkg_id, version=content.version).result()
            if manifest.delta is not None:
                received.quarantine(f"the payload {received.payload_name} is a delta, the "
                                    "instruction says PCK")
                return False
            received.hand_over(content.target, readonly=True)
            return True
        merging = received.merging_payload
        if payload == merging and holds(content.target, content.pkg_id, content.version):
            received.ctx.remove(payload)  # merged before a restart
            return True
        manifest = read_manifest(payload)
        if ((manifest.package_id, manifest.version) != (content.pkg_id, content.version)
                or not manifest.delta):
            received.quarantine(f"the payload {received.payload_name} is not the delta of "
                                f"package {content.pkg_id} version {content.version}")
            return False
        if payload != merging:
            received.ctx.rename(payload, merging)
        try:
            merge(content.pck, merging, content.target, durable=durable)
        except (MergeBaseError, PckError):
            received.ctx.rename(merging, received.work_payload)  # nothing was written
            raise
        received.ctx.work.expanded(content.target.stat().st_size)  # the merged PCK written
        received.ctx.faults.point(AFTER_PUBLISH, content.target)
    except MergeBaseError as e:
        _base_unusable(content, e)
        return False
    except (PckError, UnsafeEntryError) as e:
        if Path(e.path) not in received.work_payloads():
            _base_unusable(content, e)
            return False
        received.quarantine(e.problem)
        return False
    received.ctx.remove(merging)  # the delta goes once merged: a redo then sees stored content
    return True


def _base_unusable(content: Content, error: MergeBaseError | PckError | UnsafeEntryError
                   ) -> None:
    """The delta cannot be merged onto what SMSPKG holds: error 8, retried until content comes."""
    ctx = content.received.ctx
    base = content.version - 1
    if isinstance(error, BaseMissingError):
        ctx.log.write("CCompress::Open: Failed to open "
                      f"{ctx.windows(content.pck.parent / content.pkg_id)} ({base})")
    elif isinstance(error, CorruptError):  # stored whole, damaged inside: the merge reads it
        ctx.log.write(f"~Cannot merge the delta of package {content.pkg_id} version "
                      f"{content.version}: {ctx.windows(content.pck)} is damaged: "
                      f"{error.problem}")
    else:
        ctx.log.write(f"~Cannot merge the delta of package {content.pkg_id} version "
                      f"{content.version}: {ctx.windows(content.pck)} is not the version {base} "
                      "it was made from")
    retry_later(content.received, CONTENT_MISSING,
                f"waits for version {base} of {content.pkg_id} to merge a delta")


def _register(content: Content, resumed: bool) -> None:
    """StoredPkgVersion, the Type 1 RECEIVED row, status up to the parent, and 4400.

    Status goes up before the database is written: a crash in between sends a second,
    identical report instead of none. A redo that finds the row already written skips it all.
    """
    received = content.received
    ctx = received.ctx
    layout = ctx.layout
    ctx.log.write(f"~Package {content.pkg_id} (version {content.stored_version}) exists in the "
                  f"distribution source, save the newer version (version {content.version}).")
    ctx.log.write(f"~Stored Package {content.pkg_id}. Stored Package Version = {content.version}")
    ctx.emit("package_stored", package=content.pkg_id, version=content.version,
             file=ctx.windows(content.pck))
    row = storedcopy.received_row(ctx, content.pkg_id, content.version, content.pck)
    if resumed and _registered(content, row):
        return
    assert content.package is not None  # the information arrived (error 12 otherwise)
    forward_status(ctx, content.pkg_id, [row], key=received.request_id)
    content.status.report(4400, content.pkg_id, layout.unc(content.pck),
                          attributes=((AID_PACKAGE, content.pkg_id),
                                      (AID_VERSION, str(content.version))))
    storedcopy.register(ctx, row)


def _registered(content: Content, row: PkgStatus) -> bool:
    if content.stored_version != content.version:
        return False
    return any(old.PkgServer.upper() == row.PkgServer.upper() and old.Status == row.Status
               and old.SourceVersion == row.SourceVersion
               for old in content.store.statuses(content.pkg_id, status_type=StatusType.MASTER,
                                                 site_code=row.SiteCode))

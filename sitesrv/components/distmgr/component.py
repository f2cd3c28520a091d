"""Distribution Manager (SMS_DISTRIBUTION_MANAGER): packages onto DPs and on to child sites.

Three kinds of work (docs/distribution.md):
- `distmgr.box\\<PkgID>.PKN`: a package action at this site (SQL Monitor's wake-up). The
  database's action flags say what to do; the file only wakes us. At the package's source site
  this compresses a new version, installs local DPs and sends information and compressed files
  to the sites below; at a child primary it handles DP changes made at this site.
- `distmgr.box\\INCOMING\\*.PKG`: replicated package information and actions from another
  site: the LastRefreshTime rule (KB936465), the version checks, DP installs, forwarding.
- `distmgr.box\\INCOMING\\*.STA`: status rows from a child site, applied and passed up.

As in SMS 2003, INCOMING is the replication thread's work (the component's own thread ID here),
and each pass on a package runs on a package processing thread: its lines and status messages
carry that thread's ID (`Starting package processing thread,thread ID = E1C`).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import attrs

from sitesrv.components import deletions, routing, storedcopy
from sitesrv.components.distmgr import dpinstall, pkgsend
from sitesrv.components.signals import package_information_signal
from sitesrv.components.statusup import forward_status, from_row
from sitesrv.compression import PckError, make_delta, pack, read_manifest, recover_installs
from sitesrv.db.sitedb import (
    REFRESH_SOURCE,
    Package,
    PackageAction,
    PackageStatus,
    ParentRowMissing,
    PkgServer,
    PkgStatus,
    SourceFlag,
    StatusType,
)
from sitesrv.files.folders import is_folder, lexists
from sitesrv.formats import offer, pkg, pkn, sta
from sitesrv.lab.boxes import (
    CLICFG_SRC,
    COLLEVAL,
    DISTMGR,
    DISTMGR_INCOMING,
    OFFERINF,
    OFFERMGR,
    PKGINFO,
)
from sitesrv.lab.clock import lab_time_text
from sitesrv.lab.hierarchy import KB936465
from sitesrv.logs.statmsg import AID_DP, AID_PACKAGE, AID_VERSION
from sitesrv.logs.win32 import PATH_NOT_FOUND, win32_error
from sitesrv.runtime.backoff import is_transient
from sitesrv.runtime.component import Component, Waiting
from sitesrv.runtime.context import ComponentContext
from sitesrv.runtime.inbox import InboxSpec, WorkItem

# A replicated LastRefreshTime later than this site's time by more than this is refused.
FUTURE_TOLERANCE = 86400.0
KEEP_DELTAS = 5  # deltas against the previous five versions (docs/sources.md#sms-2003-faq)
CLF = ".CLF"  # colleval.box\\<PkgID>.CLF, one of the files a deployed package leaves
RETRY_PASS = "waits for the Distribution Manager retry pass"


class DistributionManager(Component):
    name = "SMS_DISTRIBUTION_MANAGER"
    log_name = "distmgr.log"
    inboxes = (
        InboxSpec(DISTMGR, ("*.PKN",)),
        InboxSpec(DISTMGR_INCOMING, ("*.PKG", "*.STA")),
    )

    def start(self) -> None:
        # Packages whose DPs here must be tried again; rebuilt from the RETRY rows at start-up.
        self.retry: set[str] = {
            pkg_id for pkg_id in self.ctx.store.package_ids()
            if any(r.Status == PackageStatus.RETRY for r in self.ctx.store.statuses(
                pkg_id, status_type=StatusType.COPY, site_code=self.ctx.site.code))}
        self.attempts: dict[str, int] = {}  # SMS keeps this under Retry History (Q319207)
        # Packages whose compression failed (a full drive) or whose minijob waits for a job ID,
        # with the wait line: their actions, still set in the database, are taken again at the
        # retry pass (and at start-up, as any unfinished one).
        self.redo: dict[str, str] = {}
        # INCOMING files kept to wait for a package's compressed files, by package: they are
        # looked at again as soon as that package's files are here, not on every arrival.
        self.kept: dict[str, set[str]] = {}
        log = self.ctx.log.write
        self.ctx.make_dirs(self.ctx.layout.smspkg)  # the compressed packages: never via a link
        self._recover()
        log(f"Starting thread for processing replication,thread ID = {self.ctx.log.thread:X}")
        log("Used 0 out of 3 allowed processing threads.")
        # Package actions not finished before a stop (KB834123: processed again at start-up);
        # those whose notification is still on its way wait for their .PKN.
        self.pending = [p for p in self.ctx.store.package_ids()
                        if self._has_actions(p) and not self._notification_coming(p)]
        self._sleep()

    def _recover(self) -> None:
        """Finish what a stop interrupted: a DP folder swap, a compression temp file."""
        for dp in self.ctx.site.distribution_points:
            for done in recover_installs(self.ctx.layout.dp_root(dp)):
                self.ctx.log.write(f"Recovered an interrupted copy to {self.ctx.windows(done.path)}"
                                   f": {done.action}")
        for temp in sorted(self.ctx.layout.root.glob("_S *.TMP")):
            self.ctx.remove_tree(temp)
            self.ctx.log.write(f"Deleted the compression temporary file {self.ctx.windows(temp)}")

    def _sleep(self) -> None:
        self.ctx.log.write(f"Sleep {int(self.ctx.timing.distmgr_sleep)} seconds...")
        self.ctx.wake_at(self.ctx.clock.now() + self.ctx.timing.distmgr_sleep)

    def work(self) -> bool:
        if self.pending:
            pkg_id = self.pending.pop(0)
            try:
                with self._package_thread(pkg_id):
                    self._package_actions(pkg_id)
            except pkgsend.MinijobSkipped as skipped:
                self.ctx.retrying()
                self.redo[pkg_id] = skipped.reason
            except Exception as error:
                if is_transient(error):  # a busy database: the pass is done again, not lost
                    self.pending.insert(0, pkg_id)
                raise
            return True
        item = self.ctx.claim_next()
        if item is None:
            return self._retry_pass()
        # A file that cannot be parsed raises FormatError: the runtime moves it to corrupt\.
        try:
            if item.name.upper().endswith(".PKN"):
                # Several notifications for one package collapse into one pass (KB834123).
                record = pkn.read(item.path)
                if self._has_actions(record.package_id):
                    with self._package_thread(record.package_id):
                        self._package_actions(record.package_id)
                item.done()
            elif item.name.upper().endswith(".STA"):
                self._status_file(item)
            else:
                self._incoming_package(item)
        except pkgsend.MinijobSkipped as skipped:
            pkgsend.wait_for_job_id(self.ctx, item, skipped)
        return True

    def waiting(self) -> Iterable[Waiting]:
        return [Waiting(p, self.redo.get(p, RETRY_PASS))
                for p in sorted(self.retry | self.redo.keys())]

    # --- package actions at this site ---------------------------------------------------------

    @contextlib.contextmanager
    def _package_thread(self, pkg_id: str) -> Iterator[None]:
        """A pass on one package, on its package processing thread (one at a time here; SMS
        runs up to 3): the start line on the component's thread, the pass's lines and status
        messages on the package's. Its ID is the package's, the same at every pass."""
        thread = self.ctx.log.thread_for(f"package {pkg_id}")
        self.ctx.log.write(f"Starting package processing thread,thread ID = {thread:X}")
        with self.ctx.log.on_thread(thread):
            yield

    def _notification_coming(self, pkg_id: str) -> bool:
        if (self.ctx.layout.inbox(DISTMGR) / pkn.pkn_name(pkg_id)).exists():
            return True
        db = self.ctx.database
        return db is not None and bool(db.query(
            "SELECT 1 FROM PkgNotification WHERE PkgID = ?", (pkg_id,)))

    def _has_actions(self, pkg_id: str) -> bool:
        package = self.ctx.store.package(pkg_id)
        if package is None:
            return False
        if package.Action != PackageAction.NONE:
            return True
        pending = self._removal_pending(pkg_id)  # sent: nothing more to do until confirmed
        return any(s.Action != PackageAction.NONE and not (
            s.Action == PackageAction.DELETE and s.NALPath.upper() in pending)
            or s.RefreshTrigger for s in self.ctx.store.servers(pkg_id))

    def _removal_pending(self, pkg_id: str) -> set[str]:
        """The DPs below this site whose removal was sent and waits for their site's word
        (Type 2 Status 7 PENDING_REMOVE: docs/distribution.md, "Removing a DP")."""
        return {r.PkgServer.upper() for r in self.ctx.store.statuses(
            pkg_id, status_type=StatusType.COPY)
            if r.Status == PackageStatus.PENDING_REMOVE}

    def _package_actions(self, pkg_id: str) -> None:
        """One pass over a package's pending actions at this site.

        The actions are cleared last, and only if nobody set new ones meanwhile, so a pass that
        stops halfway (a crash) is done again at start-up rather than lost.
        """
        package = self.ctx.store.package(pkg_id)
        if package is None:
            return
        if package.Action == PackageAction.DELETE:
            self._delete_package(package)
            return
        site = self.ctx.site.code
        servers = self.ctx.store.servers(pkg_id)
        if not _no_source(package) and any(s.SiteCode.upper() != site for s in servers):
            # Compressed files may go to a site below: before anything a retry would do again.
            pkgsend.need_job_id(self.ctx, pkg_id)
        is_source = package.SourceSite.upper() == site
        handled = package.Action
        self.ctx.status.report(2300, package.Name, pkg_id, attributes=((AID_PACKAGE, pkg_id),))
        if handled == PackageAction.NONE:  # only DPs changed (Yuvaraj's DP add, CM07)
            self.ctx.log.write(f"No action specified for the package {pkg_id}.")
        changed_dps = {s.NALPath.upper() for s in servers
                       if s.Action != PackageAction.NONE or s.RefreshTrigger}
        added = {s.NALPath.upper() for s in servers if s.Action == PackageAction.ADD}
        refreshed = {s.NALPath.upper() for s in servers if s.RefreshTrigger}
        compressing = is_source and handled in (PackageAction.ADD, PackageAction.UPDATE)
        if compressing and _no_source(package):
            self.ctx.log.write(f"Start adding package {pkg_id}..." if package.SourceVersion == 0
                               else f"Start updating the package {pkg_id}...")
            self.ctx.log.write(f"Package {pkg_id} has no source files; it needs no compressed "
                               "copy and no distribution point.")
            compressed: dict[str, object] | None = {"SourceVersion": package.SourceVersion + 1}
        else:
            try:
                compressed = self._compress(package) if compressing else {}
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise  # the runtime's retries of the file, as for any other error
                self._compression_failed(package, e)
                return
        if compressed is None:
            # The source could not be read: no version, and the DPs here show it. The stored
            # copy no longer counts as the source's, so the next change compresses afresh.
            self._give_up(package, [s for s in servers if s.SiteCode.upper() == site
                                    and s.Action != PackageAction.DELETE])
            self._record(pkg_id, handled, {"StoredPkgSource": ""})
            return
        new_version = bool(compressed)
        columns: dict[str, object] = {}
        if new_version or changed_dps or (handled != PackageAction.NONE and not compressing):
            columns = {**compressed, "LastRefresh": _stamp(self.ctx, package)}
        package = attrs.evolve(package, **columns)
        if new_version:
            self._write_pkginfo(package)
        copy = None
        if new_version and not _no_source(package):
            storedcopy.write_information(self.ctx, pkg_id, package.StoredPkgVersion,
                                         package.StoredPkgPath)
            # The source site's own Type 1 row: its compressed copy, RECEIVED at this version
            # (docs/database.md, PkgStatus); up first, as any changed row goes up.
            copy = storedcopy.received_row(self.ctx, pkg_id, package.StoredPkgVersion,
                                           self.ctx.layout.smspkg / f"{pkg_id}.PCK")
            self._forward(pkg_id, [copy])
        # The sites below first, so they receive while this site installs its own DPs.
        self._send_down(package, servers, changed_dps if not new_version else None, refreshed)
        self._local_dps(package, servers, None if new_version else changed_dps)
        removing_below = self._settle_servers(package, servers)
        if not is_source:
            # A DP added or removed here reaches the source site as a status row
            # (docs/distribution.md, "Status going up").
            self._forward(pkg_id, [r for r in self.ctx.store.statuses(pkg_id,
                                                                      status_type=StatusType.COPY)
                                   if r.PkgServer.upper() in added] + removing_below)
        self._record(pkg_id, handled, columns, copy)
        self.ctx.log.write(f"StoredPkgVersion ({package.StoredPkgVersion}) of package {pkg_id}. "
                           f"StoredPkgVersion in database is {package.StoredPkgVersion}.")
        self.ctx.log.write(f"SourceVersion ({package.SourceVersion}) of package {pkg_id}. "
                           f"SourceVersion in database is {package.SourceVersion}.")
        self.ctx.status.report(2301, package.Name, pkg_id, attributes=((AID_PACKAGE, pkg_id),))

    def _record(self, pkg_id: str, handled: PackageAction, columns: dict[str, object],
                copy: PkgStatus | None = None) -> None:
        """The end of a pass: its SMSPackages columns (and the Type 1 row of a new compressed
        copy), and its action cleared unless a newer one waits its turn."""
        with self.ctx.store.transaction():
            if columns:
                self.ctx.store.update_package(pkg_id, **columns)
            if copy is not None:
                self.ctx.store.put_status(copy)
            if not self._notification_coming(pkg_id):
                self.ctx.store.clear_action(pkg_id, handled)

    def _local_dps(self, package: Package, servers: list[PkgServer],
                   changed: set[str] | None) -> None:
        """This site's DPs: removed, or installed if changed (`changed` None: a new version,
        every DP)."""
        for row in servers:
            if row.SiteCode.upper() != self.ctx.site.code:
                continue
            if row.Action == PackageAction.DELETE:
                self._remove_dp(package, row)
            elif changed is None or row.NALPath.upper() in changed:
                self._install_local(package, row, added=row.Action == PackageAction.ADD)

    def _settle_servers(self, package: Package, servers: list[PkgServer]) -> list[PkgStatus]:
        """Clear the DPs' actions once done; returns the PENDING_REMOVE rows newly written
        for DPs removed below.

        A DP below is not removed here: its site removes it and says so (a REMOVED row, up
        the hierarchy). Until then its PkgServers row keeps its DELETE action and its Type 2
        row is 7 PENDING_REMOVE (State 4 REMOVAL_PENDING). This site's own DPs were removed
        by _local_dps, rows and all."""
        store, site = self.ctx.store, self.ctx.site.code
        pending = self._removal_pending(package.PkgID)
        removing_below = []
        for row in servers:
            if row.Action == PackageAction.DELETE:
                if pkgsend.dp_for(self.ctx.hierarchy, row.SiteCode, row.NALPath) is None:
                    # No DP of the lab: no site to remove it or say so (a row typed by hand).
                    store.delete_server(package.PkgID, row.NALPath)
                    store.delete_status(package.PkgID, StatusType.COPY, row.SiteCode,
                                        row.NALPath)
                elif row.SiteCode.upper() != site and row.NALPath.upper() not in pending:
                    removing = self._status_row(package, row, PackageStatus.PENDING_REMOVE)
                    store.put_status(removing)
                    removing_below.append(removing)
            elif row.Action != PackageAction.NONE or row.RefreshTrigger:
                store.settle_server(row, self.ctx.clock.now())
        return removing_below

    def _compress(self, package: Package) -> dict[str, object] | None:
        """A new source version: `SMSPKG\\<PkgID>.PCK` via `_S xxxxx.TMP`, and the delta.

        Returns the SMSPackages columns to record when the pass ends; {} when there is nothing
        new (a property change, such as a source path set again, while the stored PCK is of
        the current version and made from that path: docs/distribution.md, "Refresh and
        update"); None when the source folder cannot be read (logged). A delta is made only
        against a PCK made from the same folder. A pass that stopped before recording the
        columns finds the new version already in the PCK and goes on from there.
        """
        pkg_id = package.PkgID
        log = self.ctx.log.write
        version = package.SourceVersion + 1
        smspkg = self.ctx.layout.smspkg
        pck = smspkg / f"{pkg_id}.PCK"
        have = _pck_version(pck)
        same_source = package.StoredPkgSource == package.Source
        refresh = package.Action == PackageAction.ADD or bool(
            package.UpdateMask & REFRESH_SOURCE)
        log(f"Start adding package {pkg_id}..." if version == 1
            else f"Start updating the package {pkg_id}...")
        log(f"Package {pkg_id} uses the compressed copy of the source directory.")
        if not refresh and same_source and have == package.SourceVersion:
            return {}
        if package.Action == PackageAction.UPDATE and (refresh or not same_source):
            log(f"~The source for package {pkg_id} has changed or the package source needs to "
                "be refreshed")
        if have not in (package.SourceVersion, version):
            log(f"Package {pkg_id} doesn't have a compressed copy of the source directory, "
                "starting the compression.")
        if have == version:
            manifest = read_manifest(pck)
            source_kbytes = -(-manifest.source_size // 1024)
            compressed_kbytes = -(-pck.stat().st_size // 1024)
        else:
            shown = self.ctx.lab.sources.shown(package.Source)
            source = self.ctx.lab.sources.folder_of(package.Source)
            error = PATH_NOT_FOUND if source is None else _source_error(source)
            if error is not None or source is None:
                log(f"~The source directory {shown} doesn't exist or the SMS service "
                    f"cannot access it, Win32 last error = {error}")
                return None
            delta = smspkg / f"{pkg_id}.DLT.{version}"
            if have == version - 1 and same_source:
                make_delta(pck, source, delta, pkg_id, version,
                           temp_path=dpinstall.compression_temp(self.ctx),
                           attribute_changes_count=(
                               self.ctx.hierarchy.software_distribution.attribute_changes_count))
                for old in range(1, version - KEEP_DELTAS + 1):
                    self.ctx.remove(smspkg / f"{pkg_id}.DLT.{old}")
            else:  # one left by a pass that stopped would be taken for this version's delta
                self.ctx.remove(delta)
            temp = dpinstall.compression_temp(self.ctx)
            log(f"Starting to compress {shown} to {self.ctx.windows(temp)} for package {pkg_id}")
            self.ctx.emit("compression_started", package=pkg_id, version=version,
                          file=self.ctx.windows(temp))
            result = pack(source, pck, pkg_id, version, temp_path=temp,
                          durable=self.ctx.durability.syncs_files)
            self.ctx.work.compressed(result.source_size)
            source_kbytes, compressed_kbytes = result.source_kbytes, result.compressed_kbytes
            self.ctx.emit("package_compressed", package=pkg_id, version=version,
                          file=self.ctx.windows(pck))
        log(f"The size of package {pkg_id} is {source_kbytes} KBytes")
        log(f"The compressed size of package {pkg_id} is {compressed_kbytes} KBytes")
        now = self.ctx.clock.now()
        return {"SourceVersion": version, "StoredPkgVersion": version,
                "StoredPkgPath": self.ctx.layout.unc(pck), "StoredPkgSource": package.Source,
                "SourceDate": now, "SourceSize": source_kbytes,
                "SourceCompSize": compressed_kbytes}

    def _send_down(self, package: Package, servers: list[PkgServer],
                   changed: set[str] | None, refreshed: set[str]) -> None:
        """Information (and compressed files) for every site below with a changed DP.

        `changed` None means a new version: every site below gets its information, which a
        child needs before PreloadPkgOnSite can run there (docs/sources.md#preloadpkgonsite);
        the compressed files go only to the sites with a DP.
        """
        site = self.ctx.site.code
        h = self.ctx.hierarchy
        is_source = package.SourceSite.upper() == site
        below = pkgsend.subtree(h, site) - {site}
        live = [s for s in servers if s.SiteCode.upper() in below]
        dp_sites = {s.SiteCode.upper() for s in live if s.Action != PackageAction.DELETE}
        targets = below if changed is None else {s.SiteCode.upper() for s in live
                                                 if s.NALPath.upper() in changed}
        if not targets:
            return
        self.ctx.log.write(f"Package {package.PkgID} is new or has changed, replicating to all "
                           "applicable sites.")
        # A newer .PKG supersedes older ones at the receiver (LastRefreshTime), so each one
        # carries the whole picture: every DP below the target, and whether it forwards.
        senders = {t: pkgsend.content_site(h, site, dp_sites, t, package.SourceSite.upper())
                   for t in dp_sites | targets}
        forwarders = {c for c in senders.values() if c != site and c in below}
        recipients = targets | {senders[t] for t in targets if senders[t] in forwarders}
        for target in sorted(recipients):
            sub = pkgsend.subtree(h, target)
            record = pkgsend.definition(
                package, action=pkg.PackageAction.UPDATE, issuing_site=site,
                content_site_code=senders.get(target, site), forward=target in forwarders,
                content=False,
                servers=pkgsend.replication_servers(h, live, sub, refreshed))
            content_sent = False
            if senders.get(target) == site and target in dp_sites:
                content_sent = self._send_content_if_needed(
                    package, target, record, refresh=bool(refreshed & _nals(live, target)))
            if is_source:
                self.ctx.log.write(f"A distribution point has been changed at this site, adding "
                                   f"site {target} to the list of sites to which we are sending "
                                   f"package {package.PkgID}.")
                pkgsend.send_information(self.ctx, record, target)
                self.ctx.status.report(2339, package.PkgID, target,
                                       attributes=((AID_PACKAGE, package.PkgID),))
            elif target in targets and not content_sent:
                # A DP changed at this child primary for a site below: its own instruction.
                pkgsend.send_information(self.ctx, record, target)

    def _send_content_if_needed(self, package: Package, target: str,
                                record: pkg.PackageReplication, *, refresh: bool) -> bool:
        """Send the compressed files unless `target`'s Type 1 row says it has them."""
        held, received = pkgsend.held_version(self.ctx.store, package.PkgID, target)
        if held is not None and held >= package.StoredPkgVersion and (received or not refresh):
            return False
        if not (self.ctx.layout.smspkg / f"{package.PkgID}.PCK").exists():
            return False
        pkgsend.send_compressed(self.ctx, self.ctx.store, package, target, attrs.evolve(
            record, issuing_site=self.ctx.site.code, content_site=self.ctx.site.code),
            (held, received), full=package.SourceSite.upper() != self.ctx.site.code)
        self._forward(package.PkgID, self.ctx.store.statuses(
            package.PkgID, status_type=StatusType.MASTER, site_code=target))
        return True

    def _install_local(self, package: Package, row: PkgServer, *, added: bool = False) -> None:
        """Copy the package onto one of this site's DPs; `added`: the DP was just added here,
        and the pass says so as Yuvaraj's DP add does (CM07)."""
        dp = pkgsend.dp_for(self.ctx.hierarchy, row.SiteCode, row.NALPath)
        pck = self.ctx.layout.smspkg / f"{package.PkgID}.PCK"
        if dp is None:
            return
        shown = pkgsend.server_display(dp.server, row.SiteCode)
        if added:
            self.ctx.log.write(f"Start adding package to server {shown}...")
        if package.StoredPkgVersion < 1 or not pck.exists():
            self._waits_for_content(package, package.SourceSite, [row.NALPath])
            self.retry.add(package.PkgID)
            return
        if added:
            self.ctx.log.write(f"Established connection to {shown}")
        self.ctx.status.report(2342, package.Name, row.NALPath,
                               attributes=((AID_PACKAGE, package.PkgID), (AID_DP, row.NALPath)))
        try:
            dpinstall.install_on_dp(self.ctx, pck, dp, package.PkgID, package.StoredPkgVersion)
        except (OSError, PckError, dpinstall.DecompressFailed) as e:
            self._copy_failed(package, row.NALPath, e)
            return
        self.ctx.status.report(2330, package.Name, row.NALPath,
                               attributes=((AID_PACKAGE, package.PkgID), (AID_DP, row.NALPath),
                                           (AID_VERSION, str(package.StoredPkgVersion))))
        # Reported up even when the row is as it was (a refresh): the sites above rewrite
        # theirs, as a refresh's status reaches the parent in SMS.
        self._set_dp_status(package, row.NALPath, PackageStatus.INSTALLED, report=True)

    def _copy_failed(self, package: Package, nal: str,
                     e: OSError | PckError | dpinstall.DecompressFailed) -> None:
        """SMS's lines and status message for a copy to a DP that failed; the DP is retried.

        A limit's refusal is sitesrv's own sentence (docs/limits.md); every other failure is a
        Win32 error, and the Python account of it goes to the events only."""
        pkg_id = package.PkgID
        attributes = ((AID_PACKAGE, pkg_id), (AID_DP, nal))
        reason = f"Win32 Error = {win32_error(e)}" if isinstance(e, OSError) else str(e)
        self.ctx.emit("dp_copy_failed", package=pkg_id, dp=nal, problem=(
            e.detail if isinstance(e, dpinstall.DecompressFailed) else str(e)))
        self.ctx.log.write(f"Failed to copy package {pkg_id} to {nal}: {reason}")
        if isinstance(e, dpinstall.DecompressFailed):
            self.ctx.status.report(2321, pkg_id, e.pck, e.temp, severity="E",
                                   attributes=attributes)
        else:
            self.ctx.status.report(2328, pkg_id, self.ctx.lab.sources.shown(package.Source),
                                   nal, severity="E", attributes=attributes)
        self._set_dp_status(package, nal, PackageStatus.RETRY)
        self.retry.add(pkg_id)

    def _set_dp_status(self, package: Package, nal: str, status: PackageStatus, *,
                       report: bool = False) -> None:
        """Write this site's row for one of its DPs; it goes up if it changed, or `report`
        (a copy to the DP was made)."""
        row = PkgStatus(ID=package.PkgID, Type=StatusType.COPY, SiteCode=self.ctx.site.code,
                        PkgServer=nal, Status=status, UpdateTime=self.ctx.clock.now(),
                        SourceVersion=package.StoredPkgVersion,
                        Location=f"{nal}{package.PkgID}\\", ShareName="")
        old = self.ctx.store.statuses(package.PkgID, status_type=StatusType.COPY,
                                      site_code=self.ctx.site.code)
        before = next((r for r in old if r.PkgServer.upper() == nal.upper()), None)
        self.ctx.store.put_status(row)
        changed = before is None or (before.Status, before.SourceVersion) != (row.Status,
                                                                              row.SourceVersion)
        if changed or report:
            self._forward(package.PkgID, [row])
        if changed and status == PackageStatus.INSTALLED:  # Offer Manager may advertise it now
            self._tell_offer_manager()

    def _remove_dp(self, package: Package, row: PkgServer) -> None:
        dp = pkgsend.dp_for(self.ctx.hierarchy, row.SiteCode, row.NALPath)
        if dp is not None:
            dpinstall.remove_from_dp(self.ctx, dp, package.PkgID)
        self.ctx.store.delete_status(package.PkgID, StatusType.COPY, row.SiteCode, row.NALPath)
        self.ctx.store.delete_server(package.PkgID, row.NALPath)
        self._forward(package.PkgID, [self._status_row(package, row, PackageStatus.REMOVED)])
        if row.SiteCode.upper() == self.ctx.site.code:  # the site's DPs changed: so do the
            self._write_nal(package)  # .NAL, and perhaps what Offer Manager may offer
            self._tell_offer_manager()

    def _status_row(self, package: Package, row: PkgServer, status: PackageStatus) -> PkgStatus:
        """A DP's removal as a status row: REMOVED tells the sites above that the DP no
        longer has the package; PENDING_REMOVE that its removal is on its way."""
        return PkgStatus(ID=package.PkgID, Type=StatusType.COPY, SiteCode=row.SiteCode,
                         PkgServer=row.NALPath, Status=status,
                         UpdateTime=self.ctx.clock.now(), SourceVersion=package.StoredPkgVersion)

    def _delete_package(self, package: Package) -> None:
        pkg_id = package.PkgID
        site = self.ctx.site.code
        self.ctx.log.write(f"Start deleting the package {pkg_id}...")
        servers = self.ctx.store.servers(pkg_id)
        for row in servers:
            if row.SiteCode.upper() == site:
                dp = pkgsend.dp_for(self.ctx.hierarchy, row.SiteCode, row.NALPath)
                if dp is not None:
                    dpinstall.remove_from_dp(self.ctx, dp, pkg_id)
        # The DPs below are removed by their sites, which say so: until then their rows stay,
        # 7 PENDING_REMOVE (docs/distribution.md, "Removing a DP, deleting a package").
        pending = [attrs.evolve(r, Status=PackageStatus.PENDING_REMOVE,
                                UpdateTime=self.ctx.clock.now())
                   for r in self.ctx.store.statuses(pkg_id, status_type=StatusType.COPY)
                   if r.SiteCode.upper() != site and r.Status != PackageStatus.REMOVED]
        if package.SourceSite.upper() == site:
            # Every site below has the package's information (_send_down).
            for target in sorted(pkgsend.subtree(self.ctx.hierarchy, site) - {site}):
                record = pkgsend.definition(
                    package, action=pkg.PackageAction.DELETE, issuing_site=site,
                    content_site_code="", forward=False, content=False, servers=())
                pkgsend.send_information(self.ctx, record, target)
        self._remove_stored(pkg_id)
        advertisements = self.ctx.store.advertisements(pkg_id)
        with self.ctx.store.transaction():
            self.ctx.store.delete_package(pkg_id)  # its advertisements go with it (Q257318)
            for row in pending:
                self.ctx.store.put_status(row)
        self._forward(pkg_id, self._deleted_here(pkg_id, package.StoredPkgVersion) + pending)
        self._remove_advertisements(pkg_id, [a.AdvertisementID for a in advertisements])
        deletions.remember(self.ctx, pkg_id, package.LastRefresh or 0.0)
        self.ctx.log.write(f"~Successfully deleted the package {pkg_id}")
        self.ctx.emit("package_deleted", package=pkg_id)

    def _deleted_here(self, pkg_id: str, version: int) -> list[PkgStatus]:
        """A REMOVED row for this site's compressed copy (Type 1) and for each of its DPs,
        whether it held the package or not: the sites above delete this site's rows (a
        package made at a child has no SMSPackages row above to go with) and end the pending
        removal of any DP (a site that never received the package's information does not
        know which of its DPs they target)."""
        site = self.ctx.site.code
        now = self.ctx.clock.now()
        copy = PkgStatus(ID=pkg_id, Type=StatusType.MASTER, SiteCode=site,
                         PkgServer=self.ctx.site.server, Status=PackageStatus.REMOVED,
                         UpdateTime=now, SourceVersion=version)
        return [copy, *(PkgStatus(ID=pkg_id, Type=StatusType.COPY, SiteCode=site,
                                  PkgServer=dp.nal_path(site), Status=PackageStatus.REMOVED,
                                  UpdateTime=now, SourceVersion=version)
                        for dp in self.ctx.site.distribution_points)]

    def _remove_stored(self, pkg_id: str) -> None:
        for path in sorted(self.ctx.make_dirs(self.ctx.layout.smspkg).glob(f"{pkg_id}.*")):
            self.ctx.remove(path)
        box = self.ctx.make_dirs(self.ctx.layout.inbox(PKGINFO))  # never listed through a link
        for path in sorted(box.glob(f"{pkg_id}.*")):
            self.ctx.remove_tree(path)  # the .ICO is a folder
            # Named as it goes, for Inbox Manager to mirror: a removal that fails (a file
            # held open) ends the unit, and its retry no longer sees what went before.
            self.ctx.changed(box, path.name)
        self.ctx.remove(self.ctx.make_dirs(self.ctx.layout.inbox(COLLEVAL)) / f"{pkg_id}{CLF}")
        self.ctx.remove(storedcopy.information_file(self.ctx, pkg_id))

    def _remove_advertisements(self, pkg_id: str, advertisement_ids: list[str]) -> None:
        """A deleted package's advertisement files; at a secondary, which has no SQL triggers,
        only Distribution Manager deletes them, `clicfg.src` included (Q257318). With
        `secondaries_keep_advertisements` it does not, as in the article: Offer Manager clears
        its `offerinf.box`, and the `.ofr` files stay in `clicfg.src`."""
        if not advertisement_ids:
            return
        secondary = not self.ctx.site.is_primary
        if secondary and self.ctx.hierarchy.software_distribution.secondaries_keep_advertisements:
            self._tell_offer_manager()
            return
        box = self.ctx.make_dirs(self.ctx.layout.inbox(OFFERINF))
        for adv_id in advertisement_ids:
            for name in offer.client_file_names(adv_id):
                self.ctx.remove(box / name)
                self.ctx.changed(box, name)  # as it goes, as in _remove_stored
            if secondary:
                self.ctx.remove(self.ctx.layout.inbox(CLICFG_SRC)
                                / offer.client_file_names(adv_id)[0])
            self.ctx.log.write(f"Deleted advertisement {adv_id} of package {pkg_id}")

    def _tell_offer_manager(self) -> None:
        """Package facts Offer Manager's decisions rest on changed: a package became known
        here, or a DP of this site holds it now."""
        self.ctx.changed(self.ctx.layout.inbox(OFFERMGR))

    def _waits_for_content(self, package: Package, content_from: str,
                           nals: list[str], *, again: bool = False) -> None:
        """The compressed copy is missing: the DPs waiting for it are retrying (State 2).

        `again`: a `.PKG` no newer than the last one processed (the same kept file looked at
        once more, in this run or the next). A DP the retries gave up on stays FAILED then
        (State 3, status 2302); only a newer `.PKG` (a refresh, an update) retries it."""
        self.ctx.log.write(f"The compressed files for package {package.PkgID} hasn't arrived "
                           f"from site {content_from} yet, will retry later.")
        failed = {r.PkgServer.upper() for r in self.ctx.store.statuses(
            package.PkgID, status_type=StatusType.COPY, site_code=self.ctx.site.code)
            if r.Status == PackageStatus.FAILED} if again else set()
        for nal in nals:
            if nal.upper() not in failed:
                self._set_dp_status(package, nal, PackageStatus.RETRY)

    def _forward(self, pkg_id: str, rows: list[PkgStatus]) -> None:
        forward_status(self.ctx, pkg_id, rows)

    # --- replicated package information -------------------------------------------------------

    def _incoming_package(self, item: WorkItem) -> None:
        log = self.ctx.log.write
        shown = self.ctx.windows(item.original)
        log(f"Processing incoming file {shown}.")  # as the smsutils report quotes it
        record = pkg.read(item.path)
        # Packages flow down only: only a site below the package's source takes its changes.
        if problem := routing.not_from_above(self.ctx.hierarchy, self.ctx.site.code,
                                             record.source_site):
            item.quarantine(f"it changes package {record.package_id}, but {problem}")
            return
        if record.last_refresh_time > self.ctx.clock.now() + FUTURE_TOLERANCE:
            # Every later .PKG would look older and be discarded: the package would be stuck.
            item.quarantine(f"its LastRefreshTime {lab_time_text(record.last_refresh_time)} is "
                            "later than this site's time")
            return
        pkg_id = record.package_id
        known = self.ctx.store.package(pkg_id)
        if known is None and record.action != pkg.PackageAction.DELETE and \
                deletions.superseded(self.ctx, pkg_id, record.last_refresh_time):
            self._discard(pkg_id, shown, "deleted")  # made before the deletion: not again
            item.done()
            return
        stale = self._stale(record, known, shown)
        if stale is None:
            item.done()
            return
        if record.action == pkg.PackageAction.DELETE:
            self._delete_replicated(record, known)
            item.done()
            return
        # A .PKG stamped no later than the last one processed repeats that pass (the source
        # sends information, then a content instruction carrying it): its refresh is done.
        repeated = known is not None and known.LastRefresh is not None and \
            record.last_refresh_time <= known.LastRefresh
        if record.forward:  # it sends compressed files on: registered only once it can
            pkgsend.need_job_id(self.ctx, pkg_id)
        package = self._register(record, known, stale)
        if not self._register_servers(record, package):
            item.defer(self.ctx.clock.now() + self.ctx.timing.distmgr_retry_interval,
                       f"waits for site information of package {pkg_id}")
            return
        if not (record.content or record.forward
                or any(s.site_code == self.ctx.site.code for s in record.servers)):
            if _no_source(package):  # its client files need no content (smc_21010)
                self._write_pkginfo(package)
            item.done()  # the information only: no DP here, nothing to send on from here
            return
        package = self._register_content(record, package)
        stored, wanted = package.StoredPkgVersion, record.source_version
        if stored > wanted:
            log(f"A newer version ({stored}) of package {pkg_id} has already arrived, delete the "
                f"replication file {shown} for version {wanted} .")
            item.done()
            return
        if stored < wanted:
            log(f"Package {pkg_id} requires a newer version ({wanted}) of source files and the "
                f"new compressed files haven't arrived yet, current version is {stored}, skip "
                f"{shown}")
            self._keep(item, pkg_id, f"waits for version {wanted} of {pkg_id}")
            return
        pck = self.ctx.layout.smspkg / f"{pkg_id}.PCK"
        if not pck.exists():
            self._waits_for_content(package, record.content_site or record.issuing_site,
                                    [s.nal_path for s in record.servers
                                     if s.site_code == self.ctx.site.code
                                     and s.action != pkg.PackageAction.DELETE],
                                    again=repeated)
            self._keep(item, pkg_id, f"waits for the compressed files of {pkg_id}")
            return
        self._apply_replicated(record, package, repeated)
        self._drop_parked(pkg_id, stored, pck)
        item.done()
        waiting = self.kept.pop(pkg_id, set()) - {item.name}
        if waiting:
            self.ctx.inbox(DISTMGR_INCOMING).recheck_deferred(waiting)

    def _stale(self, record: pkg.PackageReplication, known: Package | None,
               shown: str) -> bool | None:
        """Whether the `.PKG` is older (LastRefreshTime) than the last one processed: False,
        True (and applied all the same: the KB936465 hotfix applies its actions), or None (it
        is discarded, as SMS without the hotfix discards it)."""
        last = known.LastRefresh if known is not None else None
        if last is None or record.last_refresh_time >= last:
            return False
        pkg_id = record.package_id
        has_actions = record.content or any(s.action != pkg.PackageAction.NONE
                                            for s in record.servers)
        if not (self.ctx.site.has_hotfix(KB936465) and has_actions):
            self._discard(pkg_id, shown, "LastRefreshTime")
            return None
        self.ctx.log.write(f"~The replication file {shown} for package {pkg_id} is older "
                           "(LastRefreshTime) than the last one processed; KB936465: apply its "
                           "actions.")
        self.ctx.emit("pkg_stale_applied", package=pkg_id, file=shown, reason="KB936465")
        return True

    def _discard(self, pkg_id: str, shown: str, reason: str) -> None:
        self.ctx.log.write(f"~The replication file {shown} for package {pkg_id} is older "
                           "(LastRefreshTime) than the last one processed, discard it.")
        self.ctx.emit("pkg_discarded", package=pkg_id, file=shown, reason=reason)

    def _keep(self, item: WorkItem, pkg_id: str, reason: str) -> None:
        """Leave the file in INCOMING until the retry pass, or until the package's files come."""
        self.kept.setdefault(pkg_id, set()).add(item.name)
        item.defer(self.ctx.clock.now() + self.ctx.timing.distmgr_retry_interval, reason)

    def _register(self, record: pkg.PackageReplication, known: Package | None,
                  stale: bool) -> Package:
        """Record the replicated definition; a stale one (hotfix path) keeps ours."""
        base = known or Package(PkgID=record.package_id, SourceSite=record.source_site)
        if stale or (known is not None and record.source_version < known.SourceVersion):
            return base
        columns = {"Name": record.name, "SourceSite": record.source_site,
                   "SourceVersion": record.source_version,
                   "LastRefresh": record.last_refresh_time, "Priority": record.priority,
                   "PkgFlags": record.pkg_flags, "ShareName": record.share_name,
                   "ShareType": record.share_type, "StorePkgFlag": record.source_flag,
                   "PreferredAddress": "" if record.preferred_address == "*"
                   else record.preferred_address}
        if known is not None and tuple(columns.values()) == tuple(
                getattr(known, name) for name in columns):
            package = known  # a kept .PKG looked at again: the record it would evolve to
        else:
            package = attrs.evolve(base, **columns)
        if known is None:
            self.ctx.store.put_package(package)
        elif package is not known:
            # Only these columns: the Despooler may be setting StoredPkgVersion right now.
            self.ctx.store.update_package(record.package_id, **columns)
        self.ctx.log.write(f"~Updated replicated package info for package {record.package_id}")
        if known is None:
            self._tell_offer_manager()
        if known is None or record.source_version > known.SourceVersion:
            self.ctx.signal(package_information_signal(record.package_id))
        return package

    def _register_servers(self, record: pkg.PackageReplication, package: Package) -> bool:
        # Only the rows that differ are written: a kept .PKG looked at again finds them as it
        # left them. A row that is there has its parent rows (the checks of schema.sql).
        rows = {s.NALPath.upper(): s for s in self.ctx.store.servers(record.package_id)}
        for server in record.servers:
            # The action travels in the .PKG and is applied below; the row itself is settled.
            row = pkgsend.pkgstore_server(server, record.package_id, record.source_site)
            nal = server.nal_path.upper()
            if server.action == pkg.PackageAction.DELETE:
                if server.site_code != self.ctx.site.code and nal in rows:
                    self._removal_sent_below(record.package_id, rows[nal])
                elif rows.pop(nal, None) is not None:
                    self.ctx.store.delete_server(record.package_id, server.nal_path)
                continue
            if rows.get(nal) == row:
                continue
            try:
                self.ctx.store.put_server(row)
                rows[nal] = row
            except ParentRowMissing as e:
                self.ctx.log.write(f"~SQL Msg #99901> {e}~")
                shown = pkgsend.server_display(server.server, server.site_code)
                self.ctx.log.write(f"~Cannot update the package server {shown} for package "
                                   f"{record.package_id}, error = 3")
                return False
        return True

    def _removal_sent_below(self, pkg_id: str, row: PkgServer) -> None:
        """A site above removes a DP below this one: here too its rows wait, 7 PENDING_REMOVE,
        for its site's REMOVED (docs/distribution.md, "Removing a DP, deleting a package")."""
        if row.Action != PackageAction.DELETE:
            self.ctx.store.put_server(attrs.evolve(row, Action=PackageAction.DELETE))
        for status in self.ctx.store.statuses(pkg_id, status_type=StatusType.COPY,
                                              site_code=row.SiteCode):
            if (status.PkgServer.upper() == row.NALPath.upper()
                    and status.Status != PackageStatus.PENDING_REMOVE):
                self.ctx.store.put_status(attrs.evolve(status, Status=PackageStatus.PENDING_REMOVE,
                                                       UpdateTime=self.ctx.clock.now()))

    def _register_content(self, record: pkg.PackageReplication, package: Package) -> Package:
        """A content instruction's forwarded PCK (`SMSPKG\\<PkgID>.PCK.<n>`) becomes ours.

        Registered first, moved last: a redo after a crash in between finds the forwarded file
        still there and moves it. A PCK of that version found in SMSPKG without one is not
        registered: it counts only once PreloadPkgOnSite registers it (storedcopy.py).
        """
        want = record.source_version
        if not record.content or package.StoredPkgVersion > want:
            return package
        smspkg = self.ctx.layout.smspkg
        pending = smspkg / f"{record.package_id}.PCK.{want}"
        if not pending.exists():
            return package
        pck = smspkg / f"{record.package_id}.PCK"
        self.ctx.log.write(f"Validating the compressed file {self.ctx.windows(pending)} "
                           f"for package {record.package_id}")
        try:
            manifest = read_manifest(pending)
        except PckError as e:
            self.ctx.log.write(f"The compressed file {self.ctx.windows(pending)} is not "
                               f"usable: {e.problem}")
            return package
        if manifest.version != want:
            return package
        row = storedcopy.received_row(self.ctx, package.PkgID, want, pck)
        self._forward(package.PkgID, [row])  # first: a crash sends it twice, never not at all
        storedcopy.register(self.ctx, row)
        self.ctx.publish_file(pending, pck)
        return attrs.evolve(package, StoredPkgVersion=want, StoredPkgPath=row.Location)

    def _drop_parked(self, pkg_id: str, stored: int, pck: Path) -> None:
        """A forwarded `SMSPKG\\<PkgID>.PCK.<n>` of the registered version, when the PCK holds
        that version already, is a copy no instruction will register: the one a KB936465-stuck
        secondary kept after PreloadPkgOnSite registered a copy made by hand. One lstat when there
        is none; the PCK is read before anything is deleted (a crash between registering and
        moving a forwarded copy leaves the PCK at its older version)."""
        parked = pck.with_name(f"{pck.name}.{stored}")
        if not lexists(parked) or is_folder(parked):
            return
        try:
            if read_manifest(pck).version != stored:
                return
        except PckError:
            return
        if self.ctx.remove(parked):
            self.ctx.log.write(f"~Deleted the forwarded compressed file {self.ctx.windows(parked)}:"
                               f" version {stored} of package {pkg_id} is registered as "
                               f"{self.ctx.windows(pck)}.")

    def _apply_replicated(self, record: pkg.PackageReplication, package: Package,
                          repeated: bool) -> None:
        """This site's DPs of the `.PKG`: removed, installed, or left alone when they have its
        version (and, for a refresh, when `repeated`: the pass's earlier .PKG refreshed them)."""
        site = self.ctx.site.code
        pkg_id = record.package_id
        log = self.ctx.log.write
        own = [s for s in record.servers if s.site_code == site]
        current = {r.PkgServer.upper(): r for r in self.ctx.store.statuses(
            pkg_id, status_type=StatusType.COPY, site_code=site)}
        todo = []
        for server in own:
            done = current.get(server.nal_path.upper())
            if server.action == pkg.PackageAction.DELETE:
                row = PkgServer(PkgID=pkg_id, NALPath=server.nal_path, SiteCode=site)
                self._remove_dp(package, row)
            elif ((server.action == pkg.PackageAction.REFRESH and not repeated) or done is None
                  or done.Status != PackageStatus.INSTALLED
                  or done.SourceVersion < package.StoredPkgVersion):
                todo.append(server)
            else:
                log(f"~No changed detected for package server "
                    f"{pkgsend.server_display(server.server, site)} for package {pkg_id}, "
                    "no need to update")
        if record.forward:  # first, so the site below copies while this one installs
            self._forward_content(record, package)
        if todo:
            log(f"Start updating the package {pkg_id}...")
            self.ctx.status.report(2311, pkg_id, attributes=((AID_PACKAGE, pkg_id),))
            log(f"Successfully created/updated the package {pkg_id}")
            self._write_pkginfo(package)
            for server in todo:
                self._install_local(package, PkgServer(PkgID=pkg_id, NALPath=server.nal_path,
                                                       SiteCode=site))

    def _forward_content(self, record: pkg.PackageReplication, package: Package) -> None:
        """As the nearest site, send the compressed files on to the sites below that need them."""
        site = self.ctx.site.code
        h = self.ctx.hierarchy
        below = pkgsend.subtree(h, site) - {site}
        dp_sites = {s.site_code for s in record.servers
                    if s.site_code in below and s.action != pkg.PackageAction.DELETE}
        for target in sorted(dp_sites):
            if pkgsend.content_site(h, record.source_site, dp_sites | {site}, target,
                                    record.source_site) != site:
                continue
            refresh = any(s.site_code == target and s.action == pkg.PackageAction.REFRESH
                          for s in record.servers)
            forwarded = pkgsend.definition(
                package, action=record.action, issuing_site=site, content_site_code=site,
                forward=False, content=True,
                servers=tuple(s for s in record.servers
                              if s.site_code in pkgsend.subtree(h, target)))
            self._send_content_if_needed(package, target, forwarded, refresh=refresh)

    def _delete_replicated(self, record: pkg.PackageReplication, known: Package | None) -> None:
        """The source deleted the package: so does this site, and it remembers the deletion
        (deletions.py), even of a package it never knew: its `.PKG` may still be on its way."""
        if known is not None:
            self._delete_package(known)
        else:  # compressed files parked before its information came (SMSPKG\<PkgID>.PCK.<n>)
            self._remove_stored(record.package_id)
            self._forward(record.package_id, self._deleted_here(record.package_id, 0))
        deletions.remember(self.ctx, record.package_id, record.last_refresh_time)

    def _write_pkginfo(self, package: Package) -> None:
        """The files each deployed package leaves (docs/sources.md#smsutils): `<PkgID>.PKG`,
        `.NAL` and the `.ICO` folder in `pkginfo.box` for Inbox Manager, and `<PkgID>.CLF` in
        `colleval.box`. Nothing in a site reads them back, so deleting them changes nothing."""
        box = self.ctx.make_dirs(self.ctx.layout.inbox(PKGINFO))  # never written through a link
        definition = (f"[Package Definition]\nPackageID={package.PkgID}\nName={package.Name}\n"
                      f"SourceVersion={package.SourceVersion}\n")
        self.ctx.publish(box / f"{package.PkgID}.PKG", definition.encode())
        self._write_nal(package)
        self.ctx.make_dirs(box / f"{package.PkgID}.ICO")
        self.ctx.changed(box, f"{package.PkgID}.ICO")  # a new folder is not a publish
        colleval = self.ctx.make_dirs(self.ctx.layout.inbox(COLLEVAL))
        self.ctx.publish(colleval / f"{package.PkgID}{CLF}",
                         f"[Package]\nPackageID={package.PkgID}\nName={package.Name}\n".encode())

    def _write_nal(self, package: Package) -> None:
        """`pkginfo.box\\<PkgID>.NAL`: the site's DPs of the package, where clients find it."""
        nals = [s.NALPath for s in self.ctx.store.servers(package.PkgID)
                if s.SiteCode.upper() == self.ctx.site.code]
        box = self.ctx.make_dirs(self.ctx.layout.inbox(PKGINFO))
        self.ctx.publish(box / f"{package.PkgID}.NAL",
                         "".join(f"{n}{package.PkgID}\\\n" for n in nals).encode())

    # --- status from child sites --------------------------------------------------------------

    def _status_file(self, item: WorkItem) -> None:
        shown = self.ctx.windows(item.original)
        self.ctx.log.write(f"Processing incoming file {shown}.")
        report = sta.read(item.path)
        strangers = sorted({report.reporting_site, *(r.site_code for r in report.rows)}
                           - self.ctx.hierarchy.site_codes)
        if strangers:
            item.quarantine(f"it reports status of site {', '.join(strangers)}, which is not "
                            "in this lab")
            return
        for row in report.rows:  # one Type 1 row per package and site: its site server's
            server = self.ctx.hierarchy.site(row.site_code).server
            if row.type == StatusType.MASTER and row.pkg_server.upper() != server.upper():
                item.quarantine(f"its Type 1 row for site {row.site_code} names server "
                                f"{row.pkg_server}, not the site server {server}")
                return
        pkg_id = report.package_id
        rows = report.rows
        created_here = pkg_id[:3].upper() == self.ctx.site.code
        # Read once, for the orphan check and for the DPs the rows tell of (_learn_dp): the
        # rows written in between are status, never the package's.
        package = self.ctx.store.package(pkg_id) if created_here or any(
            r.type == StatusType.COPY for r in rows) else None
        if created_here and package is None:
            # Status for a package this site created and has deleted since: an orphan, but
            # for a DP's removal, which ends that DP's pending removal here (a site between
            # sends its pending removals too: this site has them already).
            rows = tuple(r for r in rows if r.status == PackageStatus.REMOVED)
            if any(r.status not in (PackageStatus.REMOVED, PackageStatus.PENDING_REMOVE)
                   for r in report.rows):
                self.ctx.log.write(f"~SQL Msg #99901> This PkgID ({pkg_id}) does not exist in "
                                   "the parent table, SMSPackages.~")
            if not rows:
                item.done()
                return
        changed: list[PkgStatus] = []
        for row in rows:
            status = from_row(row)
            if self._superseded(status):
                continue
            if status.Status == PackageStatus.REMOVED:
                self.ctx.store.delete_status(status.ID, status.Type, status.SiteCode,
                                             status.PkgServer)
                changed.append(status)
            elif self.ctx.store.put_status(status):
                changed.append(status)
            if status.Type == StatusType.COPY:
                self._learn_dp(pkg_id, package, status)
        self._forward(report.package_id, changed)
        self.ctx.log.write(f"~Successfully delete package status file {shown}")
        item.done()

    def _superseded(self, status: PkgStatus) -> bool:
        """A replicated SENT that arrives after the child's RECEIVED for that version, or a
        PENDING_REMOVE for a DP this site has no row of (its REMOVED came first).

        Reports travel in batches and are processed in the order of their names (hashes), not
        in the order they were made; the child's RECEIVED, the DP's REMOVED, is the later fact.
        """
        if status.Type == StatusType.COPY and status.Status == PackageStatus.PENDING_REMOVE:
            return not any(r.PkgServer.upper() == status.PkgServer.upper()
                           for r in self.ctx.store.statuses(
                               status.ID, status_type=StatusType.COPY,
                               site_code=status.SiteCode))
        if status.Type != StatusType.MASTER or status.Status != PackageStatus.SENT:
            return False
        stored = self.ctx.store.statuses(status.ID, status_type=StatusType.MASTER,
                                         site_code=status.SiteCode)
        return any(r.Status == PackageStatus.RECEIVED and r.SourceVersion >= status.SourceVersion
                   for r in stored)

    def _learn_dp(self, pkg_id: str, package: Package | None, status: PkgStatus) -> None:
        """A DP added at a child site reaches the source here; it then sends that site its
        package information, stamped with a new LastRefreshTime (KB936465, its Cause). A DP
        removed below takes its PkgServers row with it at every site above. `package`: the
        package as this site knows it, None if it does not."""
        if package is None:
            return
        nal = status.PkgServer.upper()
        removed = status.Status == PackageStatus.REMOVED
        if not removed and (package.SourceSite.upper() != self.ctx.site.code
                            or status.Status == PackageStatus.PENDING_REMOVE):
            return  # not the source, or a DP going, not coming: its rows are not read
        if not removed and self.ctx.store.has_server(pkg_id, status.PkgServer):
            return  # known (the usual case: one row looked at, not every DP's of the package)
        rows = {s.NALPath.upper(): s for s in self.ctx.store.servers(pkg_id)}
        if removed:
            # The DP's site removed it: its row goes here too, at every site above it (unless
            # the DP was added again meanwhile, and that waits its turn).
            if nal in rows and rows[nal].Action != PackageAction.ADD:
                self.ctx.store.delete_server(pkg_id, status.PkgServer)
            return
        if nal in rows:
            return
        self.ctx.store.put_server(PkgServer(PkgID=pkg_id, NALPath=status.PkgServer,
                                            SiteCode=status.SiteCode, SourceSite=package.SourceSite,
                                            Action=PackageAction.ADD))
        self.pending.append(pkg_id)

    # --- the retry pass -----------------------------------------------------------------------

    def _retry_pass(self) -> bool:
        if self.ctx.timers:
            return False
        retry, self.retry = sorted(self.retry), set()
        self.pending += sorted(self.redo.keys() - set(self.pending))
        redone, self.redo = bool(self.redo), {}
        if redone and not retry:  # only passes that failed or waited, taken up again
            self.ctx.retrying()
        site = self.ctx.site.code
        for turn, pkg_id in enumerate(retry):
            try:
                self._retry_package(pkg_id, site)
            except Exception as error:
                # A busy database: this one and those after it wait on; after a failure
                # (a bug), those after it do.
                self.retry.update(retry[turn:] if is_transient(error) else retry[turn + 1:])
                raise
        self._sleep()
        return bool(retry) or redone

    def _retry_package(self, pkg_id: str, site: str) -> None:
        """The retry pass's turn of one package whose DPs here wait to be tried again."""
        package = self.ctx.store.package(pkg_id)
        if package is None:
            return
        done = {r.PkgServer.upper() for r in self.ctx.store.statuses(
            pkg_id, status_type=StatusType.COPY, site_code=site)
            if r.Status == PackageStatus.INSTALLED}
        rows = [r for r in self.ctx.store.servers(pkg_id)
                if r.SiteCode.upper() == site and r.NALPath.upper() not in done]
        self.attempts[pkg_id] = self.attempts.get(pkg_id, 0) + 1
        give_up = self.attempts[pkg_id] > self.ctx.hierarchy.software_distribution.retries
        if not (rows or give_up):
            return  # done meanwhile (a later pass): no thread to start
        with self._package_thread(pkg_id):
            if give_up:
                self._give_up(package, rows)
                return
            for row in rows:
                self._install_local(package, row)

    def _compression_failed(self, package: Package, error: OSError) -> None:
        """The compressed copy could not be written, the package drive being full (Q316316's
        line, Win32 error 112): 2302, and the whole pass again at the next retry pass, its
        actions kept. The temp file went with the failed write."""
        self.ctx.retrying()
        self.ctx.log.write(f"Cannot write to output file, Win32 Error = {win32_error(error)}")
        self.ctx.log.write(f"~Failed to compress package {package.PkgID}, will retry later.")
        self.ctx.status.report(2302, package.Name, package.PkgID, severity="E",
                               attributes=((AID_PACKAGE, package.PkgID),))
        self.redo[package.PkgID] = RETRY_PASS

    def _give_up(self, package: Package, rows: list[PkgServer]) -> None:
        """The retries are used up: the DPs are FAILED (State 3) and 2302 says so."""
        self.ctx.status.report(2302, package.Name, package.PkgID, severity="E",
                               attributes=((AID_PACKAGE, package.PkgID),))
        for row in rows:
            self._set_dp_status(package, row.NALPath, PackageStatus.FAILED)
        self.attempts.pop(package.PkgID, None)


def _source_error(source: Path) -> int | None:
    """The Win32 error Distribution Manager meets opening the source folder (3 for a path
    that is missing or not a folder, 5 for access denied), or None if it can list it."""
    try:
        sorted(os.listdir(source))  # the listing itself is pack's to take
    except OSError as e:
        return win32_error(e, folder=True)
    return None


def _stamp(ctx: ComponentContext, package: Package) -> float:
    """A pass's LastRefreshTime: now, and later than the last pass's (1 ms later when the
    clock has not moved), so a site that receives the same `.PKG` twice (the information, then
    the content instruction carrying it) tells it from the next pass's."""
    now = ctx.clock.now()
    return now if package.LastRefresh is None else max(now, package.LastRefresh + 0.001)


def _no_source(package: Package) -> bool:
    """A package without source files: client files only, no compressed copy, no DP."""
    return package.StorePkgFlag == SourceFlag.NO_SOURCE


def _pck_version(pck: Path) -> int | None:
    """The version a stored PCK holds, or None if there is no usable one."""
    try:
        return read_manifest(pck).version
    except (FileNotFoundError, PckError):
        return None


def _nals(servers: list[PkgServer], site: str) -> set[str]:
    return {s.NALPath.upper() for s in servers if s.SiteCode.upper() == site}

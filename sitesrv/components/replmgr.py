"""Replication Manager: batches objects for other sites, and unpacks batches from them.

The model: docs/sources.md#mckinney and Q288970.

Outbound: other components queue objects as `replmgr.box\\outbound\\{high,normal,low}\\
<DEST>_<random8>.<ext>` (`statusup.queue_replication`). Each that reads as its class moves to
`replmgr.box\\process\\<DEST>_<priority>\\` (else it goes to the outbound folder's `corrupt\\`,
as does a file dropped into `process` by hand that does not read within its limits). Once
nothing more waits in `outbound` or `incoming` (SMS builds at once: docs/differences.md), or,
for one folder, once BATCH_EARLY objects have been queued into it since its last batch, for
each folder with no job pending for that destination and priority, everything in the folder
becomes one batch, `replmgr.box\\ready\\<jobid>.RPL`, and an
"Inter Site Replication" job `schedule.box\\<jobid>.job` for the Scheduler. Otherwise the
objects wait in `process` until the pending job completes (the Scheduler deletes its ready
file, which wakes Replication Manager) or the oldest of them is `replmgr_batch_hold` old. A
pass lists only the folders it queued to and those its last full look found, and looks in every
folder at its first pass and every `timing.full_look_interval` after.

Pending jobs are the ready files themselves: a `ready\\<jobid>.RPL` names its destination and
priority, and is gone once its job completes or fails. Nothing about them lives only in memory,
so a restart finds the same state. An object's arrival time in `process` is its file's
modification time, set to lab time when it moves there.

Incoming: the Despooler moves each received batch into `replmgr.box\\incoming\\*.RPL`. Each
object goes to the inbox of the component that takes its class (`.PKG` and `.STA`:
`distmgr.box\\INCOMING\\<random8>.<ext>`; `.SVF`: `statmgr.box\\statmsgs`), unless the batch's transaction ID is not higher than
the one `replmgr.box\\history\\<site>.trs` records for that class and priority: such objects are
dropped without a word, as SMS does after a site restore (Q288970). An object of a class no
component takes goes to `incoming\\corrupt\\<batch>.<name>` (cut to fit a file name), and the
rest of its batch goes on.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import attrs

from sitesrv.components.leftovers import remove_stale_temps
from sitesrv.components.statusup import outbound_destination
from sitesrv.components.uidtokens import MissingToken, take_job_id, waits_for
from sitesrv.errors import FormatError, UserError
from sitesrv.files.names import foreign_name
from sitesrv.files.regular import STATE_FILE_BYTES, read_limited
from sitesrv.formats import job as jobfile
from sitesrv.formats import offer, pkg, rpl, sta, svf, trs
from sitesrv.formats.sections import Layout
from sitesrv.formats.values import Payload
from sitesrv.lab.boxes import (
    DISTMGR_INCOMING,
    OFFERMGR_INCOMING,
    REPLMGR_HISTORY,
    REPLMGR_INCOMING,
    REPLMGR_OUTBOUND,
    REPLMGR_PROCESS,
    REPLMGR_READY,
    SCHEDULE,
    SCHEDULE_UID,
    STATMGR_STATMSGS,
    WORK_DIR,
    ignored_by_scans,
)
from sitesrv.lab.identifiers import SITE_CODE
from sitesrv.lab.sitetime import log_timestamp
from sitesrv.logs.win32 import error_text
from sitesrv.runtime.component import Component, Waiting
from sitesrv.runtime.inbox import InboxSpec, WorkItem

DESCRIPTION = "Inter Site Replication"
# The SMS registry's `SMS_Replication_Manager\Transaction ID`, in the site's state folder.
TRANSACTION_FILE = "replmgr-transaction-id"


@attrs.frozen
class ObjectClass:
    """A class of replicated object: the inbox that takes it at the receiving site, and how it
    reads (within its limits, docs/limits.md): an object that does not read is never sent."""

    inbox: str
    layout: Layout[Any]


OBJECT_CLASSES = {"PKG": ObjectClass(DISTMGR_INCOMING, pkg.LAYOUT),
                  "STA": ObjectClass(DISTMGR_INCOMING, sta.LAYOUT),
                  "OFR": ObjectClass(OFFERMGR_INCOMING, offer.REPLICATION),
                  "COL": ObjectClass(OFFERMGR_INCOMING, offer.COLLECTION),
                  "SVF": ObjectClass(STATMGR_STATMSGS, svf.LAYOUT)}
STREAM_RE = re.compile(rf"({SITE_CODE})_([123])")  # process\\<DEST>_<priority>
PRIORITY_OF = {folder: priority for priority, folder in REPLMGR_OUTBOUND.items()}


# Objects queued for one destination and priority since its last batch after which the next
# batch is built while other components still fill `outbound`: a long burst of them (status
# for hundreds of packages) then reaches the destination as it goes, not all at its end.
BATCH_EARLY = 100


@attrs.frozen
class Stream:
    """The objects for one destination at one priority: `process\\<DEST>_<priority>`."""

    destination: str
    priority: int

    @property
    def folder_name(self) -> str:
        return f"{self.destination}_{self.priority}"


@attrs.frozen
class Held:
    """A stream whose objects wait for its pending job."""

    stream: Stream
    job_id: str
    until: float


class ReplicationManager(Component):
    name = "SMS_REPLICATION_MANAGER"
    log_name = "replmgr.log"
    inboxes = (*(InboxSpec(folder) for folder in REPLMGR_OUTBOUND.values()),
               InboxSpec(REPLMGR_INCOMING, ("*.RPL",), in_name_order=True))
    wakes_on = (REPLMGR_READY,)  # the Scheduler deletes a ready file when its job is done

    def start(self) -> None:
        self.process = self.ctx.layout.inbox(REPLMGR_PROCESS)
        self.ready = self.ctx.layout.inbox(REPLMGR_READY)
        self.jobs = self.ctx.layout.inbox(SCHEDULE)
        history = self.ctx.layout.inbox(REPLMGR_HISTORY)
        for folder in (self.process, self.ready, history):
            self.ctx.make_dirs(folder)
        self.unreadable: set[str] = set()  # folders it could not list, said once
        self._remove_dead_temps()
        remove_stale_temps(self.ctx, history)
        self.held: list[Held] = []
        self.no_job_id: Stream | None = None  # the stream whose batch waits for a job ID
        self.pending: dict[Stream, list[str]] = {}
        # Objects queued for each stream since its last batch (or since start-up).
        self.queued: dict[Stream, int] = {}
        # `process\\<DEST>_<priority>` by destination and priority: every queued object goes
        # to one, so its path is joined once (the folder itself is looked at each time).
        self.stream_folders: dict[Stream, Path] = {}
        # The streams that may hold objects, and the lab time of the next look at every
        # stream folder (None: at the next pass, as after a start).
        self.filled: set[Stream] = set()
        self.full_look_at: float | None = None
        # A held stream's pending job, and when its oldest object is `replmgr_batch_hold` old.
        self.hold_until: dict[Stream, tuple[str, float]] = {}
        for batch in self._ready_batches():
            self.pending.setdefault(Stream(batch.destination_site, batch.priority), []).append(
                batch.job_id)
            self._repair(batch)

    def work(self) -> bool:
        item = self.ctx.claim_next()
        if item is None:
            return self._build_batches()
        if item.inbox.spec.folder == REPLMGR_INCOMING:
            self._receive(item)
        elif (stream := self._queue(item, PRIORITY_OF[item.inbox.spec.folder])) is not None \
                and self.queued.get(stream, 0) >= BATCH_EARLY and stream != self.no_job_id \
                and not self._pending(stream):
            self._build(stream, self._object_names(os.fspath(self.stream_folders[stream])))
        return True

    def waiting(self) -> list[Waiting]:
        held = [Waiting(f"process\\{h.stream.folder_name}",
                        f"waits for job {h.job_id} to complete before the next batch to site "
                        f"{h.stream.destination} (at most until {self._local(h.until)})")
                for h in self.held]
        if self.no_job_id is not None:
            held.append(Waiting(f"process\\{self.no_job_id.folder_name}",
                                waits_for(f"a job ID for the batch to site "
                                          f"{self.no_job_id.destination}")))
        return held

    # --- outbound -----------------------------------------------------------------------------

    def _queue(self, item: WorkItem, priority: int) -> Stream | None:
        """Move an outbound object into its destination's process folder; its stream, or
        None if it was put aside."""
        dest = outbound_destination(item.name)
        try:
            rpl.OBJECT_NAME.verify(item.name)
            dest = self.ctx.hierarchy.site(dest).code
        except (ValueError, UserError):
            item.quarantine(f"an outbound object is named <site>_<name>.<ext>, and {dest!r} is "
                            "not a site of this lab")
            return None
        if dest == self.ctx.site.code:
            item.quarantine(f"it is addressed to this very site {dest}")
            return None
        problem = _object_problem(item)
        if problem is not None:
            item.quarantine(problem)
            return None
        stream = Stream(dest, priority)
        folder = self.stream_folders.get(stream)
        if folder is None:
            folder = self.stream_folders[stream] = self.process / stream.folder_name
        self.ctx.make_dirs(folder)
        now = self.ctx.clock.now()
        # The claimed file, the object's new name and its name in the log as text: every
        # outbound object comes here, and none of them needs a Path.
        self.ctx.set_mtime(item.work_file, now)  # the arrival time, in lab time, for the hold
        self.filled.add(stream)  # before the object is there: a pass never misses it
        item.forward(f"{folder}{os.sep}{item.name}")
        if _is_status_message(item.name):
            self.ctx.reporting()
        self.ctx.log.write(f"Queued {self.ctx.windows(item.inbox_file)} for site {dest} at "
                           f"priority {priority}")
        self.queued[stream] = self.queued.get(stream, 0) + 1
        return stream

    def _pending(self, stream: Stream) -> list[str]:
        """The stream's jobs whose ready file is still there (not completed)."""
        pending = [j for j in self.pending.get(stream, [])
                   if (self.ready / rpl.batch_file_name(j)).exists()]
        self.pending[stream] = pending
        return pending

    def _object_names(self, folder: str) -> list[str]:
        """The objects queued in a stream folder, by name: no temp files, no folders."""
        return [e.name for e in self._entries(folder)
                if not ignored_by_scans(e.name) and e.is_file(follow_symlinks=False)]

    def _build_batches(self) -> bool:
        """Build one batch for a stream that may have one; False if none may.

        The streams are looked at in folder name order, each listed only when it could be
        built: a stream whose job is still pending is held again, without a listing, until the
        time its oldest object was found to be `replmgr_batch_hold` old (its objects only get
        newer while that job is pending)."""
        now = self.ctx.clock.now()
        hold = self.ctx.timing.replmgr_batch_hold
        self.held = []
        self.no_job_id = None
        for stream in self._streams():
            pending = self._pending(stream)
            known = self.hold_until.get(stream)
            if pending and known is not None and known[0] == pending[0] and now < known[1]:
                self.held.append(Held(stream, pending[0], known[1]))
                continue
            folder = os.fspath(self.process / stream.folder_name)
            names = self._object_names(folder) if self._may_list(folder) else []
            if not names:
                if folder not in self.unreadable:  # emptied by its batch, or not a folder
                    self.filled.discard(stream)
                continue  # one it cannot list now is listed again at the next pass
            # The objects' ages matter only to a stream that waits for its job.
            if pending:
                oldest = min(os.stat(os.path.join(folder, n)).st_mtime for n in names)
                if now < oldest + hold:
                    self.held.append(Held(stream, pending[0], oldest + hold))
                    self.hold_until[stream] = (pending[0], oldest + hold)
                    continue
            return self._build(stream, names)
        for held in self.held:
            self.ctx.wake_at(min(held.until, now + self.ctx.timing.rescan_interval))
        return False

    def _streams(self) -> list[Stream]:
        """The streams that may hold objects, in folder name order: those queued to, and those
        the last full look found. At the first pass and every `timing.full_look_interval`, a
        full look (the safety net for a file dropped there by hand; a central site has a
        folder for every site it sent to, and listing them all at every pass grew with the
        square of the sites): every folder in `process` (one listing, the kinds of the
        entries from it), each stream's hold worked out again."""
        now = self.ctx.clock.now()
        if self.full_look_at is None or now >= self.full_look_at:
            entries = self._entries(self.process)
            if os.fspath(self.process) not in self.unreadable:  # else looked at next pass
                self.filled = {Stream(match[1], int(match[2])) for folder in entries
                               if (match := STREAM_RE.fullmatch(folder.name)) is not None
                               and folder.is_dir(follow_symlinks=False)}
                self.hold_until.clear()
                self.full_look_at = now + self.ctx.timing.full_look_interval
        return sorted(self.filled, key=lambda stream: stream.folder_name)

    def _may_list(self, folder: str) -> bool:
        """Whether a stream folder is a real folder (never listed through a link planted in
        its place: the full look leaves such an entry out too); True if it cannot be looked at,
        so that its listing says why (`_entries`) and it is tried again."""
        try:
            return stat.S_ISDIR(os.lstat(folder).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError:
            return True

    def _build(self, stream: Stream, names: list[str]) -> bool:
        """Pack a stream's objects into `ready\\<jobid>.RPL` and give the Scheduler its job.

        The ready file comes first and the packed objects go before the job is written, so a
        crash anywhere leaves either the objects in `process` or a ready file whose job
        `start()` writes again.
        """
        ctx = self.ctx
        folder = self.process / stream.folder_name
        # As many as one batch may carry (docs/limits.md); the rest make the next batch. Each
        # object is read by its name as text: most are read, few are put aside.
        here = f"{folder}{os.sep}"
        objects = rpl.fill(o for n in names if (o := self._queued(stream, here + n)) is not None)
        if not objects:
            self.queued.pop(stream, None)
            return True  # all of them were put aside
        try:
            job_id = take_job_id(ctx)
        except MissingToken:
            uid = ctx.windows(ctx.layout.inbox(SCHEDULE_UID))
            ctx.log.write(f"Could not retrieve a job ID from {uid}; the batch for site "
                          f"{stream.destination} waits")
            self.no_job_id = stream
            ctx.wake_at(ctx.clock.now() + ctx.timing.rescan_interval)
            return False
        batch = rpl.ReplicationBatch(
            job_id=job_id, sending_site=ctx.site.code, destination_site=stream.destination,
            priority=stream.priority, transaction_id=self._take_transaction_id(),
            created=ctx.clock.now(), objects=objects)
        if all(_is_status_message(obj.name) for obj in objects):
            ctx.reporting()  # a batch of reports only: no progress (the idle rule)
        ready = ctx.publish(self.ready / rpl.batch_file_name(job_id), rpl.encode(batch))
        for obj in objects:
            self.ctx.remove(folder / obj.name)
        self._publish_job(batch)
        self.pending.setdefault(stream, []).append(job_id)
        self.queued.pop(stream, None)
        ctx.log.write(f"Created replication job {job_id} for site {stream.destination}, "
                      f"priority {stream.priority}: {len(objects)} object(s), transaction ID "
                      f"{batch.transaction_id}, {ctx.windows(ready)}")
        ctx.emit("replication_batch", job=job_id, to=stream.destination,
                 priority=stream.priority, transaction=batch.transaction_id,
                 objects=len(names), file=ctx.windows(ready))
        return True

    def _queued(self, stream: Stream, path: str) -> rpl.ReplicationObject | None:
        """A queued object of `process\\<stream>`, read within its class's limits; None if it
        cannot be sent (put in its outbound folder's `corrupt\\`, with a line): anyone who can
        write to the box can drop a file here, and one bad file never costs the others."""
        name = os.path.basename(path)
        found = OBJECT_CLASSES.get(name.rsplit(".", 1)[-1].upper())
        try:
            if problem := foreign_name(name):
                raise FormatError(path, problem)
            rpl.OBJECT_NAME.verify(name)
            if found is None:
                raise FormatError(path, _unknown_class(name))
            data = found.layout.limits.read(path, found.layout.kind)
            found.layout.decode(data, path)  # what does not read is never sent
            return rpl.ReplicationObject.of(name, data)
        except (ValueError, FormatError) as e:
            problem = error_text(e)
        self.ctx.inbox(REPLMGR_OUTBOUND[stream.priority]).quarantine_path(
            Path(path), name, f"it cannot be sent: {problem}", shown_as=Path(path))
        return None

    def _publish_job(self, batch: rpl.ReplicationBatch) -> None:
        ready = self.ready / rpl.batch_file_name(batch.job_id)
        job = jobfile.SchedulerJob(
            job_id=batch.job_id, description=DESCRIPTION, destination_site=batch.destination_site,
            priority=batch.priority, instruction_type=jobfile.REPLICATION_INSTRUCTION,
            transfer_root=self.ctx.windows(ready), payload=Payload.RPL,
            originating_site=self.ctx.site.code, created=batch.created)
        self.ctx.publish(self.jobs / jobfile.job_file_name(batch.job_id), jobfile.encode(job))

    def _take_transaction_id(self) -> int:
        """The next transaction ID of this site; a crash after taking one leaves a gap only."""
        path = self.ctx.layout.state_dir / TRANSACTION_FILE
        try:
            last = int(read_limited(path, STATE_FILE_BYTES).strip())
        except FileNotFoundError:
            last = 0
        except (OSError, ValueError) as e:
            self.ctx.log.write(f"Cannot read the transaction ID in {self.ctx.windows(path)} "
                               f"({error_text(e)}); starting it again")
            last = 0
        self.ctx.make_dirs(path.parent)
        self.ctx.replace(path, f"{last + 1}\n".encode("ascii"))
        return last + 1

    def _remove_dead_temps(self) -> None:
        """Temp files of batches a killed run was writing (only this component writes here),
        and links someone put here: never followed, so never sent."""
        folders = sorted(p for p in self.process.iterdir() if p.is_dir() and not p.is_symlink())
        for folder in (self.ready, self.process, *folders):
            for path in (folder / n for n in self._names(folder)):
                if path.is_symlink():
                    self.ctx.remove(path)
                    self.ctx.log.write(f"Deleted the symbolic link {self.ctx.windows(path)}, "
                                       "which sitesrv never follows")
                elif ignored_by_scans(path.name) and path.is_file() and self.ctx.is_stale(path):
                    self.ctx.remove(path)
                    self.ctx.log.write(f"Deleted the stale temporary file "
                                       f"{self.ctx.windows(path)}")

    def _names(self, folder: Path) -> list[str]:
        return [entry.name for entry in self._entries(folder)]

    def _entries(self, folder: str | Path) -> list[os.DirEntry[str]]:
        """The entries of one of this component's folders, sorted by name; none, with a line
        once, for a folder it cannot list (made unreadable by hand): the other folders go on."""
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as e:
            if str(folder) not in self.unreadable:
                self.unreadable.add(str(folder))
                self.ctx.log.write(f"Cannot list {self.ctx.windows(Path(folder))} "
                                   f"({error_text(e)}); its files wait until it can be read")
            return []
        self.unreadable.discard(str(folder))
        return entries

    def _ready_batches(self) -> list[rpl.ReplicationBatch]:
        batches = []
        for name in sorted(os.listdir(self.ready)):
            if ignored_by_scans(name) or not name.upper().endswith(rpl.EXTENSION):
                continue
            try:
                batches.append(rpl.read(self.ready / name))
            except (FormatError, OSError) as e:
                self.ctx.log.write(f"Cannot read the ready batch {self.ctx.windows(self.ready / name)}"
                                   f": {error_text(e)}")
        return batches

    def _repair(self, batch: rpl.ReplicationBatch) -> None:
        """After a crash while building: drop packed objects, write a job that is missing."""
        folder = self.process / Stream(batch.destination_site, batch.priority).folder_name
        for obj in batch.objects:
            self.ctx.remove(folder / obj.name)
        name = jobfile.job_file_name(batch.job_id)
        if not (self.jobs / name).exists() and not (self.jobs / WORK_DIR / name).exists():
            self._publish_job(batch)
            self.ctx.log.write(f"Recreated job {batch.job_id} for the ready batch "
                               f"{self.ctx.windows(self.ready / rpl.batch_file_name(batch.job_id))}")

    # --- incoming -----------------------------------------------------------------------------

    def _receive(self, item: WorkItem) -> None:
        ctx = self.ctx
        batch = rpl.read(item.path)  # unreadable: the runtime quarantines it
        if batch.destination_site != ctx.site.code:
            item.quarantine(f"the batch is for site {batch.destination_site}, not this site")
            return
        if batch.sending_site not in ctx.hierarchy.site_codes:
            item.quarantine(f"it comes from site {batch.sending_site}, which is not in this lab")
            return
        for obj in batch.objects:
            if obj.object_class not in OBJECT_CLASSES:  # the rest of the batch goes on
                item.inbox.quarantine_data(
                    f"{item.name}.{obj.name}", obj.data, part_of=item.original,
                    reason=_unknown_class(obj.name, "component of this site"))
        # Made if it is missing (a site whose inboxes were deleted): a good batch never fails
        # for want of it.
        history_path = ctx.make_dirs(ctx.layout.inbox(REPLMGR_HISTORY)) / trs.history_file_name(
            batch.sending_site)
        history = self._history(history_path)
        fresh = [o for o in batch.objects if o.object_class in OBJECT_CLASSES
                 and batch.transaction_id > history.seen(o.object_class, batch.priority)]
        if not fresh:  # out of sync with the partner: SMS logs nothing (Q288970)
            item.done()
            return
        ctx.log.write(f"Processing replication file {ctx.windows(item.original)} from site "
                      f"{batch.sending_site}, transaction ID {batch.transaction_id}")
        for obj in fresh:  # each named as text: it is only published and logged
            key = f"{batch.sending_site}/{batch.transaction_id}/{obj.name}"
            dest = (f"{ctx.layout.inbox(OBJECT_CLASSES[obj.object_class].inbox)}{os.sep}"
                    f"{ctx.ids.name_for(key, f'.{obj.object_class}')}")
            ctx.publish(dest, obj.data)
            ctx.log.write(f"~Replicated {obj.name} from site {batch.sending_site} to "
                          f"{ctx.windows(dest)}")
        # Once per class: applying one class's ID again changes nothing.
        for object_class in dict.fromkeys(o.object_class for o in fresh):
            history = history.with_applied(object_class, batch.priority, batch.transaction_id)
        ctx.publish(history_path, trs.encode(history))
        ctx.emit("replication_received", sender=batch.sending_site,
                 transaction=batch.transaction_id, objects=len(fresh),
                 file=ctx.windows(item.original))
        item.done()

    def _history(self, path: Path) -> trs.TransactionHistory:
        try:
            return trs.read(path)
        except (FormatError, OSError) as e:
            self.ctx.log.write(f"Cannot read the transaction history {self.ctx.windows(path)} "
                               f"({error_text(e)}); starting it again")
            return trs.TransactionHistory()

    def _local(self, when: float) -> str:
        return log_timestamp(when, self.ctx.site.time_zone_bias)


def _object_problem(item: WorkItem) -> str | None:
    """Why an outbound object must not join a batch (a class no site takes, content that does
    not read as its class), or None: one bad object never costs the good ones of its batch."""
    object_class = item.name.rsplit(".", 1)[-1].upper()
    found = OBJECT_CLASSES.get(object_class)
    if found is None:
        return _unknown_class(item.name)
    try:
        found.layout.read(item.work_file)  # as text: the problem alone is kept
    except FormatError as e:
        return f"it is not a valid .{object_class}: {e.problem}"
    return None


def _unknown_class(name: str, taker: str = "site's component") -> str:
    return (f"it is a .{name.rsplit('.', 1)[-1].upper()} object, which no {taker} takes "
            f"(known: .{', .'.join(sorted(OBJECT_CLASSES))})")


def _is_status_message(name: str) -> bool:
    return name.upper().endswith(".SVF")

"""What a component gets from its driver: the site, the lab, time, randomness, names, output.

Everything nondeterministic comes through here, so step mode can make it deterministic: the
clock (real or virtual), a `random.Random` seeded from (seed, run, site, component), IDs and
temp names, and `work`, what the unit's work costs in lab time (runtime/worktime.py). Output goes through `publish`, which writes privately, renames into place and wakes the
folder's owner without waiting for the file-system watcher.

Every other file change a component makes goes through here too, so it follows the lab's
durability and the unit's journal records it: `publish_file` hands a file over with the same
fault points, journal entry and wake-up as `publish`; `rename`, `replace`, `remove` and
`remove_tree` (and `WorkItem.rewrite`) are the component's own bookkeeping, journalled without
fault points and waking nobody (`changed` does); `make_dirs`, `set_mtime`, `create_empty` and
`write_range` are journalled by the hand-off that follows them. tests/test_component_rules.py
forbids the direct calls. They meet the drive faults a person sets in the lab
(files/drive.py): a write that does not fit is DiskFull, a move, rename or delete of a file a
scanner holds is SharingViolation, as on Windows. The site database is opened by the
runtime, handed over as `database` (with the package `store` built on it), and closed by the
runtime when the component stops or restarts. The `status` reporter hands each message to the
site's Status Manager as a `.SVF`, through `_deliver_status`.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from sitesrv.db.pkgstore import PackageStore, open_store
from sitesrv.db.sitedb import SiteDatabase, StatusMessage
from sitesrv.files.atomic import (
    Content,
    Durability,
    rename_into_place,
    replace_file,
    sync_dirs,
    write_temp,
)
from sitesrv.files.copying import WrittenRange, copy_content, copy_range
from sitesrv.files.drive import check_space, check_unlocked
from sitesrv.files.folders import is_folder, lexists, moved_aside, own_folders
from sitesrv.files.pathtext import join, split
from sitesrv.files.readonly import clear_readonly, make_readonly, remove_file, remove_tree
from sitesrv.files.regular import open_fd
from sitesrv.formats import svf
from sitesrv.lab.boxes import STATMGR_STATMSGS, WORK_DIR
from sitesrv.lab.clock import Clock
from sitesrv.lab.hierarchy import Hierarchy, Site
from sitesrv.lab.layout import LabLayout, SiteLayout
from sitesrv.lab.timing import TimingProfile
from sitesrv.logs.events import EventSink
from sitesrv.logs.smslog import SmsLog
from sitesrv.logs.statmsg import StatusReporter, to_file
from sitesrv.runtime.faults import AFTER_PUBLISH, BEFORE_PUBLISH, Faults
from sitesrv.runtime.ids import Ids
from sitesrv.runtime.inbox import Inbox, InboxSpec, WorkItem
from sitesrv.runtime.unit import PUBLISHED, REMOVED, RENAMED, REPLACED, Journal, Reporter
from sitesrv.runtime.worktime import WorkTime

# A file named as a Path or as text: what a hand-off is given, it answers with.
_Named = TypeVar("_Named", Path, str)


class ComponentContext:
    """One component's view of its site server. Built by the runtime, one per (re)start."""

    def __init__(self, *, site: Site, hierarchy: Hierarchy, lab: LabLayout, layout: SiteLayout,
                 clock: Clock, rng: random.Random, work: WorkTime, ids: Ids,
                 open_database: Callable[[], SiteDatabase] | None, log: SmsLog,
                 events: EventSink,
                 faults: Faults, inboxes: tuple[Inbox, ...], durability: Durability,
                 journal: Journal, reporter: Reporter, notify: Callable[..., None],
                 signal: Callable[[str], None], stale_before: float | None = None,
                 changes: Callable[[Path], frozenset[str] | None]) -> None:
        self.site = site
        self.hierarchy = hierarchy
        self.lab = lab
        self.layout = layout
        self.timing: TimingProfile = hierarchy.timing
        self.clock = clock
        self.rng = rng
        self.work = work
        self.ids = ids
        self._open_database = open_database  # None at secondary sites, which have no database
        self._database: SiteDatabase | None = None
        self.log = log
        self.events = events
        self.faults = faults
        self.inboxes = inboxes
        self.durability = durability
        self._journal = journal
        self._reporter = reporter
        self._notify = notify
        self._signal = signal
        self._changes = changes
        # Files last written at or before this wall time were left by a writer that is gone
        # (LabRuntime.stale_temp_cutoff); None: none is known to be.
        self.stale_before = stale_before
        self.timers: list[float] = []
        self._status_numbers = itertools.count()

    # --- the site database ------------------------------------------------------------------

    @property
    def database(self) -> SiteDatabase | None:
        """The site database, opened at first use; None at a secondary site, which has none."""
        if self._database is None and self._open_database is not None:
            self._database = self._open_database()
        return self._database

    @functools.cached_property
    def store(self) -> PackageStore:
        """What the site knows of its packages: the database at a primary, state files at a
        secondary (db/pkgstore.py)."""
        return open_store(self.layout, self.database, self.durability)

    @functools.cached_property
    def status(self) -> StatusReporter:
        """Status messages of this component: the STATMSG line, and a `.SVF` for the site's
        Status Manager."""
        return StatusReporter(self.log, self.site.code, self.site.server, self._deliver_status)

    def _deliver_status(self, message: StatusMessage) -> str:
        """Hand one message to the site's Status Manager: `statmgr.box\\statmsgs\\<name>.SVF`.

        The name is the message's time in milliseconds (12 hex digits), a number that goes up
        with each message of this writer and a tag of the writer, so the files sort in the
        order they were raised and two writers never pick the same name. A name in use (a
        restart at the same lab time) takes the next number. Written through a temp name and
        renamed, journalled and waking Status Manager as `publish` does, but with no fault
        point: a message is a side channel like the log line, and the crash tests aim at the
        component's own hand-offs. The file is named as text: nothing here needs a Path.
        """
        folder = self.layout.inbox(STATMGR_STATMSGS)
        ms = round(message.Time * 1000)
        tag = self._status_tag
        here, work = f"{folder}{os.sep}", f"{folder}{os.sep}{WORK_DIR}{os.sep}"
        while True:
            name = f"{ms:012X}{next(self._status_numbers) % 0x1000:03X}{tag}{svf.EXTENSION}"
            if not (lexists(here + name) or lexists(work + name)):
                break
        dest = here + name
        tmp = here + self.ids.temp_name(name)
        temps = self._journal.temps
        temps[tmp] = None
        write_temp(tmp, svf.encode(to_file(message)), self.durability, exclusive=True)
        rename_into_place(tmp, dest, self.durability)
        temps.pop(tmp, None)
        self._journal.note(PUBLISHED, dest)
        self._notify(folder, name)
        return dest

    @functools.cached_property
    def _status_tag(self) -> str:
        """The writer's tag in its status messages' names (the same for every message)."""
        return self.ids.name_for("status")[:4]

    def close(self) -> None:
        """The runtime is done with this context (a stop or a restart): close the database."""
        if self._database is not None:
            self._database.close()
            self._database = None

    # --- input ------------------------------------------------------------------------------

    def inbox(self, folder: str) -> Inbox:
        """One of the component's own inboxes by its SMS name (`distmgr.box\\INCOMING`)."""
        wanted = folder.replace("/", "\\").upper()
        for inbox in self.inboxes:
            if inbox.spec.folder.replace("/", "\\").upper() == wanted:
                return inbox
        raise KeyError(f"{folder!r} is not an inbox of this component")

    def is_stale(self, path: Path) -> bool:
        """Whether a leftover in one of this component's folders was left by a writer that is
        gone (a killed run), so start-up may delete it: judged as the inboxes judge temp files."""
        if self.stale_before is None:
            return False
        try:
            return os.lstat(path).st_mtime <= self.stale_before
        except FileNotFoundError:
            return False

    def quarantine(self, folder: Path, path: Path, reason: str) -> Path:
        """Move `path`, in or below `folder`, a folder this component reads but owns no inbox
        in (Inbox Manager's boxes), to `folder`'s `corrupt\\` as an inbox quarantines: never
        over an earlier one, with the line in the log and in `corrupt\\quarantine.log`, the
        event and the run's report."""
        box = Inbox(InboxSpec(folder.name, ()), folder, clock=self.clock,
                    durability=self.durability, faults=self.faults, journal=self._journal,
                    reporter=self._reporter, notify=self._notify, work=self.work)
        return box.quarantine_path(path, path.name, reason, shown_as=path)

    def claim_next(self) -> WorkItem | None:
        """The next eligible file of the first inbox (in declaration order) that has one."""
        for inbox in self.inboxes:
            item = inbox.claim_next()
            if item is not None:
                return item
        return None

    # --- output -----------------------------------------------------------------------------

    def publish(self, dest: _Named, content: Content, *, tmp_name: str | None = None) -> _Named:
        """Write `dest` completely under a temp name in its folder, then rename it into place.

        `content` is bytes, an iterable of byte chunks, or a function writing to the open file.
        The temp name is a private dot-file unless `tmp_name` is given (the Sender writes
        `<id>.TMP` and renames it to `<id>.SNI`); an existing file named `tmp_name` is
        overwritten, a leftover from an earlier attempt. An existing `dest` is replaced: output
        names derive from input names, so a redo after a crash overwrites its first attempt.
        `dest` may be text (returned as given), for a caller that joins names as text.
        """
        temps = self._journal.temps
        # The folder and the temp file as text: the system calls, the temps and `notify` take
        # text, and every unit publishes (a Path joined and hashed here cost more than the rest).
        folder, name = split(os.fspath(dest))
        if tmp_name is None:
            while True:
                tmp = join(folder, self.ids.temp_name(name))
                temps[tmp] = None
                try:
                    write_temp(tmp, content, self.durability, exclusive=True)
                    break
                except FileExistsError:
                    del temps[tmp]
                    continue
        else:
            # A name given by its caller, joined as a Path joins it.
            tmp = os.fspath(Path(dest).parent / tmp_name)
            temps[tmp] = None
            write_temp(tmp, content, self.durability, exclusive=False)
        self.faults.point(BEFORE_PUBLISH, dest)
        rename_into_place(tmp, dest, self.durability)
        temps.pop(tmp, None)
        self._journal.note(PUBLISHED, dest)
        self._notify(folder or os.curdir, name)
        self.faults.point(AFTER_PUBLISH, dest)
        return dest

    def changed(self, folder: Path, *names: str) -> None:
        """This component removed or changed `names` in `folder` (none given: any may have):
        wake the components that declared it, or a folder above it, in `wakes_on`, and its
        owners if it is an inbox (publish wakes both by itself)."""
        for name in names or (None,):
            self._notify(folder, name, echo=False)

    def changes(self, folder: Path) -> frozenset[str] | None:
        """The names of the entries of `folder`, one of this component's `wakes_on` folders,
        that changed since the last call (a change inside a sub-folder is a change of the
        sub-folder's name); None when that is not known, so that anything may have: the first
        call after a start, after a rescan the driver asked for, after a change announced
        without a name, or after very many names (runtime.host.MAX_CHANGES). KeyError for
        another folder.

        What `publish`, `publish_file` and `changed` announce in this process is here; live,
        so are the watcher's hints of arrivals (not deletions) from other processes and
        people, and the driver's periodic rescan covers the rest (docs/runtime.md)."""
        return self._changes(folder)

    def signal(self, signal: str) -> None:
        """Tell the other components of this site that `signal` happened, e.g.
        `package-information ZZZ00001`: files they deferred until it are eligible now."""
        self._signal(signal)

    def publish_copy(self, src: Path, dest: Path, *, tmp_name: str | None = None) -> Path:
        """Publish a copy of `src`, streamed, so memory does not grow with the file's size."""
        return self.publish(dest, copy_content(src), tmp_name=tmp_name)

    def publish_file(self, src: Path, dest: Path, *, readonly: bool = False,
                     wake: bool = True) -> Path:
        """Hand an existing, complete file over as `dest` (another inbox, SMSPKG) by one rename.

        With `readonly` the file is made read-only first (a stored PCK); a read-only `dest` is
        replaced all the same (Windows refuses to rename over one, so its flag is cleared).
        `wake=False` wakes nobody: the file is not work by itself (a payload whose instruction
        follows and announces it).
        """
        check_unlocked(src)
        if readonly:
            make_readonly(src)
        self.faults.point(BEFORE_PUBLISH, dest)
        clear_readonly(dest)
        rename_into_place(src, dest, self.durability)
        self._journal.note(PUBLISHED, dest)
        if wake:
            folder, name = split(os.fspath(dest))  # as text: `notify` takes it so
            self._notify(folder or os.curdir, name)
        self.faults.point(AFTER_PUBLISH, dest)
        return dest

    def rename(self, src: Path | str, dest: Path | str) -> None:
        """Rename a file that hands nothing over (a UID token to its next number), durably."""
        check_unlocked(src)
        os.replace(src, dest)
        if self.durability.syncs_folders:  # the folders only then: `parent` is a new Path
            sync_dirs(self.durability, Path(dest).parent, Path(src).parent)
        self._journal.note(RENAMED, dest)

    def replace(self, path: Path, content: Content) -> None:
        """Replace one of this component's own files (its state) atomically, through a temp
        name no other writer uses; a temp a killed run left is written over."""
        folder, name = split(os.fspath(path))  # the temp named as text: no Path to make
        replace_file(path, content, self.durability,
                     tmp=join(folder, f".{name}.{self.log.component}.tmp"))
        self._journal.note(REPLACED, path)

    def remove(self, path: Path) -> bool:
        """Delete a file (or a link: never what it points to), read-only or not; False if there
        was none. A folder in its place is not deleted: OSError."""
        try:
            mode = os.lstat(path).st_mode  # the look `remove_file` needs too: made once
        except (OSError, ValueError):  # as `os.path.lexists` answers: nothing there
            return False
        check_unlocked(path)
        remove_file(path, mode)
        if self.durability.syncs_folders:  # the folders only then: `parent` is a new Path
            sync_dirs(self.durability, path.parent)
        self._journal.note(REMOVED, path)
        return True

    def remove_tree(self, path: Path) -> bool:
        """Delete a folder with everything in it (or a file), read-only or not; False if there
        was nothing. For the trees components own: DP package folders, compression temps."""
        if not lexists(path):
            return False
        remove_tree(path)
        if self.durability.syncs_folders:  # the folders only then: `parent` is a new Path
            sync_dirs(self.durability, path.parent)
        self._journal.note(REMOVED, path)
        return True

    def make_dirs(self, folder: Path, *, whole: bool = False) -> Path:
        """Create a folder (and its parents) if it is not there yet. A link (to a folder
        elsewhere) or anything else under its name, or under a folder's name on the way from
        the site's root, is renamed aside to `.<name>.refused`, with a line, and never written
        through: the folder is made anew (files/folders.py). A folder that is there is looked
        at alone: the folders above the inboxes were looked at when their components started
        (`Inbox.recover`), and this is called in every unit of some components. `whole` looks
        at every folder from the site's root all the same: a DP's share, whose folders no
        start-up looks at."""
        if not whole and is_folder(folder):
            return folder
        moved, made = own_folders(folder, self.layout.root)
        for name, aside, mode in moved:
            self._journal.note(RENAMED, aside)
            self.log.write(moved_aside(self.windows(name), self.windows(aside), mode))
        if made:
            sync_dirs(self.durability, folder.parent)
        return folder

    def set_mtime(self, path: Path | str, when: float) -> None:
        """Give a file a modification time in lab time (an arrival time a component reads)."""
        os.utime(path, (when, when))

    def create_empty(self, path: Path) -> None:
        """Create `path` new and empty: the start of a file written by `write_range`. What has
        the name already (an earlier attempt, a planted link) is removed, never written into;
        a name another process holds open (`sitesrv fault lock`) is SharingViolation, before a
        byte is written."""
        check_unlocked(path)
        write_temp(path, b"", self.durability, exclusive=False)

    def write_range(self, path: Path, source: BinaryIO, offset: int, count: int, *,
                    last: bool) -> WrittenRange:
        """Copy `count` bytes at `offset` of the open `source` into `path` at the same offset
        (files.copying.copy_range); with `last`, the file is complete and is fsynced if the
        lab's durability asks. Returns the bytes copied, fewer only if `source` ended first,
        and the file's status just before and after: a writer that knows what the file was
        after its last range can tell whether anyone else wrote to it since.

        Only the regular file `create_empty` made is written: a link, a FIFO or a hard link to
        another file swapped in under its name since is NotRegularFile, never written through.
        Bytes that do not fit on the drive are DiskFull, and nothing is written."""
        check_space(path, count)
        fd = open_fd(path, os.O_RDWR, sole_name=True)
        with open(fd, "r+b", buffering=0) as target:
            before = os.fstat(fd)
            copied = copy_range(source, target, offset, count)
            if last and self.durability.syncs_files:
                os.fsync(target.fileno())
            after = os.fstat(fd)
        return WrittenRange(copied, before, after)

    def retrying(self) -> None:
        """This unit only tries again what failed before (a send to a site it cannot write to),
        or books such a try: it waits, and is no progress for the idle rule, so a lab that
        fails the same way again and again ends `waiting`, not busy for ever."""
        self._journal.retrying = True

    def reporting(self) -> None:
        """This unit only carried status messages on (reports about work, not work): no
        progress for the idle rule, as Status Manager's units are not (`reports_only`). A site
        that reports, again and again, that it cannot send its reports ends `waiting`."""
        self._journal.reporting = True

    # --- time -------------------------------------------------------------------------------

    def wake_at(self, when: float) -> None:
        """Run `work()` again once lab time reaches `when`, even if no file arrives."""
        heapq.heappush(self.timers, when)

    # --- reporting --------------------------------------------------------------------------

    def windows(self, path: Path | str) -> str:
        """A path of this site as its own logs spell it (`E:\\SMS\\inboxes\\...`)."""
        return self.layout.windows(path)

    def emit(self, event: str, **fields: Any) -> None:
        """One event in LAB/events.jsonl, stamped with this site and component."""
        self.events.emit(event, site=self.site.code, component=self.log.component, **fields)

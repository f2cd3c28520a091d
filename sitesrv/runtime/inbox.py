"""An inbox a component owns: scan, claim, finish, defer, quarantine, recover.

The rules (docs/architecture.md, with Maildir's; docs/runtime.md has them for component authors):
- Work is a regular file directly in the inbox folder whose name matches one of the inbox's
  patterns, case-insensitively as on Windows (`*.sni` matches `X.SNI`). Temp files (`*.TMP`,
  `.X.<writer>.tmp`), dot-files and sub-folders (`corrupt\\`, the work folder `.work\\`) are
  never work. Scans are sorted by name. A symbolic link under a work name, a work name no
  Windows file name could be (files/names.py), or a link or FIFO found when a file is claimed,
  goes to `corrupt\\` unopened; `corrupt\\` and `.work\\` must be real folders (a link in their
  place is renamed aside, never written through), and a quarantined file's name is made safe
  and cut to fit a file name (files/names.py).
- A component claims a file by renaming it into `<inbox>\\.work\\`. If someone else renamed it
  first, the claim is skipped, not an error.
- It finishes a claimed file by removing it after publishing its output, or forwards the file
  itself into the next inbox, or defers it (the file goes back under its own name, visible in
  the inbox, and is not eligible before its not-before time), or quarantines it into
  `<inbox>\\corrupt\\` with a log line and an event.
- At start-up claimed files return to the inbox and stale temp files are deleted (which are stale,
  the runtime decides: LabRuntime.stale_temp_cutoff). Two components may share a folder when their
  patterns differ (the Sender's `*.srq` and the Scheduler's `*.srs` in `outboxes\\LAN`); each
  recovers only its own claims.

Deferrals live in memory: after a restart the component examines every file again, as SMS
does, and defers again what must still wait.
"""

from __future__ import annotations

import contextlib
import filecmp
import fnmatch
import functools
import heapq
import os
import re
import stat
import threading
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

import attrs

from sitesrv.files.atomic import (
    Content,
    Durability,
    rename_into_place,
    replace_file,
    sync_dirs,
    write_temp,
)
from sitesrv.files.drive import SharingViolation, check_unlocked
from sitesrv.files.folders import is_folder, lexists, moved_aside, own_folders
from sitesrv.files.names import escaped_name, fitting_name, foreign_name, is_windows_name, safe_name
from sitesrv.files.pathtext import split
from sitesrv.files.regular import holds_bytes, kind_of, not_a_file
from sitesrv.formats.sections import INSTRUCTION_LIMITS
from sitesrv.lab.boxes import (
    CORRUPT_DIR,
    QUARANTINE_LOG,
    WORK_DIR,
    ignored_by_scans,
    is_removable_temp,
)
from sitesrv.lab.clock import Clock, lab_time_text
from sitesrv.logs.win32 import error_text
from sitesrv.runtime.faults import AFTER_CLAIM, AFTER_PUBLISH, BEFORE_PUBLISH, Faults
from sitesrv.runtime.unit import (
    CLAIMED,
    DEFERRED,
    FINISHED,
    PUBLISHED,
    QUARANTINED,
    REPLACED,
    Journal,
    Reporter,
)
from sitesrv.runtime.worktime import WorkTime

_NAMES_REMEMBERED = 100_000  # names whose match listing() remembers, per inbox
LINK_REFUSED = "it is a symbolic link, and sitesrv never follows one in an inbox"


@attrs.frozen
class InboxSpec:
    """An inbox a component owns: its SMS name below `SMS\\inboxes` and the names that are work.

    With `recheck_on_arrival`, a new file arriving makes the inbox's deferred files eligible at
    once (Distribution Manager re-examines a waiting `.PKG` on every change notification: Q319189,
    Q245579). With `in_name_order`, its files are taken in name order, retried or not, where
    that is the order they were sent in and must be taken in (Replication Manager's batches:
    one of an older transaction taken after a newer one is out of sync and dropped, Q288970).
    """

    folder: str
    patterns: tuple[str, ...] = ("*",)
    recheck_on_arrival: bool = False
    in_name_order: bool = False

    def matches(self, name: str) -> bool:
        work = _work_names(self.patterns)
        return work is not None and work.match(name.upper()) is not None


@functools.lru_cache(maxsize=256)
def _work_names(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """An inbox's patterns as one expression over upper-case names (None: no name is work):
    what `fnmatchcase` matches each against, in one match, for every name a listing, an
    announcement or a hint looks at."""
    if not patterns:
        return None
    return re.compile("|".join(fnmatch.translate(p.upper()) for p in patterns))


@attrs.frozen
class Deferral:
    not_before: float
    reason: str
    signal: str | None = None  # a signal that makes the file eligible at once (ctx.signal)


class Inbox:
    """One inbox folder of one component at one site, used by one thread at a time: whichever
    runs the component's unit (the live driver's other threads only call `invalidate` and
    `heard`)."""

    def __init__(self, spec: InboxSpec, path: Path, *, clock: Clock, durability: Durability,
                 faults: Faults, journal: Journal, reporter: Reporter,
                 notify: Callable[[Path, str | None], None], work: WorkTime,
                 awaited: set[str] | None = None, locked_retry: float = 5.0) -> None:
        self.spec = spec
        self.locked_retry = locked_retry  # lab seconds before a file held open is tried again
        self.path = path
        self.work_dir = path / WORK_DIR
        # The two folders as text, which claims join names to: most claimed files are only
        # handed to system calls, which take text as they take a Path, and cost no Path.
        self._folder = str(path)
        self._work_folder = str(self.work_dir)
        self.clock = clock
        self.durability = durability
        self.faults = faults
        self.journal = journal
        self.reporter = reporter
        self.notify = notify
        self.work = work  # what taking a file costs in lab time
        self._pending: deque[str] = deque()
        self._stale = True  # list the folder at the next claim
        # Since the last listing: names announced (`heard`, any thread), and deferred names
        # that fell due or were rechecked; with `_merge_now` these join the queue at once.
        self._arrived: set[str] = set()
        self._arrivals_lock = threading.Lock()
        self._look = False  # list the folder once the queue is empty (`heard(None)`)
        self._due: set[str] = set()
        self._merge_now = False
        self._deferred: dict[str, Deferral] = {}
        # (not before, name) of each deferral, a heap with stale entries (`_current`): the host
        # reads its first entry after every unit (ComponentHost.earliest_timer).
        self.timers: list[tuple[float, str]] = []
        self._is_work: dict[str, bool] = {}  # name -> whether it is work here (listing)
        self._unmovable: set[str] = set()  # links that could not go to corrupt\\ (said once)
        # The signals deferred files wait for, shared with the host so that other threads can
        # tell cheaply whether a signal concerns this component (a stale entry only costs a wake).
        self.awaited = set() if awaited is None else awaited

    @functools.cached_property
    def corrupt_dir(self) -> Path:
        """`corrupt\\`, made a Path only for a quarantine: most inboxes never have one."""
        return self.path / CORRUPT_DIR

    # --- reading the folder -------------------------------------------------------------------

    def listing(self) -> list[str]:
        """Every work file now in the inbox, deferred or not, sorted by name.

        A symbolic link under a work name is never followed, and a FIFO or a folder under one is
        never opened, and a work name no Windows file name could be (files/names.py) is never
        taken: each goes to `corrupt\\` here (or, if even that fails, is logged and skipped:
        one bad entry never stops the listing)."""
        refused: list[tuple[str, int | None]] = []
        names = []
        try:
            with os.scandir(self.path) as it:
                for entry in it:
                    name = entry.name
                    if not self._is_work_name(name):
                        continue
                    if entry.is_symlink():
                        refused.append((name, None))
                    elif entry.is_file() and is_windows_name(name):
                        names.append(name)
                    else:
                        with contextlib.suppress(FileNotFoundError):
                            refused.append((name, entry.stat(follow_symlinks=False).st_mode))
        except FileNotFoundError:
            return []
        for name, mode in sorted(refused):
            self._refuse(self.path / name, name, mode)
        return sorted(names)

    def _refuse(self, link: Path, name: str, mode: int | None = None) -> None:
        """Put something that is no file (a link, a FIFO: `mode`) or has a name no Windows file
        could have in `corrupt\\`, never opening it; if it cannot be moved, say so once and
        leave it: the good files go on."""
        reason = foreign_name(name) or (LINK_REFUSED if mode is None or stat.S_ISLNK(mode) else
                                        not_a_file(mode))
        try:
            self.quarantine_path(link, name, reason)
        except FileNotFoundError:  # gone already: nothing to do
            pass
        except OSError as e:
            if len(self._unmovable) >= _NAMES_REMEMBERED:
                self._unmovable.clear()
            if name not in self._unmovable:
                self._unmovable.add(name)
                self.reporter.log(f"Cannot move {self.reporter.windows(link)} to corrupt: "
                                  f"{reason}; it is left where it is and skipped ({error_text(e)})")

    def _is_work_name(self, name: str) -> bool:
        """Whether a name is work here, remembered: the same names come back at every listing
        and announcement, and matching them is most of looking at one."""
        work = self._is_work.get(name)
        if work is None:
            if len(self._is_work) >= _NAMES_REMEMBERED:
                self._is_work.clear()
            work = self._is_work[name] = (not ignored_by_scans(name) and name != CORRUPT_DIR
                                          and self.spec.matches(name))
        return work

    def invalidate(self) -> None:
        """Forget the last scan, so the next claim looks at the folder again.

        Live mode calls this from other threads (rescans); it only sets a flag.
        """
        self._stale = True

    def heard(self, name: str | None) -> None:
        """`name` was published here by this process or seen arriving by the watcher (another
        process's file, a person's), or (None) something changed here that only a listing can
        tell. It is looked at when the queue is next empty, or at once when a deferral falls
        due or is rechecked first: then, as before the queue, the claim takes up what the
        folder holds.

        A name joins the queue by itself, without listing the folder: a folder of files that
        wait (INCOMING's kept `.PKG` files, the Despooler's instructions waiting for their
        package information) would otherwise be listed whenever anything arrives or falls due,
        a cost that grows with the files that wait. What no one named is found by the next
        listing (the periodic rescan, the full rescan after the watcher's queue overflowed).
        Any thread.
        """
        if name is None:
            self._look = True
            return
        with self._arrivals_lock:
            if len(self._arrived) >= _NAMES_REMEMBERED:
                self._look = True  # the listing finds them all
                self._arrived.clear()
            self._arrived.add(name)

    def _rescan(self) -> None:
        self._stale = False
        self._look = False
        self._merge_now = False
        with self._arrivals_lock:
            self._arrived.clear()
        self._due.clear()
        names = self.listing()
        present = set(names)
        for gone in [n for n in self._deferred if n not in present]:
            del self._deferred[gone]
        now = self.clock.now()
        self._pending = self._queue(n for n in names if not self._waiting(n, now))

    def _merge(self) -> None:
        """The queue a listing would give now, from the last one and what was announced since:
        the files published, and the deferred ones that fell due or were rechecked.

        An announced name is looked at as the listing looks at an entry: a link goes to
        `corrupt\\`, and what is not a regular file, or not there any more, is left out. What
        changed unannounced is not seen: a queued name someone deleted stays queued (its claim
        skips it), and the deferral of a waiting file someone deleted stays until it falls due
        or the next listing (docs/runtime.md)."""
        self._merge_now = False
        now = self.clock.now()
        with self._arrivals_lock:
            arrived, self._arrived = self._arrived, set()
        new, self._due = self._due, set()
        new.update(self._fallen_due(now))
        for name in sorted(arrived - new):
            if not self._is_work_name(name):
                continue
            try:
                mode = os.lstat(f"{self._folder}{os.sep}{name}").st_mode
            except FileNotFoundError:
                continue
            if stat.S_ISREG(mode) and is_windows_name(name):
                new.add(name)
            else:  # a link, a FIFO, a folder, a name Windows has not: never opened
                self._refuse(self.path / name, name, mode)
        new = {n for n in new if not self._waiting(n, now)}
        if new:  # the queue holds no deferred name: a claim takes it off before deferring it
            new.update(self._pending)
            self._pending = self._queue(new)

    def _fallen_due(self, now: float) -> list[str]:
        """The deferred names whose timer entry is due, announced or not: the heap is walked
        only where entries are due (a child is never due before its parent)."""
        heap, due = self.timers, []
        stack = [0] if heap else []
        while stack:
            i = stack.pop()
            if heap[i][0] <= now:
                if self._current(heap[i]):
                    due.append(heap[i][1])
                stack.extend(c for c in (2 * i + 1, 2 * i + 2) if c < len(heap))
        return due

    def _queue(self, names: Iterable[str]) -> deque[str]:
        """The queue's order: files not deferred before, in name order, then the deferred ones
        that fell due, the longest due first (unless `in_name_order`). So a file that arrives
        goes ahead of the retries at the inbox's next look, and a retry ahead of those that
        fell due after it: with more retries than a component gets through in a retry delay
        (500 Despooler instructions waiting for their package information, retried every 80 s
        at most), one name order for all kept the file they waited for, which sorted after
        them, out for ever."""
        if self.spec.in_name_order:
            return deque(sorted(names))
        deferred = self._deferred
        fresh: list[str] = []
        again: list[tuple[float, str]] = []
        for name in names:
            d = deferred.get(name)
            if d is None:
                fresh.append(name)
            else:
                again.append((d.not_before, name))
        fresh.sort()
        again.sort()
        return deque([*fresh, *(name for _, name in again)])

    def _waiting(self, name: str, now: float) -> bool:
        d = self._deferred.get(name)
        return d is not None and d.not_before > now

    def _may_have_more(self) -> bool:
        """Whether a listing could find what the last one did not: a file announced since, or
        a deferral that fell due (its timer entry, announced by `fire_timers` or not yet)."""
        return bool(self._arrived) or bool(self.timers) and self.timers[0][0] <= self.clock.now()

    # --- claiming -----------------------------------------------------------------------------

    def claim_next(self) -> WorkItem | None:
        """The first eligible file in the queue's order (`_queue`), claimed; None if there is none.

        A merge that would follow an announcement without a name (`heard(None)`) lists the
        folder instead, as the announcement asked; an error
        (a claim refused, a name that cannot be looked at) leaves the folder to be listed
        again, so that the names this look had taken off are not lost with it."""
        looked = False
        try:
            while True:
                if self._stale or (self._look and not looked
                                   and (self._merge_now or not self._pending)):
                    self._rescan()
                    looked = True
                elif self._merge_now or (not self._pending and not looked
                                         and self._may_have_more()):
                    self._merge()
                    looked = True
                if not self._pending:
                    return None
                name = self._pending.popleft()
                if self._waiting(name, self.clock.now()):
                    continue
                item = self.claim(name)
                if item is not None:
                    return item
        except BaseException:
            self._look = True
            raise

    def claim(self, name: str) -> WorkItem | None:
        """Claim one file by name; None if it is gone (another claimer won, or it was removed)
        or held open by another process (files/drive.py), which defers it."""
        original = f"{self._folder}{os.sep}{name}"
        if not is_folder(self._work_folder):  # looked at as text: the usual answer, every claim
            self.own_folder(self.work_dir)
        claimed = f"{self._work_folder}{os.sep}{name}"
        try:
            check_unlocked(original)
        except SharingViolation as e:
            self._held_open(name, e)
            return None
        try:
            os.replace(original, claimed)
        except FileNotFoundError:
            self._deferred.pop(name, None)  # removed while it waited: it waits no more
            return None
        sync_dirs(self.durability, self.path, self.work_dir)
        mode = os.lstat(claimed).st_mode
        if not stat.S_ISREG(mode):  # a link or a FIFO put there since the listing: never opened
            self._refuse(Path(claimed), name, mode)
            return None
        was_deferred = self._deferred.pop(name, None) is not None
        if self.spec.recheck_on_arrival and not was_deferred and self._deferred:
            self.recheck_deferred()
        item = WorkItem(self, name, claimed, original)
        self.journal.in_flight[item] = None
        self.journal.claimed.append(original)
        self.journal.note(CLAIMED, original)
        self.faults.point(AFTER_CLAIM, original)
        self.work.file_taken()
        return item

    def _held_open(self, name: str, error: SharingViolation) -> None:
        """Another process holds the file open (an antivirus scanner): it cannot be moved now.
        Retried after `locked_retry`, never counted as a failure (Q207416 retries error 32)."""
        shown = self.reporter.layout.windows(self.path / name)
        when = self.clock.now() + self.locked_retry
        self.reporter.log(f"Error {error.winerror}: {error.strerror}")
        self.reporter.log(f"Cannot move {shown}, will retry in {self.locked_retry:g} seconds.")
        self.reporter.event("file_held_open", file=shown, retry_in=self.locked_retry)
        self._defer(name, when, f"is held open by another process (Win32 error "
                                f"{error.winerror}); retried at {lab_time_text(when)}", None)

    # --- deferral -----------------------------------------------------------------------------

    def recheck_deferred(self, names: set[str] | None = None) -> None:
        """Make deferred files eligible now (something they may wait for has changed).

        With `names`, only those files: a component that knows what changed wakes only what
        waits for it, so a long queue of waiting files is not re-examined on every arrival.
        """
        now = self.clock.now()
        deferred = self._deferred
        for name in list(deferred) if names is None else names:
            d = deferred.get(name)
            if d is not None:
                if d.not_before > now:
                    deferred[name] = attrs.evolve(d, not_before=now)
                self._due.add(name)
        self._merge_now = True

    def recheck_signalled(self, signals: set[str]) -> None:
        """Make the deferred files that wait for one of these signals eligible now."""
        names = {n for n, d in self._deferred.items() if d.signal in signals}
        if names:
            self.recheck_deferred(names)

    def _defer(self, name: str, not_before: float, reason: str, signal: str | None) -> None:
        self._deferred[name] = Deferral(not_before, reason, signal)
        heapq.heappush(self.timers, (not_before, name))
        if signal is not None:
            self.awaited.add(signal)

    def _current(self, entry: tuple[float, str]) -> bool:
        d = self._deferred.get(entry[1])
        return d is not None and d.not_before == entry[0]

    def next_timer(self) -> float | None:
        """When the earliest deferral not yet announced falls due."""
        while self.timers and not self._current(self.timers[0]):
            heapq.heappop(self.timers)
        return self.timers[0][0] if self.timers else None

    def fire_timers(self, now: float) -> bool:
        """Announce deferrals that fell due; True if any did (the owner should look again)."""
        fired = False
        while self.timers and self.timers[0][0] <= now:
            entry = heapq.heappop(self.timers)
            if self._current(entry):
                self._due.add(entry[1])
                fired = True
        if fired:
            self._merge_now = True
        return fired

    def waiting(self) -> list[tuple[str, Deferral]]:
        """Deferred files as `INCOMING\\X.PKG` (below the component's box) with their reasons."""
        return [(self.display_name(n), d) for n, d in sorted(self._deferred.items())]

    def display_name(self, name: str) -> str:
        parts = [p for p in self.spec.folder.replace("/", "\\").split("\\") if p]
        return "\\".join([*parts[1:], escaped_name(name)])

    # --- recovery -----------------------------------------------------------------------------

    def recover(self, stale_before: float | None, owned: set[str] | None = None) -> None:
        """Return claimed files to the inbox and delete stale temp files (start-up only).

        A temp file is stale when it was last written at or before `stale_before` (wall time,
        as file times are; `math.inf`: every one; None: none). The runtime decides the cutoff
        (LabRuntime.stale_temp_cutoff): the file times can only be compared in live mode.

        `owned`: the folders the component's start-up found real so far, shared by its inboxes
        (own_folders): their folders above the inbox are looked at once. Emptied when this
        recovery moves or deletes anything, which might be one of them.
        """
        self._own_work_folder(owned)  # each folder on the way, the inbox and its `.work`
        changed = False
        for name in sorted(os.listdir(self.work_dir)):
            work = self.work_dir / name
            if not self.spec.matches(name):
                continue  # another component's claim, when two share the folder
            changed = True
            mode = os.lstat(work).st_mode
            if not stat.S_ISREG(mode) or not is_windows_name(name):  # claimed before the rule
                self._refuse(work, name, mode)
            elif self._return(str(work), name, "was claimed when the component stopped"):
                self.reporter.event("returned_to_inbox", file=self.reporter.windows(self.path / name))
        if stale_before is not None:
            for name in sorted(os.listdir(self.path)):
                if not is_removable_temp(name):
                    continue
                temp = self.path / name
                try:
                    if temp.is_file() and temp.stat().st_mtime <= stale_before:
                        changed = True
                        temp.unlink()
                        self.reporter.log(f"Deleted the stale temporary file {self.reporter.windows(temp)}")
                        self.reporter.event("stale_temp_removed", file=self.reporter.windows(temp))
                except FileNotFoundError:
                    continue
        if changed and owned is not None:
            owned.clear()
        self.invalidate()

    def _own_work_folder(self, owned: set[str] | None) -> None:
        """Make the inbox and every folder from the site's folder down to it, then its
        `.work\\`, real folders (own_folder), in one walk: what is planted in the way is moved
        aside, with its log line and event, and never written through."""
        moved, _ = own_folders(self.work_dir, self.reporter.layout.root, owned)
        self._moved_aside(moved)
        sync_dirs(self.durability, *(name.parent for name, _, _ in moved))  # their renames

    def _return(self, work: str, name: str, why: str) -> bool:
        """Put a claimed file (`work`, in `.work\\`) back under its name; False if a same-named
        newcomer is there.

        The newcomer is never overwritten: an identical copy of ours is simply dropped (an
        upstream redo), a different one keeps its place and ours goes to `corrupt\\`.
        """
        target = f"{self._folder}{os.sep}{name}"
        try:
            mode = os.lstat(target).st_mode
        except FileNotFoundError:
            taken = False  # the usual case: the look at the name was the look for a newcomer
        else:
            taken = True
            if not stat.S_ISREG(mode):  # a link or a FIFO took the name: it goes, never opened
                self._refuse(Path(target), name, mode)
                taken = lexists(target)  # still there if it could not be moved
        if taken:
            if filecmp.cmp(work, target, shallow=False):
                os.unlink(work)
                sync_dirs(self.durability, self.work_dir)
            else:
                self.quarantine_path(Path(work), name, f"it {why}, and a different file of the "
                                     "same name has arrived since")
            return False
        os.replace(work, target)
        sync_dirs(self.durability, self.path, self.work_dir)
        return True

    # --- quarantine ---------------------------------------------------------------------------

    def quarantine_path(self, current: Path, name: str, reason: str, *,
                        shown_as: Path | None = None) -> Path:
        """Move a file to `corrupt\\` (never over an earlier one), with a log line and an event
        naming it as `<inbox>\\<name>`, or `shown_as` (a file the component keeps elsewhere)."""
        dest = self._corrupt_name(safe_name(name))
        os.replace(current, dest)
        sync_dirs(self.durability, self.corrupt_dir, current.parent)
        shown = self.reporter.windows(shown_as or self.path / name)
        self._quarantined(f"Moved the corrupt file {shown} to {self.reporter.windows(dest)}: "
                          f"{reason}", shown, dest, reason)
        return dest

    def quarantine_data(self, name: str, data: bytes, reason: str, *, part_of: Path) -> Path:
        """Keep a corrupt part of a file (an object of a replication batch) in `corrupt\\` as
        `name`, with a log line and an event; the rest of the file goes on."""
        dest = self._corrupt_name(safe_name(name), data)
        if not lexists(dest):  # else kept by an earlier attempt at the same file
            write_temp(dest, data, self.durability, exclusive=True)
        shown = self.reporter.windows(part_of)
        self._quarantined(f"Moved the corrupt object {escaped_name(name)} of {shown} to "
                          f"{self.reporter.windows(dest)}: {reason}", shown, dest, reason)
        return dest

    def _corrupt_name(self, name: str, same_as: bytes | None = None) -> Path:
        """`corrupt\\<name>`, or `<name>.1`, `.2`... if taken (a quarantine never overwrites),
        each cut to fit a file name (files.names). With `same_as`, a file already kept with
        exactly these bytes is the answer: a quarantine repeated by a retry keeps one copy."""
        folder = self.own_folder(self.corrupt_dir)
        dest = folder / fitting_name(name)
        n = 0
        while lexists(dest):
            if same_as is not None and holds_bytes(dest, same_as):
                return dest
            n += 1
            dest = folder / fitting_name(name, f".{n}")
        return dest

    def own_folder(self, folder: Path) -> Path:
        """`folder` (`.work\\`, `corrupt\\`), made a real folder: a link (to a folder elsewhere)
        or anything else planted under its name is renamed aside to `.<name>.refused`, with a
        log line, and never written through (files/folders.py)."""
        if is_folder(folder):  # every claim asks: the common case
            return folder
        moved, _ = own_folders(folder, self.path)
        self._moved_aside(moved)
        if moved:
            sync_dirs(self.durability, folder.parent)
        return folder

    def _moved_aside(self, moved: list[tuple[Path, Path, int]]) -> None:
        """Say what `own_folders` moved aside: a log line and an event each."""
        for name, aside, mode in moved:
            self.reporter.log(moved_aside(self.reporter.windows(name),
                                          self.reporter.windows(aside), mode))
            self.reporter.event("refused_folder", file=self.reporter.windows(name),
                                to=self.reporter.windows(aside), kind=kind_of(mode))

    def _quarantined(self, line: str, shown: str, dest: Path, reason: str) -> None:
        """Report a quarantine: the component's log, `corrupt\\quarantine.log` (which never
        rolls over, so every quarantine keeps its line), the events and the run's report."""
        self.reporter.log(line)
        self.reporter.keep(self.corrupt_dir / QUARANTINE_LOG, line)
        self.reporter.event("quarantined", file=shown, to=self.reporter.windows(dest),
                            reason=reason)
        self.reporter.quarantined.append((f"{self.display_name(CORRUPT_DIR)}\\{dest.name}",
                                          reason))
        self.journal.note(QUARANTINED, dest)


class WorkItem:
    """A claimed file. Finish it exactly once: done, forward, defer, quarantine or release."""

    def __init__(self, inbox: Inbox, name: str, work_file: str, inbox_file: str) -> None:
        self.inbox = inbox
        self.name = name
        # `path` and `original` as text, for the system calls, the journal and the log lines:
        # the runtime's own work needs no Path, so each is made only when a component asks.
        self.work_file = work_file
        self.inbox_file = inbox_file
        # Each made once, when first asked: `functools.cached_property` takes a lock for it,
        # which cost a third as much again as the join (a component asks for most items').
        self._path: Path | None = None
        self._original: Path | None = None

    @property
    def path(self) -> Path:
        """The claimed file, in the inbox's `.work\\`."""
        path = self._path
        if path is None:
            path = self._path = self.inbox.work_dir / self.name
        return path

    @property
    def original(self) -> Path:
        """The file's name in the inbox, where it was found (and where defer puts it back)."""
        original = self._original
        if original is None:
            original = self._original = self.inbox.path / self.name
        return original

    def __repr__(self) -> str:
        return f"WorkItem({self.inbox_file})"

    def read_bytes(self) -> bytes:
        """The claimed file's bytes, if it is a regular file within the instruction file
        limits (docs/limits.md); else FormatError, which quarantines it."""
        return INSTRUCTION_LIMITS.read(self.work_file, "file")

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def _finish(self) -> None:
        self.inbox.journal.in_flight.pop(self, None)

    def keep(self) -> None:
        """Keep the file claimed after this unit ends, to finish it in a later unit.

        For work that spans units (the Sender's transfer, written chunk by chunk over lab
        time). The runtime no longer releases it at the end of the unit or after an error;
        after a restart, start-up recovery returns it to the inbox as any claimed file.
        """
        self._finish()

    def rewrite(self, content: Content) -> None:
        """Replace the claimed file's content atomically, keeping it claimed (a job the
        Scheduler moves on to its next state). The temp file is in the inbox, where start-up
        recovery deletes one a killed run left; only the claimer writes it."""
        inbox = self.inbox  # the files named as text, as the claim named them
        tmp = f"{inbox._folder}{os.sep}.{self.name}.{inbox.reporter.component}.rewrite.tmp"
        replace_file(self.work_file, content, inbox.durability, tmp=tmp)
        self.inbox.journal.note(REPLACED, self.inbox_file)

    def done(self) -> None:
        """The output is published: remove the input."""
        os.unlink(self.work_file)
        sync_dirs(self.inbox.durability, self.inbox.work_dir)
        self._finish()
        self.inbox.journal.note(FINISHED, self.inbox_file)

    def forward(self, dest: Path | str) -> None:
        """Publish this very file as `dest` (in another inbox on the same file system).

        One rename both publishes the output and removes the input, so there is no redo.
        `dest` may be text: the rename, the journal and `notify` take text, and a component
        that forwards every file it claims (Replication Manager) need not join a Path for it.
        """
        self.inbox.faults.point(BEFORE_PUBLISH, dest)
        rename_into_place(self.work_file, dest, self.inbox.durability)
        self._finish()
        self.inbox.journal.note(PUBLISHED, dest)
        folder, name = split(os.fspath(dest))
        self.inbox.notify(folder or os.curdir, name)
        self.inbox.faults.point(AFTER_PUBLISH, dest)

    def defer(self, not_before: float, reason: str, *, signal: str | None = None) -> None:
        """Back into the inbox, visible, and not eligible before `not_before` (lab time), or
        before another component of the site sends `signal` (`ctx.signal`), if one is given."""
        self._finish()
        if self.inbox._return(self.work_file, self.name, "was deferred"):
            self.inbox._defer(self.name, not_before, reason, signal)
        self.inbox.journal.note(DEFERRED, self.inbox_file)
        self.inbox.reporter.event("deferred", file=self.inbox.reporter.windows(self.inbox_file),
                                  reason=reason, until=lab_time_text(not_before))

    def quarantine(self, reason: str) -> Path:
        """The file cannot be used: move it to `corrupt\\`, log the file and the reason."""
        self._finish()
        return self.inbox.quarantine_path(self.path, self.name, reason)

    def release(self) -> None:
        """Back into the inbox, eligible again at once (the unit stopped before finishing it)."""
        self._finish()
        self.inbox._return(self.work_file, self.name, "was not finished")
        self.inbox.heard(self.name)

"""The runtime both drivers share: every component of every site, built, recovered and run.

A `ComponentHost` owns one component at one site: its context, its inboxes, its timers, its
"wanted" flag (set when a file arrives, a timer falls due, or the last unit asked to run again),
and what happens when a unit fails. The live driver's worker threads and the step driver pick
wanted hosts one unit at a time. Neither adds behaviour of its own to a unit, so a component
does the same thing under both.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import heapq
import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import attrs

from sitesrv.db.sitedb import SiteDatabase, check_database_file
from sitesrv.errors import FormatError, UserError
from sitesrv.files import drive
from sitesrv.files.atomic import Durability
from sitesrv.files.folders import moved_aside, own_folders
from sitesrv.files.regular import kind_of
from sitesrv.lab.clock import Clock, VirtualClock, save_lab_time
from sitesrv.lab.drivefaults import LabDrives
from sitesrv.lab.layout import LabLayout, SiteLayout
from sitesrv.lab.loader import load_lab_hierarchy
from sitesrv.logs.events import EventSink
from sitesrv.logs.smslog import SmsLog
from sitesrv.logs.win32 import sms_error
from sitesrv.runtime.backoff import backoff, is_transient
from sitesrv.runtime.component import Component
from sitesrv.runtime.context import ComponentContext
from sitesrv.runtime.faults import Faults, Injector, SimulatedCrash
from sitesrv.runtime.idle import WaitLine, failed_units_line, lost_lines_line, quarantined_line
from sitesrv.runtime.ids import Ids
from sitesrv.runtime.inbox import Inbox, InboxSpec, WorkItem
from sitesrv.runtime.lock import Holder, SiteLock, acquire_all, live_holder, release_all
from sitesrv.runtime.registry import Registry
from sitesrv.runtime.unit import DEFERRED, PUBLISHED, Journal, Reporter
from sitesrv.runtime.worktime import WorkTime

logger = logging.getLogger(__name__)

# What a unit did, as the step schedule records it.
PROGRESSED = "progressed"
DEFERRED_ONLY = "deferred"
NOTHING = "nothing"
FAILED = "failed"
CRASHED = "crashed"

# A file whose processing raises this many times in a row goes to corrupt\.
MAX_ATTEMPTS = 3
# What waits for a busy site database (a file, or the component itself: its start, a poll) is
# retried after rescan_interval, doubled with each earlier wait (runtime.backoff).
COMPONENT = None  # the key of the component's own waits and failures, beside its files'

DatabaseFactory = Callable[[Path, Durability], SiteDatabase]  # (path, the lab's durability)
ECHO_SECONDS = 2.0  # how long a published name waits for its watcher hint (notify)
MAX_SIGNALS = 10_000  # signals a host keeps between two of its units
MAX_CHANGES = 10_000  # names a host keeps per `wakes_on` folder between two looks; more: all
EXECUTIVE = "SMS_EXECUTIVE"  # the SMS process that hosts the components


def _nothing() -> None:
    pass


def open_site_database(path: Path, durability: Durability) -> SiteDatabase:
    """The site database at `path`, as the runtime hands it to a component (ctx.database).

    With durability `none` a commit is not fsynced (SQLite's synchronous=NORMAL in WAL mode),
    like the hand-offs: it survives a killed process, not a power loss."""
    return SiteDatabase.open(path, durable=durability.syncs_files)


class Wanted:
    """Whether a host should run a unit: a flag that any thread sets and its unit clears.

    Nobody waits on it (the drivers are told through `on_wanted`), so it needs none of
    `threading.Event`'s lock and condition, which every file published and every unit paid."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def clear(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set


@attrs.frozen
class UnitOutcome:
    did: str
    actions: tuple[str, ...] = ()
    detail: str = ""
    # Whether a unit that did something moved the lab on, for the idle rule: not a retry
    # (`ctx.retrying`), a unit that ended waiting for a transient cause, or a report.
    progress: bool = True


class ComponentHost:
    """One component at one site, with the runtime state that outlives its instances."""

    def __init__(self, runtime: LabRuntime, layout: SiteLayout, cls: type[Component]) -> None:
        self.runtime = runtime
        self.layout = layout
        self.cls = cls
        self.site = layout.site.code
        self.name = cls.name
        hierarchy = runtime.hierarchy
        self.log = SmsLog(layout.log(cls.log_name), cls.name, runtime.clock, site=self.site,
                          bias_minutes=layout.site.time_zone_bias,
                          max_bytes=hierarchy.log_max_bytes, on_lost=self._lost_lines)
        self.lost = Lost()  # the lines of its log that could not be written
        self.journal = Journal(runtime.root)
        self.reporter = Reporter(self.log, runtime.events, layout, cls.name)
        self.faults = Faults(self.site, self.name, runtime.injector)
        self.inbox_paths = tuple(layout.inbox(spec.folder) for spec in cls.inboxes)
        # Each inbox folder's places in `inbox_paths` (and so in `ctx.inboxes`): a publish
        # wakes its owners by folder, one dict look instead of a walk of every inbox.
        self._inbox_places: dict[str, tuple[int, ...]] = {}
        for place, path in enumerate(self.inbox_paths):
            folder = str(path)
            self._inbox_places[folder] = (*self._inbox_places.get(folder, ()), place)
        self.wanted = Wanted()
        self.on_wanted: Callable[[], None] = _nothing  # the live driver's pool listens here
        self.awaited: set[str] = set()  # signals the deferred files of its inboxes wait for
        self._signalled: set[str] = set()  # signals sent, not yet applied to the inboxes
        self._signal_lock = threading.Lock()
        # Per `wakes_on` folder, the names that changed there since the component last asked
        # (ctx.changes); None: not known, so everything may have.
        self.watched = tuple(str(layout.inbox(folder)) for folder in cls.wakes_on)
        self._changes: dict[str, set[str] | None] = dict.fromkeys(self.watched)
        self._changes_lock = threading.Lock()
        self.incarnation = 0
        # Per file (COMPONENT: the component itself), since its last success: attempts that
        # failed in a row, and waits for a busy database.
        self.failures: dict[str | None, int] = {}  # files by their inbox names (inbox_file)
        self.busy_waits: dict[str | None, int] = {}
        # What the component itself waits for since its last unit ended waiting for a transient
        # cause with no file claimed (SQL Monitor's poll of a busy database): a waiting item,
        # as a deferred file is, so the lab is not idle while its retry is pending.
        self.component_wait: str | None = None
        self.failed_errors: list[str] = []  # every failed unit of this run, for the report
        self.not_started: str | None = None  # why start() failed, until it succeeds
        self.ctx: ComponentContext
        self.component: Component

    @property
    def key(self) -> tuple[str, str]:
        return (self.site, self.name)

    def inbox_spec(self, path: Path) -> InboxSpec:
        return next(spec for spec, p in zip(self.cls.inboxes, self.inbox_paths, strict=True)
                    if p == path)

    def __repr__(self) -> str:
        return f"{self.site} {self.name}"

    # --- life cycle ---------------------------------------------------------------------------

    def boot(self) -> None:
        """Build a fresh context and instance, recover the inboxes, start the component."""
        self.close()
        self.incarnation += 1
        runtime = self.runtime
        if self.incarnation == 1:  # the site's folders its start-up moved aside (lock)
            for name, aside, mode in runtime.moved_aside.get(self.site, ()):
                self.log.write(moved_aside(self.layout.windows(name),
                                           self.layout.windows(aside), mode))
        rng = random.Random(f"{runtime.seed}/{runtime.run}/{self.site}/{self.name}/"
                            f"{self.incarnation}")
        work = WorkTime(runtime.clock, rng, runtime.hierarchy.timing)
        self.journal.in_flight.clear()
        self.journal.temps.clear()
        self.awaited.clear()  # deferrals live in the inboxes, which start afresh
        self._forget_changes()  # what changed while no instance ran is not known
        inboxes = tuple(
            Inbox(spec, path, clock=runtime.clock, durability=runtime.hierarchy.durability,
                  faults=self.faults, journal=self.journal, reporter=self.reporter,
                  notify=runtime.notify, awaited=self.awaited, work=work,
                  locked_retry=runtime.hierarchy.timing.rescan_interval)
            for spec, path in zip(self.cls.inboxes, self.inbox_paths, strict=True))
        site = self.layout.site
        database = (functools.partial(runtime.open_database, self.layout.database,
                                      runtime.hierarchy.durability)
                    if site.is_primary and runtime.open_database else None)
        self.ctx = ComponentContext(
            site=site, hierarchy=runtime.hierarchy, lab=runtime.layout, layout=self.layout,
            clock=runtime.clock, rng=rng, work=work, ids=Ids(rng, f"{self.site}-{self.name}"),
            open_database=database, log=self.log, events=runtime.events, faults=self.faults,
            inboxes=inboxes, durability=runtime.hierarchy.durability, journal=self.journal,
            reporter=self.reporter, notify=runtime.notify, signal=functools.partial(runtime.signal, self.site),
            changes=self.take_changes,
            stale_before=runtime.stale_temp_cutoff(first_start=self.incarnation == 1))
        stale_before = self.ctx.stale_before
        owned: set[str] = set()  # the folders its recovery found real (Inbox.recover)
        for inbox in inboxes:
            inbox.recover(stale_before, owned)
        self.component = self.cls(self.ctx)
        if self._start() is None:
            self._want()  # else its timer wakes it to start again

    def _start(self) -> str | None:
        """Start the component; None if it started. If start() fails, say why and try again
        later, as after a failed unit (FAILED), or wait for a busy database (DEFERRED_ONLY,
        never counted as a failure): a component that cannot start stops neither the others
        nor the run."""
        try:
            self.component.start()
        except SimulatedCrash:
            raise
        except Exception as error:
            text = self.runtime.relative(f"{type(error).__name__}: {error}")
            self.not_started = text
            if is_transient(error):
                self._busy_component(error, text, "starts again")
                return DEFERRED_ONLY
            self.note_failure(error, text)
            earlier = self.failures.get(COMPONENT, 0)
            self.failures[COMPONENT] = earlier + 1
            delay = backoff(self.runtime.hierarchy.timing.rescan_interval, earlier)
            self.log.write(f"Could not start the component; it starts again in {delay:g} "
                           f"seconds: {sms_error(error)}")
            self.reporter.event("component_failed", error=text, retry_in=delay)
            self.ctx.wake_at(self.runtime.clock.now() + delay)
            return FAILED
        self.not_started = None
        self.failures.pop(COMPONENT, None)
        self.busy_waits.pop(COMPONENT, None)
        return None

    def close(self) -> None:
        """Let go of what the running instance holds (its site database connection)."""
        ctx = getattr(self, "ctx", None)
        if ctx is not None:
            ctx.close()

    def signal(self, signal: str) -> None:
        """Another component of the site sent `signal`: files deferred until it are due now.

        Called from any thread; the inboxes hear of it at the host's next unit. The signal is
        kept even if no file waits for it yet: the unit running now may be about to defer one
        for it (run_unit checks when it ends)."""
        with self._signal_lock:
            if len(self._signalled) >= MAX_SIGNALS:  # a host that never runs; nothing waits
                self._signalled.clear()
            self._signalled.add(signal)
        if signal in self.awaited:
            self._want()

    def _apply_signals(self) -> None:
        with self._signal_lock:
            signals, self._signalled = self._signalled, set()
        if signals:
            self.awaited.difference_update(signals)  # a file deferred again adds it back
            for inbox in self.ctx.inboxes:
                inbox.recheck_signalled(signals)

    def _want(self) -> None:
        self.wanted.set()
        self.on_wanted()

    def arrived(self, folder: str, name: str | None) -> None:
        """`name` was announced in `folder`, one of its inboxes (None: something changed
        there): that inbox takes it once it has taken what it knew of; wake the component."""
        ctx = getattr(self, "ctx", None)  # None before the first boot, which scans anyway
        if ctx is not None:
            for place in self._inbox_places.get(folder, ()):
                ctx.inboxes[place].heard(name)
        self._want()

    def wake(self, rescan: bool = False) -> None:
        """Something may have arrived; with `rescan`, forget cached listings first, and what
        is known of the changes in its `wakes_on` folders (everything may have changed)."""
        if rescan:
            for inbox in self.ctx.inboxes:
                inbox.invalidate()
            self._forget_changes()
        self._want()

    def changed(self, folder: str, name: str | None) -> None:
        """`name` (None: any name) changed in `folder`, one of its `wakes_on` folders: remember
        it for `take_changes`, and wake the component. Called from any thread."""
        with self._changes_lock:
            names = self._changes.get(folder)
            if names is not None and (name is None or len(names) >= MAX_CHANGES):
                self._changes[folder] = None
            elif names is not None:
                names.add(name)
        self._want()

    def take_changes(self, folder: Path) -> frozenset[str] | None:
        """The names that changed in `folder` (a `wakes_on` folder) since the last call, and
        forget them; None if that is not known (ctx.changes)."""
        key = str(folder)
        if key not in self.watched:
            raise KeyError(f"{folder} is not a wakes_on folder of {self.name}")
        with self._changes_lock:
            names, self._changes[key] = self._changes[key], set()
        return None if names is None else frozenset(names)

    def _forget_changes(self) -> None:
        with self._changes_lock:
            self._changes = dict.fromkeys(self.watched)

    # --- timers -------------------------------------------------------------------------------

    def next_timer(self) -> float | None:
        times = [t for t in (inbox.next_timer() for inbox in self.ctx.inboxes) if t is not None]
        if self.ctx.timers:
            times.append(self.ctx.timers[0])
        return min(times, default=None)

    def earliest_timer(self) -> float | None:
        """The earliest of this host's timer entries, stale deferrals included: `fire_timers`
        does nothing before it (the step driver's agenda keys the host on it, after every
        unit: a loop, without the lists `next_timer` builds)."""
        ctx = self.ctx
        first = ctx.timers[0] if ctx.timers else None
        for inbox in ctx.inboxes:
            timers = inbox.timers  # its deferrals' heap: the first entry, announced or stale
            if timers and (first is None or timers[0][0] < first):
                first = timers[0][0]
        return first

    def fire_timers(self, now: float) -> bool:
        """Wake the host for timers and deferrals that fell due; True if any did."""
        fired = False
        for inbox in self.ctx.inboxes:
            fired = inbox.fire_timers(now) or fired
        while self.ctx.timers and self.ctx.timers[0] <= now:
            heapq.heappop(self.ctx.timers)
            fired = True
        if fired:
            self._want()
        return fired

    def problems(self) -> list[WaitLine]:
        """Failed units and quarantined files of this run, as an idle lab reports them."""
        lines = []
        if self.failed_errors:
            lines.append(failed_units_line(self.site, self.name, len(self.failed_errors),
                                           self.failed_errors, self.cls.log_name))
        lines += [quarantined_line(self.site, self.name, item, reason)
                  for item, reason in self.reporter.quarantined]
        if self.lost.count:
            lines.append(lost_lines_line(self.site, self.name, self.lost.count, "log line(s)",
                                         self.cls.log_name, self.lost.error))
        return lines

    def note_failure(self, error: BaseException, text: str) -> None:
        """Count a failed unit, and say so on stderr in one line (the traceback only when the
        `sitesrv` logger is at DEBUG: `sitesrv run --debug`). The component's SMS log line and
        the event are the record."""
        self.failed_errors.append(text.splitlines()[0] if text else type(error).__name__)
        logger.warning("%s %s: a unit failed: %s", self.site, self.name, text,
                       exc_info=error if logger.isEnabledFor(logging.DEBUG) else None)

    def _lost_lines(self, count: int, error: OSError) -> None:
        """Lines of the component's log that could not be written (the log cannot say it)."""
        self.lost.add(count, self.runtime.relative(f"{type(error).__name__}: {error}"),
                      f"{self.site} {self.name}", self.cls.log_name)

    def waits(self) -> list[WaitLine]:
        if self.not_started is not None:
            return [WaitLine(self.site, self.name, "(the component)",
                             f"is not started yet: {self.not_started}")]
        lines = [WaitLine(self.site, self.name, item, d.reason)
                 for inbox in self.ctx.inboxes for item, d in inbox.waiting()]
        if self.component_wait is not None:
            lines.append(WaitLine(self.site, self.name, "(the component)", self.component_wait))
        lines += [WaitLine(self.site, self.name, w.item, w.reason)
                  for w in self.component.waiting()]
        return lines

    # --- one unit -----------------------------------------------------------------------------

    def run_unit(self) -> UnitOutcome:
        """Run the component's `work()` once and handle whatever it leaves behind.

        The unit's log lines and events are written together when it ends (appendfile.py). If
        writing them fails (a full disk), the unit's outcome stands; the lines lost are said on
        stderr, as a log that cannot be written cannot say it, and are a problem of the run
        (`Lost`)."""
        with self.log.batch(), self.runtime.events.batch():
            outcome = self._run_unit()
        came = False
        if self.awaited:  # changed by this thread only: most units, no file waits for one
            with self._signal_lock:  # other threads add signals meanwhile
                came = not self._signalled.isdisjoint(self.awaited)
        if came:
            self._want()  # a signal came while this unit was deferring the file it concerns
        return outcome

    def _run_unit(self) -> UnitOutcome:
        self.wanted.clear()
        self.component_wait = None  # this unit ends it, or waits again
        if self._signalled:  # most units: none came (one that comes meanwhile is applied at
            self._apply_signals()  # the next unit, as one that comes just after the swap)
        journal = self.journal
        journal.reset()
        if self.not_started is not None:
            failed = self._start()
            if failed is not None:
                return UnitOutcome(failed, (), self.not_started or "")
        try:
            more = bool(self.component.work())
        except SimulatedCrash as crash:
            actions = tuple(journal.actions)
            self._delete_dead_temps()
            self.boot()
            return UnitOutcome(CRASHED, actions, crash.point.describe(self.runtime.root))
        except Exception as error:  # a failing unit must never stop the site server
            text = self.runtime.relative(f"{type(error).__name__}: {error}")
            self._failed(error, text)
            if is_transient(error):  # a wait, never counted as a failed unit nor as progress
                did = PROGRESSED if journal.progressed else DEFERRED_ONLY
                return UnitOutcome(did, tuple(journal.actions), text, progress=False)
            return UnitOutcome(FAILED, tuple(journal.actions), text)
        if journal.in_flight:
            for item in list(journal.in_flight):
                self.log.write(f"The component did not finish "
                               f"{self.layout.windows(item.inbox_file)}; returned it to its inbox")
                item.release()
        if self.failures or self.busy_waits:  # a success starts the counts again
            for done in (COMPONENT, *journal.claimed):
                self.failures.pop(done, None)
                self.busy_waits.pop(done, None)
        progressed = journal.progressed
        if progressed:
            did = PROGRESSED
        elif journal.counts.get(DEFERRED):
            did = DEFERRED_ONLY
        else:
            did = PROGRESSED if more else NOTHING
        if more or progressed:
            self._want()
        return UnitOutcome(did, tuple(journal.actions), progress=not (
            journal.retrying or journal.reporting or self.component.reports_only))

    def _delete_dead_temps(self) -> None:
        """After a simulated crash: delete the temp files the dead unit was writing.

        A restarted server would leave them to start-up recovery, by age; in step mode file
        ages mean nothing (stale_temp_cutoff), and these the runtime knows to be dead."""
        for tmp in self.journal.temps:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                continue
            shown = self._shown(Path(tmp))
            self.log.write(f"Deleted the stale temporary file {shown}")
            self.reporter.event("stale_temp_removed", file=shown)
        self.journal.temps.clear()

    def _shown(self, path: Path) -> str:
        """A path as this site's log names it: its own drive, another site's share."""
        try:
            return self.layout.windows(path)
        except ValueError:
            pass
        try:
            code = path.relative_to(self.runtime.root).parts[0]
            return self.runtime.layout.site(code).unc(path)
        except (ValueError, IndexError, KeyError, UserError):
            return self.runtime.relative(str(path))

    def _failed(self, error: Exception, text: str) -> None:
        """Log the error with the file; retry the file later, or quarantine it for good."""
        items = list(self.journal.in_flight)
        self.journal.in_flight.clear()
        busy = is_transient(error)  # a transient cause: waited for, never counted as a failure
        if not busy and (not items or not isinstance(error, FormatError)):  # a bad file is
            self.note_failure(error, text)  # reported as such
        if not items:
            if busy:
                self._busy_component(error, text, "runs again")
                return
            self.log.write(f"Unexpected error: {sms_error(error)}")
            self.reporter.event("component_failed", error=text)
            self.ctx.wake_at(self.runtime.clock.now() + self.runtime.hierarchy.timing.rescan_interval)
            return
        for item in items:
            try:
                self._failed_item(item, error, text)
            except OSError as e:
                self.log.write(f"Could not put {self.layout.windows(item.inbox_file)} aside after "
                               f"an error: {sms_error(e)}")
                self.reporter.event("processing_failed", file=self.layout.windows(item.inbox_file),
                                    error=self.runtime.relative(str(e)))
        self._want()

    def _failed_item(self, item: WorkItem, error: Exception, text: str) -> None:
        shown = self.layout.windows(item.inbox_file)
        if isinstance(error, FormatError):
            item.quarantine(error.problem)
            return
        if is_transient(error):
            self._busy(item, error, shown, text)
            return
        attempt = self.failures.get(item.inbox_file, 0) + 1
        self.log.write(f"Failed to process {shown} (attempt {attempt} of {MAX_ATTEMPTS}): "
                       f"{sms_error(error)}")
        self.reporter.event("processing_failed", file=shown, error=text, attempt=attempt)
        if attempt >= MAX_ATTEMPTS:
            self.failures.pop(item.inbox_file, None)
            item.quarantine(f"processing failed {attempt} times; the last error was "
                            f"{sms_error(error)}")
        else:
            self.failures[item.inbox_file] = attempt
            item.defer(self.runtime.clock.now() + self.runtime.hierarchy.timing.rescan_interval,
                       f"is retried after an error ({text})")


    def _busy_delay(self, key: str | None) -> float:
        """How long to wait for a busy site database: growing with each wait of `key` (a file,
        or COMPONENT) since its last success, to a ceiling (runtime.backoff)."""
        waits = self.busy_waits.get(key, 0)
        self.busy_waits[key] = waits + 1
        return backoff(self.runtime.hierarchy.timing.rescan_interval, waits)

    def _busy(self, item: WorkItem, error: Exception, shown: str, text: str) -> None:
        """A file waits for a busy site database, or for a drive fault to pass (a full disk,
        a file held open): never counted as an attempt, never quarantined; retried at a
        growing interval with a ceiling."""
        delay = self._busy_delay(item.inbox_file)
        if isinstance(error, OSError):
            self._drive_fault(error, f"{shown} is retried", delay)
            item.defer(self.runtime.clock.now() + delay, f"is retried after Win32 error "
                       f"{error.winerror} ({error.strerror})")
            return
        self.log.write(f"The site database is busy; {shown} is retried in {delay:g} seconds")
        self.reporter.event("database_busy", file=shown, error=text, retry_in=delay)
        item.defer(self.runtime.clock.now() + delay, f"waits for the site database ({text})")

    def _busy_component(self, error: Exception, text: str, what: str) -> None:
        """The component itself (its start, a unit that claimed no file: SQL Monitor's poll)
        waits for a busy site database or a drive fault, as a file does."""
        delay = self._busy_delay(COMPONENT)
        if isinstance(error, OSError):
            self._drive_fault(error, f"the component {what}", delay)
            self.component_wait = (f"is retried after Win32 error {error.winerror} "
                                   f"({error.strerror})")
        else:
            self.log.write(f"The site database is busy; the component {what} in {delay:g} "
                           "seconds")
            self.reporter.event("database_busy", error=text, retry_in=delay)
            self.component_wait = f"waits for the site database ({text})"
        self.ctx.wake_at(self.runtime.clock.now() + delay)

    def _drive_fault(self, error: OSError, what: str, delay: float) -> None:
        """`Error 32: The process cannot access the file ...` (Q207416), or 112 for a full
        disk, naming the file, then when the work is tried again."""
        shown = self._shown(Path(error.filename)) if error.filename else ""
        self.log.write(f"Error {error.winerror}: {error.strerror}" + (f" ({shown})" if shown
                                                                      else ""))
        self.log.write(f"~{what[0].upper()}{what[1:]} in {delay:g} seconds.")
        self.reporter.event("drive_fault", file=shown or None, error=error.strerror,
                            win32=error.winerror, retry_in=delay)


@attrs.define
class Lost:
    """Lines of a log (or events) that could not be written in this run, and the last cause."""

    count: int = 0
    error: str = ""

    def add(self, count: int, error: str, who: str, name: str) -> None:
        """Count them; say so on stderr the first time, and whenever the cause changes."""
        if error != self.error:
            logger.warning("%s: could not write %d line(s) of %s: %s", who, count, name, error)
        self.count += count
        self.error = error


def _overlap(a: InboxSpec, b: InboxSpec) -> bool:
    """Whether one file name could be work in both inboxes (judged on the patterns' own text)."""
    return any(a.matches(p) or b.matches(q) for p in b.patterns for q in a.patterns)


@contextlib.contextmanager
def built_to_last(*, freeze: bool) -> Iterator[None]:
    """For start-up, which builds what lives as long as the run (the modules, and the hosts,
    contexts and layouts: 250,000 objects at 300 sites): no garbage collection walks it while
    it is built, and with `freeze`, once it is built, none until the run ends (`gc.freeze`;
    `LabRuntime.unlock` unfreezes). Each collection walked all of it and freed nothing: at 300
    sites they cost 0.87 s of a 15 s step run, against 0.10 s at 100 sites, and a fifth of an
    empty 100-site run's start-up. Only what was built whole is frozen: a start that fails
    leaves the collector as it found it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        if freeze:
            gc.freeze()  # first: enabled again, the collector would walk all of it at once
    finally:
        if enabled:
            gc.enable()


class LabRuntime:
    """The hosts of the sites one process runs, and what they share."""

    def __init__(self, lab_root: Path, *, clock: Clock, seed: int, registry: Registry,
                 sites: Sequence[str] | None = None, injector: Injector | None = None,
                 open_database: DatabaseFactory | None = open_site_database) -> None:
        with built_to_last(freeze=False):
            self.root = Path(os.path.abspath(lab_root))
            self.hierarchy = load_lab_hierarchy(self.root)
            self.layout = LabLayout(self.root, self.hierarchy)
            self.clock = clock
            self.seed = seed
            # With the seed, the number of the run (lab.clock.next_run), so that each step run of
            # a lab draws new random names; 0 for a live run, whose seed is fresh every time.
            self.run = 0
            self.injector = injector
            self.open_database = open_database
            self.lost_events = Lost()
            self.events = EventSink(self.layout.events, clock, on_lost=self._lost_events)
            codes = ({self.hierarchy.site(c).code for c in sites} if sites
                     else {s.code for s in self.hierarchy.sites})
            self.sites = [self.layout.site(code) for code in sorted(codes)]
            self.hosts = [ComponentHost(self, site, cls)
                          for site in self.sites
                          for cls in sorted(registry.for_site(site.site), key=lambda c: c.name)]
            self.site_hosts: dict[str, list[ComponentHost]] = {}
            for host in self.hosts:
                self.site_hosts.setdefault(host.site, []).append(host)
            # A folder may be the inbox of two components when their patterns cannot both match
            # one name: the Sender takes `*.srq` from outboxes\\LAN, the Scheduler its `*.srs`.
            self.owners: dict[str, list[ComponentHost]] = {}
            self.specs: dict[str, list[InboxSpec]] = {}  # each owner's inbox there, in that order
            for host in self.hosts:
                for spec, path in zip(host.cls.inboxes, host.inbox_paths, strict=True):
                    owners = self.owners.setdefault(str(path), [])
                    for other in owners:
                        if other is host or _overlap(spec, other.inbox_spec(path)):
                            raise ValueError(f"{path} is an inbox of both {other} and {host}, "
                                             "for the same file names")
                    owners.append(host)
                    self.specs.setdefault(str(path), []).append(spec)
            # Components woken by a change in a folder that is not their inbox (`wakes_on`).
            self.watching: dict[str, list[ComponentHost]] = {}
            for host in self.hosts:
                for folder in host.cls.wakes_on:
                    self.watching.setdefault(str(host.layout.inbox(folder)), []).append(host)
            self._below_watched = tuple(f"{folder}{os.sep}" for folder in self.watching)
            self.drives = LabDrives(self.layout)
            self._others_run = False  # a server of another site of the lab runs (see lock)
            self.locks = [SiteLock(site, functools.partial(self._lock_taken_over, site))
                          for site in self.sites]
            self._lock = threading.Lock()
            # path -> until when (monotonic) its watcher hint is an echo; see notify(). The live
            # driver turns it on with an event-based watcher (a polling one sees few echoes).
            self.echoes: dict[str, float] | None = None
            self.progress_count = 0
            self.error_count = 0
            self.last_progress = clock.now()
            # Per site, what its start-up moved aside (lock): its components' logs say so first.
            self.moved_aside: dict[str, list[tuple[Path, Path, int]]] = {}

    def lock(self) -> None:
        """Take the server lock of every site this runtime runs (UserError if one is held),
        make the sites' `state` and `Logs` real folders, and give the lab's drives the faults a
        person set in it (files/drive.py).

        A site database that is a link, or not a file, is refused first (UserError): it cannot
        be moved aside without losing the site's data. `state` is made a real folder by its lock
        (a link or a file in its place moved aside), `Logs` once the lock is held, each with
        every folder above it from the site's folder; what was moved is an event now and the
        first line of each of the site's logs (boot)."""
        if self.open_database is not None:
            for site in self.sites:
                if site.site.is_primary:
                    check_database_file(site.database)
        acquire_all(self.locks)
        try:
            for site, lock in zip(self.sites, self.locks, strict=True):
                logs, _ = own_folders(site.logs, site.root)
                self.moved_aside[site.site.code] = moved = [*lock.moved, *logs]
                for name, aside, mode in moved:
                    self.events.emit("refused_folder", site=site.site.code,
                                     component=EXECUTIVE, file=site.windows(name),
                                     to=site.windows(aside), kind=kind_of(mode))
        except BaseException:
            release_all(self.locks)
            raise
        mine = {site.site.code for site in self.sites}
        self._others_run = any(live_holder(site) is not None for site in self.layout.sites()
                               if site.site.code not in mine)
        drive.register(self.root, self.drives)

    def unlock(self) -> None:
        """Release the sites' locks, close the logs this run kept open, and give what start-up
        built back to the garbage collector (a process may run another lab next)."""
        gc.unfreeze()
        drive.unregister(self.root)
        release_all(self.locks)
        for host in self.hosts:
            host.close()
            host.log.close()
        self.events.close()

    def _lock_taken_over(self, site: SiteLayout, why: str, holder: Holder) -> None:
        self.events.emit("server_lock_taken_over", site=site.site.code, component=EXECUTIVE,
                         pid=holder.pid, host=holder.host, started=holder.started, reason=why)

    def boot(self) -> None:
        """Start every component (`built_to_last`: a component restarted after a crash leaves
        its first context uncollected until the run ends, as does a cycle start-up dropped)."""
        with built_to_last(freeze=True):
            for host in self.hosts:
                host.boot()

    def stale_temp_cutoff(self, *, first_start: bool) -> float | None:
        """Which temp files a component's start-up recovery deletes: those last written at or
        before this wall time (`math.inf`: all; None: none).

        Live: those older than `timing.stale_tmp_age`, in real seconds scaled by the clock rate
        (file times are wall times). Step mode's virtual clock cannot be compared with file
        times, so: at a component's first start in the run, every temp file is stale (none of
        the run's units has written yet, and the site lock keeps other servers of these sites
        away), unless a server runs another site of the lab (`run --step --site P00` beside a
        live `ZZZ`, whose Sender writes into P00's receive): then the live rule. At a restart
        after a simulated crash, none is, so another writer's file in flight across units (the
        Sender's `<id>.PCK.TMP` in `despoolr.box\\receive`) survives. The dead unit's own temp
        files are deleted by the crash handling, which knows them.
        """
        if not isinstance(self.clock, VirtualClock):
            return time.time() - self.clock.real_seconds(self.hierarchy.timing.stale_tmp_age)
        if not first_start:
            return None
        if self._others_run:  # as their live clock would judge it
            return time.time() - self.hierarchy.timing.stale_tmp_age / self.hierarchy.clock_rate
        return math.inf

    def save_lab_time(self, *, running: bool = False) -> float:
        """Save the lab time in the sites' state: where the run ended, or (`running`) where the
        live run is now, with the wall time (lab/clock.py). Returns the time saved."""
        wall = time.time() if running else None
        now = self.clock.now()
        save_lab_time(self.sites, now, self.hierarchy.durability, wall=wall)
        return now

    def relative(self, text: str) -> str:
        """Text with lab paths made relative, so messages do not depend on where the lab is."""
        return text.replace(f"{self.root}{os.sep}", "")

    def notify(self, folder: Path | str, name: str | None = None, *, echo: bool = True) -> None:
        """A file was published into `folder` (`name`), or one of it changed: wake its owners
        (the components whose inbox it is) and the components that declared it, or a folder
        above it, in `wakes_on`, in this process.

        With an event-based watcher running (`echoes` is a dict), a published name is remembered
        for ECHO_SECONDS, so that the watcher's hint for that same arrival wakes nobody a second
        time (`hint`); a hint that came first, or never, leaves only an entry that expires.
        `echo=False`: a change the watcher does not report (a deletion, a new folder)."""
        folder = str(folder)
        owners = self.owners.get(folder, ())
        watched = folder in self.watching or folder.startswith(self._below_watched)
        if name is not None and echo and self.echoes is not None and (owners or watched):
            # Before the wakes: the watcher's hint may come while they wait for the pool.
            now = time.monotonic()
            with self._lock:
                if len(self.echoes) >= 1000:  # hints that never came (an overflow, a race)
                    self.echoes = {p: t for p, t in self.echoes.items() if t > now}
                self.echoes[os.path.join(folder, name)] = now + ECHO_SECONDS
        for host in owners:
            host.arrived(folder, name)
        if watched:
            self._tell_watchers(folder, name)

    def hint(self, path: str) -> None:
        """The watcher saw a file arrive at `path`: wake the folder's owners whose work it is
        (their inbox's patterns match its name), which take it by name, as a file this process
        published, and tell the components that watch the folder (`wakes_on`) which name
        changed (a file in a sub-folder: the sub-folder's), unless this process published it
        and has woken them already. What the watcher cannot name (events lost, a hint that
        failed, a restart) is a full rescan (watcher.py, live.py).

        An owner is not woken for a name that is not its work: its scan would not list it (a
        payload its publisher hands over waking nobody, `despoolr.box\\receive\\X.PCK` before
        its instruction; a `.PKG` in `distmgr.box`)."""
        if self.echoes is not None:
            with self._lock:
                until = self.echoes.pop(path, None)
            if until is not None and until >= time.monotonic():
                return
        folder, name = os.path.split(path)
        for host, spec in zip(self.owners.get(folder, ()), self.specs.get(folder, ()),
                              strict=True):
            if spec.matches(name):
                host.arrived(folder, name)
        self._tell_watchers(folder, name)

    def _tell_watchers(self, folder: str, name: str | None) -> None:
        """Tell the components that watch `folder` (`wakes_on`) that `name` changed there, or,
        for a folder below a watched one, that the entry of theirs it is in changed (a change
        in `pkginfo.box\\<PkgID>.ICO` is one of the entry `<PkgID>.ICO`), and wake them."""
        watching = self.watching.get(folder)
        if watching is None:
            if not folder.startswith(self._below_watched):
                return
            while folder not in self.watching:
                parent, name = os.path.split(folder)
                if parent == folder:  # the root: not below a watched folder after all
                    return
                folder = parent
            watching = self.watching[folder]
        for host in watching:
            host.changed(folder, name)

    def signal(self, site: str, signal: str) -> None:
        """A component of `site` sent `signal`: wake that site's files deferred until it."""
        for host in self.site_hosts[site]:
            host.signal(signal)

    def _lost_events(self, count: int, error: OSError) -> None:
        self.lost_events.add(count, self.relative(f"{type(error).__name__}: {error}"), "LAB",
                             self.layout.events.name)

    def problems(self) -> list[WaitLine]:
        """Every host's failed units, quarantined files and lost log lines of this run, and
        the events that could not be written."""
        lines = [line for host in self.hosts for line in host.problems()]
        if self.lost_events.count:
            lines.append(lost_lines_line("LAB", EXECUTIVE, self.lost_events.count, "event(s)",
                                         self.layout.events.name, self.lost_events.error))
        return lines

    def count(self, outcome: UnitOutcome) -> None:
        """Count a unit for the idle rule. A failed unit that had published a file counts as
        progress too: the file may be another process's work, which only its watcher sees."""
        with self._lock:
            published = outcome.did == FAILED and any(
                a.startswith(f"{PUBLISHED} ") for a in outcome.actions)
            if outcome.did == PROGRESSED and outcome.progress or published:
                self.progress_count += 1
                self.last_progress = self.clock.now()
            if outcome.did == FAILED:
                self.error_count += 1


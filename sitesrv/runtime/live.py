"""The live driver: every component of the chosen sites, on a few worker threads, on real time.

Start-up runs every component's recovery, starts the one file-system watcher, and only then
starts the workers, whose first pass over the inboxes is the start-up scan (so nothing dropped
meanwhile falls between scan and watch). A host is wanted when it is woken (a watcher hint, a
file another component published, the periodic rescan, a full rescan after an inotify overflow
or a watcher restart), when its next timer falls due, or when its last unit asked for more. Each
worker takes the wanted host that has waited longest and that no other worker runs, and runs one
unit of it; a worker with no wanted host sleeps until one is, or until the first timer falls
due. A host runs on one worker at a time, so a component sees its units one after another, as
in step mode. Lab time is real time times the lab's `clock_rate`.

The wanted hosts are a queue and the timers a heap, both kept up to date as hosts become wanted
and as their units end, as the step driver's agenda keeps them: looking at every host for each
unit cost hosts x units, a quarter of the CPU of a 300-site run in one process.

A pool, not a thread per component: the components are Python code under one interpreter lock,
so seventeen threads that each do a little file I/O between waits for the lock mostly hand the
lock to one another (five million futex calls for 100 packages). A few workers keep both cores
busy (compression and file copies release the lock) without that.

Stopping lets every unit in progress finish; a killed process instead leaves its claimed files
in the inboxes' work folders, and the next start-up returns them.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sitesrv.lab.clock import RealClock, lab_start
from sitesrv.lab.layout import LabLayout
from sitesrv.lab.loader import load_lab_hierarchy
from sitesrv.logs.win32 import sms_error
from sitesrv.runtime.defaults import DEFAULT_WORKERS, INOTIFY, POLLING
from sitesrv.runtime.host import (
    EXECUTIVE,
    ComponentHost,
    DatabaseFactory,
    LabRuntime,
    open_site_database,
)
from sitesrv.runtime.idle import (
    RESCAN,
    TIMEOUT,
    IdleReport,
    LiveIdleRule,
    LiveSnapshot,
    WaitLine,
    default_horizon,
    final_status,
)
from sitesrv.runtime.registry import Registry
from sitesrv.runtime.watcher import Watcher

logger = logging.getLogger(__name__)

SUPERVISOR_TICK = 0.02  # real seconds between the supervisor's looks at watcher and workers
# A worker starts a unit beside another one only once that one has run this long (real
# seconds): long units (compression, copies, hashing) release the interpreter lock and leave a
# core to use, short ones would only hand the lock to and fro (docs/runtime.md).
LONG_UNIT = 0.05
CLOCK_SAVE_EVERY = 1.0  # real seconds between saves of the running lab time (lab/clock.py)
# Real seconds between two looks at what a busy host's files wait for: each look lists every
# deferred file, and a host that stays wanted would otherwise list them after every unit.
BUSY_WAITS_EVERY = 0.5


class LiveDriver:
    """Runs the components of a lab's sites (all, or those named) until stopped or idle."""

    def __init__(self, lab_root: Path, *, components: Registry,
                 sites: Sequence[str] | None = None, watcher: str = INOTIFY,
                 horizon: float | None = None, workers: int = DEFAULT_WORKERS,
                 open_database: DatabaseFactory | None = open_site_database,
                 clock_since: tuple[float, float] | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        hierarchy = load_lab_hierarchy(lab_root)
        # clock_since: (wall time, lab time then); the per-site processes of one run share it,
        # and so one lab time. Alone, the run starts at the lab's time (lab_start).
        since, start = clock_since or (
            None, lab_start(LabLayout(Path(lab_root), hierarchy).sites()))
        self.clock = RealClock(rate=hierarchy.clock_rate, since=since, start=start)
        # Live runs are not reproducible anyway; a fresh seed keeps a restarted process from
        # drawing the random names it drew before.
        self.runtime = LabRuntime(lab_root, clock=self.clock,
                                  seed=random.SystemRandom().randrange(2**63),
                                  registry=components, sites=sites,
                                  open_database=open_database)
        timing = self.runtime.hierarchy.timing
        self.horizon = default_horizon(timing) if horizon is None else horizon
        self.rescan_every = self.clock.real_seconds(timing.rescan_interval)
        watched = sorted({host.layout.inboxes for host in self.runtime.hosts})
        self.watcher = Watcher(watched, watcher, route=self.runtime.hint, rescan=self.rescan_all)
        self.stopping = threading.Event()
        self.started = threading.Event()
        self.ended_at: float | None = None  # the lab time `stop` saved
        self.workers = workers
        self._threads: list[threading.Thread] = []
        self._pool = threading.Condition(threading.RLock())
        self._busy: dict[ComponentHost, float] = {}  # hosts a worker runs a unit of: since
        self._poke_later = False  # a poke put off while a short unit ran (`_poke`)
        # The wanted hosts in the order they became wanted (a host joins again when it is
        # wanted while a worker runs it), and a heap with, for each host, an entry no later than
        # its first timer (`_timed`): (time, tie-breaker, host).
        self._ready: dict[ComponentHost, None] = {}
        self._timers: list[tuple[float, int, ComponentHost]] = []
        self._timed: dict[ComponentHost, float | None] = {}  # each host's valid heap entry
        self._order = itertools.count()
        self._sleeping: dict[ComponentHost, bool] = {}
        self._waits: dict[ComponentHost, list[WaitLine]] = {}
        self._waits_next: dict[ComponentHost, float] = {}  # a busy host's next look: monotonic
        self._due: dict[ComponentHost, float | None] = {}  # each sleeping host's next timer
        self._held: dict[ComponentHost, float] = {}  # after a runtime error: monotonic time
        self._idle = LiveIdleRule(self.horizon)
        self._locked = False
        self._next_clock_save = 0.0  # monotonic: when supervise saves the lab time next

    @property
    def hosts(self) -> list[ComponentHost]:
        return self.runtime.hosts

    # --- start and stop -----------------------------------------------------------------------

    def start(self) -> None:
        """Take the sites' server locks, recover, start the watcher and the workers.

        UserError if another process runs one of the sites. If anything else fails, what was
        started is stopped again and the locks are given back."""
        self.runtime.lock()
        self._locked = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self.runtime.boot()
        self.watcher.start()
        if self.watcher.kind != POLLING:
            self.runtime.echoes = {}
        for site in self.runtime.sites:
            self.runtime.events.emit("server_started", site=site.site.code, component=EXECUTIVE,
                                     watcher=self.watcher.kind)
        with self._pool:
            for host in self.hosts:
                self._sleeping[host] = False
                self._waits[host] = []
                host.on_wanted = functools.partial(self._poke, host)
                if host.wanted.is_set():  # woken at boot, before anyone listened
                    self._ready[host] = None
                self._key(host)
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"sitesrv-worker-{n + 1}",
                                      daemon=True)
            self._threads.append(thread)
            thread.start()
        self.started.set()

    def stop(self) -> None:
        """Let units in progress finish, stop the workers and the watcher, give back the
        locks."""
        if not self._locked:
            return
        try:
            self.stopping.set()
            with self._pool:
                self._pool.notify_all()
            for thread in self._threads:
                thread.join()
            self._list_waits()
            self.watcher.stop()
            for site in self.runtime.sites:
                self.runtime.events.emit("server_stopped", site=site.site.code,
                                         component=EXECUTIVE)
            # Last: the next run starts after every event of this one, and where it says.
            self.ended_at = self.runtime.save_lab_time()
        finally:
            self._locked = False
            self.runtime.unlock()

    def _list_waits(self) -> None:
        """What every host's files wait for, listed afresh once the workers have stopped: a
        host busy to the end listed them last up to BUSY_WAITS_EVERY earlier, and the report
        (a timeout's) shows these."""
        for host in self.hosts:
            try:
                self._waits[host] = host.waits()
            except Exception:  # the report keeps the last listing; stopping goes on
                logger.exception("could not list what %s %s waits for", host.site, host.name)

    def rescan_all(self, why: str = "") -> None:
        """Every component looks at every inbox again (watcher trouble, or the periodic pass)."""
        if why:
            logger.warning("full rescan: %s", why)
            for site in self.runtime.sites:
                self.runtime.events.emit("full_rescan", site=site.site.code, component=EXECUTIVE,
                                         reason=why)
        for host in self.hosts:
            host.wake(rescan=True)

    # --- the workers --------------------------------------------------------------------------

    def _poke(self, host: ComponentHost) -> None:
        """`host` became wanted: queue it, and let a sleeping worker look. While a short unit
        runs, its worker looks next and no other may start beside it (`_take`): the supervisor
        pokes later, should the unit turn out to be long. Called from any thread."""
        with self._pool:
            self._ready[host] = None
            if self._short_unit_left():
                self._poke_later = True
            else:
                self._pool.notify()

    def _poke_if_due(self) -> None:
        """The supervisor's look: a poke put off while a short unit ran, now that none does."""
        with self._pool:
            if self._poke_later and not self._short_unit_left():
                self._poke_later = False
                self._pool.notify()

    def _short_unit_left(self) -> float:
        """Real seconds until no running unit is short any more (0: none is)."""
        mono = time.monotonic()
        return max([0.0, *(since + LONG_UNIT - mono for since in self._busy.values())])

    def _work(self) -> None:
        while True:
            host = self._take()
            if host is None:
                return
            try:
                self.runtime.count(host.run_unit())
                if not host.wanted.is_set():  # going to sleep: the idle rule asks for these
                    self._waits[host] = host.waits()
                    self._due[host] = host.next_timer()
                elif (mono := time.monotonic()) >= self._waits_next.get(host, 0.0):
                    self._waits[host] = host.waits()  # a busy host's waits show too, a bit late
                    self._waits_next[host] = mono + BUSY_WAITS_EVERY
            except Exception as error:  # the worker must outlive any bug; the next wake retries
                text = self.runtime.relative(f"{type(error).__name__}: {error}")
                host.log.write("Unexpected error in the component's worker thread: "
                               f"{sms_error(error)}; continuing")
                host.reporter.event("component_failed", error=text)
                host.note_failure(error, text)
                self._held[host] = time.monotonic() + self.rescan_every
            finally:
                self._give_back(host)

    def _take(self) -> ComponentHost | None:
        """The wanted host that has waited longest and that no worker runs; sleeps until there
        is one. None when the driver stops."""
        with self._pool:
            while not self.stopping.is_set():
                now, mono = self.clock.now(), time.monotonic()
                if short := self._short_unit_left():
                    self._pool.wait(short)  # until it ends (its worker goes on) or turns long
                    continue
                self._fire_timers(now)
                wake: float | None = None
                chosen: ComponentHost | None = None
                done: list[ComponentHost] = []
                for host in self._ready:  # past those busy or held (after an error), at most
                    if host in self._busy:
                        continue
                    if not host.wanted.is_set():  # woken as it was taken: that unit saw it
                        done.append(host)
                        continue
                    held = self._held.get(host)
                    if held is not None and held > mono:
                        wake = self._earlier(wake, held - mono)
                        continue
                    chosen = host
                    break
                for host in done:  # a later wake queues it again (`_poke`, after `wanted`)
                    del self._ready[host]
                if chosen is not None:
                    del self._ready[chosen]
                    self._busy[chosen] = mono
                    self._sleeping[chosen] = False
                    self._held.pop(chosen, None)
                    return chosen
                if (due := self._next_timer()) is not None:
                    wake = self._earlier(wake, self.clock.real_seconds(due - now))
                self._pool.wait(wake)
        return None

    def _key(self, host: ComponentHost) -> None:
        """Give `host` (no worker runs it) a heap entry at its first timer, stale deferrals
        included, unless it has that one already: at start and after each of its units, so
        a host that keeps one timer through many units keeps one entry. Under the pool's
        lock."""
        first = host.earliest_timer()
        if first != self._timed.get(host):
            self._timed[host] = first
            if first is not None:
                heapq.heappush(self._timers, (first, next(self._order), host))

    def _fire_timers(self, now: float) -> None:
        """`fire_timers(now)` of every host no worker runs whose first timer is at or before
        `now` (it becomes wanted if one was a live timer). A host a worker runs is keyed
        again when its unit ends. Under the pool's lock."""
        heap, timed = self._timers, self._timed
        while heap and heap[0][0] <= now:
            when, _, host = heapq.heappop(heap)
            if timed.get(host) != when:
                continue  # stale
            timed[host] = None  # a busy host's is keyed afresh when its unit ends
            if host in self._busy:
                continue
            host.fire_timers(now)
            self._key(host)

    def _next_timer(self) -> float | None:
        """When the earliest valid heap entry falls due. Under the pool's lock."""
        heap, timed = self._timers, self._timed
        while heap and timed.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    @staticmethod
    def _earlier(a: float | None, b: float) -> float:
        return max(0.0, b) if a is None else min(a, max(0.0, b))

    def _give_back(self, host: ComponentHost) -> None:
        """The unit is done. No worker needs waking: this one looks for work next, and a host
        that became wanted meanwhile has poked the pool already."""
        with self._pool:
            self._busy.pop(host, None)
            self._sleeping[host] = not host.wanted.is_set()
            self._key(host)

    # --- supervision --------------------------------------------------------------------------

    def run(self, *, until_idle: bool = False, timeout: float | None = None,
            stop: threading.Event | None = None,
            on_started: Callable[[LiveDriver], None] | None = None) -> IdleReport | None:
        """Start, supervise, and stop when `stop` is set, when idle (with `until_idle`) or
        after `timeout` real seconds. None means it was stopped by `stop`. `on_started` is
        called once everything runs (the watcher's `kind` is then the one in use)."""
        stop = stop or threading.Event()
        started = time.monotonic()
        next_rescan = started + self.rescan_every
        status: str | None = None
        self.start()
        try:
            if on_started is not None:
                on_started(self)
            while not stop.wait(SUPERVISOR_TICK):
                next_rescan = self.supervise(next_rescan)
                if until_idle and (status := self._idle_status()) is not None:
                    break
                if timeout is not None and time.monotonic() - started >= timeout:
                    status = TIMEOUT
                    break
        finally:
            self.stop()
        if status is None:
            return None
        problems = tuple(self.runtime.problems())
        ended = self.ended_at if self.ended_at is not None else self.clock.now()
        return IdleReport(final_status(status, problems), ended, tuple(self.waits()),
                          errors=self.runtime.error_count, problems=problems)

    def supervise(self, next_rescan: float) -> float:
        """One look of the supervisor: restart a dead watcher, save the running lab time about
        once a second (so a killed run loses little of it), and run the periodic full rescan
        if it is due (at `next_rescan`, monotonic time). Returns when the next one is due."""
        self.watcher.check()
        self._poke_if_due()
        if time.monotonic() >= self._next_clock_save:
            self._next_clock_save = time.monotonic() + CLOCK_SAVE_EVERY
            try:
                self.runtime.save_lab_time(running=True)
            except OSError as e:  # the next save tries again; the run goes on
                logger.warning("could not save the lab time: %s", e)
        if time.monotonic() >= next_rescan:
            self.rescan_all()
            return time.monotonic() + self.rescan_every
        return next_rescan

    def quiet(self) -> bool:
        """No host is running a unit or has been woken."""
        with self._pool:
            return not self._busy and all(self._sleeping.get(h) and not h.wanted.is_set()
                                          for h in self.hosts)

    def waits(self) -> list[WaitLine]:
        return [w for host in self.hosts for w in self._waits.get(host, [])]

    def snapshot(self, *, busy_waits: bool = True) -> LiveSnapshot:
        """This process's state for the idle rule (also asked by a per-site supervisor).

        `busy_waits=False`: a busy process's snapshot leaves out what waits and when its
        timers fall due, which the rule reads only once every process is quiet; it is asked
        every supervisor tick, and the waits of a large lab are long lists."""
        quiet = self.quiet()
        if not (quiet or busy_waits):
            return LiveSnapshot(False, self.runtime.progress_count, self.runtime.last_progress,
                                self.clock.now())
        return LiveSnapshot(quiet, self.runtime.progress_count,
                            self.runtime.last_progress, self.clock.now(), tuple(self.waits()),
                            tuple(d for d in list(self._due.values()) if d is not None))

    def _idle_status(self) -> str | None:
        """The idle rule (idle.LiveIdleRule) for the sites of this process."""
        verdict = self._idle.verdict([self.snapshot(busy_waits=False)])
        if verdict == RESCAN:
            self.rescan_all()
            return None
        return verdict

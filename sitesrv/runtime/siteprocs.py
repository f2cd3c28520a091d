"""`sitesrv run --processes per-site` (or N): live site server processes, one supervisor.

The components of one process share one interpreter lock, so a whole lab in one process works
on about one core. SMS ran a server per site; a process per site does the same here, and the
processes use the machine's cores. Each child is a LiveDriver of its site (its own lock,
recovery, watcher and workers), exactly what `sitesrv run --site CODE` runs; the sites pass
files to each other through the lab's folders as always, and the watchers see them arrive.
A lab of many sites on few cores runs better on a few processes than on one per site (each
costs an interpreter and its start-up): with `--processes N` each child runs a group of sites
(`site_groups`), as `sitesrv run --site A --site B ...` would.

The supervisor (the `sitesrv run` process) starts the children, talks to each over a pipe,
and decides for the whole lab when it is idle by the rule one process uses
(idle.LiveIdleRule), from every child's snapshot: a hand-off between two processes is
confirmed like one within a process, by a full rescan everywhere without progress.

On Linux a child is forked from the supervisor, which has sitesrv imported already (when the
supervisor has no other thread; else, and on Windows and macOS, children are spawned): a second
less start-up than three interpreters that import sitesrv again. A forked child closes its
copies of the supervisor's pipe ends, and also stops when its parent process changes.

Children ignore Ctrl-C and SIGTERM (a terminal sends Ctrl-C to the whole process group): the
supervisor stops them, each after its units in progress have finished. A child whose
supervisor is gone (its pipe closes) stops the same way.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sitesrv.errors import SitesrvError, UserError
from sitesrv.lab.clock import lab_start
from sitesrv.lab.hierarchy import Hierarchy
from sitesrv.lab.layout import LabLayout
from sitesrv.lab.loader import load_lab_hierarchy
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
from sitesrv.runtime.live import SUPERVISOR_TICK, LiveDriver
from sitesrv.runtime.lock import live_holder
from sitesrv.runtime.registry import load_registry

logger = logging.getLogger(__name__)

START_TIMEOUT = 120.0  # real seconds a child may take to start (imports, recovery of its site)
STOP_TIMEOUT = 120.0  # real seconds a child may take to finish its units in progress
ANSWER_TIMEOUT = 60.0  # real seconds a child may take to answer (its main loop never waits long)

# Messages: supervisor -> child
_STATUS, _RESCAN, _STOP = "status", "rescan", "stop"
# child -> supervisor
_STARTED, _FAILED, _SNAPSHOT, _STOPPED = "started", "failed", "snapshot", "stopped"


class ServerProcessError(SitesrvError):
    """A site server process failed or vanished; the others were stopped."""

    exit_code = 1


def site_groups(hierarchy: Hierarchy, sites: list[str], count: int | None) -> list[list[str]]:
    """The sites of each child: one each (`count` None), or spread over `count` children (at
    most one per site), each a run of the hierarchy in depth-first order, so that a site is
    with the sites below it as far as the sizes allow; sizes differ by one at most."""
    if count is None:
        return [[code] for code in sites]
    wanted = set(sites)
    below: dict[str | None, list[str]] = {}
    for site in hierarchy.sites:
        if site.code in wanted:
            below.setdefault(site.parent if site.parent in wanted else None, []).append(site.code)
    order: list[str] = []
    stack = list(reversed(below.get(None, [])))
    while stack:
        code = stack.pop()
        order.append(code)
        stack.extend(reversed(below.get(code, [])))
    count = min(count, len(order))
    size, extra = divmod(len(order), count)
    groups, start = [], 0
    for n in range(count):
        end = start + size + (1 if n < extra else 0)
        groups.append(order[start:end])
        start = end
    return groups


def group_label(sites: list[str]) -> str:
    """How messages name a child: its site, or its sites (the first few)."""
    if len(sites) == 1:
        return sites[0]
    if len(sites) <= 4:
        return f"sites {', '.join(sites[:-1])} and {sites[-1]}"
    return f"sites {', '.join(sites[:3])} and {len(sites) - 3} more"


def _child(conn: Connection, inherited: list[Connection], lab_dir: Path, sites: list[str],
           since: tuple[float, float], components: str, watcher: str, horizon: float | None,
           workers: int, debug: bool) -> None:
    """A child's life: start its sites' LiveDriver, answer the supervisor, stop when told.

    `inherited`: the supervisor's ends of the pipes, which a forked child holds copies of; they
    are closed at once, or a child would never see its supervisor's end close."""
    for other in inherited:
        other.close()
    supervisor = os.getppid()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    if debug:
        log = logging.getLogger("sitesrv")
        for inherited_handler in list(log.handlers):  # a forked child has the supervisor's
            log.removeHandler(inherited_handler)
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(
            f"%(levelname)s {group_label(sites)} %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
    try:
        registry = load_registry(components)
        driver = LiveDriver(lab_dir, components=registry, sites=sites, watcher=watcher,
                            horizon=horizon, workers=workers, clock_since=since)
        driver.start()
    except UserError as e:
        conn.send((_FAILED, str(e), e.exit_code))
        return
    except Exception as e:  # reported by the supervisor, which stops the others
        conn.send((_FAILED, f"{type(e).__name__}: {e}", 1))
        return
    try:
        conn.send((_STARTED, driver.watcher.kind, len(driver.hosts)))
        next_rescan = time.monotonic() + driver.rescan_every
        while os.getppid() == supervisor:  # else the supervisor died (and the pipe with it)
            try:
                message = conn.recv() if conn.poll(SUPERVISOR_TICK) else None
            except (EOFError, OSError):
                return
            if message == _STATUS:
                conn.send(_report(_SNAPSHOT, driver, busy_waits=False))
            elif message == _RESCAN:
                driver.rescan_all()
            elif message == _STOP:
                return
            next_rescan = driver.supervise(next_rescan)
    finally:
        driver.stop()
        with contextlib.suppress(OSError, ValueError):
            conn.send(_report(_STOPPED, driver))


def _report(kind: str, driver: LiveDriver, *,
            busy_waits: bool = True) -> tuple[str, LiveSnapshot, int, tuple[WaitLine, ...]]:
    """A child's state; `busy_waits=False` (the idle rule's look every tick): a busy child's
    leaves out its waits, which only the final report and a quiet lab need. Its problems (a
    short list) always come: the report of a child that never sends `_STOPPED` is built from
    its last look."""
    return (kind, driver.snapshot(busy_waits=busy_waits), driver.runtime.error_count,
            tuple(driver.runtime.problems()))


class _Child:
    """The supervisor's handle on one child."""

    def __init__(self, sites: list[str], process: multiprocessing.process.BaseProcess,
                 conn: Connection) -> None:
        self.sites = sites
        self.label = group_label(sites)
        self.process = process
        self.conn = conn
        self.watcher = ""
        self.components = 0
        # The last _SNAPSHOT (a busy child's without its waits) or _STOPPED message.
        self.report: tuple[Any, ...] | None = None

    def gone(self) -> ServerProcessError:
        logs = (f"its logs below {self.sites[0]}\\SMS\\Logs" if len(self.sites) == 1
                else "the logs below its sites' SMS\\Logs")
        return ServerProcessError(
            f"The site server process of {self.label} stopped unexpectedly (exit code "
            f"{self.process.exitcode}); {logs} may say why. The other sites' servers were "
            "stopped; run again to go on.")

    def receive(self, timeout: float) -> tuple[Any, ...] | None:
        """The child's next message, or None if it sent none within `timeout` (seconds);
        ServerProcessError if the child is gone."""
        try:
            if self.conn.poll(timeout):
                return self.conn.recv()
        except (EOFError, OSError):
            self.process.join(STOP_TIMEOUT)  # its pipe closed: it is on its way out
        if not self.process.is_alive():
            raise self.gone()
        return None

    def send(self, message: str) -> None:
        try:
            self.conn.send(message)
        except OSError:
            self.process.join(STOP_TIMEOUT)
            raise self.gone() from None

    def ask_status(self) -> LiveSnapshot:
        """The child's snapshot (and its counts, kept in `report`)."""
        self.send(_STATUS)
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while (reply := self.receive(SUPERVISOR_TICK)) is None:
            if time.monotonic() > deadline:
                raise ServerProcessError(f"The site server process of {self.label} did not "
                                         f"answer within {ANSWER_TIMEOUT:.0f} s.")
        if reply[0] != _SNAPSHOT:  # it stopped by itself: its main loop failed
            raise self.gone()
        self.report = reply
        return reply[1]


class SiteProcesses:
    """Supervises one LiveDriver process per site, or per group of sites (`processes`: how
    many; None, one per site); `run` is LiveDriver.run's counterpart."""

    def __init__(self, lab_root: Path, *, sites: list[str] | None = None,
                 components: str, watcher: str, horizon: float | None = None,
                 workers: int, debug: bool = False, start_method: str | None = None,
                 processes: int | None = None) -> None:
        hierarchy = load_lab_hierarchy(lab_root)
        self.lab_root = lab_root
        # As the hierarchy spells them (`--site p01` is P01); UserError for an unknown site,
        # before any process starts.
        self.sites = list(dict.fromkeys(
            hierarchy.site(code).code for code in sites or [s.code for s in hierarchy.sites]))
        if processes is not None and processes < 1:
            raise ValueError(f"processes must be 1 or more, not {processes}")
        layout = LabLayout(lab_root, hierarchy)
        for code in self.sites:  # and one that runs already: before any site has done anything
            holder = live_holder(layout.site(code))
            if holder is not None:
                raise UserError(f"Site {code}'s server is already running (pid {holder.pid}, "
                                f"started {holder.started}). Stop it first, or pass --lab with "
                                "another lab.")
        self.groups = site_groups(hierarchy, self.sites, processes)
        self.horizon = default_horizon(hierarchy.timing) if horizon is None else horizon
        self.args = (components, watcher, horizon, workers, debug)
        self.workers = workers
        self.start_method = start_method
        self.children: list[_Child] = []

    @property
    def watcher_kind(self) -> str:
        kinds = sorted({c.watcher for c in self.children})
        return "/".join(kinds)

    @property
    def components(self) -> int:
        return sum(c.components for c in self.children)

    def run(self, *, until_idle: bool = False, timeout: float | None = None,
            stop: threading.Event | None = None,
            on_started: Callable[[SiteProcesses], None] | None = None) -> IdleReport | None:
        """Start the children, supervise, and stop them all when `stop` is set, when the lab is
        idle (with `until_idle`) or after `timeout` real seconds. None: stopped by `stop`.

        The report is built from what each child tells as it stops, as one process builds
        its report after stopping."""
        stop = stop or threading.Event()
        started = time.monotonic()
        rule = LiveIdleRule(self.horizon)
        status: str | None = None
        try:
            self._start(stop)
            if stop.is_set():
                return None
            if on_started is not None:
                on_started(self)
            while not stop.wait(SUPERVISOR_TICK):
                for child in self.children:
                    child.receive(0)  # notices a child that died
                if until_idle:
                    status = rule.verdict([child.ask_status() for child in self.children])
                    if status == RESCAN:
                        for child in self.children:
                            child.send(_RESCAN)
                        status = None
                    if status is not None:
                        break
                if timeout is not None and time.monotonic() - started >= timeout:
                    status = TIMEOUT
                    break
        finally:
            self._stop()
        if status is None:
            return None
        reports = [c.report for c in self.children if c.report is not None]
        views: list[LiveSnapshot] = [r[1] for r in reports]
        problems: tuple[WaitLine, ...] = tuple(p for r in reports for p in r[3])
        return IdleReport(final_status(status, problems),
                          max((v.now for v in views), default=time.time()),
                          tuple(w for v in views for w in v.waits),
                          errors=sum(r[2] for r in reports), problems=problems)

    def _start(self, stop: threading.Event) -> None:
        """Start every child and wait until each has started (or one failed: UserError or
        ServerProcessError, after the others were stopped)."""
        method = self.start_method or start_method()
        context = multiprocessing.get_context(method)
        layout = LabLayout(Path(self.lab_root), load_lab_hierarchy(self.lab_root))
        since = (time.time(), lab_start(layout.sites()))
        for group in self.groups:
            mine, theirs = context.Pipe()
            inherited = [c.conn for c in self.children] + [mine] if method == "fork" else []
            process = context.Process(target=_child, name=f"sitesrv-{'-'.join(group)}"[:64],
                                      args=(theirs, inherited, self.lab_root, group, since,
                                            *self.args))
            process.start()
            theirs.close()
            self.children.append(_Child(group, process, mine))
        deadline = time.monotonic() + START_TIMEOUT
        for child in self.children:
            try:
                while (message := child.receive(SUPERVISOR_TICK)) is None:
                    if stop.is_set():
                        return
                    if time.monotonic() > deadline:
                        raise ServerProcessError(f"The site server process of {child.label} "
                                                 f"did not start within {START_TIMEOUT:.0f} s.")
            except ServerProcessError:
                if stop.is_set():  # Ctrl-C reached a child before it could ignore it
                    return
                raise
            if message[0] == _FAILED:
                if message[2] == UserError.exit_code:
                    raise UserError(message[1])  # names the site or the lab already
                raise ServerProcessError(f"The site server process of {child.label} could "
                                         f"not start: {message[1]}")
            child.watcher, child.components = message[1], message[2]

    def _stop(self) -> None:
        """Tell every child to stop, wait for each to finish its units (keeping the report it
        sends as it stops), and reap it; kill one that does not stop in time."""
        for child in self.children:
            with contextlib.suppress(OSError):
                child.conn.send(_STOP)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in self.children:
            with contextlib.suppress(ServerProcessError):
                while time.monotonic() < deadline:
                    message = child.receive(SUPERVISOR_TICK)
                    if message is not None and message[0] == _STOPPED:
                        child.report = message
                        break
            child.process.join(max(0.0, deadline - time.monotonic()))
            if child.process.is_alive():
                logger.warning("the site server process of %s did not stop within %.0f s; "
                               "killing it", child.label, STOP_TIMEOUT)
                child.process.kill()  # it ignores SIGTERM
                child.process.join(STOP_TIMEOUT)
            child.conn.close()


def start_method() -> str:
    """Fork on Linux while this process has no other thread (fork copies only the calling
    thread, and whatever locks the others held); spawn elsewhere (Windows has no fork, macOS
    frameworks are not fork-safe)."""
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "spawn"

"""`sitesrv run --processes per-site`: one live site server process per site, one supervisor.

The components of one process share one interpreter lock, so a whole lab in one process works
on about one core. SMS ran a server per site; a process per site does the same here, and the
processes use the machine's cores. Each child is a LiveDriver of its one site (its own lock,
recovery, watcher and workers), exactly what `sitesrv run --site CODE` runs; the sites pass
files to each other through the lab's folders as always, and the watchers see them arrive.

The supervisor (the `sitesrv run` process) starts the children, talks to each over a pipe, and decides for the whole lab when it is idle by the rule
one process uses (idle.LiveIdleRule), from every child's snapshot: a hand-off between two
processes is confirmed like one within a process, by a full rescan everywhere without progress.

On Linux a child is forked from the supervisor, which has sitesrv imported already and no other
thread yet: a second's less start-up than spawning three interpreters that import it again.
Elsewhere (Windows, macOS) children are spawned.

Children ignore Ctrl-C and SIGTERM (a terminal sends Ctrl-C to the whole process group): the
supervisor stops them, each after its units in progress have finished. A child whose
supervisor is gone (its pipe closes) stops the same way.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sitesrv.errors import SitesrvError, UserError
from sitesrv.lab import Lab
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
from sitesrv.runtime.registry import SMS_COMPONENTS, load_registry

logger = logging.getLogger(__name__)

# How children start: fork only where it is safe and usual (macOS frameworks are not fork-safe).
START_METHOD = "fork" if sys.platform.startswith("linux") else "spawn"
START_TIMEOUT = 120.0  # real seconds a child may take to start (imports, recovery of its site)
STOP_TIMEOUT = 120.0  # real seconds a child may take to finish its units in progress

# Messages: supervisor -> child
_STATUS, _RESCAN, _STOP = "status", "rescan", "stop"
# child -> supervisor
_STARTED, _FAILED, _SNAPSHOT, _STOPPED = "started", "failed", "snapshot", "stopped"


class ServerProcessError(SitesrvError):
    """A site server process failed or vanished; the others were stopped."""

    exit_code = 1


def _child(conn: Connection, lab_dir: Path, site: str, components: str | None, watcher: str,
           horizon: float | None, workers: int, debug: bool) -> None:
    """A child's life: start one site's LiveDriver, answer the supervisor, stop when told."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    if debug:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(f"%(levelname)s {site} %(name)s: %(message)s"))
        logging.getLogger("sitesrv").addHandler(handler)
        logging.getLogger("sitesrv").setLevel(logging.DEBUG)
    try:
        registry = load_registry(components) if components else SMS_COMPONENTS
        driver = LiveDriver(lab_dir, components=registry, sites=[site], watcher=watcher,
                            horizon=horizon, workers=workers)
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
        while True:
            try:
                message = conn.recv() if conn.poll(SUPERVISOR_TICK) else None
            except (EOFError, OSError):
                return  # the supervisor is gone
            if message == _STATUS:
                conn.send((_SNAPSHOT, driver.snapshot(), driver.runtime.error_count,
                           tuple(driver.runtime.problems())))
            elif message == _RESCAN:
                driver.rescan_all()
            elif message == _STOP:
                return
            next_rescan = driver.supervise(next_rescan)
    finally:
        driver.stop()
        with contextlib.suppress(OSError, ValueError):
            conn.send((_STOPPED,))


class _Child:
    """The supervisor's handle on one child."""

    def __init__(self, site: str, process: multiprocessing.process.BaseProcess,
                 conn: Connection) -> None:
        self.site = site
        self.process = process
        self.conn = conn
        self.watcher = ""
        self.components = 0

    def receive(self, timeout: float) -> tuple[Any, ...] | None:
        """The child's next message, or None if it sent none within `timeout` (seconds)."""
        try:
            if self.conn.poll(timeout):
                return self.conn.recv()
        except (EOFError, OSError):
            pass
        if not self.process.is_alive():
            raise ServerProcessError(
                f"The site server process of {self.site} stopped unexpectedly (exit code "
                f"{self.process.exitcode}); its logs below {self.site}\\SMS\\Logs may say why. "
                "The other sites' servers were stopped; run again to go on.")
        return None

    def ask(self, message: str) -> tuple[Any, ...]:
        self.conn.send(message)
        while (reply := self.receive(SUPERVISOR_TICK)) is None:
            pass
        return reply


class SiteProcesses:
    """Supervises one LiveDriver process per site; `run` is LiveDriver.run's counterpart."""

    def __init__(self, lab_root: Path, *, sites: list[str] | None = None,
                 components: str | None = None, watcher: str, horizon: float | None = None,
                 workers: int, debug: bool = False, start_method: str = START_METHOD) -> None:
        hierarchy = Lab.open(lab_root).hierarchy
        self.start_method = start_method
        self.lab_root = lab_root
        self.sites = sites or [s.code for s in hierarchy.sites]
        for code in self.sites:
            hierarchy.site(code)  # UserError for an unknown site, before any process starts
        self.horizon = default_horizon(hierarchy.timing) if horizon is None else horizon
        self.args = (components, watcher, horizon, workers, debug)
        self.workers = workers
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
        idle (with `until_idle`) or after `timeout` real seconds. None: stopped by `stop`."""
        stop = stop or threading.Event()
        started = time.monotonic()
        rule = LiveIdleRule(self.horizon)
        status: str | None = None
        snapshots: list[tuple[Any, ...]] = []
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
                    snapshots = [child.ask(_STATUS) for child in self.children]
                    status = rule.verdict([s[1] for s in snapshots])
                    if status == RESCAN:
                        for child in self.children:
                            child.conn.send(_RESCAN)
                        status = None
                    if status is not None:
                        break
                if timeout is not None and time.monotonic() - started >= timeout:
                    status = TIMEOUT
                    snapshots = [child.ask(_STATUS) for child in self.children]
                    break
        finally:
            self._stop()
        if status is None:
            return None
        views: list[LiveSnapshot] = [s[1] for s in snapshots]
        problems: tuple[WaitLine, ...] = tuple(p for s in snapshots for p in s[3])
        return IdleReport(final_status(status, problems), max(v.now for v in views),
                          tuple(w for v in views for w in v.waits),
                          errors=sum(s[2] for s in snapshots), problems=problems)

    def _start(self, stop: threading.Event) -> None:
        """Start every child and wait until each has started (or one failed: UserError or
        ServerProcessError, after the others were stopped)."""
        context = multiprocessing.get_context(self.start_method)
        for site in self.sites:
            mine, theirs = context.Pipe()
            process = context.Process(target=_child, name=f"sitesrv-{site}",
                                      args=(theirs, self.lab_root, site, *self.args))
            process.start()
            theirs.close()
            self.children.append(_Child(site, process, mine))
        deadline = time.monotonic() + START_TIMEOUT
        for child in self.children:
            while (message := child.receive(SUPERVISOR_TICK)) is None:
                if stop.is_set():
                    return
                if time.monotonic() > deadline:
                    raise ServerProcessError(f"The site server process of {child.site} did not "
                                             f"start within {START_TIMEOUT:.0f} s.")
            if message[0] == _FAILED:
                if message[2] == UserError.exit_code:
                    raise UserError(message[1])  # names the site or the lab already
                raise ServerProcessError(f"The site server process of {child.site} could not "
                                         f"start: {message[1]}")
            child.watcher, child.components = message[1], message[2]

    def _stop(self) -> None:
        """Tell every child to stop, wait for each to finish its units, and reap it."""
        for child in self.children:
            with contextlib.suppress(OSError):
                child.conn.send(_STOP)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in self.children:
            child.process.join(max(0.0, deadline - time.monotonic()))
            if child.process.is_alive():
                logger.warning("the site server process of %s did not stop within %.0f s; "
                               "terminating it", child.site, STOP_TIMEOUT)
                child.process.terminate()
                child.process.join()
            child.conn.close()

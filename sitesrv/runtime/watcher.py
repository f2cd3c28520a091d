"""The live driver's one watchdog observer: hints that wake a folder's owner, supervised.

Events are hints, never the list of work (docs/architecture.md): a handler only names the file that
arrived, which its owner looks at (and the runtime drops the echo of a file it published itself and
has already announced). So it is cheap, and whatever the watcher did not name is found by a full
rescan: when events were lost, when a handler failed, and periodically. What watchdog gets wrong is
covered here:
- an exception in a handler kills the observer thread: every handler body is guarded (a hint
  that fails is a file no owner was told of: `check()` asks for a full rescan), and `check()`
  restarts a dead observer and asks for a full rescan;
- inotify's queue overflows silently under bursts: watchdog 7.1 only logs
  "Inotify queue overflowed; filesystem events were lost" on `watchdog.observers.inotify_c`,
  so a logging handler there asks for a full rescan, as the native observers'
  `EventsLostEvent` (ReadDirectoryChangesW's buffer overflowing) does: both through `check()`;
- inotify is unavailable (watch limits) or blind (network file systems): `polling` instead.
On Linux the observer is inotify with an arrivals-only mask (below). Where there is no inotify
(macOS, Windows, BSD) it is watchdog's platform `Observer` (FSEvents, ReadDirectoryChangesW,
kqueue), reported as `native`. If the observer cannot start, for whatever reason (inotify watch
limits, a platform library that fails to load), the watcher logs why and polls instead.
One recursive watch per site covers all its inboxes (`<SITE>\\SMS\\inboxes`); the site root
would add SMSPKG and the DP shares, whose large writes would only flood the queue.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdog.events import (
    EventsLostEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver, EventEmitter
from watchdog.observers.polling import PollingObserver

from sitesrv.lab.boxes import WORK_DIR, ignored_by_scans
from sitesrv.runtime.defaults import INOTIFY, POLLING, WATCHERS

if TYPE_CHECKING:
    from watchdog.observers.inotify_c import InotifyFD

logger = logging.getLogger(__name__)

NATIVE = "native"  # what the watcher reports when it uses watchdog's platform Observer
OVERFLOW_LOGGER = "watchdog.observers.inotify_c"
OVERFLOW_MESSAGE = "Inotify queue overflowed"
POLL_INTERVAL = 1.0
# How long inotify's reader lets a burst's events gather before it passes them on, and the most
# it passes on at once: one wake-up of watchdog's dispatcher per burst, not per event.
GATHER_SECONDS = 0.002
GATHER_MAX_BYTES = 1 << 20
READER_DEATHS = 3  # deaths of the inotify reader after which the watcher polls instead
# The events that can mean "a file is now complete under a name in this folder".
WAKING_EVENTS = (FileCreatedEvent, FileMovedEvent, FileClosedEvent)


def hint_path(event: FileSystemEvent) -> str | None:
    """The path a hint names, or None for an event that can mean no new work: a folder's
    events (watchdog adds a "modified" event of the folder to every arrival), temp and
    dot-file names, and claims (renames into an inbox's work folder)."""
    if event.is_directory or not isinstance(event, WAKING_EVENTS):
        return None
    path = os.fsdecode(event.dest_path if event.event_type == "moved" else event.src_path)
    return path if may_be_work(*os.path.split(path)) else None


def may_be_work(folder: str, name: str) -> bool:
    """Whether a file arriving as `name` in `folder` may be work: no temp or dot-file name,
    no claim (a rename into an inbox's work folder)."""
    return not ignored_by_scans(name) and os.path.basename(folder) != WORK_DIR


class _Hints(FileSystemEventHandler):
    """Turns each arrival into a hint with its path, and events lost into `lost(reason)`;
    never lets an exception out."""

    def __init__(self, route: Callable[[str], None], lost: Callable[[str], None]) -> None:
        self.route = route
        self.lost = lost

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            if isinstance(event, EventsLostEvent):
                self.lost("the file system watcher lost events")
            elif (path := hint_path(event)) is not None:
                self.route(path)
        except Exception:
            logger.exception("ignoring a failure while handling %r", event)


def inotify_available() -> bool:
    """Whether this is Linux with a usable inotify (watchdog's own test, without its warning)."""
    from watchdog.utils import platform

    if not platform.is_linux():
        return False
    try:
        import watchdog.observers.inotify  # noqa: F401  (raises UnsupportedLibcError etc.)
    except Exception:
        return False
    return True


def platform_observer() -> BaseObserver:
    """watchdog's observer for this platform: FSEvents, ReadDirectoryChangesW, kqueue, ..."""
    from watchdog.observers import Observer

    return Observer()


def arrivals_emitter(route: Callable[[str], None]) -> type[EventEmitter]:
    """An inotify emitter that asks the kernel only for arrivals (created, moved in, written),
    and hands a file's arrival to `route` from the thread that reads the events.

    Without IN_MOVED_FROM there are no moves to pair, and pairing is what hurts: watchdog holds
    an IN_MOVED_FROM for up to 0.5 s waiting for its IN_MOVED_TO, and every later event of the
    watch waits behind it; under a burst it also searches its queue for each pair. A file
    renamed into a folder then comes as a created event, which is all a hint needs. Opens,
    writes and deletes stay out of the queue too.

    watchdog passes each event through three threads before a handler sees it (its reader,
    its dispatcher, this emitter's thread, then the observer's), each hand-off a wake-up and a
    turn of the interpreter lock. A file's event needs none of what they do (pairing moves,
    following new folders), so the watch group takes it where watchdog's dispatcher parses it:
    an event that names no work (`hint_path`: a temp file written, about half of a busy lab's
    events, told by its name before its folder is looked up) is dropped there, and an arrival
    goes to `route` at once (`route` must not raise: the dispatcher's thread would stop). Work
    folders (`.work`) are not watched at all: their events (claims, a fifth of the rest) could
    never be hints. A folder's events and the queue's overflow take watchdog's own way.
    (Imported late: inotify is Linux only.)
    """
    from watchdog.observers.inotify import InotifyEmitter, InotifyWatchGroup
    from watchdog.observers.inotify_c import InotifyConstants as In
    from watchdog.observers.inotify_c import InotifyEvent, Mask

    arrivals = In.IN_CREATE | In.IN_MOVED_TO | In.IN_CLOSE_WRITE
    work_folder = os.fsencode(WORK_DIR)

    class ArrivalsWatchGroup(InotifyWatchGroup):
        def on_event(self, event: InotifyEvent) -> None:
            if event.is_directory or not event.mask & arrivals:
                super().on_event(event)
                return
            try:
                path = self._hint_path(event)
            except Exception:  # the dispatcher's thread must go on, and the file be seen
                logger.exception("handing %r to watchdog's own route after a failure", event)
                super().on_event(event)
                return
            if path is not None:
                route(path)

        def _hint_path(self, event: InotifyEvent) -> str | None:
            """What `hint_path` says of the event watchdog would make of this one."""
            name = os.fsdecode(event.name)
            if ignored_by_scans(name):  # a temp file written: half the events, by name alone
                return None
            with self._lock:
                folder = self._resolve_path(event.wd) if self.is_active else None
            if folder is None:
                return None
            folder = os.fsdecode(folder)
            return os.path.join(folder, name) if may_be_work(folder, name) else None

        def _add_callback(self, path: bytes) -> None:
            """No watch on a work folder or below one: every event there is a claim, a
            put-back's source or a rewrite, none of them a hint (`may_be_work`). Only the
            folders below the watched root count: a lab may live below any folder."""
            if work_folder not in path[len(self.path):].split(os.sep.encode()):
                super()._add_callback(path)

    class ArrivalsEmitter(InotifyEmitter):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if kwargs.get("inotify_fd") is None:
                kwargs["inotify_fd"] = gathering_reader()
            self.reader: InotifyFD = kwargs["inotify_fd"]
            super().__init__(*args, **kwargs)

        def get_event_mask_from_filter(self) -> Mask:
            return Mask(arrivals | In.IN_DELETE_SELF)

        def on_thread_start(self) -> None:
            self._inotify = ArrivalsWatchGroup(
                self._inotify_fd, os.fsencode(self.watch.path),
                is_recursive=self.watch.is_recursive,
                event_mask=self.get_event_mask_from_filter(),
                follow_symlink=self.watch.follow_symlink)

        def queue_event(self, event: FileSystemEvent) -> None:
            try:
                wanted = hint_path(event) is not None
            except Exception:
                wanted = True  # let the handler see it, and report the failure
            if wanted:
                super().queue_event(event)

    return ArrivalsEmitter


_reader_lock = threading.Lock()
_reader: InotifyFD | None = None


def gathering_reader() -> InotifyFD:
    """The process's inotify reader for arrivals emitters, started at first use, as watchdog's
    own shared reader is, and made again if its thread has ended (`Watcher.check` restarts the
    observer when it finds it so)."""
    global _reader
    with _reader_lock:
        if _reader is None or not _reader.is_alive():
            _reader = _gathering_reader_class()()
            _reader.start()
        return _reader


@functools.cache
def _gathering_reader_class() -> type[InotifyFD]:
    """watchdog's inotify reader, waking its dispatcher once per burst of events.

    watchdog's reader thread reads the inotify descriptor as soon as it is readable, so a busy
    lab's events come one or two per read: each a poll, a read and a wake-up of the dispatcher
    thread, half the watcher's CPU. This one, once the descriptor is readable, lets the events
    gather for GATHER_SECONDS and reads all that came: a hint is that much later, and costs
    a fraction of the CPU. (Imported late: inotify is Linux only.)
    """
    from watchdog.observers.inotify_c import InotifyFD

    class GatheringInotifyFD(InotifyFD):
        def _read_event_buffer(self, event_buffer_size: int,
                               timeout_ms: int | None = None) -> bytes:
            first = super()._read_event_buffer(event_buffer_size, timeout_ms)
            if not first or timeout_ms is not None:  # closed, or watchdog's own short polls
                return first
            time.sleep(GATHER_SECONDS)
            chunks, size = [first], len(first)
            while size < GATHER_MAX_BYTES:
                more = super()._read_event_buffer(event_buffer_size, 0)
                if not more:
                    break
                chunks.append(more)
                size += len(more)
            return b"".join(chunks)

    return GatheringInotifyFD


class _Overflow(logging.Handler):
    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self.on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if record.getMessage().startswith(OVERFLOW_MESSAGE):
                self.on_overflow()
        except Exception:
            self.handleError(record)


class Watcher:
    """One observer with one recursive watch per root, restarted when it dies."""

    def __init__(self, roots: list[Path], kind: str, *, route: Callable[[str], None],
                 rescan: Callable[[str], None]) -> None:
        if kind not in WATCHERS:
            raise ValueError(f"unknown watcher {kind!r}")
        self.roots = roots
        self.kind = kind
        self.route = route
        self.rescan = rescan
        self.restarts = 0
        self.reader_deaths = 0
        self._overflow = _Overflow(lambda: self._lose("the inotify queue overflowed"))
        self.observer: BaseObserver | None = None
        # Why files may have arrived that no hint named (events lost, a hint that failed), for
        # `check()`'s full rescan: set from the observer's threads, so that a burst asks for
        # one rescan, not one each.
        self._lost: str | None = None

    def start(self) -> None:
        logging.getLogger(OVERFLOW_LOGGER).addHandler(self._overflow)
        self.observer = self._start_observer()

    def _start_observer(self) -> BaseObserver:
        if self.kind == POLLING:
            return self._observe(PollingObserver(timeout=POLL_INTERVAL), POLLING)
        try:
            if inotify_available():
                return self._observe(BaseObserver(arrivals_emitter(self._hint)), INOTIFY)
            observer = platform_observer()
            kind = POLLING if isinstance(observer, PollingObserver) else NATIVE
            return self._observe(observer, kind)
        except Exception as e:  # watch limits, a platform library that fails to load, ...
            logger.warning("the file system watcher could not start (%s: %s); watching by "
                           "polling instead", type(e).__name__, e)
            return self._observe(PollingObserver(timeout=POLL_INTERVAL), POLLING)

    def _hint(self, path: str) -> None:
        """Route one hint; never lets an exception out (it would stop the watcher's thread).
        A hint that fails is a file no component was told of: `check()` rescans for it."""
        try:
            self.route(path)
        except Exception:
            logger.exception("a full rescan after a failure while handling the arrival of %s",
                             path)
            self._lose("the arrival of a file could not be handled")

    def _lose(self, reason: str) -> None:
        self._lost = reason

    def _observe(self, observer: BaseObserver, kind: str) -> BaseObserver:
        handler = _Hints(self._hint, self._lose)
        try:
            for root in self.roots:
                observer.schedule(handler, str(root), recursive=True)
            observer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                observer.stop()
            raise
        self.kind = kind
        return observer

    def check(self) -> bool:
        """Restart the observer if it died, or the inotify reader its emitters share; True if
        one had (a full rescan was asked for). A reader that has died READER_DEATHS times
        (a watchdog whose insides changed under sitesrv's reader, say) is given up for polling,
        rather than restarted at every look. Events lost, or a hint that failed, since the last
        look: one full rescan."""
        lost, self._lost = self._lost, None
        if lost is not None:  # the rescan lists what came before the flag was taken, too
            self.rescan(lost)
        if self.observer is None:
            return False
        readers = [reader for emitter in list(self.observer.emitters)
                   if (reader := getattr(emitter, "reader", None)) is not None]
        reader_died = not all(reader.is_alive() for reader in readers)
        if self.observer.is_alive() and not reader_died:
            return False
        self._stop_observer()
        self.restarts += 1
        if reader_died:
            self.reader_deaths += 1
            if self.reader_deaths >= READER_DEATHS:
                logger.warning("the inotify reader stopped %d times; watching by polling "
                               "instead", self.reader_deaths)
                self.kind = POLLING
        self.observer = self._start_observer()
        self.rescan("the file system watcher stopped and was restarted")
        return True

    def _stop_observer(self) -> None:
        observer, self.observer = self.observer, None
        if observer is not None:
            try:
                observer.stop()
                observer.join(timeout=5)
            except Exception:
                logger.exception("ignoring a failure while stopping the watcher")

    def stop(self) -> None:
        logging.getLogger(OVERFLOW_LOGGER).removeHandler(self._overflow)
        self._stop_observer()

"""One site server per site: `<SITE>\\SMS\\state\\server.lock`, held while a driver runs the site.

Two processes running one site would return each other's claimed files (`.work\\`) at start-up
and work on the same inboxes. So each driver takes the lock of every site it runs before the
start-up recovery, and gives it back when it stops (also after Ctrl-C or an error).

The lock is a small JSON file: the holder's pid, host name, start time (real time, UTC), a
random token, so a process only ever removes its own lock, and (where `/proc` tells it) the
process's own start in clock ticks since boot, so `sitesrv fault kill` can tell the holder from
a process that got its pid later. It appears complete or not at all:
the holder writes it under a temp name (`.server.lock.<pid>-<token>.tmp`) and hard-links that to
`server.lock`, which fails if the lock exists (exclusive, like `O_EXCL`). A server killed at any
moment of start-up therefore never leaves an empty lock behind. On a file system without hard
links it falls back to `os.open` with `O_EXCL`, then writes. A lock whose holder is gone is stale
and taken over, with a warning and a `server_lock_taken_over` event:
- on this host (POSIX), the holder is gone when no process has its pid (`os.kill(pid, 0)`);
- on Windows, where `os.kill` would terminate the process, the pid is not checked: a lock is
  stale once it is older than `WINDOWS_STALE_AFTER` (12 hours);
- a lock of another host (a lab on a shared folder) is never judged: delete it by hand.
A lock file that cannot be read (written by the fallback, whose holder died while writing it)
is stale once it is a minute old. Temp files of starters that died before removing them are
removed by the next holder. A recycled pid makes a stale lock look held: the message says which
file to delete.

The lock is never taken through a link: the `state` folder (and every folder above it from the
site's folder) is made a real folder first, a link or a file in its place moved aside
(files/folders.py), and the lock file is only ever created new and read if it is a regular
file; a link, FIFO or folder under its name is moved aside to `server.lock.refused`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import attrs

from sitesrv.errors import UserError
from sitesrv.files.atomic import Durability, write_temp
from sitesrv.files.folders import is_folder, moved_aside, own_folders
from sitesrv.files.names import refused_file_name
from sitesrv.files.regular import STATE_FILE_BYTES, FileTooLarge, NotRegularFile, read_limited
from sitesrv.lab.layout import SiteLayout

logger = logging.getLogger(__name__)

LOCK_FILE = "server.lock"
WINDOWS_STALE_AFTER = 12 * 3600.0  # real seconds
UNREADABLE_STALE_AFTER = 60.0  # real seconds: time enough for a holder to write its lock
ATTEMPTS = 5


@attrs.frozen
class Holder:
    """Who holds a site's lock, as its lock file says."""

    pid: int
    host: str
    started: str  # real time, `2025-06-02T14:03:11Z`
    token: str
    ticks: int | None = None  # the process's start, `process_start(pid)`; None: unknown

    def to_json(self) -> str:
        return json.dumps(attrs.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Holder | None:
        try:
            raw = json.loads(text)
            ticks = raw.get("ticks")
            return cls(pid=int(raw["pid"]), host=str(raw["host"]), started=str(raw["started"]),
                       token=str(raw["token"]), ticks=None if ticks is None else int(ticks))
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def still_running(self) -> bool:
        """Whether the process running as `pid` is this holder (not one that got the pid after
        the holder died): its start is the one recorded. False where that cannot be told (no
        `/proc`, a lock written without it)."""
        return self.ticks is not None and process_start(self.pid) == self.ticks

    def pid_given_away(self) -> bool:
        """Whether `pid` is another process now (the holder died, the pid was given again):
        its start, read, is not the one recorded. False where that cannot be told (no `/proc`,
        a process of another user hidden, a lock written without it): then the pid decides."""
        if self.ticks is None:
            return False
        now = process_start(self.pid)
        return now is not None and now != self.ticks

    def started_at(self) -> float | None:
        try:
            return datetime.strptime(self.started, "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=UTC).timestamp()
        except ValueError:
            return None


def process_start(pid: int) -> int | None:
    """When the process `pid` started, in clock ticks since boot (field 22 of
    `/proc/<pid>/stat`); None where there is no such file or process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read(4096)
        return int(text[text.rindex(b")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def can_check_pids() -> bool:
    """Whether `pid_alive` works here (POSIX); on Windows `os.kill` would end the process."""
    return os.name != "nt"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (POSIX)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to someone else
        return True
    except OSError:
        return False
    return True


# os.link's failures on a file system without hard links (FAT, some network shares): POSIX
# errnos, and Windows' ERROR_INVALID_FUNCTION (1) and ERROR_NOT_SUPPORTED (50).
_NO_LINK_ERRNOS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EXDEV,
                   errno.EMLINK}
_NO_LINK_WINERRORS = {1, 50}


def no_hard_links(e: OSError) -> bool:
    """Whether os.link failed because the file system has no hard links (then: O_EXCL)."""
    winerror = getattr(e, "winerror", None)
    if winerror is not None:
        return winerror in _NO_LINK_WINERRORS
    return e.errno in _NO_LINK_ERRNOS


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read(path: Path) -> str:
    """The text of a lock file, never through a link nor from a FIFO (NotRegularFile); one
    too big to be a lock reads as nothing (an unreadable lock)."""
    try:
        return read_limited(path, STATE_FILE_BYTES).decode("utf-8", errors="replace")
    except FileTooLarge:
        return ""


class SiteLock:
    """The lock of one site's server."""

    def __init__(self, site: SiteLayout,
                 on_takeover: Callable[[str, Holder], None] | None = None) -> None:
        self.site = site.site.code
        self.root = site.root
        self.path = site.state_dir / LOCK_FILE
        self.on_takeover = on_takeover
        self.holder: Holder | None = None
        # What was moved aside to make the state folder a real one: (name, where, its mode).
        self.moved: list[tuple[Path, Path, int]] = []

    def acquire(self) -> None:
        """Take the lock, or raise UserError naming the server that holds it, or saying why
        the site's state folder cannot hold one (not writable, say)."""
        try:
            self._acquire()
        except (UserError, FileExistsError, FileNotFoundError):
            raise
        except OSError as e:
            advice = ("Make that folder writable for this user (and the folders above it)"
                      if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else
                      "Fix that (free space on its drive, repair the folder)")
            raise UserError(f"Cannot take site {self.site}'s server lock in "
                            f"{self.path.parent}: {e.strerror or e}. {advice}, then run the "
                            "command again.") from None

    def _acquire(self) -> None:
        self.moved, _ = own_folders(self.path.parent, self.root)
        for name, aside, mode in self.moved:
            logger.warning("Site %s: %s", self.site, moved_aside(str(name), str(aside), mode))
        mine = Holder(os.getpid(), socket.gethostname(), _now_text(), secrets.token_hex(8),
                      process_start(os.getpid()))
        for _ in range(ATTEMPTS):
            try:
                self._create(mine)
            except FileExistsError:
                self._judge_existing()
                continue
            except FileNotFoundError:  # the next holder swept our temp away: write it again
                continue
            self.holder = mine
            self._remove_dead_temps()
            return
        raise UserError(f"Could not take the lock {self.path} of site {self.site}'s server: "
                        "other processes keep taking it. Stop them first.")

    def _create(self, mine: Holder) -> None:
        """Create the lock with its content in one step; FileExistsError if it exists."""
        text = mine.to_json() + "\n"
        tmp = self.path.with_name(f".{LOCK_FILE}.{mine.pid}-{mine.token}.tmp")
        write_temp(tmp, text.encode("utf-8"), Durability.NONE, exclusive=True)
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            raise
        except OSError as e:
            if not no_hard_links(e):
                raise
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
        finally:
            # Never fail over the temp: Windows refuses to delete it while another starter
            # reads the lock it is linked to; the next holder removes it by age then.
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _remove_dead_temps(self) -> None:
        """Remove temp files of lock writers that died before removing them (we hold the lock);
        best effort, as the lock is taken already."""
        for tmp in self.path.parent.glob(f".{LOCK_FILE}.*.tmp"):
            pid, _, _ = tmp.name[len(LOCK_FILE) + 2:].partition("-")
            dead = can_check_pids() and not (pid.isdigit() and pid_alive(int(pid)))
            with contextlib.suppress(OSError):
                if dead or time.time() - tmp.stat().st_mtime >= UNREADABLE_STALE_AFTER:
                    tmp.unlink()

    def _judge_existing(self) -> None:
        """Raise if the lock's holder may be running; remove the lock if it is stale."""
        try:
            text = _read(self.path)
            age = time.time() - os.lstat(self.path).st_mtime
        except FileNotFoundError:
            return  # released meanwhile: try again
        except NotRegularFile as e:  # no server writes one: never taken through it
            aside = refused_file_name(self.path)
            os.replace(self.path, aside)
            logger.warning("Site %s: the server lock %s was %s, never taken through: moved it "
                           "aside to %s", self.site, self.path, e.problem, aside)
            return
        holder = Holder.from_json(text)
        if holder is None:
            if age < UNREADABLE_STALE_AFTER:
                raise UserError(f"Site {self.site}'s server is starting in another process "
                                f"(its lock {self.path} is being written). Stop it first, or "
                                "pass --lab with another lab.")
            why = "an unreadable lock"
        else:
            why = self._stale(holder)
        self._take_over(text, holder, why)

    def _stale(self, holder: Holder) -> str:
        """Why the holder's lock is stale; raises UserError if the holder may be running."""
        running = (f"Site {self.site}'s server is already running (pid {holder.pid}, "
                   f"started {holder.started}). Stop it first, or pass --lab with another lab.")
        if holder.host != socket.gethostname():
            raise UserError(f"Site {self.site}'s server is already running on host "
                            f"{holder.host} (pid {holder.pid}, started {holder.started}). Stop "
                            "it first, or pass --lab with another lab. If it is not running, "
                            f"delete {self.path}.")
        if can_check_pids():
            if not pid_alive(holder.pid):
                return f"pid {holder.pid} is not running"
            if holder.pid_given_away():  # as live_holder judges it
                return f"pid {holder.pid} was given to another process since"
            if holder.ticks is None or process_start(holder.pid) is None:
                # Its start cannot be compared (not recorded, or hidden from this user)
                raise UserError(f"{running} If it is not running (its pid may have been given "
                                f"to another process since), delete {self.path}.")
            raise UserError(running)
        started = holder.started_at()
        if started is not None and time.time() - started < WINDOWS_STALE_AFTER:
            raise UserError(f"{running} If it is not running, delete {self.path}.")
        return f"it is more than {WINDOWS_STALE_AFTER / 3600:g} hours old"

    def _take_over(self, text: str, holder: Holder | None, why: str) -> None:
        # Remove the stale lock only if it is still the one judged (another starter may have
        # taken it over meanwhile); the exclusive create then decides between starters.
        with contextlib.suppress(FileNotFoundError, NotRegularFile):
            if _read(self.path) != text:
                return
            self.path.unlink()
            who = (f"pid {holder.pid} on {holder.host}, started {holder.started}" if holder
                   else "unknown")
            logger.warning("Site %s: took over the stale server lock %s (%s; %s)", self.site,
                           self.path, who, why)
            if self.on_takeover is not None and holder is not None:
                self.on_takeover(why, holder)

    def release(self) -> None:
        """Remove the lock if it is still this process's own."""
        mine, self.holder = self.holder, None
        if mine is None:
            return
        with contextlib.suppress(FileNotFoundError, NotRegularFile):  # not this process's
            if Holder.from_json(_read(self.path)) == mine:
                self.path.unlink()


def live_holder(site: SiteLayout) -> Holder | None:
    """Who holds the site's server lock, if that process may be running: None without a lock
    that reads (nor in a state folder that is not a real one: never read through a link), or
    when its holder on this host is gone (POSIX; see the module's rules)."""
    if not is_folder(site.state_dir):
        return None
    try:
        holder = Holder.from_json(_read(site.state_dir / LOCK_FILE))
    except OSError:
        return None
    if holder is None:
        return None
    if can_check_pids() and holder.host == socket.gethostname():
        # With its start recorded, a pid given to another process since is no holder.
        alive = pid_alive(holder.pid) and not holder.pid_given_away()
        if not alive:
            return None
    return holder


def running_since(site: SiteLayout) -> float | None:
    """The real time the run that holds the site started at (whole seconds); None if none
    does."""
    holder = live_holder(site)
    return None if holder is None else holder.started_at()


def acquire_all(locks: Sequence[SiteLock]) -> None:
    """Take every lock, or none: on a refusal, give back those already taken."""
    taken: list[SiteLock] = []
    try:
        for lock in locks:
            lock.acquire()
            taken.append(lock)
    except BaseException:
        release_all(taken)
        raise


def release_all(locks: Sequence[SiteLock]) -> None:
    for lock in locks:
        try:
            lock.release()
        except OSError as e:  # never hide the real reason a run ends
            logger.warning("could not remove the server lock %s: %s", lock.path, e)

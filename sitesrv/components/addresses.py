"""When an address lets a send request through: its schedule, by job priority, and pauses.

An address's schedule gives each block of the week an availability (open, medium and high,
high only, closed), read in the sending site's local time (`time_zone_bias`, §1.4). A person
can also pause an address with `sitesrv address pause FROM TO`, which closes it as a closed
block would, whether or not the site servers run. The pause lives in
`<FROM>/SMS/state/paused_addresses.json` (`{"paused": ["P00"]}`: the sites this site's addresses
to are paused), replaced atomically; the Sender re-reads it when it changes. A change reads,
modifies and replaces the file holding `.paused_addresses.json.lock` next to it (an operating
system lock, which a killed holder gives back), so two commands at once both count.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs

from sitesrv.errors import UserError
from sitesrv.files.atomic import Durability, replace_file
from sitesrv.lab.hierarchy import Address, Hierarchy
from sitesrv.lab.layout import LabLayout, SiteLayout

PAUSED_FILE = "paused_addresses.json"
LOCK_FILE = f".{PAUSED_FILE}.lock"
MINUTES_PER_DAY = 24 * 60
WEEK = timedelta(days=7)


# --- schedules --------------------------------------------------------------------------------

def local_time(now: float, bias_minutes: int) -> datetime:
    """Lab time in the site's local time (local + bias = UTC, the Windows convention)."""
    return datetime.fromtimestamp(now, UTC) - timedelta(minutes=bias_minutes)


def allows(address: Address, priority: int, now: float, bias_minutes: int) -> bool:
    local = local_time(now, bias_minutes)
    return address.allows(priority, local.weekday(), local.hour * 60 + local.minute)


def next_change(found: Iterable[Address], priority: int, now: float,
                bias_minutes: int) -> float | None:
    """The next lab time at which any of these addresses opens or closes for `priority`.

    None if none ever changes (no schedule, or a pause, which only a person lifts).
    """
    found = tuple(found)
    local = local_time(now, bias_minutes)
    week_start = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0,
                                                                    microsecond=0)
    candidates = set()
    for address in found:
        if address.paused:
            continue
        for block in address.schedule:
            for day in block.days:
                for minute in (block.start, block.end):
                    at = week_start + timedelta(minutes=day * MINUTES_PER_DAY + minute)
                    candidates.add(at if at > local else at + WEEK)
    state = [allows(a, priority, now, bias_minutes) for a in found]
    for at in sorted(candidates):
        when = (at + timedelta(minutes=bias_minutes)).timestamp()
        if [allows(a, priority, when, bias_minutes) for a in found] != state:
            return when
    return None


# --- pauses -----------------------------------------------------------------------------------

def paused_file(site: SiteLayout) -> Path:
    return site.state_dir / PAUSED_FILE


def read_paused(site: SiteLayout) -> frozenset[str]:
    """The sites to which this site's addresses are paused; an unreadable file pauses nothing."""
    try:
        raw = json.loads(paused_file(site).read_text(encoding="utf-8"))
        return frozenset(str(code).upper() for code in raw["paused"])
    except (OSError, ValueError, KeyError, TypeError):
        return frozenset()


def write_paused(site: SiteLayout, paused: Iterable[str], durability: Durability) -> None:
    target = paused_file(site)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps({"paused": sorted(set(paused))}, indent=2) + "\n"
    replace_file(target, data.encode("utf-8"), durability,
                 tmp=target.with_name(f".{PAUSED_FILE}.{os.getpid()}.tmp"))


_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def pauses_locked(site: SiteLayout) -> Iterator[None]:
    """Hold the lock of the site's pause file: one read-modify-write at a time.

    The operating system's lock on `.paused_addresses.json.lock` excludes other processes and
    is given back when its holder dies, so there is never a stale lock to judge; a thread lock
    per file excludes other threads of this process too (on file systems where the OS lock
    belongs to the process rather than to the open file).
    """
    path = paused_file(site).with_name(LOCK_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCKS_GUARD:
        in_process = _THREAD_LOCKS.setdefault(path.resolve(), threading.Lock())
    with in_process, open(path, "a+b") as f:
        try:
            _lock(f.fileno())
        except OSError as e:
            raise UserError(f"Could not lock {path} to change the paused addresses: {e}. "
                            "Another 'sitesrv address' command may be stuck; try again.") from None
        try:
            yield
        finally:
            _unlock(f.fileno())


if os.name == "nt":
    import msvcrt

    def _lock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # waits, retrying each second for 10 seconds

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits until the holder is done (or gone)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def set_paused(lab: LabLayout, from_site: str, to_site: str, paused: bool) -> bool:
    """Pause or resume the addresses from one site to another; False if nothing changed."""
    hierarchy = lab.hierarchy
    from_site, to_site = hierarchy.site(from_site).code, hierarchy.site(to_site).code
    hierarchy.with_address_paused(from_site, to_site, paused)  # a UserError if there is none
    site = lab.site(from_site)
    with pauses_locked(site):
        before = read_paused(site)
        after = before | {to_site} if paused else before - {to_site}
        if after == before:
            return False
        write_paused(site, after, hierarchy.durability)
        return True


def with_pauses(hierarchy: Hierarchy, lab: LabLayout) -> Hierarchy:
    """The hierarchy with every site's paused addresses marked (for `sitesrv hierarchy`)."""
    for site in lab.sites():
        for to_site in sorted(read_paused(site)):
            try:
                hierarchy = hierarchy.with_address_paused(site.site.code, to_site, True)
            except UserError:
                continue  # a pause of an address that is no longer in hierarchy.yaml
    return hierarchy


class PauseWatch:
    """One site's pauses as the Sender sees them, re-read whenever the file changes."""

    def __init__(self, site: SiteLayout) -> None:
        self.site = site
        self._stamp: tuple[int, int] | None = None
        self.paused: frozenset[str] = frozenset()

    def refresh(self) -> frozenset[str]:
        try:
            stat = paused_file(self.site).stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            self._stamp = stamp
            self.paused = read_paused(self.site) if stamp else frozenset()
        return self.paused

    def apply(self, found: Iterable[Address]) -> tuple[Address, ...]:
        paused = self.refresh()
        return tuple(attrs.evolve(a, paused=True) if a.to_site in paused else a for a in found)

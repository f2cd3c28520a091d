"""When an address lets a send request through: its schedule, by job priority, and pauses.

An address's schedule gives each block of the week an availability (open, medium and high,
high only, closed), read in the sending site's local time (`time_zone_bias`; SMS 2.0 Help on
addresses, docs/sources.md). A person
can also pause an address with `sitesrv address pause FROM TO` (sitesrv/admin/pauses.py),
which closes it as a closed block would, whether or not the site servers run. The pause lives
in `<FROM>/SMS/state/paused_addresses.json` (`{"paused": ["P00"]}`: the sites this site's
addresses to are paused); the Sender re-reads it when it changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import attrs

from sitesrv.files.regular import STATE_FILE_BYTES, read_limited
from sitesrv.lab.hierarchy import Address
from sitesrv.lab.layout import SiteLayout
from sitesrv.lab.sitetime import local_datetime

PAUSED_FILE = "paused_addresses.json"
MINUTES_PER_DAY = 24 * 60
WEEK = timedelta(days=7)


# --- schedules --------------------------------------------------------------------------------

def allows(address: Address, priority: int, now: float, bias_minutes: int) -> bool:
    local = local_datetime(now, bias_minutes)
    return address.allows(priority, local.weekday(), local.hour * 60 + local.minute)


def next_change(found: Iterable[Address], priority: int, now: float,
                bias_minutes: int) -> float | None:
    """The next lab time at which any of these addresses opens or closes for `priority`.

    None if none ever changes (no schedule, or a pause, which only a person lifts).
    """
    found = tuple(found)
    local = local_datetime(now, bias_minutes)
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
        raw = json.loads(read_limited(paused_file(site), STATE_FILE_BYTES).decode("utf-8"))
        return frozenset(str(code).upper() for code in raw["paused"])
    except (OSError, ValueError, KeyError, TypeError):
        return frozenset()


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

"""When an address lets a send request through: its schedule, by job priority, and pauses.

An address's schedule gives each block of the week an availability (open, medium and high,
high only, closed), read in the sending site's local time (`time_zone_bias`; SMS 2.0 Help on
addresses, docs/sources.md). A person
can also pause an address with `sitesrv address pause FROM TO` (sitesrv/admin/pauses.py),
which closes it as a closed block would, whether or not the site servers run. The pause lives
in `<FROM>/SMS/state/paused_addresses.json` (`{"paused": ["P00"]}`: the sites this site's
addresses to are paused); the Sender re-reads it when it changes.

A link can also be slowed for a window of lab time (`sitesrv fault slow-link FROM TO`,
sitesrv/admin/pauses.py): `<FROM>/SMS/state/slow_links.json` (`{"slow": {"P00": {"rate_limit":
2000, "latency": 5.0, "until": 1180947600.0}}}`; `latency` and `until` may be null: the
address's own latency, and no end until `sitesrv fault link-normal`). While lab time is before
`until`, the Sender sees the address with that rate limit and latency, as if hierarchy.yaml
said so; a send takes them when it connects.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import attrs

from sitesrv.files.regular import STATE_FILE_BYTES, read_limited
from sitesrv.lab.hierarchy import Address
from sitesrv.lab.layout import SiteLayout
from sitesrv.lab.sitetime import local_datetime
from sitesrv.lab.sizes import MAX_LATENCY, MAX_RATE

PAUSED_FILE = "paused_addresses.json"
SLOW_FILE = "slow_links.json"
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


# --- slowed links -----------------------------------------------------------------------------

@attrs.frozen
class SlowLink:
    """A link's rate limit (bytes per second) and latency overridden until a lab time."""

    rate_limit: int
    latency: float | None = None  # None: the address's own
    until: float | None = None  # None: until lifted

    def applies(self, now: float) -> bool:
        return self.until is None or now < self.until

    def to_json(self) -> dict[str, object]:
        return {"rate_limit": self.rate_limit, "latency": self.latency, "until": self.until}


def slow_file(site: SiteLayout) -> Path:
    return site.state_dir / SLOW_FILE


def read_slow(site: SiteLayout) -> dict[str, SlowLink]:
    """The links from this site that are slowed, by destination; an unreadable file (or
    entry) slows nothing."""
    try:
        raw = json.loads(read_limited(slow_file(site), STATE_FILE_BYTES).decode("utf-8"))["slow"]
        items = raw.items()
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    found = {}
    for code, entry in items:
        try:
            slow = SlowLink(
                int(entry["rate_limit"]),
                None if entry.get("latency") is None else float(entry["latency"]),
                None if entry.get("until") is None else float(entry["until"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        # What `sitesrv fault slow-link` writes is within these bounds; a hand-edited entry
        # outside them, which the Sender could not compute with, slows nothing.
        if (1 <= slow.rate_limit <= MAX_RATE
                and (slow.latency is None or 0 <= slow.latency <= MAX_LATENCY)
                and (slow.until is None or math.isfinite(slow.until))):
            found[str(code).upper()] = slow
    return found


# --- what the Sender sees -----------------------------------------------------------------------

class _Watched:
    """A state file re-read only when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None

    def changed(self) -> tuple[bool, bool]:
        """(whether it changed since the last call, whether it exists)."""
        try:
            stat = self.path.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        moved = stamp != self._stamp
        self._stamp = stamp
        return moved, stamp is not None


class PauseWatch:
    """One site's paused and slowed links as the Sender sees them, each file re-read whenever
    it changes."""

    def __init__(self, site: SiteLayout) -> None:
        self.site = site
        self._paused_file = _Watched(paused_file(site))
        self._slow_file = _Watched(slow_file(site))
        self.paused: frozenset[str] = frozenset()
        self.slow: dict[str, SlowLink] = {}

    def refresh(self) -> frozenset[str]:
        moved, exists = self._paused_file.changed()
        if moved:
            self.paused = read_paused(self.site) if exists else frozenset()
        moved, exists = self._slow_file.changed()
        if moved:
            self.slow = read_slow(self.site) if exists else {}
        return self.paused

    def apply(self, found: Iterable[Address], now: float) -> tuple[Address, ...]:
        """The addresses as they are at lab time `now`: paused, or slowed for a window."""
        paused = self.refresh()
        out = []
        for address in found:
            slow = self.slow.get(address.to_site)
            if slow is not None and slow.applies(now):
                address = attrs.evolve(address, rate_limit=slow.rate_limit,
                                       latency=(address.latency if slow.latency is None
                                                else slow.latency))
            out.append(attrs.evolve(address, paused=True) if address.to_site in paused
                       else address)
        return tuple(out)

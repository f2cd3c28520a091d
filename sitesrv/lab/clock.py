"""Lab time: a real clock scaled by a rate, or a virtual clock the step driver moves.

Components never call `time` directly. They ask the clock, so the same code runs live (real,
possibly accelerated time) and in step mode (virtual time that jumps to the next timer), and
step-mode logs carry deterministic timestamps.

Lab time carries over between runs: each site keeps the lab time its last run ended at in
`<SITE>\\SMS\\state\\lab-clock`, and the next run, live or step, starts there. A live run also
saves it about once a wall second while it runs, with the wall time of the save after it
(`<lab time> <wall time>`), so that a killed run loses about a second at most and a console
action can tell the running lab time (lab_now). The next run starts no earlier than the last
event in `LAB\\events.jsonl` either (its tail is read), which a killed run may have stamped
after its last save. Beside it,
`lab-runs` counts the lab's step runs, so that each draws its random names from a stream of
its own (next_run).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from sitesrv.files.atomic import Durability, replace_file
from sitesrv.files.folders import is_folder, moved_aside, own_folders
from sitesrv.files.regular import STATE_FILE_BYTES, FileTooLarge, NotRegularFile, read_limited
from sitesrv.lab.layout import EVENTS_FILE, SiteLayout
from sitesrv.lab.sitetime import MILLI_DIGITS, SECOND_DIGITS

# Step mode starts every lab at the same instant, so two runs produce the same log bytes.
VIRTUAL_EPOCH = datetime(2007, 6, 4, 9, 0, 0, tzinfo=UTC).timestamp()
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CLOCK_FILE = "lab-clock"  # in <SITE>\\SMS\\state: the lab time the last run ended at
RUNS_FILE = "lab-runs"  # beside it: how many step runs of the lab have started
EVENTS_TAIL_BYTES = 64 * 1024  # how much of the end of events.jsonl lab_start reads

logger = logging.getLogger(__name__)


def lab_time_text(when: float) -> str:
    """Lab time as events, schedules and run reports show it: `2007-06-04T09:00:00.000Z`.

    Milliseconds are rounded, not truncated, as the SMS logs and the site database round them,
    so an event and the log line of the same moment show the same time.
    """
    whole, millis = divmod(round(when * 1000), 1000)
    minute, second = divmod(whole, 60)
    return f"{_utc_minute(minute)}{SECOND_DIGITS[second]}.{MILLI_DIGITS[millis]}Z"


@functools.lru_cache(maxsize=256)
def _utc_minute(minutes: int) -> str:
    """`YYYY-MM-DDTHH:MM:`; remembered by the minute, as every step and event of a busy minute
    repeats it (by the second, a step run's clock met a new second at one text in five)."""
    return f"{_UNIX_EPOCH + timedelta(minutes=minutes):%Y-%m-%dT%H:%M:}"


class Clock(Protocol):
    """What components may ask about time."""

    def now(self) -> float:
        """Lab time, seconds since the Unix epoch (UTC)."""
        ...

    def real_seconds(self, lab_seconds: float) -> float:
        """How many real seconds a lab-time interval takes (for live waits)."""
        ...

    def spend(self, lab_seconds: float) -> None:
        """Work that takes this much lab time was done (runtime/worktime.py)."""
        ...


class RealClock:
    """Wall-clock time, optionally running `rate` times faster than real time, from a start.

    A rate of 60 turns the sms2003 profile's one-hour retry into one real minute. A live run
    passes the lab's time as `start`, so its time line goes on from where the last run of the
    lab ended (one time line per lab, whether its runs are live or step).
    """

    def __init__(self, rate: float = 1.0, since: float | None = None,
                 start: float | None = None) -> None:
        """`since`: a wall time (default: now); `start`: the lab time at that wall time
        (default: `since` itself, the wall clock). Processes that pass the same pair keep one
        lab time, whatever the rate and whenever they start."""
        if rate <= 0:
            raise ValueError("clock rate must be positive")
        self.rate = rate
        now = time.time()
        since = now if since is None else since
        self._start = since if start is None else start
        self._mono_since = time.monotonic() - (now - since)

    def now(self) -> float:
        return self._start + (time.monotonic() - self._mono_since) * self.rate

    def real_seconds(self, lab_seconds: float) -> float:
        return max(0.0, lab_seconds / self.rate)

    def spend(self, lab_seconds: float) -> None:
        """Nothing: live, the work itself took its real time."""


class VirtualClock:
    """Time that only moves when the step driver says so."""

    def __init__(self, start: float = VIRTUAL_EPOCH) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def real_seconds(self, lab_seconds: float) -> float:
        return 0.0

    def advance_to(self, when: float) -> None:
        """Jump forward; never backward, since lab time is monotonic."""
        with self._lock:
            if when > self._now:
                self._now = when

    def advance(self, seconds: float) -> None:
        self.advance_to(self._now + seconds)

    def spend(self, lab_seconds: float) -> None:
        """Work that costs lab time moves the one clock of the step run on by its cost."""
        self.advance(lab_seconds)


def saved_lab_time(sites: Sequence[SiteLayout]) -> float:
    """The lab time the last run of these sites ended at, or a live one last saved (0 if none
    did)."""
    return _saved_number(sites, CLOCK_FILE)


def _saved_number(sites: Sequence[SiteLayout], name: str) -> float:
    """The largest number saved in the state file `name` of these sites (0 if none is)."""
    return max([0.0, *(saved[0] for site in sites if (saved := _saved(site, name)))])


def _saved(site: SiteLayout, name: str) -> list[float] | None:
    """The numbers in a site's state file `name`: the first, and what follows on its line.
    None in a state folder that is not a real one (a link is never read through; the next run
    moves it aside)."""
    if not is_folder(site.state_dir):
        return None
    try:
        return [float(n) for n in read_limited(site.state_dir / name, STATE_FILE_BYTES).split()]
    except (FileNotFoundError, ValueError, NotRegularFile, FileTooLarge):
        return None


def next_run(sites: Sequence[SiteLayout], saving: Sequence[SiteLayout],
             durability: Durability) -> int:
    """Number a new step run of a lab, and save the number in the `saving` sites.

    The random names a run draws come from a stream seeded with this number too (runtime/
    host.py), so the next run of the lab goes on drawing new names instead of the first run's
    again; a fresh lab's first run is run 1, so two fresh labs with one seed draw the same.
    Give every site of the lab as `sites`, as for lab_start. Saved before the run does
    anything: a run that dies half-way still used its number."""
    run = int(_saved_number(sites, RUNS_FILE)) + 1
    for site in saving:
        _save(site, RUNS_FILE, f"{run}\n", durability)
    return run


def lab_start(sites: Sequence[SiteLayout]) -> float:
    """Where a lab's next run (or console action) starts: where its last run ended (or a
    killed live run last saved, or its last event), or the first instant of a new lab. Give
    every site of the lab, so that the per-site processes of a live run share one start."""
    events = [last_event_time(sites[0].lab / EVENTS_FILE)] if sites else []
    return max(VIRTUAL_EPOCH, saved_lab_time(sites), *events)


FRESH_SAVE = 10.0  # wall seconds a live run's last save of the lab time is taken as its own


def lab_now(sites: Sequence[SiteLayout], rate: float,
            running_since: Callable[[SiteLayout], float | None]) -> float:
    """The lab's time now: lab_start, or, while a live run holds a site, the time that run
    last saved moved on by the wall time since, at the lab's clock rate.

    `running_since(site)`: the wall time the run that holds the site started at, None if no
    run does. A save from before it is a dead run's, and is not moved on; nor is one older than
    FRESH_SAVE (a live run saves about once a second: an older save is a dead or hung run's,
    whatever its lock says)."""
    now = time.time()
    times = [lab_start(sites)]
    for site in sites:
        saved = _saved(site, CLOCK_FILE)
        since = running_since(site)
        # `since` is whole seconds, cut down: a save in that second may be a dead run's.
        if (saved is not None and len(saved) == 2 and since is not None
                and saved[1] >= since + 1.0 and now - saved[1] <= FRESH_SAVE):
            times.append(saved[0] + max(0.0, now - saved[1]) * rate)
    return max(times)


def save_lab_time(sites: Sequence[SiteLayout], now: float, durability: Durability, *,
                  wall: float | None = None) -> None:
    """Record `now` as the lab time these sites' run ended at; with `wall`, as the time a live
    run that goes on was at, at that wall time."""
    text = f"{now!r}\n" if wall is None else f"{now!r} {wall!r}\n"
    for site in sites:
        _save(site, CLOCK_FILE, text, durability)


def last_event_time(path: Path) -> float:
    """The latest lab time among the last events of `LAB\\events.jsonl` (0 if none): its tail
    only, so a start does not read the whole stream. A torn or foreign line is skipped."""
    try:
        with path.open("rb") as f:
            start = max(0, f.seek(0, os.SEEK_END) - EVENTS_TAIL_BYTES)
            f.seek(start)
            lines = f.read(EVENTS_TAIL_BYTES).split(b"\n")[1 if start else 0:]  # whole lines
    except OSError:
        return 0.0
    latest = 0.0
    for line in lines:
        with contextlib.suppress(ValueError, TypeError, AttributeError, KeyError):
            stamp = datetime.strptime(json.loads(line)["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
            # Rounded to the millisecond, the event may have been up to half of one earlier:
            # starting at the stamp itself moves time on by as much at most, and every later
            # stamp shows no earlier than it (half a millisecond back would round, half to
            # even, to the millisecond before for an odd one).
            latest = max(latest, stamp.replace(tzinfo=UTC).timestamp())
    return latest


def _save(site: SiteLayout, name: str, text: str, durability: Durability) -> None:
    """Replace a state file. The run made the state folder a real one when it took the site's
    lock (runtime/lock.py); one replaced by a link or a file since is moved aside again, with a
    warning, never written through."""
    if not is_folder(site.state_dir):
        moved, _ = own_folders(site.state_dir, site.root)
        for folder, aside, mode in moved:
            logger.warning("Site %s: %s", site.site.code,
                           moved_aside(str(folder), str(aside), mode))
    replace_file(site.state_dir / name, text.encode("ascii"), durability,
                 tmp=site.state_dir / f".{name}.tmp")

"""Every delay a component waits, and what its work costs in lab time, come from the lab's
timing profile.

Two profiles exist: `lab` (short delays in seconds, the default, so a lab converges while you watch)
and `sms2003` (SMS 2003's real defaults, each with its source in docs/hierarchy.md).
`hierarchy.yaml` can override any single value. Durations are lab seconds; the clock's rate decides
how long they take for real. Work costs (a file noticed, an instruction processed, bytes
compressed, expanded, copied to a DP or sent over a LAN) are what step mode's virtual clock moves
by while a unit works (runtime/worktime.py); live, the work takes its real time instead.
"""

from __future__ import annotations

import math
import re

import attrs

DURATION_RE = re.compile(r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|min|h|d)?\s*$")
MB = 1024 * 1024
# The one LAN send rate the reference's logs show: `Sending completed (13985442 bytes/sec).`
# (docs/sources.md#package-actions).
LAN_RATE = 13_985_442.0
# The longest duration anywhere (a timing value, an address's latency, `run --horizon`): a
# century of lab time still has a Windows date in every log line; a longer one would overflow it.
MAX_DURATION = 100 * 365 * 86400.0
UNIT_SECONDS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float:
    """A number of seconds, or a string like `30s`, `5m`, `1h`, `7d`. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{value!r} is negative")
        if isinstance(value, float) and math.isnan(value):
            raise ValueError(f"{value!r} is not a number of seconds")
        seconds = value  # an int is compared before it becomes a float, which it may not fit
    elif isinstance(value, str) and (m := DURATION_RE.match(value)):
        seconds = float(m["n"]) * UNIT_SECONDS[m["unit"]]
    else:
        raise ValueError(f"{value!r} is not a duration (use seconds, or a number with s, m, h "
                         "or d)")
    if seconds > MAX_DURATION:
        raise ValueError(f"{value!r} is longer than the longest duration sitesrv takes (100 "
                         "years)")
    return float(seconds)


@attrs.frozen
class TimingProfile:
    """Named delays, in lab seconds. Field names are the keys accepted under `timing:`."""

    distmgr_sleep: float
    distmgr_retry_interval: float
    despooler_retry_delay: float
    sender_retry_delay: float
    sender_busy_hold: float
    sender_heartbeat_timeout: float
    replmgr_batch_hold: float
    scheduler_deleted_site_retention: float
    rescan_interval: float
    stale_tmp_age: float
    sqlmon_poll_interval: float
    # What work costs (docs/runtime.md, "Work takes lab time").
    file_notice: float  # seconds from a file's arrival to its component taking it
    instruction_cost: float  # seconds to read and act on one instruction file
    compress_rate: float  # bytes of package source compressed per second
    decompress_rate: float  # bytes of compressed package expanded per second
    dp_copy_rate: float  # bytes copied onto a distribution point per second
    network_rate: float  # bytes per second a send writes over an address with no rate limit
    work_jitter: float  # each cost varies by up to this fraction, drawn from the seed

    @property
    def full_look_interval(self) -> float:
        """Lab seconds between two full looks of a component that otherwise looks only at what
        it knows changed (Inbox Manager's CAP boxes, Offer Manager's advertisements at a
        secondary, Replication Manager's stream folders): 60 rescan intervals, 5 minutes with
        the `lab` profile and 30 with `sms2003`. The safety net for what a person changed by
        hand, which no event announces. In bench/stepcpu.py's step run of 100 packages (42
        minutes of lab time) a full look at most every 5 s made 171 of Inbox Manager's 398
        passes full, every 5 minutes 12."""
        return 60 * self.rescan_interval


PROFILES: dict[str, TimingProfile] = {
    # Short enough that a lab converges in seconds, long enough that retries are visible.
    "lab": TimingProfile(
        distmgr_sleep=60.0,
        distmgr_retry_interval=30.0,
        despooler_retry_delay=5.0,
        sender_retry_delay=2.0,
        sender_busy_hold=30.0,
        sender_heartbeat_timeout=10.0,
        replmgr_batch_hold=60.0,
        scheduler_deleted_site_retention=600.0,
        rescan_interval=5.0,
        stale_tmp_age=300.0,
        sqlmon_poll_interval=0.5,
        file_notice=0.1,
        instruction_cost=0.2,
        compress_rate=4 * MB,
        decompress_rate=8 * MB,
        dp_copy_rate=16 * MB,
        network_rate=LAN_RATE,
        work_jitter=0.2,
    ),
    # SMS 2003's own defaults (docs/hierarchy.md gives the source of each).
    "sms2003": TimingProfile(
        distmgr_sleep=3600.0,
        distmgr_retry_interval=3600.0,
        despooler_retry_delay=300.0,
        sender_retry_delay=60.0,
        sender_busy_hold=3600.0,
        sender_heartbeat_timeout=300.0,
        replmgr_batch_hold=6 * 3600.0,
        scheduler_deleted_site_retention=7 * 86400.0,
        rescan_interval=30.0,
        stale_tmp_age=36 * 3600.0,
        sqlmon_poll_interval=1.0,
        file_notice=1.0,
        instruction_cost=0.5,
        compress_rate=2 * MB,
        decompress_rate=4 * MB,
        dp_copy_rate=8 * MB,
        network_rate=LAN_RATE,
        work_jitter=0.2,
    ),
}

TIMING_KEYS = tuple(a.name for a in attrs.fields(TimingProfile))
RATE_KEYS = ("compress_rate", "decompress_rate", "dp_copy_rate", "network_rate")  # bytes/s
FRACTION_KEYS = ("work_jitter",)  # from 0 to 0.9
DURATION_KEYS = tuple(k for k in TIMING_KEYS if k not in RATE_KEYS + FRACTION_KEYS)
# The delays a component waits again and again (polls, idle passes, retries): at 0 it would run
# at one lab instant for ever, and a step run would never see lab time move.
REPEATING_KEYS = ("distmgr_sleep", "distmgr_retry_interval", "despooler_retry_delay",
                  "sender_retry_delay", "sender_busy_hold", "rescan_interval",
                  "sqlmon_poll_interval")

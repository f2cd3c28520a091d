"""A site's local time, and the ways SMS writes it.

Each site has one fixed time-zone bias (hierarchy.yaml `time_zone_bias`, minutes, local + bias =
UTC, no daylight saving): its logs, its address schedules and its retry messages read lab time
in that zone. Lab time itself is UTC (lab/clock.py).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Windows' standard-time names for the biases a lab is likely to use. A site has one fixed
# bias, so the name is its standard time.
ZONE_NAMES = {
    600: "Hawaiian Standard Time",
    540: "Alaskan Standard Time",
    480: "Pacific Standard Time",
    420: "Mountain Standard Time",
    360: "Central Standard Time",
    300: "Eastern Standard Time",
    240: "Atlantic Standard Time",
    0: "GMT Standard Time",
    -60: "W. Europe Standard Time",
    -120: "E. Europe Standard Time",
    -180: "Russian Standard Time",
    -330: "India Standard Time",
    -480: "China Standard Time",
    -540: "Tokyo Standard Time",
    -600: "AUS Eastern Standard Time",
}


def local_datetime(when: float, bias_minutes: int) -> datetime:
    """Lab time in the site's local time, as a naive-looking UTC datetime shifted by the bias."""
    return datetime.fromtimestamp(when, UTC) - timedelta(minutes=bias_minutes)


def log_timestamp(when: float, bias_minutes: int) -> str:
    """`MM-DD-YYYY HH:MM:SS.mmm+BBB`, as a log line's stamp writes local time and bias.

    The bias is C's `%03d` with a `+` before a bias that is not negative: `+300`, `+000`, and
    `-60`, `-120` east of UTC, as public ConfigMgr-era logs show (docs/sources.md#cmwt).
    Milliseconds are rounded as the site database rounds them (sitesrv.db.sitedb.format_time),
    so one instant reads the same in a log and a table.
    """
    ms = round(when * 1000)
    minute, second = divmod(ms // 1000 - bias_minutes * 60, 60)
    return (f"{_local_minute(minute)}{SECOND_DIGITS[second]}.{MILLI_DIGITS[ms % 1000]}"
            f"{_bias_text(bias_minutes)}")


# `02d` and `03d` of a second's and a millisecond's number, looked up: formatting them cost
# as much as the rest of a stamp, and a package's flow writes some 500 log lines and events.
SECOND_DIGITS = tuple(f"{n:02d}" for n in range(60))
MILLI_DIGITS = tuple(f"{n:03d}" for n in range(1000))


@functools.lru_cache(maxsize=64)
def _bias_text(bias_minutes: int) -> str:
    return f"+{bias_minutes:03d}" if bias_minutes >= 0 else f"{bias_minutes:03d}"


@functools.lru_cache(maxsize=256)
def _local_minute(minutes: int) -> str:
    """`MM-DD-YYYY HH:MM:` of a local time; remembered by the minute, as a busy log repeats it
    (by the second, a step run's logs met a new second at one line in four)."""
    return f"{_EPOCH + timedelta(minutes=minutes):%m-%d-%Y %H:%M:}"


def zone_name(bias_minutes: int) -> str:
    """The zone text for a bias (local + bias = UTC); `UTC+05:45` style for the rest."""
    if bias_minutes in ZONE_NAMES:
        return ZONE_NAMES[bias_minutes]
    offset = -bias_minutes
    sign = "+" if offset >= 0 else "-"
    hours, minutes = divmod(abs(offset), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def windows_time_text(when: float, bias_minutes: int) -> str:
    """`6/4/2007 4:00:05 AM Eastern Standard Time`, as despool.log and sender.log write times."""
    local = local_datetime(when, bias_minutes)
    hour = local.hour % 12 or 12
    half = "AM" if local.hour < 12 else "PM"
    return (f"{local.month}/{local.day}/{local.year} {hour}:{local.minute:02d}:"
            f"{local.second:02d} {half} {zone_name(bias_minutes)}")

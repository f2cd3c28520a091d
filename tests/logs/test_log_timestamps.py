"""A log line's stamp: `MM-DD-YYYY HH:MM:SS.mmm+BBB`, local time and the site's bias."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sitesrv.lab.sitetime import log_timestamp


def _by_datetime(when: float, bias_minutes: int) -> str:
    """The stamp spelt out with datetime: what the digit tables must write."""
    local = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=round(when * 1000))
             - timedelta(minutes=bias_minutes))
    bias = f"+{bias_minutes:03d}" if bias_minutes >= 0 else f"{bias_minutes:03d}"
    return f"{local:%m-%d-%Y %H:%M:%S}.{local.microsecond // 1000:03d}{bias}"


def test_a_stamp_reads_as_the_field_reports_show() -> None:
    assert log_timestamp(1181000000.5, 300) == "06-04-2007 18:33:20.500+300"
    assert log_timestamp(1181000000.0004, -60) == "06-05-2007 00:33:20.000-60"
    # Rounded up into the next second, as the site database rounds it.
    assert log_timestamp(1181000059.9996, 0) == "06-04-2007 23:34:20.000+000"


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False), st.integers(-720, 720))
def test_a_stamp_is_the_local_time_of_its_instant(when: float, bias_minutes: int) -> None:
    assert log_timestamp(when, bias_minutes) == _by_datetime(when, bias_minutes)

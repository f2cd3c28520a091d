"""Lab time as text: one function, used by events, schedules and run reports alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from sitesrv.lab.clock import VIRTUAL_EPOCH, VirtualClock, lab_time_text, last_event_time
from sitesrv.logs.events import EventSink, read_events
from sitesrv.logs.smslog import SmsLog


def test_lab_time_text_rounds_milliseconds_as_the_sms_logs_do(tmp_path: Path) -> None:
    clock = VirtualClock(VIRTUAL_EPOCH + 0.0006)
    assert lab_time_text(clock.now()) == "2007-06-04T09:00:00.001Z"
    assert lab_time_text(VIRTUAL_EPOCH + 59.9996) == "2007-06-04T09:01:00.000Z"
    sink = EventSink(tmp_path / "events.jsonl", clock)
    sink.emit("probe", site="CEN", component="SMS_X")
    log = SmsLog(tmp_path / "x.log", "SMS_X", clock, site="CEN", bias_minutes=0)
    log.write("probe")
    # The event and the log line of one moment show the same millisecond.
    assert read_events(tmp_path / "events.jsonl")[0]["time"] == "2007-06-04T09:00:00.001Z"
    assert "09:00:00.001" in (tmp_path / "x.log").read_text()


@given(st.integers(-10**12, 4 * 10**12), st.sampled_from([0.0, 0.0004, 0.0005, 0.0006]))
def test_lab_time_text_is_the_utc_instant_to_the_rounded_millisecond(millis: int,
                                                                      extra: float) -> None:
    """The text of each second is remembered: an instant never shows another second's text."""
    when = millis / 1000 + extra
    rounded = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=round(when * 1000))
    assert lab_time_text(when) == rounded.strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{rounded.microsecond // 1000:03d}Z"


@given(st.integers(0, 10**9))
def test_a_run_after_an_event_starts_at_a_time_shown_no_earlier_than_it(millis: int) -> None:
    """Bug hunt: the next run started half a millisecond before the last event, which an odd
    millisecond showed as the one before (half to even): lab time went back 1 ms."""
    import tempfile

    stamp = lab_time_text(VIRTUAL_EPOCH + millis / 1000)
    with tempfile.TemporaryDirectory() as folder:
        events = Path(folder) / "events.jsonl"
        events.write_text(f'{{"time": "{stamp}", "event": "fault"}}\n')
        assert lab_time_text(last_event_time(events)) == stamp

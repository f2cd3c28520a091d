"""The Trace32- and CMTrace-style readers of tests/logs/viewers.py read what SmsLog writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitesrv.logs.smslog import format_line
from tests.logs.viewers import ViewerError, cmtrace, trace32

# Message text as components write it: any printable text without `$$` (which no viewer can
# tell from the trailer), one line or several.
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=60) \
    .filter(lambda t: "$$" not in t and t == t.strip(" ") and not t.endswith("$"))


@given(text=st.lists(TEXT, min_size=1, max_size=3).map("\n".join),
       when=st.floats(1e9, 4e9), bias=st.integers(-840, 840),
       thread=st.integers(1, 0xFFFFFF))
def test_both_viewers_read_back_every_line_sitesrv_writes(text: str, when: float, bias: int,
                                                          thread: int) -> None:
    line = format_line(text, "SMS_DISTRIBUTION_MANAGER", when, bias, thread) + "\n"
    for viewer in (trace32, cmtrace):
        (entry,) = viewer(line)
        assert entry.component == "SMS_DISTRIBUTION_MANAGER"
        assert entry.thread == thread and entry.bias_minutes == bias
        utc = datetime.fromtimestamp(when, UTC).replace(tzinfo=None)
        assert abs(entry.local_time + timedelta(minutes=bias) - utc) <= timedelta(
            milliseconds=1)
    assert trace32(line)[0].text == text
    assert cmtrace(line)[0].text == text.strip()


@pytest.mark.parametrize("line", [
    "no trailer at all\n",
    "x  $$<SMS_X><06-04-2007 14:00:00.000><thread=1 (0x1)>\n",  # no bias
    "x  $$<SMS_X><06-04-2007 14:00:00.000+300><thread=2 (0x1)>\n",  # thread and hex differ
    "a $$ b  $$<SMS_X><06-04-2007 14:00:00.000+300><thread=1 (0x1)>\n",  # CMTrace splits at $$
])
def test_a_line_a_viewer_cannot_show_is_an_error(line: str) -> None:
    with pytest.raises(ViewerError):
        trace32(line) and cmtrace(line)

"""`events.jsonl` as a reader meets it after a writer was killed mid-line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitesrv.lab.clock import VirtualClock
from sitesrv.logs.events import EventSink, read_events

FIELDS = st.dictionaries(st.sampled_from(["package", "file", "count", "reason"]),
                         st.one_of(st.integers(), st.text(max_size=20)), max_size=3)
EVENTS = st.lists(st.tuples(st.sampled_from(["claimed", "published", "server_started"]),
                            FIELDS), min_size=2, max_size=6)


def write(path: Path, events: list[tuple[str, dict[str, object]]]) -> list[dict[str, object]]:
    sink = EventSink(path, VirtualClock())
    for name, fields in events:
        sink.emit(name, site="ZZZ", component="SMS_EXECUTIVE", **fields)
    sink.close()
    return read_events(path)


@given(events=EVENTS, torn_at=st.integers(min_value=0), cut=st.floats(0, 1, exclude_max=True))
def test_a_torn_line_loses_only_its_own_event(
        tmp_path_factory: pytest.TempPathFactory, events: list[tuple[str, dict[str, object]]], torn_at: int,
        cut: float) -> None:
    path = tmp_path_factory.mktemp("events") / "events.jsonl"
    written = write(path, events)
    assert len(written) == len(events)
    lines = path.read_bytes().splitlines(keepends=True)
    torn_at %= len(lines)
    # The writer of line `torn_at` was killed mid-line; the next writer appended after it.
    lines[torn_at] = lines[torn_at][:int(cut * (len(lines[torn_at]) - 1))]
    path.write_bytes(b"".join(lines))
    assert read_events(path) == written[:torn_at] + written[torn_at + 1:]


def test_an_event_glued_to_a_torn_line_is_read(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    tail = '"site": "ZZZ", "component": "SMS_EXECUTIVE"}\n'
    path.write_text('{"time": "2007-06-04T09:00:00.000Z", "event": "clai'
                    '{"time": "2007-06-04T09:00:01.000Z", "event": "server_started", ' + tail +
                    '{"time": "2007-06-04T09:00:02.000Z", "event": "server_stopped", ' + tail)
    assert [e["event"] for e in read_events(path)] == ["server_started", "server_stopped"]


def test_an_object_nested_in_a_torn_event_is_not_taken_for_an_event(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"time": "2007-06-04T09:00:00.000Z", "event": "x", "detail": '
                    '{"time": "NESTED", "a": 1}\n')
    assert read_events(path) == []


def test_lines_that_are_json_but_not_events_are_skipped_and_trace_still_works(
        tmp_path: Path) -> None:
    """`sitesrv trace` gave a traceback on such lines (a bug hunt found it)."""
    from click.testing import CliRunner

    from sitesrv.cli.main import cli
    from tests.conftest import DEFAULT_HIERARCHY

    lab = tmp_path / "lab"
    assert CliRunner().invoke(cli, ["init", "--lab", str(lab), "--hierarchy",
                                    str(DEFAULT_HIERARCHY)]).exit_code == 0
    good = ('{"time": "2007-06-04T09:00:00.000Z", "event": "notification", "site": "ZZZ", '
            '"component": "SMS_SQL_MONITOR", "package": "ZZZ00001"}\n')
    junk = '[1, 2]\nnull\n"s"\n{"package": "ZZZ00001", "time": 5}\n'
    (lab / "events.jsonl").write_text(junk + good)
    assert [e.get("event") for e in read_events(lab / "events.jsonl")] == [None, "notification"]
    result = CliRunner().invoke(cli, ["trace", "ZZZ00001", "--lab", str(lab)])
    assert result.exit_code == 0, result.output
    assert "notification" in result.output

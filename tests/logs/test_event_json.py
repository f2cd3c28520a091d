"""The events' JSON lines are the text `json.dumps` gives, whichever way they are spelled."""

from __future__ import annotations

import json
from pathlib import Path

from sitesrv.logs.events import EventSink, _event_json


class _Clock:
    def now(self) -> float:
        return 1181000000.25


def test_spelled_as_json_dumps_writes() -> None:
    samples = [
        {"time": "t", "event": "e", "site": "CEN", "component": "SMS_DISTRIBUTION_MANAGER"},
        {"file": 'C:\\SMS\\inboxes\\"q"\n\t\x00', "u": "é✓\U0001f600", "n": -12, "big": 10**30},
        {"flag": True, "none": None, "f": 0.1, "nan": float("nan"), "list": [1, "a"]},
        {"path": Path("/x"), "n": 3},
        {},
    ]
    for event in samples:
        kw = {"sort_keys": False, "default": repr}
        assert _event_json(event, **kw) == json.dumps(event, **kw)


def test_sink_writes_each_event_as_one_json_line(tmp_path: Path) -> None:
    sink = EventSink(tmp_path / "events.jsonl", _Clock())
    sink.emit("stored", site="CEN", component="C", package="CEN00001", size=5, gone=None)
    sink.emit("odd", site="CEN", component="C", ratio=0.5)
    sink.close()
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert lines == [
        '{"time": "2007-06-04T23:33:20.250Z", "event": "stored", "site": "CEN", '
        '"component": "C", "package": "CEN00001", "size": 5}',
        '{"time": "2007-06-04T23:33:20.250Z", "event": "odd", "site": "CEN", '
        '"component": "C", "ratio": 0.5}',
    ]

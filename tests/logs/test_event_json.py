"""The events' JSON lines are the text `json.dumps` gives, whichever way they are spelled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sitesrv.logs.events import EventSink


class _Clock:
    def now(self) -> float:
        return 1181000000.25


def test_spelled_as_json_dumps_writes(tmp_path: Path) -> None:
    samples: list[dict[str, Any]] = [
        {"package": "CEN00001", "file": 'C:\\SMS\\inboxes\\"q"\n\t\x00', "n": -12},
        {"u": "é✓\U0001f600", "big": 10**30, "gone": None},
        {"flag": True, "none": None, "f": 0.1, "nan": float("nan"), "list": [1, "a"]},
        {"path": Path("/x"), "n": 3},
        {},
    ]
    sink = EventSink(tmp_path / "events.jsonl", _Clock())
    for fields in samples:
        sink.emit("e\u2028", site="CEN", component="SMS_DISTRIBUTION_MANAGER", **fields)
    sink.close()
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert lines == [json.dumps(
        {"time": "2007-06-04T23:33:20.250Z", "event": "e\u2028", "site": "CEN",
         "component": "SMS_DISTRIBUTION_MANAGER", **{k: v for k, v in fields.items()
                                                     if v is not None}},
        sort_keys=False, default=repr) for fields in samples]


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

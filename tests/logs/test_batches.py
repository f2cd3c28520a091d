"""A unit's batch of log lines and events: what the files hold while batches of several threads,
nested ones and failed ones are open, and after they end."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from sitesrv.lab.clock import VirtualClock
from sitesrv.logs.events import EventSink
from sitesrv.logs.smslog import SmsLog, parse_line


def _log(tmp_path: Path) -> SmsLog:
    return SmsLog(tmp_path / "Logs" / "distmgr.log", "SMS_DISTRIBUTION_MANAGER", VirtualClock(),
                  site="P00")


def _texts(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [parse_line(line).text for line in path.read_text().splitlines()]  # type: ignore[union-attr]


def test_each_threads_batch_is_written_when_that_thread_ends_it(tmp_path: Path) -> None:
    log = _log(tmp_path)
    path = tmp_path / "Logs" / "distmgr.log"
    entered, ended = threading.Event(), threading.Event()

    def other() -> None:
        with log.batch():
            log.write("b1")
            entered.set()
            ended.wait()
            log.write("b2")

    thread = threading.Thread(target=other)
    with log.batch():
        log.write("a1")
        thread.start()
        entered.wait()
        with log.batch():  # nested twice: both join the outer batch
            log.write("a2")
            with log.batch():
                log.write("a3")
            log.write("a4")
        assert _texts(path) == []
        ended.set()
        thread.join()
        assert _texts(path) == ["b1", "b2"]
        log.write("a5")
    assert _texts(path) == ["b1", "b2", "a1", "a2", "a3", "a4", "a5"]
    log.write("after")  # no batch open any more: written at once
    assert _texts(path)[-1] == "after"


def test_a_batch_left_by_an_error_still_writes_its_lines_and_ends(tmp_path: Path) -> None:
    log = _log(tmp_path)
    path = tmp_path / "Logs" / "distmgr.log"
    with pytest.raises(RuntimeError), log.batch():
        log.write("before the error")
        with log.batch():
            log.write("inside")
            raise RuntimeError
    assert _texts(path) == ["before the error", "inside"]
    log.write("next")
    assert _texts(path) == ["before the error", "inside", "next"]


def test_events_of_a_batch_are_written_when_it_ends(tmp_path: Path) -> None:
    sink = EventSink(tmp_path / "events.jsonl", VirtualClock())
    path = tmp_path / "events.jsonl"
    with sink.batch():
        sink.emit("one", site="CEN", component="C", package="CEN00001")
        with sink.batch():
            sink.emit("two", site="CEN", component="C", n=2)
        assert not path.exists()
    sink.emit("three", site="CEN", component="C")
    assert path.read_text().splitlines() == [
        '{"time": "2007-06-04T09:00:00.000Z", "event": "one", "site": "CEN", '
        '"component": "C", "package": "CEN00001"}',
        '{"time": "2007-06-04T09:00:00.000Z", "event": "two", "site": "CEN", '
        '"component": "C", "n": 2}',
        '{"time": "2007-06-04T09:00:00.000Z", "event": "three", "site": "CEN", '
        '"component": "C"}']
    assert [json.loads(line)["event"] for line in path.read_text().splitlines()] == [
        "one", "two", "three"]

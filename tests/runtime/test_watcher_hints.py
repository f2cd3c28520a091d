"""Which file system events become hints to the live driver: rules on event objects, no
watcher running (tests/runtime/test_live.py runs the watchers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitesrv.runtime import watcher as watcher_module


def test_events_that_name_no_work_are_not_hints(tmp_path: Path) -> None:
    from watchdog.events import (
        DirModifiedEvent,
        FileClosedEvent,
        FileCreatedEvent,
        FileDeletedEvent,
        FileMovedEvent,
    )

    box = str(tmp_path / "distmgr.box")
    assert watcher_module.hint_path(FileCreatedEvent(f"{box}/A.PKN")) == f"{box}/A.PKN"
    assert watcher_module.hint_path(FileClosedEvent(f"{box}/A.PKN")) == f"{box}/A.PKN"
    assert watcher_module.hint_path(FileMovedEvent(f"{box}/.A.x.tmp", f"{box}/A.PKN")) == (
        f"{box}/A.PKN")
    for nothing in (DirModifiedEvent(box), FileDeletedEvent(f"{box}/A.PKN"),
                    FileCreatedEvent(f"{box}/A.TMP"), FileClosedEvent(f"{box}/.A.x.tmp"),
                    FileMovedEvent(f"{box}/A.PKN", f"{box}/.work/A.PKN")):
        assert watcher_module.hint_path(nothing) is None, nothing


def test_the_inotify_emitter_queues_only_hints(tmp_path: Path) -> None:
    if not watcher_module.inotify_available():
        pytest.skip("no inotify here")
    from watchdog.events import DirModifiedEvent, FileCreatedEvent
    from watchdog.observers.api import EventQueue, ObservedWatch

    queue = EventQueue()
    emitter = watcher_module.arrivals_emitter(lambda path: None)(
        queue, ObservedWatch(str(tmp_path), recursive=True))
    emitter.queue_event(DirModifiedEvent(str(tmp_path)))
    emitter.queue_event(FileCreatedEvent(str(tmp_path / ".work" / "A.PKN")))
    emitter.queue_event(FileCreatedEvent(str(tmp_path / "A.PKN")))
    assert [event.src_path for event, _ in list(queue.queue)] == [str(tmp_path / "A.PKN")]

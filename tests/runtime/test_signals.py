"""Components waking each other: a signal ends a deferral early, `wakes_on` folders wake on a change.

Step mode, so the lab time at which each thing happened is exact: without the signal the
deferred file would wait its full hour; without the wake the counting component, which has no
timer, would never run again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sitesrv.admin.lab import Lab
from sitesrv.runtime.component import Component
from sitesrv.runtime.inbox import InboxSpec, WorkItem
from sitesrv.runtime.registry import Registry
from sitesrv.runtime.step import run_until_idle
from sitesrv.testing import drop, events, inbox, log_lines, running, wait_for

WAITS = "toy.box\\waits"
TRIGGERS = "toy.box\\triggers"
MARKS = "toy.box\\marks"
HOUR = 3600.0


class DefersFirstSight(Component):
    """Defers each file the first time it sees it, by `delay` (or until its `signal`); then
    takes it."""

    delay: float

    def start(self) -> None:
        self.seen: set[str] = set()

    def work(self) -> bool:
        item = self.ctx.claim_next()
        if item is None:
            return False
        if item.name not in self.seen:
            self.seen.add(item.name)
            self.not_ready()
            item.defer(self.ctx.clock.now() + self.delay, f"waits {self.delay} s",
                       signal=self.signal_for(item.name))
            return True
        self.take(item)
        return True

    def signal_for(self, name: str) -> str | None:
        return None

    def not_ready(self) -> None:
        """Between finding the file not ready and deferring it."""

    def take(self, item: WorkItem) -> None:
        raise NotImplementedError


class Waiter(DefersFirstSight):
    """Defers each file for an hour, or until `ready <name>` is signalled; then takes it."""

    name = "SMS_TOY_WAITER"
    log_name = "toywait.log"
    inboxes = (InboxSpec(WAITS),)
    delay = HOUR

    def signal_for(self, name: str) -> str | None:
        return f"ready {name}"

    def take(self, item: WorkItem) -> None:
        self.ctx.emit("taken", file=item.name)
        item.done()


class Trigger(Component):
    """For each trigger file holding a name `X`, signals `ready X`."""

    name = "SMS_TOY_TRIGGER"
    log_name = "toytrig.log"
    inboxes = (InboxSpec(TRIGGERS),)

    def work(self) -> bool:
        item = self.ctx.claim_next()
        if item is None:
            return False
        self.ctx.signal(f"ready {item.read_text()}")
        item.done()
        return True


def toy_lab(lab: Path) -> Path:
    """The lab, with the toy inboxes these components own."""
    for folder in (WAITS, TRIGGERS, MARKS):
        Lab.open(lab).site("CEN").inbox(folder).mkdir(parents=True)
    return lab


def taken(lab: Path) -> dict[str, str]:
    return {e["file"]: e["time"] for e in events(lab, "taken")}


def test_a_signal_wakes_only_the_files_that_wait_for_it(lab: Path) -> None:
    toy_lab(lab)
    drop(inbox(lab, "CEN", WAITS), "A.X", b"")
    drop(inbox(lab, "CEN", WAITS), "B.X", b"")
    drop(inbox(lab, "CEN", TRIGGERS), "T1", b"B.X")
    report = run_until_idle(lab, components=Registry(primary=(Waiter, Trigger)), horizon=2 * HOUR)
    times = taken(lab)
    assert sorted(times) == ["A.X", "B.X"]
    assert times["B.X"] < times["A.X"]  # A still waited its hour
    assert report.exit_code == 0


class Marker(DefersFirstSight):
    """Ten seconds after it is given a mark file's name, deletes it from `marks` and says so
    (as the Scheduler deletes a ready file when its job completes)."""

    name = "SMS_TOY_MARKER"
    log_name = "toymark.log"
    inboxes = (InboxSpec(TRIGGERS),)
    delay = 10.0

    def take(self, item: WorkItem) -> None:
        marks = self.ctx.layout.inbox(MARKS)
        (marks / item.read_text()).unlink()
        self.ctx.changed(marks)
        item.done()


class Watcher(Component):
    """Counts the mark files whenever it runs; asks for no timer at all."""

    name = "SMS_TOY_COUNTER"
    log_name = "toycount.log"
    wakes_on = (MARKS,)

    def work(self) -> bool:
        marks = self.ctx.layout.inbox(MARKS)
        count = len([n for n in sorted(p.name for p in marks.iterdir())])
        self.ctx.log.write(f"{count} mark(s)")
        return False


def test_a_change_in_a_wakes_on_folder_wakes_the_component(lab: Path) -> None:
    toy_lab(lab)
    marks = inbox(lab, "CEN", MARKS)
    (marks / "M1").write_bytes(b"")
    (marks / "M2").write_bytes(b"")
    drop(inbox(lab, "CEN", TRIGGERS), "T1", b"M1")
    run_until_idle(lab, components=Registry(primary=(Marker, Watcher)))
    lines = log_lines(lab, "CEN", "toycount.log")
    # Once at start-up, and once more, ten seconds later (and the lab time the Marker's taking
    # of T1 cost), woken by the deletion alone.
    assert [x.text for x in lines] == ["2 mark(s)", "1 mark(s)"]
    assert 10 < lines[1].lab_time - lines[0].lab_time < 11


@pytest.mark.live_fs
def test_a_signal_sent_while_the_file_is_being_deferred_is_not_lost(lab: Path) -> None:
    # Live, two workers: the signal comes after the Waiter found the file not ready but before
    # it deferred it (the Despooler checking the database while Distribution Manager records
    # the package information). The file must still go at once, not after its hour.
    import threading


    checked, signalled = threading.Event(), threading.Event()

    class RacingWaiter(Waiter):
        def not_ready(self) -> None:
            checked.set()
            signalled.wait(10)

    class RacingTrigger(Trigger):
        def work(self) -> bool:
            if not checked.wait(10):
                return False
            result = super().work()
            signalled.set()
            return result

    toy_lab(lab)
    drop(inbox(lab, "CEN", WAITS), "A.X", b"")
    drop(inbox(lab, "CEN", TRIGGERS), "T1", b"A.X")
    with running(lab, components=Registry(primary=(RacingWaiter, RacingTrigger)), workers=2):
        wait_for(lambda: "A.X" in taken(lab), timeout=20, what="A.X taken after its signal")

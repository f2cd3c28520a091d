"""The two runtime features the transport components need: a folder shared by two components
(the Sender's `*.srq` and the Scheduler's `*.srs` in `outboxes\\LAN`), and a claim kept across
units (a transfer written chunk by chunk)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitesrv.lab.clock import VirtualClock
from sitesrv.runtime.component import Component
from sitesrv.runtime.faults import AFTER_CLAIM, CrashAt
from sitesrv.runtime.host import LabRuntime
from sitesrv.runtime.inbox import InboxSpec, WorkItem
from sitesrv.runtime.registry import Registry
from sitesrv.runtime.step import run_until_idle

OUTBOX = "schedule.box\\outboxes\\LAN"


class Taker(Component):
    """Claims `*.srq` and keeps it for a few units: `<stem>-held.srs` says it holds it,
    `<stem>.srs` that it finished."""

    name = "SMS_TEST_TAKER"
    log_name = "taker.log"
    inboxes = (InboxSpec(OUTBOX, ("*.srq",)),)

    def start(self) -> None:
        self.held: list[tuple[WorkItem, int]] = []

    def work(self) -> bool:
        if self.held:
            item, units = self.held.pop()
            if units < 5:
                self.held.append((item, units + 1))
                return True
            self.ctx.publish(item.inbox.path / f"{item.name[:-4]}.srs", b"done\n")
            item.done()
            return True
        item = self.ctx.claim_next()
        if item is None:
            return False
        item.keep()
        self.held.append((item, 0))
        self.ctx.publish(item.inbox.path / f"{item.name[:-4]}-held.srs", b"held\n")
        return True


class Answerer(Component):
    """Takes the `*.srs` from the same folder and records it."""

    name = "SMS_TEST_ANSWERER"
    log_name = "answerer.log"
    inboxes = (InboxSpec(OUTBOX, ("*.srs",)),)

    def work(self) -> bool:
        item = self.ctx.claim_next()
        if item is None:
            return False
        self.ctx.log.write(f"Answered {item.name}")
        item.done()
        return True


class Greedy(Component):
    name = "SMS_TEST_GREEDY"
    log_name = "greedy.log"
    inboxes = (InboxSpec(OUTBOX, ("*",)),)

    def work(self) -> bool:
        return False


def test_two_components_share_a_folder_and_a_claim_spans_units(lab: Path) -> None:
    outbox = lab / "ZZZ/SMS/inboxes/schedule.box/outboxes/LAN"
    (outbox / "2_001ZZZ.srq").write_bytes(b"x\n")
    report = run_until_idle(lab, components=Registry(primary=(Taker, Answerer)), sites=["ZZZ"])
    assert report.errors == 0 and report.status == "idle"
    log = (lab / "ZZZ/SMS/Logs/answerer.log").read_text()
    assert "Answered 2_001ZZZ-held.srs" in log and "Answered 2_001ZZZ.srs" in log
    assert not (lab / "ZZZ/SMS/Logs/taker.log").exists()  # nothing released, nothing failed
    assert sorted(p.name for p in outbox.iterdir()) == [".work"]


def test_a_kept_claim_returns_at_restart_and_each_component_recovers_its_own(
        lab: Path) -> None:
    outbox = lab / "ZZZ/SMS/inboxes/schedule.box/outboxes/LAN"
    (outbox / "2_001ZZZ.srq").write_bytes(b"x\n")
    # The answerer's first claim is `-held.srs`, so it crashes while the taker holds the .srq.
    crash = CrashAt(AFTER_CLAIM, component="SMS_TEST_ANSWERER")
    report = run_until_idle(lab, components=Registry(primary=(Taker, Answerer)), sites=["ZZZ"],
                            faults=crash)
    assert crash.fired and report.errors == 0
    log = (lab / "ZZZ/SMS/Logs/answerer.log").read_text()
    assert "Answered 2_001ZZZ-held.srs" in log and "Answered 2_001ZZZ.srs" in log
    assert not (lab / "ZZZ/SMS/Logs/taker.log").exists()


def test_overlapping_patterns_in_one_folder_are_refused(lab: Path) -> None:
    with pytest.raises(ValueError, match="for the same file names"):
        LabRuntime(lab, clock=VirtualClock(), seed=0,
                   registry=Registry(primary=(Taker, Greedy)))

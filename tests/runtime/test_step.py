"""The step driver on the toy pipeline: results, idle and waits, crashes, determinism, replay."""

from __future__ import annotations

import gc
import logging
import os
import re
from pathlib import Path

import pytest

from sitesrv.admin.console import create_package
from sitesrv.components.registry import SMS_COMPONENTS
from sitesrv.errors import UserError
from sitesrv.lab.clock import CLOCK_FILE
from sitesrv.runtime import step
from sitesrv.runtime.agenda import Agenda
from sitesrv.runtime.component import Component
from sitesrv.runtime.faults import AFTER_CLAIM, AFTER_PUBLISH, BEFORE_PUBLISH, CrashAt, FaultPoint
from sitesrv.runtime.host import CRASHED
from sitesrv.runtime.idle import ExitCode
from sitesrv.runtime.inbox import InboxSpec, WorkItem
from sitesrv.runtime.registry import Registry
from sitesrv.runtime.schedule import StepRecord, read_schedule
from sitesrv.runtime.step import ReplayDivergence, run_until_idle
from sitesrv.testing import LabFactory, drop, events, inbox, tree_digest, write_source
from tests.conftest import DEFAULT_HIERARCHY
from tests.runtime.test_signals import HOUR, TRIGGERS, WAITS, Trigger, Waiter, taken, toy_lab
from tests.runtime.toy import (
    BROKEN,
    INCOMING,
    INSTALLED,
    OUTBOX,
    RECEIVE,
    REGISTRY,
    ToyDespooler,
    ToyInstaller,
    ToySender,
    ToyTicker,
    installed_items,
    instruction,
)

ITEMS = [f"ITEM{i:02d}" for i in range(8)]


def fill(lab: Path, items: list[str] = ITEMS) -> None:
    for item in items:
        drop(inbox(lab, "CEN", OUTBOX), f"{item}.SRQ", instruction(item))


def leftovers(lab: Path) -> list[str]:
    """Work files anywhere in the pipeline's inboxes, claimed or not."""
    found = []
    for site, folder in (("CEN", OUTBOX), ("SEC", RECEIVE), ("SEC", INCOMING)):
        root = inbox(lab, site, folder)
        found += [p.name for p in root.iterdir() if p.is_file() and not p.name.startswith(".")]
        found += [p.name for p in (root / ".work").iterdir()]
    return found


def test_the_pipeline_delivers_every_item_once(lab: Path) -> None:
    fill(lab)
    report = run_until_idle(lab, seed=3, components=REGISTRY)
    assert report.exit_code == ExitCode.IDLE and report.waits == () and report.errors == 0
    assert installed_items(inbox(lab, "SEC", INSTALLED)) == ITEMS
    assert leftovers(lab) == []
    assert "Received ITEM00 as " in (lab / "SEC/SMS/Logs/toydesp.log").read_text()


@pytest.mark.parametrize("enabled", [True, False])
def test_a_run_leaves_the_garbage_collector_as_it_found_it(lab: Path, enabled: bool) -> None:
    """Start-up runs without collections and freezes what it built (runtime/host.py
    `built_to_last`); a test suite that runs labs (sitesrv.pytest_plugin) gets its process's
    collector back as it was: on or off as before, nothing left frozen."""
    fill(lab)
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        report = run_until_idle(lab, seed=3, components=REGISTRY)
        assert (gc.isenabled(), gc.get_freeze_count()) == (enabled, 0)
    finally:
        (gc.enable if was else gc.disable)()
    assert report.exit_code == ExitCode.IDLE
    assert installed_items(inbox(lab, "SEC", INSTALLED)) == ITEMS


def test_bad_files_are_quarantined_and_failing_ones_retried_then_quarantined(lab: Path) -> None:
    fill(lab, ["GOOD"])
    drop(inbox(lab, "CEN", OUTBOX), "BAD.SRQ", b"not an instruction\n")
    drop(inbox(lab, "CEN", OUTBOX), "FLAKY.SRQ", instruction("FLAKY", fail="once"))
    drop(inbox(lab, "CEN", OUTBOX), "BROKEN.SRQ", instruction("BROKEN", fail="always"))
    report = run_until_idle(lab, components=REGISTRY)
    assert report.errors == 1 + 1 + 3  # BAD, FLAKY, BROKEN
    # Nothing waits, but a script can tell that not all went well: exit status 3.
    assert report.status == "waiting" and report.exit_code == ExitCode.WAITING
    assert report.waits == ()
    assert report.lines() == [
        "CEN SMS_TOY_SENDER: outboxes\\LAN\\corrupt\\BAD.SRQ quarantined: line 'not an "
        "instruction' is not key=value",
        "SEC SMS_TOY_DESPOOLER: 4 unit(s) failed (the last: RuntimeError: toy failure on "
        "BROKEN.SNI); see toydesp.log",
        "SEC SMS_TOY_DESPOOLER: receive\\corrupt\\BROKEN.SNI quarantined: processing failed 3 "
        "times; the last error was Win32 Error = 1359",
    ]
    assert installed_items(inbox(lab, "SEC", INSTALLED)) == ["FLAKY", "GOOD"]
    assert sorted(p.name for p in (inbox(lab, "CEN", OUTBOX) / "corrupt").iterdir()) == [
        "BAD.SRQ", "quarantine.log"]
    assert sorted(p.name for p in (inbox(lab, "SEC", RECEIVE) / "corrupt").iterdir()) == [
        "BROKEN.SNI", "quarantine.log"]
    log = (lab / "SEC/SMS/Logs/toydesp.log").read_text()
    # The site server's log says it as SMS would; Python's words are in the events.
    assert ("Failed to process E:\\SMS\\inboxes\\despoolr.box\\receive\\BROKEN.SNI "
            "(attempt 3 of 3): Win32 Error = 1359") in log
    assert "processing failed 3 times; the last error was Win32 Error = 1359" in log
    assert "RuntimeError" not in log
    assert [e["error"] for e in events(lab, "processing_failed") if e["attempt"] == 3] == [
        "RuntimeError: toy failure on BROKEN.SNI"]


def test_a_component_failing_every_unit_ends_the_run_as_waiting(lab: Path) -> None:
    report = run_until_idle(lab, components=BROKEN)
    assert report.exit_code == ExitCode.WAITING and report.waits == ()
    assert report.lines() == ["CEN SMS_TOY_BROKEN: 1 unit(s) failed (RuntimeError: no such "
                              "table: PkgNotification); see toybroken.log"]
    assert "Unexpected error: Win32 Error = 1359" in (
        lab / "CEN/SMS/Logs/toybroken.log").read_text()


def test_a_waiting_item_makes_the_lab_idle_with_waits(lab: Path) -> None:
    fill(lab, ["A"])
    drop(inbox(lab, "CEN", OUTBOX), "W.SRQ", instruction("W", needs="NEVER"))
    report = run_until_idle(lab, components=REGISTRY, horizon=60)
    assert report.status == "waiting" and report.exit_code == ExitCode.WAITING
    assert report.lines() == ["SEC SMS_TOY_DESPOOLER: receive\\W.SNI waits for NEVER"]
    assert (inbox(lab, "SEC", RECEIVE) / "W.SNI").exists()  # still visible in its inbox
    # It was retried every despooler_retry_delay (5 s), after the lab time each taking of the
    # file costs, until nothing progressed for 60 s.
    log = (lab / "SEC/SMS/Logs/toydesp.log").read_text()
    assert log.count("Instruction E:\\SMS\\inboxes\\despoolr.box\\receive\\W.SNI waits") == 12


def test_a_wait_that_resolves_does_not_block(lab: Path) -> None:
    drop(inbox(lab, "CEN", OUTBOX), "AW.SRQ", instruction("AW", needs="Z"))
    fill(lab, ["Z"])
    report = run_until_idle(lab, seed=5, components=REGISTRY)
    assert report.exit_code == ExitCode.IDLE
    assert installed_items(inbox(lab, "SEC", INSTALLED)) == ["AW", "Z"]


def test_a_periodic_timer_alone_does_not_keep_the_lab_busy(lab: Path) -> None:
    class Quiet(ToyTicker):
        name = "SMS_TOY_QUIET"

        def waiting(self) -> list:
            return []

    report = run_until_idle(lab, components=Registry(primary=(Quiet,)))
    assert report.exit_code == ExitCode.IDLE and report.steps == 1  # the start-up pass only


def test_a_reported_wait_runs_timers_until_the_horizon(lab: Path) -> None:
    report = run_until_idle(lab, components=Registry(primary=(ToyTicker,)), horizon=300)
    # distmgr_sleep is 60 s in the lab profile: the start-up pass, then ticks at 60..300 s.
    assert report.exit_code == ExitCode.WAITING and report.steps == 6
    assert report.lines() == ["CEN SMS_TOY_TICKER: ticker waits for nothing in particular"]
    assert (lab / "CEN/SMS/Logs/toytick.log").read_text().count("Tick ") == 6


def test_the_default_horizon_is_twice_the_longest_delay(lab: Path) -> None:
    report = run_until_idle(lab, components=Registry(primary=(ToyTicker,)))
    assert report.lab_time - 1180947600.0 == 1200.0  # 2 x scheduler_deleted_site_retention


def test_max_steps_gives_a_timeout(lab: Path) -> None:
    fill(lab)
    report = run_until_idle(lab, components=REGISTRY, max_steps=5)
    assert report.counted == 5 and report.exit_code == ExitCode.TIMEOUT
    # The passes that found nothing at a lab time of their own (SEC's despooler and installer
    # at start-up, and again once work had moved the clock on) ran free.
    assert report.steps == 9


def test_a_periodic_timer_that_finds_nothing_does_not_use_up_the_step_budget(
        sitesrv_lab_factory: LabFactory) -> None:
    # The repository's hierarchy with SMS 2003's timing: SQL Monitor polls each primary's
    # database every second and finds nothing, while a send request waits for a paused address.
    from sitesrv.admin.pauses import set_paused
    from tests.conftest import DEFAULT_HIERARCHY
    from tests.transport.conftest import content_job

    built = sitesrv_lab_factory(DEFAULT_HIERARCHY.read_text(encoding="utf-8").replace(
        "profile: lab", "profile: sms2003"))
    lab = built.root
    set_paused(built.layout, "ZZZ", "P00", True)
    content_job(lab, "00000001", b"x" * 1000)
    # Two primaries x 3600 polls in the hour: over 7,000 steps that did nothing.
    report = run_until_idle(lab, horizon=3600, max_steps=500, components=SMS_COMPONENTS)
    assert (report.status, report.exit_code) == ("waiting", ExitCode.WAITING)
    assert report.steps > 7200 and report.counted < 500
    assert report.lines() == [
        "ZZZ SMS_LAN_SENDER: outboxes\\LAN\\2_001ZZZ.srq waits for the paused address to P00 to "
        "be resumed ('sitesrv address resume ZZZ P00')",
        "ZZZ SMS_SCHEDULER: 00000001.job waits for send request 2_001ZZZ",
    ]


class Spinner(ToyTicker):
    """Wakes itself again at once, finding nothing each time: lab time never moves on."""

    name = "SMS_TOY_SPINNER"

    def work(self) -> bool:
        self.ctx.wake_at(self.ctx.clock.now())
        return False


def test_a_component_doing_nothing_again_at_the_same_lab_time_uses_up_the_budget(
        lab: Path) -> None:
    report = run_until_idle(lab, components=Registry(primary=(Spinner,)), max_steps=50)
    assert report.exit_code == ExitCode.TIMEOUT
    assert report.lab_time == 1180947600.0 and (report.steps, report.counted) == (51, 50)


class Poller(ToyTicker):
    """Finds nothing every second, as SQL Monitor does with the sms2003 profile."""

    name = "SMS_TOY_POLLER"

    def start(self) -> None:
        self.ctx.wake_at(self.ctx.clock.now())

    def work(self) -> bool:
        self.ctx.wake_at(self.ctx.clock.now() + 1)
        return False

    def waiting(self) -> list:
        return []


POLLING = Registry(primary=(ToySender, Poller), secondary=(ToyDespooler, ToyInstaller))


def test_steps_that_did_nothing_are_recorded_and_replayed(
        tmp_path: Path, sitesrv_lab_factory: LabFactory) -> None:
    labs = [sitesrv_lab_factory(name=name).root for name in ("a", "b")]
    for lab in labs:
        fill(lab, ["A", "B"])
        drop(inbox(lab, "CEN", OUTBOX), "W.SRQ", instruction("W", needs="NEVER"))
    recorded = tmp_path / "s.jsonl"
    first = run_until_idle(labs[0], seed=3, components=POLLING, horizon=60, max_steps=40,
                           record=recorded)
    steps = read_schedule(recorded).steps
    assert first.exit_code == ExitCode.WAITING and first.counted <= 40 < first.steps
    assert len(steps) == first.steps and sum(r.did == "nothing" for r in steps) > 60
    second = run_until_idle(labs[1], components=POLLING, horizon=60, max_steps=40,
                            replay=recorded)
    assert (second.steps, second.counted, second.lab_time) == (
        first.steps, first.counted, first.lab_time)
    assert lab_files(labs[0]) == lab_files(labs[1])


def test_lab_time_carries_over_to_the_next_run(lab: Path) -> None:
    drop(inbox(lab, "CEN", OUTBOX), "W.SRQ", instruction("W", needs="NEVER"))
    first = run_until_idle(lab, components=REGISTRY, horizon=30)
    assert float((lab / "SEC/SMS/state" / CLOCK_FILE).read_text()) == first.lab_time
    second = run_until_idle(lab, components=REGISTRY, horizon=30)
    # Retried every 5 s and the cost of taking the file, within the 30 s horizon.
    assert second.lab_time >= first.lab_time + 25


def test_only_the_named_sites_run(lab: Path) -> None:
    fill(lab, ["A"])
    run_until_idle(lab, components=REGISTRY, sites=["CEN"])
    assert [p.name for p in inbox(lab, "SEC", RECEIVE).iterdir() if p.is_file()] == ["A.SNI"]


# --- crashes --------------------------------------------------------------------------------

@pytest.mark.parametrize("point", [AFTER_CLAIM, BEFORE_PUBLISH, AFTER_PUBLISH])
@pytest.mark.parametrize("component", [ToySender.name, ToyDespooler.name, ToyInstaller.name])
def test_a_crash_anywhere_in_a_unit_is_recovered_without_duplicates(
        lab: Path, tmp_path: Path, point: str, component: str) -> None:
    fill(lab)
    crash = CrashAt(point, component=component, times=3)
    report = run_until_idle(lab, seed=11, components=REGISTRY, faults=crash,
                            record=tmp_path / "schedule.jsonl")
    assert len(crash.fired) == 3
    assert report.exit_code == ExitCode.IDLE
    assert installed_items(inbox(lab, "SEC", INSTALLED)) == ITEMS  # each exactly once
    assert leftovers(lab) == []
    # The temp files the crashed units were writing were deleted at their restarts.
    assert [p.name for p in lab.rglob("*") if p.name.upper().endswith(".TMP")] == []
    crashed = [r for r in read_schedule(tmp_path / "schedule.jsonl").steps if r.did == CRASHED]
    assert [r.detail.split()[0] for r in crashed] == [point] * 3


def test_a_crash_between_publish_and_remove_redoes_into_the_same_output(
        lab: Path, tmp_path: Path) -> None:
    fill(lab, ["A"])
    crash = CrashAt(AFTER_PUBLISH, component=ToyDespooler.name)
    run_until_idle(lab, components=REGISTRY, faults=crash, record=tmp_path / "s.jsonl")
    despooler = [r for r in read_schedule(tmp_path / "s.jsonl").steps
                 if r.component == ToyDespooler.name and r.did != "nothing"]
    sni = "SEC/SMS/inboxes/despoolr.box/receive/A.SNI"
    (pkg,) = {a.split()[1] for r in despooler for a in r.actions if a.startswith("published")}
    # The crash came after the .PKG was published and before the .SNI was removed...
    assert [(r.did, r.actions) for r in despooler] == [
        ("crashed", (f"claimed {sni}", f"published {pkg}")),
        # ...the restart returned the .SNI to its inbox, and the redo overwrote the same .PKG.
        ("progressed", (f"claimed {sni}", f"published {pkg}", f"finished {sni}")),
    ]
    returned = events(lab, "returned_to_inbox")
    assert [e["file"] for e in returned] == ["E:\\SMS\\inboxes\\despoolr.box\\receive\\A.SNI"]
    assert installed_items(inbox(lab, "SEC", INSTALLED)) == ["A"]


class ChunkSender(Component):
    """Sends each `.SRQ` as the Sender does: `<stem>.PCK.TMP` written into the destination's
    receive folder one chunk per unit, 10 s of lab time apart, with the request kept claimed;
    then renamed `<stem>.PCK`, and `<stem>.SNI` published."""

    name = "SMS_TOY_CHUNK_SENDER"
    log_name = "toychunk.log"
    inboxes = (InboxSpec(OUTBOX, ("*.SRQ",)),)
    CHUNKS = (b"first chunk;", b"second chunk;", b"third chunk")

    def start(self) -> None:
        self.sending: tuple[WorkItem, int] | None = None

    def work(self) -> bool:
        if self.sending is None:
            item = self.ctx.claim_next()
            if item is None:
                return False
            item.keep()
            self.sending = (item, 0)
        item, sent = self.sending
        stem = item.name.rsplit(".", 1)[0]
        receive = self.ctx.lab.site("SEC").receive
        tmp = receive / f"{stem}.PCK.TMP"
        with open(tmp, "r+b" if sent else "wb") as f:  # fails if the file was deleted
            f.seek(sum(len(c) for c in self.CHUNKS[:sent]))
            f.write(self.CHUNKS[sent])
        sent += 1
        if sent < len(self.CHUNKS):
            self.sending = (item, sent)
            self.ctx.wake_at(self.ctx.clock.now() + 10)
            return False
        os.replace(tmp, receive / f"{stem}.PCK")
        self.ctx.publish(receive / f"{stem}.SNI", item.read_bytes())
        item.done()
        self.sending = None
        return True


def test_a_crash_in_step_mode_keeps_another_writers_temp_file_in_flight(lab: Path) -> None:
    fill(lab, ["SLOW"])
    # The despooler retries W every 5 s while the package is written (10 s per chunk).
    drop(inbox(lab, "SEC", RECEIVE), "W.SNI", instruction("W", needs="NEVER"))
    receive = inbox(lab, "SEC", RECEIVE)
    crashed: list[FaultPoint] = []

    def crash_while_the_package_is_in_flight(point: FaultPoint) -> bool:
        if (point.component, point.name) != (ToyDespooler.name, AFTER_CLAIM) or crashed:
            return False
        if (receive / "SLOW.PCK.TMP").exists():
            crashed.append(point)
        return bool(crashed)

    registry = Registry(primary=(ChunkSender,), secondary=(ToyDespooler, ToyInstaller))
    report = run_until_idle(lab, components=registry, faults=crash_while_the_package_is_in_flight,
                            horizon=60)
    assert len(crashed) == 1  # the despooler restarted while SLOW.PCK.TMP was being written
    assert report.errors == 0 and report.problems == ()
    assert (receive / "SLOW.PCK").read_bytes() == b"".join(ChunkSender.CHUNKS)
    assert installed_items(inbox(lab, "SEC", INSTALLED)) == ["SLOW"]
    assert "temporary" not in (lab / "SEC/SMS/Logs/toydesp.log").read_text()


# --- determinism and replay -----------------------------------------------------------------

def run_fresh(tmp_path: Path, sitesrv_lab_factory: LabFactory, name: str, seed: int | None,
              **kwargs: object) -> tuple[Path, Path]:
    lab = sitesrv_lab_factory(name=name).root
    fill(lab)
    drop(inbox(lab, "CEN", OUTBOX), "W.SRQ", instruction("W", needs="ITEM05"))
    drop(inbox(lab, "CEN", OUTBOX), "BAD.SRQ", b"?\n")
    schedule = tmp_path / f"{name}.jsonl"
    if "replay" not in kwargs:
        kwargs["record"] = schedule
    run_until_idle(lab, seed=seed, components=REGISTRY, **kwargs)  # type: ignore[arg-type]
    return lab, schedule


def lab_files(lab: Path) -> dict[str, str]:
    """The digest of every file of the lab but the site database (its pages vary)."""
    return {k: v for k, v in tree_digest(lab).items() if k != "CEN/SMS/site.db"}


def test_the_same_seed_gives_byte_identical_trees_logs_and_schedules(
        tmp_path: Path, sitesrv_lab_factory: LabFactory) -> None:
    a, sa = run_fresh(tmp_path, sitesrv_lab_factory, "a", seed=42,
                      faults=CrashAt(AFTER_PUBLISH, component=ToyDespooler.name))
    b, sb = run_fresh(tmp_path, sitesrv_lab_factory, "b", seed=42,
                      faults=CrashAt(AFTER_PUBLISH, component=ToyDespooler.name))
    assert lab_files(a) == lab_files(b)
    assert "SEC/SMS/Logs/toydesp.log" in lab_files(a) and "events.jsonl" in lab_files(a)
    assert sa.read_bytes() == sb.read_bytes()
    c, sc = run_fresh(tmp_path, sitesrv_lab_factory, "c", seed=43)
    assert sc.read_bytes() != sa.read_bytes()


def test_replay_reproduces_the_recorded_run_including_its_crashes(
        tmp_path: Path, sitesrv_lab_factory: LabFactory) -> None:
    a, recorded = run_fresh(tmp_path, sitesrv_lab_factory, "a", seed=7,
                            faults=CrashAt(BEFORE_PUBLISH, component=ToyInstaller.name, times=2))
    assert sum(r.did == CRASHED for r in read_schedule(recorded).steps) == 2
    # Replay with no seed and no fault injector: the schedule alone decides.
    b, _ = run_fresh(tmp_path, sitesrv_lab_factory, "b", seed=None, replay=recorded)
    assert lab_files(a) == lab_files(b)


class RandomNamingDespooler(ToyDespooler):
    """Names its output with `ids.random_name`, drawn from the seed (not derived from the input)."""

    def work(self) -> bool:
        item = self.ctx.claim_next()
        if item is None:
            return False
        incoming = self.ctx.layout.inbox(INCOMING)
        name = self.ctx.ids.random_name(incoming, ".PKG")
        self.ctx.publish(incoming / name, item.read_bytes())
        self.ctx.log.write(f"Received {item.name} as {name}")
        item.done()
        return True


RANDOM_NAMES = Registry(primary=(ToySender,), secondary=(RandomNamingDespooler, ToyInstaller))


def recorded_on_the_first(tmp_path: Path, sitesrv_lab_factory: LabFactory,
                          components: Registry) -> tuple[list[Path], Path]:
    """Two labs alike; the first run with seed 5 and recorded, the second left to replay it."""
    labs = [sitesrv_lab_factory(name=name).root for name in ("a", "b")]
    for lab in labs:
        fill(lab)
    schedule = tmp_path / "s.jsonl"
    run_until_idle(labs[0], seed=5, components=components, record=schedule)
    return labs, schedule


def test_a_replay_uses_the_seed_the_schedule_was_recorded_with(
        tmp_path: Path, sitesrv_lab_factory: LabFactory) -> None:
    labs, schedule = recorded_on_the_first(tmp_path, sitesrv_lab_factory, RANDOM_NAMES)
    assert read_schedule(schedule).seed == 5
    run_until_idle(labs[1], components=RANDOM_NAMES, replay=schedule)  # no seed given
    log = "SEC/SMS/Logs/toydesp.log"
    assert "Received ITEM00.SNI as " in (labs[0] / log).read_text()
    assert (labs[0] / log).read_bytes() == (labs[1] / log).read_bytes()
    assert lab_files(labs[0]) == lab_files(labs[1])


def test_a_schedule_torn_by_a_killed_run_replays_its_whole_steps(
        tmp_path: Path, sitesrv_lab_factory: LabFactory, caplog: pytest.LogCaptureFixture) -> None:
    lab = sitesrv_lab_factory(name="a").root
    fill(lab)
    schedule = tmp_path / "s.jsonl"
    run_until_idle(lab, seed=5, components=RANDOM_NAMES, record=schedule)
    whole = read_schedule(schedule).steps
    text = schedule.read_text()
    schedule.write_text(text[:len(text) - 20])  # killed while writing the last step
    with caplog.at_level(logging.WARNING):
        torn = read_schedule(schedule)
    assert (torn.seed, torn.steps) == (5, whole[:-1])
    assert caplog.messages == [f"{schedule}, line {len(whole) + 1}: skipped a torn last step "
                               "(the recording run was killed while writing it)"]
    schedule.write_text(text.replace("}\n", "", 1))  # a bad line that is not the last one
    with pytest.raises(UserError, match=re.escape(f"{schedule}, line 1: not a schedule line")):
        read_schedule(schedule)


def test_a_replay_with_another_seed_than_recorded_is_refused(lab: Path, tmp_path: Path) -> None:
    schedule = tmp_path / "s.jsonl"
    run_until_idle(lab, seed=5, components=REGISTRY, record=schedule)
    with pytest.raises(UserError, match=r"s.jsonl was recorded with seed 5; replaying it with "
                       r"seed 6 would draw other names and diverge. Leave out --seed, or pass "
                       r"--seed 5."):
        run_until_idle(lab, seed=6, components=REGISTRY, replay=schedule)


def test_a_schedule_without_a_header_is_still_read(lab: Path, tmp_path: Path) -> None:
    recorded = tmp_path / "s.jsonl"
    run_until_idle(lab, seed=5, components=REGISTRY, record=recorded)
    lines = recorded.read_text().splitlines()
    assert lines[0] == '{"sitesrv_schedule": 1, "seed": 5}'
    old = tmp_path / "old.jsonl"
    old.write_text("\n".join(lines[1:]) + "\n")
    assert read_schedule(old).seed is None
    assert read_schedule(old).steps == read_schedule(recorded).steps


def write_schedule(path: Path, picks: list[tuple[str, str]]) -> Path:
    path.write_text("".join(
        StepRecord(n, "2007-06-04T09:00:00.000Z", site, component, "nothing").to_json() + "\n"
        for n, (site, component) in enumerate(picks, 1)))
    return path


def test_a_replay_picking_a_component_that_cannot_run_says_where_and_why(
        lab: Path, tmp_path: Path) -> None:
    # At start-up every component runs once; the sender, with nothing to send, then sleeps.
    schedule = write_schedule(tmp_path / "s.jsonl", [("CEN", ToySender.name)] * 2)
    with pytest.raises(ReplayDivergence, match=(
            r"s.jsonl: replay diverged at step 2 \(lab time 2007-06-04T09:00:00.000Z, recorded "
            r"2007-06-04T09:00:00.000Z\): the schedule picks CEN SMS_TOY_SENDER, which is not "
            r"runnable; runnable now: SEC SMS_TOY_DESPOOLER, SEC SMS_TOY_INSTALLER.")):
        run_until_idle(lab, components=REGISTRY, replay=schedule)


def test_a_replay_longer_than_the_run_is_a_divergence(lab: Path, tmp_path: Path) -> None:
    picks = [("CEN", ToySender.name), ("SEC", ToyDespooler.name), ("SEC", ToyInstaller.name)]
    schedule = write_schedule(tmp_path / "s.jsonl", picks * 2)
    with pytest.raises(ReplayDivergence, match=r"the schedule has 3 more step\(s\) from step 4, "
                       r"but the lab is idle"):
        run_until_idle(lab, components=REGISTRY, replay=schedule)


def test_a_replay_naming_a_component_this_lab_does_not_run(lab: Path, tmp_path: Path) -> None:
    schedule = write_schedule(tmp_path / "s.jsonl", [("SEC", ToySender.name)])
    with pytest.raises(ReplayDivergence, match="SEC SMS_TOY_SENDER, which does not run"):
        run_until_idle(lab, components=REGISTRY, replay=schedule)


def test_record_and_replay_together_are_refused(lab: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not both"):
        run_until_idle(lab, components=REGISTRY, record=tmp_path / "a", replay=tmp_path / "b")


def test_a_schedule_that_is_not_one_is_named(lab: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"step": 1}\n')
    with pytest.raises(UserError, match=r"bad.jsonl, line 1: not a schedule line"):
        run_until_idle(lab, components=REGISTRY, replay=bad)


def test_a_prefix_of_a_schedule_replays_and_the_seed_goes_on_as_it_did(
        tmp_path: Path, sitesrv_lab_factory: LabFactory) -> None:
    """Bug hunt: replayed steps drew nothing from the seed, so after a cut (or torn) schedule
    the run went on with other picks than the recording's."""
    a, recorded = run_fresh(tmp_path, sitesrv_lab_factory, "a", seed=9)
    lines = recorded.read_text().splitlines(keepends=True)
    prefix = tmp_path / "prefix.jsonl"
    prefix.write_text("".join(lines[:len(lines) // 2]))
    b, _ = run_fresh(tmp_path, sitesrv_lab_factory, "b", seed=None, replay=prefix)
    assert lab_files(a) == lab_files(b)


def test_a_schedule_with_a_step_cut_out_or_of_another_lab_diverges(
        tmp_path: Path, sitesrv_lab_factory: LabFactory) -> None:
    """Bug hunt: only the picks were checked, so an edited schedule, or one recorded on another
    lab, replayed with exit 0 and other bytes."""
    _, recorded = run_fresh(tmp_path, sitesrv_lab_factory, "a", seed=9)
    lines = recorded.read_text().splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[:5] + lines[6:]))
    with pytest.raises(ReplayDivergence, match=r"cut.jsonl: replay diverged at step 5 \(lab "
                       r"time .*\): the schedule's next line is step 6 at "):
        run_fresh(tmp_path, sitesrv_lab_factory, "b", seed=None, replay=cut)
    other = sitesrv_lab_factory(name="c").root
    fill(other, ["ITEM00", "OTHER1"])
    with pytest.raises(ReplayDivergence, match=r"a.jsonl: replay diverged at step \d+ .*the "
                       r"schedule recorded .*Replay a schedule on a copy of the lab it was "
                       r"recorded on."):
        run_until_idle(other, components=REGISTRY, replay=recorded)


def test_a_schedule_that_is_not_utf8_is_a_user_error(lab: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bin.jsonl"
    bad.write_bytes(b"\xff\n")
    with pytest.raises(UserError, match=r"bin.jsonl: not a schedule: byte 0xff at offset 0 is "
                       r"not UTF-8 text"):
        run_until_idle(lab, components=REGISTRY, replay=bad)


class CheckedAgenda(Agenda):
    """The step driver's agenda, checked at every step against the full look it replaces:
    every host's `fire_timers`, then every host's `wanted` flag, and `min` of every host's
    `next_timer()` when nothing is runnable."""

    looks = 0

    def fire_timers(self, now: float) -> None:
        super().fire_timers(now)
        CheckedAgenda.looks += 1
        assert [host for host in self.hosts if host.fire_timers(now)] == []  # none left due
        assert self.runnable_hosts() == [host for host in self.hosts if host.wanted.is_set()]

    def next_due(self) -> float | None:
        due = super().next_due()
        assert due == min((t for host in self.hosts if (t := host.next_timer()) is not None),
                          default=None)
        return due


def test_the_agenda_picks_what_asking_every_host_picked(
        lab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        sitesrv_lab_factory: LabFactory) -> None:
    monkeypatch.setattr(step, "Agenda", CheckedAgenda)
    # The toy pipeline: retries after failures, a file waiting until the horizon, crashes.
    fill(lab, ["A", "B"])
    drop(inbox(lab, "CEN", OUTBOX), "W.SRQ", instruction("W", needs="NEVER"))
    drop(inbox(lab, "CEN", OUTBOX), "FLAKY.SRQ", instruction("FLAKY", fail="once"))
    run_until_idle(lab, seed=4, components=REGISTRY, horizon=60,
                   faults=CrashAt(AFTER_CLAIM, component=ToyDespooler.name, times=2))
    # A signal ends A's deferral early: its timer entry, first in the heap, is stale at the
    # next idle check, while B waits its hour.
    signals = toy_lab(sitesrv_lab_factory(name="signals").root)
    for name in ("A.X", "B.X"):
        drop(inbox(signals, "CEN", WAITS), name, b"")
    drop(inbox(signals, "CEN", TRIGGERS), "T1", b"A.X")
    run_until_idle(signals, components=Registry(primary=(Waiter, Trigger)), horizon=2 * HOUR)
    assert sorted(taken(signals)) == ["A.X", "B.X"]
    # SMS's components at three sites: a package to a DP at each, with a crash on the way.
    sms = sitesrv_lab_factory(DEFAULT_HIERARCHY, name="sms")
    create_package(sms, "ZZZ", name="Checked", source=write_source(tmp_path / "src"),
                   dps=["ZZZ:MGMT01", "P00:REMOTE_DP", "S01:SEC01"])
    report = run_until_idle(sms.root, seed=6, components=SMS_COMPONENTS,
                            faults=CrashAt(BEFORE_PUBLISH, site="P00", times=2))
    assert report.exit_code == ExitCode.IDLE
    assert CheckedAgenda.looks > report.steps > 100


def test_a_replay_of_fewer_sites_than_recorded_says_to_pass_the_recorded_sites(
        tmp_path: Path, sitesrv_lab_factory: LabFactory) -> None:
    labs, schedule = recorded_on_the_first(tmp_path, sitesrv_lab_factory, REGISTRY)
    with pytest.raises(ReplayDivergence, match=r"whose site this run leaves out \(pass the "
                       r"--site values the schedule was recorded with\)"):
        run_until_idle(labs[1], components=REGISTRY, replay=schedule, sites=["CEN"])


def test_a_prefix_replayed_with_the_recordings_injector_goes_on_as_the_recording(
        tmp_path: Path, sitesrv_lab_factory: LabFactory) -> None:
    """Review: the injector was not asked while recorded steps ran, so it still had its crashes
    to give when the seed's picks went on, and crashed again."""
    def faults() -> CrashAt:
        return CrashAt(BEFORE_PUBLISH, component=ToyInstaller.name, times=2)

    a, recorded = run_fresh(tmp_path, sitesrv_lab_factory, "a", seed=7, faults=faults())
    lines = recorded.read_text().splitlines(keepends=True)
    last_crash = max(i for i, line in enumerate(lines) if '"crashed"' in line)
    prefix = tmp_path / "prefix.jsonl"
    prefix.write_text("".join(lines[:last_crash + 2]))
    b, _ = run_fresh(tmp_path, sitesrv_lab_factory, "b", seed=None, replay=prefix,
                     faults=faults())
    assert lab_files(a) == lab_files(b)


def test_progress_hears_the_count_and_the_clock_and_the_run_is_the_same(
        sitesrv_lab_factory: LabFactory) -> None:
    """A person watching a long run sees it move on (`sitesrv run --step` on a terminal); the
    run is the same, step for step and byte for byte, whether anyone watches or not."""
    labs = [sitesrv_lab_factory(name=name).root for name in ("a", "b")]
    for lab in labs:
        fill(lab)
    heard: list[tuple[int, float]] = []
    watched = run_until_idle(labs[0], seed=3, components=REGISTRY,
                             progress=lambda steps, when: heard.append((steps, when)))
    alone = run_until_idle(labs[1], seed=3, components=REGISTRY)
    assert [steps for steps, _ in heard] == list(range(1, watched.steps + 1))
    times = [when for _, when in heard]
    assert times == sorted(times) and times[0] < times[-1] <= watched.lab_time
    assert (watched.steps, watched.lab_time) == (alone.steps, alone.lab_time)
    assert lab_files(labs[0]) == lab_files(labs[1])

"""The step driver: one thread, a seeded scheduler, a virtual clock, a replayable schedule.

Each step the scheduler picks one runnable (site, component) with `random.Random(seed)` and runs
one unit of its work. A host is runnable when something woke it (start-up, a file published into
its inbox, a timer or deferral falling due, its last unit asking to run again). When nothing is
runnable the virtual clock jumps to the next timer, unless the lab is idle (idle.py). The same
seed on the same lab gives the same steps, so the same inbox trees, logs and databases.

Lab time carries over between runs (lab.clock.lab_start, over every site of the lab): the next
run starts where the last one ended, never before 2007-06-04 09:00:00 UTC. Work takes lab time:
a unit that compresses, expands, copies or takes a file moves the clock on by its cost
(runtime/worktime.py), one unit after another on the one clock, so the lines of all sites
follow one time line. Each run has a number (lab.clock.next_run) that seeds its random names
with the seed, so a lab's runs never draw the same names again.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Callable
from pathlib import Path

from sitesrv.errors import UserError
from sitesrv.lab.clock import VirtualClock, lab_start, lab_time_text, next_run
from sitesrv.runtime.agenda import Agenda
from sitesrv.runtime.defaults import DEFAULT_MAX_STEPS
from sitesrv.runtime.faults import FaultPoint, Injector
from sitesrv.runtime.host import CRASHED, NOTHING, ComponentHost, LabRuntime, UnitOutcome
from sitesrv.runtime.idle import (
    IDLE,
    TIMEOUT,
    WAITING,
    IdleReport,
    WaitLine,
    default_horizon,
    final_status,
)
from sitesrv.runtime.registry import Registry
from sitesrv.runtime.schedule import ScheduleWriter, StepRecord, read_schedule


class ReplayDivergence(UserError):
    """The lab no longer follows the recorded schedule."""


def run_until_idle(lab_root: Path, *, seed: int | None = None, record: Path | None = None,
                   replay: Path | None = None, horizon: float | None = None,
                   components: Registry, max_steps: int = DEFAULT_MAX_STEPS,
                   faults: Injector | None = None,
                   sites: list[str] | None = None,
                   progress: Callable[[int, float], None] | None = None) -> IdleReport:
    """Run the lab's components in step mode until it is idle or `max_steps` counted steps
    have run (see `counts_against_budget`: a periodic timer that finds nothing is free).

    `faults` may crash units at protocol fault points (see faults.py); `replay` follows a
    schedule `record` wrote, including its crashes, then continues with the seed's picks. The
    seed defaults to the one the schedule was recorded with (0 without a schedule, or for a
    schedule that does not say); a different `seed` is a UserError.

    `progress(steps, lab_time)` is called after every step, for a person watching a long run
    (`sitesrv run --step` on a terminal); it must not touch the lab, and what it raises ends the
    run as Ctrl-C does.
    """
    if record is not None and replay is not None:
        raise UserError("Use --record or --replay, not both.")
    schedule: list[StepRecord] = []
    if replay is not None:
        recorded = read_schedule(replay)
        schedule = recorded.steps
        seed = _replay_seed(replay, seed, recorded.seed)
    seed = 0 if seed is None else seed
    clock = VirtualClock()
    # Without a user's injector or a crash to replay, no point can crash: the hosts get no
    # injector, so each point costs one attribute check, as in live mode.
    injector = (_StepFaults(faults, Path(os.path.abspath(lab_root)))
                if faults is not None or any(step.did == CRASHED for step in schedule) else None)
    runtime = LabRuntime(lab_root, clock=clock, seed=seed,
                         registry=components, sites=sites, injector=injector)
    # On the lab's time line (all its sites) before the locks: a takeover is stamped too.
    clock.advance_to(lab_start(runtime.layout.sites()))
    runtime.last_progress = clock.now()
    limit = default_horizon(runtime.hierarchy.timing) if horizon is None else horizon
    runtime.lock()  # before anything touches the sites' folders
    try:
        # Opened before the run is numbered: a schedule that cannot be written costs no run.
        with (ScheduleWriter(record, runtime.seed) if record is not None
              else contextlib.nullcontext()) as writer:
            runtime.run = next_run(runtime.layout.sites(), runtime.sites,
                                   runtime.hierarchy.durability)
            return _run(runtime, clock, injector, random.Random(seed), schedule, replay, writer,
                        limit, max_steps, progress)
    finally:
        runtime.unlock()


def _run(runtime: LabRuntime, clock: VirtualClock, injector: _StepFaults | None,
         picker: random.Random, schedule: list[StepRecord], replay: Path | None,
         writer: ScheduleWriter | None, limit: float, max_steps: int,
         progress: Callable[[int, float], None] | None) -> IdleReport:
    by_key = {host.key: host for host in runtime.hosts}
    runtime.boot()
    agenda = Agenda(runtime.hosts)
    steps = 0  # every unit run: the schedule's step numbers
    counted = 0  # the steps charged to max_steps
    idle_at: dict[tuple[str, str], float] = {}
    while True:
        now = clock.now()
        agenda.fire_timers(now)
        if not agenda.runnable:
            next_time = agenda.next_due()
            # Asked only when the clock may move on, and only until one host waits: this
            # runs at every timer of a waiting lab (each SQL Monitor poll).
            if next_time is not None and next_time <= runtime.last_progress + limit and any(
                    host.waits() for host in runtime.hosts):
                clock.advance_to(next_time)
                continue
            waits = _waits(runtime)
            if steps < len(schedule):
                raise ReplayDivergence(
                    f"{replay}: the schedule has {len(schedule) - steps} more step(s) from "
                    f"step {steps + 1}, but the lab is idle at {lab_time_text(now)}.")
            status = WAITING if waits else IDLE
            break
        if counted >= max_steps:
            status = TIMEOUT
            break
        wanted = schedule[steps] if steps < len(schedule) else None
        if wanted is not None:
            _check_position(wanted, steps + 1, now, replay)
            host = _replayed_host(wanted, by_key, agenda, replay, now,
                                  {site.code for site in runtime.hierarchy.sites})
            picker.choice(agenda.runnable)  # the recording's draw: the seed goes on in step
            agenda.take(host)
            if injector is not None:
                injector.replaying = wanted
        else:
            host = agenda.pick(picker)
            if injector is not None:
                injector.replaying = None
        outcome = host.run_unit()
        if wanted is not None:
            _check_outcome(wanted, outcome, replay, now)
        agenda.touched(host)
        runtime.count(outcome)
        steps += 1
        counted += counts_against_budget(outcome, host, now, idle_at)
        if writer is not None:
            writer.write(_record(steps, now, host, outcome))
        if progress is not None:
            progress(steps, clock.now())
    runtime.save_lab_time()
    problems = tuple(runtime.problems())
    return IdleReport(final_status(status, problems), clock.now(), tuple(_waits(runtime)), steps,
                      runtime.error_count, problems, counted=counted)


def counts_against_budget(outcome: UnitOutcome, host: ComponentHost, now: float,
                          idle_at: dict[tuple[str, str], float]) -> bool:
    """Whether a step counts against `max_steps`.

    Every step that did something counts (progressed, deferred, failed, crashed). A step that
    did nothing is free the first time its component does nothing at this lab time: that is a
    periodic timer finding nothing (SQL Monitor polls every second, so with the `sms2003`
    profile it runs some 86,400 units per primary site in 12 hours of lab time without
    progress), and such steps are bounded by the horizon, since lab time only moves on while
    something progressed within it. A component that does nothing again at the same lab time
    (it keeps waking itself without time passing) is charged, so no run goes on for ever.
    Every step is still recorded and replayed; only the budget differs.
    """
    if outcome.did != NOTHING:
        return True
    if idle_at.get(host.key) == now:
        return True
    idle_at[host.key] = now
    return False


def _replay_seed(replay: Path, given: int | None, recorded: int | None) -> int | None:
    if given is not None and recorded is not None and given != recorded:
        raise UserError(f"{replay} was recorded with seed {recorded}; replaying it with seed "
                        f"{given} would draw other names and diverge. Leave out --seed, or "
                        f"pass --seed {recorded}.")
    return recorded if given is None else given


def _waits(runtime: LabRuntime) -> list[WaitLine]:
    return [w for host in runtime.hosts for w in host.waits()]


def _record(step: int, now: float, host: ComponentHost, outcome: UnitOutcome) -> StepRecord:
    return StepRecord(step=step, time=lab_time_text(now), site=host.site, component=host.name,
                      did=outcome.did, detail=outcome.detail, actions=outcome.actions)


def _replayed_host(wanted: StepRecord, by_key: dict[tuple[str, str], ComponentHost],
                   agenda: Agenda, replay: Path | None, now: float,
                   lab_sites: set[str]) -> ComponentHost:
    host = by_key.get((wanted.site, wanted.component))
    if host is None or not agenda.is_runnable(host):
        could = ", ".join(str(h) for h in agenda.runnable_hosts())
        ran = {site for site, _ in by_key}
        why = ("which is not runnable" if host is not None else
               "whose site this run leaves out (pass the --site values the schedule was "
               "recorded with)" if wanted.site in lab_sites and wanted.site not in ran else
               "which does not run in this lab")
        raise ReplayDivergence(
            f"{replay}: replay diverged at step {wanted.step} (lab time {lab_time_text(now)}, "
            f"recorded {wanted.time}): the schedule picks {wanted.site} {wanted.component}, "
            f"{why}; runnable now: {could}.")
    return host


def _check_position(wanted: StepRecord, step: int, now: float, replay: Path | None) -> None:
    """The recorded step is this one, at this lab time: else the schedule was cut or edited,
    or recorded on another lab."""
    if wanted.step != step or wanted.time != lab_time_text(now):
        raise ReplayDivergence(
            f"{replay}: replay diverged at step {step} (lab time {lab_time_text(now)}): the "
            f"schedule's next line is step {wanted.step} at {wanted.time}. Replay a schedule "
            "as --record wrote it, on a copy of the lab it was recorded on.")


def _check_outcome(wanted: StepRecord, outcome: UnitOutcome, replay: Path | None,
                   now: float) -> None:
    """The step did what the recording's did, file for file."""
    if (outcome.did, tuple(outcome.actions)) != (wanted.did, tuple(wanted.actions)):
        raise ReplayDivergence(
            f"{replay}: replay diverged at step {wanted.step} (lab time {lab_time_text(now)}): "
            f"{wanted.site} {wanted.component} {outcome.did} "
            f"({', '.join(outcome.actions) or 'no file'}), the schedule recorded {wanted.did} "
            f"({', '.join(wanted.actions) or 'no file'}). Replay a schedule on a copy of the "
            "lab it was recorded on.")


class _StepFaults:
    """The injector step mode gives every host: recorded crashes while replaying, else `user`."""

    def __init__(self, user: Injector | None, lab_root: Path) -> None:
        self.user = user
        self.root = lab_root
        self.replaying: StepRecord | None = None

    def __call__(self, point: FaultPoint) -> bool:
        if self.replaying is None:
            return self.user is not None and self.user(point)
        if self.user is not None:
            # Asked as the recording asked it, its answer not taken: an injector that counts
            # its crashes has counted the replayed ones when the seed's picks go on.
            self.user(point)
        if self.replaying.did != CRASHED:
            return False
        return ((point.site, point.component) == (self.replaying.site, self.replaying.component)
                and point.describe(self.root) == self.replaying.detail)

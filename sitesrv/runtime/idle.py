"""When a lab is idle, what it still waits for, and the exit status that tells scripts which.

A lab is idle when nothing can progress without lab time passing: no component has work it can
do now, and either nothing waits, or the next timer falls more than the horizon after the last
progress. A periodic timer alone (Distribution Manager's hourly pass) does not keep a lab busy;
components report what they wait for, and deferred files are reported for them.

The default horizon is twice the longest delay of the lab's timing profile, so every timed
transition the profile knows of (a retry, a hold, a retention) gets its chance to happen.

Problems do not keep a lab busy, but an idle lab with problems ends as "waiting" too, so a
script can tell: a component whose units failed (an exception in `work()`), every file
quarantined into a `corrupt\\` folder during the run, and a log (or the events) that lost
lines it could not write, each make one line of the report.
"""

from __future__ import annotations

from enum import IntEnum

import attrs

from sitesrv.lab.timing import DURATION_KEYS, TimingProfile

HORIZON_FACTOR = 2.0


class ExitCode(IntEnum):
    """`sitesrv run --until-idle` and `sitesrv run --step` exit statuses."""

    IDLE = 0  # idle, nothing waits, no unit failed, no file was quarantined
    WAITING = 3  # idle, but something waits (for content, a version, a time beyond the horizon),
    # or units failed, or files were quarantined, or log lines could not be written, in the run
    TIMEOUT = 4  # still busy when --timeout (live) or --max-steps (step) ran out
    STOPPED = 130  # a live --until-idle run stopped by Ctrl-C or SIGTERM before it was idle


IDLE = "idle"
WAITING = "waiting"
TIMEOUT = "timeout"
RESCAN = "rescan"  # LiveIdleRule: quiet, but confirm with a full rescan first
EXIT_CODES = {IDLE: ExitCode.IDLE, WAITING: ExitCode.WAITING, TIMEOUT: ExitCode.TIMEOUT}


def default_horizon(timing: TimingProfile) -> float:
    return HORIZON_FACTOR * max(getattr(timing, key) for key in DURATION_KEYS)


@attrs.frozen
class WaitLine:
    """One waiting item: `P00 SMS_DISTRIBUTION_MANAGER: INCOMING\\Z3AWAX9I.PKG waits for ...`."""

    site: str
    component: str
    item: str
    reason: str

    def __str__(self) -> str:
        return f"{self.site} {self.component}: {self.item} {self.reason}"


def failed_units_line(site: str, component: str, count: int, errors: list[str],
                      log_name: str) -> WaitLine:
    """`P00 SMS_SQL_MONITOR: 4 unit(s) failed (ProgrammingError: ...); see smsdbmon.log`.

    The error shown is the last one; "the last:" says that earlier ones differed.
    """
    last = errors[-1]
    shown = last if all(e == last for e in errors) else f"the last: {last}"
    return WaitLine(site, component, f"{count} unit(s) failed", f"({shown}); see {log_name}")


def lost_lines_line(site: str, component: str, count: int, what: str, file: str,
                    error: str) -> WaitLine:
    """`P00 SMS_DESPOOLER: 6 log line(s) could not be written to despool.log (...)`: lines a
    full disk or a folder in the way kept out of a log, and the last cause."""
    return WaitLine(site, component, f"{count} {what}",
                    f"could not be written to {file} ({error})")


def quarantined_line(site: str, component: str, item: str, reason: str) -> WaitLine:
    """`P00 SMS_DESPOOLER: receive\\corrupt\\X.SNI quarantined: <reason>`."""
    return WaitLine(site, component, item, f"quarantined: {reason}")


@attrs.frozen
class IdleReport:
    """How a run ended."""

    status: str  # idle | waiting | timeout
    lab_time: float
    waits: tuple[WaitLine, ...] = ()
    steps: int = 0  # units run (step mode), each a step of the schedule
    errors: int = 0  # units that failed with an exception (FormatErrors included)
    problems: tuple[WaitLine, ...] = ()  # failed units and quarantined files, one line each
    counted: int = 0  # the steps charged to --max-steps (step.counts_against_budget)

    @property
    def exit_code(self) -> ExitCode:
        return EXIT_CODES[self.status]

    def lines(self) -> list[str]:
        """What a run prints on stdout: the waiting items, then the problems."""
        return [str(w) for w in (*self.waits, *self.problems)]


def final_status(idle_status: str, problems: tuple[WaitLine, ...] | list[WaitLine]) -> str:
    """An idle lab with problems ends as waiting, so scripts can tell (exit status 3)."""
    return WAITING if idle_status == IDLE and problems else idle_status


@attrs.frozen
class LiveSnapshot:
    """What a live site server process tells about itself, for the idle rule."""

    quiet: bool  # no host runs a unit or has been woken
    progress: int  # units that progressed so far
    last_progress: float  # lab time of the last one
    now: float  # lab time
    # Both empty in the snapshot of a process that was not quiet, as the idle rule takes it
    # (LiveDriver.snapshot(busy_waits=False)): the rule reads them only once all are quiet.
    waits: tuple[WaitLine, ...] = ()
    due: tuple[float, ...] = ()  # the sleeping hosts' next timers (lab time)


class LiveIdleRule:
    """When a live lab is idle, from the snapshots of the processes that run its sites.

    Idle when all are quiet and nothing waits, confirmed by one more full rescan everywhere
    without progress anywhere (a hint may still be on its way, within or between processes).
    Waiting when all are quiet, something waits, and either nothing progressed for the horizon,
    or no timer or deferral falls due within the horizon after the last progress (nothing can
    change by itself: step mode's rule), confirmed the same way.
    """

    def __init__(self, horizon: float) -> None:
        self.horizon = horizon
        self._confirming: int | None = None

    def verdict(self, snapshots: list[LiveSnapshot]) -> str | None:
        """IDLE, WAITING, RESCAN (ask every process for a full rescan, then look again), or
        None (busy)."""
        if not all(s.quiet for s in snapshots):
            return None
        waits = [w for s in snapshots for w in s.waits]
        if waits:
            limit = max(s.last_progress for s in snapshots) + self.horizon
            if max(s.now for s in snapshots) >= limit:
                return WAITING
            if any(due <= limit for s in snapshots for due in s.due):
                self._confirming = None
                return None
        progress = sum(s.progress for s in snapshots)
        if self._confirming == progress:
            return WAITING if waits else IDLE
        self._confirming = progress
        return RESCAN

"""When a lab is idle, what it still waits for, and the exit status that tells scripts which.

A lab is idle when nothing can progress without lab time passing: no component has work it can
do now, and either nothing waits, or the next timer falls more than the horizon after the last
progress. A periodic timer alone (Distribution Manager's hourly pass) does not keep a lab busy;
components report what they wait for, and deferred files are reported for them.

The default horizon is twice the longest delay of the lab's timing profile, so every timed
transition the profile knows of (a retry, a hold, a retention) gets its chance to happen.
"""

from __future__ import annotations

from enum import IntEnum

import attrs

from sitesrv.timing import TimingProfile

HORIZON_FACTOR = 2.0


class ExitCode(IntEnum):
    """`sitesrv run --until-idle` and `sitesrv run --step` exit statuses."""

    IDLE = 0  # idle, nothing waits
    WAITING = 3  # idle, but something waits (for content, a version, a time beyond the horizon)
    TIMEOUT = 4  # still busy when --timeout (live) or --max-steps (step) ran out
    STOPPED = 130  # a live --until-idle run stopped by Ctrl-C or SIGTERM before it was idle


IDLE = "idle"
WAITING = "waiting"
TIMEOUT = "timeout"
EXIT_CODES = {IDLE: ExitCode.IDLE, WAITING: ExitCode.WAITING, TIMEOUT: ExitCode.TIMEOUT}


def default_horizon(timing: TimingProfile) -> float:
    return HORIZON_FACTOR * max(attrs.astuple(timing))


@attrs.frozen
class WaitLine:
    """One waiting item: `P00 SMS_DISTRIBUTION_MANAGER: INCOMING\\Z3AWAX9I.PKG waits for ...`."""

    site: str
    component: str
    item: str
    reason: str

    def __str__(self) -> str:
        return f"{self.site} {self.component}: {self.item} {self.reason}"


@attrs.frozen
class IdleReport:
    """How a run ended."""

    status: str  # idle | waiting | timeout
    lab_time: float
    waits: tuple[WaitLine, ...] = ()
    steps: int = 0  # units run (step mode)
    errors: int = 0  # units that failed with an exception

    @property
    def exit_code(self) -> ExitCode:
        return EXIT_CODES[self.status]

    def lines(self) -> list[str]:
        return [str(w) for w in self.waits]


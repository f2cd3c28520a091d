"""Fault injection for step mode: named points in the hand-off protocol where a test can crash.

The protocol calls `faults.point(name, path)` at the moments a real process could die with work
half done. Live mode passes no injector, so a point costs one attribute check. In step mode an
injector may answer True, and the point raises `SimulatedCrash`: the step driver drops the
component instance, builds a new one and runs its start-up recovery, as a restarted site server
would (docs/sources.md#engineering-sources: recovery is one more step of the simulation).
(The faults a user injects into a lab's files, `sitesrv fault`, are another thing:
admin/faults.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs

# The points the protocol offers, in the order a unit of work meets them.
AFTER_CLAIM = "after_claim"  # the input is in the work folder, nothing published yet
BEFORE_PUBLISH = "before_publish"  # the output is complete under its temp name
AFTER_PUBLISH = "after_publish"  # the output is in place, the input not yet removed
POINTS = (AFTER_CLAIM, BEFORE_PUBLISH, AFTER_PUBLISH)


@attrs.frozen
class FaultPoint:
    """Where a unit of work is: the point's name, who is running, and the file concerned."""

    name: str
    site: str
    component: str
    path: str | None = None

    def describe(self, lab_root: Path) -> str:
        """The point and its file relative to the lab, as a step schedule records a crash."""
        if self.path is None:
            return self.name
        return f"{self.name} {Path(self.path).relative_to(lab_root).as_posix()}"


Injector = Callable[[FaultPoint], bool]


class SimulatedCrash(BaseException):
    """Raised at a fault point; only the step driver catches it.

    A BaseException, like KeyboardInterrupt, so a component's own `except Exception` cannot
    swallow the crash it is meant to die of.
    """

    def __init__(self, point: FaultPoint) -> None:
        self.point = point
        super().__init__(f"simulated crash at {point.name} in {point.site} {point.component}")


class Faults:
    """The hook a component's protocol steps call; a no-op unless an injector is set."""

    def __init__(self, site: str, component: str, injector: Injector | None = None) -> None:
        self.site = site
        self.component = component
        self.injector = injector

    def point(self, name: str, path: Path | str | None = None) -> None:
        if self.injector is None:
            return
        point = FaultPoint(name, self.site, self.component, None if path is None else str(path))
        if self.injector(point):
            raise SimulatedCrash(point)


class CrashAt:
    """An injector that crashes at the first `times` matching points, then never again."""

    def __init__(self, name: str, *, site: str | None = None, component: str | None = None,
                 times: int = 1) -> None:
        if name not in POINTS:
            raise ValueError(f"unknown fault point {name!r}; the points are {', '.join(POINTS)}")
        self.name = name
        self.site = site
        self.component = component
        self.remaining = times
        self.fired: list[FaultPoint] = []

    def __call__(self, point: FaultPoint) -> bool:
        if self.remaining <= 0 or point.name != self.name:
            return False
        if self.site not in (None, point.site) or self.component not in (None, point.component):
            return False
        self.remaining -= 1
        self.fired.append(point)
        return True

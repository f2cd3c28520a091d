"""What one unit of work did, and where the runtime reports on a component's behalf.

The journal lets the drivers tell progress from a mere re-deferral (idle detection needs that)
and lets step mode record each step's actions. The reporter writes the runtime's own lines to
the component's SMS log and to the lab's event stream, naming files as SMS would.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sitesrv.lab.layout import SiteLayout
from sitesrv.logs.appendfile import AppendFile
from sitesrv.logs.events import EventSink
from sitesrv.logs.smslog import SmsLog

if TYPE_CHECKING:
    from sitesrv.runtime.inbox import WorkItem

CLAIMED = "claimed"
PUBLISHED = "published"
FINISHED = "finished"
DEFERRED = "deferred"
QUARANTINED = "quarantined"
# A component's own bookkeeping (a state file, a token, a clean-up): recorded, and not in
# itself progress of the lab.
RENAMED = "renamed"
REPLACED = "replaced"
REMOVED = "removed"
# Any of these means the lab moved forward; a unit that only deferred did not.
PROGRESS = (PUBLISHED, FINISHED, QUARANTINED)


class Journal:
    """The current unit's actions and the files it holds claimed."""

    def __init__(self, lab_root: Path) -> None:
        self._prefix = f"{lab_root}{os.sep}"
        self._slashed = os.sep != "/"  # paths are noted with `/`: Windows' are turned
        self.actions: list[str] = []
        self.counts: dict[str, int] = {}  # actions by kind (a plain dict: asked every unit)
        self.in_flight: dict[WorkItem, None] = {}  # an ordered set
        self.claimed: list[str] = []  # the files this unit claimed, by their inbox names
        # Temp files `ctx.publish` is writing and has not renamed yet: after a simulated crash
        # they are the dead instance's, and the restart deletes them (an ordered set).
        self.temps: dict[str, None] = {}  # as text: a Path's hash costs more than the rest
        self.retrying = False  # the unit only tried again what failed before (ctx.retrying)
        self.reporting = False  # the unit only carried status messages (ctx.reporting)

    def reset(self) -> None:
        self.actions = []
        self.counts = {}
        self.claimed = []
        self.retrying = False
        self.reporting = False

    def note(self, kind: str, path: Path | str) -> None:
        """Record an action on a file below the lab root (plain string work: this is hot)."""
        counts = self.counts
        counts[kind] = counts.get(kind, 0) + 1
        relative = str(path).removeprefix(self._prefix)
        if self._slashed:
            relative = relative.replace(os.sep, "/")
        self.actions.append(f"{kind} {relative}")

    @property
    def progressed(self) -> bool:
        # A kind is counted once it happens; asked after every unit: no look at each count.
        return not self.counts.keys().isdisjoint(PROGRESS)


class Reporter:
    """The runtime's voice in one component's SMS log and in events.jsonl."""

    def __init__(self, log: SmsLog, events: EventSink, layout: SiteLayout, component: str) -> None:
        self.smslog = log
        self.events = events
        self.layout = layout
        self.component = component
        # Files this component quarantined in this run: (`receive\\corrupt\\X.SNI`, reason).
        self.quarantined: list[tuple[str, str]] = []

    def log(self, text: str) -> None:
        self.smslog.write(text)

    def keep(self, path: Path, text: str) -> None:
        """Also write `text`, as the log writes it, to `path`, a file that never rolls over.
        If something else was under its name (a link, a FIFO), the log says what was moved aside."""
        def notice(said: str) -> bytes:
            self.log(said)
            return self.smslog.line(said)

        kept = AppendFile(path, sole_writer=True, notice=notice)
        try:
            kept.append(self.smslog.line(text))
        finally:
            kept.close()

    def event(self, name: str, **fields: Any) -> None:
        self.events.emit(name, site=self.layout.site.code, component=self.component, **fields)

    def windows(self, path: Path | str) -> str:
        return self.layout.windows(path)

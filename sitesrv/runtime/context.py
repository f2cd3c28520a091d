"""What a component gets from its driver: the site, the lab, time, randomness, names, output.

Everything nondeterministic comes through here, so step mode can make it deterministic: the
clock (real or virtual), a `random.Random` seeded from (seed, site, component), IDs and temp
names. Output goes through `publish`, which writes privately, renames into place and wakes the
folder's owner without waiting for the file-system watcher.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sitesrv.files.atomic import Content, Durability, rename_into_place, write_temp
from sitesrv.files.copying import copy_content
from sitesrv.lab.clock import Clock
from sitesrv.lab.hierarchy import Hierarchy, Site
from sitesrv.lab.layout import LabLayout, SiteLayout
from sitesrv.lab.timing import TimingProfile
from sitesrv.logs.events import EventSink
from sitesrv.logs.smslog import SmsLog
from sitesrv.runtime.faults import AFTER_PUBLISH, BEFORE_PUBLISH, Faults
from sitesrv.runtime.ids import Ids
from sitesrv.runtime.inbox import Inbox, WorkItem
from sitesrv.runtime.unit import PUBLISHED, Journal


class ComponentContext:
    """One component's view of its site server. Built by the runtime, one per (re)start."""

    def __init__(self, *, site: Site, hierarchy: Hierarchy, lab: LabLayout, layout: SiteLayout,
                 clock: Clock, rng: random.Random, ids: Ids,
                 open_database: Callable[[], Any] | None, log: SmsLog, events: EventSink,
                 faults: Faults, inboxes: tuple[Inbox, ...], durability: Durability,
                 journal: Journal, notify: Callable[[Path, str | None], None],
                 signal: Callable[[str], None]) -> None:
        self.site = site
        self.hierarchy = hierarchy
        self.lab = lab
        self.layout = layout
        self.timing: TimingProfile = hierarchy.timing
        self.clock = clock
        self.rng = rng
        self.ids = ids
        self.open_database = open_database  # None at secondary sites, which have no database
        self.log = log
        self.events = events
        self.faults = faults
        self.inboxes = inboxes
        self.durability = durability
        self._journal = journal
        self._notify = notify
        self._signal = signal
        self.timers: list[float] = []

    # --- input ------------------------------------------------------------------------------

    def inbox(self, folder: str) -> Inbox:
        """One of the component's own inboxes by its SMS name (`distmgr.box\\INCOMING`)."""
        wanted = folder.replace("/", "\\").upper()
        for inbox in self.inboxes:
            if inbox.spec.folder.replace("/", "\\").upper() == wanted:
                return inbox
        raise KeyError(f"{folder!r} is not an inbox of this component")

    def claim_next(self) -> WorkItem | None:
        """The next eligible file of the first inbox (in declaration order) that has one."""
        for inbox in self.inboxes:
            item = inbox.claim_next()
            if item is not None:
                return item
        return None

    # --- output -----------------------------------------------------------------------------

    def publish(self, dest: Path, content: Content, *, tmp_name: str | None = None) -> Path:
        """Write `dest` completely under a temp name in its folder, then rename it into place.

        `content` is bytes, an iterable of byte chunks, or a function writing to the open file.
        The temp name is a private dot-file unless `tmp_name` is given (the Sender writes
        `<id>.TMP` and renames it to `<id>.SNI`); an existing file named `tmp_name` is
        overwritten, a leftover from an earlier attempt. An existing `dest` is replaced: output
        names derive from input names, so a redo after a crash overwrites its first attempt.
        """
        temps = self._journal.temps
        if tmp_name is None:
            while True:
                tmp = dest.parent / self.ids.temp_name(dest.name)
                temps[tmp] = None
                try:
                    write_temp(tmp, content, self.durability, exclusive=True)
                    break
                except FileExistsError:
                    del temps[tmp]
                    continue
        else:
            tmp = dest.parent / tmp_name
            temps[tmp] = None
            write_temp(tmp, content, self.durability, exclusive=False)
        self.faults.point(BEFORE_PUBLISH, dest)
        rename_into_place(tmp, dest, self.durability)
        temps.pop(tmp, None)
        self._journal.note(PUBLISHED, dest)
        self._notify(dest.parent, dest.name)
        self.faults.point(AFTER_PUBLISH, dest)
        return dest

    def changed(self, folder: Path) -> None:
        """This component removed or changed a file in `folder`: wake the components that
        declared it in `wakes_on` (publish wakes a folder's owners by itself)."""
        self._notify(folder, None)

    def signal(self, signal: str) -> None:
        """Tell the other components of this site that `signal` happened, e.g.
        `package-information ZZZ00001`: files they deferred until it are eligible now."""
        self._signal(signal)

    def publish_copy(self, src: Path, dest: Path, *, tmp_name: str | None = None) -> Path:
        """Publish a copy of `src`, streamed, so memory does not grow with the file's size."""
        return self.publish(dest, copy_content(src), tmp_name=tmp_name)

    # --- time -------------------------------------------------------------------------------

    def wake_at(self, when: float) -> None:
        """Run `work()` again once lab time reaches `when`, even if no file arrives."""
        heapq.heappush(self.timers, when)

    # --- reporting --------------------------------------------------------------------------

    def windows(self, path: Path) -> str:
        """A path of this site as its own logs spell it (`E:\\SMS\\inboxes\\...`)."""
        return self.layout.windows(path)

    def emit(self, event: str, **fields: Any) -> None:
        """One event in LAB/events.jsonl, stamped with this site and component."""
        self.events.emit(event, site=self.site.code, component=self.log.component, **fields)

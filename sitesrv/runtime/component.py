"""The component contract: what a site server component declares and the one method it runs.

A component is a class. It declares its SMS name, its log file, and the inboxes it owns with the
file patterns that are work there. The driver builds it with a `ComponentContext` and calls
`work()` again and again; each call does one unit of work and returns. The component never
knows whether threads and watchdog (live) or a seeded scheduler with a virtual clock (step) call
it, and never asks `time`, `random`, `uuid` or an unsorted listing: the context has all of them.
docs/runtime.md is the author's guide.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

import attrs

from sitesrv.runtime.inbox import InboxSpec

if TYPE_CHECKING:
    from sitesrv.runtime.context import ComponentContext


@attrs.frozen
class Waiting:
    """Something a component waits for, as an idle lab reports it: item, then the reason."""

    item: str
    reason: str


class Component:
    """Base class of every site server component."""

    name: ClassVar[str]  # as SMS logs it, e.g. "SMS_DESPOOLER"
    log_name: ClassVar[str]  # the file in SMS\Logs, e.g. "despool.log"
    inboxes: ClassVar[tuple[InboxSpec, ...]] = ()
    # Folders, not inboxes, where another component's change wakes this one (`ctx.changed`).
    wakes_on: ClassVar[tuple[str, ...]] = ()
    # Its work is reports about others' work (status messages): never progress for the idle
    # rule, so a lab whose only news is a failure reported again and again ends waiting.
    reports_only: ClassVar[bool] = False

    def __init__(self, ctx: ComponentContext) -> None:
        self.ctx = ctx

    def start(self) -> None:
        """Called after the runtime's start-up recovery of the inboxes, before any work.

        Rebuild what the component keeps in memory from disk here, and ask for timers. It runs
        again after every (simulated) crash, on a new instance.
        """

    def work(self) -> bool:
        """Do one unit of work and return.

        True means "call me again": it did something (processed, deferred or quarantined a file,
        changed the database) and there may be more. False means there was nothing to do; the
        component then sleeps until a file arrives in one of its inboxes, a timer it asked for
        falls due, or a deferred file becomes eligible.
        """
        raise NotImplementedError

    def waiting(self) -> Iterable[Waiting]:
        """What the component waits for besides its deferred files (those are reported for it)."""
        return ()

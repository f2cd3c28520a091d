"""An inbox's queue by name takes files in the order listing the folder would give.

An inbox lists its folder only when it must (runtime/inbox.py, `heard`); names published into
it and deferrals that fall due join its queue without a listing. The property: for any run of
arrivals (published, or hinted as the watcher does), claims that finish, release or defer their
file, signals, rechecks, files removed by hand and lab time passing, a probe made to follow the
rule from before the queue takes the same files, in the same order, and leaves the same files
waiting. That rule listed the folder whenever a claim found the queue empty, and at once after
a deferral fell due or was rechecked.

Left out: a waiting (deferred) file removed by hand, whose deferral the old rule forgot at its
next listing and the queue keeps until it falls due (docs/runtime.md).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sitesrv.lab.clock import VirtualClock
from sitesrv.runtime.host import ComponentHost
from sitesrv.runtime.inbox import Inbox
from tests.runtime.test_inbox import INCOMING, RECEIVE, boot_probe

NAMES = ("A", "B", "C", "D", "E")
SIGNAL = "package-information P"

name = st.sampled_from(NAMES)
arrive = st.tuples(st.just("arrive"), name, st.booleans())  # published, or only hinted
claim = st.tuples(st.just("claim"), st.sampled_from(("done", "release", 0.0, 10.0, 60.0)),
                  st.booleans())  # how it ends; a deferral may wait for the signal
advance = st.tuples(st.just("advance"), st.sampled_from((1.0, 15.0, 100.0)))
signal = st.tuples(st.just("signal"))
recheck = st.tuples(st.just("recheck"), name)
remove = st.tuples(st.just("remove"), name)
operations = st.lists(st.one_of(arrive, claim, claim, advance, signal, recheck, remove),
                      max_size=40)


def listing_rule(inbox: Inbox) -> None:
    """Make `inbox` list its folder whenever the rule before the queue did."""
    fire, recheck_deferred = inbox.fire_timers, inbox.recheck_deferred

    def fire_and_list(now: float) -> bool:
        fired = fire(now)
        if fired:
            inbox.invalidate()
        return fired

    def recheck_and_list(names: set[str] | None = None) -> None:
        recheck_deferred(names)
        inbox.invalidate()

    inbox.fire_timers = fire_and_list  # type: ignore[method-assign]
    inbox.recheck_deferred = recheck_and_list  # type: ignore[method-assign]


def waiting(inbox: Inbox) -> list[str]:
    return sorted(shown.rsplit("\\", 1)[-1] for shown, _ in inbox.waiting())


def play(root: Path, folder: str, ops: list[tuple], *, old_rule: bool) -> list[object]:
    clock = VirtualClock()
    host: ComponentHost = boot_probe(root, clock)
    inbox = host.ctx.inbox(folder)
    if old_rule:
        listing_rule(inbox)
    ext = ".SNI" if folder == RECEIVE else ".PKG"
    seen: list[object] = []
    for op in ops:
        if op[0] == "arrive":
            (inbox.path / f"{op[1]}{ext}").write_bytes(b"x")
            inbox.heard(f"{op[1]}{ext}" if op[2] else None)
        elif op[0] == "claim":
            if old_rule:
                inbox.heard(None)
            item = inbox.claim_next()
            seen.append(None if item is None else item.name)
            if item is None:
                continue
            if op[1] == "done":
                item.done()
            elif op[1] == "release":
                item.release()
            else:
                item.defer(clock.now() + op[1], "waits", signal=SIGNAL if op[2] else None)
        elif op[0] == "advance":
            clock.advance(op[1])
            host.fire_timers(clock.now())
        elif op[0] == "signal":
            inbox.recheck_signalled({SIGNAL})
        elif op[0] == "recheck":
            inbox.recheck_deferred({f"{op[1]}{ext}"})
        elif f"{op[1]}{ext}" not in waiting(inbox):
            (inbox.path / f"{op[1]}{ext}").unlink(missing_ok=True)
    seen.append(waiting(inbox))
    return seen


# A deferral falls due while the queue still holds a file, after a file arrived: announced by
# name, it joins the queue there; hinted, the folder is listed. Either way it is taken first.
DUE_WHILE_QUEUED = [("arrive", "C", True), ("arrive", "E", True), ("claim", 10.0, False),
                    ("advance", 15.0), ("claim", "done", False), ("claim", "done", False),
                    ("claim", "done", False), ("claim", "done", False)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(folder=st.sampled_from((RECEIVE, INCOMING)), ops=operations)
@example(folder=RECEIVE, ops=[*DUE_WHILE_QUEUED[:3], ("arrive", "A", True), *DUE_WHILE_QUEUED[3:]])
@example(folder=RECEIVE, ops=[*DUE_WHILE_QUEUED[:3], ("arrive", "A", False), *DUE_WHILE_QUEUED[3:]])
def test_the_queue_takes_what_listing_the_folder_would(folder: str, ops: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        assert (play(Path(a) / "lab", folder, ops, old_rule=False)
                == play(Path(b) / "lab", folder, ops, old_rule=True))

"""An inbox's queue by name takes files in the order a listing of the folder would give.

An inbox lists its folder only when it must (runtime/inbox.py, `heard`); names published into
it and deferrals that fall due join its queue without a listing. The property: for any run of
arrivals, claims, deferrals, signals and lab time passing, a probe whose inbox is made to list
its folder whenever its queue is empty (`heard(None)` before each claim, the rule before the
queue) takes the same files, in the same order, and leaves the same files waiting.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitesrv.lab.clock import VirtualClock
from sitesrv.runtime.host import ComponentHost
from tests.runtime.test_inbox import INCOMING, RECEIVE, boot_probe

NAMES = ("A", "B", "C", "D", "E")
SIGNAL = "package-information P"

arrive = st.tuples(st.just("arrive"), st.sampled_from(NAMES))
claim = st.tuples(st.just("claim"), st.sampled_from((None, 0.0, 10.0, 60.0)),
                  st.booleans())  # finish it, or defer it (for how long, until the signal?)
advance = st.tuples(st.just("advance"), st.sampled_from((1.0, 15.0, 100.0)))
signal = st.tuples(st.just("signal"))
operations = st.lists(st.one_of(arrive, claim, claim, advance, signal), max_size=40)


def play(root: Path, folder: str, ops: list[tuple], *, listing: bool) -> list[object]:
    clock = VirtualClock()
    host: ComponentHost = boot_probe(root, clock)
    inbox = host.ctx.inbox(folder)
    ext = ".SNI" if folder == RECEIVE else ".PKG"
    seen: list[object] = []
    for op in ops:
        if op[0] == "arrive":
            (inbox.path / f"{op[1]}{ext}").write_bytes(b"x")
            host.runtime.notify(inbox.path, f"{op[1]}{ext}")
        elif op[0] == "claim":
            if listing:
                inbox.heard(None)
            item = inbox.claim_next()
            seen.append(None if item is None else item.name)
            if item is not None and op[1] is None:
                item.done()
            elif item is not None:
                item.defer(clock.now() + op[1], "waits", signal=SIGNAL if op[2] else None)
        elif op[0] == "advance":
            clock.advance(op[1])
            host.fire_timers(clock.now())
        else:
            inbox.recheck_signalled({SIGNAL})
    seen.append(sorted(name for name, _ in inbox.waiting()))
    return seen


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(folder=st.sampled_from((RECEIVE, INCOMING)), ops=operations)
def test_the_queue_takes_what_a_listing_would(folder: str, ops: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        assert (play(Path(a) / "lab", folder, ops, listing=False)
                == play(Path(b) / "lab", folder, ops, listing=True))

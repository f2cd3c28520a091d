"""Job and request IDs come from the UID token files, never twice."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from sitesrv.admin.lab import Lab
from sitesrv.components.uidtokens import MissingToken, take_job_id, take_request_counter
from sitesrv.lab.clock import VirtualClock
from sitesrv.runtime.component import Component
from sitesrv.runtime.context import ComponentContext
from sitesrv.runtime.host import LabRuntime
from sitesrv.runtime.registry import Registry
from tests.conftest import at_once


class Taker(Component):
    """A component of ZZZ that only takes IDs, through the context the runtime gives it."""

    name = "SMS_TEST_TAKER"
    log_name = "taker.log"

    def work(self) -> bool:
        return False


@pytest.fixture
def contexts(lab: Lab) -> Iterator[list[ComponentContext]]:
    """Four components of site ZZZ, each with its own context."""
    takers = tuple(type(f"Taker{i}", (Taker,), {"name": f"SMS_TEST_TAKER_{i}"})
                   for i in range(4))
    runtime = LabRuntime(lab.root, clock=VirtualClock(), seed=0, registry=Registry(primary=takers),
                         sites=["ZZZ"])
    runtime.boot()
    yield [host.ctx for host in runtime.hosts]
    runtime.unlock()


def test_ids_advance_and_tokens_follow(contexts: list[ComponentContext]) -> None:
    ctx = contexts[0]
    assert [take_job_id(ctx) for _ in range(3)] == ["00000001", "00000002", "00000003"]
    assert take_request_counter(ctx) == 1
    uid = ctx.layout.inbox("schedule.box\\UID")
    assert sorted(p.name for p in uid.iterdir()) == ["00000002.req", "00000004.job"]


def test_concurrent_takers_never_share_an_id(contexts: list[ComponentContext]) -> None:
    got: list[str] = []
    lock = threading.Lock()

    def take(ctx: ComponentContext) -> None:
        for _ in range(50):
            job = take_job_id(ctx)
            with lock:
                got.append(job)

    at_once(take, [(ctx,) for ctx in contexts])
    assert len(got) == 200 and len(set(got)) == 200


def test_missing_token_is_reported(contexts: list[ComponentContext]) -> None:
    ctx = contexts[0]
    for p in ctx.layout.inbox("schedule.box\\UID").iterdir():
        p.unlink()
    with pytest.raises(MissingToken, match=r"no \.job token"):
        take_job_id(ctx)


def test_a_restored_token_skips_the_ids_of_jobs_still_there(contexts: list[ComponentContext]
                                                            ) -> None:
    # `sitesrv init` puts back 00000001.job while jobs 1 and 2 still wait to be sent.
    ctx = contexts[0]
    (ctx.layout.inbox("schedule.box") / "00000001.job").write_text("")
    (ctx.layout.inbox("replmgr.box\\ready") / "00000002.RPL").write_text("")
    (ctx.layout.inbox("schedule.box\\tosend") / "00000004.IPT").write_text("")
    assert [take_job_id(ctx) for _ in range(2)] == ["00000003", "00000005"]

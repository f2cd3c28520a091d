"""Job and request IDs come from the UID token files, never twice."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitesrv.admin.lab import Lab
from sitesrv.components.uidtokens import MissingToken, take_job_id, take_request_id
from sitesrv.formats import parcel
from sitesrv.formats.parcel import (
    PackingList,
    ParcelFile,
    ParcelRecord,
    ParcelRequest,
    ParcelStatus,
)
from sitesrv.runtime.context import ComponentContext
from tests.conftest import at_once, site_contexts


def put(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")


@pytest.fixture
def contexts(lab: Lab) -> Iterator[list[ComponentContext]]:
    """Four components of site ZZZ, each with its own context."""
    runtime, contexts = site_contexts(lab.root, "ZZZ", 4)
    yield contexts
    runtime.unlock()


def test_ids_advance_and_tokens_follow(contexts: list[ComponentContext]) -> None:
    ctx = contexts[0]
    assert [take_job_id(ctx) for _ in range(3)] == ["00000001", "00000002", "00000003"]
    assert take_request_id(ctx, 2, "P00") == "2_001ZZZ"
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


def test_a_restored_token_skips_the_request_ids_whose_files_still_wait(
        lab: Lab, contexts: list[ComponentContext]) -> None:
    """At this site (a request in an outbox or `requests`) or at the site the request goes to:
    what an earlier send left in its `despoolr.box\\receive`, or its Despooler handed on under
    the request's name. Another site's, another priority's, or the Sender's temp names (written
    over at every attempt) are no reason."""
    ctx = contexts[0]
    p00, s01 = lab.layout.site("P00"), lab.layout.site("S01")
    put(ctx.layout.inbox("schedule.box\\requests") / "2_001ZZZ.srq")
    put(ctx.layout.inbox("schedule.box\\outboxes\\LAN\\.work") / "2_002ZZZ.srs")
    put(p00.receive / "2_003ZZZ.PCK")
    put(p00.receive / "2_004ZZZ.SNI")
    put(p00.receive / ".work" / "2_005ZZZ.SNI")
    put(p00.inbox("replmgr.box\\incoming") / "2_006ZZZ.RPL")
    put(p00.inbox("schedule.box\\tosend") / "2_007ZZZ.PCK")
    put(s01.receive / "2_008ZZZ.SNI")
    put(p00.receive / "1_009ZZZ.SNI")
    put(p00.receive / "2_009ZZZ.PCK.TMP")
    put(p00.receive / "2_00AZZZ.TMP")
    assert [take_request_id(ctx, 2, "P00") for _ in range(3)] == [
        "2_008ZZZ", "2_009ZZZ", "2_00AZZZ"]


def test_a_link_or_a_folder_under_an_ids_name_takes_it_too(
        lab: Lab, contexts: list[ComponentContext]) -> None:
    """A link is looked at itself (one to nothing still has the name), and so is a folder."""
    ctx = contexts[0]
    requests, receive = ctx.layout.inbox("schedule.box\\requests"), lab.layout.site("P00").receive
    (requests / "2_001ZZZ.srq").symlink_to(requests / "nothing")
    (receive / "2_002ZZZ.PCK").mkdir()
    (ctx.layout.inbox("schedule.box") / "00000001.job").symlink_to("nothing")
    assert take_request_id(ctx, 2, "P00") == "2_003ZZZ"
    assert take_job_id(ctx) == "00000002"


def parcel_record(status: ParcelStatus, *request_ids: str) -> bytes:
    files = [ParcelFile(name=f"{r}.SNI", size=1) for r in request_ids]
    requests = [ParcelRequest(request_id=r, dest_site="P00", job_id="00000001",
                              instruction=f"{r}.SNI", deliver_to="\\\\MGMT03\\SMS_SITE")
                for r in request_ids]
    packing = PackingList(parcel_id="ZZZ-0001", name="CD", sending_site="ZZZ", created=0,
                          files=files, requests=requests)
    return parcel.encode_record(ParcelRecord(status=status, packing_list=packing))


def test_a_restored_token_skips_the_request_ids_parcels_carry(contexts: list[ComponentContext]
                                                             ) -> None:
    """A parcel's requests have no `.srs` any more, and their files are on the media: until the
    parcel is Confirmed its IDs are held. A record that cannot be read holds the IDs its
    `RequestID=` lines still name; a record is read again when it changes."""
    ctx = contexts[0]
    outgoing = ctx.layout.inbox("coursend.box\\outgoing")
    outgoing.mkdir(parents=True, exist_ok=True)
    created, damaged = outgoing / "ZZZ-0001.parcel", outgoing / "ZZZ-0002.parcel"
    created.write_bytes(parcel_record(ParcelStatus.CREATED, "2_001ZZZ", "2_002ZZZ"))
    damaged.write_bytes(parcel_record(ParcelStatus.SENT, "2_004ZZZ").replace(b"Sent", b"Lost"))
    (outgoing / "ZZZ-0003.parcel").symlink_to(created)  # nothing known, nothing read through
    assert [take_request_id(ctx, 2, "P00") for _ in range(2)] == ["2_003ZZZ", "2_005ZZZ"]

    created.write_bytes(parcel_record(ParcelStatus.CONFIRMED, "2_001ZZZ", "2_002ZZZ"))
    damaged.unlink()
    for token in ctx.layout.inbox("schedule.box\\UID").glob("*.req"):
        token.rename(token.with_name("00000001.req"))
    assert [take_request_id(ctx, 2, "P00") for _ in range(5)] == [
        "2_001ZZZ", "2_002ZZZ", "2_003ZZZ", "2_004ZZZ", "2_005ZZZ"]

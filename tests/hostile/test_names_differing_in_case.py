"""Instructions in the Despooler's receive whose names differ only in case.

Windows cannot hold `2_9ZZZZZ.SNI` and `2_9zzzzz.SNI` in one folder; this file system can, and
anyone who can write to the SMS_SITE share can drop the second beside the first. Each must keep
its own payload, work files and deliveries: a bug hunt found a junk instruction taking a good
one's waiting payload into `corrupt\\`, and two batches delivered under one name, the second
overwriting the first before Replication Manager read it.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from sitesrv.admin.lab import Lab
from sitesrv.compression import pack
from sitesrv.formats import rpl, sni, svf
from sitesrv.formats.values import Payload
from sitesrv.lab.clock import VIRTUAL_EPOCH
from sitesrv.testing import log_messages, running, wait_for, write_source
from tests.formats.examples import STATUS_MESSAGE

from .conftest import REQUEST_ID, assert_ended, deliver, instruction, quarantined, run

TWIN = REQUEST_ID.lower()  # 2_9zzzzz: the same request ID to Windows
TWIN_SNI = f"{TWIN}.SNI"


def deliver_as(lab: Lab, stem: str, payload: bytes, record: sni.Instruction) -> None:
    """`deliver` under a name no Sender writes (the formats refuse a lower-case request ID)."""
    receive = lab.site("P00").receive
    (receive / f"{stem}.PCK").write_bytes(payload)
    (receive / f"{stem}.TMP").write_bytes(sni.encode(record))
    os.replace(receive / f"{stem}.TMP", receive / f"{stem}.SNI")


def test_a_junk_instruction_named_like_a_waiting_one_takes_nothing_of_it(
        lab: Lab, tmp_path: Path) -> None:
    data = pack(write_source(tmp_path / "source"), tmp_path / "ZZZ00001.PCK", "ZZZ00001",
                1).path.read_bytes()
    receive = lab.site("P00").receive
    deliver(lab, "P00", REQUEST_ID, data, instruction(data))
    run(lab)  # the package's information has not come: the instruction waits (error 12)
    waiting = sorted(p.name for p in receive.iterdir() if p.is_file())
    assert sni.sni_file_name(REQUEST_ID) in waiting
    (receive / TWIN_SNI).write_bytes(b"[INSTRUCTION]\n")  # truncated junk

    report = run(lab)

    assert_ended(report)
    assert quarantined(receive) == [TWIN_SNI]
    assert sorted(p.name for p in receive.iterdir() if p.is_file()) == waiting
    assert [m for m in log_messages(lab, "P00", "despool.log")
            if m.startswith("Moved the corrupt file ")] == [
        f"Moved the corrupt file {lab.site('P00').windows(receive / TWIN_SNI)} "
        f"to {lab.site('P00').windows(receive / 'corrupt' / TWIN_SNI)}: no [END] "
        "record: the file is truncated or still being written"]


def _batch(transaction: int, message_id: int) -> bytes:
    message = svf.encode(attrs.evolve(STATUS_MESSAGE, message_id=message_id))
    return rpl.encode(rpl.ReplicationBatch(
        job_id="0000BEEF", sending_site="ZZZ", destination_site="P00", priority=2,
        transaction_id=transaction, created=VIRTUAL_EPOCH,
        objects=[rpl.ReplicationObject.of(f"P00_MSG{message_id}.SVF", message)]))


def test_two_batches_under_names_differing_in_case_are_both_applied(lab: Lab) -> None:
    for stem, transaction, message_id in ((REQUEST_ID, 30, 1101), (TWIN, 31, 1102)):
        data = _batch(transaction, message_id)
        # The instruction inside names the request in upper case, as every Sender writes it.
        deliver_as(lab, stem, data, instruction(data, kind=Payload.RPL))

    report = run(lab)

    assert_ended(report)
    processed = [m for m in log_messages(lab, "P00", "replmgr.log")
                 if m.startswith("Processing replication file ")]
    assert len(processed) == 2, processed
    assert {m.split(", transaction ID ")[1] for m in processed} == {"30", "31"}
    assert quarantined(lab.site("P00").receive) == []
    assert quarantined(lab.site("P00").inbox("replmgr.box\\incoming")) == []



def test_a_junk_twin_takes_no_payload_whose_instruction_is_still_in_flight(
        lab: Lab, tmp_path: Path) -> None:
    """Live: the Sender writes the payload, then the instruction as `<reqid>.TMP`; a junk twin
    claimed in between must not take the payload as its own. (A step run's start-up deletes
    such a `.TMP` as its dead Sender's, and the payload is a stray then.)"""
    data = pack(write_source(tmp_path / "source"), tmp_path / "ZZZ00001.PCK", "ZZZ00001",
                1).path.read_bytes()
    receive = lab.site("P00").receive
    payload, tmp = receive / sni.payload_file_name(REQUEST_ID), receive / sni.tmp_file_name(
        REQUEST_ID)
    with running(lab, sites=["P00"]):
        payload.write_bytes(data)
        tmp.write_bytes(sni.encode(instruction(data)))
        (receive / TWIN_SNI).write_bytes(b"[INSTRUCTION]\n")  # truncated junk
        wait_for(lambda: quarantined(receive) == [TWIN_SNI], what="the twin in corrupt")
        assert payload.read_bytes() == data, "the payload waits for its own instruction"
        os.replace(tmp, receive / sni.sni_file_name(REQUEST_ID))
        wait_for(lambda: any(m.startswith("~Signature checked out OK for instruction")
                             for m in log_messages(lab, "P00", "despool.log")),
                 what="the instruction to find its payload")
    assert quarantined(receive) == [TWIN_SNI]

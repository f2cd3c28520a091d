"""The strict writer: a record that would make a bad file cannot be built, let alone written."""

from __future__ import annotations

import math
import re

import attrs
import pytest

from sitesrv.formats import job, pkg, pkn, sni, srq
from tests.formats.examples import (
    INSTRUCTION,
    JOB,
    NOTIFICATION,
    REPLICATION,
    SEND_REQUEST,
    STATUS_REPORT,
)


@pytest.mark.parametrize(("record", "changes", "message"), [
    (NOTIFICATION, {"package_id": "ZZZ0001"}, "package_id='ZZZ0001': not a package ID"),
    (NOTIFICATION, {"package_id": "zzz00001"}, "not a package ID"),
    (NOTIFICATION, {"package_id": "ZZZ0000G"}, "not a package ID"),
    (NOTIFICATION, {"change": "MERGE"}, "change='MERGE': must be one of INSERT, UPDATE, DELETE"),
    (REPLICATION, {"source_site": "zz1"}, "source_site='zz1': not a site code"),
    (REPLICATION, {"name": "Demo\n[END]"}, "name='Demo\\n[END]': must not contain a line break"),
    (REPLICATION, {"name": "Demo\r"}, "must not contain a line break"),
    (REPLICATION, {"name": " Demo"}, "must not start or end with white space"),
    (REPLICATION, {"name": ""}, "name='': must not be empty"),
    (REPLICATION, {"name": "\ud800"}, "cannot be written as UTF-8"),
    (REPLICATION, {"priority": 4}, "priority=4: must be 1 (high), 2 (medium) or 3 (low)"),
    (REPLICATION, {"priority": True}, "priority=True: must be a whole number"),
    (REPLICATION, {"source_version": -1},
     "source_version=-1: must be a version from 0 to 2147483647 (SMS keeps it in an int)"),
    (REPLICATION, {"source_version": 2**31},
     "source_version=2147483648: must be a version from 0 to 2147483647 (SMS keeps it in an int)"),
    (REPLICATION, {"share_type": 3}, "must be 1 (common) or 2 (specific)"),
    (REPLICATION, {"preferred_address": "MS_LAN"}, "not * (any sender) or an address type"),
    (REPLICATION, {"last_refresh_time": -1.0}, "must be a time between 1970 and 9999"),
    (REPLICATION, {"last_refresh_time": math.nan}, "must be a time between 1970 and 9999"),
    (REPLICATION, {"last_refresh_time": "2007-06-04"}, "must be epoch seconds"),
    (REPLICATION, {"forward": 1}, "forward=1: must be True or False"),
    (REPLICATION, {"content_site": "P0"}, "not a site code (3 upper-case letters or digits) "
                                          "(or empty)"),
    (STATUS_REPORT, {"rows": ()}, "a status report needs at least one row"),
    (JOB, {"job_id": "0000002a"}, "job_id='0000002a': not a job ID (8 upper-case hex digits)"),
    (JOB, {"send_request_id": "2_001zzz"}, "must be written in upper case"),
    (JOB, {"instruction_type": "microsoft|sms"}, "not an instruction type"),
    (JOB, {"payload": "NONE"}, "the transfer root must be empty exactly when the payload is NONE"),
    (JOB, {"transfer_root": ""}, "the transfer root must be empty exactly when"),
    (SEND_REQUEST, {"dest_site": "P00 "}, "must not start or end with white space"),
    (SEND_REQUEST, {"request_id": "1_001ZZZ"}, "request ID 1_001ZZZ does not start with its "
                                               "priority 2"),
    (SEND_REQUEST, {"request_id": "2_01ZZZ"}, "is not a send request ID"),
    (SEND_REQUEST, {"bytes_left": 2**21}, "bytes_left (2097152) exceeds total_bytes (1048576)"),
    (SEND_REQUEST, {"addresses": ()}, "a send request needs at least one address"),
    (SEND_REQUEST, {"status": "OK"}, "must be one of SREQ_STATUS_NONE"),
    (SEND_REQUEST, {"action_code": 3}, "action_code=3: must be one of 0, 1, 2"),
    (SEND_REQUEST, {"instruction_file": ""}, "instruction_file='': must not be empty"),
    (INSTRUCTION, {"payload_sha256": ""}, "a PCK payload needs its SHA256"),
    (INSTRUCTION, {"payload_sha256": "AB" * 32}, "not a SHA-256 digest"),
    (INSTRUCTION, {"payload": "NONE"}, "an instruction without payload has no payload size"),
    (INSTRUCTION, {"sending_site": "ZZZZ"}, "sending_site='ZZZZ': not a site code"),
    (INSTRUCTION, {"package_id": "ZZZ00002"}, "the carried .PKG is for package ZZZ00001, "
                                              "not ZZZ00002"),
], ids=lambda v: None if isinstance(v, dict | str) else type(v).__name__)
def test_invalid_records_are_refused(record: object, changes: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        attrs.evolve(record, **changes)


def test_nested_records_are_checked_too() -> None:
    with pytest.raises(ValueError, match=re.escape("server='MGMT03\\\\X': not a server name")):
        attrs.evolve(REPLICATION.servers[0], server="MGMT03\\X")
    with pytest.raises(ValueError, match="status=10: must be a status from 0 to 7"):
        attrs.evolve(STATUS_REPORT.rows[0], status=10)
    with pytest.raises(ValueError, match="row for package ZZZ00002 in a report for package"):
        attrs.evolve(STATUS_REPORT, rows=(attrs.evolve(STATUS_REPORT.rows[0],
                                                       package_id="ZZZ00002"),))


def test_plain_values_become_enum_members_and_times_keep_milliseconds() -> None:
    request = attrs.evolve(SEND_REQUEST, status="SREQ_STATUS_OK", action_code=2,
                           started_at=1180947601.0004999)
    assert request.status is srq.SenderStatus.OK
    assert request.action_code is srq.ActionCode.DELETE
    assert request.started_at == 1180947601.0
    assert attrs.evolve(JOB, created=1180947601.0006).created == 1180947601.001


def test_the_writer_never_breaks_the_framing_even_past_the_validators() -> None:
    smuggled = attrs.evolve(REPLICATION)
    object.__setattr__(smuggled, "name", "Demo\n[END]")
    with pytest.raises(ValueError, match="Name='Demo\\\\n\\[END\\]': must not contain a line"):
        pkg.dumps(smuggled)
    object.__setattr__(smuggled, "name", "Demo\r")
    with pytest.raises(ValueError, match="must not contain a line break"):
        pkg.dumps(smuggled)
    # A value whose codec fails after it: the writer meets the line break first, key by key.
    object.__setattr__(smuggled, "priority", None)
    with pytest.raises(ValueError, match="Name='Demo\\\\r': must not contain a line break"):
        pkg.dumps(smuggled)
    object.__setattr__(smuggled, "name", "Demo")
    with pytest.raises(TypeError, match="int\\(\\) argument must be"):
        pkg.dumps(smuggled)
    with pytest.raises(TypeError, match="expected a SchedulerJob, got SendRequest"):
        job.dumps(SEND_REQUEST)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: pkn.pkn_name("ZZZ0001"), "not a package ID"),
    (lambda: job.job_file_name("29"), "not a job ID"),
    (lambda: sni.instruction_file_name("0000002g"), "not a job ID"),
    (lambda: sni.sni_file_name("2_01ZZZ"), "not a send request ID"),
    (lambda: srq.file_name(SEND_REQUEST, ".SRQ"), "neither .srq nor .srs"),
])
def test_file_name_rules_refuse_bad_ids(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


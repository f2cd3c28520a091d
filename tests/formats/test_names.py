"""Send request IDs and the file-name rules, which users see in every folder and log line."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitesrv.formats import job, pkn, sni, srq
from sitesrv.lab.identifiers import RequestIdParts, parse_request_id, request_id
from tests.formats.examples import SEND_REQUEST
from tests.formats.strategies import counters, priorities, sites


@pytest.mark.parametrize(("counter", "expected"), [
    (0, "2_000ZZZ"),
    (1, "2_001ZZZ"),
    (35, "2_00ZZZZ"),
    (36, "2_010ZZZ"),
    (46655, "2_ZZZZZZ"),  # the last counter with the `_` form
    (46656, "21000ZZZ"),  # the first with four digits
    (36**4 - 1, "2ZZZZZZZ"),
])
def test_request_id_counter_boundaries(counter: int, expected: str) -> None:
    assert request_id(2, counter, "ZZZ") == expected
    assert parse_request_id(expected) == RequestIdParts(2, counter, "ZZZ")


@pytest.mark.parametrize("seen", ["1_001ZZZ", "1_027ST0", "1_C6CT01", "2_4O7PRI"])
def test_request_ids_from_the_field_reports_parse(seen: str) -> None:
    assert request_id(*parse_request_id(seen)) == seen


@pytest.mark.parametrize(("args", "message"), [
    ((0, 1, "ZZZ"), "priority 0 is not 1, 2 or 3"),
    ((4, 1, "ZZZ"), "priority 4 is not 1, 2 or 3"),
    ((True, 1, "ZZZ"), "priority True is not 1, 2 or 3"),
    ((2, 1.0, "ZZZ"), "counter 1.0 is not between 0 and 1679615"),
    ((2, -1, "ZZZ"), "counter -1 is not between 0 and 1679615"),
    ((2, 36**4, "ZZZ"), "counter 1679616 is not between 0 and 1679615"),
    ((2, 1, "zzz"), "'zzz' is not a site code"),
])
def test_request_id_refuses_what_it_cannot_spell(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        request_id(*args)


@pytest.mark.parametrize("text", ["", "2_001ZZ", "2_001ZZZZ", "4_001ZZZ", "2-001ZZZ", "2__01ZZZ",
                                  "2_0_1ZZZ", "2_001Z-Z", 2001])
def test_parse_request_id_refuses_what_is_not_an_id(text: object) -> None:
    with pytest.raises(ValueError, match="is not a send request ID"):
        parse_request_id(text)  # type: ignore[arg-type]


def test_parse_request_id_refuses_a_second_spelling_of_a_counter() -> None:
    # CM12 writes IDs like 202SQCS1; in SMS 2.0/2003 spelling that counter is _2SQ.
    with pytest.raises(ValueError, match="counter 3626 is spelled _2SQ"):
        parse_request_id("202SQCS1")


@given(priorities, counters, sites)
def test_request_ids_round_trip_and_are_eight_characters(priority: int, counter: int,
                                                         site: str) -> None:
    made = request_id(priority, counter, site)
    assert len(made) == 8 and made[0] == str(priority) and made.endswith(site)
    assert parse_request_id(made) == (priority, counter, site)
    assert parse_request_id(made.lower()) == (priority, counter, site)  # as the despooler logs it


@given(st.lists(counters, min_size=2, max_size=2, unique=True))
def test_different_counters_give_different_ids(pair: list[int]) -> None:
    assert len({request_id(2, c, "ZZZ") for c in pair}) == 2


def test_file_names() -> None:
    assert srq.file_name(SEND_REQUEST) == "2_001ZZZ.srq"
    assert srq.file_name(SEND_REQUEST, srq.SRS) == "2_001ZZZ.srs"
    assert pkn.pkn_name("ZZZ00001") == "ZZZ00001.PKN"
    assert job.job_file_name("00000029") == "00000029.job"
    assert sni.instruction_file_name("00000029") == "00000029.IPT"
    assert sni.payload_file_name("2_001ZZZ") == "2_001ZZZ.PCK"
    assert sni.tmp_file_name("2_001ZZZ") == "2_001ZZZ.TMP"
    assert sni.sni_file_name("2_001ZZZ") == "2_001ZZZ.SNI"


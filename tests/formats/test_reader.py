"""The tolerant reader: it accepts what people and editors do to text, and otherwise raises
FormatError naming the problem — never any other exception, whatever the input."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitesrv.errors import FormatError
from sitesrv.formats import pkg, sni, srq
from sitesrv.formats.sections import TRUNCATED
from tests.formats.examples import (
    EXAMPLES,
    INSTRUCTION,
    INSTRUCTION_TEXT,
    REPLICATION,
    REPLICATION_TEXT,
    SEND_REQUEST,
    SEND_REQUEST_TEXT,
)
from tests.formats.strategies import KINDS


def parses_or_format_error(module, text: str) -> None:
    try:
        module.parse(text, "fuzz.txt")
    except FormatError as e:
        assert e.path == "fuzz.txt" and e.problem


def problem(module, text: str) -> str:
    with pytest.raises(FormatError) as caught:
        module.parse(text, "bad.file")
    return caught.value.problem


def mangle(text: str) -> str:
    """What a person with a Windows editor might do: CRLF, BOM, case, spacing, blank lines,
    comments-as-unknown-keys, an unknown section."""
    out = ["\ufeff[Some Future Record]", "Whatever=1", ""]
    for line in text.splitlines():
        if line == "[END]":
            out += ["", " [end] "]
        elif line.startswith("["):
            out += ["", f"  [ {line[1:-1].lower()} ]  ", "X-Unknown-Key = ignored"]
        else:
            key, _, value = line.partition("=")
            out.append(f"\t{key.swapcase().replace(' ', '   ')}  =  {value}   ")
    return "\r\n".join(out) + "\r\n\r\n"


@pytest.mark.parametrize("kind", EXAMPLES)
def test_crlf_case_spacing_unknown_keys_and_sections_are_accepted(kind: str) -> None:
    module, record, text = EXAMPLES[kind]
    assert module.parse(mangle(text), "edited.txt") == record


def test_singular_sections_may_come_in_any_order() -> None:
    *blocks, end = re.split(r"(?m)^(?=\[)", SEND_REQUEST_TEXT)[1:]
    reordered = "".join([*reversed(blocks), end])
    assert srq.parse(reordered) == SEND_REQUEST


@pytest.mark.parametrize("kind", EXAMPLES)
def test_every_truncation_at_a_line_boundary_says_truncated(kind: str) -> None:
    module, _, text = EXAMPLES[kind]
    lines = text.splitlines(keepends=True)
    for n in range(len(lines)):
        assert problem(module, "".join(lines[:n])) == TRUNCATED


@pytest.mark.parametrize("kind", EXAMPLES)
def test_every_truncation_of_the_bytes_is_an_error_until_the_end_record(kind: str) -> None:
    module, record, text = EXAMPLES[kind]
    data = text.encode("utf-8")
    complete = len(data) - 1  # everything but the final newline still holds [END]
    for n in range(len(data)):
        if n < complete:
            with pytest.raises(FormatError):
                module.decode(data[:n], "partial")
        else:
            assert module.decode(data[:n], "partial") == record


@pytest.mark.parametrize("kind", KINDS)
@given(text=st.text())
def test_arbitrary_text_raises_only_format_error(kind: str, text: str) -> None:
    module, _ = KINDS[kind]
    parses_or_format_error(module, text)
    parses_or_format_error(module, text + "\n[END]\n")


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.binary())
def test_arbitrary_bytes_raise_only_format_error(kind: str, data: bytes) -> None:
    module, _ = KINDS[kind]
    with contextlib.suppress(FormatError):
        module.decode(data, "fuzz.bin")


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_lines_from_the_format_in_any_mix_raise_only_format_error(kind: str,
                                                                  data: st.DataObject) -> None:
    module, _ = KINDS[kind]
    sections = list(module.LAYOUT.every_section())
    headers = [f"[{s.name}]" for s in sections]
    keys = [k.name for s in sections for k in s.keys]
    values = st.one_of(st.text(max_size=12), st.sampled_from(["", "0", "1", "-1", "ZZZ",
                       "ZZZ00001", "2_001ZZZ", "00000029", "2007-06-04T09:00:01.000Z", "*",
                       "PCK", "NONE", "ADD", "LAN", "SREQ_STATUS_OK", "Cancelled"]))
    line = st.one_of(st.sampled_from(headers),
                     st.builds("{}={}".format, st.sampled_from(keys), values))
    lines = data.draw(st.lists(line, max_size=40))
    parses_or_format_error(module, "\n".join([*lines, "[END]"]))


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_a_valid_file_with_one_value_corrupted_raises_only_format_error(
        kind: str, data: st.DataObject) -> None:
    module, records = KINDS[kind]
    lines = module.dumps(data.draw(records)).splitlines()
    at = data.draw(st.sampled_from([i for i, line in enumerate(lines) if "=" in line]))
    key = lines[at].partition("=")[0]
    lines[at] = f"{key}={data.draw(st.text())}"
    parses_or_format_error(module, "\n".join(lines) + "\n")


def replace_line(old: str, new: str) -> str:
    assert old in SEND_REQUEST_TEXT
    return SEND_REQUEST_TEXT.replace(old, new, 1)


@pytest.mark.parametrize(("text", "expected"), [
    (replace_line("[CANCEL]\nMode=Not cancelled\n", ""), "missing [CANCEL] section"),
    (replace_line("[CANCEL]\n", "[CANCEL]\nMode=Cancelled\n[CANCEL]\n"),
     "[CANCEL] appears 2 times (lines 22, 24); expected once"),
    (replace_line("[ADDRESS]\nAddress=\\\\MGMT03\\SMS_SITE\nAddress Type=LAN\n", ""),
     "missing [ADDRESS] section: at least 1 required"),
    (replace_line("Dest Site=P00\n", ""),
     "[SEND REQUEST DATA] section at line 1 has no Dest Site key"),
    (replace_line("Dest Site=P00", "Dest Site=p0"),
     "line 3: [SEND REQUEST DATA] Dest Site='p0': not a site code (3 upper-case letters or "
     "digits)"),
    (replace_line("Sync Point=524288", "Sync Point=lots"),
     "line 18: [STATUS] Sync Point='lots': not a whole number"),
    (replace_line("Sender Ended At=", "Sender Ended At=06/04/2007 09:00:01"),
     "line 13: [STATUS] Sender Ended At='06/04/2007 09:00:01': not a UTC time like "
     "2007-06-04T09:00:01.000Z"),
    (replace_line("Sender Ended At=", "Sender Ended At=2007-02-30T09:00:00Z"),
     "line 13: [STATUS] Sender Ended At='2007-02-30T09:00:00Z': not a valid date and time "
     "(day is out of range for month)"),
    (replace_line("Sender Ended At=", "Sender Ended At=2007-06-04T09:00:60Z"),
     "line 13: [STATUS] Sender Ended At='2007-06-04T09:00:60Z': not a valid date and time "
     "(second must be in 0..59)"),
    (replace_line("Sender Ended At=", "Sender Ended At=2007-02-30T09:00:60Z"),
     "line 13: [STATUS] Sender Ended At='2007-02-30T09:00:60Z': not a valid date and time "
     "(day is out of range for month)"),
    (replace_line("Sender Status=SREQ_STATUS_SENDING", "Sender Status=SENDING"),
     "line 10: [STATUS] Sender Status='SENDING': expected one of: SREQ_STATUS_NONE, "
     "SREQ_STATUS_STARTED, SREQ_STATUS_CONNECTING, SREQ_STATUS_SENDING, SREQ_STATUS_ERROR, "
     "SREQ_STATUS_INVALID, SREQ_STATUS_CANCELLED, SREQ_STATUS_SUSPENDED, SREQ_STATUS_OK"),
    (replace_line("Bytes Left To Send=524288", "Bytes Left To Send=2000000"),
     "invalid send request: bytes_left (2000000) exceeds total_bytes (1048576)"),
    (replace_line("Job=00000029\n", "Job=00000029\nJOB = 0000002A\n"),
     "line 5: key JOB appears twice in [SEND REQUEST DATA] (first at line 4)"),
    (SEND_REQUEST_TEXT + "Priority=1\n", "line 40: text after the [END] record"),
    (replace_line("[STATUS]\n", "[STATUS]\njust some words\n"),
     "line 10: expected [SECTION] or Key=Value, found 'just some words'"),
    ("Priority=2\n" + SEND_REQUEST_TEXT,
     "line 1: 'Priority=2' comes before the first [SECTION] header"),
    (replace_line("[CANCEL]\n", "[ ]\n[CANCEL]\n"), "line 22: a section header with no name"),
], ids=lambda v: v[:30] if isinstance(v, str) else None)
def test_problems_are_named_precisely(text: str, expected: str) -> None:
    assert problem(srq, text) == expected


def test_a_status_row_problem_names_its_section() -> None:
    module, _, text = EXAMPLES["sta"]
    bad = text.replace("Status=3", "Status=12")
    assert problem(module, bad) == "line 20: [PKGSTATUS] Status='12': must be a status from 0 to 7"
    mixed = text.replace("ID=ZZZ00001\nType=2", "ID=ZZZ00002\nType=2")
    assert problem(module, mixed) == ("invalid package status report: row for package ZZZ00002 "
                                      "in a report for package ZZZ00001")


def test_a_content_instruction_carries_a_pkg_that_reads_on_its_own() -> None:
    assert pkg.parse(INSTRUCTION_TEXT, "2_001ZZZ.SNI") == INSTRUCTION.package
    bare, _, _ = INSTRUCTION_TEXT.partition("[PACKAGE DEFINITION]")
    assert sni.parse(bare + "[END]\n").package is None
    without_definition = bare + INSTRUCTION_TEXT[INSTRUCTION_TEXT.index("[ACTION]"):]
    assert problem(sni, without_definition) == "missing [PACKAGE DEFINITION] section"


def test_bytes_that_are_not_utf8_are_a_format_error() -> None:
    data = SEND_REQUEST_TEXT.encode().replace(b"P00", b"P\xff0", 1)
    with pytest.raises(FormatError) as caught:
        srq.decode(data, "x.srq")
    assert caught.value.problem == "not UTF-8 text: byte 0xff at offset 42"


def test_read_names_the_file_and_lets_a_vanished_file_raise_oserror(tmp_path: Path) -> None:
    path = tmp_path / "2_001ZZZ.srq"
    path.write_bytes(SEND_REQUEST_TEXT.encode()[:100])
    with pytest.raises(FormatError) as caught:
        srq.read(path)
    assert str(caught.value) == f"{path}: {TRUNCATED}"
    with pytest.raises(FileNotFoundError):
        srq.read(tmp_path / "claimed-by-another.srq")


def test_a_pkg_written_before_pkgsourceflag_existed_reads_as_a_package_with_source() -> None:
    text = REPLICATION_TEXT.replace("PkgSourceFlag=2\n", "")
    assert pkg.parse(text).source_flag == 2
    assert pkg.parse(text) == REPLICATION

"""The replication batch (`.RPL`) and transaction history (`.trs`) formats: golden text, round
trips, and a reader that raises FormatError and nothing else."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sitesrv.errors import FormatError
from sitesrv.formats import rpl, trs
from sitesrv.formats.sections import TRUNCATED

PKG_TEXT = "[PACKAGE DEFINITION]\nPackageID=ZZZ00001\nName=Demo  \n[END]\n"
STA_BYTES = b"  \t\\ caf\xc3\xa9 \xff\x00 \xe2\x80\xa8end "

BATCH = rpl.ReplicationBatch(
    job_id="00000003", sending_site="ZZZ", destination_site="P00", priority=2,
    transaction_id=17, created=1180947601.5,
    objects=[rpl.ReplicationObject.of("P00_Z3AWAX9I.PKG", PKG_TEXT.encode()),
             rpl.ReplicationObject.of("P00_RD5L85BW.STA", STA_BYTES)])
PKG_SHA = hashlib.sha256(PKG_TEXT.encode()).hexdigest()
STA_SHA = hashlib.sha256(STA_BYTES).hexdigest()

GOLDEN = f"""\
[REPLICATION BATCH]
Job ID=00000003
Sending Site=ZZZ
Destination Site=P00
Priority=2
Transaction ID=17
Created=2007-06-04T09:00:01.500Z
[OBJECT]
Name=P00_Z3AWAX9I.PKG
Size={len(PKG_TEXT)}
SHA256={PKG_SHA}
Data=[PACKAGE DEFINITION]\\nPackageID=ZZZ00001\\nName=Demo  \\n[END]\\n
[OBJECT]
Name=P00_RD5L85BW.STA
Size={len(STA_BYTES)}
SHA256={STA_SHA}
Data=\\x20 \\t\\\\ café \\xFF\\x00 \\xE2\\x80\\xA8end\\x20
[END]
"""

HISTORY = trs.TransactionHistory({("PKG", 2): 17, ("STA", 3): 18, ("PKG", 1): 4})
HISTORY_TEXT = "[PKG]\nPriority 1=4\nPriority 2=17\n[STA]\nPriority 3=18\n"


def test_the_writer_produces_the_golden_text() -> None:
    assert rpl.dumps(BATCH) == GOLDEN
    assert rpl.parse(GOLDEN, "golden.RPL") == BATCH
    assert rpl.batch_file_name("00000003") == "00000003.RPL"


def test_the_documented_example_is_the_golden_file() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "formats.md").read_text(encoding="utf-8")
    example = rpl.dumps(rpl.ReplicationBatch(
        job_id="00000003", sending_site="ZZZ", destination_site="P00", priority=3,
        transaction_id=17, created=1180947601.5,
        objects=[rpl.ReplicationObject.of("P00_RD5L85BW.STA", b"[STATUS REPORT]\nReportingSite="
                                          b"ZZZ\nPackageID=ZZZ00001\n[END]\n")]))
    assert f"```\n{example}```" in docs
    assert f"```\n{HISTORY_TEXT}```" in docs


def test_a_written_file_reads_back_and_the_reader_is_tolerant(tmp_path: Path) -> None:
    path = tmp_path / "00000003.RPL"
    path.write_bytes(rpl.encode(BATCH))
    assert rpl.read(path) == BATCH
    edited = "\ufeff" + GOLDEN.replace("\n", "\r\n").replace("Job ID=", "  job   id =  ") \
        .replace("[OBJECT]", "[ object ]\r\nComment=ignored")
    assert rpl.parse(edited) == BATCH


@pytest.mark.parametrize(("change", "problem"), [
    (lambda t: t.replace("Size=", "Size=1"), "Size is 1"),
    (lambda t: t.replace("Demo  ", "Demo! "), "does not match its SHA256"),
    (lambda t: t.replace("\\t", "\\q"), "bad escape"),
    (lambda t: t.replace("\\xFF", "\\xG1"), "bad escape"),
    (lambda t: t.replace("Transaction ID=17", "Transaction ID=0"), "1 or more"),
    (lambda t: t.replace("Destination Site=P00", "Destination Site=ZZZ"), "to itself"),
    (lambda t: t.replace("P00_RD5L85BW.STA", "P00_Z3AWAX9I.PKG"), "appears twice"),
    (lambda t: t.replace("Name=P00_Z3AWAX9I.PKG", "Name=..\\x.PKG"), "a file name"),
    (lambda t: t[:t.index("[OBJECT]")] + "[END]\n", "at least 1 required"),
    (lambda t: t.replace("[END]\n", ""), TRUNCATED),
])
def test_bad_batches_name_the_problem(change, problem: str) -> None:
    with pytest.raises(FormatError) as caught:
        rpl.parse(change(GOLDEN), "bad.RPL")
    assert problem in caught.value.problem


@given(st.binary(max_size=300))
def test_any_bytes_survive_escaping(data: bytes) -> None:
    text = rpl.escape(data)
    assert "\n" not in text and "\r" not in text and text == text.strip()
    assert rpl.unescape(text) == data


@pytest.mark.parametrize(("data", "text"), [
    (b" a b ", "\\x20a b\\x20"),  # white space at either end, which a reader would strip
    (b"a\tb\\c\r\n", "a\\tb\\\\c\\r\\n"),
    ("x\u2028y\x85z".encode(), "x\\xE2\\x80\\xA8y\\xC2\\x85z"),  # Zl, Cc: their UTF-8 bytes
    (b"\xff\x00ok", "\\xFF\\x00ok"),  # not UTF-8; a control character
    ("\u00a0caf\u00e9\u3000".encode(), "\\xC2\\xA0caf\u00e9\\xE3\\x80\\x80"),
])
def test_escaping_spells_bytes_as_documented(data: bytes, text: str) -> None:
    assert rpl.escape(data) == text
    assert rpl.unescape(text) == data


def filled_by_escaped_sizes(objects: list[rpl.ReplicationObject]) -> tuple[object, ...]:
    """What `fill` takes, each object's data escaped to know its size."""
    taken: list[rpl.ReplicationObject] = []
    room = rpl.LIMITS.file_bytes - rpl._HEADER_ROOM
    for obj in objects:
        size = len(obj.name.encode()) + len(rpl.escape(obj.data).encode()) + rpl._OBJECT_ROOM
        if taken and (size > room or len(taken) == rpl.MAX_OBJECTS):
            break
        taken.append(obj)
        room -= size
    return tuple(taken)


@given(st.lists(st.binary(max_size=60), min_size=1, max_size=12),
       st.integers(min_value=0, max_value=1000), st.integers(min_value=1, max_value=12))
@example([b"x" * 60] * 3, 300, 12)  # 76 bytes each, 256 at most: all three go
@example([b"\0" * 60] * 3, 600, 12)  # 256 bytes each: two go
def test_a_batch_is_filled_as_its_objects_escaped_sizes_allow(
        data: list[bytes], room: int, most: int) -> None:
    """Escaped only once a batch may not have room at 4 characters a byte, the objects taken are
    those the escaped sizes allow (bytes such as NUL, \\xff or U+2028 take 4 characters)."""
    objects = [rpl.ReplicationObject.of(f"P00_{n:08d}.STA", d) for n, d in enumerate(data)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rpl, "LIMITS", rpl.ReadLimits(file_bytes=rpl._HEADER_ROOM + room,
                                                    lines=65_536, sections=1 + most))
        patch.setattr(rpl, "MAX_OBJECTS", most)
        patch.setattr(rpl, "_OBJECT_ROOM", 0)  # the data's size decides
        assert rpl.fill(objects) == filled_by_escaped_sizes(objects)


def outcome(read: object, text: str) -> object:
    """What reading `text` gives: its bytes, or the ValueError's message."""
    try:
        return read(text)  # type: ignore[operator]
    except ValueError as e:
        return str(e)


@given(st.text(alphabet="\\\\\\nrtx0aFG\0\n\udc80\u00e9 ", max_size=40))
def test_unescaping_in_one_pass_reads_as_escape_by_escape(text: str) -> None:
    """The one-pass rewrites (simple escapes alone, or any good ones) give the bytes and the
    errors of the reader that goes escape by escape."""
    assert outcome(rpl.unescape, text) == outcome(rpl._unescape, text)


def test_a_large_batch_written_reads_as_its_record_and_edited_as_edited() -> None:
    """Some 50,000 characters, as Replication Manager writes a batch of status messages."""
    objects = [rpl.ReplicationObject.of(f"P00_{n:08d}.STA", PKG_TEXT.encode() * 20)
               for n in range(40)]
    batch = rpl.ReplicationBatch(
        job_id="00000003", sending_site="ZZZ", destination_site="P00", priority=2,
        transaction_id=17, created=1180947601.5, objects=objects)
    text = rpl.dumps(batch)
    assert len(text) > 48_000
    assert rpl.parse(text) is batch
    edited = text.replace("Name=Demo", "Name=Demi", 1)
    with pytest.raises(FormatError, match="does not match its SHA256"):
        rpl.parse(edited)


@given(st.lists(st.binary(max_size=80), min_size=1, max_size=4, unique=True),
       st.integers(1, 2**63 - 1), st.integers(1, 3))
def test_batches_round_trip(payloads: list[bytes], transaction: int, priority: int) -> None:
    batch = rpl.ReplicationBatch(
        job_id="0000ABCD", sending_site="S01", destination_site="P00", priority=priority,
        transaction_id=transaction, created=1180947600.25,
        objects=[rpl.ReplicationObject.of(f"P00_{n:08d}.STA", d) for n, d in enumerate(payloads)])
    assert rpl.decode(rpl.encode(batch)) == batch


@given(st.text(max_size=400))
def test_the_reader_raises_only_format_errors_on_text(text: str) -> None:
    with contextlib.suppress(FormatError):
        rpl.parse(text, "fuzz.RPL")
    with contextlib.suppress(FormatError):
        trs.parse(text, "fuzz.trs")


@given(st.binary(max_size=400))
def test_the_reader_raises_only_format_errors_on_bytes(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        rpl.decode(data, "fuzz.RPL")
    with contextlib.suppress(FormatError):
        trs.decode(data, "fuzz.trs")


def test_every_truncation_of_a_batch_is_an_error() -> None:
    data = GOLDEN.encode("utf-8")
    for n in range(len(data) - 1):
        with pytest.raises(FormatError):
            rpl.decode(data[:n])


def test_the_history_round_trips_and_keeps_the_highest() -> None:
    assert trs.dumps(HISTORY) == HISTORY_TEXT
    assert trs.parse(HISTORY_TEXT) == HISTORY
    assert HISTORY.seen("pkg", 2) == 17 and HISTORY.seen("STA", 2) == 0
    assert HISTORY.with_applied("PKG", 2, 12).seen("PKG", 2) == 17
    assert HISTORY.with_applied("PKG", 2, 20).seen("PKG", 2) == 20
    edited = "\ufeff; restored from backup\r\n[ pkg ]\r\n  priority  2 = 17 \r\nNote=x\r\n"
    assert trs.parse(edited) == trs.TransactionHistory({("PKG", 2): 17})


def test_a_missing_history_is_empty_and_a_bad_one_names_the_line(tmp_path: Path) -> None:
    assert trs.read(tmp_path / "ZZZ.trs") == trs.TransactionHistory()
    with pytest.raises(FormatError, match="line 2: .*not a transaction ID"):
        trs.parse("[PKG]\nPriority 2=many\n")
    with pytest.raises(FormatError, match="before the first"):
        trs.parse("Priority 2=1\n")

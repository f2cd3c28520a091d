"""A text a kind wrote reads as the record it was written from only when reading it would give
that very record: the same fields, of the same types (`Layout.dumps` remembers it)."""

from __future__ import annotations

import math

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitesrv.formats import pkg, srq
from sitesrv.formats.sections import ISO_TIME, Key, Layout, one
from sitesrv.formats.values import AddressType
from tests.formats.examples import REPLICATION, SEND_REQUEST
from tests.formats.strategies import KINDS


def same(read: object, written: object) -> bool:
    """Equal all the way down, and of the same types (a StrEnum is not its text)."""
    if type(read) is not type(written):
        return False
    if attrs.has(type(read)):
        return all(same(getattr(read, f.name), getattr(written, f.name))
                   for f in attrs.fields(type(read)))
    if isinstance(read, tuple):
        return len(read) == len(written) and all(map(same, read, written))  # type: ignore[arg-type]
    if isinstance(read, float):
        return read == written and math.copysign(1, read) == math.copysign(1, written)  # type: ignore[arg-type]
    return read == written


def reader(layout: Layout) -> Layout:
    """The same kind with a cache of its own, empty: what reading the text gives."""
    return attrs.evolve(layout)


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_a_remembered_text_reads_as_the_record_it_was_written_from(
        kind: str, data: st.DataObject) -> None:
    module, records = KINDS[kind]
    record = data.draw(records)
    text = module.LAYOUT.dumps(record)
    read = reader(module.LAYOUT).parse(text)
    assert read == record
    remembered = module.LAYOUT._parsed.get(text)
    if remembered is not None:
        assert same(read, remembered)


def test_a_written_text_reads_as_the_record_itself() -> None:
    assert srq.parse(srq.dumps(SEND_REQUEST)) is SEND_REQUEST
    assert pkg.parse(pkg.dumps(REPLICATION)) is REPLICATION


def test_a_value_that_reads_back_as_another_type_is_read_from_the_text() -> None:
    request = attrs.evolve(SEND_REQUEST, preferred_address=AddressType.COURIER)
    read = srq.parse(srq.dumps(request))
    assert read == request and read is not request
    assert type(read.preferred_address) is str


def test_an_edited_text_reads_as_edited() -> None:
    text = srq.dumps(SEND_REQUEST)
    edited = text.replace(f"Outbox={SEND_REQUEST.outbox}\n", "Outbox=elsewhere\n")
    assert edited != text
    assert srq.parse(edited).outbox == "elsewhere"
    assert srq.parse(text) is SEND_REQUEST


@attrs.frozen
class _Stamp:
    when: float  # no converter: a time the text rounds reads back as another


_STAMP = Layout(_Stamp, "stamp", (one("STAMP", Key("When", "when", ISO_TIME)),))


@pytest.mark.parametrize(("first", "then"), [(1.0, 1.0004), (0.0, -0.0), (1.0, 1)])
def test_a_value_that_reads_back_is_remembered_as_itself_not_as_its_text(
        first: float, then: float) -> None:
    """The other value, written as the same text, is not taken for the one that read back."""
    layout = attrs.evolve(_STAMP)
    text = layout.dumps(_Stamp(first))
    assert layout.dumps(_Stamp(first)) == text  # the second time, the value is remembered
    layout._parsed._records.clear()
    assert layout.dumps(_Stamp(then)) == text  # the same text, from another value
    remembered = layout._parsed.get(text)
    assert remembered is None or same(remembered.when, then)
    assert not same(layout.parse(text).when, then)

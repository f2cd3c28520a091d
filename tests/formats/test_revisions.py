"""The revisions of replicated advertisements and collections: the `Revision` key, the file
that records them (`sitesrv/formats/revisions.py`), and the rule that picks the newer object."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitesrv.errors import FormatError
from sitesrv.formats import offer, revisions
from tests.formats.strategies import (
    collection_facts,
    counts,
    offer_replications,
    offer_revisions,
    package_ids,
)


@given(offer_revisions())
def test_every_revisions_file_reads_back(record: revisions.Revisions) -> None:
    assert revisions.decode(revisions.encode(record), "x.json") == record


@given(st.one_of(st.binary(max_size=200),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.floats()
                              | st.text(max_size=10),
                              lambda inner: st.lists(inner, max_size=3)
                              | st.dictionaries(st.text(max_size=10), inner, max_size=3),
                              max_leaves=8).map(lambda doc: json.dumps(doc).encode())))
def test_any_bytes_read_as_revisions_or_raise_format_error_naming_the_file(data: bytes) -> None:
    try:
        record = revisions.decode(data, "x.json")
    except FormatError as e:
        assert "x.json" in str(e)
    else:
        assert revisions.decode(revisions.encode(record)) == record


@given(package_ids, st.one_of(st.integers(max_value=-1), st.integers(min_value=2**63),
                              st.booleans(), st.floats(), st.text(max_size=5)))
def test_a_revision_that_is_not_a_count_is_a_format_error(object_id: str, value: object) -> None:
    with pytest.raises(FormatError, match="not in the expected shape"):
        revisions.decode(json.dumps({object_id: value}).encode())


def test_one_object_in_two_letter_cases_is_a_format_error() -> None:
    with pytest.raises(FormatError, match="one revision only"):
        revisions.decode(b'{"ZZZ2000A": 1, "ZZZ2000a": 2}')


@given(offer_replications())
def test_a_replicated_advertisement_without_revisions_reads_as_revision_0(
        record: offer.OfferReplication) -> None:
    """An object from a sitesrv before revisions, in flight when the site was upgraded."""
    text = "".join(line for line in offer.REPLICATION.dumps(record).splitlines(keepends=True)
                   if not line.startswith("Revision="))
    old = offer.REPLICATION.parse(text)
    assert old.revision == 0
    assert old.collection is None or old.collection.revision == 0
    assert old.offer == record.offer and old.action == record.action


@given(collection_facts)
def test_a_replicated_collection_without_a_revision_reads_as_revision_0(
        record: offer.CollectionFacts) -> None:
    text = "".join(line for line in offer.COLLECTION.dumps(record).splitlines(keepends=True)
                   if not line.startswith("Revision="))
    assert offer.COLLECTION.parse(text).revision == 0


@given(st.lists(st.integers(1, 50), unique=True, min_size=1).flatmap(st.permutations),
       st.lists(st.integers(0, 50), max_size=4))
def test_objects_taken_in_any_order_leave_the_latest_applied(
        order: list[int], repeats: list[int]) -> None:
    """Distinct revisions in any order, some delivered twice: the last one applied is the
    highest, and none is applied after a higher one."""
    recorded: int | None = None
    for revision in order + [r for r in repeats if r in order]:
        if revisions.is_newer(revision, recorded):
            assert recorded is None or revision > recorded
            recorded = revision
    assert recorded == max(order)


@given(counts)
def test_revision_0_is_applied_only_while_no_revision_was(recorded: int) -> None:
    assert revisions.is_newer(0, None) and revisions.is_newer(0, 0)
    assert revisions.is_newer(0, recorded) == (recorded == 0)

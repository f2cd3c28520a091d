"""What a kind keeps of the texts it parsed last stays within the bound docs/limits.md gives.

Each kind's cache (`_Parsed` in sitesrv/formats/sections.py) is filled to its 1 MiB of text with
the kind's smallest file, the worst case: the most records per MiB. The texts differ only in the
letter case of their section and key names, which the reader ignores, so each is that same valid
file, and each is a new entry. What the cache then holds is measured with tracemalloc.
"""

from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import Iterator

import attrs
import pytest

from sitesrv.formats.sections import END, Layout
from tests.formats.smallest import SMALLEST

KIND_BOUND_MIB = 6  # docs/limits.md: what one kind's full cache holds at most
KINDS = 16  # every Layout in sitesrv.formats


def name_letters(text: str) -> list[int]:
    """The offsets of the letters of the section and key names (not [END]'s)."""
    offsets, start = [], 0
    for line in text.splitlines(keepends=True):
        if line.startswith("[") and line.strip() != f"[{END}]":
            name = range(start + 1, start + line.index("]"))
        else:
            name = range(start, start + max(line.find("="), 0))
        offsets += [i for i in name if text[i].isalpha()]
        start += len(line)
    return offsets


def variants(text: str) -> Iterator[str]:
    """Distinct spellings of the same file: the n-th flips the case of the name letters that
    the bits of n pick."""
    letters = name_letters(text)
    for n in itertools.count():
        if n >> len(letters):
            raise AssertionError("ran out of spellings")
        chars = list(text)
        for bit, offset in enumerate(letters):
            if n >> bit & 1:
                chars[offset] = chars[offset].swapcase()
        yield "".join(chars)


def test_every_kind_has_its_smallest_file() -> None:
    assert len(SMALLEST) == KINDS
    assert len({id(layout) for layout, _ in SMALLEST.values()}) == KINDS


def test_a_spelling_with_other_letter_cases_reads_as_the_same_record() -> None:
    layout, text = SMALLEST["pkn"]
    first, *others = itertools.islice(variants(text), 5)
    assert first == text and len(set(others)) == 4
    assert {layout.parse(t) for t in others} == {layout.parse(text)}


@pytest.mark.parametrize("kind", SMALLEST)
def test_a_full_cache_holds_at_most_the_bound(kind: str) -> None:
    layout, text = SMALLEST[kind]
    fresh: Layout = attrs.evolve(layout)  # with a cache of its own, empty
    cache = fresh._parsed
    texts = variants(text)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(cache.CHARACTERS * 5 // 4 // len(text)):  # a quarter more than it keeps
            fresh.parse(next(texts))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    entries = len(cache._records)
    assert entries == cache.CHARACTERS // len(text)  # full, the oldest forgotten
    print(f"{kind}: {entries} records of {len(text)} characters, {held / 2**20:.2f} MiB")
    assert held <= KIND_BOUND_MIB << 20

"""The packing list and parcel reader: a round trip, and any bytes give a packing list or a
FormatError, never another exception, reading no more than the header and the packing list."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from sitesrv.admin import parcelnumbers
from sitesrv.errors import FormatError, UserError
from sitesrv.formats import parcel
from sitesrv.formats.parcel import PackingList, ParcelFile, ParcelRequest

names = st.from_regex(r"[A-Za-z0-9_]{1,8}(\.[A-Z0-9]{1,3})?", fullmatch=True)


@st.composite
def packing_lists(draw: st.DrawFn) -> PackingList:
    members = draw(st.lists(names, min_size=1, max_size=4, unique_by=str.upper))
    files = [ParcelFile(name=n, size=draw(st.integers(0, 50))) for n in members]
    requests = [ParcelRequest(
        request_id=f"2_{i:03d}ZZZ", dest_site=draw(st.sampled_from(["P00", "S01"])),
        job_id=f"{i:08X}", package_id=draw(st.sampled_from(["", "ZZZ00001"])),
        instruction=draw(st.sampled_from(members)),
        package_file=draw(st.sampled_from(["", *members])),
        deliver_to=draw(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1,
                                max_size=20).filter(lambda s: s == s.strip() != "")))
        for i in range(1, draw(st.integers(1, 3)) + 1)]
    return PackingList(parcel_id="ZZZ-0001", name=draw(names), sending_site="ZZZ",
                       created=draw(st.integers(0, 2**33)) / 1000, files=files,
                       requests=requests)


@given(packing_lists(), st.binary(max_size=200))
def test_a_parcel_reads_back_its_packing_list_and_its_files(packing, tail):
    out = io.BytesIO()
    contents = (io.BytesIO(bytes([k]) * f.size) for k, f in enumerate(packing.files))
    parcel.write(out, packing, contents)
    data = out.getvalue() + tail
    read, start = parcel.read_packing_list(io.BytesIO(data), "p")
    assert read == packing
    for k, f in enumerate(packing.files):
        offset, size = read.spans(start)[f.name.upper()]
        assert data[offset:offset + size] == bytes([k]) * f.size


@given(st.binary(max_size=400) | st.builds(
    lambda n, body: parcel.header(n) + body, st.integers(0, 3000), st.binary(max_size=400)))
def test_any_bytes_give_a_packing_list_or_a_format_error(data):
    f = io.BytesIO(data)
    with contextlib.suppress(FormatError):
        parcel.read_packing_list(f, "p")
    assert f.tell() <= parcel.HEADER_BYTES + parcel.INSTRUCTION_LIMITS.file_bytes


def test_a_packing_list_too_long_to_read_is_refused_before_it_is_read():
    f = io.BytesIO(parcel.header(3 << 20) + b"x" * 10)
    try:
        parcel.read_packing_list(f, "p")
    except FormatError as e:
        assert "docs/limits.md" in e.problem and f.tell() == len(parcel.header(3 << 20))
    else:
        raise AssertionError("a 3 MiB packing list was read")


@given(st.one_of(st.binary(max_size=60),
                 st.builds(lambda v: json.dumps({"last": v}).encode(),
                           st.one_of(st.integers(-5, 10**6), st.floats(), st.text(max_size=5),
                                     st.booleans(), st.none()))))
def test_any_parcel_counter_gives_a_number_or_a_user_error(data):
    """The parcel counter (`SMS\\state\\courier-parcels.json`) a person may have edited."""
    with tempfile.TemporaryDirectory() as folder:
        counter = Path(folder) / parcelnumbers.COUNTER_FILE
        counter.write_bytes(data)
        try:
            last = parcelnumbers._old_counter("ZZZ", counter)
        except UserError as e:
            assert str(counter) in str(e)
        else:
            assert isinstance(last, int) and last >= 0
            assert json.loads(data)["last"] == last



@given(st.text(alphabet="ZzY-0123456789.PARCELparcel", max_size=16),
       st.sampled_from(["", parcel.EXTENSION]))
def test_a_name_gives_a_parcel_number_only_if_it_is_exactly_one(name, extension):
    """`parcelnumbers.number_of`: the claims and parcels a person may have copied or renamed."""
    number = parcelnumbers.number_of("ZZZ", name, extension)
    if number:
        assert name.upper() == f"ZZZ-{number:04d}{extension}".upper()


@given(st.integers(0, 9999), st.sampled_from(["", parcel.EXTENSION]), st.booleans())
def test_every_parcel_name_in_any_case_gives_its_number(n, extension, lower):
    name = f"ZZZ-{n:04d}{extension}"
    assert parcelnumbers.number_of("ZZZ", name.lower() if lower else name, extension) == n

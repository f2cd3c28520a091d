"""Read limits (docs/limits.md): a file written by anyone into an inbox costs bounded memory.

Each attack of issue 16 is refused with a reason naming the limit, before the memory is spent;
files within the limits read exactly as before; and the worst file the limits let through
stays under the bound docs/limits.md gives for it.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitesrv.errors import FormatError
from sitesrv.formats import job, pkg, pkn, rpl, sni, srq, sta, storedpkg, trs
from sitesrv.formats.sections import INSTRUCTION_LIMITS, ReadLimits
from tests.formats.examples import EXAMPLES, INSTRUCTION, REPLICATION, T0
from tests.peakmemory import linux_only, measure

KINDS = {"pkn": pkn, "pkg": pkg, "sta": sta, "job": job, "srq": srq, "sni": sni,
         "storedpkg": storedpkg}
INSTRUCTION_BOUND_MIB = 32  # docs/limits.md: what reading one instruction file may add
BATCH_BOUND_MIB = 64  # docs/limits.md: the same for a replication batch
F, L, S = INSTRUCTION_LIMITS.file_bytes, INSTRUCTION_LIMITS.lines, INSTRUCTION_LIMITS.sections


def traced_peak(call: Callable[[], object]) -> tuple[int, FormatError | None]:
    """Bytes the call allocated at its peak, and the FormatError it raised (if any)."""
    tracemalloc.start()
    try:
        call()
        error = None
    except FormatError as e:
        error = e
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, error


def sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


# --- refused before the memory is spent -----------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", [F + 1, 50 << 20])
def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
        tmp_path: Path, kind: str, size: int) -> None:
    module = KINDS[kind]
    path = sparse(tmp_path / f"big.{kind}", size)
    peak, error = traced_peak(lambda: module.read(path))
    assert error is not None and error.path == str(path)
    assert error.problem.startswith(f"{size} bytes, more than the 2097152 bytes (2 MiB) a")
    assert error.problem.endswith(f" {module.LAYOUT.kind} may have (docs/limits.md)")
    assert peak < 1 << 20, "nothing of the file was read"


def test_issue_16_a_million_unknown_sections_are_refused_cheaply(tmp_path: Path) -> None:
    """The 8 MB .PKG that took 688 MB to read: now refused by its size, unread."""
    path = tmp_path / "ZZZ00001.PKG"
    path.write_bytes(b"[UNKNOWN SECTION]\n" * 470_000 + b"[END]\n")
    peak, error = traced_peak(lambda: pkg.read(path))
    assert error is not None and "more than the 2097152 bytes (2 MiB)" in error.problem
    assert peak < 1 << 20


def test_too_many_lines_are_refused_before_the_text_is_split() -> None:
    text = "\n" * (L + 1) + "[END]\n"
    peak, error = traced_peak(lambda: pkg.parse(text, "lines.PKG"))
    assert error is not None
    assert error.problem == ("more than 65536 lines, the most a package replication file may "
                             "have (docs/limits.md)")
    assert peak < 1 << 20


def test_too_many_sections_are_refused_at_the_first_one_over() -> None:
    text = "[X]\n" * (S + 5) + "[END]\n"
    with pytest.raises(FormatError) as caught:
        sta.parse(text, "sections.STA")
    assert caught.value.problem == ("line 16385: more than 16384 sections, the most a package "
                                    "status report may have (docs/limits.md)")


def test_decode_and_parse_apply_the_size_limit_too() -> None:
    with pytest.raises(FormatError, match=r"^x\.PKN: 2097153 bytes, more than the 2097152 "):
        pkn.decode(b" " * (F + 1), "x.PKN")
    with pytest.raises(FormatError, match=r"^x\.PKN: 2097153 characters, more than the 2097152 "):
        pkn.parse(" " * (F + 1), "x.PKN")


def test_a_transaction_history_over_its_limit_is_refused_unread(tmp_path: Path) -> None:
    path = sparse(tmp_path / "ZZZ.trs", (64 << 10) + 1)
    peak, error = traced_peak(lambda: trs.read(path))
    assert error is not None
    assert error.problem == ("65537 bytes, more than the 65536 bytes (64 KiB) a transaction "
                             "history may have (docs/limits.md)")
    assert peak < 1 << 20


def test_a_batch_over_its_limits_is_refused(tmp_path: Path) -> None:
    path = sparse(tmp_path / "00000003.RPL", rpl.LIMITS.file_bytes + 1)
    peak, error = traced_peak(lambda: rpl.read(path))
    assert error is not None and "a replication batch may have (docs/limits.md)" in error.problem
    assert peak < 1 << 20
    header = rpl.dumps(_batch([rpl.ReplicationObject.of("P00_A.STA", b"x")])).removesuffix(
        "[END]\n")
    objects = "".join(f"[OBJECT]\nName=P00_{i}.STA\n" for i in range(rpl.MAX_OBJECTS + 1))
    with pytest.raises(FormatError) as caught:
        rpl.parse(header + objects + "[END]\n", "many.RPL")
    assert "more than 10001 sections, the most a replication batch may have" in (
        caught.value.problem)


# --- every legitimate file fits ------------------------------------------------------------

def _dps(count: int) -> tuple[pkg.PackageServer, ...]:
    return tuple(pkg.PackageServer(
        site_code=f"P{i % 100:02d}", server=f"DPSERVER{i:06d}", share="SMSPKGC$",
        nal_path=f'MSWNET:["SMS_SITE=P{i % 100:02d}"]\\\\DPSERVER{i:06d}\\SMSPKGC$\\',
        action=pkg.PackageAction.UPDATE) for i in range(count))


def test_a_package_with_10000_dps_reads_alone_and_carried(tmp_path: Path) -> None:
    record = attrs.evolve(REPLICATION, servers=_dps(10_000))
    carried = attrs.evolve(INSTRUCTION, package=attrs.evolve(record, package_id="ZZZ00001"))
    for module, value in ((pkg, record), (sni, carried)):
        path = tmp_path / "big"
        path.write_bytes(module.encode(value))
        assert module.read(path) == value


@pytest.mark.parametrize("kind", EXAMPLES)
def test_the_examples_are_far_within_the_limits(kind: str) -> None:
    module, record, text = EXAMPLES[kind]
    assert len(text) * 100 < F and text.count("\n") * 100 < L


@st.composite
def texts(draw: st.DrawFn) -> str:
    """Section-shaped text: some sections of some Key=Value lines, blank lines, an [END]."""
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        lines.append(f"[{draw(st.sampled_from(['STATUS REPORT', 'PKGSTATUS', 'X']))}]")
        for k in range(draw(st.integers(0, 4))):
            lines += [""] * draw(st.integers(0, 2)) + [f"K{k}={draw(st.text('ab=[', max_size=9))}"]
    return "\n".join([*lines, "[END]", ""])


@settings(max_examples=300, deadline=None)
@given(text=texts(), file_bytes=st.integers(0, 300), lines=st.integers(0, 60),
       sections=st.integers(0, 14))
def test_the_limits_change_nothing_for_a_file_within_them(
        text: str, file_bytes: int, lines: int, sections: int) -> None:
    """Over a limit: refused naming it (size first, then lines, then sections); within all
    of them: exactly what the reader without limits makes of it."""
    data = text.encode()
    limited = attrs.evolve(sta.LAYOUT, limits=ReadLimits(file_bytes, lines, sections))
    unlimited = attrs.evolve(sta.LAYOUT, limits=ReadLimits(1 << 30, 1 << 30, 1 << 30))

    def outcome(layout) -> object:
        try:
            return layout.decode(data, "t.STA")
        except FormatError as e:
            return e.problem

    found = outcome(limited)
    if len(data) > file_bytes:
        assert found == (f"{len(data)} bytes, more than the {file_bytes} bytes "
                         f"({file_bytes} bytes) a package status report may have "
                         "(docs/limits.md)")
    elif data.count(b"\n") > lines:
        assert found == (f"more than {lines} lines, the most a package status report may "
                         "have (docs/limits.md)")
    elif text.count("\n[") + text.startswith("[") - 1 > sections:  # all but [END]
        assert isinstance(found, str) and f"more than {sections} sections" in found
    else:
        assert found == outcome(unlimited)


# --- batches: what one may carry -----------------------------------------------------------

def _batch(objects: list[rpl.ReplicationObject]) -> rpl.ReplicationBatch:
    return rpl.ReplicationBatch(job_id="00000003", sending_site="ZZZ", destination_site="P00",
                                priority=3, transaction_id=17, created=T0, objects=objects)


def test_fill_stops_at_the_most_objects_a_batch_may_carry() -> None:
    made: list[int] = []

    def objects():
        for i in range(rpl.MAX_OBJECTS + 50):
            made.append(i)
            yield rpl.ReplicationObject.of(f"P00_{i:08d}.STA", b"[STATUS REPORT]\n[END]\n")

    taken = rpl.fill(objects())
    assert len(taken) == rpl.MAX_OBJECTS
    assert len(made) == rpl.MAX_OBJECTS + 1, "the objects after the first left out are not made"
    batch = _batch(list(taken))
    assert rpl.decode(rpl.encode(batch), "full.RPL") == batch


@pytest.mark.slow
def test_any_instruction_file_fits_in_a_batch_alone_and_two_of_the_largest_do_not() -> None:
    """The worst an object can escape to is 4 characters a byte."""
    worst = b"\x01" * INSTRUCTION_LIMITS.file_bytes
    objects = [rpl.ReplicationObject.of(f"P00_{i}.PKG", worst) for i in range(2)]
    taken = rpl.fill(objects)
    assert [o.name for o in taken] == ["P00_0.PKG"]
    data = rpl.encode(_batch(list(taken)))
    assert len(data) <= rpl.LIMITS.file_bytes
    assert rpl.decode(data, "worst.RPL").objects == taken


def test_fill_always_takes_the_first_object() -> None:
    huge = rpl.ReplicationObject.of("P00_A.PKG", b"x" * (rpl.LIMITS.file_bytes + 1))
    assert rpl.fill([huge, huge]) == (huge,)


# --- the worst within the limits -----------------------------------------------------------

def _instruction_shapes() -> dict[str, bytes]:
    """Files at the limits, each in the shape that costs most in one way."""
    head = b"[PACKAGE DEFINITION]\n"
    keys = (L - 2) // S - 1  # per section, beside its header
    width = (F // S - 4) // keys - 5  # of each value, to fill the file
    return {
        "sections": b"[X]\n" * S,
        "keys": head + b"".join(b"k%06d=%s\n" % (i, b"v" * (F // L - 9)) for i in range(L - 3)),
        "sections of keys": b"".join(
            b"[S]\n" + b"".join(b"k%d=%s\n" % (j, b"v" * width) for j in range(keys))
            for _ in range(S)),
        "one long value": head + b"k=" + b"v" * (F - 40) + b"\n",
        "blank lines": b"\n" * (L - 2),
    }


@linux_only
@pytest.mark.slow
@pytest.mark.parametrize("shape", list(_instruction_shapes()))
def test_the_worst_instruction_file_within_the_limits_stays_under_its_bound(
        tmp_path: Path, shape: str) -> None:
    data = _instruction_shapes()[shape] + b"[END]\n"
    assert len(data) <= F and data.count(b"\n") <= L
    path = tmp_path / "worst.PKG"
    path.write_bytes(data)
    found = measure("from sitesrv.formats import pkg", "pkg.read(sys.argv[1])", str(path))
    assert found.outcome.startswith("FormatError: "), found  # read whole, then found invalid
    assert "limits.md" not in found.outcome
    assert found.mib < INSTRUCTION_BOUND_MIB, found


def _batch_shapes() -> dict[str, bytes]:
    header = rpl.dumps(_batch([rpl.ReplicationObject.of("P00_A.STA", b"x")])).split("[OBJECT]")[0]
    room = rpl.LIMITS.file_bytes - 4096
    plain = b"A" * room
    each = b"B" * (room // rpl.MAX_OBJECTS - 140)
    return {
        "one plain object": rpl.encode(_batch([rpl.ReplicationObject.of("P00_A.PKG", plain)])),
        "one escaped object": rpl.encode(_batch(
            [rpl.ReplicationObject.of("P00_A.PKG", b"\x01" * (room // 4))])),
        "most objects": rpl.encode(_batch([rpl.ReplicationObject.of(f"P00_{i}.STA", each)
                                           for i in range(rpl.MAX_OBJECTS)])),
        "unknown keys": (header.encode() + b"".join(b"k%05d=%s\n" % (i, b"v" * 140)
                                                    for i in range(rpl.LIMITS.lines - 20))
                         + b"[END]\n"),
    }


@linux_only
@pytest.mark.slow
@pytest.mark.parametrize("shape", ["one plain object", "one escaped object", "most objects",
                                   "unknown keys"])
def test_the_worst_batch_within_the_limits_stays_under_its_bound(
        tmp_path: Path, shape: str) -> None:
    data = _batch_shapes()[shape]
    assert len(data) <= rpl.LIMITS.file_bytes and data.count(b"\n") <= rpl.LIMITS.lines
    path = tmp_path / "worst.RPL"
    path.write_bytes(data)
    found = measure("from sitesrv.formats import rpl", "rpl.read(sys.argv[1])", str(path))
    assert "limits.md" not in found.outcome, found
    assert found.mib < BATCH_BOUND_MIB, found

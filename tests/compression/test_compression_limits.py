"""Container and package limits (docs/limits.md): what a PCK may list, and what it may expand to.

Each attack of issue 16 is refused with its reason before anything is written, and reading the
worst manifest the limits let through stays under the bound docs/limits.md gives.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sitesrv.cli.main import cli
from sitesrv.compression import (
    CorruptError,
    PackageLimitError,
    UnsafeEntryError,
    extract,
    install,
    make_delta,
    pack,
    read_manifest,
    verify,
)
from sitesrv.compression import manifest as manifest_module
from sitesrv.compression.container import ContainerWriter
from sitesrv.compression.entrysafety import fold, folder_count, tree_problem
from sitesrv.compression.manifest import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    MAX_ENTRIES,
    MAX_JSON_VALUES,
    MAX_MANIFEST_BYTES,
    FileEntry,
    Manifest,
)
from sitesrv.lab.hierarchy import PackageLimits
from tests.peakmemory import linux_only, measure

MANIFEST_BOUND_MIB = 256  # docs/limits.md: what reading any PCK's manifest may add
EMPTY_SHA = hashlib.sha256(b"").hexdigest()
FILE_DOC = {"type": "file", "size": 0, "mtime_ns": 0, "readonly": False, "sha256": EMPTY_SHA}


def _manifest_only(tmp_path: Path, kit, manifest: bytes, name: str = "evil.PCK") -> Path:
    """A sealed PCK with no content and any manifest bytes: the checksums all match."""
    return kit.raw_container(tmp_path / name, b"", kit.manifest_member(manifest) + bytes(1024),
                             manifest)


def _doc(entries: list[dict]) -> bytes:
    doc = {"format": MANIFEST_FORMAT, "package_id": "CEN00001", "version": 1, "entries": entries}
    return json.dumps(doc, separators=(",", ":")).encode()


def _refused_unwritten(tmp_path: Path, kit, pck: Path, error: type[Exception],
                       limits: PackageLimits | None = None) -> Exception:
    """Install and extract both refuse `pck` with `error`, and write nothing at all."""
    before = kit.snapshot(tmp_path)
    more = {} if limits is None else {"limits": limits}
    with pytest.raises(error) as installing:
        install(pck, tmp_path / "share", kit.PKG, **more)
    with pytest.raises(error):
        extract(pck, tmp_path / "out", **more)
    assert kit.snapshot(tmp_path) == before
    return installing.value


# --- an entry named like the manifest --------------------------------------------------------

@pytest.mark.parametrize("name", [MANIFEST_NAME, ".SITESRV-Manifest.JSON"])
def test_an_entry_named_like_the_manifest_is_refused_when_reading(
        tmp_path: Path, kit, name: str) -> None:
    pck = kit.craft_container(tmp_path / "evil.PCK", [(kit.tar_info(name), b'{"x": 1}')])
    error = _refused_unwritten(tmp_path, kit, pck, UnsafeEntryError)
    assert str(error) == (f"{pck}: refused entry {name!r}: the name is reserved for the package "
                          "manifest")
    for reading in (read_manifest, verify):
        with pytest.raises(UnsafeEntryError, match="reserved for the package manifest"):
            reading(pck)


def test_only_the_top_level_name_is_reserved(tmp_path: Path, kit) -> None:
    source = kit.write_tree(tmp_path / "src", {"docs": {MANIFEST_NAME: b"{}"}})
    pck = pack(source, tmp_path / "ok.PCK", kit.PKG, 1).path
    install(pck, tmp_path / "share", kit.PKG)
    assert (tmp_path / "share" / kit.PKG / "docs" / MANIFEST_NAME).read_bytes() == b"{}"


def test_pack_refuses_the_manifest_name_in_any_case(tmp_path: Path, kit) -> None:
    source = kit.write_tree(tmp_path / "src", {".Sitesrv-Manifest.json": b"{}"})
    with pytest.raises(UnsafeEntryError, match="reserved for the package manifest"):
        pack(source, tmp_path / "x.PCK", kit.PKG, 1)


# --- paths -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "reason"),
    [("d/" + "n" * 256, "a name longer than 255 characters"),
     ("ab/" * 341 + "cd", "path longer than 1024 characters")],
)
def test_a_name_or_path_over_its_length_is_refused(tmp_path: Path, kit, name, reason) -> None:
    pck = kit.craft_container(tmp_path / "evil.PCK", [(kit.tar_info(name), b"x")])
    error = _refused_unwritten(tmp_path, kit, pck, UnsafeEntryError)
    assert str(error) == f"{pck}: refused entry {name!r}: {reason}"


def test_a_deep_path_within_the_limits_installs(tmp_path: Path, kit) -> None:
    name = "a/" * 400 + "f.txt"
    pck = kit.craft_container(tmp_path / "deep.PCK", [(kit.tar_info(name), b"deep")])
    install(pck, tmp_path / "share", kit.PKG)
    assert (tmp_path / "share" / kit.PKG / name).read_bytes() == b"deep"


@linux_only
def test_deep_paths_cost_no_more_to_check_than_short_ones(tmp_path: Path, kit) -> None:
    """5,000 paths of 500 folders each: the check kept every folder's whole path, 2.8 GB for
    these; now it keeps the paths alone, and installing refuses the 2.5 million folders."""
    names = [f"{i:04d}/" + "a/" * 498 + "f" for i in range(5000)]
    entries = [{**FILE_DOC, "path": name} for name in sorted(names)]
    pck = _manifest_only(tmp_path, kit, _doc(entries))
    found = measure("from sitesrv.compression import read_manifest",
                    "read_manifest(sys.argv[1])", str(pck))
    assert found.outcome == "ok" and found.mib < 64, found
    error = _refused_unwritten(tmp_path, kit, pck, PackageLimitError)
    assert error.problem == ("package CEN00001 version 1 has 2495000 folders, more than the "
                             "package_files limit of 100000")


# --- the manifest: its size, its values, its entries ---------------------------------------

@linux_only
@pytest.mark.slow
def test_a_manifest_over_its_size_limit_is_refused_unread(tmp_path: Path, kit) -> None:
    """The 256 MiB manifest of issue 16 took 4.1 GB to list; one byte over 64 MiB is refused
    from its tar header."""
    manifest = b" " * (MAX_MANIFEST_BYTES + 1)
    pck = _manifest_only(tmp_path, kit, manifest)
    found = measure("from sitesrv.compression import read_manifest",
                    "read_manifest(sys.argv[1])", str(pck))
    assert found.outcome == (f"CorruptError: {pck}: manifest of 67108865 bytes is larger than "
                             "the 64 MiB a PCK or DLT may have (docs/limits.md)")
    assert found.mib < 16, found
    _refused_unwritten(tmp_path, kit, pck, CorruptError)


@linux_only
@pytest.mark.slow
@pytest.mark.parametrize(("count", "problem"), [
    (3_000_000, "manifest of 96000083 bytes is larger than the 64 MiB"),
    (1_000_000, f"manifest has more than {MAX_JSON_VALUES} JSON values, more than {MAX_ENTRIES} "
                "entries (the most a PCK or DLT may list) need (docs/limits.md)"),
])
def test_issue_16_millions_of_entries_are_refused_before_they_are_built(
        tmp_path: Path, kit, count: int, problem: str) -> None:
    """The 9.3 MB PCK of 3 million entries took 1.9 GB and 346 s and made 3 million folders."""
    entries = b",".join(b'{"path":"%07d","type":"dir"}' % i for i in range(count))
    manifest = _doc([]).replace(b'"entries":[]', b'"entries":[' + entries + b"]")
    pck = _manifest_only(tmp_path, kit, manifest)
    found = measure("from sitesrv.compression import read_manifest",
                    "read_manifest(sys.argv[1])", str(pck))
    assert found.outcome.startswith(f"CorruptError: {pck}: {problem}"), found
    assert found.mib < MANIFEST_BOUND_MIB, found
    _refused_unwritten(tmp_path, kit, pck, CorruptError)


def test_more_entries_than_a_pck_may_list_are_refused(tmp_path: Path, kit) -> None:
    entries = [{"path": f"{i:07d}", "type": "dir"} for i in range(MAX_ENTRIES + 1)]
    pck = _manifest_only(tmp_path, kit, _doc(entries))
    error = _refused_unwritten(tmp_path, kit, pck, CorruptError)
    assert error.problem == ("manifest lists 250001 entries, more than the 250000 a PCK or DLT "
                             "may list (docs/limits.md)")


def _worst_manifests() -> dict[str, bytes]:
    """Manifests within the limits, each in the shape that costs most to read."""
    values = MAX_JSON_VALUES - 32
    return {
        "most entries": _doc([{**FILE_DOC, "path": f"folder{i // 1000:03d}/file{i:06d}.dat"}
                              for i in range(MAX_ENTRIES)]),
        "most values": _doc([]).replace(b"{", b'{"x":[' + b",".join([b'"ab"'] * values)
                                        + b"],", 1),
        "longest text": _doc([]).replace(b"{", b'{"x":"' + b"a" * (MAX_MANIFEST_BYTES - 200)
                                         + b'",', 1),
    }


@linux_only
@pytest.mark.slow
@pytest.mark.parametrize("shape", ["most entries", "most values", "longest text"])
def test_the_worst_manifest_within_the_limits_stays_under_its_bound(
        tmp_path: Path, kit, shape: str) -> None:
    manifest = _worst_manifests()[shape]
    assert len(manifest) <= MAX_MANIFEST_BYTES
    pck = _manifest_only(tmp_path, kit, manifest)
    found = measure("from sitesrv.compression import read_manifest",
                    "read_manifest(sys.argv[1])", str(pck))
    assert "limits.md" not in found.outcome, found
    assert found.mib < MANIFEST_BOUND_MIB, found


# --- what a package may expand to ------------------------------------------------------------

def test_issue_16_a_package_that_expands_to_4_gib_is_refused_unwritten(tmp_path: Path, kit) -> None:
    entries = [{**FILE_DOC, "path": "zeros.bin", "size": 4 << 30}]
    pck = kit.craft_container(tmp_path / "bomb.PCK", [(kit.tar_info("zeros.bin"), b"")], entries)
    error = _refused_unwritten(tmp_path, kit, pck, PackageLimitError)
    assert error.limit == "package_size"
    assert str(error) == (f"{pck}: package CEN00001 version 1 expands to 4294967296 bytes "
                          "(4 GiB), more than the package_size limit of 2147483648 bytes (2 GiB)")


@linux_only
@pytest.mark.slow
def test_issue_16_a_valid_pck_of_131_kb_that_expands_to_4_gib(tmp_path: Path, kit) -> None:
    """Made as pack would make it (4 GiB of zeros), so every checksum is right."""
    zeros = bytes(1 << 20)
    pck = tmp_path / "CEN00001.PCK"
    with open(pck, "wb") as fh:
        writer = ContainerWriter(fh, level=1)
        sha = writer.add_file("zeros.bin", 4 << 30, 0, False, (zeros for _ in range(4096)))
        writer.finish(Manifest(kit.PKG, 1, (FileEntry("zeros.bin", 4 << 30, 0, False, sha),)))
    assert pck.stat().st_size < 1 << 20
    found = measure("from sitesrv.compression import install",
                    "install(sys.argv[1], sys.argv[2], 'CEN00001')", str(pck),
                    str(tmp_path / "share"))
    assert found.outcome.startswith("PackageLimitError: "), found
    assert "expands to 4294967296 bytes (4 GiB), more than the package_size limit" in (
        found.outcome)
    assert found.mib < 16, found
    assert not (tmp_path / "share").exists()


def test_too_many_files_or_folders_are_refused_unwritten(tmp_path: Path, kit) -> None:
    files = kit.craft_container(tmp_path / "files.PCK",
                                [(kit.tar_info(f"f{i:03d}"), b"") for i in range(11)])
    error = _refused_unwritten(tmp_path, kit, files, PackageLimitError, PackageLimits(1 << 30, 10))
    assert (error.limit, error.problem) == ("package_files", "package CEN00001 version 1 has 11 "
                                            "files, more than the package_files limit of 10")
    deep = kit.craft_container(tmp_path / "deep.PCK", [(kit.tar_info("a/" * 11 + "f"), b"")])
    error = _refused_unwritten(tmp_path, kit, deep, PackageLimitError, PackageLimits(1 << 30, 10))
    assert error.problem == ("package CEN00001 version 1 has 11 folders, more than the "
                             "package_files limit of 10")
    install(files, tmp_path / "share", kit.PKG, limits=PackageLimits(1 << 30, 11))
    assert len(list((tmp_path / "share" / kit.PKG).iterdir())) == 11


def test_a_refused_update_leaves_the_installed_version(tmp_path: Path, kit) -> None:
    source = kit.write_tree(tmp_path / "src", {"a.txt": b"a" * 100})
    install(pack(source, tmp_path / "v1.PCK", kit.PKG, 1).path, tmp_path / "share", kit.PKG)
    kit.write_tree(source, {"b.txt": b"b" * 100})
    v2 = pack(source, tmp_path / "v2.PCK", kit.PKG, 2).path
    before = kit.snapshot(tmp_path / "share")
    with pytest.raises(PackageLimitError, match="expands to 200 bytes"):
        install(v2, tmp_path / "share", kit.PKG, limits=PackageLimits(150, 10))
    assert kit.snapshot(tmp_path / "share") == before


def test_a_delta_counts_only_what_it_ships(tmp_path: Path, kit) -> None:
    source = kit.write_tree(tmp_path / "src", {"big.bin": b"b" * 5000, "small.txt": b"s"})
    base = pack(source, tmp_path / "CEN00001.PCK", kit.PKG, 1).path
    kit.write_tree(source, {"small.txt": b"changed"})
    dlt = make_delta(base, source, tmp_path / "CEN00001.DLT.2", kit.PKG, 2).path
    limits = PackageLimits(package_size=100, package_files=1)
    extract(dlt, tmp_path / "out", limits=limits)
    assert kit.read_tree(tmp_path / "out") == {"small.txt": b"changed"}
    with pytest.raises(PackageLimitError, match="expands to 5001 bytes"):
        extract(base, tmp_path / "out2", limits=PackageLimits(100, 10))


def _cli(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["pck", *(str(a) for a in args)], catch_exceptions=False)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_pck_extract_takes_the_defaults_and_options_to_raise_them(tmp_path: Path, kit) -> None:
    source = kit.write_tree(tmp_path / "src", {"d": {"a.bin": bytes(3000), "b.bin": b"b"}})
    pck = pack(source, tmp_path / "CEN00001.PCK", kit.PKG, 1).path
    code, out = _cli("extract", pck, tmp_path / "out", "--max-size", "2KiB")
    assert code == 2
    assert out == (f"sitesrv: {pck}: package CEN00001 version 1 expands to 3001 bytes (2.9 KiB), "
                   "more than the package_size limit of 2048 bytes (2 KiB); to extract it, pass "
                   "a larger --max-size (docs/limits.md)\n")
    code, out = _cli("extract", pck, tmp_path / "out", "--max-files", "1")
    assert code == 2 and "has 2 files, more than the package_files limit of 1; to extract " \
                         "it, pass a larger --max-files" in out
    assert not (tmp_path / "out").exists()
    code, out = _cli("extract", pck, tmp_path / "out", "--max-size", "3001")
    assert code == 0 and (tmp_path / "out" / "d" / "b.bin").read_bytes() == b"b"
    code, out = _cli("extract", pck, tmp_path / "out2")
    assert code == 0, out


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--max-size", "2GB", "expected a number of bytes, or one with a unit"),
    ("--max-size", "0", "must be at least 1 byte"),
    ("--max-files", "250001", "250001 is not in the range 1<=x<=250000"),
])
def test_pck_extract_refuses_a_bad_limit_option(tmp_path: Path, kit, option, value,
                                                 message) -> None:
    code, out = _cli("extract", tmp_path / "x.PCK", tmp_path / "out", option, value)
    assert code == 2 and message in out


def test_pck_list_of_a_manifest_over_the_limits_exits_2(tmp_path: Path, kit) -> None:
    pck = _manifest_only(tmp_path, kit, _doc([{"path": f"{i:07d}", "type": "dir"}
                                              for i in range(MAX_ENTRIES + 1)]))
    code, out = _cli("list", pck)
    assert code == 2 and out == (f"sitesrv: {pck}: manifest lists 250001 entries, more than the "
                                 "250000 a PCK or DLT may list (docs/limits.md)\n")


# --- the tree checks, against the simple versions they replace -------------------------------

def _reference_tree_problem(entries: list[tuple[str, bool]]) -> tuple[str, str] | None:
    """The check as it was: every folder's whole path kept (quadratic in the depth)."""
    seen: dict[str, str] = {}
    kinds: dict[str, bool] = {}
    parents: set[str] = set()
    for path, is_dir in entries:
        if path in kinds:
            return path, "duplicate entry"
        kinds[path] = is_dir
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if depth < len(parts):
                parents.add(prefix)
            other = seen.setdefault(fold(prefix), prefix)
            if other != prefix:
                return path, f"differs from {other!r} only in letter case"
    for parent in sorted(parents):
        if parent in kinds:
            what = "a folder listed as empty" if kinds[parent] else "a file"
            return parent, f"is {what} but has entries below it"
    return None


_names = st.sampled_from(["a", "A", "b", "ä", "Ä", "ß", "a!", "a.b"])
_trees = st.lists(st.tuples(st.lists(_names, min_size=1, max_size=4).map("/".join),
                            st.booleans()), max_size=8)


@settings(max_examples=500, deadline=None)
@given(_trees)
def test_the_tree_check_finds_a_problem_exactly_when_the_old_one_did(entries) -> None:
    """Which problem it names first may differ when there are several."""
    entries = sorted(entries)
    found = tree_problem(entries)
    assert (found is None) == (_reference_tree_problem(entries) is None), found


@settings(max_examples=500, deadline=None)
@given(_trees)
def test_folder_count_counts_every_folder_once(entries) -> None:
    entries = sorted(set(entries))
    assume(tree_problem(entries) is None)
    folders = {"/".join(path.split("/")[:depth]) for path, is_dir in entries
               for depth in range(1, len(path.split("/")) + is_dir)}
    assert folder_count(entries) == len(folders)


def _values(doc: object) -> int:
    if isinstance(doc, list):
        return 1 + sum(_values(v) for v in doc)
    if isinstance(doc, dict):
        return 1 + sum(_values(v) for v in doc.values())
    return 1


_json_docs = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text("ab,[{\"\\]}:", max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text("k,[{", max_size=3), inner, max_size=4)),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(doc=_json_docs, indent=st.sampled_from([None, 1]))
def test_the_values_counted_before_parsing_are_never_fewer_than_the_json_holds(
        doc: object, indent: int | None) -> None:
    """Counted over the whole text, and (when that is over the limit) outside strings only."""
    text = json.dumps(doc, indent=indent)
    over_all_text = manifest_module._json_values(text)
    assert over_all_text >= _values(doc)
    with mock.patch.object(manifest_module, "MAX_JSON_VALUES", over_all_text - 1):
        assert over_all_text >= manifest_module._json_values(text) >= _values(doc)

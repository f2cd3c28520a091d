"""Delta replication: DLT.<n> carries changed files; merging it rebuilds version n exactly."""

from __future__ import annotations

import os
import random
import stat
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitesrv.compression import (
    BaseMissingError,
    CorruptError,
    MergeBaseError,
    PackageMismatchError,
    WrongBaseError,
    install,
    make_delta,
    merge,
    needs_full_package,
    pack,
    read_manifest,
    verify,
)
from sitesrv.compression.container import ContainerReader


def _mutate(root: Path, rng: random.Random, step: int) -> None:
    """One package update, as a user would make it: edit, add, delete, re-attribute."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for path in rng.sample(files, min(len(files), 2)):
        action = rng.choice(["edit", "delete", "readonly", "touch"])
        if action == "edit":
            os.chmod(path, 0o644)
            path.write_bytes(rng.randbytes(rng.randint(0, 3000)))
        elif action == "delete":
            path.unlink()
        elif action == "readonly":
            os.chmod(path, path.stat().st_mode ^ stat.S_IWUSR)
        else:
            os.utime(path, ns=(0, 10**18 + step))
    folder = root / rng.choice(["", "bin", "bin/x86", "docs"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"added{step}.dat").write_bytes(rng.randbytes(rng.randint(0, 2000)))
    if rng.random() < 0.3:
        (root / f"empty{step}").mkdir()


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(seed=st.integers(0, 2**32 - 1), attribute_changes_count=st.booleans())
def test_seven_versions_through_deltas_equal_a_full_pack(
    tmp_path_factory: pytest.TempPathFactory, kit, seed: int, attribute_changes_count: bool
) -> None:
    work = tmp_path_factory.mktemp("chain")
    rng = random.Random(seed)
    source = kit.write_tree(work / "src", kit.SAMPLE)
    smspkg_parent, smspkg_child = work / "parent", work / "child"
    smspkg_parent.mkdir()
    smspkg_child.mkdir()
    pck = pack(source, smspkg_parent / "CEN00001.PCK", kit.PKG, 1).path
    child_pck = smspkg_child / "CEN00001.PCK"
    child_pck.write_bytes(pck.read_bytes())

    for version in range(2, 8):
        _mutate(source, rng, version)
        dlt = make_delta(
            pck,
            source,
            smspkg_parent / f"CEN00001.DLT.{version}",
            kit.PKG,
            version,
            attribute_changes_count=attribute_changes_count,
        ).path
        pack(source, pck, kit.PKG, version)
        merge(child_pck, dlt, child_pck)

    assert child_pck.read_bytes() == pck.read_bytes()
    assert verify(child_pck, package_id=kit.PKG, version=7) == read_manifest(pck)
    install(child_pck, work / "share", kit.PKG)
    assert kit.read_tree(work / "share" / kit.PKG) == kit.read_tree(source)


@pytest.fixture
def v1(tmp_path: Path, kit) -> tuple[Path, Path]:
    source = kit.write_tree(tmp_path / "src", kit.SAMPLE)
    return source, pack(source, tmp_path / "CEN00001.PCK", kit.PKG, 1).path


def _member_names(path: Path) -> list[str]:
    with ContainerReader(path) as reader:
        return [entry.path for entry, _ in reader.content()]


def test_delta_carries_only_added_and_changed_files(tmp_path: Path, kit, v1) -> None:
    source, pck = v1
    (source / "docs" / "guide.txt").write_bytes(b"a new guide")
    (source / "setup.exe").unlink()
    (source / "bin").mkdir()
    (source / "bin" / "tool.exe").write_bytes(b"tool")

    result = make_delta(pck, source, tmp_path / "CEN00001.DLT.2", kit.PKG, 2)

    delta = result.manifest.delta
    assert delta is not None
    assert delta.shipped == ("bin/tool.exe", "docs/guide.txt")
    assert delta.deleted == ("setup.exe",)
    assert delta.base_version == 1
    assert _member_names(result.path) == ["bin/tool.exe", "docs/guide.txt"]
    assert result.compressed_size < pck.stat().st_size
    assert verify(result.path, package_id=kit.PKG, version=2) == result.manifest


@pytest.mark.parametrize("change", ["readonly", "mtime"])
def test_kb872943_attribute_change_alone_is_not_a_change(
    tmp_path: Path, kit, v1, change: str
) -> None:
    source, pck = v1
    if change == "readonly":
        os.chmod(source / "setup.exe", 0o444)
    else:
        os.utime(source / "setup.exe", ns=(0, 2 * 10**18))

    fixed = make_delta(pck, source, tmp_path / "fixed.DLT", kit.PKG, 2)
    pre_fix = make_delta(
        pck, source, tmp_path / "prefix.DLT", kit.PKG, 2, attribute_changes_count=True
    )

    assert _member_names(fixed.path) == []
    assert _member_names(pre_fix.path) == ["setup.exe"]
    assert pre_fix.compressed_size > fixed.compressed_size
    # Either way the new attributes reach the child: the DLT's manifest is complete.
    for dlt in (fixed.path, pre_fix.path):
        merged = merge(pck, dlt, tmp_path / f"{dlt.name}.PCK")
        entry = next(f for f in merged.manifest.files if f.path == "setup.exe")
        assert (entry.readonly, entry.mtime_ns) == (
            change == "readonly",
            2 * 10**18 if change == "mtime" else kit.MTIME_NS,
        )


def test_missing_base_gives_the_despooler_its_log_line(tmp_path: Path, kit, v1) -> None:
    source, pck = v1
    (source / "new.txt").write_text("new")
    dlt = make_delta(pck, source, tmp_path / "CEN00001.DLT.2", kit.PKG, 2).path
    smspkg = tmp_path / "child" / "SMSPKG"
    smspkg.mkdir(parents=True)

    with pytest.raises(BaseMissingError) as caught:
        merge(smspkg / "CEN00001.PCK", dlt, smspkg / "CEN00001.PCK")

    assert str(caught.value) == f"CCompress::Open: Failed to open {smspkg / kit.PKG} (1)"
    assert (caught.value.package_id, caught.value.base_version) == (kit.PKG, 1)
    assert caught.value.found_version is None
    assert os.listdir(smspkg) == []


def test_base_of_another_version_counts_as_missing(tmp_path: Path, kit, v1) -> None:
    source, pck = v1
    (source / "v2.txt").write_text("2")
    dlt2 = make_delta(pck, source, tmp_path / "CEN00001.DLT.2", kit.PKG, 2).path
    merge(pck, dlt2, pck)
    (source / "v3.txt").write_text("3")
    dlt3 = make_delta(pck, source, tmp_path / "CEN00001.DLT.3", kit.PKG, 3).path
    old_v1 = pack(tmp_path / "src", tmp_path / "stale" / "CEN00001.PCK", kit.PKG, 1)

    with pytest.raises(BaseMissingError, match=r"Failed to open .*CEN00001 \(2\)") as caught:
        merge(old_v1.path, dlt3, old_v1.path)

    assert caught.value.found_version == 1
    assert verify(old_v1.path).version == 1


def test_merge_against_the_wrong_base_is_refused(tmp_path: Path, kit, v1) -> None:
    source, pck = v1
    (source / "new.txt").write_text("new")
    dlt = make_delta(pck, source, tmp_path / "CEN00001.DLT.2", kit.PKG, 2).path
    other_content = pack(
        kit.write_tree(tmp_path / "other", {"x": b"x"}), tmp_path / "o" / "CEN00001.PCK", kit.PKG, 1
    ).path
    other_package = pack(source, tmp_path / "p" / "CEN00002.PCK", "CEN00002", 1).path
    before = other_content.read_bytes()

    with pytest.raises(WrongBaseError, match="version 1 with other content"):
        merge(other_content, dlt, other_content)
    with pytest.raises(WrongBaseError, match="holds PCK of package CEN00002 version 1"):
        merge(other_package, dlt, other_package)
    with pytest.raises(WrongBaseError, match="holds DLT"):
        merge(dlt, dlt, tmp_path / "x.PCK")

    assert other_content.read_bytes() == before
    assert issubclass(WrongBaseError, MergeBaseError)
    assert issubclass(BaseMissingError, MergeBaseError)


def test_make_delta_needs_its_base(tmp_path: Path, kit, v1) -> None:
    source, pck = v1
    with pytest.raises(BaseMissingError):
        make_delta(tmp_path / "absent.PCK", source, tmp_path / "d.DLT", kit.PKG, 2)
    with pytest.raises(BaseMissingError, match=r"\(2\)"):
        make_delta(pck, source, tmp_path / "d.DLT", kit.PKG, 3)
    with pytest.raises(ValueError, match="2 or more"):
        make_delta(pck, source, tmp_path / "d.DLT", kit.PKG, 1)
    assert not (tmp_path / "d.DLT").exists()


def test_damaged_delta_leaves_the_base_untouched(tmp_path: Path, kit, v1) -> None:
    source, pck = v1
    (source / "docs" / "guide.txt").write_bytes(b"changed" * 100)
    dlt = make_delta(pck, source, tmp_path / "CEN00001.DLT.2", kit.PKG, 2).path
    data = bytearray(dlt.read_bytes())
    data[30] ^= 0x04
    os.chmod(dlt, 0o644)
    dlt.write_bytes(bytes(data))
    before = pck.read_bytes()

    with pytest.raises(CorruptError):
        merge(pck, dlt, pck)

    assert not [t for t in threading.enumerate() if t.name == "pck-readahead"]
    assert pck.read_bytes() == before
    assert stat.S_IMODE(pck.stat().st_mode) == 0o444
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CEN00001.DLT.2", "CEN00001.PCK", "src"]


def test_merge_needs_a_delta(tmp_path: Path, kit, v1) -> None:
    _, pck = v1
    with pytest.raises(PackageMismatchError, match="is a PCK file, expected a DLT file"):
        merge(pck, pck, tmp_path / "out.PCK")


@pytest.mark.parametrize(
    ("held", "new", "full"),
    [
        (1, 2, False),
        (1, 6, False),  # five versions behind: DLT.2 .. DLT.6
        (1, 7, True),  # six behind: "more than five versions out of sync"
        (10, 15, False),
        (9, 15, True),
        (15, 15, False),  # up to date: nothing to send
        (16, 15, True),  # claims a version the source never made
        (None, 3, True),
        (0, 3, True),
    ],
)
def test_five_version_window(held: int | None, new: int, full: bool) -> None:
    assert needs_full_package(held, new) is full


def test_window_is_configurable() -> None:
    assert needs_full_package(1, 3, window=1) is True
    assert needs_full_package(2, 3, window=1) is False

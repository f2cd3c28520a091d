"""Installing into a DP share: both SMS update modes, attributes, atomic swap, recovery."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sitesrv.compression import (
    FolderAccessDenied,
    PackageMismatchError,
    Recovery,
    UpdateMode,
    extract,
    install,
    make_delta,
    pack,
    recover_installs,
)
from sitesrv.compression.container import ContainerWriter
from sitesrv.lab.hierarchy import SharePermissions

SHARE = "SMSPKGC$"


@pytest.fixture
def versions(tmp_path: Path, kit) -> tuple[Path, Path]:
    """Version 1 and version 2 of a package: v2 changes, adds and drops files."""
    v1 = {"keep.txt": b"same", "change.txt": b"v1", "drop.txt": ("ro", b"dropped in v2")}
    v2 = {"keep.txt": b"same", "change.txt": ("ro", b"v2"), "new": {"added.txt": b"new"}}
    one = pack(kit.write_tree(tmp_path / "v1", v1), tmp_path / "v1.PCK", kit.PKG, 1).path
    two = pack(kit.write_tree(tmp_path / "v2", v2), tmp_path / "v2.PCK", kit.PKG, 2).path
    return one, two


def test_stored_pck_is_read_only(tmp_path: Path, kit) -> None:
    source = kit.write_tree(tmp_path / "src", kit.SAMPLE)
    pck = pack(source, tmp_path / "CEN00001.PCK", kit.PKG, 1).path
    assert stat.S_IMODE(pck.stat().st_mode) == 0o444


def test_a_read_only_pck_is_replaced_even_where_replace_refuses_read_only_files(
    tmp_path: Path, kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace

    def windows_like_replace(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        if os.path.exists(dst) and not os.stat(dst).st_mode & stat.S_IWUSR:
            raise PermissionError(13, "Access is denied", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", windows_like_replace)
    dest = tmp_path / "SMSPKG" / "CEN00001.PCK"
    dest.parent.mkdir()
    pack(kit.write_tree(tmp_path / "v1", {"a.txt": b"one"}), dest, kit.PKG, 1)

    pack(kit.write_tree(tmp_path / "v2", {"a.txt": b"two"}), dest, kit.PKG, 2)

    install(dest, tmp_path / SHARE, kit.PKG, version=2)
    assert (tmp_path / SHARE / kit.PKG / "a.txt").read_bytes() == b"two"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o444
    assert os.listdir(dest.parent) == ["CEN00001.PCK"]


def test_pack_uses_the_callers_temp_name_and_leaves_nothing_on_failure(
    tmp_path: Path, kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "SMSPKG" / "CEN00001.PCK"
    dest.parent.mkdir()
    temp = tmp_path / "_S MNPFP.TMP"
    seen: list[bool] = []
    real_replace = os.replace

    def watching_replace(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        seen.append(Path(src) == temp and temp.exists())
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", watching_replace)
    pack(kit.write_tree(tmp_path / "v1", {"a.txt": b"one"}), dest, kit.PKG, 1, temp_path=temp)
    assert seen == [True]
    assert not temp.exists()
    old_bytes = dest.read_bytes()

    def broken_add_file(*args: object, **kwargs: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ContainerWriter, "add_file", broken_add_file)
    with pytest.raises(OSError, match="No space left"):
        pack(tmp_path / "v1", dest, kit.PKG, 2, temp_path=temp)

    assert dest.read_bytes() == old_bytes
    assert not temp.exists()


def test_delete_mode_recreates_the_folder(tmp_path: Path, kit, versions) -> None:
    one, two = versions
    share = tmp_path / SHARE
    install(one, share, kit.PKG)
    (share / kit.PKG / "user-file.txt").write_text("put here by hand")

    install(two, share, kit.PKG, mode=UpdateMode.DELETE_AND_RECREATE)

    assert kit.read_tree(share / kit.PKG) == kit.read_tree(tmp_path / "v2")
    assert os.listdir(share) == [kit.PKG]


def test_overwrite_mode_keeps_files_the_package_does_not_have(
    tmp_path: Path, kit, versions
) -> None:
    one, two = versions
    share = tmp_path / SHARE
    install(one, share, kit.PKG)
    (share / kit.PKG / "user-file.txt").write_text("put here by hand")
    (share / kit.PKG / "change.txt").rename(share / kit.PKG / "Change.Txt")
    (share / kit.PKG / "new").mkdir()
    (share / kit.PKG / "new" / "mine.txt").write_text("mine")

    install(two, share, kit.PKG, mode=UpdateMode.OVERWRITE)

    expected = kit.read_tree(tmp_path / "v2")
    expected["user-file.txt"] = b"put here by hand"
    expected["drop.txt"] = ("ro", b"dropped in v2")
    expected["new"]["mine.txt"] = b"mine"
    # Change.Txt is the same file as change.txt on Windows, so the package's version wins.
    assert kit.read_tree(share / kit.PKG) == expected
    assert os.listdir(share) == [kit.PKG]


def test_attributes_and_mtimes_are_kept(tmp_path: Path, kit) -> None:
    source = kit.write_tree(tmp_path / "src", kit.SAMPLE)
    os.utime(source / "setup.exe", ns=(0, 1_234_567_891_011_121_314))
    pck = pack(source, tmp_path / "p.PCK", kit.PKG, 1).path

    install(pck, tmp_path / SHARE, kit.PKG)

    target = tmp_path / SHARE / kit.PKG
    assert kit.mtimes(target) == kit.mtimes(source)
    assert not (target / "readme.txt").stat().st_mode & 0o222
    assert (target / "setup.exe").stat().st_mode & stat.S_IWUSR


def test_the_manifest_returned_names_each_installed_file_in_place_at_its_size(
        tmp_path: Path, kit, versions) -> None:
    """Distribution Manager logs a copy line per file, and spends its copy time, from it."""
    _, two = versions
    target = tmp_path / SHARE / kit.PKG

    manifest = install(two, tmp_path / SHARE, kit.PKG)

    assert [f.path for f in manifest.files] == ["change.txt", "keep.txt", "new/added.txt"]
    assert all((target / f.path).stat().st_size == f.size for f in manifest.files)


def test_failure_mid_extract_leaves_the_old_folder(
    tmp_path: Path, kit, versions, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two = versions
    share = tmp_path / SHARE
    install(one, share, kit.PKG)
    before = kit.snapshot(share)
    calls = 0
    real_utime = os.utime

    def failing_utime(*args: object, **kwargs: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError(5, "Input/output error")
        real_utime(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "utime", failing_utime)
    with pytest.raises(OSError, match="Input/output"):
        install(two, share, kit.PKG)

    assert kit.snapshot(share) == before


def test_a_share_root_only_share_takes_files_but_refuses_sub_folders(
    tmp_path: Path, kit, versions
) -> None:
    one, two = versions  # v2 has new/added.txt
    share = tmp_path / SHARE
    install(one, share, kit.PKG, permissions=SharePermissions.SHARE_ROOT_ONLY)
    assert kit.read_tree(share / kit.PKG) == kit.read_tree(tmp_path / "v1")
    before = kit.snapshot(share)

    with pytest.raises(FolderAccessDenied) as denied:
        install(two, share, kit.PKG, permissions=SharePermissions.SHARE_ROOT_ONLY)

    assert (denied.value.folder, denied.value.copied) == ("new", ("change.txt", "keep.txt"))
    assert denied.value.errno == errno.EACCES
    assert str(denied.value) == "Win32 Error = 5"
    assert kit.snapshot(share) == before, "the old version stays, with nothing beside it"


def test_an_empty_folder_is_a_sub_folder_too(tmp_path: Path, kit) -> None:
    source = kit.write_tree(tmp_path / "src", {"a.txt": b"a", "empty": {}})
    pck = pack(source, tmp_path / "p.PCK", kit.PKG, 1).path
    share = tmp_path / SHARE

    with pytest.raises(FolderAccessDenied) as denied:
        install(pck, share, kit.PKG, permissions=SharePermissions.SHARE_ROOT_ONLY)

    assert (denied.value.folder, denied.value.copied) == ("empty", ("a.txt",))
    assert os.listdir(share) == []


@pytest.mark.parametrize("failing", [".sitesrv-new", "CEN00001"], ids=["second", "first"])
def test_a_failed_rename_during_the_swap_leaves_the_old_folder(
    tmp_path: Path, kit, versions, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    one, two = versions
    share = tmp_path / SHARE
    install(one, share, kit.PKG)
    before = kit.snapshot(share)
    real_rename = os.rename

    def failing_rename(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        if str(src).endswith(failing):  # e.g. a file in use on Windows
            raise PermissionError(13, "Access is denied", str(dst))
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(PermissionError):
        install(two, share, kit.PKG)

    assert kit.snapshot(share) == before


_KILLER = textwrap.dedent(
    """
    import os, sys
    from sitesrv.compression import install
    pck, share, package_id, when = sys.argv[1:]
    real_rename, real_utime = os.rename, os.utime
    def rename(src, dst):
        if when == "between-renames" and str(src).endswith(".sitesrv-new"):
            os._exit(9)
        real_rename(src, dst)
        if when == "before-old-deleted" and str(src).endswith(".sitesrv-new"):
            os._exit(9)
    def utime(*args, **kwargs):
        if when == "mid-extract":
            os._exit(9)
        real_utime(*args, **kwargs)
    os.rename, os.utime = rename, utime
    install(pck, share, package_id)
    """
)


@pytest.mark.parametrize(
    ("when", "recovered", "after_recovery"),
    [
        ("mid-extract", [("CEN00001.sitesrv-new", "removed")], "v1"),
        (
            "between-renames",
            [("CEN00001", "restored"), ("CEN00001.sitesrv-new", "removed")],
            "v1",
        ),
        ("before-old-deleted", [("CEN00001.sitesrv-old", "removed")], "v2"),
    ],
)
def test_a_killed_install_is_recovered_at_start_up(
    tmp_path: Path, kit, versions, when: str, recovered: list, after_recovery: str
) -> None:
    one, two = versions
    share = tmp_path / SHARE
    install(one, share, kit.PKG)
    (share / "OTHER001").mkdir()

    child = subprocess.run(
        [sys.executable, "-c", _KILLER, str(two), str(share), kit.PKG, when], check=False
    )

    assert child.returncode == 9
    assert (kit.PKG in os.listdir(share)) == (when != "between-renames")
    if (share / kit.PKG).exists():  # never a mix of the two versions
        whole = [kit.read_tree(tmp_path / v) for v in ("v1", "v2")]
        assert kit.read_tree(share / kit.PKG) in whole
    actions = recover_installs(share)
    assert [(a.path.name, a.action) for a in actions] == recovered
    assert sorted(os.listdir(share)) == [kit.PKG, "OTHER001"]
    assert kit.read_tree(share / kit.PKG) == kit.read_tree(tmp_path / after_recovery)
    assert recover_installs(share) == []


def test_recovery_reports_what_it_did(tmp_path: Path, kit) -> None:
    share = tmp_path / SHARE
    kit.write_tree(share / "CEN00002.sitesrv-old", {"a.txt": ("ro", b"old")})
    kit.write_tree(share / "CEN00003.sitesrv-new", {"half": b"h"})
    kit.write_tree(share / "not-a-package.sitesrv-new", {})

    actions = recover_installs(share)

    assert actions == [
        Recovery(share / "CEN00002", "restored"),
        Recovery(share / "CEN00003.sitesrv-new", "removed"),
    ]
    assert sorted(os.listdir(share)) == ["CEN00002", "not-a-package.sitesrv-new"]
    assert recover_installs(tmp_path / "no-such-share") == []


def test_install_recovers_its_own_leftovers_first(tmp_path: Path, kit, versions) -> None:
    one, two = versions
    share = tmp_path / SHARE
    install(one, share, kit.PKG)
    os.rename(share / kit.PKG, share / "CEN00001.sitesrv-old")  # as if killed mid-swap
    kit.write_tree(share / "CEN00001.sitesrv-new", {"stale": b"x"})

    install(two, share, kit.PKG)

    assert kit.read_tree(share / kit.PKG) == kit.read_tree(tmp_path / "v2")
    assert os.listdir(share) == [kit.PKG]


def test_extract_needs_a_new_or_empty_folder(tmp_path: Path, kit, versions) -> None:
    one, _ = versions
    (tmp_path / "empty").mkdir()
    assert extract(one, tmp_path / "empty").version == 1
    assert kit.read_tree(tmp_path / "empty") == kit.read_tree(tmp_path / "v1")
    with pytest.raises(FileExistsError):
        extract(one, tmp_path / "empty")


def test_durable_mode_gives_the_same_result(tmp_path: Path, kit, versions) -> None:
    one, _ = versions
    source = tmp_path / "v1"
    durable = pack(source, tmp_path / "d.PCK", kit.PKG, 1, durable=True).path
    assert durable.read_bytes() == one.read_bytes()
    install(durable, tmp_path / SHARE, kit.PKG, durable=True)
    assert kit.read_tree(tmp_path / SHARE / kit.PKG) == kit.read_tree(source)


def test_a_dlt_is_not_installed(tmp_path: Path, kit, versions) -> None:
    one, _ = versions
    dlt = make_delta(one, tmp_path / "v2", tmp_path / "CEN00001.DLT.2", kit.PKG, 2).path
    with pytest.raises(PackageMismatchError, match="is a DLT file, expected a PCK file"):
        install(dlt, tmp_path / SHARE, kit.PKG)
    assert not (tmp_path / SHARE / kit.PKG).exists()


def test_update_modes_are_the_reserved_flags_values() -> None:
    assert UpdateMode(0) is UpdateMode.DELETE_AND_RECREATE
    assert UpdateMode(1) is UpdateMode.OVERWRITE

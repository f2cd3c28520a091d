"""Entries that could escape or damage the target folder are refused on pack and install."""

from __future__ import annotations

import os
import socket
import stat
import tarfile
from pathlib import Path

import pytest

from sitesrv.compression import UnsafeEntryError, extract, install, pack
from sitesrv.errors import FormatError

# ---- pack side: what a source folder can contain ------------------------------------------


def _pack_refuses(tmp_path: Path, kit, entry: str, reason: str) -> None:
    dest = tmp_path / "CEN00001.PCK"
    with pytest.raises(UnsafeEntryError) as caught:
        pack(tmp_path / "src", dest, kit.PKG, 1)
    assert caught.value.entry == entry
    assert reason in str(caught.value)
    assert str(tmp_path / "src") in str(caught.value)
    assert not dest.exists()
    assert list(tmp_path.glob("*.sitesrv-tmp")) == []


@pytest.mark.parametrize("target", ["file", "dir", "outside"])
def test_pack_refuses_symbolic_links(tmp_path: Path, kit, target: str) -> None:
    source = kit.write_tree(tmp_path / "src", {"a.txt": b"a", "d": {"x": b"x"}})
    (tmp_path / "secret").write_text("secret")
    link_to = {"file": "a.txt", "dir": "d", "outside": str(tmp_path / "secret")}[target]
    (source / "d" / "link").symlink_to(link_to)
    _pack_refuses(tmp_path, kit, "d/link", "symbolic link")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_pack_refuses_a_fifo(tmp_path: Path, kit) -> None:
    source = kit.write_tree(tmp_path / "src", {"a.txt": b"a"})
    os.mkfifo(source / "pipe")
    _pack_refuses(tmp_path, kit, "pipe", "FIFO")


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets on this platform")
def test_pack_refuses_a_socket(tmp_path: Path, kit) -> None:
    source = kit.write_tree(tmp_path / "src", {"a.txt": b"a"})
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(source / "sock"))
        _pack_refuses(tmp_path, kit, "sock", "socket")


@pytest.mark.skipif(not hasattr(os, "mknod"), reason="no device files on this platform")
def test_pack_refuses_a_device_file(tmp_path: Path, kit) -> None:
    source = kit.write_tree(tmp_path / "src", {"a.txt": b"a"})
    try:
        os.mknod(source / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device file needs privileges")
    _pack_refuses(tmp_path, kit, "null", "character device")


@pytest.mark.parametrize(
    ("tree", "entry"),
    [
        ({"README.TXT": b"1", "readme.txt": b"2"}, "readme.txt"),
        ({"Docs": {"a": b"1"}, "docs": {"b": b"2"}}, "docs/b"),
        ({"d": {"Ä.txt": b"1", "ä.txt": b"2"}}, "d/ä.txt"),
    ],
)
def test_pack_refuses_names_differing_only_in_case(tmp_path: Path, kit, tree, entry) -> None:
    kit.write_tree(tmp_path / "src", tree)
    _pack_refuses(tmp_path, kit, entry, "only in letter case")


def test_pack_refuses_windows_separators_and_the_manifest_name(tmp_path: Path, kit) -> None:
    kit.write_tree(tmp_path / "src", {"..\\evil.txt": b"x"})
    _pack_refuses(tmp_path, kit, "..\\evil.txt", "backslash")
    kit.write_tree(tmp_path / "src2", {".sitesrv-manifest.json": b"{}"})
    os.rename(tmp_path / "src", tmp_path / "old")
    os.rename(tmp_path / "src2", tmp_path / "src")
    _pack_refuses(tmp_path, kit, ".sitesrv-manifest.json", "reserved")


# ---- install side: hand-crafted malicious containers --------------------------------------

_OUTSIDE = "escaped.txt"
# Stands for an absolute folder outside both extraction targets: the test puts its own in.
_ABSOLUTE = "<absolute>/"


def _member(kit, name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"pwned", link=""):
    return (kit.tar_info(name, kind, link), data if kind == tarfile.REGTYPE else b"")


_ATTACKS = {
    "dot-dot": [("../" + _OUTSIDE, tarfile.REGTYPE, "")],
    "nested dot-dot": [("a/../../" + _OUTSIDE, tarfile.REGTYPE, "")],
    "absolute": [(_ABSOLUTE + _OUTSIDE, tarfile.REGTYPE, "")],
    "drive letter": [("C:" + _OUTSIDE, tarfile.REGTYPE, "")],
    "backslash": [("..\\" + _OUTSIDE, tarfile.REGTYPE, "")],
    "symlink then write through it": [
        ("link", tarfile.SYMTYPE, ".."),
        ("link/" + _OUTSIDE, tarfile.REGTYPE, ""),
    ],
    "hard link": [("hard", tarfile.LNKTYPE, "../" + _OUTSIDE)],
    "character device": [("null", tarfile.CHRTYPE, "")],
    "block device": [("disk", tarfile.BLKTYPE, "")],
    "fifo": [("pipe", tarfile.FIFOTYPE, "")],
    "case clash": [("A.txt", tarfile.REGTYPE, ""), ("a.txt", tarfile.REGTYPE, "")],
    "duplicate": [("a.txt", tarfile.REGTYPE, ""), ("a.txt", tarfile.REGTYPE, "")],
}


@pytest.mark.parametrize("listed_in_manifest", [True, False], ids=["listed", "hidden"])
@pytest.mark.parametrize("attack", sorted(_ATTACKS))
def test_install_refuses_malicious_containers(
    tmp_path: Path, kit, attack: str, listed_in_manifest: bool
) -> None:
    # An existing folder of this test, outside the share and outside tmp_path / "extracted":
    # a write through the absolute name would succeed if it were not refused.
    outside = tmp_path / "outside"
    outside.mkdir()
    members = [
        _member(kit, name.replace(_ABSOLUTE, outside.as_posix() + "/"), kind, link=link)
        for name, kind, link in _ATTACKS[attack]
    ]
    # "hidden": the manifest lists only a harmless file; the evil members are extra.
    harmless = _member(kit, "harmless.txt")
    crafted = kit.craft_container(
        tmp_path / "evil.PCK",
        members,
        None if listed_in_manifest else kit.craft_entries([harmless]),
    )
    share = tmp_path / "dp" / "SMSPKGC$"
    kit.write_tree(share / kit.PKG, {"old.txt": b"old"})
    before = kit.snapshot(tmp_path)

    # A hidden duplicate or case clash is already a mismatch with the manifest.
    expected = UnsafeEntryError if listed_in_manifest else FormatError
    with pytest.raises(expected) as caught:
        install(crafted, share, kit.PKG)
    with pytest.raises(expected):
        extract(crafted, tmp_path / "extracted")

    assert str(crafted) in str(caught.value)
    assert kit.snapshot(tmp_path) == before
    assert not (outside / _OUTSIDE).exists()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("/etc/passwd", "absolute path"),
        ("C:/Windows/evil.dll", "absolute path"),
        ("../evil", "path leaves the package folder ('..')"),
        ("a/../../evil", "path leaves the package folder ('..')"),
        ("a\\..\\evil", "backslash in name (a path separator on Windows)"),
        ("a//b", "empty or '.' path component"),
        ("a/./b", "empty or '.' path component"),
        ("ab:stream", "control character or ':' in name"),
        ("bad\nname", "control character or ':' in name"),
    ],
)
def test_install_says_why_a_name_is_refused(tmp_path: Path, kit, name: str, reason: str) -> None:
    crafted = kit.craft_container(tmp_path / "evil.PCK", [_member(kit, name)])
    with pytest.raises(UnsafeEntryError) as caught:
        install(crafted, tmp_path / "share", kit.PKG)
    assert str(caught.value) == f"{crafted}: refused entry {name!r}: {reason}"


def test_install_refuses_a_file_that_is_also_a_folder(tmp_path: Path, kit) -> None:
    """A file and a folder of the same name in one manifest cannot both be created."""
    crafted = kit.craft_container(
        tmp_path / "evil.PCK",
        [_member(kit, "a"), _member(kit, "a/b")],
    )
    with pytest.raises(UnsafeEntryError, match="is a file but has entries below it"):
        install(crafted, tmp_path / "share", kit.PKG)
    assert not (tmp_path / "share" / kit.PKG).exists()


@pytest.mark.parametrize("package_id", ["../CEN00001", "CEN/0001", "C:EN00001", "", "CEN00001.PCK"])
def test_package_ids_that_are_not_plain_names_are_refused(tmp_path: Path, kit, package_id) -> None:
    source = kit.write_tree(tmp_path / "src", {"a.txt": b"a"})
    pck = pack(source, tmp_path / "ok.PCK", kit.PKG, 1).path
    before = kit.snapshot(tmp_path)

    with pytest.raises(ValueError, match="invalid package ID"):
        pack(source, tmp_path / "x.PCK", package_id, 1)
    with pytest.raises(ValueError, match="invalid package ID"):
        install(pck, tmp_path / "share", package_id)

    assert kit.snapshot(tmp_path) == before

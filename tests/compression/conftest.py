"""Helpers for the compression tests: build source trees, read them back, craft containers.

They reach the tests through the `kit` fixture, so no test imports conftest by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tarfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import zstandard

from sitesrv.compression.manifest import MANIFEST_FORMAT, MANIFEST_NAME
from sitesrv.compression.trailer import Kind, Trailer

PKG = "CEN00001"
# A tree is {name: bytes (file) | ("ro", bytes) (read-only file) | dict (folder)}.
Tree = dict[str, Any]
MTIME_NS = 1_100_000_000_123_456_789


def write_tree(root: Path, tree: Tree) -> Path:
    """Create `tree` under `root` with a fixed mtime, so packs of equal trees are equal."""
    root.mkdir(parents=True, exist_ok=True)
    for name, value in tree.items():
        path = root / name
        if isinstance(value, dict):
            write_tree(path, value)
            continue
        readonly = isinstance(value, tuple)
        data = value[1] if readonly else value
        if path.exists():
            os.chmod(path, 0o644)
        path.write_bytes(data)
        os.utime(path, ns=(MTIME_NS, MTIME_NS))
        os.chmod(path, 0o444 if readonly else 0o644)
    return root


def read_tree(root: Path) -> Tree:
    """The inverse of write_tree: what a user would see in the folder."""
    tree: Tree = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False):
            tree[entry.name] = read_tree(Path(entry.path))
        else:
            data = Path(entry.path).read_bytes()
            readonly = not os.lstat(entry.path).st_mode & stat.S_IWUSR
            tree[entry.name] = ("ro", data) if readonly else data
    return tree


def mtimes(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()
    }


def snapshot(root: Path) -> dict[str, tuple[bytes | None, int]]:
    """Every path under root (files with content) and its mode; for "nothing changed" checks."""
    return {
        p.relative_to(root).as_posix(): (
            p.read_bytes() if p.is_file() and not p.is_symlink() else None,
            p.lstat().st_mode,
        )
        for p in sorted(root.rglob("*"))
    }


def _member(info: tarfile.TarInfo, data: bytes = b"") -> bytes:
    info.size = len(data) if info.isreg() else info.size
    return (
        info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape") + data + bytes(-len(data) % 512)
    )


def craft_entries(members: list[tuple[tarfile.TarInfo, bytes]]) -> list[dict[str, Any]]:
    """Manifest entries that describe `members` (anything not a folder counts as a file)."""
    entries: list[dict[str, Any]] = []
    for info, data in members:
        if info.isdir():
            entries.append({"type": "dir", "path": info.name})
            continue
        entries.append(
            {
                "type": "file",
                "path": info.name,
                "size": len(data),
                "mtime_ns": 0,
                "readonly": False,
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    return entries


def craft_container(
    dest: Path,
    members: list[tuple[tarfile.TarInfo, bytes]],
    entries: list[dict[str, Any]] | None = None,
    *,
    package_id: str = PKG,
    version: int = 1,
) -> Path:
    """Write a container the way an attacker would: any members, a matching manifest (listing
    `entries`, by default derived from the members), correct checksums and trailer."""
    if entries is None:
        entries = craft_entries(members)
    doc = {"format": MANIFEST_FORMAT, "package_id": package_id, "version": version}
    manifest = json.dumps({**doc, "entries": entries}).encode()
    content = b"".join(_member(info, data) for info, data in members)
    manifest_tar = _member(tarfile.TarInfo(MANIFEST_NAME), manifest) + bytes(1024)
    return raw_container(dest, content, manifest_tar, manifest, package_id=package_id,
                         version=version)


def raw_container(
    dest: Path,
    content_tar: bytes,
    manifest_tar: bytes,
    manifest: bytes,
    *,
    package_id: str = PKG,
    version: int = 1,
) -> Path:
    """A container with any bytes as its content tar and its manifest tar, sealed with correct
    checksums and trailer (`manifest` is what the trailer's manifest SHA-256 is taken of), so
    only the tar and manifest parsers stand between these bytes and an install."""
    cctx = zstandard.ZstdCompressor(write_checksum=True)
    body = cctx.compress(content_tar) if content_tar else b""
    manifest_offset = len(body)
    body += cctx.compress(manifest_tar)
    trailer = Trailer(
        kind=Kind.PCK,
        package_id=package_id,
        version=version,
        base_version=0,
        manifest_offset=manifest_offset,
        body_length=len(body),
        manifest_sha256=hashlib.sha256(manifest).digest(),
        body_sha256=hashlib.sha256(body).digest(),
        base_manifest_sha256=bytes(32),
    )
    dest.write_bytes(body + trailer.encode())
    return dest


def tar_info(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


SAMPLE: Tree = {
    "setup.exe": b"MZ" + bytes(range(256)) * 40,
    "readme.txt": ("ro", b"Read me first.\r\n"),
    "empty.dat": b"",
    "docs": {"guide.txt": b"guide " * 500, "old": {}},
    "Empty Folder": {},
}


class _Kit(SimpleNamespace):
    def __repr__(self) -> str:  # hypothesis prints the fixtures of a failing example
        return "kit"


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    return _Kit(
        PKG=PKG,
        MTIME_NS=MTIME_NS,
        SAMPLE=SAMPLE,
        write_tree=write_tree,
        read_tree=read_tree,
        mtimes=mtimes,
        snapshot=snapshot,
        craft_container=craft_container,
        craft_entries=craft_entries,
        raw_container=raw_container,
        manifest_member=lambda manifest: _member(tarfile.TarInfo(MANIFEST_NAME), manifest),
        tar_info=tar_info,
    )

"""Installing a PCK into a distribution point share, atomically per package.

The package is extracted into a sibling staging folder and verified completely; only then is
it swapped in: `<PkgID>` is renamed to `<PkgID>.sitesrv-old`, `<PkgID>.sitesrv-new` to
`<PkgID>`, and the old folder is deleted. A crash leaves at most those two sibling names,
which `recover_installs` resolves at start-up, so a half-updated `<PkgID>` is never visible.
Before anything is written, the manifest must fit the lab's `PackageLimits`: a PCK of a few KiB
can expand to gigabytes, or to a million files, on every DP (docs/limits.md). On a DP with
`share-root-only` permissions no folder may be made below the package folder: a package with
sub-folders fails there with `FolderAccessDenied`, and its staging folder goes with it.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import shutil
from pathlib import Path
from typing import Literal

import attrs

from sitesrv.compression.container import ContainerReader
from sitesrv.compression.entrysafety import fold, folder_count
from sitesrv.compression.errors import PackageLimitError
from sitesrv.compression.manifest import DirEntry, FileEntry, Manifest
from sitesrv.compression.pck import open_pck
from sitesrv.files.drive import check_space
from sitesrv.files.folders import lexists
from sitesrv.files.readonly import fsync_dir, is_readonly, make_readonly, remove_tree
from sitesrv.lab.hierarchy import (
    DEFAULT_PACKAGE_LIMITS,
    PackageLimits,
    SharePermissions,
)
from sitesrv.lab.identifiers import PACKAGE_ID_ANY_CASE_RE, check_package_id
from sitesrv.lab.sizes import size_text

NEW_SUFFIX = ".sitesrv-new"
OLD_SUFFIX = ".sitesrv-old"


class UpdateMode(enum.IntEnum):
    """How SMS updates a DP folder; the values are DistMgr's `Reserved Flags` registry value."""

    DELETE_AND_RECREATE = 0
    OVERWRITE = 1


class FolderAccessDenied(PermissionError):
    """A folder below the package folder on a `share-root-only` DP, refused as Windows refuses
    it: ERROR_ACCESS_DENIED, which SMS logs as `Win32 Error = 5`.

    `folder` is the refused folder (`DATA`) and `copied` the files written before it in the
    package's order (`A.TXT`), as paths inside the package. Its text is SMS's, the end of
    Distribution Manager's failed-copy line.
    """

    WIN32_ERROR = 5

    def __init__(self, folder: str, copied: tuple[str, ...]) -> None:
        super().__init__(errno.EACCES, "Access is denied", folder)
        self.folder = folder
        self.copied = copied

    def __str__(self) -> str:
        return f"Win32 Error = {self.WIN32_ERROR}"


@attrs.frozen
class Recovery:
    """One leftover that `recover_installs` resolved."""

    path: Path
    action: Literal["restored", "removed"]  # old folder put back, or a leftover deleted


def install(
    pck_path: Path | str,
    share_dir: Path | str,
    package_id: str,
    *,
    version: int | None = None,
    mode: UpdateMode = UpdateMode.DELETE_AND_RECREATE,
    durable: bool = False,
    limits: PackageLimits = DEFAULT_PACKAGE_LIMITS,
    permissions: SharePermissions = SharePermissions.FULL,
) -> Manifest:
    """Install a PCK into `<share_dir>/<package_id>/`, or leave that folder as it was.

    Verifies the whole PCK (package, version if given, every checksum, every entry) before
    the swap; a PCK this process packed, merged or installed with every file hashed since it
    last changed is not hashed again, nor is a copy of one (the same SHA-256) once a Despooler
    has checked it; any other whose compressed body it checked (a Despooler's store) has only
    its files hashed (compression.known); entries and framing are always checked. OVERWRITE
    keeps files of the old folder that the package does not have. Read-only attributes and
    mtimes come from the manifest. The manifest returned, once the new folder is in place,
    names the files installed (each of its size there). Leftovers of an earlier interrupted
    install of this package are recovered before it extracts; the share is made if it is
    not there. Raises PackageLimitError, having written nothing, for a package over
    `limits`, and FolderAccessDenied for a package with a sub-folder on a `share-root-only`
    share.
    """
    share = Path(share_dir)
    check_package_id(package_id)
    target = share / package_id
    staging = share / (package_id + NEW_SUFFIX)
    old = share / (package_id + OLD_SUFFIX)
    with open_pck(pck_path, package_id, version) as reader:
        check_limits(reader, limits)
        _recover_package(target)
        try:
            os.mkdir(staging)
        except FileNotFoundError:  # no share yet: made only then
            share.mkdir(parents=True, exist_ok=True)
            os.mkdir(staging)
        _extract_verified(reader, staging, durable,
                          subfolders=permissions is SharePermissions.FULL)
        manifest = reader.manifest
    try:
        if mode == UpdateMode.OVERWRITE and target.is_dir():
            _carry_over(target, staging)
    except BaseException:
        remove_tree(staging)
        raise
    _swap(staging, target, old, durable)
    return manifest


def extract(
    pck_path: Path | str, dest_dir: Path | str, *, limits: PackageLimits = DEFAULT_PACKAGE_LIMITS
) -> Manifest:
    """Extract a PCK or DLT into `dest_dir`, which must not exist or be empty (for tools).

    Raises PackageLimitError, having written nothing, for a package over `limits`.
    """
    dest = Path(dest_dir)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest} exists and is not an empty folder")
    staging = dest.with_name(dest.name + NEW_SUFFIX)
    with ContainerReader(pck_path) as reader:
        check_limits(reader, limits)
        remove_tree(staging)
        os.mkdir(staging)
        _extract_verified(reader, staging, durable=False)
        manifest = reader.manifest
    if dest.exists():
        dest.rmdir()
    os.rename(staging, dest)
    return manifest


def check_limits(reader: ContainerReader, limits: PackageLimits) -> None:
    """Refuse a package that would expand to more than `limits`, from its manifest alone.

    What counts is what extracting writes: every file and folder of a PCK, the shipped files
    of a DLT. `package_files` bounds the files and, separately, the folders.
    """
    manifest = reader.manifest
    written = [(e.path, isinstance(e, DirEntry)) for e in manifest.entries]
    files = manifest.files
    if manifest.delta is not None:
        shipped = set(manifest.delta.shipped)
        files = tuple(f for f in files if f.path in shipped)
        written = [(f.path, False) for f in files]
    what = f"package {manifest.package_id} version {manifest.version}"
    size = sum(f.size for f in files)
    if size > limits.package_size:
        raise PackageLimitError(
            reader.path, "package_size",
            f"{what} expands to {size} bytes ({size_text(size)}), more than the package_size "
            f"limit of {limits.package_size} bytes ({size_text(limits.package_size)})")
    folders = folder_count(written)
    for count, noun in ((len(files), "files"), (folders, "folders")):
        if count > limits.package_files:
            raise PackageLimitError(
                reader.path, "package_files",
                f"{what} has {count} {noun}, more than the package_files limit of "
                f"{limits.package_files}")


def recover_installs(share_dir: Path | str) -> list[Recovery]:
    """Resolve what interrupted installs left in a share; call it at start-up.

    `<PkgID>.sitesrv-old` without `<PkgID>` means the swap stopped between its two renames:
    the old folder is put back. With `<PkgID>` present it is deleted. Every
    `<PkgID>.sitesrv-new` is an unfinished, unverified extraction and is deleted.
    """
    share = Path(share_dir)
    done: list[Recovery] = []
    if share.is_dir():
        for name in sorted(os.listdir(share)):
            for suffix in (OLD_SUFFIX, NEW_SUFFIX):
                package_id = name.removesuffix(suffix)
                if name.endswith(suffix) and PACKAGE_ID_ANY_CASE_RE.fullmatch(package_id):
                    done += _recover_package(share / package_id)
    return done


def _recover_package(target: Path) -> list[Recovery]:
    done: list[Recovery] = []
    old = target.with_name(target.name + OLD_SUFFIX)
    staging = target.with_name(target.name + NEW_SUFFIX)
    if lexists(old):
        if lexists(target):
            remove_tree(old)
            done.append(Recovery(old, "removed"))
        else:
            os.rename(old, target)
            done.append(Recovery(target, "restored"))
    if lexists(staging):
        remove_tree(staging)
        done.append(Recovery(staging, "removed"))
    return done


def _extract_verified(reader: ContainerReader, staging: Path, durable: bool, *,
                      subfolders: bool = True) -> None:
    """Extract everything into `staging`, a folder the caller has just made; on any failure
    remove it again.

    Without `subfolders`, the first entry that needs a folder inside `staging` raises
    FolderAccessDenied.
    """
    copied: list[str] = []
    # The folders this extraction made (the staging folder is its own, made just before): in
    # path order a folder's files follow each other, and each would ask for it again.
    made = {staging}
    try:
        for entry, chunks in reader.content(trust_known=True):
            parts = entry.path.split("/")
            if not subfolders and (len(parts) > 1 or isinstance(entry, DirEntry)):
                raise FolderAccessDenied(parts[0], tuple(copied))
            location = staging.joinpath(*parts)
            if not isinstance(entry, FileEntry):
                os.makedirs(location, exist_ok=True)
                made.add(location)
                continue
            folder = location.parent
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            with open(location, "xb") as fh:  # "x": never write through anything existing
                for chunk in chunks:
                    fh.write(chunk)
                fh.flush()
                check_space(location)
                if durable:
                    os.fsync(fh.fileno())
            os.utime(location, ns=(entry.mtime_ns, entry.mtime_ns))
            if entry.readonly:
                make_readonly(location)
            copied.append(entry.path)
    except BaseException:
        remove_tree(staging)
        raise


def _carry_over(old_dir: Path, new_dir: Path) -> None:
    """OVERWRITE mode: bring old entries the package does not have into the new folder.

    A name counts as present when it matches case-insensitively, as on Windows. Read-only
    files are copied, the rest hard-linked (copied where links are not supported): Windows
    clears the read-only flag to delete the old folder, which would also hit a linked copy.
    """
    present = {fold(name) for name in os.listdir(new_dir)}
    with os.scandir(old_dir) as listing:
        for entry in listing:
            dest = new_dir / entry.name
            if fold(entry.name) not in present:
                _copy_entry(Path(entry.path), dest)
            elif entry.is_dir(follow_symlinks=False) and dest.is_dir() and not dest.is_symlink():
                _carry_over(Path(entry.path), dest)


def _copy_entry(src: Path, dest: Path) -> None:
    if src.is_dir() and not src.is_symlink():
        os.mkdir(dest)
        for child in sorted(os.listdir(src)):
            _copy_entry(src / child, dest / child)
        return
    if not src.is_symlink() and not is_readonly(os.lstat(src).st_mode):
        try:
            os.link(src, dest)
            return
        except OSError:
            pass
    shutil.copy2(src, dest, follow_symlinks=False)


def _swap(staging: Path, target: Path, old: Path, durable: bool) -> None:
    had_old = lexists(target)
    try:
        if had_old:
            os.rename(target, old)
        try:
            os.rename(staging, target)
        except BaseException:
            if had_old:
                os.rename(old, target)
            raise
    except BaseException:
        remove_tree(staging)
        raise
    if durable:
        fsync_dir(target.parent)
    if had_old:
        # The new folder is in place, so the install has succeeded; an old folder that cannot
        # be deleted yet (a file in use on Windows) stays for recover_installs.
        with contextlib.suppress(OSError):
            remove_tree(old)

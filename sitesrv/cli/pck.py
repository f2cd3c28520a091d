"""`sitesrv pck`: look into PCK and DLT files, check them, and unpack them.

The main CLI adds this group with `cli.add_command(pck_group)`. Every problem a user can cause
(a missing file, a damaged or foreign container) ends as a `UserError`, which the main CLI's
`SitesrvGroup` prints as `sitesrv: <message>` with exit status 2, never a traceback, as it does
for every other command.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sitesrv.errors import SitesrvError, UserError
from sitesrv.lab.sizes import (
    DEFAULT_PACKAGE_FILES,
    DEFAULT_PACKAGE_SIZE,
    MAX_PACKAGE_FILES,
    parse_size,
    size_text,
)

if TYPE_CHECKING:
    from sitesrv.compression.manifest import Manifest

_LIMIT_OPTIONS = {"package_size": "--max-size", "package_files": "--max-files"}


@contextlib.contextmanager
def _as_user_error() -> Iterator[None]:
    try:
        yield
    except (SitesrvError, OSError, ValueError) as exc:
        if isinstance(exc, UserError):
            raise
        message = str(exc)
        if isinstance(exc, OSError) and exc.filename is not None:
            message = f"{exc.filename}: {exc.strerror}"
        raise UserError(message) from None


@click.group("pck")
def pck_group() -> None:
    """Inspect compressed package files (<PkgID>.PCK, <PkgID>.DLT.<n>)."""


_FILE = click.Path(dir_okay=False, path_type=Path)


@pck_group.command("list")
@click.argument("file", type=_FILE)
def list_command(file: Path) -> None:
    """Show the package, version and every entry of FILE (reads only its manifest)."""
    from sitesrv.compression.manifest import FileEntry
    from sitesrv.compression.pck import read_manifest

    with _as_user_error():
        manifest = read_manifest(file)
    click.echo(_summary(manifest))
    shipped = set(manifest.delta.shipped) if manifest.delta else None
    for entry in manifest.entries:
        mark = "" if shipped is None else ("+ " if entry.path in shipped else "  ")
        if isinstance(entry, FileEntry):
            mtime = datetime.fromtimestamp(entry.mtime_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")
            ro = "ro" if entry.readonly else "rw"
            line = f"file {ro} {entry.size:>12} {mtime} {entry.sha256[:16]} {entry.path}"
        else:
            line = f"dir  {'':2} {'':>12} {'':19} {'':16} {entry.path}/"
        click.echo(mark + line)
    for path in manifest.delta.deleted if manifest.delta else ():
        click.echo(f"- deleted {path}")


@pck_group.command("verify")
@click.argument("file", type=_FILE)
@click.option("--package", "package_id", help="Refuse the file unless it holds this package.")
@click.option("--version", type=int, help="Refuse the file unless it holds this source version.")
def verify_command(file: Path, package_id: str | None, version: int | None) -> None:
    """Check FILE completely: trailer, every checksum, every entry. Exit status 2 if bad."""
    from sitesrv.compression.pck import verify

    with _as_user_error():
        manifest = verify(file, package_id=package_id, version=version)
    click.echo(f"{file}: OK, {_summary(manifest)}")


def _size(_ctx: click.Context, _param: click.Parameter, value: str) -> int:
    try:
        size = parse_size(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    if size < 1:
        raise click.BadParameter("must be at least 1 byte")
    return size


@pck_group.command("extract")
@click.argument("file", type=_FILE)
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--max-size", default=size_text(DEFAULT_PACKAGE_SIZE),
              callback=_size, metavar="SIZE", show_default=True,
              help="Refuse a package whose files add up to more: bytes, or a number with KiB, "
                   "MiB, GiB or TiB (the lab's limits.package_size).")
@click.option("--max-files", default=DEFAULT_PACKAGE_FILES, show_default=True,
              type=click.IntRange(1, MAX_PACKAGE_FILES), metavar="N",
              help=f"Refuse a package of more files, or more folders (at most "
                   f"{MAX_PACKAGE_FILES}; the lab's limits.package_files).")
def extract_command(file: Path, dest: Path, max_size: int, max_files: int) -> None:
    """Verify FILE and unpack its files into DEST (a new or empty folder).

    A package over the limits is refused before anything is written (docs/limits.md).
    """
    from sitesrv.compression.distpoint import extract
    from sitesrv.compression.errors import PackageLimitError
    from sitesrv.lab.hierarchy import PackageLimits

    limits = PackageLimits(package_size=max_size, package_files=max_files)
    if not dest.parent.is_dir():  # else the error would name the extraction's own temp folder
        raise UserError(f"{dest.parent} is not a folder, so {dest} cannot be made in it. Pass a "
                        "DEST whose parent folder exists.")
    with _as_user_error():
        try:
            manifest = extract(file, dest, limits=limits)
        except PackageLimitError as e:
            raise UserError(f"{e}; to extract it, pass a larger {_LIMIT_OPTIONS[e.limit]} "
                            "(docs/limits.md)") from None
    count = len(manifest.delta.shipped) if manifest.delta else len(manifest.files)
    click.echo(f"Extracted {_count(count, 'file')} of {_summary(manifest)} to {dest}")


def _summary(manifest: Manifest) -> str:
    kind = "PCK"
    extra = ""
    if manifest.delta:
        kind = f"DLT from version {manifest.delta.base_version}"
        extra = f", {len(manifest.delta.shipped)} shipped, {len(manifest.delta.deleted)} deleted"
    dirs = len(manifest.entries) - len(manifest.files)
    return (
        f"package {manifest.package_id} version {manifest.version} ({kind}): "
        f"{_count(len(manifest.files), 'file')}, {_count(dirs, 'empty folder')}, "
        f"{manifest.source_size} bytes{extra}"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"

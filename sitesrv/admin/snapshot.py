"""Snapshots of a lab: a copy to start tests from a stuck state without playing its story again.

A snapshot is a folder: `lab/` (the lab, read-only bits and links kept, server locks left out),
`sources/<PkgID>/` (each package source folder outside the lab that a site database names) and
`snapshot.json` (where those sources were, and which sources are inside the lab). Restoring
copies the lab to a new folder and its sources beside it, and points each package's `Source` at
the restored copy, so a test can update or re-source a package without touching the snapshot.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sitesrv.admin.lab import Lab
from sitesrv.db.sitedb import SiteDatabase
from sitesrv.errors import UserError
from sitesrv.runtime.lock import LOCK_FILE, SiteLock, acquire_all, release_all

MANIFEST = "snapshot.json"


def snapshot(lab: Lab, to: Path | str) -> Path:
    """Copy `lab` (and the package sources it names outside itself) into the new folder `to`.
    The lab's server locks are held while it is copied, so a lab a site server runs is refused
    (UserError naming it), and the copy holds no lock."""
    to = Path(to)
    if to.exists():
        raise UserError(f"{to} already exists: a snapshot goes into a new folder.")
    locks = [SiteLock(site) for site in lab.layout.sites()]
    acquire_all(locks)
    try:
        shutil.copytree(lab.root, to / "lab", symlinks=True,
                        ignore=shutil.ignore_patterns(LOCK_FILE, f".{LOCK_FILE}.*"))
        outside: dict[str, str] = {}
        inside: dict[str, str] = {}
        root = lab.root.resolve()
        folders = lab.layout.sources
        for package_id, source in _sources(lab).items():
            folder = folders.folder_of(source)
            if folder is None:
                continue
            if folder.resolve().is_relative_to(root):
                inside[source] = folder.resolve().relative_to(root).as_posix()
            elif folder.is_dir():
                shutil.copytree(folder, to / "sources" / package_id, symlinks=True)
                outside[package_id] = source
    finally:
        release_all(locks)
    (to / MANIFEST).write_text(json.dumps({"sources": outside, "inside": inside}, indent=1),
                               encoding="utf-8")
    return to


def restore(snapshot_folder: Path | str, to: Path | str) -> Lab:
    """A new lab at `to` (a new folder), as the snapshot holds it. Package sources that were
    outside the lab are copied to `<to>-sources/<PkgID>`, and every package's `Source` points at
    its copy (one inside the lab, at the restored lab's)."""
    snapshot_folder, to = Path(snapshot_folder), Path(to)
    try:
        manifest = json.loads((snapshot_folder / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        raise UserError(f"{snapshot_folder} is not a lab snapshot (no readable {MANIFEST}).") \
            from None
    sources = to.with_name(f"{to.name}-sources")
    for folder in (to, sources):
        if folder.exists():
            raise UserError(f"{folder} already exists: a lab is restored into new folders "
                            f"({to} and {sources}).")
    shutil.copytree(snapshot_folder / "lab", to, symlinks=True)
    # (package ID, or None for every package of that source; the old Source; the new folder)
    moved: list[tuple[str | None, str, Path]] = [
        (None, old, to.resolve() / relative) for old, relative in manifest["inside"].items()]
    for package_id, old in manifest["sources"].items():
        shutil.copytree(snapshot_folder / "sources" / package_id, sources / package_id,
                        symlinks=True)
        moved.append((package_id, old, sources / package_id))  # a copy each, shared or not
    lab = Lab.open(to)
    # Each source as the restored lab's site servers name it (lab/sources.py).
    renamed = [(pkg_id, old, lab.layout.sources.share(lab.root, new, lab.hierarchy.durability))
               for pkg_id, old, new in moved]
    for site in lab.hierarchy.sites:
        if site.is_primary and renamed:
            with SiteDatabase.open(lab.site(site.code).database) as db, db.transaction():
                db.move_package_sources(renamed)
    return lab


def _sources(lab: Lab) -> dict[str, str]:
    """Each package's source folder, as the primary sites' databases name it."""
    found: dict[str, str] = {}
    for site in lab.hierarchy.sites:
        if site.is_primary:
            with SiteDatabase.open(lab.site(site.code).database) as db:
                for package_id, source in db.query("SELECT PkgID, Source FROM SMSPackages"):
                    if source:
                        found.setdefault(package_id, source)
    return found

"""Snapshots of a lab: a copy to start tests from a stuck state without playing its story again.

A snapshot is a folder: `lab/` (the lab, read-only bits and links kept), `sources/<PkgID>/` (each
package source folder outside the lab that a site database names) and `snapshot.json` (where those
sources were). Restoring copies the lab to a new folder and its sources beside it, and points each
package's `Source` at the restored copy, so a test can update or re-source a package without
touching the snapshot. A lab must not be running while it is snapshotted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sitesrv.admin.lab import Lab
from sitesrv.db.sitedb import SiteDatabase
from sitesrv.errors import UserError

MANIFEST = "snapshot.json"


def snapshot(lab: Lab, to: Path | str) -> Path:
    """Copy `lab` (and the package sources it names outside itself) into the new folder `to`."""
    to = Path(to)
    if to.exists():
        raise UserError(f"{to} already exists: a snapshot goes into a new folder.")
    shutil.copytree(lab.root, to / "lab", symlinks=True)
    sources: dict[str, str] = {}
    for package_id, source in _sources(lab).items():
        folder = Path(source)
        if folder.is_dir() and not folder.resolve().is_relative_to(lab.root.resolve()):
            shutil.copytree(folder, to / "sources" / package_id, symlinks=True)
            sources[package_id] = source
    (to / MANIFEST).write_text(json.dumps({"sources": sources}, indent=1), encoding="utf-8")
    return to


def restore(snapshot_folder: Path | str, to: Path | str) -> Lab:
    """A new lab at `to` (a new folder), as the snapshot holds it; its package sources are
    copied to `<to>-sources/<PkgID>` and the site databases point at them."""
    snapshot_folder, to = Path(snapshot_folder), Path(to)
    try:
        manifest = json.loads((snapshot_folder / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        raise UserError(f"{snapshot_folder} is not a lab snapshot (no readable {MANIFEST}).") \
            from None
    if to.exists():
        raise UserError(f"{to} already exists: a lab is restored into a new folder.")
    shutil.copytree(snapshot_folder / "lab", to, symlinks=True)
    lab = Lab.open(to)
    moved = {}
    for package_id, old in manifest["sources"].items():
        new = to.with_name(f"{to.name}-sources") / package_id
        shutil.copytree(snapshot_folder / "sources" / package_id, new, symlinks=True)
        moved[old] = str(new)
    for site in lab.hierarchy.sites:
        if site.is_primary and moved:
            with SiteDatabase.open(lab.site(site.code).database) as db, db.transaction():
                db.move_package_sources(moved)
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

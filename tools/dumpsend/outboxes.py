"""The send requests a site of a lab holds: its senders' outboxes and its `requests` folder.

The Scheduler writes send requests to `schedule.box\\outboxes\\<sender>\\` (one outbox per
sender type) or, when a request needs routing, to `schedule.box\\requests\\` (Q276259); a
component that has taken one keeps it in that folder's `.work\\` while it works on it. The
listing is a snapshot: a live lab's files may be renamed or removed right after it. A folder
that is a symbolic link is not entered, as sitesrv's components never enter one: it may lead
out of the lab (docs/limits.md); a file that is a link is listed and reported unread.
"""

from __future__ import annotations

import os
from pathlib import Path

from dumpsend.requestfile import is_request_name
from dumpsend.waiting import CLAIMED
from sitesrv import Lab
from sitesrv.errors import UserError
from sitesrv.formats.values import SITE_CODE

SCHEDULE_BOX = ("SMS", "inboxes", "schedule.box")


def site_request_files(lab: Path, site: str) -> list[Path]:
    """Every `.srq` and `.srs` of the site, claimed ones included, sorted by name.

    Raises UserError if `lab` is no lab or has no site `site`."""
    box = schedule_box(lab, site)
    folders = [*_subfolders(box / "outboxes"), box / "requests"]
    found = [folder / name
             for outer in folders for folder in (outer, outer / CLAIMED)
             if not folder.is_symlink()
             for name in _names(folder) if is_request_name(name)]
    return sorted(found, key=lambda path: (path.name, str(path)))


def schedule_box(lab: Path, site: str) -> Path:
    """The site's `SMS/inboxes/schedule.box` folder, or a UserError saying what is missing."""
    try:
        Lab.open(lab)  # no lab, a half-built one, or one whose hierarchy cannot be read
    except UserError as e:
        raise UserError(f"{e} Or dump one file with 'dumpsend FILE'.") from None
    code = site.upper()
    box = lab.joinpath(code, *SCHEDULE_BOX)
    try:
        SITE_CODE.verify(code)
    except ValueError as e:
        raise UserError(f"{site!r} is {e}. {_sites_of(lab)}") from None
    if not box.is_dir():
        raise UserError(f"Lab {lab} has no site {code} (no folder {box}). {_sites_of(lab)}")
    return box


def _sites_of(lab: Path) -> str:
    sites = sorted(p.name for p in _subfolders(lab.resolve())  # the lab itself may be a link
                   if p.joinpath(*SCHEDULE_BOX).is_dir())
    if not sites:
        return "It has no site folders at all: build it again with 'sitesrv init --force'."
    return f"Its sites are {', '.join(sites)}; pass one with --site."


def _subfolders(folder: Path) -> list[Path]:
    """The folders in `folder`, links to folders left out; none if `folder` is a link."""
    if folder.is_symlink():
        return []
    return sorted(folder / name for name in _names(folder)
                  if (folder / name).is_dir() and not (folder / name).is_symlink())


def _names(folder: Path) -> list[str]:
    """The names in a folder now; none if it is gone (a live lab removes folders too)."""
    try:
        return os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []

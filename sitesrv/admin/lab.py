"""A lab: the folder tree of a whole SMS hierarchy, built from hierarchy.yaml.

`Lab.init` lays out every site as the lab contract in docs/architecture.md describes; `Lab.open`
finds an existing one. This is also the Python API users' tests start from.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from sitesrv.errors import UserError
from sitesrv.files.atomic import replace_file
from sitesrv.lab.boxes import CAP_BOXES, SCHEDULE_UID
from sitesrv.lab.clock import lab_now
from sitesrv.lab.hierarchy import Hierarchy
from sitesrv.lab.layout import BUILDING_MARKER, HIERARCHY_COPY, LabLayout, SiteLayout
from sitesrv.lab.loader import load_hierarchy, load_lab_hierarchy
from sitesrv.runtime.lock import running_since

if TYPE_CHECKING:
    from sitesrv.runtime.idle import IdleReport

KEEP_FILE = ".keep"
UID_TEMPLATE = Path(*SCHEDULE_UID.split("\\"))


def _shipped(name: str) -> Path:
    """A file shipped with sitesrv: packaged data when installed, else the repository's."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_data" / name, package.parent / name):
        if candidate.exists():
            return candidate
    raise UserError(f"{name} is missing from this sitesrv installation; reinstall sitesrv "
                    "(pip install -e . from the repository).")


def inboxes_template() -> Path:
    """The inbox tree copied into every site."""
    return _shipped("inboxes_template")


def default_hierarchy_file() -> Path:
    """The default three-tier KB936465-shaped hierarchy."""
    return _shipped("hierarchy.yaml")


@attrs.frozen
class InitResult:
    lab: Lab
    created: bool
    differs: bool
    finished: bool = False  # an existing lab whose first build had been stopped


@attrs.frozen
class Lab:
    """An SMS hierarchy on disk."""

    root: Path
    hierarchy: Hierarchy

    @property
    def layout(self) -> LabLayout:
        return LabLayout(self.root, self.hierarchy)

    def site(self, code: str) -> SiteLayout:
        return self.layout.site(code)

    def time(self) -> float:
        """The lab's time now (seconds since the Unix epoch, UTC): while a live run holds the
        lab, its running time (the time it saved last, moved on by the wall time since at the
        clock rate); between runs, where the last run ended; 2007-06-04 09:00 UTC for a new lab.
        Console actions and tools stamp their rows with it."""
        return lab_now(self.layout.sites(), self.hierarchy.clock_rate, running_since)

    @classmethod
    def open(cls, root: Path | str) -> Lab:
        """An existing lab; a UserError says how to make one if there is none."""
        return cls(Path(root), load_lab_hierarchy(root))

    @classmethod
    def init(cls, root: Path | str, hierarchy_file: Path | str, *, force: bool = False) -> InitResult:
        """Build the lab tree; an existing lab keeps its data unless `force` rebuilds it."""
        root = Path(root)
        hierarchy = load_hierarchy(Path(hierarchy_file))
        try:
            return cls._init(root, hierarchy, force=force)
        except OSError as e:
            where = f" ({e.filename})" if e.filename and str(e.filename) != str(root) else ""
            raise UserError(
                f"Cannot build a lab at {root}: {e.strerror or e}{where}. Pass --lab with a "
                "folder you can create and write to."
            ) from None

    @classmethod
    def _init(cls, root: Path, hierarchy: Hierarchy, *, force: bool) -> InitResult:
        copy = root / HIERARCHY_COPY
        marker = root / BUILDING_MARKER
        if copy.is_file() and not force:
            existing = cls(root, load_hierarchy(copy))
            finished = marker.exists()
            existing._build()  # fill in anything missing, never overwrite
            marker.unlink(missing_ok=True)
            differs = attrs.evolve(existing.hierarchy, source="") != attrs.evolve(
                hierarchy, source="")
            return InitResult(existing, created=False, differs=differs, finished=finished)
        tmp = copy.with_name(f".{HIERARCHY_COPY}.tmp")  # also left by an init that was killed
        if root.exists() and any(p not in (tmp, marker) for p in root.iterdir()):
            if not copy.is_file():
                raise UserError(
                    f"{root} exists, is not empty and is not a lab (it has no {HIERARCHY_COPY}). "
                    "Pick another folder with --lab, or empty this one first."
                )
            _refuse_to_remove(root)
            shutil.rmtree(root)
        root.mkdir(parents=True, exist_ok=True)
        # Until the build ends, the marker makes other commands refuse the lab and the next
        # init finish it. The copy is complete or absent: it is what makes the folder a lab.
        marker.touch()
        replace_file(copy, hierarchy.source.encode("utf-8"), hierarchy.durability, tmp=tmp)
        lab = cls(root, hierarchy)
        lab._build()
        marker.unlink()
        return InitResult(lab, created=True, differs=False)

    def _build(self) -> None:
        layout = self.layout
        layout.media.mkdir(parents=True, exist_ok=True)
        layout.events.touch()
        template = inboxes_template()
        for site in layout.sites():
            _copy_template(template, site.inboxes)
            for folder in (site.logs, site.state_dir, site.smspkg,
                           *(site.cap / box for box in CAP_BOXES)):
                folder.mkdir(parents=True, exist_ok=True)
            for dp in site.site.distribution_points:
                site.dp_root(dp).mkdir(parents=True, exist_ok=True)
            if site.site.is_primary:
                self._create_database(site)

    def _create_database(self, site: SiteLayout) -> None:
        """A primary's database knows its own site and every site below it (docs/database.md).

        An existing database is only brought up to the schema: its rows are the user's (a
        deleted Sites row reproduces the Q319189 orphan, so it must stay deleted). A new one is
        filled under a temporary name and renamed into place, so a killed init never leaves a
        database without its Sites rows.
        """
        from sitesrv.db.sitedb import Site as SiteRow
        from sitesrv.db.sitedb import SiteDatabase, SiteType

        if site.database.exists():
            SiteDatabase.create(site.database).close()
            return
        building = site.database.with_name(site.database.name + ".new")
        for leftover in ("", "-wal", "-shm", "-journal"):
            Path(f"{building}{leftover}").unlink(missing_ok=True)
        known = (site.site, *self.hierarchy.descendants(site.site.code))
        with SiteDatabase.create(building) as db, db.transaction():
            for s in known:
                db.put_site(SiteRow(
                    SiteCode=s.code,
                    SiteServer=s.server,
                    Type=SiteType.PRIMARY if s.is_primary else SiteType.SECONDARY,
                    SiteName=s.name,
                    ReportingSite=s.parent or "",
                    InstallDir=f"{s.drive}:\\SMS",
                ))
        os.replace(building, site.database)

    def run_until_idle(self, seed: int | None = None, **options: object) -> IdleReport:
        """Run the lab in step mode until nothing can progress; see sitesrv.runtime.step.

        The seed defaults to 0, or to the recorded one when replaying a schedule; the
        components are SMS's (`components` runs others).
        """
        from sitesrv.components.registry import SMS_COMPONENTS
        from sitesrv.runtime.step import run_until_idle

        options.setdefault("components", SMS_COMPONENTS)
        return run_until_idle(self.root, seed=seed, **options)  # type: ignore[arg-type]


def _refuse_to_remove(root: Path) -> None:
    """A lab that `init --force` must not delete: one a server runs, or one this command runs
    in (deleting the working folder leaves it empty and unbuildable)."""
    here = Path.cwd().resolve()
    if here == root.resolve() or root.resolve() in here.parents:
        raise UserError(f"'sitesrv init --force' would delete the folder it runs in, {here}, "
                        f"inside the lab {root}. Nothing was deleted. Change to a folder outside "
                        "the lab and run it again there.")
    try:
        lab = Lab(root, load_hierarchy(root / HIERARCHY_COPY))
    except UserError:
        return  # a lab whose hierarchy does not load cannot be running
    for site in lab.layout.sites():
        if (since := running_since(site)) is not None:
            raise UserError(f"Site {site.site.code}'s server is running in the lab {root} "
                            f"(since {time.strftime('%H:%M:%S', time.localtime(since))}); "
                            "'sitesrv init --force' would delete the lab under it. Nothing was "
                            "deleted. Stop the server first, then run init again.")


def _copy_template(template: Path, dest: Path) -> None:
    """Copy folders and token files, skipping git's .keep placeholders and existing files.

    A UID token (`schedule.box\\UID\\00000001.job`) is copied only when the folder has no
    token of that kind: taking an ID renames the token to the next number (`00000005.job`), and
    a second `00000001.job` beside it would be a second, stale counter.
    """
    for src in sorted(template.rglob("*")):
        rel = src.relative_to(template)
        target = dest / rel
        if src.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        token_kind_present = rel.parent == UID_TEMPLATE and _has_token(target.parent, src.suffix)
        if src.name != KEEP_FILE and not target.exists() and not token_kind_present:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)


def _has_token(folder: Path, suffix: str) -> bool:
    return folder.is_dir() and any(p.suffix.lower() == suffix.lower() for p in folder.iterdir())

"""What the tool does at one site: its preconditions, its changes, and the lines it prints.

The original's lines and its two errors are those of the smsutils report
(docs/sources.md#smsutils); everything the report does not cover is sitesrv's choice, each
written in docs/tools.md and docs/differences.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import attrs

from preloadpkgonsite.arguments import Request
from preloadpkgonsite.files import (
    Damaged,
    check_file,
    check_folders,
    read_small,
    write_atomically,
)
from preloadpkgonsite.site import (
    MAX_SMALL_FILE,
    Package,
    PackageFacts,
    SiteDatabase,
    StateFiles,
    StoredCopy,
)
from sitesrv import Lab, SiteLayout
from sitesrv import Site as HierarchySite
from sitesrv.compression import PckError, pack, read_manifest
from sitesrv.errors import FormatError
from sitesrv.formats import sta, storedpkg
from sitesrv.formats.values import PACKAGE_ID_RE

LOW_PRIORITY_OUTBOUND = "replmgr.box\\outbound\\low"  # status goes up at low priority


class Refused(Exception):
    """The tool will not do it: `lines` say why, `status` is the exit status, and `ours` says
    the message is sitesrv's own (the original has none for this case)."""

    def __init__(self, status: int, *lines: str, ours: bool = True) -> None:
        super().__init__("\n".join(lines))
        self.status = status
        self.lines = lines
        self.ours = ours


# Exit statuses (docs/tools.md); 2 is a usage or lab error, as for every sitesrv command.
ALREADY_SET = 1
NO_PACKAGE = 3
NO_PCK = 4
NOT_READ_ONLY = 5
NOT_THIS_PACKAGE = 6
BUSY = 7
CANNOT_COMPRESS = 8
DAMAGED = 9


@attrs.frozen
class Site:
    """The site the tool runs on: its place in the lab and its package facts."""

    lab: Lab
    code: str

    @property
    def layout(self) -> SiteLayout:
        """The site's folders and how its paths are spelled in Windows (Lab.site)."""
        return self.lab.site(self.code)

    @property
    def info(self) -> HierarchySite:
        """The site in the lab's hierarchy: its server, its parent, whether it is primary."""
        return self.lab.hierarchy.site(self.code)

    @property
    def facts(self) -> PackageFacts:
        """Where the site keeps its packages: its database, or a secondary's state files."""
        if self.info.is_primary:
            return SiteDatabase(self.layout.database)
        return StateFiles(self.layout.state_dir, self.layout.root)

    def check(self, *folders: Path) -> None:
        """Before the tool reads or changes anything: the folders it will use (those given, and
        where the site keeps its package facts) are real folders from the site's root down."""
        check_folders(self.layout.root, self.facts.folder, *folders)

    def write(self, path: Path, data: bytes) -> None:
        """Replace a file of the site whole, through real folders only (files.py)."""
        write_atomically(self.layout.root, path, data)


def preload(site: Site, request: Request) -> Iterator[str]:
    """USAGE 1: register `SMSPKG\\<PkgID>.PCK` at this site and tell the sites above."""
    smspkg, distmgr = site.layout.smspkg, site.layout.inbox("distmgr.box")
    site.check(smspkg, distmgr, site.layout.inbox(LOW_PRIORITY_OUTBOUND))
    package = _package(site, request.package_id)
    pkg_id = package.package_id
    own_information = distmgr / storedpkg.file_name(pkg_id)
    check_file(own_information)
    if package.source_site.upper() == site.code or (
            request.stored_version is None and own_information.exists()):
        raise Refused(ALREADY_SET,
                      f"The compressed package path for package {pkg_id} is already set in the "
                      "database",
                      "OR this is the site where the package was created.",
                      " There is no need to use this tool for this package on this site.",
                      ours=False)
    pck = smspkg / f"{pkg_id}.PCK"
    _check_copy(site, pck, pkg_id)
    version = request.stored_version
    if version is None:
        version = _travelling_version(smspkg / storedpkg.file_name(pkg_id), pkg_id)
    if version is None:
        version = package.source_version
    copy = StoredCopy(package_id=pkg_id, site_code=site.code, site_server=site.info.server,
                      version=version, path=site.layout.unc(pck), when=site.lab.time())
    # A package at a site other than its own has come down from a parent: there is one.
    parent = site.info.parent
    assert parent is not None
    information = storedpkg.encode(storedpkg.StoredPackage(package_id=pkg_id, version=version,
                                                           path=copy.path))
    # The status goes up first and the "already set" file comes last, so a run that fails part
    # way can be run again.
    site.facts.register(copy, lambda: _forward(site, copy, parent))
    site.write(own_information, information)
    yield f"Forward package status for pkg {pkg_id} to site {parent}"
    yield "****** Successfully set the Compressed Package Path on this site ******"
    yield "****** Successfully forwarded the information up the hierarchy ******"


def compress(site: Site, request: Request) -> Iterator[str]:
    """USAGE 2: the compressed file and the stored package information file, to copy to a
    child site (the information file travels with the PCK in SMSPKG)."""
    site.check(site.layout.smspkg)
    package = _package(site, request.package_id)
    pkg_id = package.package_id
    pck = site.layout.smspkg / f"{pkg_id}.PCK"
    information = site.layout.smspkg / storedpkg.file_name(pkg_id)
    check_file(pck)
    check_file(information)
    version = package.stored_version
    if version < 1:
        raise Refused(CANNOT_COMPRESS, f"Site {site.code} has no compressed copy of package "
                      f"{pkg_id} yet (its StoredPkgVersion is 0): run /Compress at a site that "
                      "has one, such as the site that created the package, once its site "
                      "servers have compressed it.")
    if _pck_version(pck, pkg_id) != version:
        if package.source_site.upper() != site.code:
            raise Refused(CANNOT_COMPRESS, f"{site.layout.windows(pck)} is missing or does not "
                          f"hold version {version} of package {pkg_id}, and only the site that "
                          f"created the package ({package.source_site}) has its source files to "
                          "compress it again: run /Compress there.")
        # SMSPackages.Source names the folder as the site server reads it (docs/hierarchy.md).
        folder = site.lab.layout.sources.folder_of(package.source)
        site.check(pck.parent)  # again, just before the write, as site.write does
        try:
            if folder is None:
                raise FileNotFoundError(f"no package_sources mapping names {package.source}")
            pack(folder, pck, pkg_id, version)
        except (OSError, PckError) as e:
            raise Refused(CANNOT_COMPRESS, f"Cannot compress the source of package {pkg_id} "
                          f"({package.source}): {e}.") from None
        yield (f"sitesrv: Compressed the source files of package {pkg_id} to "
               f"{site.layout.windows(pck)}")
    record = storedpkg.StoredPackage(package_id=pkg_id, version=version,
                                     path=site.layout.unc(pck))
    site.write(information, storedpkg.encode(record))
    yield (f"sitesrv: The compressed package {site.layout.windows(pck)} (version {version}) and "
           f"its stored package information file {site.layout.windows(information)} are ready: "
           "copy both to the SMSPKG folder of the child site, make the PCK read-only there, "
           f"and run PreloadPkgOnSite {pkg_id} at that site.")


def _package(site: Site, package_id: str) -> Package:
    """The package as the site knows it, or the original's error."""
    found = None
    if PACKAGE_ID_RE.fullmatch(package_id.upper()):
        found = site.facts.package(package_id.upper())
    if found is None:
        raise Refused(NO_PACKAGE, f"Failed to get the specified package {package_id} in the "
                      "database. Please check if you have instance rights to that package.",
                      ours=False)
    return found


def _check_copy(site: Site, pck: Path, pkg_id: str) -> None:
    """The copy must be in SMSPKG, read-only, and a compressed copy of this package."""
    shown = site.layout.windows(pck)
    if not pck.is_file() or pck.is_symlink():
        raise Refused(NO_PCK, f"There is no compressed package {shown}: copy {pkg_id}.PCK from "
                      "the parent site's SMSPKG folder (or a backup) there first.")
    if pck.stat().st_mode & 0o222:
        raise Refused(NOT_READ_ONLY, f"{shown} is not read-only. A preloaded PCK must carry the "
                      "read-only attribute, as SMS keeps its compressed copies (attrib +r on "
                      f"Windows; here: chmod a-w {pck}).")
    try:
        manifest = read_manifest(pck)
    except (OSError, PckError) as e:
        raise Refused(NOT_THIS_PACKAGE, f"{shown} is not a usable compressed package: "
                      f"{getattr(e, 'problem', e)}. Copy it again from the parent site.") from None
    if manifest.delta is not None:
        raise Refused(NOT_THIS_PACKAGE, f"{shown} is a delta (version {manifest.version}) of "
                      f"package {manifest.package_id}, not a whole compressed copy: copy "
                      f"{pkg_id}.PCK, not a {pkg_id}.DLT.<n>.")
    if manifest.package_id.upper() != pkg_id:
        raise Refused(NOT_THIS_PACKAGE, f"{shown} is a compressed copy of package "
                      f"{manifest.package_id}, not of {pkg_id}.")


def _travelling_version(path: Path, pkg_id: str) -> int | None:
    """The version in the stored package information file /Compress wrote, if it reads; as the
    original, anything else (missing, damaged, another package's) means "use SourceVersion"."""
    try:
        data = read_small(path, MAX_SMALL_FILE)
        record = storedpkg.decode(data) if data is not None else None
    except (Damaged, FormatError, ValueError):
        return None
    return record.version if record and record.package_id.upper() == pkg_id else None


def _pck_version(pck: Path, pkg_id: str) -> int | None:
    """The version a PCK holds, if it is a whole compressed copy of this package."""
    if pck.is_symlink() or not pck.is_file():
        return None
    try:
        manifest = read_manifest(pck)
    except (OSError, PckError):
        return None
    return manifest.version if manifest.package_id.upper() == pkg_id and manifest.delta is None \
        else None


def _forward(site: Site, copy: StoredCopy, parent: str) -> None:
    """The Type 1 row to the parent as a `.STA`, through Replication Manager at low priority."""
    row = sta.PkgStatusRow(package_id=copy.package_id, type=1, site_code=copy.site_code,
                           pkg_server=copy.site_server, status=2, source_version=copy.version,
                           update_time=copy.when, location=copy.path)
    report = sta.PackageStatusReport(reporting_site=site.code, package_id=copy.package_id,
                                     rows=(row,))
    digest = hashlib.sha256(f"{copy.package_id}/{copy.version}/{copy.when}".encode()).digest()
    name = "".join("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[b % 36] for b in digest[:8])
    folder = site.layout.inbox(LOW_PRIORITY_OUTBOUND)
    site.write(folder / f"{parent}_{name}{sta.EXTENSION}", sta.encode(report))

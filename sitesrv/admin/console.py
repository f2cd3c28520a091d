"""The SMS Administrator console's package actions: rows in a site database, nothing else.

As in SMS, an admin action only writes `SMSPackages`, `PkgServers`, `PkgStatus` and
`PkgNotification` rows at the site whose console made it; SQL Monitor and Distribution Manager
do the rest, whether the site servers are running now or later. Every check that can fail
raises a UserError that says what to do.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from sitesrv.admin.choices import PREFERRED_SENDERS, PRIORITIES, text_problem
from sitesrv.admin.lab import Lab
from sitesrv.db.sitedb import (
    REFRESH_SOURCE,
    Package,
    PackageAction,
    PackageStatus,
    PkgServer,
    PkgStatus,
    SiteDatabase,
    SourceFlag,
    StatusType,
    parse_package_id,
)
from sitesrv.errors import UserError
from sitesrv.lab.hierarchy import DistributionPoint, Site
from sitesrv.lab.sources import is_windows_path

PKG_FLAG_COMPRESSED_COPY = 0x1  # "Use a compressed copy of the source directory"


def parse_dp(lab: Lab, spec: str) -> tuple[Site, DistributionPoint]:
    """`SITE:SERVER` to the site and its DP."""
    code, sep, server = spec.partition(":")
    if not sep or not code or not server:
        raise UserError(f"{spec!r} does not name a distribution point; write SITE:SERVER, "
                        "for example P00:REMOTE_DP (see 'sitesrv hierarchy').")
    site = lab.hierarchy.site(code)
    dp = site.dp(server)
    if dp is None:
        known = ", ".join(d.server for d in site.distribution_points) or "none"
        raise UserError(f"Site {site.code} has no distribution point on server {server.upper()}"
                        f" (its DPs: {known}). Add it to hierarchy.yaml or pick another.")
    return site, dp


def primary_site(lab: Lab, code: str, what: str) -> Site:
    site = lab.hierarchy.site(code)
    if not site.is_primary:
        raise UserError(f"Site {site.code} is a secondary site: it has no SMS Administrator "
                        f"console or database, so {what} must be done at a primary site "
                        f"(its parent is {site.parent}).")
    return site


def _open(lab: Lab, site: Site) -> SiteDatabase:
    return SiteDatabase.open(lab.site(site.code).database)


def source_code(lab: Lab, pkg_id: str, what: str = "package",
                listing: str = "'sitesrv status'") -> str:
    """The site code an object's ID starts with: the package's (or advertisement's, or
    collection's) source site, checked before anything else: a bad or unknown ID is the problem
    to report, not the site it would name. `listing` is the command that lists them."""
    try:
        code, _ = parse_package_id(pkg_id)
    except ValueError as e:
        problem = str(e) if what == "package" else (
            f"{pkg_id!r} is not {_a(what)} ID, which is a 3-character site code followed by 5 "
            "hex digits, as a package ID is")
        raise UserError(f"{problem}. {listing} lists the {what}s.") from None
    if code not in {s.code for s in lab.hierarchy.sites}:
        known = ", ".join(s.code for s in lab.hierarchy.sites)
        raise UserError(f"There is no {what} {pkg_id.upper()} in this lab: {_a(what)} ID starts "
                        f"with the code of the site that created it, and {code} is not one of "
                        f"its sites ({known}). {listing} lists the {what}s.")
    return code


def _a(what: str) -> str:
    return f"an {what}" if what[:1] in "aeiou" else f"a {what}"


def known_package(db: SiteDatabase, pkg_id: str, site: Site) -> Package:
    """The package as `site` knows it, which must not be on its way out."""
    package = db.get_package(pkg_id)
    if package is None:
        raise UserError(f"Package {pkg_id.upper()} is not known at site {site.code}. List the "
                        f"packages with 'sitesrv sql {site.code} \"SELECT PkgID, Name FROM "
                        "SMSPackages\"'; a package created elsewhere reaches a child site only "
                        "after its site servers have run.")
    if package.Action == PackageAction.DELETE:
        raise UserError(f"Package {package.PkgID} is being deleted; no other change can be made "
                        "to it. Its site servers delete it at every site when they run "
                        "('sitesrv run'); to distribute these files again, create a new package.")
    return package


def _check_below(lab: Lab, at: Site, dp_site: Site, remedy: str) -> None:
    """`at` manages DPs at itself and below; `remedy` is what to do instead, where `{sites}`
    becomes the DP's site or one of its ancestors (only primaries have a console)."""
    below = {at.code, *(s.code for s in lab.hierarchy.descendants(at.code))}
    if dp_site.code in below:
        return
    ancestors = [s.code for s in lab.hierarchy.ancestors(dp_site.code) if s.is_primary]
    if dp_site.is_primary:
        sites = f"{dp_site.code} or one of its ancestors"
        if ancestors:
            sites += f" ({', '.join(ancestors)})"
    else:
        sites = (f"one of {dp_site.code}'s ancestors ({', '.join(ancestors)}; {dp_site.code} is "
                 "a secondary site)")
    raise UserError(f"Site {at.code} cannot target a DP at site {dp_site.code}: a site manages "
                    f"DPs at itself and at the sites below it. {remedy.format(sites=sites)}.")


def _target(db: SiteDatabase, at: Site, package: Package, site: Site, dp: DistributionPoint,
            now: float) -> None:
    """Target the DP from `at`'s database, as the console writes PkgServers and PkgStatus."""
    from sitesrv.db.sitedb import ParentRowMissing

    nal = dp.nal_path(site.code)
    try:
        db.put_pkg_server(PkgServer(PkgID=package.PkgID, NALPath=nal, SiteCode=site.code,
                                    SiteName=site.name, SourceSite=package.SourceSite,
                                    Action=PackageAction.ADD))
    except ParentRowMissing as e:
        raise UserError(
            f"Site {at.code}'s database refused the DP: \"{e}\" (SQL message {e.number}, as in "
            f"Q319189): its Sites table has no row for site {site.code}, deleted by hand or "
            "never added for a site put into hierarchy.yaml after the lab was built. Nothing was "
            f"changed. Add the row (sitesrv sql {at.code} \"INSERT INTO Sites (SiteCode, "
            f"SiteServer, Type, SiteName, ReportingSite, InstallDir) VALUES ('{site.code}', "
            f"'{site.server}', {2 if site.is_primary else 1}, '{site.name}', "
            f"'{site.parent or ''}', '{site.drive}:\\SMS')\"), or rebuild the lab with "
            "'sitesrv init --force'.") from None
    if any(r.PkgServer.upper() == nal.upper() and r.Status == PackageStatus.PENDING_REMOVE
           for r in db.get_pkg_status(package.PkgID, status_type=StatusType.COPY,
                                      site_code=site.code)):
        # Its removal is still on its way: targeted again, it is a new start (State 1).
        db.delete_pkg_status(package.PkgID, StatusType.COPY, site.code, nal)
    db.upsert_pkg_status(PkgStatus(ID=package.PkgID, Type=StatusType.COPY, SiteCode=site.code,
                                   PkgServer=nal, Status=PackageStatus.NONE, UpdateTime=now,
                                   SourceVersion=0))


def create_package(lab: Lab, site_code: str, *, name: str, source: Path | None, dps: list[str],
                   priority: str = "medium", compressed_copy: bool = False,
                   preferred_sender: str = "any") -> str:
    """A new package at `site_code` targeted to `dps`; returns its PackageID.

    `source` None is a package without source files (PkgSourceFlag 1): its programs run what
    the clients already have, so it has no compressed copy and no DP (smc_21010)."""
    _choice(priority, PRIORITIES, "priority")
    _choice(preferred_sender, PREFERRED_SENDERS, "sender")
    one_line_name(name, "The package name")
    site = primary_site(lab, site_code, "creating a package")
    if source is None:
        if dps or compressed_copy:
            raise UserError("A package without source files has nothing to put on a "
                            "distribution point or to compress: pass --source with the folder "
                            "that holds its files, or leave out --dp and --compressed-copy.")
        flag = SourceFlag.NO_SOURCE
        windows_source = ""
    else:
        source = Path(source).resolve()
        if not source.is_dir():
            raise UserError(f"The package source {source} is not a folder. Pass --source with "
                            "the folder that holds the package's files.")
        windows_source = _shared(lab, source)
        flag = SourceFlag.COMPRESSED if compressed_copy else SourceFlag.DIRECT
    targets = [parse_dp(lab, spec) for spec in dps]
    for dp_site, _ in targets:
        _check_below(lab, site, dp_site, "Create the package at {sites}")
    now = lab.time()
    with _open(lab, site) as db, db.transaction():
        pkg_id = db.next_package_id(site.code)
        package = Package(PkgID=pkg_id, SourceSite=site.code, Name=name,
                          Source=windows_source,
                          Priority=PRIORITIES[priority], Action=PackageAction.ADD,
                          PkgFlags=PKG_FLAG_COMPRESSED_COPY if compressed_copy else 0,
                          ShareName="", StorePkgFlag=int(flag),
                          PreferredAddress=PREFERRED_SENDERS[preferred_sender])
        db.put_package(package)
        for dp_site, dp in targets:
            _target(db, site, package, dp_site, dp, now)
        db.add_notification(pkg_id, PackageAction.ADD, priority=package.Priority, when=now)
    return pkg_id


def _choice(value: str, choices: dict[str, object], what: str) -> None:
    if value not in choices:
        raise UserError(f"{value!r} is not a {what}; use one of {', '.join(choices)}.")


def one_line_name(value: str, what: str) -> None:
    """A name the site servers write into records and log lines, refused here as the files
    would refuse it later (a package named `Office XP ` failed every unit that wrote it)."""
    if (problem := text_problem(value)) is not None:
        raise UserError(f"{what} {problem}: {value!r}. Give it again without them.")


def source_path(lab: Lab, source: Path | str) -> str:
    """The source path as SMS's console takes it, in the Windows form the site servers read it
    by (docs/hierarchy.md, package_sources): any path, existing or not (Distribution Manager
    reads it, and reports one it cannot read), a Windows path as given; only an empty one is
    refused."""
    if not str(source).strip():
        raise UserError("No source folder was given. Pass the folder that holds the package's "
                        "files; it need not exist yet, as Distribution Manager reads it only "
                        "when it processes the change.")
    if is_windows_path(str(source)):
        return str(source)
    return _shared(lab, Path(source))


def _shared(lab: Lab, folder: Path) -> str:
    """The Windows path the site servers read a local source folder by (lab/sources.py)."""
    return lab.layout.sources.share(lab.root, folder, lab.hierarchy.durability)


def _source_site_action(lab: Lab, pkg_id: str, action: PackageAction, *,
                        source: Path | str | None = None, refresh: bool = False) -> str:
    """`action` at the package's source site, with a new source path or a refresh request
    (added to what a pending action already asks), and the notification that wakes its
    Distribution Manager; returns the package's source path (SMSPackages.Source)."""
    site = primary_site(lab, source_code(lab, pkg_id), "changing a package")
    now = lab.time()
    with _open(lab, site) as db, db.transaction():
        package = known_package(db, pkg_id, site)
        changes: dict[str, object] = {"Action": action}
        if source is not None:
            changes["Source"] = source_path(lab, source)
            if package.StorePkgFlag == SourceFlag.NO_SOURCE:
                changes["StorePkgFlag"] = int(SourceFlag.DIRECT)
        elif refresh and package.StorePkgFlag == SourceFlag.NO_SOURCE:
            raise UserError(f"Package {package.PkgID} has no source files, so there is nothing "
                            "to update. Give it a source folder with 'sitesrv package "
                            "set-source'.")
        if refresh:
            changes["UpdateMask"] = package.UpdateMask | REFRESH_SOURCE
        db.put_package(attrs.evolve(package, **changes))
        db.add_notification(package.PkgID, action, priority=package.Priority, when=now)
    return str(changes.get("Source", package.Source))


def update_package(lab: Lab, pkg_id: str) -> None:
    """"Update all distribution points" (RefreshPkgSource): a new source version from the
    source folder, marked by UpdateMask's refresh bit as SMS's provider marks it."""
    _source_site_action(lab, pkg_id, PackageAction.UPDATE, refresh=True)


def set_source(lab: Lab, pkg_id: str, source: Path | str) -> str:
    """A new source path (the smsutils report's Repair A): a property change, with no refresh
    request. Whether a new version comes of it is Distribution Manager's call, when it reads
    the folder (docs/distribution.md, "Refresh and update"). Returns the path in the Windows
    form the package now holds."""
    return _source_site_action(lab, pkg_id, PackageAction.UPDATE, source=source)


def show_package(lab: Lab, pkg_id: str) -> Package:
    """The package as its source site's database holds it."""
    site = primary_site(lab, source_code(lab, pkg_id), "showing a package")
    with _open(lab, site) as db:
        package = db.get_package(pkg_id)
    if package is None:
        raise UserError(f"Package {pkg_id.upper()} is not known at its source site {site.code}; "
                        "'sitesrv status' lists the packages.")
    return package


def set_preferred_sender(lab: Lab, pkg_id: str, sender: str) -> None:
    """The package's preferred sender (`any`, `lan`, `courier`), at its source site. Only the
    row changes: the compressed files sent from now on, and the package information sent with
    the next change, go by it (child sites forward by what that information says)."""
    _choice(sender, PREFERRED_SENDERS, "sender")
    site = primary_site(lab, source_code(lab, pkg_id), "changing a package")
    with _open(lab, site) as db, db.transaction():
        package = known_package(db, pkg_id, site)
        db.update_package(package.PkgID, PreferredAddress=PREFERRED_SENDERS[sender])


def delete_package(lab: Lab, pkg_id: str) -> None:
    _source_site_action(lab, pkg_id, PackageAction.DELETE)


def _dp_action(lab: Lab, pkg_id: str, dp_spec: str, at: str | None, what: str,
               change: str) -> None:
    source = source_code(lab, pkg_id)
    dp_site, dp = parse_dp(lab, dp_spec)
    site = primary_site(lab, at or source, what)
    _check_below(lab, site, dp_site, "Use --at {sites}")
    now = lab.time()
    nal = dp.nal_path(dp_site.code)
    with _open(lab, site) as db, db.transaction():
        package = known_package(db, pkg_id, site)
        rows = {s.NALPath.upper(): s for s in db.get_pkg_servers(package.PkgID)}
        row = rows.get(nal.upper())
        if change == "add":
            if package.StorePkgFlag == SourceFlag.NO_SOURCE:
                raise UserError(f"Package {package.PkgID} has no source files, so a "
                                "distribution point has nothing to hold. Give it a source "
                                "folder first ('sitesrv package set-source').")
            if row is not None and row.Action != PackageAction.DELETE:
                raise UserError(f"Package {package.PkgID} already targets {dp_spec.upper()}.")
            _target(db, site, package, dp_site, dp, now)
            action = PackageAction.ADD
        else:
            if row is None:
                raise UserError(f"Package {package.PkgID} does not target {dp_spec.upper()} at "
                                f"site {site.code}; 'sitesrv status {package.PkgID}' lists its "
                                "DPs.")
            if change == "remove":
                db.put_pkg_server(attrs.evolve(row, Action=PackageAction.DELETE))
                action = PackageAction.DELETE
            else:
                db.put_pkg_server(attrs.evolve(row, RefreshTrigger=1))
                action = PackageAction.UPDATE
        db.add_notification(package.PkgID, action, priority=package.Priority, when=now)


def add_dp(lab: Lab, pkg_id: str, dp_spec: str, at: str | None = None) -> None:
    _dp_action(lab, pkg_id, dp_spec, at, "adding a DP", "add")


def remove_dp(lab: Lab, pkg_id: str, dp_spec: str, at: str | None = None) -> None:
    _dp_action(lab, pkg_id, dp_spec, at, "removing a DP", "remove")


def refresh_dp(lab: Lab, pkg_id: str, dp_spec: str, at: str | None = None) -> None:
    """"Refresh distribution point": recopy from the existing compressed copy, no new version."""
    _dp_action(lab, pkg_id, dp_spec, at, "refreshing a DP", "refresh")

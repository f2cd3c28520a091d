"""`sitesrv package ...`: the administrator's package actions, as the SMS console makes them.

Each command writes rows to a site database and returns; the site servers (running now, or the
next `sitesrv run`) do the distribution. See sitesrv/admin/console.py.
"""

from __future__ import annotations

from pathlib import Path

import click

from sitesrv.admin.choices import PREFERRED_SENDERS, PRIORITIES
from sitesrv.cli.options import LAB_OPTION, one_line, open_lab

AT_OPTION = click.option(
    "--at", "at", metavar="SITE", default=None,
    help="The site whose console makes the change (default: the package's source site). "
         "KB936465 needs a DP added at the child primary: --at P00.")


SENDER_OPTION = click.option(
    "--preferred-sender", type=click.Choice(list(PREFERRED_SENDERS)), default="any",
    show_default=True, help="The sender of the package's compressed files; 'courier' puts "
    "them in parcels made with 'sitesrv courier' (the Courier Sender is never chosen "
    "automatically).")


@click.group("package")
def package_group() -> None:
    """Create and change packages, as the SMS Administrator console does.

    Commands only write the site database; SQL Monitor and Distribution Manager act on it when
    the site servers run (`sitesrv run`).
    """


@package_group.command("create")
@click.argument("site")
@click.option("--name", required=True, help="The package name.", callback=one_line)
@click.option("--source", type=click.Path(path_type=Path), default=None,
              help="The folder with the package's files; leave it out for a package without "
                   "source files (no compressed copy, no DP).")
@click.option("--dp", "dps", multiple=True, metavar="SITE:SERVER",
              help="A distribution point to target; repeat for more.")
@click.option("--priority", type=click.Choice(sorted(PRIORITIES)), default="medium",
              show_default=True, help="The package's sending priority.")
@click.option("--compressed-copy", is_flag=True,
              help="Keep a compressed copy of the source (PkgFlags), as SMS's option does.")
@SENDER_OPTION
@LAB_OPTION
def create(site: str, name: str, source: Path | None, dps: tuple[str, ...], priority: str,
           compressed_copy: bool, preferred_sender: str, lab_dir: Path) -> None:
    """Create a package at SITE and print its PackageID (site code + 5 hex digits)."""
    from sitesrv.admin import console

    lab = open_lab(lab_dir)
    click.echo(console.create_package(lab, site, name=name, source=source, dps=list(dps),
                                      priority=priority, compressed_copy=compressed_copy,
                                      preferred_sender=preferred_sender))


@package_group.command("set-preferred-sender")
@click.argument("package_id")
@click.argument("sender", type=click.Choice(list(PREFERRED_SENDERS)))
@LAB_OPTION
def set_preferred_sender(package_id: str, sender: str, lab_dir: Path) -> None:
    """Choose the sender of the package's compressed files: any, lan or courier."""
    from sitesrv.admin import console

    console.set_preferred_sender(open_lab(lab_dir), package_id, sender)
    click.echo(f"Package {package_id.upper()}'s preferred sender is now {sender}.")


@package_group.command("update")
@click.argument("package_id")
@LAB_OPTION
def update(package_id: str, lab_dir: Path) -> None:
    """Re-read the source and make a new source version ("update distribution points").

    Sites that hold the previous version get only what changed (a delta).
    """
    from sitesrv.admin import console

    console.update_package(open_lab(lab_dir), package_id)
    click.echo(f"Package {package_id.upper()} will get a new source version.")


@package_group.command("set-source")
@click.argument("package_id")
@click.argument("source", type=click.Path())
@LAB_OPTION
def set_source(package_id: str, source: str, lab_dir: Path) -> None:
    """Give the package the source folder SOURCE, as the console's Data Source tab does.

    Any path is taken, existing or not: a local folder (shown as the Windows path the site
    servers read it by, docs/hierarchy.md) or a Windows path. When the site servers run, Distribution Manager at
    the package's source site compares SOURCE with the folder its compressed copy
    (SMSPKG\\<PkgID>.PCK) was made from: the same folder, with that copy in place, changes
    nothing; another folder, or a missing copy, makes a new source version, sent whole to
    every distribution point (the smsutils report's Repair A). A folder it cannot read makes
    no version: status 2302, and the DPs at the source site show State 3. To re-read the
    same folder and send only what changed, use 'sitesrv package update'.
    """
    from sitesrv.admin import console

    lab = open_lab(lab_dir)
    windows = console.set_source(lab, package_id, source)
    folder = lab.layout.sources.folder_of(windows)
    click.echo(f"Package {package_id.upper()} now uses {windows}"
               + (f" (the folder {folder})." if folder is not None else "."))


@package_group.command("show")
@click.argument("package_id")
@LAB_OPTION
def show(package_id: str, lab_dir: Path) -> None:
    """Show a package at its source site: its source as the site servers name it (the Windows
    path in SMSPackages.Source) and the local folder that is, and its versions."""
    from sitesrv.admin import console

    lab = open_lab(lab_dir)
    package = console.show_package(lab, package_id)
    folder = lab.layout.sources.folder_of(package.Source) if package.Source else None
    click.echo(f"Package {package.PkgID}  {package.Name}  (source site {package.SourceSite})")
    click.echo(f"  Source            {package.Source or '(no source files)'}")
    if package.Source:
        click.echo(f"  Local folder      {folder or '(no package_sources mapping names it)'}")
    click.echo(f"  SourceVersion     {package.SourceVersion}")
    click.echo(f"  StoredPkgVersion  {package.StoredPkgVersion}  {package.StoredPkgPath}".rstrip())


@package_group.command("refresh")
@click.argument("package_id")
@click.argument("dp", metavar="SITE:SERVER")
@AT_OPTION
@LAB_OPTION
def refresh(package_id: str, dp: str, at: str | None, lab_dir: Path) -> None:
    """Refresh one DP from its site's compressed copy, with no new version."""
    from sitesrv.admin import console

    console.refresh_dp(open_lab(lab_dir), package_id, dp, at)
    click.echo(f"Refresh of {dp.upper()} requested for package {package_id.upper()}.")


@package_group.command("add-dp")
@click.argument("package_id")
@click.argument("dp", metavar="SITE:SERVER")
@AT_OPTION
@LAB_OPTION
def add_dp(package_id: str, dp: str, at: str | None, lab_dir: Path) -> None:
    """Target one more distribution point."""
    from sitesrv.admin import console

    console.add_dp(open_lab(lab_dir), package_id, dp, at)
    click.echo(f"Package {package_id.upper()} now targets {dp.upper()}.")


@package_group.command("remove-dp")
@click.argument("package_id")
@click.argument("dp", metavar="SITE:SERVER")
@AT_OPTION
@LAB_OPTION
def remove_dp(package_id: str, dp: str, at: str | None, lab_dir: Path) -> None:
    """Remove the package from one distribution point."""
    from sitesrv.admin import console

    console.remove_dp(open_lab(lab_dir), package_id, dp, at)
    click.echo(f"Package {package_id.upper()} will be removed from {dp.upper()}.")


@package_group.command("delete")
@click.argument("package_id")
@LAB_OPTION
def delete(package_id: str, lab_dir: Path) -> None:
    """Delete the package everywhere."""
    from sitesrv.admin import console

    console.delete_package(open_lab(lab_dir), package_id)
    click.echo(f"Package {package_id.upper()} will be deleted at every site.")

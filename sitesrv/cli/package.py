"""`sitesrv package ...`: the administrator's package actions, as the SMS console makes them.

Each command writes rows to a site database and returns; the site servers (running now, or the
next `sitesrv run`) do the distribution. See sitesrv/admin/console.py.
"""

from __future__ import annotations

from pathlib import Path

import click

from sitesrv.admin import console
from sitesrv.admin.lab import Lab
from sitesrv.cli.options import LAB_OPTION

AT_OPTION = click.option(
    "--at", "at", metavar="SITE", default=None,
    help="The site whose console makes the change (default: the package's source site). "
         "KB936465 needs a DP added at the child primary: --at P00.")


@click.group("package")
def package_group() -> None:
    """Create and change packages, as the SMS Administrator console does.

    Commands only write the site database; SQL Monitor and Distribution Manager act on it when
    the site servers run (`sitesrv run`).
    """


@package_group.command("create")
@click.argument("site")
@click.option("--name", required=True, help="The package name.")
@click.option("--source", type=click.Path(path_type=Path), default=None,
              help="The folder with the package's files; leave it out for a package without "
                   "source files (no compressed copy, no DP).")
@click.option("--dp", "dps", multiple=True, metavar="SITE:SERVER",
              help="A distribution point to target; repeat for more.")
@click.option("--priority", type=click.Choice(sorted(console.PRIORITIES)), default="medium",
              show_default=True, help="The package's sending priority.")
@click.option("--compressed-copy", is_flag=True,
              help="Keep a compressed copy of the source (PkgFlags), as SMS's option does.")
@LAB_OPTION
def create(site: str, name: str, source: Path | None, dps: tuple[str, ...], priority: str,
           compressed_copy: bool, lab_dir: Path) -> None:
    """Create a package at SITE and print its PackageID (site code + 5 hex digits)."""
    lab = Lab.open(lab_dir)
    click.echo(console.create_package(lab, site, name=name, source=source, dps=list(dps),
                                      priority=priority, compressed_copy=compressed_copy))


@package_group.command("update")
@click.argument("package_id")
@LAB_OPTION
def update(package_id: str, lab_dir: Path) -> None:
    """Re-read the source and make a new source version ("update distribution points")."""
    console.update_package(Lab.open(lab_dir), package_id)
    click.echo(f"Package {package_id.upper()} will get a new source version.")


@package_group.command("set-source")
@click.argument("package_id")
@click.argument("source", type=click.Path(path_type=Path))
@LAB_OPTION
def set_source(package_id: str, source: Path, lab_dir: Path) -> None:
    """Give the package a new source folder, which makes a new version."""
    console.set_source(Lab.open(lab_dir), package_id, source)
    click.echo(f"Package {package_id.upper()} now uses {source.resolve()}.")


@package_group.command("refresh")
@click.argument("package_id")
@click.argument("dp", metavar="SITE:SERVER")
@AT_OPTION
@LAB_OPTION
def refresh(package_id: str, dp: str, at: str | None, lab_dir: Path) -> None:
    """Refresh one DP from its site's compressed copy, with no new version."""
    console.refresh_dp(Lab.open(lab_dir), package_id, dp, at)
    click.echo(f"Refresh of {dp.upper()} requested for package {package_id.upper()}.")


@package_group.command("add-dp")
@click.argument("package_id")
@click.argument("dp", metavar="SITE:SERVER")
@AT_OPTION
@LAB_OPTION
def add_dp(package_id: str, dp: str, at: str | None, lab_dir: Path) -> None:
    """Target one more distribution point."""
    console.add_dp(Lab.open(lab_dir), package_id, dp, at)
    click.echo(f"Package {package_id.upper()} now targets {dp.upper()}.")


@package_group.command("remove-dp")
@click.argument("package_id")
@click.argument("dp", metavar="SITE:SERVER")
@AT_OPTION
@LAB_OPTION
def remove_dp(package_id: str, dp: str, at: str | None, lab_dir: Path) -> None:
    """Remove the package from one distribution point."""
    console.remove_dp(Lab.open(lab_dir), package_id, dp, at)
    click.echo(f"Package {package_id.upper()} will be removed from {dp.upper()}.")


@package_group.command("delete")
@click.argument("package_id")
@LAB_OPTION
def delete(package_id: str, lab_dir: Path) -> None:
    """Delete the package everywhere."""
    console.delete_package(Lab.open(lab_dir), package_id)
    click.echo(f"Package {package_id.upper()} will be deleted at every site.")

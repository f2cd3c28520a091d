"""`sitesrv fault ...`: break a lab on purpose, one cause per command (docs/faults.md)."""

from __future__ import annotations

from pathlib import Path

import click

from sitesrv.admin.choices import CORRUPTIONS
from sitesrv.cli.options import LAB_OPTION, open_lab

DELTA_OPTION = click.option("--delta", type=click.IntRange(1), metavar="N",
                            help="The delta SMSPKG\\<PkgID>.DLT.<N> instead of the PCK.")


@click.group("fault")
def fault_group() -> None:
    """Break a lab on purpose, as a person, a disk or a network would. Each fault is recorded
    in LAB/events.jsonl and shows in `sitesrv trace PKGID`; the site servers meet it at their
    next run, as SMS would."""


@fault_group.command("delete-pck")
@click.argument("site")
@click.argument("package_id", metavar="PKGID")
@DELTA_OPTION
@LAB_OPTION
def delete_pck(site: str, package_id: str, delta: int | None, lab_dir: Path) -> None:
    """Delete SITE's compressed copy of PKGID (SMSPKG\\<PkgID>.PCK, or a .DLT.<N>), clearing
    its read-only attribute first, as a person freeing disk space would."""
    from sitesrv.admin import faults

    path = faults.delete_compressed(open_lab(lab_dir), site, package_id, delta=delta)
    click.echo(f"Deleted {path}.")


@fault_group.command("corrupt")
@click.argument("site")
@click.argument("package_id", metavar="PKGID")
@click.option("--how", type=click.Choice(CORRUPTIONS), default="flip", show_default=True,
              help="flip: invert one byte; truncate: cut the file to half its size.")
@click.option("--offset", type=click.IntRange(0), help="The byte to flip (default: the middle).")
@click.option("--in-transit", is_flag=True,
              help="The package's <reqid>.PCK waiting in SITE's despoolr.box\\receive, "
                   "instead of SITE's stored copy.")
@DELTA_OPTION
@LAB_OPTION
def corrupt(site: str, package_id: str, how: str, offset: int | None, in_transit: bool,
            delta: int | None, lab_dir: Path) -> None:
    """Damage a compressed package of PKGID at SITE, at rest or in transit."""
    from sitesrv.admin import faults

    path = faults.corrupt(open_lab(lab_dir), site, package_id, how=how, delta=delta,
                          in_transit=in_transit, offset=offset)
    click.echo(f"Corrupted {path} ({how}).")


@fault_group.command("link-down")
@click.argument("from_site", metavar="FROM")
@click.argument("to_site", metavar="TO")
@LAB_OPTION
def link_down(from_site: str, to_site: str, lab_dir: Path) -> None:
    """Take the link from FROM to TO down: nothing is sent over it until `link-up`."""
    _link(lab_dir, from_site, to_site, up=False)


@fault_group.command("link-up")
@click.argument("from_site", metavar="FROM")
@click.argument("to_site", metavar="TO")
@LAB_OPTION
def link_up(from_site: str, to_site: str, lab_dir: Path) -> None:
    """Bring the link from FROM to TO up again."""
    _link(lab_dir, from_site, to_site, up=True)


def _link(lab_dir: Path, from_site: str, to_site: str, *, up: bool) -> None:
    from sitesrv.admin import faults

    changed = faults.set_link(open_lab(lab_dir), from_site, to_site, up=up)
    click.echo(f"The link from {from_site.upper()} to {to_site.upper()} is "
               f"{'' if changed else 'already '}{'up' if up else 'down'}.")

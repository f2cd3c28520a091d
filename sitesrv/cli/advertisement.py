"""`sitesrv advertisement ...` and `sitesrv collection ...`: the console's advertisements and
the minimal collections they target (sitesrv/admin/advertisements.py)."""

from __future__ import annotations

from pathlib import Path

import click

from sitesrv.cli.options import LAB_OPTION, one_line, open_lab


@click.group("advertisement")
def advertisement_group() -> None:
    """Advertise a package's program to a collection, as the SMS Administrator console does.

    Commands only write the site database; Offer Manager writes the `.ofr`, `.ins` and `.lkp`
    files into offerinf.box (and Inbox Manager copies them to the CAP) once the package is on a
    DP of the site, at this site and every site below, when the site servers run.
    """


@advertisement_group.command("create")
@click.argument("site")
@click.option("--package", "package_id", required=True, metavar="PKGID",
              help="The package to advertise.")
@click.option("--program", required=True, callback=one_line,
              help="The program of the package to run.")
@click.option("--collection", "collection_id", required=True, metavar="COLLID",
              help="The target collection ('sitesrv collection create' makes one).")
@click.option("--schedule", default=None, metavar="TIME",
              help="When the program is offered from, as UTC (2007-06-04T09:00:00Z); "
                   "default: now in lab time.")
@click.option("--name", default="", help="The advertisement's name.", callback=one_line)
@LAB_OPTION
def create(site: str, package_id: str, program: str, collection_id: str, schedule: str | None,
           name: str, lab_dir: Path) -> None:
    """Create an advertisement at SITE and print its AdvertisementID."""
    from sitesrv.admin import advertisements

    click.echo(advertisements.create_advertisement(
        open_lab(lab_dir), site, package_id=package_id, program=program,
        collection_id=collection_id, name=name, present_time=schedule))


@advertisement_group.command("list")
@click.argument("site")
@LAB_OPTION
def list_command(site: str, lab_dir: Path) -> None:
    """The advertisements SITE's database knows, its own and replicated ones."""
    from sitesrv.admin import advertisements
    from sitesrv.lab.clock import lab_time_text

    for adv in advertisements.list_advertisements(open_lab(lab_dir), site):
        click.echo(f"{adv.AdvertisementID}  {adv.PackageID}  {adv.ProgramName!r} -> "
                   f"{adv.CollectionID} from {lab_time_text(adv.PresentTime)} "
                   f"(made at {adv.SourceSite}): {adv.AdvertisementName}")


@advertisement_group.command("delete")
@click.argument("advertisement_id")
@LAB_OPTION
def delete(advertisement_id: str, lab_dir: Path) -> None:
    """Delete an advertisement at the site that made it, and so at every site below."""
    from sitesrv.admin import advertisements

    advertisements.delete_advertisement(open_lab(lab_dir), advertisement_id)
    click.echo(f"Advertisement {advertisement_id.upper()} will be deleted at every site.")


@click.group("collection")
def collection_group() -> None:
    """Collections, in a minimal model: an ID, a name and a number of clients."""


@collection_group.command("create")
@click.argument("site")
@click.option("--name", required=True, help="The collection's name.", callback=one_line)
@click.option("--clients", type=click.IntRange(min=0), default=0, show_default=True,
              help="How many clients the collection has.")
@LAB_OPTION
def create_collection(site: str, name: str, clients: int, lab_dir: Path) -> None:
    """Create a collection at SITE and print its CollectionID."""
    from sitesrv.admin import advertisements

    click.echo(advertisements.create_collection(open_lab(lab_dir), site, name=name,
                                                clients=clients))


@collection_group.command("clients")
@click.argument("collection_id")
@click.argument("clients", type=click.IntRange(min=0))
@LAB_OPTION
def clients(collection_id: str, clients: int, lab_dir: Path) -> None:
    """Set how many clients a collection has (0: no client instruction files)."""
    from sitesrv.admin import advertisements

    advertisements.set_clients(open_lab(lab_dir), collection_id, clients)
    click.echo(f"Collection {collection_id.upper()} now has {clients} client(s).")


@collection_group.command("list")
@click.argument("site")
@LAB_OPTION
def list_collections(site: str, lab_dir: Path) -> None:
    """The collections SITE's database knows."""
    from sitesrv.admin import advertisements

    for c in advertisements.list_collections(open_lab(lab_dir), site):
        click.echo(f"{c.CollectionID}  {c.MemberCount} client(s)  {c.Name}")

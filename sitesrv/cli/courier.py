"""`sitesrv courier ...`: Courier Sender Manager, the separate program SMS ships for parcels.

Courier Sender never sends by itself: these commands make a parcel of the send requests that
wait in a site's courier outbox, record how it was sent, and receive it at the destination.
See sitesrv/admin/coursend.py and courierreceive.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from sitesrv.cli.options import LAB_OPTION, one_line, open_lab
from sitesrv.errors import UserError
from sitesrv.files.names import escaped_name

if TYPE_CHECKING:
    from sitesrv.admin.lab import Lab
    from sitesrv.formats.parcel import ParcelRecord

# What to do with what `courier list` cannot read (docs/transport.md, Courier Sender).
REQUEST_HINT = ("'sitesrv courier create' moves a send request that cannot be read to corrupt\\ "
                "beside it, and the Scheduler writes it again.")
RECORD_HINT = ("A parcel's record is its only status: restore it from a backup, or delete it "
               "(the parcel is then no longer listed; its number is never given again). "
               "While it cannot be read, 'sitesrv courier create' makes no parcel of the send "
               "requests that wait at its site: the parcel may carry them.")


@click.group("courier")
def courier_group() -> None:
    """Make, track and receive Courier Sender parcels (files in LAB/media).

    A package created with --preferred-sender courier leaves its send requests in the courier
    outbox of the sending site; nothing leaves until a parcel is made and received.
    """


@courier_group.command("list")
@click.argument("site", required=False)
@LAB_OPTION
def list_command(site: str | None, lab_dir: Path) -> None:
    """Show the send requests waiting for a parcel, and the parcels, at SITE (or every site).

    A send request or parcel record that cannot be read is shown as `cannot read <file>:
    <problem>` in its place; the rest are listed, then the command exits with status 2.
    """
    from sitesrv.admin import coursend

    lab = open_lab(lab_dir)
    sites = [lab.hierarchy.site(site)] if site else list(lab.hierarchy.sites)
    unreadable: dict[str, str] = {}  # each file, and what to do with it

    def cannot_read(code: str, path: Path, problem: str | None, hint: str) -> None:
        unreadable[coursend.shown_file(path)] = hint
        click.echo(f"{code} cannot read {coursend.shown_file(path)}: {problem}")

    for s in sites:
        for item in coursend.pending(lab, s):
            if item.request is None:
                cannot_read(s.code, item.path, item.problem, REQUEST_HINT)
            else:
                r = item.request
                click.echo(f"{s.code} waiting {r.request_id} to {r.dest_site} job {r.job_id} "
                           f"{r.package_file or '(no package file)'}"
                           + (f" (held: {item.held})" if item.held else ""))
        for parcel in coursend.outgoing(lab, s):
            if parcel.record is None:
                cannot_read(s.code, parcel.path, parcel.problem, RECORD_HINT)
            else:
                click.echo(f"{s.code} parcel {_describe(parcel.record, s.time_zone_bias)}")
    if unreadable:
        raise _not_read(unreadable)


def unread_records(lab: Lab) -> UserError | None:
    """For `sitesrv trace` and `status`, after their output: each parcel record of the lab
    that cannot be read, as `<SITE> cannot read <file>: <problem>` on stderr, and the
    UserError (exit status 2) that ends `courier list` then. Its parcel's steps are missing
    from a journey, and its requests wait (`coursend.pending`): never silently."""
    from sitesrv.admin import coursend

    unreadable: dict[str, str] = {}
    for site in lab.hierarchy.sites:
        for parcel in coursend.outgoing(lab, site):
            if parcel.record is None:
                unreadable[coursend.shown_file(parcel.path)] = RECORD_HINT
                click.echo(f"{site.code} cannot read {coursend.shown_file(parcel.path)}: "
                           f"{parcel.problem}", err=True)
    return _not_read(unreadable) if unreadable else None


def _not_read(unreadable: dict[str, str]) -> UserError:
    return UserError(f"{len(unreadable)} file(s) could not be read: {', '.join(unreadable)} "
                     "(the reason is printed with each). "
                     + " ".join(dict.fromkeys(unreadable.values())))


@courier_group.command("create")
@click.argument("site")
@click.option("--name", default="", help="The parcel's name (default: 'Parcel <ID>').", callback=one_line)
@click.option("--request", "requests", multiple=True, metavar="ID",
              help="A send request to put in the parcel; repeat for more (default: all).")
@LAB_OPTION
def create(site: str, name: str, requests: tuple[str, ...], lab_dir: Path) -> None:
    """Make an outgoing parcel at SITE of the send requests waiting there; print its file."""
    from sitesrv.admin import coursend

    lab = open_lab(lab_dir)
    for moved in coursend.set_aside_unreadable(lab, coursend.courier_site(lab, site)):
        click.echo(f"Moved the send request {escaped_name(moved.path.name)}, which cannot be "
                   f"read, to {moved.moved_to}: {moved.problem}")
    record, path = coursend.create(lab, site, name=name, request_ids=requests)
    packing = record.packing_list
    click.echo(f"Parcel {packing.parcel_id} ({len(packing.requests)} send request(s) for "
               f"{', '.join(packing.destinations)}): {path}")
    click.echo("Copy it to the media and take it to the destination; then 'sitesrv courier "
               f"sent {packing.parcel_id}'.")


@courier_group.command("sent")
@click.argument("parcel_id")
@click.option("--tracking-number", default="", help="The carrier's tracking number.")
@click.option("--sent-by", default="", help="How it was sent (carrier, mail, by hand).")
@LAB_OPTION
def sent(parcel_id: str, tracking_number: str, sent_by: str, lab_dir: Path) -> None:
    """Set a parcel's status to Sent (Courier Sender never does it by itself)."""
    from sitesrv.admin import coursend
    from sitesrv.formats.parcel import ParcelStatus

    record = coursend.set_status(open_lab(lab_dir), parcel_id, ParcelStatus.SENT,
                                 tracking_number=tracking_number, sent_by=sent_by)
    click.echo(f"Parcel {record.packing_list.parcel_id} is Sent.")


@courier_group.command("confirm")
@click.argument("parcel_id")
@LAB_OPTION
def confirm(parcel_id: str, lab_dir: Path) -> None:
    """Set a parcel's status to Confirmed: the destination received it."""
    from sitesrv.admin import coursend
    from sitesrv.formats.parcel import ParcelStatus

    record = coursend.set_status(open_lab(lab_dir), parcel_id, ParcelStatus.CONFIRMED)
    click.echo(f"Parcel {record.packing_list.parcel_id} is Confirmed.")


@courier_group.command("receive")
@click.argument("site")
@click.argument("parcel_file", type=click.Path(dir_okay=False, path_type=Path))
@LAB_OPTION
def receive_command(site: str, parcel_file: Path, lab_dir: Path) -> None:
    """Receive an incoming parcel at SITE: its send requests go to the Despooler."""
    from sitesrv.admin.courierreceive import receive

    packing = receive(open_lab(lab_dir), site, parcel_file)
    mine = [r.request_id for r in packing.requests if r.dest_site == site.upper()]
    click.echo(f"Received parcel {packing.parcel_id} from {packing.sending_site}: "
               f"{', '.join(mine)}; the site's Despooler takes them when its servers run.")


def _describe(record: ParcelRecord, bias: int) -> str:
    from sitesrv.lab.sitetime import log_timestamp

    packing = record.packing_list
    parts = [packing.parcel_id, record.status.value, f"to {', '.join(packing.destinations)}",
             f"created {log_timestamp(packing.created, bias)}"]
    if record.sent_at is not None:
        parts.append(f"sent {log_timestamp(record.sent_at, bias)}")
    if record.tracking_number:
        parts.append(f"tracking number {record.tracking_number}")
    if record.sent_by:
        parts.append(f"sent by {record.sent_by}")
    if record.confirmed_at is not None:
        parts.append(f"confirmed {log_timestamp(record.confirmed_at, bias)}")
    return " | ".join([*parts, repr(packing.name)])

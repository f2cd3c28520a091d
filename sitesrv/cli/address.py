"""`sitesrv address pause|resume FROM TO`: close and open an address, as its schedule would.

A paused address lets no send request through, whatever its priority; a transfer already under
way finishes (SMS never preempts one). The pause is kept in `<FROM>/SMS/state/
paused_addresses.json`, so it works whether or not the site servers run; a running Sender
notices it within `timing.rescan_interval`. `sitesrv hierarchy` shows paused addresses.
"""

from __future__ import annotations

from pathlib import Path

import click

from sitesrv.cli.options import LAB_OPTION, open_lab


@click.group("address")
def address_group() -> None:
    """Pause and resume the addresses between sites."""


@address_group.command("pause")
@click.argument("from_site", metavar="FROM")
@click.argument("to_site", metavar="TO")
@LAB_OPTION
def pause(from_site: str, to_site: str, lab_dir: Path) -> None:
    """Close the addresses from site FROM to site TO until `sitesrv address resume FROM TO`."""
    _change(lab_dir, from_site, to_site, paused=True)


@address_group.command("resume")
@click.argument("from_site", metavar="FROM")
@click.argument("to_site", metavar="TO")
@LAB_OPTION
def resume(from_site: str, to_site: str, lab_dir: Path) -> None:
    """Open the addresses from site FROM to site TO again, as their schedule says."""
    _change(lab_dir, from_site, to_site, paused=False)


def _change(lab_dir: Path, from_site: str, to_site: str, *, paused: bool) -> None:
    from sitesrv.admin.pauses import set_paused

    lab = open_lab(lab_dir)
    from_code = lab.hierarchy.site(from_site).code
    to_code = lab.hierarchy.site(to_site).code
    changed = set_paused(lab.layout, from_code, to_code, paused)
    state = "paused" if paused else "open (as its schedule says)"
    note = "" if changed else " already"
    click.echo(f"The address from {from_code} to {to_code} is{note} {state}.")

"""`sitesrv fault ...`: break a lab on purpose, one cause per command (docs/faults.md)."""

from __future__ import annotations

from pathlib import Path

import click

from sitesrv.admin.choices import CORRUPTIONS, MAX_FREE, MAX_WINDOW
from sitesrv.cli.options import LAB_OPTION, open_lab
from sitesrv.lab.sizes import MAX_LATENCY, MAX_RATE

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


@fault_group.command("slow-link")
@click.argument("from_site", metavar="FROM")
@click.argument("to_site", metavar="TO")
@click.option("--rate", type=click.IntRange(1, MAX_RATE), required=True, metavar="BYTES_PER_S",
              help="The rate limit, in bytes per second.")
@click.option("--latency", type=click.FloatRange(0, MAX_LATENCY), metavar="S",
              help="Seconds before the first byte of each send (default: the address's own).")
@click.option("--for", "seconds", type=click.FloatRange(0, MAX_WINDOW, min_open=True),
              metavar="LAB_SECONDS",
              help="How long, in lab time from the lab's time now (default: until link-normal).")
@LAB_OPTION
def slow_link(from_site: str, to_site: str, rate: int, latency: float | None,
              seconds: float | None, lab_dir: Path) -> None:
    """Slow the link from FROM to TO: sends that start within the window go at RATE."""
    from sitesrv.admin import faults
    from sitesrv.lab.clock import lab_time_text

    slow = faults.slow_link(open_lab(lab_dir), from_site, to_site, rate=rate, latency=latency,
                            seconds=seconds)
    until = "until 'sitesrv fault link-normal'" if slow.until is None else \
        f"until {lab_time_text(slow.until)} (lab time)"
    click.echo(f"The link from {from_site.upper()} to {to_site.upper()} sends at {rate} bytes "
               f"per second {until}.")


@fault_group.command("link-normal")
@click.argument("from_site", metavar="FROM")
@click.argument("to_site", metavar="TO")
@LAB_OPTION
def link_normal(from_site: str, to_site: str, lab_dir: Path) -> None:
    """Give the link from FROM to TO its rate and latency from hierarchy.yaml again."""
    from sitesrv.admin import faults

    changed = faults.normal_link(open_lab(lab_dir), from_site, to_site)
    click.echo(f"The link from {from_site.upper()} to {to_site.upper()} "
               f"{'sends' if changed else 'already sends'} at its rate from hierarchy.yaml.")


@fault_group.command("disk-full")
@click.argument("site")
@click.option("--free", type=click.IntRange(0, MAX_FREE), default=0, show_default=True, metavar="BYTES",
              help="The bytes that still fit on the drive.")
@LAB_OPTION
def disk_full(site: str, free: int, lab_dir: Path) -> None:
    """Fill SITE's package drive (SMSPKG, the compression temp, its DP shares and
    despoolr.box\\receive): writes past BYTES fail with Win32 error 112 until `disk-free`."""
    from sitesrv.admin import faults

    quota = faults.fill_disk(open_lab(lab_dir), site, free=free)
    click.echo(f"Site {site.upper()}'s package drive is full: {quota.free} more bytes fit.")


@fault_group.command("disk-free")
@click.argument("site")
@LAB_OPTION
def disk_free(site: str, lab_dir: Path) -> None:
    """Give SITE's package drive its space again."""
    from sitesrv.admin import faults

    changed = faults.free_disk(open_lab(lab_dir), site)
    click.echo(f"Site {site.upper()}'s package drive {'has' if changed else 'already has'} "
               "space.")


@fault_group.command("lock")
@click.argument("site")
@click.option("--box", default="schedule.box", show_default=True,
              help="The inbox (and the folders below it) whose files are held open.")
@click.option("--pattern", default="*", show_default=True, metavar="GLOB",
              help="The names of the files held open.")
@LAB_OPTION
def lock(site: str, box: str, pattern: str, lab_dir: Path) -> None:
    """Hold files open in SITE's inbox as an antivirus scanner does: they cannot be moved,
    renamed or deleted (Win32 error 32) until `unlock`."""
    from sitesrv.admin import faults

    held = faults.lock_files(open_lab(lab_dir), site, box=box, pattern=pattern)
    click.echo(f"Files {held.pattern} in site {site.upper()}'s {held.box} are held open.")


@fault_group.command("unlock")
@click.argument("site")
@LAB_OPTION
def unlock(site: str, lab_dir: Path) -> None:
    """Let go of the files `lock` held open at SITE."""
    from sitesrv.admin import faults

    changed = faults.unlock_files(open_lab(lab_dir), site)
    click.echo(f"No file in site {site.upper()}'s inboxes is held open"
               f"{'' if changed else ' (none was)'}.")


@fault_group.command("deny-dp-folders")
@click.argument("dp", metavar="SITE:SERVER")
@LAB_OPTION
def deny_dp_folders(dp: str, lab_dir: Path) -> None:
    """Deny Distribution Manager the folders below a package's own on the DP's share (as
    `sitesrv dp permissions SITE:SERVER share-root-only`): packages with sub-folders fail to
    copy there with Win32 error 5 until `allow-dp-folders`."""
    _dp_folders(lab_dir, dp, deny=True)


@fault_group.command("allow-dp-folders")
@click.argument("dp", metavar="SITE:SERVER")
@LAB_OPTION
def allow_dp_folders(dp: str, lab_dir: Path) -> None:
    """Give the DP's share full permissions again (as `sitesrv dp permissions SITE:SERVER
    full`); a retry, or `sitesrv package refresh`, copies a failed package."""
    _dp_folders(lab_dir, dp, deny=False)


def _dp_folders(lab_dir: Path, dp: str, *, deny: bool) -> None:
    from sitesrv.admin import faults

    changed = faults.deny_dp_folders(open_lab(lab_dir), dp, deny=deny)
    state = "denied" if deny else "allowed"
    click.echo(f"Folders below a package's own on {dp.upper()} are "
               f"{state if changed else 'already ' + state}.")


@fault_group.command("kill")
@click.argument("site")
@LAB_OPTION
def kill(site: str, lab_dir: Path) -> None:
    """Kill the live server process of SITE at once, as a power cut would (the pid its lock
    names). Run the lab again: start-up recovery takes up what the process left half done."""
    from sitesrv.admin import faults

    pid = faults.kill_server(open_lab(lab_dir), site)
    click.echo(f"Killed the server process of site {site.upper()} (pid {pid}).")

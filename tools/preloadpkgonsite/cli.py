"""`preloadpkgonsite`: the command line, its output and its exit statuses (docs/tools.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from preloadpkgonsite.arguments import USAGE, UsageError, parse
from preloadpkgonsite.files import Damaged
from preloadpkgonsite.preload import BUSY, DAMAGED, Refused, Site, compress, preload
from preloadpkgonsite.site import SiteBusy
from sitesrv import Lab
from sitesrv.errors import UserError

HELP = """PreloadPkgOnSite from the SMS 2003 Toolkit, for one site of a sitesrv lab.

\b
  preloadpkgonsite --lab LAB --site SITE <PkgID> [/UpdateStoredPkgVersion <N>]
  preloadpkgonsite --lab LAB --site SITE <PkgID> /Compress
  preloadpkgonsite --lab LAB --site SITE <PkgID> <StoredPkgVersion>   (the older form)

Run at a child site after copying <PkgID>.PCK from its parent's SMSPKG folder into the
child's (LAB/<SITE>/SMSPKG) and making it read-only: the tool registers the copy at the site
(StoredPkgVersion and StoredPkgPath, the PkgStatus Type 1 row) and sends that status up the
hierarchy, so the sites above need not send the package's content over the network when a DP of
this site is added or re-pushed.

StoredPkgVersion is the /UpdateStoredPkgVersion value; without it, the version in the stored
package information file SMSPKG/<PkgID>.PKG that /Compress writes at the parent, if it is there
and reads; otherwise the package's SourceVersion at the site. /Compress, at the parent, writes
the compressed file (if missing) and that information file, to copy to the child with the PCK.

The original's lines are printed as it prints them, on standard output; sitesrv's own messages
start with "sitesrv:" and go to standard error. Exit statuses: 0 done; 1 the compressed package
path is already set (or this is the package's own site); 2 usage, or no such lab or site; 3 the
package is not known at the site; 4 no PCK in SMSPKG; 5 the PCK is not read-only; 6 the PCK is
not a compressed copy of this package; 7 the site is busy (its database is locked, or a site
server runs the secondary site): try again; 8 /Compress cannot make the compressed file; 9 a
file of the site is damaged (its database, its state files), or a folder the tool uses is a
symbolic link or a file (the tool never writes through one: checked before it changes
anything). docs/tools.md has the details.
"""


@click.command(help=HELP, context_settings={"ignore_unknown_options": True,
                                            "help_option_names": ["-h", "--help"]})
@click.option("--lab", "lab_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("lab"), show_default=True, help="The lab folder.")
@click.option("--site", "site_code", required=True, metavar="SITE",
              help="The site to run at, as if on its site server (a site code, e.g. P00).")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(lab_dir: Path, site_code: str, args: tuple[str, ...]) -> None:
    try:
        request = parse(args)
    except UsageError:
        for line in USAGE:
            click.echo(line)
        sys.exit(2)
    try:
        lab = Lab.open(lab_dir)
        site = Site(lab, lab.hierarchy.site(site_code).code)
        for line in (compress if request.compress else preload)(site, request):
            click.echo(line, err=line.startswith("sitesrv:"))
    except UserError as e:
        click.echo(f"sitesrv: {e}", err=True)
        sys.exit(e.exit_code)
    except Refused as e:
        for line in e.lines:
            click.echo(f"sitesrv: {line}" if e.ours else line, err=e.ours)
        sys.exit(e.status)
    except SiteBusy as e:
        click.echo(f"sitesrv: Site {site_code.upper()} cannot be changed now: {e}.", err=True)
        sys.exit(BUSY)
    except (Damaged, OSError) as e:
        click.echo(f"sitesrv: Site {site_code.upper()} cannot be used: {e}. Nothing was changed "
                   "that a second run would refuse; repair it (or rebuild the file) and run "
                   "the tool again.", err=True)
        sys.exit(DAMAGED)


def main() -> None:
    command(prog_name="preloadpkgonsite")

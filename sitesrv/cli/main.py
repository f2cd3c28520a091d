"""The `sitesrv` command: build a lab, look at it, query its databases, run its site servers.

Every command takes `--lab DIR` (default `./lab`). A user error (a bad hierarchy.yaml, a missing
lab, an unknown site) prints one paragraph to stderr and exits with status 2, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

import click

from sitesrv import __version__
from sitesrv.cli.address import address_group
from sitesrv.cli.advertisement import advertisement_group, collection_group
from sitesrv.cli.courier import courier_group
from sitesrv.cli.dp import dp_group
from sitesrv.cli.fault import fault_group
from sitesrv.cli.options import LAB_OPTION, open_lab
from sitesrv.cli.package import package_group
from sitesrv.cli.pck import pck_group
from sitesrv.cli.run import report_head, run_command
from sitesrv.cli.scenario import scenario_group
from sitesrv.errors import UserError

FINISHED = "Finished building lab {lab}: its first build was stopped"


class SitesrvGroup(click.Group):
    """Turns UserError into a one-paragraph message and exit status 2; a site database that
    stayed busy for its busy timeout is such an error for every command (sitedb.database_busy).
    """

    def invoke(self, ctx: click.Context) -> object:
        try:
            try:
                return super().invoke(ctx)
            except Exception as e:  # sqlite3 loads only with the commands that use it
                from sitesrv.db.sitedb import database_busy, is_busy

                if not is_busy(e):
                    raise
                raise database_busy(e) from None
        except UserError as e:
            click.echo(f"sitesrv: {e}", err=True)
            sys.exit(e.exit_code)


@click.group(cls=SitesrvGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sitesrv")
def cli() -> None:
    """sitesrv emulates Microsoft SMS 2003 site servers: a central site, child primaries and
    secondaries, all on this machine, passing real inbox files between real folders.

    Start with `sitesrv init` to build ./lab from ./hierarchy.yaml, then `sitesrv hierarchy`
    to see it. Logs are in LAB/<SITE>/SMS/Logs, the site databases in LAB/<SITE>/SMS/site.db.
    """


@cli.command()
@LAB_OPTION
@click.option("--hierarchy", "hierarchy_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="The hierarchy to build the lab from (default: ./hierarchy.yaml "
              "if there is one, else the lab's own hierarchy.yaml if the lab exists, else "
              "sitesrv's default three-site hierarchy).")
@click.option("--force", is_flag=True, help="Delete an existing lab and build it anew.")
def init(lab_dir: Path, hierarchy_file: Path | None, force: bool) -> None:
    """Build a lab folder from a hierarchy file.

    Running it again on an existing lab keeps the lab's data (packages, logs, databases) and
    only adds what is missing; --force throws the lab away and builds it anew. The file is
    --hierarchy FILE, else ./hierarchy.yaml, else the lab's own copy, else sitesrv's default.
    """
    from sitesrv.admin.lab import Lab

    source = _hierarchy_source(lab_dir, hierarchy_file)
    if force and source.own:
        from sitesrv.lab.loader import load_hierarchy

        try:
            load_hierarchy(source.path)
        except UserError as e:
            raise UserError(f"{e} Or pass --hierarchy FILE to rebuild the lab from another "
                            "file; nothing was deleted.") from None
    result = Lab.init(lab_dir, source.path, force=force)
    sites = ", ".join(s.code for s in result.lab.hierarchy.sites)
    if result.created:
        click.echo(f"Built lab {lab_dir} from {source} with sites {sites}.")
    elif result.finished:
        click.echo(f"{FINISHED.format(lab=lab_dir)} (sites {sites}).")
    else:
        click.echo(f"Lab {lab_dir} already exists; kept its data and its own hierarchy.yaml "
                   f"(sites {sites}).")
        if result.differs:
            click.echo(f"Note: {source} differs from the lab's own hierarchy.yaml; the lab "
                       "still uses its own. Rebuild with --force to use the new one.")


class HierarchySource(NamedTuple):
    """The file a command builds a lab from, and how to name it to the user."""

    path: Path
    label: str
    own: bool = False  # the lab's own copy

    def __str__(self) -> str:
        return self.label


def _hierarchy_source(lab_dir: Path, named: Path | None) -> HierarchySource:
    """--hierarchy FILE, else ./hierarchy.yaml, else the lab's own copy, else the default.

    The lab's own copy comes before sitesrv's default so that `init --force` in a folder
    without hierarchy.yaml rebuilds the lab the user has (edits to LAB/hierarchy.yaml
    included), not another one.
    """
    from sitesrv.admin.lab import default_hierarchy_file
    from sitesrv.lab.layout import HIERARCHY_COPY

    if named is not None:
        return HierarchySource(named, str(named))
    here = Path("hierarchy.yaml")
    if here.is_file():
        return HierarchySource(here, str(here))
    own = lab_dir / HIERARCHY_COPY
    if own.is_file():
        return HierarchySource(own, f"its own {own}", own=True)
    default = default_hierarchy_file()
    return HierarchySource(default, f"sitesrv's default hierarchy ({default})")


@cli.command()
@LAB_OPTION
def hierarchy(lab_dir: Path) -> None:
    """Print the lab's sites with their servers, DPs and addresses."""
    from sitesrv.admin.hierarchyview import render_hierarchy
    from sitesrv.admin.pauses import with_pauses
    from sitesrv.lab.sharepermissions import with_current_permissions

    lab = open_lab(lab_dir)
    shown = with_pauses(with_current_permissions(lab.layout), lab.layout)
    click.echo(render_hierarchy(shown, lab.root), nl=False)


@cli.command()
@click.argument("site")
@click.argument("statement")
@LAB_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON objects.")
def sql(site: str, statement: str, lab_dir: Path, as_json: bool) -> None:
    """Run any SQL STATEMENT against SITE's database.

    A query prints a table (or JSON with --json); a change prints how many rows it affected.
    The tables have SMS's names (PkgStatus, PkgServers, SMSPackages, ...), so the SQL of the
    field reports runs as written. Secondary sites have no database: their status is in their
    parent primary's.
    """
    from sitesrv.db.sitedb import SiteDatabase
    from sitesrv.db.sqlcli import render_result

    lab = open_lab(lab_dir)
    found = lab.hierarchy.site(site)
    if not found.is_primary:
        raise UserError(
            f"Site {found.code} is a secondary site and has no database (SMS 2003 secondaries "
            f"have no SQL Server). Its package status is kept by its parent primary: "
            f"run 'sitesrv sql {found.parent} ...' instead."
        )
    db = SiteDatabase.open(lab.site(found.code).database, whole=False)  # to look, or repair
    try:
        click.echo(render_result(db.execute_user_sql(statement), as_json=as_json), nl=False)
    finally:
        db.close()


@cli.command()
@click.argument("package_id", required=False)
@LAB_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def status(package_id: str | None, lab_dir: Path, as_json: bool) -> None:
    """Each package's state on each DP and site, as the central site's database sees it.

    The DP table is SMS_PackageStatusDistPointsSummarizer (State 0 installed, 1 install
    pending, 2 retrying, 3 failed, 4 removal pending); the site table is PkgStatus Type 1
    (1 SENT, 2 RECEIVED). A Courier parcel record that cannot be read is named on stderr,
    and the command then exits with status 2.
    """
    from sitesrv.admin.status import check_package, render_status, status_rows
    from sitesrv.cli.courier import unread_records

    lab = open_lab(lab_dir)
    rows = status_rows(lab, package_id and package_id.upper())
    if package_id and not any(rows.values()):
        check_package(lab, package_id)
    click.echo(render_status(rows, as_json), nl=False)
    if problem := unread_records(lab):  # what may be on its way by parcel: never unsaid
        raise problem


@cli.command()
@click.argument("package_id")
@LAB_OPTION
def trace(package_id: str, lab_dir: Path) -> None:
    """The package's journey across all sites in time order, from LAB/events.jsonl.

    A Courier parcel record that cannot be read is named on stderr, and the command then
    exits with status 2.
    """
    from sitesrv.admin.status import trace_lines
    from sitesrv.cli.courier import unread_records

    lab = open_lab(lab_dir)
    lines = trace_lines(lab, package_id)
    problem = unread_records(lab)  # a parcel whose record cannot be read: no steps shown
    if not lines:
        raise UserError(f"There are no events for package {package_id.upper()} in {lab_dir}. "
                        "Check the PackageID with 'sitesrv status', and run the site servers "
                        "('sitesrv run') so the package travels."
                        + (f" Besides, {problem}" if problem else ""))
    click.echo("\n".join(lines))
    if problem:
        raise problem


@cli.command()
@LAB_OPTION
@click.option("--hierarchy", "hierarchy_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Build the lab from this file if it does not exist yet "
              "(default: ./hierarchy.yaml if there is one, else sitesrv's default).")
@click.option("--seed", type=int, default=0, show_default=True, help="The step driver's seed.")
@click.pass_context
def demo(ctx: click.Context, lab_dir: Path, hierarchy_file: Path | None, seed: int) -> None:
    """The main job: send a sample package from the central site to a DP at every site.

    Builds the lab if it does not exist, creates the package and advertises its program, runs
    the site servers in step mode until the lab is idle, and prints how the run ended (what
    waits, what failed), the status table, the package's journey and every site's client
    access point. Exits as `sitesrv run --step` does: 0 idle with nothing waiting and no
    problem, 3 something waits or went wrong, 4 the run timed out.
    """
    from sitesrv.admin.demo import advertise_demo_package, cap_lines, create_demo_package
    from sitesrv.admin.hierarchyview import render_hierarchy
    from sitesrv.admin.lab import Lab
    from sitesrv.admin.status import render_status, status_rows, trace_lines
    from sitesrv.lab.layout import BUILDING_MARKER

    if not (lab_dir / "hierarchy.yaml").is_file() or (lab_dir / BUILDING_MARKER).exists():
        source = _hierarchy_source(lab_dir, hierarchy_file)
        if Lab.init(lab_dir, source.path).created:
            click.echo(f"Built lab {lab_dir} from {source}.")
        else:
            click.echo(f"{FINISHED.format(lab=lab_dir)}.")
    lab = open_lab(lab_dir)
    click.echo(render_hierarchy(lab.hierarchy, lab.root), nl=False)
    package_id = create_demo_package(lab)
    advertisement_id = advertise_demo_package(lab, package_id)
    click.echo(f"\nCreated package {package_id} and advertisement {advertisement_id} at "
               f"{lab.hierarchy.central.code}; running the site servers until the lab is idle...")
    report = lab.run_until_idle(seed=seed)
    head = report_head(report, step=True)
    click.echo(f"{head}.")
    for line in report.lines():
        click.echo(f"  {line}")
    click.echo("")
    click.echo(render_status(status_rows(lab, package_id), as_json=False), nl=False)
    click.echo(f"\nJourney of {package_id} (sitesrv trace {package_id}):")
    click.echo("\n".join(trace_lines(lab, package_id)))
    click.echo("\nClient access points (Inbox Manager's copies of pkginfo.box and offerinf.box):")
    click.echo("\n".join(cap_lines(lab)))
    if report.exit_code:
        click.echo(f"sitesrv demo: the run ended {report.status} (exit status "
                   f"{int(report.exit_code)}); the lines below \"{head}.\" above say what "
                   "waits and what went wrong.", err=True)
    ctx.exit(int(report.exit_code))


for command in (package_group, advertisement_group, collection_group, address_group, dp_group,
                pck_group, courier_group, run_command, scenario_group, fault_group):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="sitesrv")

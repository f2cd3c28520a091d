"""The `dumpsend` command: one send request file, or every one a site of a lab holds.

A mistake the user can fix (a missing file, a file that is no send request, a malformed one, a
missing lab or site) prints one paragraph to stderr and exits with status 2, never a
traceback, as the `sitesrv` command does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from dumpsend.outboxes import site_request_files
from dumpsend.report import Dump, by_destination, hop_text, json_object, read_dump, text_lines
from dumpsend.requestfile import SUFFIXES, is_request_name
from dumpsend.waiting import CLAIMED
from sitesrv.errors import UserError

LIST_HINT = "list the send requests a site has now with 'dumpsend --lab LAB --site SITE'"
FIX_HINT = ("Correct it by hand (docs/formats.md describes each record and key), or delete it: "
            "the Scheduler writes a missing send request again when it next checks its job.")


class DumpSendCommand(click.Command):
    """Turns UserError into a one-paragraph message and exit status 2."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except UserError as e:
            click.echo(f"dumpsend: {e}", err=True)
            sys.exit(e.exit_code)


@click.command(cls=DumpSendCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.option("--lab", "lab_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("lab"), show_default=True, help="The lab folder, with --site.")
@click.option("--site", metavar="SITE",
              help="Dump every send request of this site: its outboxes and its requests folder.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of text.")
def dumpsend(file: Path | None, lab_dir: Path, site: str | None, as_json: bool) -> None:
    """Print a send request (FILE, a .srq or .srs) record by record, as the SMS toolkit's
    DumpSend does, to find out why a send waits.

    The Scheduler writes a send request for each hop of a job to
    SITE/SMS/inboxes/schedule.box/outboxes/<sender>/ (or to schedule.box/requests/ when it
    needs routing); the Sender takes it, sends its package and instruction to the destination's
    SMS_SITE share, and renames it .srs with its status filled in. With --lab LAB --site SITE,
    dumpsend says which requests wait for which destination site, then prints every send
    request the site holds, sorted by name. It only reads: the
    Sender of a running lab is never disturbed, and a file that vanishes meanwhile is reported
    as gone.

    The output has DumpSend's records with its labels: SEND REQUEST DATA (priority 1 high,
    2 medium, 3 low; Dest Site; Job; Job request; Preferred Address; Ignore Schedule),
    Sender/scheduler (Sender status SREQ_STATUS_*, times in UTC, bytes, retries), CANCEL,
    ACTION CODE (0 do nothing, 1 retry, 2 delete send request), one ADDRESS per address
    (\\\\<server>\\SMS_SITE), PACKAGE FILE, INSTRUCTION FILE, ROUTING and CONFIRMATION. Each
    shows its Length in bytes in the file. What DumpSend would not parse is marked "not parsed
    by DumpSend". A last block, WHY IT WAITS, says what the records mean: where the request is,
    what happens next and which log tells more.

    Exit status: 0 when every file was dumped (or had gone), 2 for a user error: no such file,
    not a send request, a malformed one (the line at fault is named), no such lab or site.
    docs/dumpsend.md has an example and every field.
    """
    if file is not None and site is not None:
        raise UserError("Pass either FILE or --site, not both: FILE dumps one send request, "
                        "--lab LAB --site SITE every one of a site.")
    if file is not None:
        _echo_one(_dump_file(file), as_json)
    elif site is not None:
        _dump_site(lab_dir, site, as_json)
    else:
        raise UserError("Say what to dump: a send request FILE (.srq or .srs), or --lab LAB "
                        "--site SITE for every send request of a site. 'dumpsend --help' says "
                        "more.")


def _dump_file(path: Path) -> Dump:
    """The one file asked for; anything but a dumped request is a UserError."""
    if not is_request_name(path.name) and not path.is_dir():
        raise UserError(f"{path} is not a send request file: send requests end in .srq or "
                        f".srs. Pass one of those, or {LIST_HINT}.")
    dump = read_dump(path)
    if dump.gone:
        raise UserError(f"There is no file {path}. A send request lives only while its job is "
                        "under way: the Sender renames .srq to .srs when an attempt ends, and "
                        f"the Scheduler deletes it when the job is done. {_moved(path)}"
                        f"You can {LIST_HINT}.")
    if dump.problem:
        advice = FIX_HINT if dump.malformed else f"Pass a .srq or .srs file, or {LIST_HINT}."
        raise UserError(f"{path}: {dump.problem}. {advice}")
    return dump


def _moved(path: Path) -> str:
    """Where the same request is now, if the Sender or the Scheduler just moved it."""
    folder = path.parent.parent if path.parent.name == CLAIMED else path.parent
    for place in (folder, folder / CLAIMED):
        for suffix in SUFFIXES:
            candidate = place / (path.stem + suffix)
            if candidate != path and candidate.is_file():
                return f"It is now {candidate}: dump that. "
    return ""


def _dump_site(lab: Path, site: str, as_json: bool) -> None:
    """Every request of the site, what each destination has queued first; unreadable files
    are reported in place and make the exit status 2 once the rest are dumped."""
    paths = site_request_files(lab, site)
    dumps = [read_dump(path) for path in paths]
    destinations = by_destination(dumps)
    if as_json:
        click.echo(json.dumps({"lab": str(lab), "site": site.upper(),
                               "by_destination": {dest: [f.path.name for f in queued]
                                                  for dest, queued in destinations.items()},
                               "requests": [json_object(d) for d in dumps]}, indent=2))
    elif not dumps:
        click.echo(f"Site {site.upper()} holds no send requests: nothing waits to be sent.")
    else:
        click.echo(f"Site {site.upper()} holds {len(dumps)} send request file(s).")
        for dest, queued in destinations.items():
            click.echo(f"For {dest}: {', '.join(hop_text(f) for f in queued)}")
        for dump in dumps:
            click.echo("\n" + "\n".join(text_lines(dump)))
    bad = [d for d in dumps if d.problem]
    if bad:
        names = ", ".join(str(d.path) for d in bad)
        raise UserError(f"{len(bad)} of {len(dumps)} send request file(s) could not be read: "
                        f"{names} (the reason is printed with each). {FIX_HINT}")


def _echo_one(dump: Dump, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(json_object(dump), indent=2))
    else:
        click.echo("\n".join(text_lines(dump)))


def main() -> None:
    dumpsend(prog_name="dumpsend")

"""Commands on a site database that another program holds, or that lacks part of its schema:
exit status 2 and what to do, never a traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sitesrv.testing import query, write_source
from tests.conftest import DEFAULT_HIERARCHY
from tests.foundation.test_lab_and_cli import init_lab, run


@pytest.mark.usefixtures("short_busy_timeout")
@pytest.mark.parametrize("command", [
    ("package", "update", "ZZZ00001"),
    ("package", "create", "ZZZ", "--name", "Second", "--source", "{source}"),
    ("package", "delete", "ZZZ00001"),
    ("collection", "create", "ZZZ", "--name", "Desktops"),
    ("init", "--hierarchy", str(DEFAULT_HIERARCHY)),
], ids=lambda command: " ".join(command[:2]))
def test_a_command_that_finds_the_site_database_held_says_try_again(
        tmp_path: Path, command: tuple[str, ...]) -> None:
    """Another program holds ZZZ's database (a sqlite3 session in BEGIN EXCLUSIVE) for longer
    than the busy timeout: exit status 2 and what to do, as `sitesrv sql` says it, no
    traceback; once it lets go, the same command works."""
    lab = init_lab(tmp_path)
    source = write_source(tmp_path / "source")
    code, out, err = run("package", "create", "ZZZ", "--name", "First", "--source", str(source),
                         "--dp", "ZZZ:MGMT01", "--lab", str(lab))
    assert (code, out) == (0, "ZZZ00001\n"), err
    args = [arg.format(source=source) for arg in command]
    holder = sqlite3.connect(lab / "ZZZ" / "SMS" / "site.db", isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        code, out, err = run(*args, "--lab", str(lab))
    finally:
        holder.close()

    assert code == 2, out + err
    assert err == ("sitesrv: The site database is busy: database is locked (another process "
                   "held the site database for more than 0.01 s; try again; a sqlite3 or "
                   "'sitesrv sql' session with an open transaction, a backup or a site "
                   "server's long unit holds it).\n")
    assert query(lab, "ZZZ", "SELECT PkgID FROM SMSPackages") == [("ZZZ00001",)]
    code, out, err = run(*args, "--lab", str(lab))
    assert code == 0, out + err


def test_status_of_a_database_that_lacks_the_summarizer_view_says_to_run_init(
        tmp_path: Path) -> None:
    """`sitesrv sql ZZZ "DROP VIEW SMS_PackageStatusDistPointsSummarizer"`, then `status`:
    exit status 2 naming the view and init, no traceback; `init` makes the view again."""
    lab = init_lab(tmp_path)
    code, out, err = run("sql", "ZZZ", "DROP VIEW SMS_PackageStatusDistPointsSummarizer",
                         "--lab", str(lab))
    assert code == 0, out + err

    code, out, err = run("status", "--lab", str(lab))

    assert code == 2, out + err
    assert err.startswith(f"sitesrv: The site database {lab / 'ZZZ' / 'SMS' / 'site.db'} lacks "
                          "the view SMS_PackageStatusDistPointsSummarizer of sitesrv's schema")
    assert "run 'sitesrv init' on its lab (with --lab)" in err
    code, out, err = run("init", "--lab", str(lab), "--hierarchy", str(DEFAULT_HIERARCHY))
    assert code == 0, out + err
    code, out, err = run("status", "--lab", str(lab))
    assert code == 0, out + err

"""A site's own folders and files planted as links, files or folders: `SMS\\Logs`, `SMS\\state`
(the lab clock, the run counter, the server lock), `SMS\\site.db`, a log's rollover name.

Followed, a link has the site server write its logs, its state or its database outside the
lab. `Logs` and `state` are moved aside at start-up and made anew, as inboxes are, with a line
in each of the site's logs; a site database cannot be moved aside without losing the site's
data, so every run and command refuses it (exit status 2) and says what to do. A folder in the
way of a log's rollover is moved aside; log lines that cannot be written all the same are said
on stderr and make the run end `waiting` (exit status 3), never lost in silence.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitesrv.admin.lab import Lab, default_hierarchy_file
from sitesrv.cli.main import cli
from sitesrv.errors import UserError
from sitesrv.logs.appendfile import AppendFile
from sitesrv.runtime.idle import ExitCode
from sitesrv.runtime.lock import LOCK_FILE
from sitesrv.testing import LabFactory, events, log_messages

from .conftest import Outside, assert_ended, create_good_package, run

SITE_LOGS = {"ZZZ": ("distmgr.log", "despool.log", "replmgr.log", "sched.log", "sender.log"),
             "P00": ("distmgr.log", "despool.log", "replmgr.log", "sched.log", "sender.log")}


def _plant(lab: Lab, outside: Outside, site: str, folder: str, planted: str) -> Path:
    """Replace `<site>\\SMS\\<folder>` by a link to a folder outside the lab (which holds a
    sentinel) or by a file."""
    path = lab.site(site).sms / folder
    shutil.rmtree(path)
    if planted == "a symbolic link":
        outside.add(f"{folder}/sentinel.txt")
        os.symlink(outside.root / folder, path)
    else:
        path.write_bytes(b"not a folder\n")
    return path


@pytest.mark.parametrize(("site", "folder", "planted"), [
    ("P00", "Logs", "a symbolic link"),
    ("ZZZ", "Logs", "a file"),
    ("ZZZ", "state", "a symbolic link"),
    ("P00", "state", "a file"),
])
def test_a_logs_or_state_folder_planted_as_a_link_or_a_file_is_moved_aside_at_start_up(
        lab: Lab, outside: Outside, site: str, folder: str, planted: str) -> None:
    """Linked, the logs (and the lab clock, the run counter and the server lock in `state`)
    were written outside the lab; a file gave a traceback. Each log of the site now starts
    with the line saying what was moved aside."""
    path = _plant(lab, outside, site, folder, planted)
    outside.seal()

    report = run(lab)

    assert_ended(report)
    assert report.problems == ()
    outside.assert_untouched()
    assert path.is_dir() and not path.is_symlink()
    layout = lab.site(site)
    aside = path.with_name(f".{folder}.refused")
    assert os.path.islink(aside) == (planted == "a symbolic link")
    line = (f"Moved {layout.windows(path)} aside to {layout.windows(aside)}: it was {planted}, "
            "not a folder, and sitesrv never writes through one")
    for log in SITE_LOGS[site]:
        assert log_messages(lab, site, log)[0] == line, f"{site}'s {log} does not say it first"
    assert [e["to"] for e in events(lab, "refused_folder", site=site)] == [layout.windows(aside)]
    if folder == "state":
        assert sorted(p.name for p in path.iterdir()) == ["lab-clock", "lab-runs"]  # no lock


def test_a_link_planted_as_the_server_lock_is_moved_aside_and_never_read(
        lab: Lab, outside: Outside) -> None:
    """Read through, a link to a file naming a running process (this one) kept the site from
    starting ("already running"); a link to a FIFO would have hung the start."""
    holder = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": "2026-01-01T00:00:00Z", "token": "0" * 16}
    target = outside.add("held.lock", json.dumps(holder).encode())
    lock = lab.site("ZZZ").state_dir / LOCK_FILE
    os.symlink(target, lock)
    outside.seal()

    report = run(lab)

    assert_ended(report)
    outside.assert_untouched()
    assert os.path.islink(lock.with_name(f"{LOCK_FILE}.refused"))
    assert not os.path.lexists(lock)


def _database_planted(lab: Lab, tmp_path: Path, planted: str) -> tuple[Path, Path]:
    """P00's site database replaced as `planted`; returns it and the file outside the lab that
    would be written through."""
    database = lab.site("P00").database
    away = tmp_path / "outside" / "site.db"
    away.parent.mkdir(parents=True, exist_ok=True)
    if planted == "a symbolic link":
        shutil.move(database, away)
        os.symlink(away, database)
    elif planted == "a hard link":
        os.link(database, away)
    else:  # SQLite's write-ahead log beside it, a link to a file it would create outside
        os.symlink(away.with_name("site.db-wal"), Path(f"{database}-wal"))
        away = away.with_name("site.db-wal")
    return database, away


@pytest.mark.parametrize("planted", ["a symbolic link", "a hard link", "a linked -wal"])
def test_a_site_database_planted_as_a_link_is_refused_by_a_run_and_a_command(
        lab: Lab, tmp_path: Path, planted: str) -> None:
    """A run and `sitesrv collection create` wrote into the database the link stood for. It
    cannot be moved aside without losing the site's data: both refuse it, saying what to do."""
    create_good_package(lab, tmp_path)
    database, away = _database_planted(lab, tmp_path, planted)
    before = (away.read_bytes(), away.stat().st_mtime_ns) if away.exists() else None

    with pytest.raises(UserError) as refused:
        run(lab)
    result = CliRunner().invoke(cli, ["collection", "create", "P00", "--name", "All",
                                      "--lab", str(lab.root)])

    message = str(refused.value)
    assert message.startswith(f"The site database {database} ")
    assert {"a symbolic link": " is a symbolic link, not a file of the site's own",
            "a hard link": " is a file with 2 names (a hard link), not a file of the site's own",
            "a linked -wal": "-wal beside it is a symbolic link"}[planted] in message
    assert "sitesrv init" in message or "Delete" in message
    assert result.exit_code == 2, result.output  # a UserError
    assert "never writes a site database through one" in result.output
    after = (away.read_bytes(), away.stat().st_mtime_ns) if away.exists() else None
    assert after == before, f"{away} was written through the {planted}"
    assert not (lab.site("P00").state_dir / LOCK_FILE).exists()


def test_a_folder_in_the_way_of_a_log_rollover_is_moved_aside_and_no_line_is_lost(
        sitesrv_lab_factory: LabFactory, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """Logs capped at 1024 bytes and a folder at `distmgr.lo_`: each unit's lines were lost
    (`Is a directory`) with exit status 0, and the next run ended in a traceback."""
    text = default_hierarchy_file().read_text(encoding="utf-8") + "\nlogs:\n  max_size: 1024\n"
    lab = sitesrv_lab_factory(text)
    logs = lab.site("ZZZ").logs
    (logs / "distmgr.lo_").mkdir()
    (logs / "distmgr.lo_" / "kept.txt").write_bytes(b"kept\n")
    create_good_package(lab, tmp_path)

    with caplog.at_level(logging.WARNING):
        report = run(lab)

    assert_ended(report)
    assert report.problems == ()
    assert (logs / "distmgr.lo_").is_file()
    assert (logs / "distmgr.lo_.refused" / "kept.txt").read_bytes() == b"kept\n"
    assert [m for m in caplog.messages if m.endswith(
        "distmgr.lo_ was a folder, in the way of the rollover: moved it aside to "
        "distmgr.lo_.refused")]
    assert not [m for m in caplog.messages if "could not write" in m]
    assert run(lab).problems == ()  # and the next run starts


def test_log_lines_that_cannot_be_written_are_said_and_end_the_run_waiting(
        lab: Lab, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A disk that takes no more of distmgr.log (simulated: the append fails with ENOSPC): the
    first line, written at start-up, raised out of the run (a traceback), and a unit's lines
    were lost with exit status 0. Now each site says so once on stderr and the run ends
    waiting, the lost lines a problem."""
    put = AppendFile._put

    def full(self: AppendFile, lines: list[bytes]) -> None:
        if self.path.name == "distmgr.log" and lines:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        put(self, lines)

    monkeypatch.setattr(AppendFile, "_put", full)

    with caplog.at_level(logging.WARNING):
        report = run(lab)

    assert report.status == "waiting" and report.exit_code == ExitCode.WAITING
    lost = [str(p) for p in report.problems]
    managers = [f"{site} SMS_DISTRIBUTION_MANAGER" for site in ("P00", "S01", "ZZZ")]
    assert [p.split(": ", 1)[0] for p in lost] == managers
    for problem in lost:
        site = problem[:3]
        assert f" log line(s) could not be written to distmgr.log (OSError: [Errno 28] No space " \
               f"left on device: '{site}/SMS/Logs/distmgr.log')" in problem
    said = [m for m in caplog.messages if "could not write" in m]
    assert [m.split(":", 1)[0] for m in said] == managers


def test_a_lab_reached_through_a_link_of_its_owner_is_run_where_it_is(
        lab: Lab, tmp_path: Path) -> None:
    """A person may keep the lab elsewhere and link to it: only the sites' own folders are
    made real, never the lab's root (events.jsonl is written in it)."""
    create_good_package(lab, tmp_path)
    linked = tmp_path / "linked-lab"
    os.symlink(lab.root, linked)

    report = Lab.open(linked).run_until_idle(seed=1)

    assert_ended(report)
    assert linked.is_symlink() and not (tmp_path / ".linked-lab.refused").exists()
    assert events(lab, "package_compressed")

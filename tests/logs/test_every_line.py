"""Every line the logs of a lab hold reads as a site server's (issue 14's "Done when").

The lines come from the demo, from each acceptance scenario (`sitesrv scenario list`, one seed)
and from one lab that meets every fault `sitesrv fault` can inject, one play after another.
Each is checked for: no POSIX path, no Python exception name, traceback or POSIX error text,
lab times that never go backwards within a log, no random name drawn twice in a lab, and a
reading by Trace32- and CMTrace-style viewers (tests/logs/viewers.py).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from sitesrv.admin import console
from sitesrv.admin.demo import advertise_demo_package, create_demo_package
from sitesrv.admin.lab import Lab, default_hierarchy_file
from sitesrv.admin.scenarios import SCENARIOS, play
from sitesrv.db.sitedb import SiteDatabase
from sitesrv.testing import build_lab, corrupt, delete_compressed, set_link, write_source
from tests.logs.viewers import cmtrace, trace32

pytestmark = pytest.mark.slow
SEED = 1
ALL_DPS = ["ZZZ:MGMT01", "P00:REMOTE_DP", "S01:SEC01"]


@attrs.frozen
class FaultPlay:
    """One fault, what makes the lab meet it, and what lifts it again (may leave it stuck)."""

    name: str
    play: Callable[[Lab, str, Path], None]


def _run(lab: Lab, **options: object) -> None:
    assert lab.run_until_idle(seed=SEED, **options).status in ("idle", "waiting")


def _new_version(source: Path, lab: Lab, pkg_id: str, tag: str) -> None:
    (source / "SETUP.INI").write_bytes(f"[Setup]\r\nProgram=SETUP.EXE /q /{tag}\r\n".encode())
    console.update_package(lab, pkg_id)


def _resend(lab: Lab, pkg_id: str, site: str, server: str, dp: str) -> None:
    """The delta-stuck report's repair: the parent forgets the child's copy, then a refresh."""
    parent = lab.hierarchy.site(site).parent
    assert parent is not None
    with SiteDatabase.open(lab.site(parent).database) as db:
        db.execute_user_sql(f"UPDATE PkgStatus SET Status = 2, SourceVersion = 0 WHERE "
                            f"(ID = '{pkg_id}') AND (Type = 1) AND (PkgServer = '{server}')")
    console.refresh_dp(lab, pkg_id, dp, at=parent)
    _run(lab)


def _deleted_pck(lab: Lab, pkg_id: str, source: Path) -> None:
    delete_compressed(lab, "P00", pkg_id)
    _new_version(source, lab, pkg_id, "deleted")
    _run(lab)
    _resend(lab, pkg_id, "P00", "MGMT03", "P00:REMOTE_DP")


def _flipped_at_rest(lab: Lab, pkg_id: str, source: Path) -> None:
    corrupt(lab, "ZZZ", pkg_id, how="flip")
    console.refresh_dp(lab, pkg_id, "ZZZ:MGMT01")
    _run(lab)
    _new_version(source, lab, pkg_id, "flipped")
    _run(lab)


def _truncated_at_rest(lab: Lab, pkg_id: str, source: Path) -> None:
    corrupt(lab, "S01", pkg_id, how="truncate")
    console.refresh_dp(lab, pkg_id, "S01:SEC01", at="P00")
    _run(lab)
    _new_version(source, lab, pkg_id, "truncated")
    _run(lab)
    _resend(lab, pkg_id, "S01", "SEC01", "S01:SEC01")


def _in_transit(how: str) -> Callable[[Lab, str, Path], None]:
    def play(lab: Lab, pkg_id: str, source: Path) -> None:
        _new_version(source, lab, pkg_id, f"transit-{how}")
        _run(lab, sites=["ZZZ"])
        corrupt(lab, "P00", pkg_id, how=how, in_transit=True)
        _run(lab)
        _resend(lab, pkg_id, "P00", "MGMT03", "P00:REMOTE_DP")
    return play


def _link_down_and_up(lab: Lab, pkg_id: str, source: Path) -> None:
    set_link(lab, "P00", "S01", up=False)
    _new_version(source, lab, pkg_id, "link")
    _run(lab)
    set_link(lab, "P00", "S01", up=True)
    _run(lab)


def _source_gone(lab: Lab, pkg_id: str, source: Path) -> None:
    """Not a `sitesrv fault`, but the issue's example: the source folder is gone."""
    aside = source.with_name(source.name + "-aside")
    source.rename(aside)
    console.update_package(lab, pkg_id)
    _run(lab)
    aside.rename(source)
    console.update_package(lab, pkg_id)
    _run(lab)


# Append new faults here: each plays on the lab the earlier ones left.
FAULT_PLAYS = (
    FaultPlay("delete-pck at the child primary, then a delta", _deleted_pck),
    FaultPlay("corrupt --how flip at rest at the central site, then a refresh", _flipped_at_rest),
    FaultPlay("corrupt --how truncate at rest at the secondary, then a refresh", _truncated_at_rest),
    FaultPlay("corrupt --in-transit --how truncate", _in_transit("truncate")),
    FaultPlay("corrupt --in-transit --how flip", _in_transit("flip")),
    FaultPlay("link-down and link-up", _link_down_and_up),
    FaultPlay("the package source folder gone", _source_gone),
)


@attrs.frozen
class LogFile:
    lab: Path
    path: Path
    text: str


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The demo's lab (run twice, as `make demo` twice would), every scenario's, and the
    fault lab's."""
    root = tmp_path_factory.mktemp("every-line")
    demo = build_lab(root / "demo" / "lab")
    for _ in range(2):
        package_id = create_demo_package(demo)
        advertise_demo_package(demo, package_id)
        _run(demo)
    found = [demo.root]
    for name, scenario in SCENARIOS.items():
        play(scenario, root / "scenarios" / name, default_hierarchy_file(), seed=SEED)
        found.append(root / "scenarios" / name / "lab")
    faults = build_lab(root / "faults" / "lab")
    source = write_source(root / "faults" / "source")
    pkg_id = console.create_package(faults, "ZZZ", name="Fault Package", source=source,
                                    dps=ALL_DPS)
    _run(faults)
    for fault in FAULT_PLAYS:
        fault.play(faults, pkg_id, source)
    found.append(faults.root)
    return found


def _log_files(lab: Path) -> Iterator[LogFile]:
    for path in sorted(lab.rglob("*")):
        if path.suffix.lower() in (".log", ".lo_") and path.is_file():
            yield LogFile(lab, path, path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def logs(labs: list[Path]) -> list[LogFile]:
    files = [f for lab in labs for f in _log_files(lab)]
    assert len(files) > 8 * len(labs), "every lab's site servers logged"
    return files


def _where(log: LogFile) -> str:
    return f"{log.lab.parent.name}: {log.path.relative_to(log.lab)}"


def _bad_lines(logs: list[LogFile], pattern: re.Pattern[str]) -> list[str]:
    return [f"{_where(log)}: {line}" for log in logs for line in log.text.splitlines()
            if pattern.search(line.partition("  $$<")[0])]


def _posix(labs: list[Path]) -> re.Pattern[str]:
    """A local path: one of the labs' folders, the temporary folder, or a POSIX root."""
    roots = {re.escape(str(p)) for lab in labs for p in (lab, lab.resolve(), lab.parent)}
    roots |= {re.escape(str(Path(os.environ.get("TMPDIR", "/tmp")).resolve()))}
    return re.compile("|".join(sorted(roots)) + r"|(?:^|[\s\"'(\[=])/(?:home|tmp|var|usr|root|"
                      r"etc|opt|srv|mnt|proc|dev|run|private|Users)\b")


def posix_paths(logs: list[LogFile], labs: list[Path]) -> list[str]:
    return _bad_lines(logs, _posix(labs))


def test_no_posix_path_in_any_line(logs: list[LogFile], labs: list[Path]) -> None:
    assert posix_paths(logs, labs) == []


def test_no_posix_path_in_any_site_database(labs: list[Path]) -> None:
    """The tables too (SMSPackages.Source, the status messages' strings, ...)."""
    posix, found = _posix(labs), []
    for database in (db for lab in labs for db in sorted(lab.glob("*/SMS/site.db"))):
        with contextlib.closing(sqlite3.connect(database)) as db:
            tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = "
                                               "'table'")]
            for table in tables:
                found += [f"{database}: {table}: {value}"
                          for row in db.execute(f"SELECT * FROM {table}")
                          for value in row if isinstance(value, str) and posix.search(value)]
    assert found == []


PYTHON_TEXTS = [r"Traceback \(most recent call last\)", r'File "[^"]*", line \d+',
                r"\b[A-Z][A-Za-z0-9]*(?:Error|Exception|Warning)\b", r"\berrno\b",
                r"\[Errno \d+\]", r"\bzstd\b", r"\bNone\b", r"\b(?:True|False)\b"]
POSIX_ERRORS = [os.strerror(code) for code in (
    errno.ENOENT, errno.EACCES, errno.EPERM, errno.EEXIST, errno.ENOTDIR, errno.EISDIR,
    errno.ENOTEMPTY, errno.ENOSPC, errno.EROFS, errno.EBUSY, errno.EINVAL, errno.EIO,
    errno.ELOOP, errno.ENAMETOOLONG)]


def python_texts(logs: list[LogFile]) -> list[str]:
    texts = re.compile("|".join(PYTHON_TEXTS + [re.escape(t) for t in POSIX_ERRORS]))
    return _bad_lines(logs, texts)


def test_no_python_exception_name_traceback_or_posix_error_text(logs: list[LogFile]) -> None:
    assert python_texts(logs) == []


def test_lab_time_never_goes_backwards_within_a_log(logs: list[LogFile]) -> None:
    backwards = []
    for log in logs:
        entries = trace32(log.text)
        for before, after in zip(entries, entries[1:], strict=False):
            if after.local_time < before.local_time:
                backwards.append(f"{_where(log)}: {before.local_time} then {after.local_time}: "
                                 f"{after.text}")
    assert backwards == []


# Lines that draw a random name, and the name they draw: Distribution Manager's compression
# and decompression folders, Replication Manager's objects queued for a site and the files it
# unpacks (`<random8>.<ext>`).
DRAWS = (
    re.compile(r"^(?:Starting to compress .* to|Decompressing package .* to) .*\\(_S \w{5}\.TMP)"),
    re.compile(r"^Queued .*\\[A-Z0-9]{3}_([A-Z0-9]{8})\.\w+ for site"),
    re.compile(r"^~?Replicated \S+ from site \w+ to .*\\([A-Z0-9]{8})\.\w+$"),
)


def repeated_names(logs: list[LogFile], labs: list[Path]) -> dict[str, list[str]]:
    """For each lab, the random names drawn more than once."""
    repeated = {}
    for lab in labs:
        drawn: Counter[str] = Counter()
        for log in (f for f in logs if f.lab == lab):
            for entry in trace32(log.text):
                for draw in DRAWS:
                    m = draw.search(entry.text)
                    if m:
                        drawn[m[1].upper()] += 1
        repeated[lab.parent.name] = sorted(n for n, count in drawn.items() if count > 1)
    return repeated


def test_no_random_name_is_drawn_twice_in_a_lab(logs: list[LogFile], labs: list[Path]) -> None:
    assert repeated_names(logs, labs) == {lab.parent.name: [] for lab in labs}


def test_every_line_reads_in_trace32_and_cmtrace(logs: list[LogFile]) -> None:
    for log in logs:
        t32, cm = trace32(log.text), cmtrace(log.text)
        assert len(t32) == len(cm) > 0, _where(log)
        assert [e.text.strip() for e in t32] == [e.text for e in cm], _where(log)


def test_the_fault_lab_met_every_fault(labs: list[Path]) -> None:
    """The plays did break the lab: the lines SMS logs for each fault are there."""
    faults = labs[-1]
    text = "".join(f.text for f in _log_files(faults))
    for line in ("CCompress::Open: Failed to open F:\\SMSPKG\\",
                 "Moved the corrupt file E:\\SMS\\inboxes\\despoolr.box\\receive\\",
                 "doesn't exist or the SMS service cannot access it",
                 "Cannot decompress package F:\\SMSPKG\\", "STATMSG: ID=2321 SEV=E"):
        assert line in text

"""Helpers for tests that run against a sitesrv lab: build one (or one stuck as a field report
says, or one restored from a snapshot), make the console's package changes and inject faults,
put files into its inboxes as another site server would, read what it wrote (SMS logs, events,
site databases, folders), and run it live while a test waits for results.

A public API for lab engineers who test their own tools against a lab; the pytest plugin's
fixtures (`sitesrv_lab`, `sitesrv_lab_factory`, `sitesrv_stuck_lab`) are built on it, and sitesrv's own suite uses
the same helpers. Functions that read a lab take the `Lab` or the folder of one; the console's
actions and the faults, which change it, take the `Lab` (`Lab.open(folder)` gives it).
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from sitesrv.admin.console import (
    add_dp,
    create_package,
    delete_package,
    refresh_dp,
    remove_dp,
    set_source,
    update_package,
)
from sitesrv.admin.demo import write_files
from sitesrv.admin.faults import (
    corrupt,
    delete_compressed,
    deny_dp_folders,
    fill_disk,
    free_disk,
    kill_server,
    lock_files,
    normal_link,
    set_link,
    slow_link,
    unlock_files,
)
from sitesrv.admin.lab import KEEP_FILE, Lab, default_hierarchy_file
from sitesrv.admin.scenarios import play, scenario
from sitesrv.admin.snapshot import restore, snapshot
from sitesrv.db.sitedb import SiteDatabase
from sitesrv.files.digest import tree_digest
from sitesrv.lab.layout import BUILDING_MARKER, EVENTS_FILE, HIERARCHY_COPY
from sitesrv.logs.events import read_events
from sitesrv.logs.smslog import LogLine, read_log_history

if TYPE_CHECKING:
    from sitesrv.runtime.live import LiveDriver
    from sitesrv.runtime.registry import Registry

__all__ = [  # the console's package actions and the faults are here too, as a test makes them
    "HierarchySource",
    "LabFactory",
    "LabLike",
    "StuckLabFactory",
    "add_dp",
    "assert_in_order",
    "build_lab",
    "corrupt",
    "create_package",
    "default_hierarchy_file",
    "delete_compressed",
    "delete_package",
    "deny_dp_folders",
    "drop",
    "events",
    "files",
    "fill_disk",
    "free_disk",
    "free_files",
    "inbox",
    "kill_server",
    "lock_files",
    "log_lines",
    "log_messages",
    "normal_link",
    "query",
    "refresh_dp",
    "remove_dp",
    "restore",
    "running",
    "set_link",
    "set_source",
    "slow_link",
    "snapshot",
    "stuck_lab",
    "tree_digest",
    "unlock_files",
    "update_package",
    "wait_for",
    "write_source",
]

# A lab, or the folder of one.
LabLike = Lab | str | os.PathLike[str]
# What a lab is built from: None (the packaged default hierarchy), a hierarchy file, YAML text,
# or the parsed form of that text.
HierarchySource = str | os.PathLike[str] | Mapping[str, Any] | None


class LabFactory(Protocol):
    """The `sitesrv_lab_factory` fixture: a new lab below the test's temporary folder."""

    def __call__(self, hierarchy: HierarchySource = None, *, name: str = "lab") -> Lab: ...


class StuckLabFactory(Protocol):
    """The `sitesrv_stuck_lab` fixture: a lab stuck as a field report says."""

    def __call__(self, name: str, *, seed: int = 1, hotfix: bool = False,
                 into: str = "") -> Lab: ...


# --- building -------------------------------------------------------------------------------

def build_lab(root: Path | str, hierarchy: HierarchySource = None) -> Lab:
    """A new lab at `root`, as `sitesrv init` builds it.

    `hierarchy` is None (the packaged default, KB936465's three tiers), a path to a hierarchy
    file (used where it is), YAML text, or a dict of that YAML. Text and dicts are saved as
    `<root>-hierarchy.yaml` beside the lab first, so a HierarchyError names a file you can open.

    Raises FileExistsError if `root` exists and is not empty (a test needs a lab made from its
    own hierarchy, not one left by an earlier build: open that with `Lab.open`);
    FileNotFoundError for a one-line string that is neither YAML of a mapping nor the name of a
    file (a string naming a file is taken as its path); HierarchyError (a UserError) for a
    hierarchy sitesrv refuses.
    """
    root = Path(root)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(f"{root} already exists and is not empty: build_lab makes a new "
                              "lab. Pick another folder, or open the existing lab with Lab.open.")
    return Lab.init(root, _hierarchy_file(root, hierarchy)).lab


def _hierarchy_file(root: Path, hierarchy: HierarchySource) -> Path:
    if hierarchy is None:
        return default_hierarchy_file()
    if isinstance(hierarchy, os.PathLike):
        return Path(hierarchy)
    if isinstance(hierarchy, Mapping):
        text = yaml.safe_dump(dict(hierarchy), sort_keys=False)
    elif isinstance(hierarchy, str):
        text = hierarchy
        if "\n" not in text.strip() and not _is_mapping(text):
            # One line that is no YAML mapping: the name of a hierarchy file.
            if not Path(text).is_file():
                raise FileNotFoundError(f"{text!r} is neither a hierarchy file nor YAML text "
                                        "of one")
            return Path(text)
    else:
        raise TypeError(f"a hierarchy is None, a path, YAML text or a dict, not "
                        f"{type(hierarchy).__name__}")
    path = root.with_name(f"{root.name}-{HIERARCHY_COPY}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _is_mapping(text: str) -> bool:
    try:
        return isinstance(yaml.safe_load(text), Mapping)
    except yaml.YAMLError:
        return False


FREE_FILES = {"file_notice": 0, "instruction_cost": 0}


def free_files(hierarchy_text: str) -> str:
    """The hierarchy with its components taking files at no cost in lab time (docs/runtime.md,
    "Work takes lab time"), for a test that pins a component's own timers to the millisecond
    (a retry 5 s after a failure): only timers, latencies and rate limits move its clock."""
    document = yaml.safe_load(hierarchy_text)
    document.setdefault("timing", {}).update(FREE_FILES)
    return yaml.safe_dump(document, sort_keys=False)


def write_source(folder: Path | str, files: Mapping[str, bytes] | None = None) -> Path:
    """A package source folder to create a package from; returns `folder`.

    `files` maps relative paths (`DATA/PAYLOAD.BIN`) to their bytes. By default a small text
    file and a 200,000-byte binary in a sub-folder, the same bytes every time, so that tests
    that compare two runs compare equal inputs.
    """
    if files is None:
        files = {"SETUP.INI": b"[Setup]\r\n",
                 "DATA/PAYLOAD.BIN": random.Random(1).randbytes(200_000)}
    return write_files(Path(folder), files)


def stuck_lab(name: str, folder: Path | str, *, seed: int = 1, hotfix: bool = False) -> Lab:
    """A lab stuck as the field report `name` says (`sitesrv scenario list`), played in the new
    folder `folder` (the lab is `folder/lab`, its package source `folder/source`): the same lab
    `sitesrv scenario run NAME --keep` leaves. Raises ValueError if this seed does not get it
    stuck (a race may not): `sitesrv scenario run NAME --seeds 1-20` shows which do."""
    outcome = play(scenario(name), Path(folder), default_hierarchy_file(), seed=seed,
                   hotfix=hotfix, keep=True)
    if not outcome.can_get_stuck:
        raise ValueError(f"scenario {name} ends well ({outcome.ends_well}): it never gets "
                         "stuck")
    if not outcome.showed_symptom:
        raise ValueError(f"scenario {name} with seed {seed} did not get stuck; pick a seed that "
                         f"does ('sitesrv scenario run {name} --seeds 1-20' shows them)")
    return Lab.open(Path(folder) / "lab")


# --- putting files in -----------------------------------------------------------------------

def inbox(lab: LabLike, site: str, box: str) -> Path:
    """The folder of one of a site's inboxes, from its SMS name in any letter case, as Windows
    finds it (`DISTMGR.BOX\\incoming` is the folder `distmgr.box/INCOMING`); `sitesrv.lab.boxes`
    names them all. Raises UserError for a site the lab does not have, or an inbox the site
    has not (naming the inboxes it has)."""
    return _lab(lab).site(site).inbox_named(box)


def drop(folder: Path | str, name: str, data: bytes) -> Path:
    """Put a file into `folder` as a well-behaved producer (another site server) does: written
    under a dot-file temp name, then renamed, so no reader ever sees half of it. Returns the
    file. Raises FileNotFoundError if the folder does not exist: a real share must exist too.

    Drop between step runs (the next run's start lists every inbox) or while a live run
    watches the folder; a step run's own components hand files over with `ctx.publish`, which
    announces them, and an inbox takes an unannounced file only at its next listing."""
    target = Path(folder) / name
    tmp = target.with_name(f".{name}.test.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


# --- reading what the lab wrote -------------------------------------------------------------

def files(folder: Path | str, pattern: str = "*") -> list[str]:
    """Sorted names of the regular files directly in `folder` that match `pattern`, temp and
    other dot-files included (a leftover is worth seeing), the template's `.keep` placeholders
    and sub-folders (`.work`, `corrupt`) not. A folder that does not exist has no files."""
    return sorted(p.name for p in Path(folder).glob(pattern)
                  if p.is_file() and p.name != KEEP_FILE)


def log_lines(lab: LabLike, site: str, log: str) -> list[LogLine]:
    """The lines of a site's component log (`distmgr.log`), parsed: text, component, timestamp;
    those of its `distmgr.lo_` first, if the log rolled over at its maximum size.

    A message with embedded newlines (as SMS writes multi-line messages) is one line whose text
    has them, and its CRs: `a\\r\\nb` reads back as written. A log not written yet has no
    lines. Raises ValueError if the log ends in text with no `$$<component><time><thread>`
    trailer: not a complete SMS log line, and an OSError for a link or FIFO under its name.
    """
    return read_log_history(_lab(lab).site(site).log(log))


def log_messages(lab: LabLike, site: str, log: str) -> list[str]:
    """The message of each line of a site's component log, without the `$$<...>` trailer, as
    a person reads them; see `log_lines` for the rest of each line."""
    return [line.text for line in log_lines(lab, site, log)]


def assert_in_order(messages: list[str], expected: Iterable[str]) -> None:
    """Assert that each expected message is one of `messages`, whole and in this order; other
    messages may come between. The failure names the first one missing and shows the nearest
    lines: where the search stood, the most similar messages, and an earlier occurrence."""
    position = 0
    for found, want in enumerate(expected):
        try:
            position = messages.index(want, position) + 1
        except ValueError:
            raise AssertionError(_not_in_order(messages, want, found, position)) from None


def _not_in_order(messages: list[str], want: str, found: int, position: int) -> str:
    report = [f"missing (after {found} expected message(s) found in order, searching from "
              f"line {position + 1} of {len(messages)}): {want!r}"]
    if want in messages[:position]:
        report.append(f"  it is line {messages.index(want) + 1}, before the previous expected one")
    similar = difflib.get_close_matches(want, messages[position:], n=3, cutoff=0.5)
    if similar:
        report.append("  most similar after that point:")
        report += [f"    line {messages.index(m, position) + 1}: {m!r}" for m in similar]
    report.append("  the lines from that point:")
    report += [f"    line {n + 1}: {m!r}" for n, m in
               enumerate(messages[position:position + 8], position)] or ["    (none)"]
    return "\n".join(report)


def events(lab: LabLike, event: str | None = None, **match: Any) -> list[dict[str, Any]]:
    """The lab's events (`events.jsonl`) in file order: all of them, or those named `event`
    whose fields equal `match` (`events(lab, "content_sent", to="P00")`)."""
    return [e for e in read_events(_lab(lab).root / EVENTS_FILE)
            if (event is None or e["event"] == event)
            and all(e.get(k) == v for k, v in match.items())]


def query(lab: LabLike, site: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The rows an SQL query returns at a primary site's database (a SELECT; it is not run in a
    read-only connection). Raises UserError for a secondary site (it has no database) or a
    site the lab does not have."""
    with SiteDatabase.open(_lab(lab).site(site).database) as db:
        return db.query(sql, params)


# --- live labs ------------------------------------------------------------------------------

def wait_for(condition: Callable[[], object], timeout: float = 20.0, what: str = "") -> None:
    """Poll `condition` until it is true; a live lab's work is done when its result shows, not
    after some sleep. Raises AssertionError, naming `what`, after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(0.01)


@contextlib.contextmanager
def running(lab: LabLike, *, components: Registry | None = None, timeout: float = 20.0,
            **options: Any) -> Iterator[LiveDriver]:
    """The lab's site servers running live for the length of a `with` block, as `sitesrv run`
    runs them: file system watchers, worker threads, real time. Files dropped in the block are
    found by the watchers; `wait_for` their results.

    Yields the LiveDriver once start-up (recovery and the first scan) is done and every
    component sleeps; when the block ends, units in progress finish and the servers stop and
    give back their locks. `components` are SMS's unless given; `options` are LiveDriver's
    (`sites`, `watcher`, `workers`, `horizon`). Raises what starting raised (a UserError if
    another process runs one of the sites), or AssertionError if start-up does not settle
    within `timeout` seconds or the servers do not stop within 30.
    """
    from sitesrv.components.registry import SMS_COMPONENTS
    from sitesrv.runtime.live import LiveDriver

    driver = LiveDriver(_lab(lab).root, components=components or SMS_COMPONENTS, **options)
    stop = threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            driver.run(stop=stop)
        except BaseException as error:  # handed to the test's thread
            failed.append(error)

    thread = threading.Thread(target=run, name="sitesrv-testing-lab", daemon=True)
    thread.start()
    try:
        wait_for(lambda: failed or (driver.started.is_set() and driver.quiet()), timeout,
                 "the lab's servers to start and settle")
        if failed:
            raise failed[0]
        yield driver
    finally:
        stop.set()
        thread.join(timeout=30)
    if thread.is_alive():
        raise AssertionError("the lab's servers did not stop within 30 s")
    if failed:
        raise failed[0]


# --- the lab of a folder ----------------------------------------------------------------------

def _lab(lab: LabLike) -> Lab:
    """The lab itself, or the lab in that folder (UserError if there is none)."""
    if isinstance(lab, Lab):
        return lab
    root = Path(lab)
    try:
        source = (root / HIERARCHY_COPY).read_bytes()
    except OSError:
        return Lab.open(root)  # which says there is no lab there
    if (root / BUILDING_MARKER).exists():
        return Lab.open(root)  # which says how to finish it
    return _opened(root, source)


@functools.lru_cache(maxsize=64)
def _opened(root: Path, _source: bytes) -> Lab:
    """Opened once for each text of the lab's hierarchy: tests read a lab in tight loops, and
    a lab rebuilt in the same folder from another hierarchy is opened again."""
    return Lab.open(root)

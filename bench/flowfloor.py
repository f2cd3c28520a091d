"""The floor of SMS's file flow: what a step run asks of the file system and SQLite, done bare.

`record_in_child` runs a step run of a lab in a child process (`python bench/flowfloor.py LAB
COPIES OUT`), with an audit hook (PEP 578) and SQLite's statement trace (`sqlite3.connect` wrapped
for the run), which write down in order the file operations the run makes inside the lab (a file
opened to read, with its size; a file written, with the size it had when renamed into place; a
rename; a delete, with the size of the file; a folder listed, with its entries; a batch of log
lines appended, with its bytes) and every SQL statement each database connection ran, with its
values. `replay` does the same operations with nothing around them: `os.open`, `os.read`,
`os.write`, `os.replace`, `os.unlink` and `os.scandir` on files of the recorded sizes in a scratch
folder on the same file system, and the recorded statements, their rows fetched, on copies of the
lab's databases as they were before the run, one connection for each of the run's. The child keeps
the hook and the wrapped functions away from the process that replays and measures.

Its CPU time is what the flow, as sitesrv makes it, costs this machine from Python, with none of
sitesrv's logic around the calls: no parsing, no validation, no formatting, no decisions. It is not
a strict lower bound: it leaves out the calls the hook does not see (`stat`, `lstat`, `mkdir`,
`utime`, `chmod`) and reads a file in one call where the run read it in chunks, but it reads whole
every file the run opened to read, also those the run only looked at (a size, a trailer).
`bench/stepcpu.py` prints its CPU beside the step run's CPU per package, and `bench/hierarchy.py`
its wall time beside the run's and the pipeline's.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

READ, WRITE, RENAME, UNLINK, LIST, APPEND, SQL = range(7)
_WRITING = os.O_WRONLY | os.O_RDWR


@dataclass
class Recording:
    """The operations of one step run, in order: (kind, value), value the size, entry count or
    (connection, statement); `databases` the copies of the lab's databases before the run."""

    ops: list[tuple[int, object]] = field(default_factory=list)
    databases: dict[int, Path] = field(default_factory=dict)  # connection -> copy of its db

    def counts(self) -> dict[str, int]:
        names = ("reads", "writes", "renames", "deletes", "listings", "log appends",
                 "SQL statements")
        found = dict.fromkeys(names, 0)
        for kind, _ in self.ops:
            found[names[kind]] += 1
        return found


def record(lab_root: Path, run: Callable[[], object], copies: Path) -> Recording:
    """Run `run` (a step run of the lab at `lab_root`) and record what it asked of the file
    system and of SQLite; the lab's databases are copied to `copies` first. The audit hook
    cannot be removed: it stays in this process, quiet, after the run (`record_in_child`)."""
    from sitesrv.logs.appendfile import AppendFile

    rec = Recording()
    root = lab_root.resolve()
    below = str(root) + os.sep
    before = _copy_databases(root, copies)
    pending: dict[str, int] = {}  # a file opened to write -> its WRITE op, sized when it goes
    quiet = [True]  # before and after the run, and while the hook itself lists a folder

    def inside(path: object) -> bool:
        return isinstance(path, str | Path) and str(path).startswith(below)

    def hook(event: str, args: tuple) -> None:
        if quiet[0]:
            return
        quiet[0] = True
        try:
            with contextlib.suppress(OSError):  # never an error of the hook's in the run
                note(event, args)
        finally:
            quiet[0] = False

    def sized(path: str) -> None:
        index = pending.pop(path, None)
        if index is not None:
            rec.ops[index] = (WRITE, (index, os.stat(path).st_size))

    def note(event: str, args: tuple) -> None:
        if event == "open" and inside(args[0]):
            path, flags = str(args[0]), args[2]
            if flags is None or not flags & _WRITING:
                rec.ops.append((READ, os.stat(path).st_size))  # gone: the open fails too
            elif not flags & os.O_APPEND:
                pending[path] = len(rec.ops)
                rec.ops.append((WRITE, (len(rec.ops), 0)))
        elif event == "os.rename" and inside(args[0]):
            rec.ops.append((RENAME, pending.get(str(args[0]))))
            sized(str(args[0]))
        elif event == "os.remove" and inside(args[0]):
            rec.ops.append((UNLINK, os.stat(args[0]).st_size))  # what it frees counts too
            sized(str(args[0]))  # a temp file given up
        elif event in ("os.scandir", "os.listdir") and inside(args[0]):
            rec.ops.append((LIST, len(os.listdir(args[0]))))

    connect = sqlite3.connect

    def traced_connect(database: object, *args: object, **kwargs: object) -> sqlite3.Connection:
        connection = connect(database, *args, **kwargs)
        db = before.get(_database_path(database))
        if db is not None:
            number = len(rec.databases)
            rec.databases[number] = db
            connection.set_trace_callback(  # "-- name": a trigger's program, not a statement
                lambda sql: None if quiet[0] or sql.startswith("--")
                else rec.ops.append((SQL, (number, sql))))
        return connection

    put = AppendFile._put

    def counted_put(self: AppendFile, lines: list[bytes]) -> None:
        if not quiet[0]:
            rec.ops.append((APPEND, (str(self.path), sum(map(len, lines)))))
        put(self, lines)

    sys.addaudithook(hook)
    AppendFile._put = counted_put  # type: ignore[method-assign]
    sqlite3.connect = traced_connect  # type: ignore[assignment]
    quiet[0] = False
    try:
        run()
    finally:
        quiet[0] = True
        AppendFile._put = put  # type: ignore[method-assign]
        sqlite3.connect = connect
    for path in list(pending):  # written in place, never renamed: sized as they are
        with contextlib.suppress(OSError):
            sized(path)
    return rec


def _database_path(database: object) -> Path | None:
    """The file a `sqlite3.connect` argument names: a path, or a `file:` URI."""
    if not isinstance(database, str | os.PathLike):
        return None
    text = os.fsdecode(database)
    if text.startswith("file:"):
        text = urllib.request.url2pathname(urllib.parse.urlsplit(text).path)
    return Path(text).resolve()


def _copy_databases(lab_root: Path, copies: Path) -> dict[Path, Path]:
    shutil.rmtree(copies, ignore_errors=True)
    copies.mkdir(parents=True)
    found = {}
    for db in sorted(lab_root.glob("*/SMS/site.db")):
        copy = copies / f"{db.parent.parent.name}.db"
        shutil.copyfile(db, copy)
        found[db.resolve()] = copy
    return found


def record_in_child(lab_root: Path, copies: Path) -> Recording:
    """`record` of a step run of the lab, in a child process (`python bench/flowfloor.py`)."""
    out = copies.with_name(copies.name + ".rec")
    subprocess.run([sys.executable, __file__, str(lab_root), str(copies), str(out)], check=True)
    with open(out, "rb") as f:
        ops, databases = pickle.load(f)
    out.unlink()
    rec = Recording(ops, {n: Path(db) for n, db in databases.items()})
    if not any(kind == SQL for kind, _ in rec.ops):
        raise SystemExit(f"flowfloor: no SQL statement was recorded in {lab_root}; the lab's "
                         "databases were not recognised")
    return rec


@dataclass(frozen=True)
class Cost:
    """What a replay took: CPU seconds (user and system) and wall seconds."""

    cpu: float
    wall: float


def replay(rec: Recording, work: Path) -> Cost:
    """Do the recorded operations bare, in order, in `work` (removed after); what they took.

    A file written is renamed to its final name where the run renamed it; any other rename
    moves one file to and fro between two folders; a delete deletes one of as many files made
    beforehand, each of the size the deleted file had; a listing lists a folder of as many
    entries as the run's had. What the set-up wrote is synced before the clock starts.
    """
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    reads: dict[int, str] = {}
    lists: dict[int, str] = {}
    appends: dict[str, int] = {}
    biggest = 0
    for kind, value in rec.ops:
        if kind == READ and value not in reads:
            reads[value] = str(work / f"read-{value}")
            Path(reads[value]).write_bytes(b"r" * value)
        elif kind == LIST and value not in lists:
            folder = work / f"list-{value}"
            folder.mkdir()
            for i in range(value):
                (folder / f"{i:06}.SVF").touch()
            lists[value] = str(folder)
        elif kind == APPEND:
            if value[0] not in appends:
                appends[value[0]] = os.open(work / f"log-{len(appends)}",
                                            os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            biggest = max(biggest, value[1])
        elif kind == WRITE:
            biggest = max(biggest, value[1])
    doomed = work / "doomed"
    doomed.mkdir()
    sizes = [v for k, v in rec.ops if k == UNLINK]
    victims = [str(doomed / f"{i:06}") for i in range(len(sizes))]
    for name, size in zip(reversed(victims), sizes, strict=True):  # deleted last to first
        Path(name).write_bytes(b"d" * size)
    for folder in ("written", "placed", "a", "b"):
        (work / folder).mkdir()
    Path(work / "a" / "moving").touch()
    copies = work / "db"
    copies.mkdir()
    for db in set(rec.databases.values()):
        shutil.copyfile(db, copies / db.name)
    connections = {n: sqlite3.connect(copies / db.name, isolation_level=None)
                   for n, db in rec.databases.items()}
    for connection in connections.values():
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
    os.sync()  # what the set-up wrote is on the disk before the clock starts
    start, began = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    failed = _replay(rec.ops, reads, lists, appends, victims, str(work), b"w" * biggest,
                     connections)
    end, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - began
    for connection in connections.values():
        connection.close()
    for fd in appends.values():
        os.close(fd)
    shutil.rmtree(work)
    if failed:
        print(f"flowfloor: {failed} recorded statements failed again on the copies",
              file=sys.stderr)
    return Cost((end.ru_utime - start.ru_utime) + (end.ru_stime - start.ru_stime), wall)


def _replay(ops: list[tuple[int, object]], reads: dict[int, str], lists: dict[int, str],
            appends: dict[str, int], victims: list[str], work: str, blob: bytes,
            connections: dict[int, sqlite3.Connection]) -> int:
    failed = 0
    written: dict[int, str] = {}
    moving = [f"{work}/a/moving", f"{work}/b/moving"]
    for kind, value in ops:
        if kind == READ:
            fd = os.open(reads[value], os.O_RDONLY)
            os.fstat(fd)
            os.read(fd, value + 1)
            os.close(fd)
        elif kind == WRITE:
            index, size = value
            written[index] = tmp = f"{work}/written/{index}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            os.write(fd, blob[:size])
            os.close(fd)
        elif kind == RENAME:
            if value is not None and value in written:
                os.replace(written.pop(value), f"{work}/placed/{value}")
            else:
                os.replace(moving[0], moving[1])
                moving.reverse()
        elif kind == UNLINK:
            os.unlink(victims.pop())
        elif kind == LIST:
            with os.scandir(lists[value]) as it:
                for entry in it:
                    entry.is_file()
        elif kind == APPEND:
            path, size = value
            os.write(appends[path], blob[:size])
        else:
            number, sql = value
            try:
                connections[number].execute(sql).fetchall()
            except sqlite3.Error:
                failed += 1
    return failed


def main() -> None:
    """In the child: record a step run of LAB, its databases copied to COPIES, into OUT."""
    from sitesrv.components.registry import SMS_COMPONENTS
    from sitesrv.runtime.step import run_until_idle

    lab, copies, out = (Path(a) for a in sys.argv[1:4])
    rec = record(lab, lambda: run_until_idle(lab, components=SMS_COMPONENTS), copies)
    with open(out, "wb") as f:
        pickle.dump((rec.ops, {n: str(db) for n, db in rec.databases.items()}), f)


if __name__ == "__main__":
    main()

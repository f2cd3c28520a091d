"""An append-only text file kept open between lines: the SMS logs and `events.jsonl`.

A busy lab writes hundreds of log lines per package. Opening, writing and closing the file for
each (with a `mkdir` and a `stat`) cost more than the work being logged, and every thread waited
for it under the file's lock. This keeps one descriptor open and checks with one `stat` per
write that the path still names the open file: a file deleted, moved away or rolled over by
someone else is opened again at its path, so no line goes to a file nobody reads.

Within a `batch` (the runtime wraps each unit of work in one), a thread's lines wait in memory
and go out together when the batch ends, in one write: a unit's lines appear at once, a few
milliseconds later than they were written, and in the order they were written.

What is in the way is moved aside, looked at only when the file is opened or rolled over (never
per line): a link or file under the folder's name, something other than a file under the
file's name, a folder under the rollover's name. A write that fails all the same (a full disk,
a folder that cannot be made) goes to `on_lost` when there is one: the lines are lost, and the
owner says so, rather than the writer's work failing for a log line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from threading import get_ident

from sitesrv.files.folders import is_folder, moved_aside, own_folders
from sitesrv.files.names import refused_file_name
from sitesrv.files.regular import NotRegularFile, open_fd, open_regular, write_all

logger = logging.getLogger(__name__)

# O_APPEND: each write() lands at the end even if another process appends to the same file.
_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT
_OPEN_TRIES = 3  # a writer that plants a new link each time it is moved aside wins, loudly


class AppendFile:
    """Appends whole lines to one path. Safe to share between the threads of one process.

    With `max_bytes`, a line that would take a non-empty file past it first renames the file to
    `rollover` (replacing an older one), as SMS rolls `<name>.log` over to `<name>.lo_`.

    With `sole_writer` (no other process appends to the file: an SMS log, which only its site's
    server writes), a file that does not end in a newline when it is opened (its writer was
    killed mid-line) gets one first, so the torn line does not swallow the next one.

    Only a regular file with one name is written: a symbolic link, a hard link to a file
    elsewhere, a FIFO (which would block the writer) or a folder under the name is renamed
    aside to `<name>.refused` and a new file started, never written through; so is a folder
    under the rollover's name (`<name>.lo_.refused`), and, with `own_folder` (a folder of the
    lab's own, never one a person may have linked on purpose, as the lab's root), a link or a
    file under the name of the folder the file is in (`.<folder>.refused`, files/folders.py).
    `notice`, given the text saying so, returns it as a line of this file (the line starts the
    new file), and the `sitesrv` logger warns too.

    `on_lost(count, error)`: lines that could not be written, and why. Without it, the error is
    raised to the writer (or to the end of its batch).
    """

    def __init__(self, path: Path, *, max_bytes: int | None = None,
                 rollover: Path | None = None, sole_writer: bool = False,
                 notice: Callable[[str], bytes] | None = None, own_folder: bool = False,
                 on_lost: Callable[[int, OSError], None] | None = None) -> None:
        self.path = path if isinstance(path, Path) else Path(path)  # a copy costs 2 us
        self.max_bytes = max_bytes
        self.rollover = rollover
        self.sole_writer = sole_writer
        self.notice = notice
        self.own_folder = own_folder
        self.on_lost = on_lost
        self._name = str(self.path)
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None  # (inode, device) of the open file
        self._said: list[bytes] = []  # what was moved aside at a rollover: the next lines
        self._lock = threading.Lock()
        # `with file.batch:` holds this thread's lines until its outermost batch ends, then
        # writes them. One object for every batch: the runtime opens two in every unit, and
        # making one cost as much as entering and leaving it.
        self.batch = _Batch(self)
        self._held = self.batch.held

    def append(self, data: bytes) -> None:
        """Append `data` (whole lines): now, or when this thread's batch ends."""
        lines = self._held.get(get_ident())
        if lines is not None:
            lines.append(data)
            return
        self._write([data])

    def _write(self, lines: list[bytes]) -> None:
        with self._lock:
            written = 0
            try:
                size = self._current_size()
                max_bytes, rollover = self.max_bytes, self.rollover
                if (max_bytes is None or rollover is None
                        or size + sum(map(len, lines)) <= max_bytes):
                    self._put(lines)  # no line takes the file past its size: no rollover
                    return
                pending: list[bytes] = []
                for data in lines:
                    if size + len(data) > max_bytes and (size or pending):
                        self._put(pending)
                        written += len(pending)
                        pending = []
                        self._roll_over(rollover)
                        size = 0
                    pending.append(data)
                    size += len(data)
                self._put(pending)
            except OSError as error:
                if self.on_lost is None:
                    raise
                self._close()  # the next lines open the file again, and look again
                self.on_lost(len(lines) - written, error)

    def _roll_over(self, rollover: Path) -> None:
        """Rename the file to `rollover`, replacing an older one; a folder there (which
        `os.replace` cannot replace) is moved aside first, with a line in the new file."""
        self._close()  # Windows cannot rename an open file
        if is_folder(rollover):
            self._said += self._move_aside(str(rollover), "a folder", "in the way of the "
                                           "rollover: moved it aside to {aside}")
        with contextlib.suppress(FileNotFoundError):  # removed since: nothing to roll over
            os.replace(self.path, rollover)

    def _open(self) -> tuple[int, list[bytes]]:
        """The file, opened to append, and the lines that say what was moved aside first."""
        said: list[bytes] = []
        for _ in range(_OPEN_TRIES):
            try:
                return open_fd(self._name, _FLAGS, 0o666, sole_name=True), said
            except NotRegularFile as e:
                said += self._move_aside(self._name, e.problem, "never written through: moved "
                                         "it aside to {aside} and started a new file")
        raise OSError(f"{self._name}: something other than a file is put under this name "
                      "again each time it is moved aside; nothing is written to it")

    def _move_aside(self, name: str, problem: str, done: str) -> list[bytes]:
        """Rename `name` to `<name>.refused[.<n>]`; the line saying so (`done` names it)."""
        aside = refused_file_name(name)
        os.replace(name, aside)
        text = (f"{os.path.basename(name)} was {problem}, "
                + done.format(aside=os.path.basename(aside)))
        return self._say(text)

    def _say(self, text: str) -> list[bytes]:
        logger.warning("%s: %s", os.path.dirname(self._name), text)
        return [self.notice(text)] if self.notice is not None else []

    def _make_folder(self) -> list[bytes]:
        """Make the file's folder if it is missing; with `own_folder`, a real folder (a link or
        a file in its place is moved aside): the lines saying what was moved."""
        folder = self.path.parent
        if not self.own_folder:
            folder.mkdir(parents=True, exist_ok=True)
            return []
        if is_folder(folder):
            return []
        moved, _ = own_folders(folder, folder.parent)
        return [line for name, aside, mode in moved
                for line in self._say(moved_aside(name.name, aside.name, mode))]

    def _put(self, lines: list[bytes]) -> None:
        if not lines:
            return
        if self._fd is None:
            owned = self._make_folder()
            self._fd, said = self._open()
            mine = os.fstat(self._fd)
            self._identity = (mine.st_ino, mine.st_dev)
            torn = self.sole_writer and self._ends_torn(mine.st_size)
            said, self._said = [*self._said, *owned, *said], []
            lines = [*([b"\n"] if torn else []), *said, *lines]
        write_all(self._fd, b"".join(lines))  # a short write must not cut a line

    def _ends_torn(self, size: int) -> bool:
        if size == 0:
            return False
        with open_regular(self._name) as f:
            f.seek(size - 1)
            return f.read(1) != b"\n"

    def _current_size(self) -> int:
        """The size of the file at the path; closes the descriptor if it is another file.
        Something other than a file there is no size (it is moved aside when opened), nor is
        a path through a folder that is not one any more (NotADirectoryError)."""
        try:
            st = os.lstat(self._name)  # a link put there is not the open file
        except (FileNotFoundError, NotADirectoryError):
            self._close()
            return 0
        if self._fd is not None and self._identity != (st.st_ino, st.st_dev):
            self._close()
        return st.st_size if stat.S_ISREG(st.st_mode) else 0

    def close(self) -> None:
        """Close the descriptor; the next line opens the file again."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _Batch:
    """`AppendFile.batch`: a class, not a generator, as the runtime opens two in every unit
    (a generator's context manager cost 2.5 times as much: 1.6 against 0.65 us for the two).
    One object for every thread: what a thread holds is under its `get_ident()`, as a thread
    local's attribute cost twice a dictionary's look-up. A thread's entries go when its
    outermost batch ends: they are as many as the threads in a batch."""

    __slots__ = ("_file", "held", "_inner")

    def __init__(self, file: AppendFile) -> None:
        self._file = file
        self.held: dict[int, list[bytes]] = {}  # by thread: the lines of its open batch
        self._inner: dict[int, int] = {}  # by thread: the batches it opened inside that one

    def __enter__(self) -> None:
        held = self.held
        thread = get_ident()
        if thread in held:  # joins the open batch
            self._inner[thread] = self._inner.get(thread, 0) + 1
        else:
            held[thread] = []

    def __exit__(self, *_: object) -> None:
        thread = get_ident()
        inner = self._inner
        if inner and thread in inner:
            if inner[thread] == 1:
                del inner[thread]
            else:
                inner[thread] -= 1
            return
        lines = self.held.pop(thread)
        if lines:
            self._file._write(lines)

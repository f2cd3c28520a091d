"""An append-only text file kept open between lines: the SMS logs and `events.jsonl`.

A busy lab writes hundreds of log lines per package. Opening, writing and closing the file for
each (with a `mkdir` and a `stat`) cost more than the work being logged, and every thread waited
for it under the file's lock. This keeps one descriptor open and checks with one `stat` per line
that the path still names the open file: a file deleted, moved away or rolled over by someone
else is opened again at its path, so no line goes to a file nobody reads.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

# O_APPEND: each write() lands at the end even if another process appends to the same file.
_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)


class AppendFile:
    """Appends whole lines to one path. Safe to share between the threads of one process.

    With `max_bytes`, a line that would take a non-empty file past it first renames the file to
    `rollover` (replacing an older one), as SMS rolls `<name>.log` over to `<name>.lo_`.
    """

    def __init__(self, path: Path, *, max_bytes: int | None = None,
                 rollover: Path | None = None) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.rollover = rollover
        self._name = str(self.path)
        self._fd: int | None = None
        self._lock = threading.Lock()

    def append(self, data: bytes) -> None:
        """Append `data` with one write."""
        with self._lock:
            size = self._current_size()
            if (self.max_bytes is not None and self.rollover is not None and size
                    and size + len(data) > self.max_bytes):
                self._close()  # Windows cannot rename an open file
                os.replace(self.path, self.rollover)
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self._name, _FLAGS, 0o666)
            os.write(self._fd, data)

    def _current_size(self) -> int:
        """The size of the file at the path; closes the descriptor if it is another file."""
        try:
            st = os.stat(self._name)
        except FileNotFoundError:
            self._close()
            return 0
        if self._fd is not None:
            mine = os.fstat(self._fd)
            if (mine.st_ino, mine.st_dev) != (st.st_ino, st.st_dev):
                self._close()
        return st.st_size

    def close(self) -> None:
        """Close the descriptor; the next line opens the file again."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

"""SMS 2003 component logs: `<SITE>/SMS/Logs/<name>.log` in the site-server line format.

A line is `text  $$<SMS_COMPONENT><MM-DD-YYYY HH:MM:SS.mmm+BBB><thread=N (0xHEX)>`
(docs/sources.md#cmwt; our reading of it: docs/differences.md). BBB is the Windows time-zone bias in
minutes (local + bias = UTC): `+` and 3 digits when not negative, C's `%03d` when negative
(`+300`, `+000`, `-60`, `-120`). Timestamps come from the lab clock, so step-mode logs are
byte-identical across runs, and milliseconds are rounded as the site database rounds them, so one
instant reads the same in a log and in a table. A log that reaches its maximum size is renamed to
`<name>.lo_` (replacing an older one) and a new log is started.
"""

from __future__ import annotations

import contextlib
import re
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Container, Iterator
from datetime import UTC, datetime
from pathlib import Path

import attrs

from sitesrv.files.regular import open_regular
from sitesrv.lab.clock import Clock
from sitesrv.lab.sitetime import log_timestamp
from sitesrv.logs.appendfile import AppendFile

DEFAULT_MAX_BYTES = 1024 * 1024
LINE_RE = re.compile(
    r"^(?P<text>.*?)  \$\$<(?P<component>[A-Z0-9_]+)>"
    r"<(?P<month>\d\d)-(?P<day>\d\d)-(?P<year>\d{4}) (?P<time>\d\d:\d\d:\d\d\.\d{3})(?P<bias>\+\d{3}|-\d{2,3})>"
    r"<thread=(?P<thread>\d+) \(0x(?P<hex>[0-9A-F]+)\)>$"
)


# How many other threads' IDs a log keeps apart (`SmsLog.thread_for`): far more than the
# packages or send requests a component has on hand at once, far fewer than the 7,680 IDs.
OTHER_THREADS = 1024


def thread_id_for(site: str, component: str) -> int:
    """A stable, SMS-looking thread ID per (site, component), the same in both drivers."""
    return 0x100 + zlib.crc32(f"{site}/{component}".encode()) % 0x1E00


def other_thread_id(site: str, component: str, key: str, taken: Container[int]) -> int:
    """The ID of one of a component's other threads (`key`: what it works on), stable and none
    of `taken` (the component's own thread, the other threads' IDs), so its lines can be told
    from theirs: the first free ID from the one (site, component, key) gives."""
    thread = thread_id_for(site, f"{component}/{key}")
    while thread in taken:
        thread = 0x100 + (thread - 0x100 + 1) % 0x1E00
    return thread


def format_line(text: str, component: str, when: float, bias_minutes: int, thread: int) -> str:
    """One log line, without the newline."""
    return (
        f"{text}  $$<{component}><{log_timestamp(when, bias_minutes)}>"
        f"<thread={thread} (0x{thread:X})>"
    )


@attrs.frozen
class LogLine:
    """A parsed SMS log line, for log readers and tests."""

    text: str
    component: str
    timestamp: str
    bias_minutes: int
    thread: int

    @property
    def lab_time(self) -> float:
        """The line's instant as lab time (UTC seconds): its local stamp plus its bias."""
        local = datetime.strptime(self.timestamp, "%m-%d-%Y %H:%M:%S.%f").replace(tzinfo=UTC)
        return local.timestamp() + self.bias_minutes * 60


def parse_line(line: str) -> LogLine | None:
    """Parse one line in the SMS 2003 format; None if it is not one (e.g. a continuation)."""
    m = LINE_RE.match(line.rstrip("\r\n"))
    if m is None:
        return None
    if int(m["thread"]) != int(m["hex"], 16):
        return None
    return LogLine(
        text=m["text"],
        component=m["component"],
        timestamp=f"{m['month']}-{m['day']}-{m['year']} {m['time']}",
        bias_minutes=int(m["bias"]),
        thread=int(m["thread"]),
    )


def logged_text(text: str) -> str:
    """A message as `SmsLog` writes it, so that `read_log` gives it back whole: as given, but
    for a line of a multi-line message that would itself read as a log line (it ends in a
    complete `$$<component><time><thread>` trailer, which only a file name could bring), which
    gets a space after it, so a reader does not end the message there."""
    if "\n" not in text:  # a one-line message: as given, the reader ends it only at its trailer
        return text
    *lines, last = text.split("\n")
    return "\n".join([*(f"{line} " if parse_line(line) else line for line in lines), last])


def read_log(path: Path) -> list[LogLine]:
    """The lines of an SMS log file, parsed; a message with embedded newlines (SMS writes
    multi-line messages) is one line whose text has them, each CR in it kept: only a line that
    ends in the `$$<component><time><thread>` trailer ends a message, with `\n` or `\r\n`. So
    every message `SmsLog` writes reads back as `logged_text` gives it (the message itself, but
    for a line that reads as a log line). A log not written yet has no lines.
    Raises ValueError if the file ends in text with no `$$<component><time><thread>` trailer,
    and NotRegularFile (an OSError) for a link, a FIFO or a folder under the log's name: a log
    is never read through one (a FIFO would never end)."""
    try:  # bytes: newline translation would split a message at a lone CR
        with open_regular(path) as f:
            text = f.read().decode("utf-8")
    except FileNotFoundError:
        return []
    lines: list[LogLine] = []
    pending: list[str] = []
    raws = text.split("\n")  # not splitlines: a message may hold U+2028, U+0085, a form feed
    if raws[-1] == "":
        raws.pop()
    for raw in raws:
        parsed = parse_line(raw)  # the line end's CR, in a log written with CRLF, is not text
        if parsed is None:
            pending.append(raw)
            continue
        if pending:
            parsed = attrs.evolve(parsed, text="\n".join([*pending, parsed.text]))
            pending = []
        lines.append(parsed)
    if pending:
        raise ValueError(f"{path} ends in text that is not an SMS log line: {pending[-1]!r}")
    return lines


def rolled_over(path: Path) -> Path:
    """`<name>.lo_`: where a log's older lines are once it reached its maximum size."""
    return path.with_suffix(".lo_")


def read_log_history(path: Path) -> list[LogLine]:
    """The lines of a log with those of its `.lo_` (`log_history`) before them, each read as
    `read_log` reads it."""
    return [line for part in log_history(path) for line in read_log(part)]


def log_history(path: Path) -> tuple[Path, Path]:
    """The files that hold a log's lines, oldest first: its `.lo_`, then the log itself. A
    reader that wants every line SMS still keeps reads both, in this order."""
    return (rolled_over(path), path)


class _Writing(threading.local):
    """Per Python thread, the thread ID its lines carry: the component's own until `on_thread`
    says another. Set in each thread when it first asks, so a line never looks up an attribute
    that is missing (a raised and caught AttributeError, at every line)."""

    def __init__(self, thread: int) -> None:
        self.thread = thread


class SmsLog:
    """One component's log file at one site. Safe to share between threads of one process.

    Its lines carry the component's thread ID, or, inside `on_thread`, the ID of another thread
    of the component (Distribution Manager's package threads): per Python thread, so lines
    another thread writes meanwhile keep the component's.

    Its folder (`<SITE>\\SMS\\Logs`) is the site's own: a link or a file found under its name
    when the log is opened is moved aside, with a line first in the new log (appendfile.py)."""

    def __init__(
        self,
        path: Path,
        component: str,
        clock: Clock,
        *,
        site: str,
        bias_minutes: int = 0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        on_lost: Callable[[int, OSError], None] | None = None,
    ) -> None:
        """`on_lost(count, error)`: lines that could not be written (appendfile.py); without
        it, such an error is raised to the writer."""
        self.path = path if isinstance(path, Path) else Path(path)  # a copy costs 2 us
        self.component = component
        self.clock = clock
        self.bias_minutes = bias_minutes
        self.max_bytes = max_bytes
        self.site = site
        self.main_thread = thread_id_for(site, component)
        self._on = _Writing(self.main_thread)
        # The other threads' IDs by key, the latest OTHER_THREADS; `thread_for` keeps them apart.
        self._others: OrderedDict[str, int] = OrderedDict()
        self._others_lock = threading.Lock()
        # The stamp of the instant and thread the last line was written at, and its bytes: the
        # lines of one unit of work mostly share them.
        self._stamp: tuple[float, int, bytes] = (float("nan"), 0, b"")
        self._file = AppendFile(self.path, max_bytes=max_bytes,
                                rollover=rolled_over(self.path), sole_writer=True,
                                notice=self.line, own_folder=True, on_lost=on_lost)

    @property
    def thread(self) -> int:
        """The thread ID the calling thread's lines (and status messages) carry now."""
        thread: int = self._on.thread
        return thread

    def thread_for(self, key: str) -> int:
        """The ID of the component's other thread working on `key` (a package): the same for
        every use while the log is open (a key whose ID another key took first gets the next
        free one, so another run may give it another), never the component's own, never that
        of another of the latest OTHER_THREADS keys (two packages' passes never share one)."""
        with self._others_lock:
            thread = self._others.get(key)
            if thread is None:
                if len(self._others) >= OTHER_THREADS:
                    self._others.popitem(last=False)
                taken = {self.main_thread, *self._others.values()}
                thread = self._others[key] = other_thread_id(self.site, self.component, key,
                                                             taken)
            else:
                self._others.move_to_end(key)
            return thread

    @contextlib.contextmanager
    def on_thread(self, thread: int) -> Iterator[None]:
        """Write the calling thread's lines in the block as thread `thread`'s."""
        before = self._on.thread
        self._on.thread = thread
        try:
            yield
        finally:
            self._on.thread = before

    def write(self, text: str) -> None:
        """Append one message. Embedded newlines and CRs are kept, as SMS multi-line messages
        are (`logged_text` says the one change)."""
        self._file.append(self.line(text))

    def line(self, text: str) -> bytes:
        """One message as this log writes it, stamped now, with its newline."""
        now = self.clock.now()
        thread: int = self._on.thread  # `thread`, inline
        stamp = self._stamp
        if stamp[0] != now or stamp[1] != thread:
            suffix = format_line("", self.component, now, self.bias_minutes, thread) + "\n"
            stamp = self._stamp = (now, thread, suffix.encode("utf-8"))
        if "\n" in text:  # a one-line message is logged as given (`logged_text`)
            text = logged_text(text)
        return text.encode("utf-8") + stamp[2]

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Hold this thread's lines and write them together when the batch ends."""
        return self._file.batch

    def close(self) -> None:
        """Close the log file until the next line."""
        self._file.close()

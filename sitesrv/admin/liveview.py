"""What a person watching a live run sees: per site, the work waiting in each inbox, the sends
under way and how far each has got, the packages being compressed or extracted onto a DP and
how far each has got, and the packages installed against those targeted.

It only reads the lab (folder listings, the events stream, the central site's PkgStatus), so it
can watch a run of one process or of a process per site; `sitesrv run` redraws it on a terminal
(rich) and prints nothing of it elsewhere. A compression is the file Distribution Manager's
`compression_started` event names (`<package drive>:\\_S xxxxx.TMP`), growing until its
`package_compressed`; an extraction is a DP's `<PkgID>.sitesrv-new` folder (compression/
distpoint.py), measured against the source size the site's PCK manifest gives.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import attrs
from rich.console import Console
from rich.live import Live
from rich.table import Table

from sitesrv.admin.lab import Lab
from sitesrv.compression import PckError, read_manifest
from sitesrv.compression.distpoint import NEW_SUFFIX
from sitesrv.db.sitedb import SiteDatabase, is_busy
from sitesrv.errors import FormatError, SitesrvError
from sitesrv.lab import boxes
from sitesrv.lab.layout import SiteLayout

MAX_READ = 4 * 1024 * 1024  # bytes of new events read per look; the rest at the next one
# The inboxes whose files are work waiting, by the name a person knows them by: (inbox, the
# files there that are work). distmgr.box also keeps each package's stored information file.
WATCHED = (
    ("distmgr", ((boxes.DISTMGR, "*.PKN"), (boxes.DISTMGR_INCOMING, "*"))),
    ("replmgr", (*((box, "*") for box in boxes.REPLMGR_OUTBOUND.values()),
                 (boxes.REPLMGR_INCOMING, "*"))),
    ("schedule", ((boxes.SCHEDULE, "*.job"), (boxes.SCHEDULE_REQUESTS, "*"))),
    ("outboxes", ((boxes.OUTBOX_LAN, "*.srq"), (boxes.OUTBOX_COURIER, "*.srq"))),
    ("despooler", ((boxes.DESPOOLER_RECEIVE, "*.SNI"),)),
)


@attrs.frozen
class Send:
    """A send under way: a request from a site to another, and how many bytes it has put."""

    request: str
    source: str
    destination: str
    size: int
    written: int


@attrs.frozen
class Progress:
    """A package being compressed at a site, or extracted onto one of its DPs: the bytes
    written so far, of `size` (0 when unknown: a compression's output size is not known
    before it ends)."""

    action: str  # "compress" or "extract"
    package: str
    where: str  # the temp file, or the DP server
    size: int
    written: int


@attrs.frozen
class SiteView:
    site: str
    waiting: dict[str, int]
    sends: tuple[Send, ...]
    packing: tuple[Progress, ...] = ()


@attrs.frozen
class View:
    sites: tuple[SiteView, ...]
    installed: int  # DP rows at the central site that are installed at the package's version
    targeted: int  # DP rows at the central site
    lab_time: str


class Watcher:
    """Observes a lab again and again, reading only the events written since the last look."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._offset = 0
        self._under_way: dict[str, dict[str, object]] = {}
        self._compressing: dict[tuple[str, str], str] = {}  # (site, package) -> temp file
        # PCK (path, mtime, size) -> bytes: only those the last view looked at, so a long run
        # that extracts many packages (or one many times) keeps no more than it shows
        self._sizes: dict[tuple[Path, int, int], int] = {}
        self._seen: dict[tuple[Path, int, int], int] = {}
        self._lab_time = ""

    def view(self) -> View:
        """The lab as it is now."""
        for event in self._new_events():
            self._lab_time = str(event.get("time", self._lab_time))
            request = str(event.get("request", ""))
            if event.get("event") == "send_started":
                self._under_way[request] = event
            elif event.get("event") == "send_finished":
                self._under_way.pop(request, None)
            key = (str(event.get("site")), str(event.get("package")))
            if event.get("event") == "compression_started":
                self._compressing[key] = str(event.get("file", "")).rsplit("\\", 1)[-1]
            elif event.get("event") == "package_compressed":
                self._compressing.pop(key, None)
        sites = []
        for layout in self.lab.layout.sites():
            code = layout.site.code
            waiting = {name: sum(_work(layout.inbox(box), pattern) for box, pattern in inboxes)
                       for name, inboxes in WATCHED}
            sends = tuple(_send(self.lab, e) for e in self._under_way.values()
                          if e.get("site") == code)
            packing = (*self._compressions(layout), *self._extractions(layout))
            sites.append(SiteView(code, waiting, sends, packing))
        self._sizes, self._seen = self._seen, {}
        installed, targeted = _installed(self.lab)
        return View(tuple(sites), installed, targeted, self._lab_time)

    def _compressions(self, layout: SiteLayout) -> list[Progress]:
        """The site's compressions under way: their temp files, as big as they have grown."""
        found = []
        for (site, package), name in sorted(self._compressing.items()):
            if site == layout.site.code and name:
                written = _size(layout.root / name)
                if written is not None:
                    found.append(Progress("compress", package, name, 0, written))
        return found

    def _extractions(self, layout: SiteLayout) -> list[Progress]:
        """The packages being extracted onto the site's DPs, against their source size."""
        found = []
        for dp in layout.site.distribution_points:
            try:
                staging = sorted(p for p in layout.dp_root(dp).glob(f"*{NEW_SUFFIX}")
                                 if p.is_dir())
            except OSError:
                continue
            for folder in staging:
                package = folder.name[:-len(NEW_SUFFIX)]
                written = sum(s for p in _files(folder) if (s := _size(p)) is not None)
                size = self._source_size(layout.smspkg / f"{package}.PCK")
                found.append(Progress("extract", package, dp.server, size,
                                      min(written, size) if size else written))
        return found

    def _source_size(self, pck: Path) -> int:
        """The bytes a PCK extracts to (its manifest's), read once per version of the file."""
        try:
            stat = pck.stat()
        except OSError:
            return 0
        key = (pck, stat.st_mtime_ns, stat.st_size)
        size = self._sizes.get(key)
        if size is None:
            try:
                size = read_manifest(pck).source_size
            except (OSError, PckError, FormatError):
                size = 0
        self._seen[key] = size
        return size

    def _new_events(self) -> list[dict[str, object]]:
        """The complete lines appended to events.jsonl since the last call."""
        try:
            with open(self.lab.layout.events, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read(MAX_READ)
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self._offset += end
        events = []
        for line in data[:end].splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict):
                    events.append(event)
        return events


def render(view: View) -> Table:
    """The view as a table: a row per site."""
    table = Table(title=f"sitesrv run: {view.installed} of {view.targeted} DP(s) installed"
                        + (f", lab time {view.lab_time}" if view.lab_time else ""))
    table.add_column("site")
    for name, _ in WATCHED:
        table.add_column(name, justify="right")
    table.add_column("sending")
    table.add_column("packing")
    for site in view.sites:
        sending = "\n".join(f"{s.request} to {s.destination}: {_percent(s)}" for s in site.sends)
        packing = "\n".join(_packing(p) for p in site.packing)
        table.add_row(site.site, *(str(site.waiting[name]) for name, _ in WATCHED),
                      sending or "-", packing or "-")
    return table


@contextlib.contextmanager
def shown(lab: Lab, console: Console, every: float = 0.5) -> Iterator[None]:
    """Redraw the view on `console` every `every` seconds while the block runs, and once more
    at its end, so the last state stays on the screen."""
    watcher = Watcher(lab)
    done = threading.Event()
    with Live(render(watcher.view()), console=console, auto_refresh=False) as live:

        def redraw() -> None:
            while not done.wait(every):
                live.update(render(watcher.view()), refresh=True)

        thread = threading.Thread(target=redraw, name="sitesrv-live-view", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
            live.update(render(watcher.view()), refresh=True)


def _work(folder: Path, pattern: str) -> int:
    """Files waiting in an inbox: not the folders a component keeps there, not temp files."""
    try:
        return sum(1 for entry in folder.glob(pattern)
                   if not boxes.ignored_by_scans(entry.name) and entry.is_file())
    except OSError:
        return 0


def _send(lab: Lab, event: dict[str, object]) -> Send:
    """How far a send has got: the size of its file at the destination's receive folder."""
    request, destination = str(event.get("request")), str(event.get("to"))
    size = int(event.get("bytes") or 0)
    written = 0
    try:
        receive = lab.site(destination).receive
        written = max((p.stat().st_size for p in _named(receive, request)), default=0)
    except (OSError, SitesrvError):
        pass
    return Send(request, str(event["site"]), destination, size, min(written, size))


def _named(folder: Path, request: str) -> Iterable[Path]:
    return (p for p in folder.glob(f"{request}.*") if p.is_file())


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _files(folder: Path) -> Iterator[Path]:
    """The files under `folder` as they are now (an extraction adds and swaps them)."""
    try:
        yield from (p for p in folder.rglob("*") if p.is_file())
    except OSError:
        return


def _packing(progress: Progress) -> str:
    if progress.action == "compress":
        return f"{progress.package} compressing: {progress.written:,} bytes written"
    done = (f"{progress.written * 100 // progress.size} % of {progress.size:,} bytes"
            if progress.size > 0 else f"{progress.written:,} bytes")
    return f"{progress.package} to {progress.where}: {done}"


def _percent(send: Send) -> str:
    if send.size <= 0:
        return "connecting"
    return f"{send.written * 100 // send.size} % of {send.size:,} bytes"


def _installed(lab: Lab) -> tuple[int, int]:
    """DPs installed and targeted, as the central site's summarizer view has them; none while
    its database is refused or held longer than the busy timeout (the next redraw asks again).
    """
    central = lab.hierarchy.central.code
    try:
        with SiteDatabase.open(lab.site(central).database) as db:
            rows = db.query("SELECT State FROM SMS_PackageStatusDistPointsSummarizer")
    except Exception as e:  # never a traceback from the view's thread, nor the run's end
        if not isinstance(e, SitesrvError) and not is_busy(e):
            raise
        return 0, 0
    return sum(1 for (state,) in rows if state == 0), len(rows)

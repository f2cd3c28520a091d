"""A full package drive and files held open by a scanner, as a person sets them in a lab.

`sitesrv fault disk-full SITE --free N` writes `<SITE>/SMS/state/disk_quota.json`
(`{"free": N, "used": U}`: the bytes that were free, and the bytes the counted folders held
when the fault was set); `disk-free` deletes it. While it is there, the site's drive holds no
more than U + N bytes in the counted folders: `SMSPKG`, the compression temp files at the drive
root (`_S xxxxx.TMP`), the site's distribution point shares (`dp\\...`) and
`despoolr.box\\receive` (where other sites' senders write packages). Every other write (the
inboxes' instruction files, logs, state, the site database) is not counted: a site whose logs
could not be written could not tell what happened (docs/differences.md).

`sitesrv fault lock SITE --box schedule.box --pattern GLOB` writes `file_locks.json` beside it
(`{"locks": [{"box": "schedule.box", "pattern": "*"}]}`); `unlock` deletes it. A file in that
inbox or a folder below it whose name matches is held open, as an antivirus scanner holds it:
it cannot be claimed, moved, renamed or deleted.

`LabDrives` is the lab's `files.drive.DrivePolicy`: a run registers it, and a check reads the
site's file again only when it changed (its inode, size, mtime or ctime: the writer renames a new
file into place). It looks whether it changed at the first check after this process set a fault
(`write_quota`, `write_locks`: at once, so a step run sees a fault set between two steps at the
next one) and otherwise at most every `LOOK_EVERY` seconds of real time (a fault `sitesrv fault`
sets from another process is seen within a tenth of a second; two stats per check were about a
twentieth of a step run's system calls). It does not walk the counted folders on every write,
which would make an extraction of n files cost n²: it keeps the total it last measured and adds each write's size
to it, and measures again when the quota changes, every `REMEASURE_EVERY` checks (a write by
another process, a deletion), and before it refuses a write, so a refusal always rests on what
the folders hold.
"""

from __future__ import annotations

import fnmatch
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import attrs

from sitesrv.files.atomic import Durability, replace_file
from sitesrv.files.readonly import remove_file
from sitesrv.files.regular import STATE_FILE_BYTES, read_limited
from sitesrv.lab.layout import SMSPKG, LabLayout, SiteLayout

QUOTA_FILE = "disk_quota.json"
LOCKS_FILE = "file_locks.json"
DP_DIR = "dp"
REMEASURE_EVERY = 64  # checks of one site between walks of its counted folders
LOOK_EVERY = 0.1  # real seconds between looks at a site's fault files (another process's)
_set_here = 0  # faults this process set: a check looks at the files again when it changed


@attrs.frozen
class Quota:
    free: int  # bytes free when the fault was set
    used: int  # bytes the counted folders held then

    @property
    def capacity(self) -> int:
        return self.used + self.free


@attrs.frozen
class Lock:
    box: str  # an inbox by its SMS name: schedule.box
    pattern: str  # a file name pattern, matched case-insensitively

    def holds(self, site: SiteLayout, path: Path) -> bool:
        try:
            path.relative_to(site.inbox(self.box))
        except ValueError:
            return False
        return fnmatch.fnmatchcase(path.name.upper(), self.pattern.upper())


def quota_file(site: SiteLayout) -> Path:
    return site.state_dir / QUOTA_FILE


def locks_file(site: SiteLayout) -> Path:
    return site.state_dir / LOCKS_FILE


def read_quota(site: SiteLayout) -> Quota | None:
    """The site's modelled quota; None if there is none (or its file cannot be read)."""
    try:
        raw = json.loads(read_limited(quota_file(site), STATE_FILE_BYTES).decode("utf-8"))
        return Quota(int(raw["free"]), int(raw["used"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_locks(site: SiteLayout) -> tuple[Lock, ...]:
    try:
        raw = json.loads(read_limited(locks_file(site), STATE_FILE_BYTES).decode("utf-8"))
        return tuple(Lock(str(e["box"]), str(e["pattern"])) for e in raw["locks"])
    except (OSError, ValueError, KeyError, TypeError):
        return ()


def write_quota(site: SiteLayout, quota: Quota | None, durability: Durability) -> bool:
    """Set the site's quota (None: lift it); False if nothing changed."""
    if read_quota(site) == quota:
        return False
    if quota is None:
        remove_file(quota_file(site))
    else:
        _write(quota_file(site), {"free": quota.free, "used": quota.used}, durability)
    _changed_here()
    return True


def write_locks(site: SiteLayout, locks: tuple[Lock, ...], durability: Durability) -> bool:
    """Set the files the site's scanner holds (none: lift them); False if nothing changed."""
    if read_locks(site) == locks:
        return False
    if not locks:
        remove_file(locks_file(site))
    else:
        _write(locks_file(site), {"locks": [{"box": lock.box, "pattern": lock.pattern}
                                            for lock in locks]}, durability)
    _changed_here()
    return True


def _changed_here() -> None:
    """This process changed a fault file: the next check of every site looks at the files."""
    global _set_here
    _set_here += 1


def _write(path: Path, data: object, durability: Durability) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"), durability,
                 tmp=path.with_name(f".{path.name}.{os.getpid()}.tmp"))


def counted(site: SiteLayout, path: Path) -> bool:
    """Whether a write at `path` counts against the site's package drive quota."""
    try:
        parts = path.relative_to(site.root).parts
    except ValueError:
        return False
    if len(parts) == 1:
        return True  # a file at the drive root: the compression temp
    if parts[0] in (SMSPKG, DP_DIR):
        return True
    try:
        path.relative_to(site.receive)
    except ValueError:
        return False
    return True


def used_bytes(site: SiteLayout) -> int:
    """The bytes the counted folders of the site hold now."""
    total = 0
    for entry in os.scandir(site.root):
        if entry.is_file(follow_symlinks=False):
            total += entry.stat(follow_symlinks=False).st_size
    for folder in (site.smspkg, site.root / DP_DIR, site.receive):
        total += sum(_sizes(folder))
    return total


def _sizes(folder: Path) -> Iterator[int]:
    for top, _, names in os.walk(folder):
        for name in names:
            try:
                yield os.lstat(os.path.join(top, name)).st_size
            except FileNotFoundError:
                continue


class _SiteFaults:
    """One site's quota and locks, each re-read only when its file changed."""

    def __init__(self, site: SiteLayout) -> None:
        self.site = site
        # Asked before every claim and every write of every unit: strings, not pathlib.
        self._quota_file = os.fspath(quota_file(site))
        self._locks_file = os.fspath(locks_file(site))
        self._stamps: dict[str, tuple[int, int, int, int] | None] = {}
        self.quota: Quota | None = None
        self.locks: tuple[Lock, ...] = ()
        self._guard = threading.Lock()
        self._used: int | None = None  # the counted folders' bytes as last measured, plus writes
        self._checks = 0  # checks since `_used` was measured
        self._seen = -1  # `_set_here` when the files were last looked at
        self._look_at = 0.0  # monotonic time of the next look

    def refresh(self) -> None:
        """Read the files again if they changed; `LabDrives._site` asks only when a look is due."""
        self._seen, self._look_at = _set_here, time.monotonic() + LOOK_EVERY
        if self._changed(self._quota_file):
            self.quota = read_quota(self.site)
            with self._guard:
                self._used = None
        if self._changed(self._locks_file):
            self.locks = read_locks(self.site)

    def fits(self, path: str, adding: int) -> bool:
        """Whether `adding` more bytes at `path` fit (with 0: whether what `path` now holds,
        written already, fits); a write that fits is added to the running total."""
        quota = self.quota
        if quota is None:
            return True
        written = 0
        if adding == 0:
            try:
                written = os.lstat(path).st_size
            except FileNotFoundError:
                written = 0
        with self._guard:
            self._checks += 1
            if (self._used is not None and self._checks < REMEASURE_EVERY
                    and self._used + adding + written <= quota.capacity):
                self._used += adding + written
                return True
            used = used_bytes(self.site)  # what `path` holds already is in it
            self._checks = 0
            if used + adding > quota.capacity:
                self._used = used
                return False
            self._used = used + adding
            return True

    def _changed(self, path: str) -> bool:
        try:
            stat = os.stat(path)
            stamp: tuple[int, int, int, int] | None = (stat.st_ino, stat.st_size,
                                                      stat.st_mtime_ns, stat.st_ctime_ns)
        except FileNotFoundError:
            stamp = None
        if path in self._stamps and self._stamps[path] == stamp:
            return False
        self._stamps[path] = stamp
        return True


class LabDrives:
    """The lab's drives as its runs see them (a `files.drive.DrivePolicy`)."""

    def __init__(self, layout: LabLayout) -> None:
        self.layout = layout
        self._sites = {site.site.code: _SiteFaults(site) for site in layout.sites()}
        self._prefix = os.path.join(layout.root, "")

    def _site(self, path: str) -> _SiteFaults | None:
        """The faults of the site `path` is in, read again if they changed; None outside."""
        found = None
        if path.startswith(self._prefix):  # the usual lab path, without pathlib
            found = self._sites.get(path[len(self._prefix):].partition(os.sep)[0])
        if found is None:  # any other spelling of a lab path
            try:
                found = self._sites.get(Path(path).relative_to(self.layout.root).parts[0])
            except (ValueError, IndexError):
                return None
        # Asked before every claim and write: the look itself is a call only when it is due.
        if found is not None and not (found._seen == _set_here
                                      and time.monotonic() < found._look_at):
            found.refresh()
        return found

    def fits(self, path: str, adding: int) -> bool:
        site = self._site(path)
        if site is None or site.quota is None or not counted(site.site, Path(path)):
            return True
        return site.fits(path, adding)

    def locked(self, path: str) -> bool:
        site = self._site(path)
        return (site is not None and bool(site.locks)
                and any(lock.holds(site.site, Path(path)) for lock in site.locks))

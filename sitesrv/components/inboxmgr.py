"""Inbox Manager (SMS_INBOX_MANAGER): the site's `pkginfo.box` and `offerinf.box` mirrored to
its client access point, `CAP_<SITE>\\pkginfo.box` and `CAP_<SITE>\\offerinf.box`.

Mirroring copies every source file (and folder, such as a package's `<PkgID>.ICO`), then deletes
what the destination has and the source has not (the SMS 2.0 Resource Guide,
docs/sources.md#sms-20-resource-guide). While it changes a CAP inbox it keeps the lock file `Inboxlck.tok`
there, and deletes it afterwards with up to ten attempts, as SMS 2.0 SP2 with the Q275617 fix
does. Every copy is published under a temp name and renamed, so a client never reads half a file.

It owns no inbox: it never consumes its sources. A change in either folder wakes it (`wakes_on`;
the components that write there publish, or call `ctx.changed`), and each start does a full pass,
so what a person changed while the site servers were stopped is mirrored too.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

import attrs

from sitesrv.lab.boxes import CAP_BOXES, CORRUPT_DIR, WORK_DIR, ignored_by_scans
from sitesrv.logs.win32 import error_text
from sitesrv.runtime.component import Component

LOCK_TOKEN = "Inboxlck.tok"  # in a CAP inbox while Inbox Manager updates it (Q275617)
TOKEN_DELETE_ATTEMPTS = 10  # Q275617: the fix tries ten times to delete it
_CHUNK = 1 << 16


@attrs.frozen
class Plan:
    """What one mirror pass changes in one destination folder tree."""

    cleared: tuple[Path, ...] = ()  # a file where the source has a folder, or the reverse
    folders: tuple[Path, ...] = ()  # destination folders to create
    copies: tuple[tuple[Path, Path], ...] = ()  # (source file, destination file)
    deletions: tuple[Path, ...] = ()  # destination files or folders the source no longer has

    def __bool__(self) -> bool:
        return bool(self.cleared or self.folders or self.copies or self.deletions)


class InboxManager(Component):
    name = "SMS_INBOX_MANAGER"
    log_name = "inboxmgr.log"
    wakes_on = CAP_BOXES

    def start(self) -> None:
        # per source box: the pairs of files the last pass found equal (see `_plan`)
        self._verified: dict[Path, dict[str, Signature]] = {}
        for box in CAP_BOXES:
            self._remove_leftovers(self.ctx.layout.cap / box)
        self.ctx.wake_at(self.ctx.clock.now())

    def work(self) -> bool:
        for box in CAP_BOXES:
            self._mirror(self.ctx.layout.inbox(box), self.ctx.layout.cap / box)
        return False

    def _remove_leftovers(self, cap_box: Path) -> None:
        """A lock file or a temp copy an interrupted update left in a CAP inbox."""
        if not cap_box.is_dir():
            return
        token = cap_box / LOCK_TOKEN
        if token.is_file() and self.ctx.remove(token):
            self.ctx.log.write(f"Deleted the inbox lock file {self._cap(token)} an interrupted "
                               "update left")
        for name in sorted(os.listdir(cap_box)):
            path = cap_box / name
            if name.startswith(".") and name.upper().endswith(".TMP") and path.is_file() \
                    and self.ctx.is_stale(path):
                self.ctx.remove(path)
                self.ctx.log.write(f"Deleted the stale temporary file {self._cap(path)}")

    def _mirror(self, source: Path, cap_box: Path) -> None:
        if not cap_box.is_dir():
            self.ctx.make_dirs(cap_box)
            self.ctx.log.write(f"Created the client access point inbox {self._cap(cap_box)}")
        verified: dict[str, Signature] = {}
        plan = _plan(source, cap_box, self._verified.get(source, {}), verified)
        self._verified[source] = verified
        if not plan:
            return
        log = self.ctx.log.write
        token = cap_box / LOCK_TOKEN
        log(f"Updating {self._cap(cap_box)} from {self.ctx.windows(source)}")
        self.ctx.publish(token, b"")
        for dest in plan.cleared:
            self.ctx.remove_tree(dest)
        for folder in plan.folders:
            self.ctx.make_dirs(folder)
        for src, dest in plan.copies:
            self.ctx.publish_copy(src, dest)
            log(f"Copied {self.ctx.windows(src)} to {self._cap(dest)}")
        for dest in plan.deletions:
            self.ctx.remove_tree(dest)
            log(f"Deleted {self._cap(dest)}, which is no longer in {self.ctx.windows(source)}")
        self._unlock(token)
        log(f"Mirrored {self.ctx.windows(source)} to {self._cap(cap_box)}: "
            f"{len(plan.copies)} file(s) copied, {len(plan.deletions)} deleted")
        self.ctx.emit("cap_updated", box=source.name, copied=len(plan.copies),
                      deleted=len(plan.deletions), cap=self._cap(cap_box))

    def _unlock(self, token: Path) -> None:
        """Delete the lock file, trying ten times (Q275617); a token left blocks the clients."""
        for attempt in range(1, TOKEN_DELETE_ATTEMPTS + 1):
            try:
                self.ctx.remove(token)
                return
            except OSError as e:
                self.ctx.log.write(f"Failed to delete the inbox lock file {self._cap(token)} "
                                   f"(attempt {attempt} of {TOKEN_DELETE_ATTEMPTS}): "
                                   f"{error_text(e)}")
        self.ctx.log.write(f"Could not delete the inbox lock file {self._cap(token)} after "
                           f"{TOKEN_DELETE_ATTEMPTS} attempts; it is tried again at the next "
                           "update")
        self.ctx.emit("cap_lock_left", file=self._cap(token))

    def _cap(self, path: Path) -> str:
        return self.ctx.layout.unc(path)


# A file's identity and state as a mirror compares them: two large files once found to hold the
# same bytes are taken to still do while neither's signature changed. That is a shortcut, not a
# proof: a rewrite by temp-and-rename may get the same inode number back (ext4), and where
# timestamps are coarse (older kernels, network shares) a same-size rewrite within one step keeps
# mtime and ctime too. So files up to `ALWAYS_READ` bytes (every .ofr, .lkp, .pkg, .nal and icon
# SMS writes there) are compared by their bytes on every pass, and only larger ones trust it.
ALWAYS_READ = _CHUNK
Signature = tuple[int, int, int, int, int, int]


def _signature(a: os.stat_result, b: os.stat_result) -> Signature:
    return (a.st_ino, a.st_mtime_ns, a.st_ctime_ns, b.st_ino, b.st_mtime_ns, b.st_ctime_ns)


def _entries(folder: str | Path, *, skip: frozenset[str] = frozenset()) -> dict[str, os.DirEntry[str]]:
    """The files and folders a mirror looks at, by upper-case name (Windows ignores case):
    never temp files, dot-files, links, a component's `.work`/`corrupt`, or `skip`."""
    try:
        listing = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    return {entry.name.upper(): entry for entry in listing
            if not (ignored_by_scans(entry.name) or entry.name in skip or entry.is_symlink())}


def _plan(source: str | Path, dest: str | Path, verified: Mapping[str, Signature],
          still: dict[str, Signature], *, top: bool = True) -> Plan:
    """What makes `dest` a mirror of `source`: copies first, then deletions.

    `verified` holds the pairs of files the last pass found equal; those found equal now go
    into `still`, so an unchanged pair is not read again on every pass. (Paths are strings
    here: a pass looks at every file of the box, and changes few.)"""
    skip = frozenset({WORK_DIR, CORRUPT_DIR}) if top else frozenset()
    have = _entries(source, skip=skip)
    there = _entries(dest, skip=frozenset({LOCK_TOKEN}) if top else frozenset())
    cleared: list[Path] = []
    folders: list[Path] = []
    copies: list[tuple[Path, Path]] = []
    deletions = [Path(there[k].path) for k in sorted(there) if k not in have]
    for key in sorted(have):
        src = have[key]
        found = there.get(key)
        target = found.path if found is not None else os.path.join(dest, src.name)
        if src.is_dir():
            is_dir = found.is_dir() if found is not None else os.path.isdir(target)
            if not is_dir and (found is not None or os.path.exists(target)):
                cleared.append(Path(target))
            if not is_dir:
                folders.append(Path(target))
            below = _plan(src.path, target, verified, still, top=False)
            cleared += below.cleared
            folders += below.folders
            copies += below.copies
            deletions += below.deletions
        elif src.is_file():
            if found.is_dir() if found is not None else os.path.isdir(target):
                cleared.append(Path(target))
            if not _same(src, found, target, verified, still):
                copies.append((Path(src.path), Path(target)))
    return Plan(tuple(cleared), tuple(folders), tuple(copies), tuple(deletions))


def _same(src: os.DirEntry[str], found: os.DirEntry[str] | None, target: str,
          verified: Mapping[str, Signature], still: dict[str, Signature]) -> bool:
    """Whether the source file and its mirror hold the same bytes, read a chunk at a time
    unless the pair is large and unchanged since a pass found them equal."""
    try:
        a = src.stat()
        b = found.stat() if found is not None else os.stat(target)
        if not stat.S_ISREG(b.st_mode) or a.st_size != b.st_size:
            return False
        signature = _signature(a, b)
        trusted = a.st_size > ALWAYS_READ and verified.get(src.path) == signature
        if not trusted and not _same_bytes(src.path, target):
            return False
    except FileNotFoundError:
        return False
    if a.st_size > ALWAYS_READ:
        still[src.path] = signature
    return True


def _same_bytes(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            chunk = fa.read(_CHUNK)
            if chunk != fb.read(_CHUNK):
                return False
            if not chunk:
                return True

"""Inbox Manager (SMS_INBOX_MANAGER): the site's `pkginfo.box` and `offerinf.box` mirrored to
its client access point, `CAP_<SITE>\\pkginfo.box` and `CAP_<SITE>\\offerinf.box`.

Mirroring copies every source file (and folder, such as a package's `<PkgID>.ICO`), then deletes
what the destination has and the source has not (the SMS 2.0 Resource Guide,
docs/sources.md#sms-20-resource-guide). While it changes a CAP inbox it keeps the lock file `Inboxlck.tok`
there, and deletes it afterwards with up to ten attempts, as SMS 2.0 SP2 with the Q275617 fix
does, also when the update fails half-way (else clients would wait on it until the next one,
or a restart). Every copy is published under a temp name and renamed, so a client never reads half a file.

What no SMS site server could have put in a box is not mirrored: a file over MAX_FILE_BYTES, or
an entry whose name no Windows file system holds, goes to the box's `corrupt\\` with a line, as
an inbox's would (docs/limits.md), and so does a FIFO or anything else that is neither a file
nor a folder (moved by a rename, never opened) and a folder of more than MAX_FOLDER_ENTRIES
entries; a link there is left alone. Whatever the CAP inbox has
and the box has not is deleted, a link included: the link itself, never what it points to.

It owns no inbox: it never consumes its sources, only puts aside what it refuses. A change in either folder wakes it (`wakes_on`;
the components that write there publish, or call `ctx.changed` with the names they removed or
created), and a pass looks only at the entries the runtime says changed since the last
(`ctx.changes`; a package's `<PkgID>.ICO` folder is one entry, whatever changed inside it), so a
pass costs what changed, not what the box holds. A full pass, every entry on both sides, runs
at each start (what a person changed while the site servers were stopped), whenever the runtime
cannot say what changed (a rescan: live, every `rescan_interval` and after a watcher's
overflow or restart; a change announced without a name), after a pass that failed, when the
CAP inbox had to be created, and at the first pass `timing.full_look_interval` of lab time
after the box's last full pass: a safety net for a change nobody announced (a person's,
in step mode, or a deletion, which the live watcher does not report), and for a CAP a person
changed. A damaged CAP file is thus repaired at the next full pass, not at the next pass.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

from sitesrv.errors import FormatError
from sitesrv.files.folders import entries_up_to, is_folder
from sitesrv.files.names import foreign_name
from sitesrv.files.regular import not_a_file
from sitesrv.formats.sections import INSTRUCTION_LIMITS
from sitesrv.lab.boxes import CAP_BOXES, CORRUPT_DIR, WORK_DIR, ignored_by_scans
from sitesrv.logs.win32 import error_text
from sitesrv.runtime.component import Component

LOCK_TOKEN = "Inboxlck.tok"  # in a CAP inbox while Inbox Manager updates it (Q275617)
TOKEN_DELETE_ATTEMPTS = 10  # Q275617: the fix tries ten times to delete it
_CHUNK = 1 << 16
# The most a file of either box may have, the instruction files' size (docs/limits.md): what
# goes there is a `.PKG` and the offer files (`.ofr`, `.ins`, `.lkp`), instruction files held
# to it where they are written and read; a `.NAL`, a line per DP of the site (about 60 bytes
# each), and the program icons in a package's `.ICO` folder are far smaller. A bigger file goes
# to the box's `corrupt\\`, before a byte of it is copied.
MAX_FILE_BYTES = INSTRUCTION_LIMITS.file_bytes
# The most entries a folder of either box may hold (a package's `<PkgID>.ICO`: an icon per
# program), as many as an instruction file may have sections: a `.PKG` lists each program in a
# section of its own, so every package's icons fit. A bigger folder goes to the box's
# `corrupt\\` whole, before one of its files is copied (docs/limits.md).
MAX_FOLDER_ENTRIES = INSTRUCTION_LIMITS.sections


@attrs.frozen
class Plan:
    """What one mirror pass changes in one destination folder tree."""

    cleared: tuple[Path, ...] = ()  # a file where the source has a folder, or the reverse
    folders: tuple[Path, ...] = ()  # destination folders to create
    copies: tuple[tuple[Path, Path], ...] = ()  # (source file, destination file)
    deletions: tuple[Path, ...] = ()  # destination entries the source no longer has, or links
    # Source entries never mirrored, each with its problem (`_refusal`): taken as not there.
    refused: tuple[tuple[Path, str], ...] = ()

    def __bool__(self) -> bool:
        """Whether the pass changes the CAP inbox (`refused` is the source's business)."""
        return bool(self.cleared or self.folders or self.copies or self.deletions)


class InboxManager(Component):
    name = "SMS_INBOX_MANAGER"
    log_name = "inboxmgr.log"
    wakes_on = CAP_BOXES

    def start(self) -> None:
        layout = self.ctx.layout
        self._mirrors = {box: BoxMirror(layout.inbox(box), layout.cap / box) for box in CAP_BOXES}
        # The boxes whose next pass is a full one: a pass that failed stays in here.
        self._full = set(CAP_BOXES)
        self._full_due = dict.fromkeys(CAP_BOXES, self.ctx.clock.now())
        for box in CAP_BOXES:
            self._remove_leftovers(layout.cap / box)
        self.ctx.wake_at(self.ctx.clock.now())

    def work(self) -> bool:
        now = self.ctx.clock.now()
        for box, mirror in self._mirrors.items():
            changes = self.ctx.changes(mirror.source)
            names = None if changes is None or box in self._full else set(changes)
            if names is None or now >= self._full_due[box]:
                names = None
                self._full_due[box] = now + self.ctx.timing.full_look_interval
            self._full.add(box)  # until the pass ends: what a failed one left, all of it
            self._mirror(mirror, names)
            self._full.discard(box)
        return False

    def _remove_leftovers(self, cap_box: Path) -> None:
        """A lock file or a temp copy an interrupted update left in a CAP inbox (never looked
        for through a link: the first pass moves one aside)."""
        if not _real_folders(cap_box):
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

    def _mirror(self, mirror: BoxMirror, names: set[str] | None) -> None:
        """One pass over the box: every entry (`names` None), or the entries of `names`."""
        source, cap_box = mirror.source, mirror.cap
        if not self._made_real(cap_box):
            self.ctx.log.write(f"Created the client access point inbox {self._cap(cap_box)}")
            names = None
        if names is not None and not names:
            return
        plan = mirror.plan(names)
        for path, problem in plan.refused:  # a stranger in the box: kept aside, as inboxes do
            self.ctx.quarantine(source, path, problem)
        if not plan:
            return
        token = cap_box / LOCK_TOKEN
        self.ctx.log.write(f"Updating {self._cap(cap_box)} from {self.ctx.windows(source)}")
        self.ctx.publish(token, b"")
        try:
            self._apply(plan, source)
        except Exception:  # a failed unit leaves no lock behind: clients wait while it is there
            self._unlock(token)
            raise
        self._unlock(token)
        self.ctx.log.write(f"Mirrored {self.ctx.windows(source)} to {self._cap(cap_box)}: "
                           f"{len(plan.copies)} file(s) copied, {len(plan.deletions)} deleted")
        self.ctx.emit("cap_updated", box=source.name, copied=len(plan.copies),
                      deleted=len(plan.deletions), cap=self._cap(cap_box))

    def _apply(self, plan: Plan, source: Path) -> None:
        """Change the CAP inbox as `plan` says, while the lock file is there."""
        log = self.ctx.log.write
        for dest in plan.cleared:  # a file where a folder goes, or a link: never followed
            self.ctx.remove_tree(dest)
            log(f"Deleted {self._cap(dest)}, which was in the way: not the kind of entry "
                f"{self.ctx.windows(source)} has there")
        for folder in plan.folders:
            self.ctx.make_dirs(folder)
        for src, dest in plan.copies:
            self.ctx.publish_copy(src, dest)
            log(f"Copied {self.ctx.windows(src)} to {self._cap(dest)}")
        for dest in plan.deletions:  # a link goes itself, never what it points to
            self.ctx.remove_tree(dest)
            log(f"Deleted {self._cap(dest)}, which is no longer in {self.ctx.windows(source)}")

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
        """A path of the CAP as a log line shows it (a stranger's name escaped)."""
        return self.ctx.layout.unc(path)

    def _made_real(self, cap_box: Path) -> bool:
        """Whether the CAP and its inbox are real folders, made so if they are not there: a
        link or anything else planted under either name is moved aside (`ctx.make_dirs`),
        never written through nor listed, and the client access point is mirrored anew."""
        real = _real_folders(cap_box)
        if not real:  # the CAP first: a box seen through a linked CAP looks like a folder
            self.ctx.make_dirs(cap_box.parent)
            self.ctx.make_dirs(cap_box)
        return real


# A file's identity and state as a mirror compares them: two large files once found to hold the
# same bytes are taken to still do while neither's signature changed. That is a shortcut, not a
# proof: a rewrite by temp-and-rename may get the same inode number back (ext4), and where
# timestamps are coarse (older kernels, network shares) a same-size rewrite within one step keeps
# mtime and ctime too. So files up to `ALWAYS_READ` bytes (every .ofr, .lkp, .pkg, .nal and icon
# SMS writes there) are compared by their bytes whenever a pass looks at them (a full pass, or
# one of a change of their entry), and only larger ones trust it.
ALWAYS_READ = _CHUNK
Signature = tuple[int, int, int, int, int, int]


def _signature(a: os.stat_result, b: os.stat_result) -> Signature:
    return (a.st_ino, a.st_mtime_ns, a.st_ctime_ns, b.st_ino, b.st_mtime_ns, b.st_ctime_ns)


SOURCE_SKIP = frozenset({WORK_DIR, CORRUPT_DIR})  # a box's own folders, never mirrored
CAP_SKIP = frozenset({LOCK_TOKEN})


class BoxMirror:
    """A source box and its CAP inbox, with what the last passes found: the CAP's name for
    each top-level entry (Windows ignores case, so `zzz00001.pkg` there mirrors `ZZZ00001.PKG`)
    and, per entry, the pairs of files found equal (`_same`)."""

    def __init__(self, source: Path, cap: Path) -> None:
        self.source = source
        self.cap = cap
        self.cap_names: dict[str, str] = {}  # upper-case name -> the CAP's name
        self.verified: dict[str, dict[str, Signature]] = {}  # upper-case name -> pairs

    def plan(self, names: Iterable[str] | None = None) -> Plan:
        """What makes the CAP inbox a mirror of the box (`names` None), or makes its entries of
        `names` (top-level names of the box, in any case) mirror the box's: copies first, then
        deletions, in the order a full pass would make them."""
        if names is None:
            have = _entries(self.source, skip=SOURCE_SKIP)
            there = _entries(self.cap, skip=CAP_SKIP, links=True)
            verified, self.verified, self.cap_names = self.verified, {}, {}
        else:
            names = sorted(names)
            have, there = self._look_up(names)
            keys = {name.upper() for name in names}
            verified = {k: self.verified.pop(k) for k in keys if k in self.verified}
            for key in keys:
                self.cap_names.pop(key, None)
        steps = _Steps()
        _refuse(steps, have)
        steps.deletions += [Path(there[k].path) for k in sorted(there) if k not in have]
        for key in sorted(have):
            still: dict[str, Signature] = {}
            target = _plan_entry(steps, have[key], there.get(key), str(self.cap),
                                 verified.get(key, {}), still)
            self.cap_names[key] = os.path.basename(target)
            if still:
                self.verified[key] = still
        return steps.plan()

    def _look_up(self, names: list[str]) -> tuple[dict[str, Found], dict[str, Found]]:
        """The entries of these names (sorted) on both sides, by upper-case name, as `_entries`
        would list them (of two names that differ in case, the later wins): on the CAP's side
        under the name the last pass left there, or this one."""
        have: dict[str, Found] = {}
        there: dict[str, Found] = {}
        for name in names:
            key = name.upper()
            if (src := _found(self.source, name, SOURCE_SKIP)) is not None:
                have[key] = src
            for cap_name in dict.fromkeys((self.cap_names.get(key, name), name)):
                if (dest := _found(self.cap, cap_name, CAP_SKIP, links=True)) is not None:
                    there[key] = dest
                    break
        return have, there


@attrs.frozen
class Found:
    """One entry looked up by name: what a pass uses of an `os.DirEntry`, never followed (a
    link is one only on the CAP's side, to be deleted)."""

    path: str
    name: str
    st: os.stat_result

    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)

    def is_file(self) -> bool:
        return stat.S_ISREG(self.st.st_mode)

    def stat(self, *, follow_symlinks: bool = False) -> os.stat_result:
        """What `os.lstat` said, whatever `follow_symlinks` asks (as `os.DirEntry.stat`)."""
        return self.st


Entry = os.DirEntry[str] | Found


def _found(folder: Path, name: str, skip: frozenset[str], *,
           links: bool = False) -> Found | None:
    """The entry `name` of `folder` as `_entries` would list it."""
    if ignored_by_scans(name) or name in skip:
        return None
    path = os.path.join(folder, name)
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return None if stat.S_ISLNK(st.st_mode) and not links else Found(path, name, st)


def _real_folders(cap_box: Path) -> bool:
    """Whether the CAP and its inbox are folders, not links or anything else."""
    return is_folder(cap_box.parent) and is_folder(cap_box)


def _mode(path: str) -> int | None:
    """What is at `path`, not following a link; None if nothing is."""
    try:
        return os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None


def _entries(folder: str | Path, *, skip: frozenset[str] = frozenset(),
             links: bool = False) -> dict[str, Entry]:
    """The files and folders a mirror looks at, by upper-case name (Windows ignores case):
    never temp files, dot-files, a component's `.work`/`corrupt`, or `skip`. A link is left
    out of a source, never mirrored; `links`: listed (a CAP's, to be deleted, never followed)."""
    try:
        listing = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    return {entry.name.upper(): entry for entry in listing
            if not (ignored_by_scans(entry.name) or entry.name in skip
                    or (entry.is_symlink() and not links))}


def _refuse(steps: _Steps, have: dict[str, Entry]) -> None:
    """Take the source entries a mirror refuses out of `have`, into the plan's `refused`."""
    for key in sorted(have):
        if (problem := _refusal(have[key])) is not None:
            steps.refused.append((Path(have[key].path), problem))
            del have[key]


def _refusal(entry: Entry) -> str | None:
    """Why a source entry is not mirrored, or None: a name no Windows file system holds (no
    SMS site server could have written it), a file over MAX_FILE_BYTES, a folder of more than
    MAX_FOLDER_ENTRIES entries, or neither a file nor a folder (a FIFO, a socket: never opened,
    moved aside by a rename). A link is left out before (`_entries`)."""
    if (problem := foreign_name(entry.name)) is not None:
        return problem
    if entry.is_file():
        try:
            INSTRUCTION_LIMITS.check_size(entry.stat().st_size, entry.path,
                                          "client access point file")
        except FormatError as e:
            return e.problem
    elif entry.is_dir():
        return _too_many(entry.path)
    else:
        return not_a_file(entry.stat(follow_symlinks=False).st_mode)
    return None


def _too_many(folder: str) -> str | None:
    """Why a folder of the box is not mirrored, if it has more than MAX_FOLDER_ENTRIES
    entries: counted without sorting, and no further than one over."""
    try:
        count = entries_up_to(folder, MAX_FOLDER_ENTRIES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if count <= MAX_FOLDER_ENTRIES:
        return None
    return (f"more than {MAX_FOLDER_ENTRIES} files and folders, the most a folder of a client "
            "access point inbox (a package's icon folder) may have (docs/limits.md)")


@attrs.define
class _Steps:
    """A plan as a pass collects it."""

    cleared: list[Path] = attrs.Factory(list)
    folders: list[Path] = attrs.Factory(list)
    copies: list[tuple[Path, Path]] = attrs.Factory(list)
    deletions: list[Path] = attrs.Factory(list)
    refused: list[tuple[Path, str]] = attrs.Factory(list)

    def plan(self) -> Plan:
        return Plan(tuple(self.cleared), tuple(self.folders), tuple(self.copies),
                    tuple(self.deletions), tuple(self.refused))


def _plan_tree(steps: _Steps, source: str, dest: str, verified: Mapping[str, Signature],
               still: dict[str, Signature], *, fresh: bool = False) -> None:
    """What makes the folder `dest` a mirror of the folder `source` (below a box's top);
    `fresh`: `dest` is to be made, so nothing there is looked at."""
    have = _entries(source)
    _refuse(steps, have)
    there = {} if fresh else _entries(dest, links=True)
    steps.deletions += [Path(there[k].path) for k in sorted(there) if k not in have]
    for key in sorted(have):
        _plan_entry(steps, have[key], there.get(key), dest, verified, still)


def _plan_entry(steps: _Steps, src: Entry, found: Entry | None, dest: str,
                verified: Mapping[str, Signature], still: dict[str, Signature]) -> str:
    """What makes `found` (or a new entry of `dest`) a mirror of the entry `src`; returns the
    path the mirror has. Paths are strings here: a full pass looks at every file of the box.

    `verified` holds the pairs of files the last pass found equal; those found equal now go
    into `still`, so an unchanged pair of large files is not read again on every pass."""
    target = found.path if found is not None else os.path.join(dest, src.name)
    # What is at `target` (`found`, or else looked up) is looked at, never followed.
    mode = _mode(target) if found is None else found.stat(follow_symlinks=False).st_mode
    if src.is_dir():
        is_dir = mode is not None and stat.S_ISDIR(mode)
        if not is_dir and mode is not None:
            steps.cleared.append(Path(target))
        if not is_dir:
            steps.folders.append(Path(target))
        _plan_tree(steps, src.path, target, verified, still, fresh=not is_dir)
    elif src.is_file():
        if mode is not None and not stat.S_ISREG(mode):  # a folder, a link: cleared first
            steps.cleared.append(Path(target))
        if not _same(src, found, target, verified, still):
            steps.copies.append((Path(src.path), Path(target)))
    return target


def _same(src: Entry, found: Entry | None, target: str,
          verified: Mapping[str, Signature], still: dict[str, Signature]) -> bool:
    """Whether the source file and its mirror hold the same bytes, read a chunk at a time
    unless the pair is large and unchanged since a pass found them equal."""
    try:
        a = src.stat()
        b = found.stat(follow_symlinks=False) if found is not None else os.lstat(target)
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

"""Folders the lab writes into are real folders, every one of them from the site's root down.

Anyone who can write to a share can put a symbolic link (to a folder outside the lab) or a file
under the name of a folder a component writes into, at any depth: `despoolr.box` as well as
`despoolr.box\\receive`. Followed, the link would have the component write, rename and delete
outside the lab. So each folder on the way is looked at without following it, and what is not a
folder is renamed aside to `.<name>.refused` and a folder made in its place: kept, never used.
"""

from __future__ import annotations

import itertools
import os
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from sitesrv.errors import UserError
from sitesrv.files.names import refused_name
from sitesrv.files.pathtext import join
from sitesrv.files.regular import kind_of

# `lexists` asks `access` where it can leave a link unfollowed: where Python was built with
# `faccessat` (POSIX) and the C library and kernel take AT_SYMLINK_NOFOLLOW now (some answer
# every such call EINVAL or EPERM, which `access` turns into False): asked of this folder.
_ACCESS_NOFOLLOW = (os.access in os.supports_follow_symlinks
                    and os.access(os.path.dirname(os.path.abspath(__file__)), os.F_OK,
                                  follow_symlinks=False))


def is_folder(path: Path | str) -> bool:
    """Whether `path` is a folder itself: not a link to one, nor anything else, nor missing.
    The check of a folder that is there, in one call (a claim makes it every time)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


def lexists(path: Path | str) -> bool:
    """Whether anything is at `path`, a link too, never followed: `os.path.lexists`.

    Asked where a name is chosen (a free name is the usual answer): there `os.path.lexists`
    costs five times as much, for the `lstat` result it builds and, for a missing name, the
    exception it catches. `access` answers without either where it can leave a link unfollowed
    (POSIX); elsewhere, `os.path.lexists` answers."""
    if not _ACCESS_NOFOLLOW:
        return os.path.lexists(path)
    try:
        return os.access(path, os.F_OK, follow_symlinks=False)
    except ValueError:  # a NUL in the name, as `os.path.lexists` answers it: nothing there
        return False


def entries_up_to(folder: Path | str, limit: int) -> int:
    """How many entries `folder` has, counted no further than `limit`: a bound checked before
    a folder anyone may fill is listed (and sorted) whole. The count has no order."""
    with os.scandir(folder) as listing:
        return sum(1 for _ in itertools.islice(listing, limit))


def moved_aside(name: str, aside: str, mode: int) -> str:
    """The log line for what `own_folders` moved aside, the paths as the log shows them."""
    return (f"Moved {name} aside to {aside}: it was {kind_of(mode)}, not a folder, and sitesrv "
            "never writes through one")


def own_folders(folder: Path, below: Path, owned: set[str] | None = None
                ) -> tuple[list[tuple[Path, Path, int]], bool]:
    """Make `folder`, and every folder between `below` and it, a real folder. Returns what was
    moved aside, as (the name, where it went, its mode), and whether a folder was made. Outside
    `below`, only `folder` itself is looked at.

    `owned`: the folders (as text) one operation already found or made real, which it does not
    look at again (a component's start-up recovery walks the same folders above each of its
    inboxes); each folder found real or made here joins it. The caller empties it when it
    moves anything that could be one of them."""
    # Walked as text (a unit's writes ask for their folders each time): a Path only for what
    # is made or moved aside. The usual folder, spelled below `below`, is split as text.
    text, current = os.fspath(folder), os.fspath(below)
    prefix = os.path.join(current, "")
    parts: Sequence[str]
    if text.startswith(prefix):
        parts = text[len(prefix):].split(os.sep)
    elif text == current:
        parts = ()
    else:
        try:
            parts = folder.relative_to(below).parts
        except ValueError:
            parts, current = (folder.name,), os.fspath(folder.parent)
    moved = []
    made = False
    for part in parts:
        current = join(current, part)
        if owned is not None and current in owned:
            continue
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            made = True
            if _made(current) and owned is not None:
                owned.add(current)
            continue
        if stat.S_ISDIR(mode):
            if owned is not None:
                owned.add(current)
            continue
        path = Path(current)
        aside = refused_name(path)
        os.replace(path, aside)
        path.mkdir()
        moved.append((path, aside, mode))
        if owned is not None:
            owned.add(current)
    return moved, made or bool(moved)


def _made(folder: str) -> bool:
    """Make a missing folder (with any folder above it that went missing meanwhile, and none
    if one appeared meanwhile); True if this very call made it, so it is a real folder. One
    `mkdir` in the usual case, without the Path that `Path.mkdir` needs."""
    try:
        os.mkdir(folder)
    except OSError:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return False
    return True


def on_stderr(line: str) -> None:
    """What a command did besides its work (a link moved aside: `made_real`), on stderr as
    `sitesrv: ...`: the `say` of the commands' Python calls unless the caller gives one."""
    print(f"sitesrv: {line}", file=sys.stderr)


def made_real(folder: Path, below: Path, shown: Callable[[Path], str]) -> list[str]:
    """`own_folders` for a command, before it writes anything: the lines saying what was moved
    aside (paths as `shown` gives them), for the command's log or its output. A folder that
    cannot be made is a user error, and nothing is written."""
    try:
        moved, _ = own_folders(folder, below)
    except OSError as e:
        raise UserError(f"The folder {folder} cannot be made ({e.strerror or e}), and nothing "
                        "was written: make it a folder sitesrv may write into, then try "
                        "again.") from None
    return [moved_aside(shown(name), shown(aside), mode) for name, aside, mode in moved]

"""The folders Courier Sender Manager writes into, the unreadable send requests it sets aside,
and the site's lock its commands take turns on (`one_manager`).

No worker scans the courier outbox: `sitesrv courier` is its only reader. So the command does
what a component's runtime does for the files and folders it takes: every folder it writes
into is a real folder from the site's root down (files/folders.py: a missing one is made, a
symbolic link or anything else under a folder's name is renamed aside to `.<name>.refused`,
never written through), and a send request that does not read goes to the outbox's
`corrupt\\`, with a line naming the file and its problem in coursend.log and in
`corrupt\\quarantine.log`, as the Standard Sender's runtime does with one in `outboxes\\LAN`.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from pathlib import Path

import attrs

from sitesrv.admin.lab import Lab
from sitesrv.errors import FormatError, UserError
from sitesrv.files.folders import made_real
from sitesrv.files.names import fitting_name, safe_name
from sitesrv.files.oslock import file_locked
from sitesrv.lab.boxes import CORRUPT_DIR, QUARANTINE_LOG
from sitesrv.lab.hierarchy import Site
from sitesrv.logs.appendfile import AppendFile
from sitesrv.logs.smslog import SmsLog
from sitesrv.logs.win32 import error_text

MANAGER_LOCK = ".coursend.lock"  # in <SITE>\SMS\state


@attrs.frozen
class SetAside:
    """An unreadable send request moved to `corrupt\\`: where it was, where it is, and why."""

    path: Path
    moved_to: Path
    problem: str


def problem_of(error: FormatError | OSError | UserError) -> str:
    """What is wrong, for a person: a file's problem without its path (the sentence names the
    file already), the system's words for an I/O error."""
    if isinstance(error, FormatError):
        return error.problem
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return str(error)


def shown(lab: Lab, site: Site, path: Path) -> str:
    """A path as the site's logs show it; one outside the site (LAB\\media) as it is."""
    here = lab.site(site.code)
    return here.windows(path) if path.is_relative_to(here.root) else str(path)


def real_folders(lab: Lab, site: Site, sms: SmsLog, *folders: Path) -> None:
    """Make each folder, and every folder from the site's root (the lab's, for LAB\\media)
    down to it, a real folder before anything is written: what was moved aside gets a line in
    coursend.log. A folder that cannot be made is a user error, and nothing is written."""
    here = lab.site(site.code)
    for folder in folders:
        below = here.root if folder.is_relative_to(here.root) else lab.root
        for line in made_real(folder, below, lambda path: shown(lab, site, path)):
            sms.write(line)


def set_aside(lab: Lab, site: Site, sms: SmsLog, path: Path, problem: str) -> SetAside | None:
    """Move an unreadable send request to `corrupt\\` beside it (never over an earlier file:
    `<name>.1`, `.2`...), with the runtime's line in coursend.log and `corrupt\\quarantine.log`.
    None if it is gone already (another command took it)."""
    corrupt = path.parent / CORRUPT_DIR
    real_folders(lab, site, sms, corrupt)
    kept = safe_name(path.name)  # as the runtime keeps a file (runtime/inbox.py)
    dest, n = corrupt / fitting_name(kept), 0
    while os.path.lexists(dest):
        n += 1
        dest = corrupt / fitting_name(kept, f".{n}")
    try:
        os.replace(path, dest)
    except FileNotFoundError:
        return None
    line = (f"Moved the corrupt file {shown(lab, site, path)} to {shown(lab, site, dest)}: "
            f"{problem}")
    sms.write(line)
    kept = AppendFile(corrupt / QUARANTINE_LOG)
    try:
        kept.append(sms.line(line))
    except OSError as e:
        sms.write(f"Cannot add to {shown(lab, site, corrupt / QUARANTINE_LOG)}: "
                  f"{error_text(e)}")
    finally:
        kept.close()
    return SetAside(path, dest, problem)


def one_manager(lab: Lab, site: Site) -> AbstractContextManager[None]:
    """Hold the site's Courier Sender Manager lock (`SMS\\state\\.coursend.lock`,
    files/oslock.py) while a command looks at the site's parcels and changes them: SMS has one
    Courier Sender Manager on a site server, and two commands at the same moment would each
    put a waiting request in a parcel, or each receive one parcel. The second waits, then sees
    what the first did. The operating system gives the lock back when its holder dies, so a
    command cut short never bars the next one. `state\\` must be a real folder first."""
    return file_locked(lab.site(site.code).state_dir / MANAGER_LOCK,
                       f"to work on the parcels of site {site.code}",
                       "Another 'sitesrv courier' command at that site may be stuck; let it "
                       "finish, then try again.")

"""Pausing and resuming addresses, as `sitesrv address pause|resume FROM TO` does, and slowing
them for a window of lab time (`sitesrv fault slow-link`).

A pause is written to `<FROM>/SMS/state/paused_addresses.json`, a slowed link to
`slow_links.json` beside it (components/addresses.py reads both; the Sender re-reads them when
they change), replaced atomically. A change reads, modifies and replaces the file holding
`.paused_addresses.json.lock` next to it (an operating system lock, which a killed holder gives
back), so two commands at once both count.

`state` is a share anyone may write into: before the lock is taken, it is made a real folder from
the site's root down (files/folders.py: a link or a file under a folder's name is moved aside to
`.<name>.refused`, and the command says so), so neither the lock nor the file is written through
a link. Something other than a regular file under the file's own name (a link, a FIFO, a folder)
stops the command (a user error naming it): read as no pauses and replaced, it would drop the
pauses a person meant without a word.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator

from sitesrv.components.addresses import (
    PAUSED_FILE,
    SLOW_FILE,
    SlowLink,
    paused_file,
    read_paused,
    read_slow,
    slow_file,
)
from sitesrv.errors import UserError
from sitesrv.files.atomic import Durability, replace_file
from sitesrv.files.folders import made_real, on_stderr
from sitesrv.files.oslock import file_locked
from sitesrv.files.regular import check_state_file
from sitesrv.lab.hierarchy import Hierarchy
from sitesrv.lab.layout import LabLayout, SiteLayout

LOCK_FILE = f".{PAUSED_FILE}.lock"


def write_paused(site: SiteLayout, paused: Iterable[str], durability: Durability) -> None:
    target = paused_file(site)
    data = json.dumps({"paused": sorted(set(paused))}, indent=2) + "\n"
    replace_file(target, data.encode("utf-8"), durability,
                 tmp=target.with_name(f".{PAUSED_FILE}.{os.getpid()}.tmp"))


@contextlib.contextmanager
def pauses_locked(site: SiteLayout) -> Iterator[None]:
    """Hold the lock of the site's pause file: one read-modify-write at a time
    (files/oslock.py)."""
    with file_locked(paused_file(site).with_name(LOCK_FILE), "to change the paused addresses",
                     "Another 'sitesrv address' command may be stuck; try again."):
        yield


@contextlib.contextmanager
def _link_locked(lab: LabLayout, from_site: str, to_site: str, say: Callable[[str], None]
                 ) -> Iterator[tuple[SiteLayout, str]]:
    """The sending site, its pause file's lock held, and the destination's code; a UserError
    if there is no address from one to the other, or if a state file is not a regular file.
    What was moved aside to make `state` a real folder is given to `say`."""
    hierarchy = lab.hierarchy
    from_site, to_site = hierarchy.site(from_site).code, hierarchy.site(to_site).code
    hierarchy.with_address_paused(from_site, to_site, True)  # a UserError if there is none
    site = lab.site(from_site)
    for line in made_real(site.state_dir, site.root, str):
        say(line)
    with pauses_locked(site):
        check_state_file(paused_file(site))
        check_state_file(slow_file(site))
        yield site, to_site


def set_paused(lab: LabLayout, from_site: str, to_site: str, paused: bool, *,
               say: Callable[[str], None] = on_stderr) -> bool:
    """Pause or resume the addresses from one site to another; False if nothing changed.
    `say` is given a line for each thing moved aside on the way (module docstring)."""
    with _link_locked(lab, from_site, to_site, say) as (site, to_code):
        before = read_paused(site)
        after = before | {to_code} if paused else before - {to_code}
        if after == before:
            return False
        write_paused(site, after, lab.hierarchy.durability)
        return True


def set_slow(lab: LabLayout, from_site: str, to_site: str, slow: SlowLink | None, *,
             say: Callable[[str], None] = on_stderr) -> bool:
    """Slow the addresses from one site to another (None: back to hierarchy.yaml's rate and
    latency); False if nothing changed. `say` as for `set_paused`."""
    with _link_locked(lab, from_site, to_site, say) as (site, to_site):
        before = read_slow(site)
        after = dict(before)
        if slow is None:
            after.pop(to_site, None)
        else:
            after[to_site] = slow
        if after == before:
            return False
        target = slow_file(site)
        data = json.dumps({"slow": {code: link.to_json() for code, link in sorted(after.items())}},
                          indent=2) + "\n"
        replace_file(target, data.encode("utf-8"), lab.hierarchy.durability,
                     tmp=target.with_name(f".{SLOW_FILE}.{os.getpid()}.tmp"))
        return True


def with_pauses(hierarchy: Hierarchy, lab: LabLayout) -> Hierarchy:
    """The hierarchy with every site's paused addresses marked (for `sitesrv hierarchy`)."""
    for site in lab.sites():
        for to_site in sorted(read_paused(site)):
            try:
                hierarchy = hierarchy.with_address_paused(site.site.code, to_site, True)
            except UserError:
                continue  # a pause of an address that is no longer in hierarchy.yaml
    return hierarchy

"""Pausing and resuming addresses, as `sitesrv address pause|resume FROM TO` does, and slowing
them for a window of lab time (`sitesrv fault slow-link`).

A pause is written to `<FROM>/SMS/state/paused_addresses.json`, a slowed link to
`slow_links.json` beside it (components/addresses.py reads both; the Sender re-reads them when
they change), replaced atomically. A change reads, modifies and replaces the file holding
`.paused_addresses.json.lock` next to it (an operating system lock, which a killed holder gives
back), so two commands at once both count.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

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
from sitesrv.lab.hierarchy import Hierarchy
from sitesrv.lab.layout import LabLayout, SiteLayout

LOCK_FILE = f".{PAUSED_FILE}.lock"


def write_paused(site: SiteLayout, paused: Iterable[str], durability: Durability) -> None:
    target = paused_file(site)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps({"paused": sorted(set(paused))}, indent=2) + "\n"
    replace_file(target, data.encode("utf-8"), durability,
                 tmp=target.with_name(f".{PAUSED_FILE}.{os.getpid()}.tmp"))


_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def pauses_locked(site: SiteLayout) -> Iterator[None]:
    """Hold the lock of the site's pause file: one read-modify-write at a time.

    The operating system's lock on `.paused_addresses.json.lock` excludes other processes and
    is given back when its holder dies, so there is never a stale lock to judge; a thread lock
    per file excludes other threads of this process too (on file systems where the OS lock
    belongs to the process rather than to the open file).
    """
    path = paused_file(site).with_name(LOCK_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCKS_GUARD:
        in_process = _THREAD_LOCKS.setdefault(path.resolve(), threading.Lock())
    with in_process, open(path, "a+b") as f:
        try:
            _lock(f.fileno())
        except OSError as e:
            raise UserError(f"Could not lock {path} to change the paused addresses: {e}. "
                            "Another 'sitesrv address' command may be stuck; try again.") from None
        try:
            yield
        finally:
            _unlock(f.fileno())


if os.name == "nt":
    import msvcrt

    def _lock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # waits, retrying each second for 10 seconds

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits until the holder is done (or gone)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def _link_locked(lab: LabLayout, from_site: str, to_site: str) -> Iterator[tuple[SiteLayout, str]]:
    """The sending site, its pause file's lock held, and the destination's code; a UserError
    if there is no address from one to the other."""
    hierarchy = lab.hierarchy
    from_site, to_site = hierarchy.site(from_site).code, hierarchy.site(to_site).code
    hierarchy.with_address_paused(from_site, to_site, True)  # a UserError if there is none
    site = lab.site(from_site)
    with pauses_locked(site):
        yield site, to_site


def set_paused(lab: LabLayout, from_site: str, to_site: str, paused: bool) -> bool:
    """Pause or resume the addresses from one site to another; False if nothing changed."""
    with _link_locked(lab, from_site, to_site) as (site, to_code):
        before = read_paused(site)
        after = before | {to_code} if paused else before - {to_code}
        if after == before:
            return False
        write_paused(site, after, lab.hierarchy.durability)
        return True


def set_slow(lab: LabLayout, from_site: str, to_site: str, slow: SlowLink | None) -> bool:
    """Slow the addresses from one site to another (None: back to hierarchy.yaml's rate and
    latency); False if nothing changed."""
    with _link_locked(lab, from_site, to_site) as (site, to_site):
        before = read_slow(site)
        after = dict(before)
        if slow is None:
            after.pop(to_site, None)
        else:
            after[to_site] = slow
        if after == before:
            return False
        target = slow_file(site)
        target.parent.mkdir(parents=True, exist_ok=True)
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

"""Breaking a lab on purpose, as a person or a failing disk would (`sitesrv fault`).

(The crash points the drivers use to test recovery are another thing: runtime/faults.py.)

Each fault is one call, changes the lab's files as the cause it stands for would (a person
deleting a compressed package to free disk space, a disk or a network flipping a byte or cutting
a file short, a link going down), and is recorded in `LAB/events.jsonl` as a `fault` event with
the package, so `sitesrv trace <PkgID>` shows it among the package's steps. The site servers
then meet it as SMS would: nothing in the components knows a fault was injected.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sitesrv.admin.choices import CORRUPTIONS, MAX_FREE, MAX_WINDOW
from sitesrv.admin.console import parse_dp
from sitesrv.admin.lab import Lab
from sitesrv.admin.pauses import set_paused, set_slow
from sitesrv.components.addresses import SlowLink
from sitesrv.errors import UserError
from sitesrv.files.folders import on_stderr
from sitesrv.files.names import escaped_name
from sitesrv.lab.boxes import SCHEDULE
from sitesrv.lab.clock import VirtualClock, lab_time_text
from sitesrv.lab.drivefaults import (
    Lock,
    Quota,
    read_locks,
    used_bytes,
    write_locks,
    write_quota,
)
from sitesrv.lab.hierarchy import SharePermissions
from sitesrv.lab.identifiers import check_package_id
from sitesrv.lab.sharepermissions import set_permissions
from sitesrv.lab.sizes import MAX_LATENCY, MAX_RATE
from sitesrv.logs.events import EventSink
from sitesrv.runtime.lock import LOCK_FILE, live_holder

COMPONENT = "sitesrv fault"


def delete_compressed(lab: Lab, site: str, package_id: str, *, delta: int | None = None) -> Path:
    """Delete the site's `SMSPKG\\<PkgID>.PCK` (or `.DLT.<delta>`), clearing its read-only
    attribute first, as a person freeing disk space would (docs/sources.md#delta-stuck)."""
    path = _compressed(lab, site, package_id, delta)
    path.chmod(0o644)
    path.unlink()
    _record(lab, site, package_id, "delete", path)
    return path


def corrupt(lab: Lab, site: str, package_id: str, *, how: str = "flip",
            delta: int | None = None, in_transit: bool = False, offset: int | None = None) -> Path:
    """Damage a compressed package at rest (the site's `SMSPKG` file) or in transit (a
    `<reqid>.PCK` of the package waiting in the site's `despoolr.box\\receive`): `flip` inverts
    one byte (at `offset`, by default the middle one), `truncate` cuts the file to half its
    size. The read-only attribute is kept as it was."""
    if how not in CORRUPTIONS:
        raise UserError(f"{how!r} is not a way to corrupt a file; use one of "
                        f"{', '.join(CORRUPTIONS)}.")
    if how == "truncate" and offset is not None:
        raise UserError("--offset is the byte to flip; a truncation cuts the file to half its "
                        "size.")
    path = (_in_transit(lab, site, package_id) if in_transit
            else _compressed(lab, site, package_id, delta))
    size = path.stat().st_size
    if size == 0:
        raise UserError(f"{path} is empty: there is nothing to corrupt.")
    mode = path.stat().st_mode
    path.chmod(0o644)
    try:
        if how == "truncate":
            os.truncate(path, size // 2)
        else:
            at = size // 2 if offset is None else offset
            if not 0 <= at < size:
                raise UserError(f"Offset {at} is outside {path} ({size} bytes).")
            with open(path, "r+b") as fh:
                fh.seek(at)
                byte = fh.read(1)
                fh.seek(at)
                fh.write(bytes([byte[0] ^ 0xFF]))
    finally:
        path.chmod(mode & 0o7777)
    _record(lab, site, package_id, how, path, in_transit=in_transit)
    return path


def set_link(lab: Lab, from_site: str, to_site: str, *, up: bool,
             say: Callable[[str], None] = on_stderr) -> bool:
    """Take the addresses from one site to another down (or bring them up again): a paused
    address, as `sitesrv address pause` makes it. True if that changed anything; only a change
    is recorded. A link fault names no package: `sitesrv trace` shows it for every package.
    `say` is given what was moved aside on the way (admin/pauses.py; by default stderr)."""
    from_code = lab.hierarchy.site(from_site).code
    to_code = lab.hierarchy.site(to_site).code
    changed = set_paused(lab.layout, from_code, to_code, not up, say=say)
    if changed:
        _record(lab, from_code, None, "link up" if up else "link down", None, to=to_code)
    return changed


def slow_link(lab: Lab, from_site: str, to_site: str, *, rate: int,
              latency: float | None = None, seconds: float | None = None,
              say: Callable[[str], None] = on_stderr) -> SlowLink:
    """Slow the addresses from one site to another to `rate` bytes per second (and `latency`
    seconds before the first byte, if given) for `seconds` of lab time from the lab's time now
    (`Lab.time()`), or until `normal_link`. A send takes the rate when it connects: one that
    started before keeps its own, one that starts within the window keeps the slow one to its
    end. Returns what was stored; `say` as for `set_link`."""
    if not 1 <= rate <= MAX_RATE:
        raise UserError(f"A rate of {rate} bytes per second cannot be a slowed link's; give a "
                        f"number of bytes per second from 1 to {MAX_RATE}.")
    if latency is not None and not 0 <= latency <= MAX_LATENCY:
        raise UserError(f"A latency of {latency} seconds is not a wait a send ends after; "
                        f"give a number of seconds from 0 to {MAX_LATENCY:g}.")
    if seconds is not None and not 0 < seconds <= MAX_WINDOW:
        raise UserError(f"A window of {seconds} lab seconds is not one a link can be slowed "
                        f"for; give a number of seconds above 0 and up to {MAX_WINDOW:g}, "
                        "or leave --for out to slow the link until 'link-normal'.")
    from_code = lab.hierarchy.site(from_site).code
    to_code = lab.hierarchy.site(to_site).code
    now = lab.time()
    slow = SlowLink(rate, latency, None if seconds is None else now + seconds)
    if set_slow(lab.layout, from_code, to_code, slow, say=say):
        _record(lab, from_code, None, "slow link", None, when=now, to=to_code, rate_limit=rate,
                latency=latency,
                until=None if slow.until is None else lab_time_text(slow.until))
    return slow


def normal_link(lab: Lab, from_site: str, to_site: str, *,
                say: Callable[[str], None] = on_stderr) -> bool:
    """Give the addresses from one site to another their rate and latency from hierarchy.yaml
    again; True if they were slowed (a window that has run out counts: it is lifted too).
    `say` as for `set_link`."""
    from_code = lab.hierarchy.site(from_site).code
    to_code = lab.hierarchy.site(to_site).code
    changed = set_slow(lab.layout, from_code, to_code, None, say=say)
    if changed:
        _record(lab, from_code, None, "link normal", None, to=to_code)
    return changed


def fill_disk(lab: Lab, site: str, *, free: int = 0) -> Quota:
    """Fill the site's package drive so that only `free` more bytes fit in the folders that
    count (lab/drivefaults.py: SMSPKG, the compression temp, the DP shares,
    `despoolr.box\\receive`): a write past that fails with Win32 error 112, as on a full disk,
    until `free_disk`. Setting it again starts from what the folders hold then."""
    if not 0 <= free <= MAX_FREE:
        raise UserError(f"{free} bytes cannot be free; give 0 to {MAX_FREE}.")
    layout = lab.site(site)
    quota = Quota(free, used_bytes(layout))
    write_quota(layout, quota, lab.hierarchy.durability)
    _record(lab, layout.site.code, None, "disk full", None, free=free)
    return quota


def free_disk(lab: Lab, site: str) -> bool:
    """Lift `fill_disk`; True if the drive was full."""
    layout = lab.site(site)
    changed = write_quota(layout, None, lab.hierarchy.durability)
    if changed:
        _record(lab, layout.site.code, None, "disk free", None)
    return changed


def lock_files(lab: Lab, site: str, *, box: str = SCHEDULE, pattern: str = "*") -> Lock:
    """Hold the files of an inbox of the site (and its sub-folders) whose names match
    `pattern` open, as an antivirus scanner does: they cannot be claimed, moved, renamed or
    deleted (Win32 error 32) until `unlock_files`; the components retry them."""
    layout = lab.site(site)
    folder = box.replace("/", "\\").strip("\\")
    if (not folder or any(part in ("", ".", "..") for part in folder.split("\\"))
            or not layout.inbox(folder).is_dir()):
        raise UserError(f"Site {layout.site.code} has no inbox {box!r}; give one such as "
                        f"{SCHEDULE} or despoolr.box\\receive.")
    if not pattern or any(c in "/\\" or ord(c) < 32 for c in pattern):
        raise UserError(f"{pattern!r} is not a file name pattern; give one such as *.PCK.")
    lock = Lock(folder, pattern)
    locks = read_locks(layout)
    if lock not in locks:
        write_locks(layout, (*locks, lock), lab.hierarchy.durability)
        _record(lab, layout.site.code, None, "lock", None, box=folder, pattern=pattern)
    return lock


def unlock_files(lab: Lab, site: str) -> bool:
    """Let go of every file `lock_files` held at the site; True if any was held."""
    layout = lab.site(site)
    changed = write_locks(layout, (), lab.hierarchy.durability)
    if changed:
        _record(lab, layout.site.code, None, "unlock", None)
    return changed


def deny_dp_folders(lab: Lab, dp: str, *, deny: bool = True) -> bool:
    """Let Distribution Manager create only the package's own folder on the DP `SITE:SERVER`,
    as on the smsutils report's DP (deny=False gives the share full permissions again): the
    same change as `sitesrv dp permissions SITE:SERVER share-root-only|full`
    (lab/sharepermissions.py), recorded as a fault. A package with sub-folders then fails to
    copy there with Win32 error 5 and status 2328, and is retried. True if that changed
    anything; only a change is recorded."""
    site, found = parse_dp(lab, dp)
    wanted = SharePermissions.SHARE_ROOT_ONLY if deny else SharePermissions.FULL
    changed = set_permissions(lab.site(site.code), found, wanted, lab.hierarchy.durability)
    if changed:
        _record(lab, site.code, None, "deny dp folders" if deny else "allow dp folders", None,
                dp=found.nal_path(site.code))
    return changed


def kill_server(lab: Lab, site: str) -> int:
    """Kill the live server process that runs the site, at once, as a power cut would: no unit
    finishes and no lock is given back, and the next run's start-up recovery has to clean up.
    The process is the one the site's lock names (`<SITE>/SMS/state/server.lock`): with
    `sitesrv run --processes per-site` the site's own, and the supervisor then stops the
    others; with one process for the lab, every site's. Only a process shown to be the lock's
    holder is killed (its start, from `/proc`, is the one the lock records): a stale lock's pid
    may belong to another process now. Returns its pid. The event is stamped
    with the running lab time at the kill, so the next run starts after it."""
    layout = lab.site(site)
    code = layout.site.code
    holder = live_holder(layout)
    when = lab.time()  # while the server still runs
    if holder is None:
        raise UserError(f"Site {code}'s server is not running; start the lab with 'sitesrv "
                        "run' (for one site's process: --processes per-site) and try again.")
    if holder.host != socket.gethostname():
        raise UserError(f"Site {code}'s server runs on host {holder.host} (pid "
                        f"{holder.pid}); kill it there.")
    if holder.pid == os.getpid():
        raise UserError(f"Site {code}'s server runs in this very process; run the lab in "
                        "another one ('sitesrv run') to kill it.")
    if not holder.still_running():
        raise UserError(f"Process {holder.pid}, named by {layout.state_dir / LOCK_FILE}, "
                        f"cannot be shown to be site {code}'s server: it may have stopped and "
                        "its pid been given to another process (or this system has no /proc to "
                        "tell). Nothing was killed; stop the server yourself, or run it again "
                        "and retry.")
    try:
        os.kill(holder.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
    except ProcessLookupError:
        raise UserError(f"Site {code}'s server (pid {holder.pid}) has stopped already.") from None
    except PermissionError:
        raise UserError(f"Site {code}'s server (pid {holder.pid}) belongs to another user: "
                        "this user may not kill it. Run 'sitesrv fault kill' as that user.") \
            from None
    _record(lab, code, None, "kill", None, when=when, pid=holder.pid)
    return holder.pid


def _compressed(lab: Lab, site: str, package_id: str, delta: int | None) -> Path:
    code = lab.hierarchy.site(site).code
    pkg = _package_id(package_id)
    name = f"{pkg}.PCK" if delta is None else f"{pkg}.DLT.{delta}"
    path = lab.site(code).smspkg / name
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise UserError(f"{lab.site(code).windows(path)} is not a regular file (a link, a "
                        "folder or a device): sitesrv faults change only files.")
    if not path.is_file():
        held = sorted(escaped_name(p.name) for p in lab.site(code).smspkg.glob(f"{pkg}.*"))
        held = held or ["none"]
        raise UserError(f"Site {code} has no {name} in its SMSPKG folder (it holds: "
                        f"{', '.join(held)}).")
    return path


def _in_transit(lab: Lab, site: str, package_id: str) -> Path:
    """The first `<reqid>.PCK` of the package in the site's receive folder (the instruction
    beside it, `<reqid>.SNI`, names the package)."""
    code = lab.hierarchy.site(site).code
    pkg = _package_id(package_id)
    receive = lab.site(code).receive
    for payload in sorted(receive.glob("*.PCK")):
        instruction = payload.with_suffix(".SNI")
        if instruction.is_file() and pkg.encode() in instruction.read_bytes()[:65536]:
            return payload
    raise UserError(f"No compressed file of package {pkg} is waiting in site {code}'s "
                    "despoolr.box\\receive now; stop a run while it is there (for example "
                    "with 'sitesrv address pause' on the next link) and try again.")


def _package_id(text: str) -> str:
    try:
        return check_package_id(text).upper()
    except ValueError as e:
        raise UserError(f"{e}.") from None


def _record(lab: Lab, site: str, package_id: str | None, fault: str, path: Path | None, *,
            when: float | None = None, **fields: Any) -> None:
    sink = EventSink(lab.layout.events, VirtualClock(lab.time() if when is None else when))
    try:
        sink.emit("fault", site=lab.hierarchy.site(site).code, component=COMPONENT,
                  package=package_id.upper() if package_id else None, fault=fault,
                  file=lab.site(site).windows(path) if path else None, **fields)
    finally:
        sink.close()

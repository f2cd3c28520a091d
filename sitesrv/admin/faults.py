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
from pathlib import Path
from typing import Any

from sitesrv.admin.choices import CORRUPTIONS
from sitesrv.admin.lab import Lab
from sitesrv.admin.pauses import set_paused
from sitesrv.errors import UserError
from sitesrv.lab.clock import VirtualClock
from sitesrv.lab.identifiers import check_package_id
from sitesrv.logs.events import EventSink

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


def set_link(lab: Lab, from_site: str, to_site: str, *, up: bool) -> bool:
    """Take the addresses from one site to another down (or bring them up again): a paused
    address, as `sitesrv address pause` makes it. True if that changed anything; only a change
    is recorded. A link fault names no package: `sitesrv trace` shows it for every package."""
    from_code = lab.hierarchy.site(from_site).code
    to_code = lab.hierarchy.site(to_site).code
    changed = set_paused(lab.layout, from_code, to_code, not up)
    if changed:
        _record(lab, from_code, None, "link up" if up else "link down", None, to=to_code)
    return changed


def _compressed(lab: Lab, site: str, package_id: str, delta: int | None) -> Path:
    code = lab.hierarchy.site(site).code
    pkg = _package_id(package_id)
    name = f"{pkg}.PCK" if delta is None else f"{pkg}.DLT.{delta}"
    path = lab.site(code).smspkg / name
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise UserError(f"{lab.site(code).windows(path)} is not a regular file (a link, a "
                        "folder or a device): sitesrv faults change only files.")
    if not path.is_file():
        held = sorted(p.name for p in lab.site(code).smspkg.glob(f"{pkg}.*")) or ["none"]
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


def _record(lab: Lab, site: str, package_id: str | None, fault: str, path: Path | None,
            **fields: Any) -> None:
    sink = EventSink(lab.layout.events, VirtualClock(lab.time()))
    try:
        sink.emit("fault", site=lab.hierarchy.site(site).code, component=COMPONENT,
                  package=package_id.upper() if package_id else None, fault=fault,
                  file=lab.site(site).windows(path) if path else None, **fields)
    finally:
        sink.close()

"""A default lab with only the Despooler running, and instructions delivered as a Sender would.

Tests put `<reqid>.PCK` and then `<reqid>.TMP` renamed to `<reqid>.SNI` into a site's receive
folder, with real PCK/DLT files from `sitesrv.compression` and real `.PKG` records, register
package information the way Distribution Manager would, and run the lab in step mode.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from sitesrv.admin.lab import Lab
from sitesrv.components.despooler import Despooler
from sitesrv.compression import make_delta, pack
from sitesrv.db.pkgstore import PackageStore, open_store
from sitesrv.db.sitedb import Package, SiteDatabase
from sitesrv.files.atomic import Durability
from sitesrv.formats import job, pkg, sni
from sitesrv.formats.values import Payload
from sitesrv.lab.clock import VIRTUAL_EPOCH
from sitesrv.lab.layout import SiteLayout
from sitesrv.runtime.idle import IdleReport
from sitesrv.runtime.registry import Registry
from sitesrv.runtime.step import run_until_idle
from sitesrv.testing import free_files, log_messages

PKG_ID = "ZZZ00001"
RECEIVE = "E:\\SMS\\inboxes\\despoolr.box\\receive"  # as the logs name the folder


@pytest.fixture
def sitesrv_hierarchy(default_hierarchy_text: str) -> str:
    """The default lab, taking files at no cost in lab time: the tests pin the Despooler's
    retries to the millisecond."""
    return free_files(default_hierarchy_text)
REGISTRY = Registry(primary=(Despooler,), secondary=(Despooler,))
MTIME_NS = 1_180_947_600 * 10**9


@attrs.frozen
class Packages:
    """Version 1 and 2 of the test package, and the delta between them."""

    pck1: Path
    pck2: Path
    dlt2: Path


def _source(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, ns=(MTIME_NS, MTIME_NS))
    return folder


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Packages:
    root = tmp_path_factory.mktemp("packages")
    big = hashlib.shake_256(b"sitesrv").digest(300_000)
    v1 = _source(root / "v1", {"setup.exe": big, "readme.txt": b"version 1\n"})
    v2 = _source(root / "v2", {"setup.exe": big, "readme.txt": b"version 2\n",
                               "new/notes.txt": b"added in 2\n"})
    pck1 = pack(v1, root / "v1.PCK", PKG_ID, 1).path
    pck2 = pack(v2, root / "v2.PCK", PKG_ID, 2).path
    dlt2 = make_delta(pck1, v2, root / f"{PKG_ID}.DLT.2", PKG_ID, 2).path
    return Packages(pck1, pck2, dlt2)


@pytest.fixture
def lab(sitesrv_lab: Lab) -> Path:
    """The plugin's default lab, as its folder (the driver takes one)."""
    return sitesrv_lab.root


def site(lab: Path, code: str) -> SiteLayout:
    return Lab.open(lab).site(code)


@contextlib.contextmanager
def store(lab: Path, code: str) -> Iterator[PackageStore]:
    """The site's package store, as its components open it."""
    layout = site(lab, code)
    if not layout.site.is_primary:
        yield open_store(layout, None, Durability.NONE)
        return
    with SiteDatabase.open(layout.database) as db:
        yield open_store(layout, db, Durability.NONE)


def register(lab: Path, code: str, *, source_version: int, stored: int = 0) -> None:
    """The package information Distribution Manager registers from the source's `.PKG`."""
    with store(lab, code) as s:
        s.put_package(Package(PkgID=PKG_ID, SourceSite="ZZZ", Name="Demo",
                              SourceVersion=source_version, StoredPkgVersion=stored,
                              LastRefresh=VIRTUAL_EPOCH))


def carried(version: int, *, issuing: str = "ZZZ") -> pkg.PackageReplication:
    """The sending site's `.PKG` a content instruction carries (ZZZ is the source site)."""
    return pkg.PackageReplication(
        package_id=PKG_ID, name="Demo", source_site="ZZZ", source_version=version,
        last_refresh_time=VIRTUAL_EPOCH, action=pkg.PackageAction.UPDATE, issuing_site=issuing,
        content_site=issuing, content=True)


def deliver(lab: Path, code: str, request_id: str, payload: Path | bytes | None, *,
            kind: Payload = Payload.PCK, version: int = 1, sending: str = "ZZZ",
            originating: str = "ZZZ", final: str | None = None,
            package: pkg.PackageReplication | None = None, sha256: str | None = None,
            ready: bool = True) -> sni.Instruction:
    """Write `<reqid>.PCK`, then `<reqid>.TMP`, renamed to `<reqid>.SNI` unless not `ready`."""
    receive = site(lab, code).receive
    data = payload.read_bytes() if isinstance(payload, Path) else payload
    content = kind in (Payload.PCK, Payload.DLT)
    if data is not None:
        (receive / f"{request_id}.PCK").write_bytes(data)
    instruction = sni.Instruction(
        instruction_type=job.PACKAGE_INSTRUCTION if content else job.REPLICATION_INSTRUCTION,
        job_id="0002DF38", request_id=request_id, originating_site=originating,
        sending_site=sending, final_destination_site=final or code,
        package_id=PKG_ID if content else "", package_version=version if content else 0,
        payload=kind, payload_size=len(data) if data is not None else 0,
        payload_sha256=sha256 or (hashlib.sha256(data).hexdigest() if data is not None else ""),
        description=f"Software Distribution for Demo, Package ID = {PKG_ID}" if content else "",
        package=(package or carried(version)) if content else None)
    tmp = receive / f"{request_id}.TMP"
    tmp.write_bytes(sni.encode(instruction))
    if ready:
        os.replace(tmp, receive / f"{request_id}.SNI")
    return instruction


def copy_readonly(src: Path, dest: Path) -> None:
    shutil.copyfile(src, dest)
    os.chmod(dest, 0o444)


def run(lab: Path, **options: object) -> IdleReport:
    options.setdefault("seed", 1)
    options.setdefault("components", REGISTRY)
    return run_until_idle(lab, **options)  # type: ignore[arg-type]


def despool_log(lab: Path, code: str) -> list[str]:
    """The messages of the site's despool.log, without the `$$<...>` trailers."""
    return log_messages(lab, code, "despool.log")

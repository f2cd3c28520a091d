"""Helpers for the hostile-input tests: sentinels outside the lab, crafted inbox files, a good
package in flight, and readers for what the lab did with them.

Every attack here points at files in `<tmp_path>/outside`, never at real system files. A test
builds the default lab (`<tmp_path>/lab`), plants its attack, calls `outside.seal()` just before
the run, runs the lab in step mode, and then checks what a user would notice: the sentinels'
bytes and times, files in `corrupt\\`, log lines, rows and bytes on the distribution points.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tarfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import attrs
import pytest
import zstandard

from sitesrv.admin import console
from sitesrv.admin.lab import Lab
from sitesrv.compression import pack
from sitesrv.compression.manifest import MANIFEST_FORMAT, MANIFEST_NAME
from sitesrv.compression.trailer import Kind, Trailer
from sitesrv.formats import job as jobfile
from sitesrv.formats import pkg, sni, srq
from sitesrv.formats.values import Payload
from sitesrv.lab.clock import VIRTUAL_EPOCH
from sitesrv.runtime.component import Component
from sitesrv.runtime.idle import IdleReport
from sitesrv.runtime.registry import Registry
from sitesrv.testing import log_messages, query, tree_digest, write_source

ALL_DPS = ["ZZZ:MGMT01", "P00:REMOTE_DP", "S01:SEC01"]
SECRET = b"SITESRV-HOSTILE-SENTINEL-7f3a9c: nobody may read, copy or change this file\n"
# Sentinel times: an mtime in 2001 and an access time before it, so that on a `relatime` file
# system (the common default) any read of the file moves its access time.
SENTINEL_MTIME_NS = 978_307_200 * 10**9
SENTINEL_ATIME_NS = SENTINEL_MTIME_NS - 3600 * 10**9
MAX_STEPS = 3000
ENDED = ("idle", "waiting")
QUARANTINE_LOG = "quarantine.log"  # in corrupt\\: every quarantine's line

# IDs of hand-made files, far from the ones the lab's own counters hand out.
JOB_ID = "0000BEEF"
REQUEST_ID = "2_9ZZZZZ"
PKG_ID = "ZZZ00001"


# --- outside the lab ------------------------------------------------------------------------

@attrs.define
class Outside:
    """Sentinel files in `<tmp_path>/outside`, and what else lies outside the lab folder.

    `seal()` records every path below `tmp_path` that is not in the lab; `assert_untouched()`
    then checks that no sentinel was read, changed or removed and that nothing new appeared
    outside the lab.
    """

    tmp: Path
    lab: Path
    root: Path
    sentinels: dict[Path, bytes] = attrs.Factory(dict)
    before: set[Path] = attrs.Factory(set)

    def add(self, name: str, data: bytes = SECRET) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, ns=(SENTINEL_ATIME_NS, SENTINEL_MTIME_NS))
        self.sentinels[path] = data
        return path

    @property
    def secret(self) -> Path:
        return self.root / "secret.txt"

    def seal(self) -> None:
        self.before = set(self._outside_lab())

    def _outside_lab(self) -> Iterator[Path]:
        for folder, dirs, names in os.walk(self.tmp):
            here = Path(folder)
            dirs[:] = [d for d in dirs if here / d != self.lab]
            for name in (*dirs, *names):
                yield here / name

    def assert_untouched(self) -> None:
        for path, data in self.sentinels.items():
            assert path.is_file() and not path.is_symlink(), f"{path} was removed or replaced"
            st = path.stat()
            assert st.st_mtime_ns == SENTINEL_MTIME_NS, f"{path} was written"
            assert st.st_atime_ns == SENTINEL_ATIME_NS, f"{path} was read"
            assert path.read_bytes() == data, f"{path} was changed"
            # read_bytes moved the access time: put it back for a later check
            os.utime(path, ns=(SENTINEL_ATIME_NS, SENTINEL_MTIME_NS))
        new = sorted(str(p) for p in set(self._outside_lab()) - self.before)
        assert not new, f"files appeared outside the lab: {new}"


@pytest.fixture
def lab(sitesrv_lab: Lab) -> Lab:
    """The default lab (ZZZ, P00 with REMOTE_DP, S01), at `<tmp_path>/lab`."""
    return sitesrv_lab


@pytest.fixture
def outside(tmp_path: Path, lab: Lab) -> Outside:
    """`<tmp_path>/outside/secret.txt` and room for more sentinels beside it."""
    found = Outside(tmp_path, lab.root, tmp_path / "outside")
    found.add("secret.txt")
    return found


def climb(start: Path, target: Path) -> str:
    """The relative Windows path from a lab folder to `target`: `..\\..\\..\\outside\\x`."""
    return os.path.relpath(target, start).replace(os.sep, "\\")


def lab_files_holding(lab: Lab | Path, needle: bytes) -> list[str]:
    """Regular files below the lab whose bytes contain `needle`; links are never followed."""
    root = lab.root if isinstance(lab, Lab) else lab
    found = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if not path.is_symlink() and path.is_file() and needle in path.read_bytes():
                found.append(str(path.relative_to(root)))
    return found


# --- running and reading ----------------------------------------------------------------------

def run(lab: Lab, **options: object) -> IdleReport:
    """One step-mode run, as the tests run labs: seed 1, at most 3000 counted steps."""
    options.setdefault("seed", 1)
    options.setdefault("max_steps", MAX_STEPS)
    return lab.run_until_idle(**options)


def assert_ended(report: IdleReport) -> None:
    assert report.status in ENDED, (
        f"the run ended as {report.status!r} after {report.steps} steps "
        f"({report.counted} counted):\n" + "\n".join(report.lines()))


def quarantined(folder: Path) -> list[str]:
    """What is in `<folder>\\corrupt` (files, links, FIFOs, folders), without `quarantine.log`,
    which says why each is there."""
    corrupt = folder / "corrupt"
    if not corrupt.is_dir():
        return []
    return sorted(p.name for p in corrupt.iterdir() if p.name != QUARANTINE_LOG)


def every_quarantine(lab: Lab) -> list[str]:
    """Every quarantined file in the lab, as `<SITE>/<inbox>/corrupt/<name>`."""
    found = []
    for corrupt in sorted(lab.root.rglob("corrupt")):
        if corrupt.is_dir():
            found += [f"{corrupt.relative_to(lab.root).as_posix()}/{name}"
                      for name in quarantined(corrupt.parent)]
    return found


def moved_lines(lab: Lab, site: str, log: str) -> list[str]:
    """The `Moved the corrupt file ... to ...: reason` lines of a site's component log."""
    return [m for m in log_messages(lab, site, log) if m.startswith("Moved the corrupt file ")]


def assert_quarantined(lab: Lab, site: str, box: str, name: str, log: str) -> None:
    """`<box>\\corrupt\\<name>` exists, and the component's log says why it was moved there."""
    layout = lab.site(site)
    folder = layout.inbox(box)
    assert name in quarantined(folder), (
        f"{name} is not in {site}'s {box}\\corrupt (there: {quarantined(folder)}; "
        f"still in the inbox: {sorted(p.name for p in folder.iterdir())})")
    original = layout.windows(folder / name)
    moved = layout.windows(folder / "corrupt" / name)
    lines = [m for m in moved_lines(lab, site, log)
             if m.startswith(f"Moved the corrupt file {original} to {moved}: ")]
    assert lines, f"no 'Moved the corrupt file {original} to {moved}: ...' in {site}'s {log}"


def all_lab_rows(lab: Lab, site: str,
                 tables: tuple[str, ...] = ("SMSPackages", "PkgServers", "PkgStatus")
                 ) -> dict[str, list[tuple[object, ...]]]:
    """The package rows of a primary site's database, table by table, sorted."""
    return {t: sorted(query(lab, site, f"SELECT * FROM {t}"), key=repr) for t in tables}


# --- a good package, created at the central site for every DP ---------------------------------

@attrs.frozen
class GoodPackage:
    package_id: str
    source: Path


def create_good_package(lab: Lab, tmp_path: Path, name: str = "Good") -> GoodPackage:
    """A package at ZZZ on the three sites' DPs, as the SMS console creates one."""
    source = write_source(tmp_path / f"source-{name}")
    package_id = console.create_package(lab, "ZZZ", name=name, source=source, dps=ALL_DPS)
    return GoodPackage(package_id, source)


def dp_folders(lab: Lab, package_id: str) -> dict[str, Path]:
    """`SITE:SERVER` -> the package's folder on that DP."""
    found = {}
    for spec in ALL_DPS:
        code, server = spec.split(":")
        layout = lab.site(code)
        found[spec] = layout.dp_package(layout.site.dp(server), package_id)
    return found


def assert_installed_everywhere(lab: Lab, package: GoodPackage) -> None:
    """The package is on every DP byte for byte, and the central site sees no DP in trouble."""
    want = tree_digest(package.source)
    for spec, folder in dp_folders(lab, package.package_id).items():
        assert folder.is_dir(), f"{package.package_id} is not installed on {spec}"
        assert tree_digest(folder) == want, f"{package.package_id} on {spec} differs from its source"
    unhealthy = query(lab, "ZZZ", "SELECT * FROM SMS_PackageStatusDistPointsSummarizer "
                      "WHERE State != 0")
    assert unhealthy == [], f"the central site sees DPs in trouble: {unhealthy}"


def nothing_on_any_dp(lab: Lab) -> list[str]:
    """Files below any DP share of the lab (none expected)."""
    return [str(p.relative_to(lab.root)) for layout in lab.layout.sites()
            for p in (layout.root / "dp").rglob("*") if p.is_file()]


# --- crafted files ----------------------------------------------------------------------------

def stored_pck(lab: Lab, tmp_path: Path, *, site: str = "ZZZ", package_id: str = PKG_ID,
               version: int = 1, files: dict[str, bytes] | None = None) -> Path:
    """A real compressed package in the site's SMSPKG, as Distribution Manager stores one."""
    source = write_source(tmp_path / f"pck-source-{site}-{package_id}-{version}",
                          files or {"SETUP.INI": b"[Setup]\r\n"})
    return pack(source, lab.site(site).smspkg / f"{package_id}.PCK", package_id, version).path


def carried_package(version: int = 1, *, package_id: str = PKG_ID, name: str = "Demo",
                    servers: tuple[pkg.PackageServer, ...] = ()) -> pkg.PackageReplication:
    """The source site's `.PKG` a content instruction carries."""
    return pkg.PackageReplication(
        package_id=package_id, name=name, source_site="ZZZ", source_version=version,
        last_refresh_time=VIRTUAL_EPOCH, action=pkg.PackageAction.UPDATE, issuing_site="ZZZ",
        content_site="ZZZ", content=True, servers=servers)


def instruction(payload: bytes | None, *, kind: Payload = Payload.PCK, version: int = 1,
                final: str = "P00", package_id: str = PKG_ID, request_id: str = REQUEST_ID,
                description: str = "Software Distribution for Demo, Package ID = ZZZ00001",
                package: pkg.PackageReplication | None = None) -> sni.Instruction:
    content = kind in (Payload.PCK, Payload.DLT)
    return sni.Instruction(
        instruction_type=jobfile.PACKAGE_INSTRUCTION if content else jobfile.REPLICATION_INSTRUCTION,
        job_id=JOB_ID, request_id=request_id, originating_site="ZZZ", sending_site="ZZZ",
        final_destination_site=final, package_id=package_id if content else "",
        package_version=version if content else 0, payload=kind,
        payload_size=len(payload) if payload is not None else 0,
        payload_sha256=hashlib.sha256(payload).hexdigest() if payload is not None else "",
        description=description,
        package=(package or carried_package(version, package_id=package_id)) if content else None)


def deliver(lab: Lab, site: str, request_id: str, payload: bytes | None,
            record: sni.Instruction | bytes) -> Path:
    """What a Sender leaves at `site`: `<reqid>.PCK`, then `<reqid>.TMP` renamed `<reqid>.SNI`
    (the instruction as a record, or as the bytes of a file no writer of sitesrv would make)."""
    receive = lab.site(site).receive
    if payload is not None:
        (receive / sni.payload_file_name(request_id)).write_bytes(payload)
    tmp = receive / sni.tmp_file_name(request_id)
    tmp.write_bytes(record if isinstance(record, bytes) else sni.encode(record))
    ready = receive / sni.sni_file_name(request_id)
    os.replace(tmp, ready)
    return ready


def instruction_file(lab: Lab, *, site: str = "ZZZ", job_id: str = JOB_ID,
                     payload: bytes | None = None) -> Path:
    """`schedule.box\\tosend\\<jobid>.IPT` for a content job to P00."""
    path = lab.site(site).inbox("schedule.box\\tosend") / sni.instruction_file_name(job_id)
    path.write_bytes(sni.encode(attrs.evolve(instruction(payload), request_id="")))
    return path


def send_request(lab: Lab, *, site: str = "ZZZ", **fields: object) -> srq.SendRequest:
    """A send request as ZZZ's Scheduler writes one for a content job to P00; `fields` override."""
    layout = lab.site(site)
    values: dict[str, object] = dict(
        priority=2, dest_site="P00", job_id=JOB_ID, request_id=REQUEST_ID,
        outbox=layout.unc(layout.inbox("schedule.box\\outboxes\\LAN")),
        addresses=(srq.SenderAddress(address="\\\\MGMT03\\SMS_SITE", type="LAN"),),
        package_file=f"F:\\SMSPKG\\{PKG_ID}.PCK",
        instruction_file=layout.unc(layout.inbox("schedule.box\\tosend")
                                    / sni.instruction_file_name(JOB_ID)),
        originating_site="ZZZ", final_destination_site="P00")
    values.update(fields)
    return srq.SendRequest(**values)  # type: ignore[arg-type]


def scheduler_job(*, job_id: str = JOB_ID, transfer_root: str = f"F:\\SMSPKG\\{PKG_ID}.PCK",
                  dest: str = "P00") -> jobfile.SchedulerJob:
    """A Distribution Manager-style minijob that sends a package's PCK to `dest`."""
    return jobfile.SchedulerJob(
        job_id=job_id, description=f"Software Distribution for Demo, Package ID = {PKG_ID}",
        destination_site=dest, instruction_type=jobfile.PACKAGE_INSTRUCTION,
        transfer_root=transfer_root, payload=Payload.PCK, package_id=PKG_ID, package_version=1,
        originating_site="ZZZ", created=VIRTUAL_EPOCH, package=carried_package(1))


def nothing_arrived(lab: Lab, site: str) -> list[str]:
    """What another site's Sender left in the site's receive folder (nothing expected)."""
    receive = lab.site(site).receive
    return sorted(str(p.relative_to(receive)) for p in receive.rglob("*")
                  if p.is_file() and p.name != ".keep")


# --- a test component: runs once, after every component's start-up recovery ------------------

def once_registry(action: Callable[[Lab | Path], None]) -> Registry:
    """SMS's components plus one that calls `action(lab_root)` at its first unit of work.

    Every component is started (and its inboxes recovered) before the first step of a run, so
    `action` sees the lab as the run found it, after recovery and before anything was sent.
    """
    from sitesrv.components.registry import SMS_COMPONENTS

    class Once(Component):
        name = "TEST_ONCE"
        log_name = "test-once.log"
        inboxes = ()
        done = False

        def work(self) -> bool:
            if not Once.done:
                Once.done = True
                action(self.ctx.lab.root)
            return False

    return Registry(primary=(*SMS_COMPONENTS.primary, Once),
                    secondary=(*SMS_COMPONENTS.secondary, Once))


def hold_write_lock(database: Path) -> sqlite3.Connection:
    """Another program's connection holding the write lock of a site database."""
    connection = sqlite3.connect(database, isolation_level=None, timeout=0)
    connection.execute("BEGIN IMMEDIATE")
    return connection


# --- crafted containers (PCK), as tests/compression/conftest.py crafts them, but streamed -------

def tar_member(name: str, data: bytes = b"", *, directory: bool = False) -> bytes:
    """One tar member as sitesrv's packer writes it: a file, or an empty folder (`name/`)."""
    info = tarfile.TarInfo(name + "/" if directory else name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.size = 0 if directory else len(data)
    header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    return header + data + bytes(-len(data) % 512)


def file_entry(path: str, data: bytes) -> dict[str, object]:
    return {"mtime_ns": 0, "path": path, "readonly": False,
            "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "type": "file"}


def manifest_json(entries: list[dict[str, object]], *, package_id: str = PKG_ID,
                  version: int = 1) -> bytes:
    doc = {"entries": entries, "format": MANIFEST_FORMAT, "package_id": package_id,
           "version": version}
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def write_container(dest: Path, content: Iterable[bytes], manifest: Iterable[bytes],
                    manifest_length: int, *, package_id: str = PKG_ID, version: int = 1) -> Path:
    """A PCK with any tar members (`content`, streamed) and any manifest text (`manifest`,
    streamed, `manifest_length` bytes in all), sealed with correct frames, checksums and
    trailer: only the container's parsers stand between these bytes and an install."""
    body = hashlib.sha256()
    manifest_sha = hashlib.sha256()
    with open(dest, "wb") as f:
        def out(data: bytes) -> None:
            if data:
                f.write(data)
                body.update(data)

        frame = zstandard.ZstdCompressor(level=1, write_checksum=True).compressobj()
        started = False
        for chunk in content:
            started = started or bool(chunk)
            out(frame.compress(chunk))
        if started:
            out(frame.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH))
        manifest_offset = f.tell()
        frame = zstandard.ZstdCompressor(level=1, write_checksum=True).compressobj()
        header = tarfile.TarInfo(MANIFEST_NAME)
        header.size, header.mode = manifest_length, 0o444
        out(frame.compress(header.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")))
        written = 0
        for chunk in manifest:
            manifest_sha.update(chunk)
            written += len(chunk)
            out(frame.compress(chunk))
        assert written == manifest_length, (written, manifest_length)
        out(frame.compress(bytes(-manifest_length % 512) + bytes(1024)))
        out(frame.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH))
        body_length = f.tell()
        f.write(Trailer(kind=Kind.PCK, package_id=package_id, version=version, base_version=0,
                        manifest_offset=manifest_offset, body_length=body_length,
                        manifest_sha256=manifest_sha.digest(), body_sha256=body.digest(),
                        base_manifest_sha256=bytes(32)).encode())
    return dest


def craft_pck(dest: Path, files: dict[str, bytes], *, entries: list[dict[str, object]] | None = None,
              package_id: str = PKG_ID, version: int = 1) -> Path:
    """A small crafted PCK holding `files` (any names, in this order) and a manifest listing
    `entries` (by default, exactly those files)."""
    entries = [file_entry(n, d) for n, d in files.items()] if entries is None else entries
    manifest = manifest_json(entries, package_id=package_id, version=version)
    return write_container(dest, [tar_member(n, d) for n, d in files.items()], [manifest],
                           len(manifest), package_id=package_id, version=version)


def many_folders_pck(dest: Path, count: int, *, package_id: str = PKG_ID) -> Path:
    """A valid PCK of `count` empty folders `d0000000` ... (members and manifest streamed; each
    member header is the first one with its digits and checksum patched, for speed)."""
    width = 7
    first = bytearray(tar_member("d" + "0" * width, directory=True))
    assert len(first) == 512
    first[148:156] = b" " * 8
    base = sum(first) - ord("0") * width
    batch = 8192

    def members() -> Iterator[bytes]:
        for start in range(0, count, batch):
            chunk = bytearray()
            for n in range(start, min(start + batch, count)):
                digits = b"%07d" % n
                header = bytearray(first)
                header[1:1 + width] = digits
                header[148:156] = b"%06o\0 " % (base + sum(digits))
                chunk += header
            yield bytes(chunk)

    manifest, length = streamed_manifest(
        lambda n: b'{"path":"d%07d","type":"dir"}' % n, count, package_id=package_id)
    return write_container(dest, members(), manifest, length, package_id=package_id)


def zeros_pck(dest: Path, size: int, *, name: str = "zeros.bin",
              package_id: str = PKG_ID, version: int = 1) -> Path:
    """A valid, small PCK of one file of `size` zero bytes (streamed: nothing that big is held
    in memory or written uncompressed)."""
    chunk = bytes(16 << 20)
    digest = hashlib.sha256()
    for _ in range(size // len(chunk)):
        digest.update(chunk)
    digest.update(bytes(size % len(chunk)))
    info = tarfile.TarInfo(name)
    info.size, info.mode = size, 0o644

    def members() -> Iterator[bytes]:
        yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        for _ in range(size // len(chunk)):
            yield chunk
        yield bytes(size % len(chunk)) + bytes(-size % 512)

    entry = {"mtime_ns": 0, "path": name, "readonly": False, "sha256": digest.hexdigest(),
             "size": size, "type": "file"}
    manifest = manifest_json([entry], package_id=package_id, version=version)
    return write_container(dest, members(), [manifest], len(manifest), package_id=package_id,
                           version=version)


def manifest_sized_pck(dest: Path, length: int, *, package_id: str = PKG_ID) -> Path:
    """A PCK whose manifest is valid JSON of empty-file entries, `length` bytes or at most one
    entry fewer, with no content: what `sitesrv pck list` reads."""
    empty = hashlib.sha256(b"").hexdigest()

    def entry(n: int) -> bytes:
        return (b'{"mtime_ns":0,"path":"f%09d","readonly":false,"sha256":"%s","size":0,'
                b'"type":"file"}' % (n, empty.encode()))

    per_entry = len(entry(0)) + 1
    count = (length - streamed_manifest(entry, 0, package_id=package_id)[1] + 1) // per_entry
    manifest, total = streamed_manifest(entry, count, package_id=package_id)
    assert length - per_entry < total <= length, (total, length)
    return write_container(dest, [], manifest, total, package_id=package_id)


def streamed_manifest(entry: Callable[[int], bytes], count: int, *, package_id: str = PKG_ID
                      ) -> tuple[Iterator[bytes], int]:
    """Manifest JSON of `count` entries `entry(0)` ... (all of one length), in chunks, and its
    length: canonical (sorted keys, no white space) without building the document."""
    head = b'{"entries":['
    tail = b"]," + json.dumps({"format": MANIFEST_FORMAT, "package_id": package_id,
                                "version": 1}, separators=(",", ":")).encode()[1:]
    batch = 8192

    def chunks() -> Iterator[bytes]:
        yield head
        for start in range(0, count, batch):
            yield (b"," if start else b"") + b",".join(
                entry(n) for n in range(start, min(start + batch, count)))
        yield tail

    length = len(head) + count * len(entry(0)) + max(count - 1, 0) + len(tail)
    return chunks(), length


# P00's remote DP, as a .PKG names it: a site that has a server waits for the content.
REMOTE_DP = pkg.PackageServer(site_code="P00", server="REMOTE_DP", share="smsapps\\SMSPKG",
                              nal_path='MSWNET:["SMS_SITE=P00"]\\\\REMOTE_DP\\smsapps\\SMSPKG\\',
                              action=pkg.PackageAction.ADD)

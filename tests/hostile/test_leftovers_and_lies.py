"""Smaller hostilities: reasons lost with a rolled log, leftovers that stay for ever, files that
lie about sites, servers and times, and a container entry that poses as the manifest.
"""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pytest

from sitesrv.admin import console
from sitesrv.admin.lab import Lab, default_hierarchy_file
from sitesrv.compression import check, extract, install, read_manifest, verify
from sitesrv.compression.container import ContainerReader
from sitesrv.compression.manifest import Manifest
from sitesrv.compression.trailer import TRAILER_SIZE
from sitesrv.errors import FormatError
from sitesrv.files.copying import WrittenRange
from sitesrv.formats import pkg, rpl, sta
from sitesrv.formats.values import Payload
from sitesrv.lab.clock import VIRTUAL_EPOCH
from sitesrv.runtime.context import ComponentContext
from sitesrv.testing import LabFactory, drop, files, log_messages, write_source

from .conftest import (
    QUARANTINE_LOG,
    REQUEST_ID,
    all_lab_rows,
    assert_ended,
    assert_installed_everywhere,
    assert_quarantined,
    craft_pck,
    create_good_package,
    deliver,
    instruction,
    quarantined,
    run,
)

INCOMING = "distmgr.box\\INCOMING"

# --- every quarantine keeps its reason ---------------------------------------------------------


def test_every_quarantined_file_keeps_its_reason_after_the_log_rolled_over(
        sitesrv_lab_factory: LabFactory) -> None:
    """Fifty unreadable `.PKG` files in P00's INCOMING with logs capped at 1024 bytes: the log
    lines that said why each was quarantined are rolled away, so `corrupt\\quarantine.log`,
    which never rolls over, keeps each line."""
    text = default_hierarchy_file().read_text(encoding="utf-8") + "\nlogs:\n  max_size: 1024\n"
    lab = sitesrv_lab_factory(text)
    layout = lab.site("P00")
    incoming = layout.inbox(INCOMING)
    names = [f"BAD{n:05d}.PKG" for n in range(50)]
    for name in names:
        drop(incoming, name, b"this is not a package definition\n")

    report = run(lab)

    assert_ended(report)
    assert layout.log("distmgr.lo_").exists(), "the log never rolled over: the test proves nothing"
    assert quarantined(incoming) == names
    kept = (incoming / "corrupt" / QUARANTINE_LOG).read_text(encoding="utf-8")
    for name in names:
        line = (f"Moved the corrupt file {layout.windows(incoming / name)} to "
                f"{layout.windows(incoming / 'corrupt' / name)}: ")
        assert line in kept, f"{name}'s line is not in corrupt\\{QUARANTINE_LOG}"


# --- leftovers ---------------------------------------------------------------------------------

def test_a_stray_payload_without_an_instruction_is_removed_when_the_despooler_starts(
        lab: Lab) -> None:
    """`<reqid>.PCK` in P00's receive and no `.SNI` will ever explain it (a sender killed
    between the two, or a person): it would sit in the SMS_SITE share for ever."""
    assert_ended(run(lab))
    receive = lab.site("P00").receive
    drop(receive, f"{REQUEST_ID}.PCK", b"a payload nobody will ever announce")

    report = run(lab)

    assert_ended(report)
    assert files(receive) == []


@pytest.mark.parametrize("name", ["junk.PCK", "2_9zzzzz.PCK", "2_9ZZZZZ.pck"])
def test_a_stray_payload_of_any_name_is_removed_and_the_despooler_starts(
        lab: Lab, tmp_path: Path, name: str) -> None:
    """A name that is no request ID stopped the Despooler at every start (its start-up looked
    the name up as a request ID): nothing was despooled at the site again (a review found it)."""
    package = create_good_package(lab, tmp_path)
    drop(lab.site("P00").receive, name, b"a payload nobody will ever announce")

    report = run(lab)

    assert_ended(report)
    assert files(lab.site("P00").receive) == []
    assert_installed_everywhere(lab, package)


def test_the_payload_beside_an_instruction_without_payload_does_not_stay_in_receive(
        lab: Lab) -> None:
    """An `.SNI` with `Payload=NONE` and a `<reqid>.PCK` beside it: the instruction is done
    once executed, and nothing else will ever take the payload."""
    deliver(lab, "P00", REQUEST_ID, b"a payload the instruction does not mention",
            instruction(None, kind=Payload.NONE))
    receive = lab.site("P00").receive

    report = run(lab)

    assert_ended(report)
    assert files(receive) == []


def test_a_zero_byte_batch_temp_file_left_by_a_kill_is_removed_when_replication_manager_starts(
        lab: Lab) -> None:
    """A Replication Manager killed while writing a batch leaves its private temp file in
    `replmgr.box\\ready`, which is nobody's inbox, so start-up recovery never looks there."""
    ready = lab.site("ZZZ").inbox("replmgr.box\\ready")
    leftover = ready / ".00000007.RPL.ZZZ-SMS_REPLICATION_MANAGER.000001.tmp"
    leftover.write_bytes(b"")

    report = run(lab)

    assert_ended(report)
    assert not leftover.exists()


# --- files that lie ----------------------------------------------------------------------------

def _status(package_id: str, *, site_code: str = "P00", server: str = "MGMT03",
            reporting: str = "P00") -> bytes:
    row = sta.PkgStatusRow(package_id=package_id, type=sta.MASTER, site_code=site_code,
                           pkg_server=server, status=3, source_version=1,
                           update_time=VIRTUAL_EPOCH + 3600)
    return sta.encode(sta.PackageStatusReport(reporting_site=reporting, package_id=package_id,
                                              rows=(row,)))


def _copy_status_with_server(package_id: str, server: str) -> bytes:
    """sitesrv refuses to write such a row: the file is written by hand, from a good one."""
    good = 'MSWNET:["SMS_SITE=P00"]\\\\REMOTE_DP\\smsapps\\'
    row = sta.PkgStatusRow(package_id=package_id, type=sta.COPY, site_code="P00",
                           pkg_server=good, status=3, source_version=1,
                           update_time=VIRTUAL_EPOCH + 3600)
    text = sta.encode(sta.PackageStatusReport(reporting_site="P00", package_id=package_id,
                                              rows=(row,)))
    assert good.encode() in text
    return text.replace(good.encode(), server.encode())


def _definition(package_id: str, *, refreshed: float, name: str = "Good") -> bytes:
    return pkg.encode(pkg.PackageReplication(
        package_id=package_id, name=name, source_site="ZZZ", source_version=1,
        last_refresh_time=refreshed, action=pkg.PackageAction.UPDATE, issuing_site="ZZZ"))


def _batch_from_a_site_not_in_the_lab(package_id: str) -> bytes:
    later = VIRTUAL_EPOCH + 7200
    definition = _definition(package_id, refreshed=later, name="Renamed by QQQ")
    return rpl.encode(rpl.ReplicationBatch(
        job_id="0000BEEF", sending_site="QQQ", destination_site="P00", priority=2,
        transaction_id=1, created=later,
        objects=[rpl.ReplicationObject.of("P00_QQQQQQQQ.PKG", definition)]))


YEAR_9999 = datetime(9999, 1, 1, tzinfo=UTC).timestamp()
LIES = {
    "a .STA reporting status of site QQQ, not in the lab":
        ("ZZZ", INCOMING, "QQQSTATS.STA", "distmgr.log",
         lambda p: _status(p, site_code="QQQ", server="QQQSRV")),
    "a .STA whose Type 1 row names a DP's server, not the site server's":
        ("ZZZ", INCOMING, "WRONGSRV.STA", "distmgr.log",
         lambda p: _status(p, site_code="P00", server="REMOTE_DP")),
    "a .STA whose PkgServer climbs folders":
        ("ZZZ", INCOMING, "CLIMBING.STA", "distmgr.log",
         lambda p: _copy_status_with_server(p, "..\\..\\x")),
    "a .PKG last refreshed in year 9999":
        ("P00", INCOMING, "FAR9999X.PKG", "distmgr.log",
         lambda p: _definition(p, refreshed=YEAR_9999)),
    "a batch from site QQQ, not in the lab":
        ("P00", "replmgr.box\\incoming", "2_9ZZZQQQ.RPL", "replmgr.log",
         _batch_from_a_site_not_in_the_lab),
}


@pytest.mark.parametrize(("site", "box", "name", "log", "content"), LIES.values(),
                         ids=LIES.keys())
def test_a_file_that_lies_is_quarantined_with_a_reason_and_changes_no_row(
        lab: Lab, tmp_path: Path, site: str, box: str, name: str, log: str,
        content: object) -> None:
    """After a package is installed everywhere, a file arrives that names a site the lab does
    not have, a server path that climbs folders, or a time no clock will reach."""
    package = create_good_package(lab, tmp_path)
    assert_ended(run(lab))
    rows = {code: all_lab_rows(lab, code) for code in ("ZZZ", "P00")}
    drop(lab.site(site).inbox(box), name, content(package.package_id))  # type: ignore[operator]

    report = run(lab)

    assert_ended(report)
    assert_quarantined(lab, site, box, name, log)
    assert {code: all_lab_rows(lab, code) for code in ("ZZZ", "P00")} == rows
    assert_installed_everywhere(lab, package)


# --- an entry that poses as the manifest -------------------------------------------------------

def _read_manifest(pck: Path, tmp_path: Path) -> object:
    return read_manifest(pck)


def _verify(pck: Path, tmp_path: Path) -> object:
    return verify(pck)


def _check(pck: Path, tmp_path: Path) -> object:
    """As a Despooler checks a PCK before it stores it: the verdict says why not."""
    return check(pck).result()


def _extract(pck: Path, tmp_path: Path) -> object:
    return extract(pck, tmp_path / "extracted")


def _install(pck: Path, tmp_path: Path) -> object:
    return install(pck, tmp_path / "share", "ZZZ00001")


READERS = {"listing it": _read_manifest, "verifying it": _verify,
           "checking it before it is stored": _check, "extracting it": _extract,
           "installing it on a DP": _install}


@pytest.mark.parametrize("name", [".sitesrv-manifest.json", ".SITESRV-MANIFEST.JSON"])
@pytest.mark.parametrize("read", READERS.values(), ids=READERS.keys())
def test_a_pck_with_an_entry_named_like_its_manifest_is_refused_when_read(
        tmp_path: Path, name: str, read: object) -> None:
    """A crafted PCK whose content holds a file named as the container's own manifest member:
    extracted by tar, or onto a share that ignores case, it replaces the manifest."""
    pck = craft_pck(tmp_path / "ZZZ00001.PCK",
                    {name: b'{"entries":[],"format":"forged"}', "setup.exe": b"MZ"})

    with pytest.raises(FormatError):
        read(pck, tmp_path)  # type: ignore[operator]

    for folder in ("extracted", "share"):
        leftovers = [p for p in (tmp_path / folder).rglob("*") if p.is_file()] \
            if (tmp_path / folder).exists() else []
        assert leftovers == [], f"files were written: {leftovers}"
    assert not os.path.exists(tmp_path / "extracted.sitesrv-new")


# --- a copy changed while the Sender writes it -------------------------------------------------


LAST_RANGE = "package file, during the last range"


def _flip(target: Path, at: int) -> None:
    """Invert the byte at `at` as another writer would, read-only or not, with a write's own
    time a second on: as it would be where file times are coarse too."""
    mode = target.stat().st_mode
    target.chmod(mode | stat.S_IWUSR)  # a stored PCK is read-only
    with open(target, "r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0xFF]))
    target.chmod(mode)
    stamp = target.stat()
    os.utime(target, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))


@pytest.mark.parametrize("which", ["copy", "package file", LAST_RANGE])
def test_a_copy_changed_between_the_senders_ranges_is_read_again_and_refused_at_the_child(
        sitesrv_lab_factory: LabFactory, monkeypatch: pytest.MonkeyPatch, which: str) -> None:
    """Another writer flips a byte of ZZZ's copy in P00's receive (the first, already sent) or
    of the package file it is sent from (the body's last, not sent yet) after the Sender's first
    range (64 KiB/s: 16 KiB a range), or a byte of the package file that the last range is
    about to copy. A Sender vouches for a copy of a package this process knows
    (compression.known) only while nothing else writes to either file; so P00's Despooler reads
    this one, finds its SHA-256 wrong and quarantines it, and the changed bytes reach no DP."""
    address = "{from: ZZZ, to: P00, type: LAN, priority: 1}"
    text = default_hierarchy_file().read_text(encoding="utf-8")
    assert address in text
    lab = sitesrv_lab_factory(text.replace(address, address[:-1] + ", rate_limit: 65536}"))
    pkg_id = console.create_package(lab, "ZZZ", name="Changed in flight",
                                    source=write_source(lab.root.parent / "source"),
                                    dps=["P00:REMOTE_DP"])
    stored = lab.site("ZZZ").smspkg / f"{pkg_id}.PCK"
    changed: list[str] = []
    write_range = ComponentContext.write_range

    def and_another_writer(self: ComponentContext, path: Path, source: BinaryIO, offset: int,
                           count: int, *, last: bool) -> WrittenRange:
        sending = os.fstat(source.fileno())
        if not os.path.samestat(os.stat(stored), sending):  # a replication batch
            return write_range(self, path, source, offset, count, last=last)
        body = sending.st_size - TRAILER_SIZE
        if which == LAST_RANGE and last and not changed:
            assert offset < body, "the last range holds the trailer alone"
            _flip(stored, offset)  # after the Sender looked at it, before it copies
            changed.append(stored.name)
        written = write_range(self, path, source, offset, count, last=last)
        if which != LAST_RANGE and not last and not changed:
            target, at = (path, 0) if which == "copy" else (stored, body - 1)
            _flip(target, at)
            changed.append(target.name)
        return written

    monkeypatch.setattr(ComponentContext, "write_range", and_another_writer)
    assert_ended(run(lab))

    assert changed == ["2_001ZZZ.PCK.TMP" if which == "copy" else f"{pkg_id}.PCK"], \
        "the package went in one range"
    receive = lab.site("P00").inbox("despoolr.box\\receive")
    assert "2_001ZZZ.PCK" in quarantined(receive)
    assert any("has SHA-256" in m for m in log_messages(lab, "P00", "despool.log"))
    assert not (lab.root / "P00/dp/REMOTE_DP/smsapps/SMSPKG" / pkg_id).exists()


def test_a_copy_the_sender_made_is_not_read_again_for_its_signature(
        lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ZZZ's Sender copies the PCK it packed to P00, and P00's Sender its stored copy to S01:
    each copy holds bytes this process knows (compression.known), so neither Despooler reads
    it whole to check its signature and body; every DP still gets every file."""
    reads: list[str] = []
    check_checksums = ContainerReader.check_checksums

    def counted(self: ContainerReader) -> Manifest:
        reads.append(self.path.name)
        return check_checksums(self)

    monkeypatch.setattr(ContainerReader, "check_checksums", counted)
    package = create_good_package(lab, tmp_path)
    assert_ended(run(lab))

    assert reads == []
    assert_installed_everywhere(lab, package)

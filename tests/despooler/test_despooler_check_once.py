"""The signature check and the checks of a PCK to store read it once, yet report as before: a
wrong signature first, a damaged container when it is stored, also after a retry. The content
is decompressed, and each file's SHA-256 checked, only when it is installed onto a DP."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from sitesrv.compression import CorruptError, FileEntry, Manifest, check, install, make_delta
from sitesrv.compression.container import ContainerWriter
from sitesrv.compression.known import BODY, identity, known_pck
from sitesrv.formats.values import Payload
from sitesrv.runtime.idle import ExitCode
from sitesrv.testing import files
from tests.despooler.conftest import (
    PKG_ID,
    RECEIVE,
    Packages,
    deliver,
    despool_log,
    register,
    run,
    site,
)

OK = ("~Signature checked out OK for instruction coming from site ZZZ, proceed with the "
      "instruction execution.")


def damaged(packages: Packages, tmp_path: Path) -> tuple[bytes, str]:
    """PCK bytes with one bit flipped in the content, and what the store's check says of them."""
    data = bytearray(packages.pck1.read_bytes())
    data[len(data) // 3] ^= 0x08
    path = tmp_path / "damaged.PCK"
    path.write_bytes(bytes(data))
    error = check(path, package_id=PKG_ID, version=1).error
    assert error is not None and "SHA-256 of the body differs" in error.problem
    return bytes(data), error.problem


def misdeclared(tmp_path: Path, listed_as: str = "setup.exe") -> bytes:
    """A PCK whose checksums all hold but whose manifest gives its one file another SHA-256
    (and, with `listed_as`, another name): what a broken or hostile packer would make, not a
    damaged disk or link."""
    path = tmp_path / "misdeclared.PCK"
    data = b"the file's real bytes\n"
    with open(path, "wb") as fh:
        writer = ContainerWriter(fh)
        writer.add_file("setup.exe", len(data), 0, False, [data])
        writer.finish(Manifest(package_id=PKG_ID, version=1, entries=(
            FileEntry(listed_as, len(data), 0, False, "0" * 64),)))
    return path.read_bytes()


def quarantined_for(lab: Path, problem: str) -> None:
    receive = site(lab, "P00").receive
    assert files(receive / "corrupt") == ["2_001ZZZ.PCK", "2_001ZZZ.SNI", "quarantine.log"]
    assert files(receive) == []
    texts = despool_log(lab, "P00")
    assert OK in texts
    assert not [t for t in texts if t.startswith("~Signature check failed")]
    assert f"Moved the corrupt file {RECEIVE}\\2_001ZZZ.SNI to {RECEIVE}\\corrupt\\2_001ZZZ.SNI: " \
           f"{problem}" in texts
    assert not site(lab, "P00").smspkg.joinpath(f"{PKG_ID}.PCK").exists()


def test_a_damaged_pck_with_a_matching_signature_is_refused_when_stored(
        lab: Path, packages: Packages, tmp_path: Path) -> None:
    data, problem = damaged(packages, tmp_path)
    register(lab, "P00", source_version=1)
    deliver(lab, "P00", "2_001ZZZ", data)  # the sender hashed the damaged file
    assert run(lab).exit_code == ExitCode.WAITING  # a quarantine is reported
    quarantined_for(lab, problem)


def test_a_damaged_pck_is_refused_after_waiting_for_its_package_information(
        lab: Path, packages: Packages, tmp_path: Path) -> None:
    data, problem = damaged(packages, tmp_path)
    deliver(lab, "P00", "2_001ZZZ", data)
    assert run(lab, horizon=1).exit_code == ExitCode.WAITING  # error 12
    register(lab, "P00", source_version=1)
    assert run(lab).exit_code == ExitCode.WAITING  # a quarantine is reported
    assert despool_log(lab, "P00").count(OK) == 2
    quarantined_for(lab, problem)


def test_a_pck_whose_checksums_hold_is_stored_and_its_content_checked_on_the_dp(
        lab: Path, tmp_path: Path) -> None:
    """The store checks what any damage after packing changes (the body's and the manifest's
    checksums) without decompressing, as SMS stores a PCK whose signature checks out; a file
    that does not match its SHA-256 is refused when the PCK is installed onto a DP."""
    register(lab, "P00", source_version=1)
    deliver(lab, "P00", "2_001ZZZ", misdeclared(tmp_path))
    assert run(lab).exit_code == ExitCode.IDLE
    assert f"~Stored Package {PKG_ID}. Stored Package Version = 1" in despool_log(lab, "P00")
    stored = site(lab, "P00").smspkg / f"{PKG_ID}.PCK"
    assert known_pck(identity(stored.stat()), PKG_ID, 1) == BODY  # its files not hashed yet
    for dp in ("dp", "dp2"):  # never vouched for: each install finds the file out
        with pytest.raises(CorruptError, match="'setup.exe' does not match its SHA-256"):
            install(stored, tmp_path / dp, PKG_ID, version=1)
        assert not (tmp_path / dp / PKG_ID).exists()
    assert known_pck(identity(stored.stat()), PKG_ID, 1) == BODY


def test_a_delta_onto_a_stored_base_damaged_inside_says_so_and_waits(
        lab: Path, tmp_path: Path) -> None:
    """A base whose checksums held when it was stored, but whose file does not match its
    SHA-256, is found out when a delta is merged onto it: error 8, as for a wrong base, with a
    line that says the base is damaged, and the stored base is kept as it was."""
    register(lab, "P00", source_version=1)
    deliver(lab, "P00", "2_001ZZZ", misdeclared(tmp_path))
    assert run(lab).exit_code == ExitCode.IDLE
    stored = site(lab, "P00").smspkg / f"{PKG_ID}.PCK"
    before = stored.read_bytes()
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "setup.exe").write_bytes(b"the file's real bytes\n")
    (v2 / "new.txt").write_bytes(b"added in 2\n")
    dlt = make_delta(stored, v2, tmp_path / f"{PKG_ID}.DLT.2", PKG_ID, 2).path
    register(lab, "P00", source_version=2, stored=1)
    deliver(lab, "P00", "2_002ZZZ", dlt, kind=Payload.DLT, version=2)
    assert run(lab, horizon=1).exit_code == ExitCode.WAITING
    texts = despool_log(lab, "P00")
    (line,) = [t for t in texts if t.startswith("~Cannot merge the delta")]
    assert line.startswith(f"~Cannot merge the delta of package {PKG_ID} version 2: "
                           f"F:\\SMSPKG\\{PKG_ID}.PCK is damaged: ")
    assert "Despooler failed to execute the instruction, error code = 8" in texts
    assert stored.read_bytes() == before


def test_a_pck_listing_a_path_outside_its_folder_is_refused_when_stored(
        lab: Path, tmp_path: Path) -> None:
    """The manifest's entries are checked when the PCK is stored: one that would escape the
    DP's package folder sends the instruction and its payload to corrupt\\, with the reason."""
    register(lab, "P00", source_version=1)
    deliver(lab, "P00", "2_001ZZZ", misdeclared(tmp_path, listed_as="../evil.exe"))
    assert run(lab).exit_code == ExitCode.WAITING  # a quarantine is reported
    texts = despool_log(lab, "P00")
    assert OK in texts
    (line,) = [t for t in texts if t.startswith(f"Moved the corrupt file {RECEIVE}\\2_001ZZZ.SNI")]
    assert "../evil.exe" in line
    assert files(site(lab, "P00").receive / "corrupt") == ["2_001ZZZ.PCK", "2_001ZZZ.SNI",
                                                          "quarantine.log"]
    assert not site(lab, "P00").smspkg.joinpath(f"{PKG_ID}.PCK").exists()


def test_a_payload_changed_while_it_waits_fails_the_signature_check_on_the_retry(
        lab: Path, packages: Packages) -> None:
    deliver(lab, "P00", "2_001ZZZ", packages.pck1)
    assert run(lab, horizon=1).exit_code == ExitCode.WAITING  # error 12; checked and hashed
    (payload,) = site(lab, "P00").receive.glob("ds_*.pkg")
    data = bytearray(payload.read_bytes())
    data[-1000] ^= 0x01
    before = payload.stat().st_mtime_ns
    with open(payload, "r+b") as f:  # same size, same file
        f.write(data)
    os.utime(payload, ns=(before + 10**9, before + 10**9))  # whatever the timestamp resolution
    register(lab, "P00", source_version=1)
    assert run(lab).exit_code == ExitCode.WAITING  # a quarantine is reported
    problem = (f"the payload 2_001ZZZ.PCK has SHA-256 {hashlib.sha256(data).hexdigest()}, the "
               f"instruction says {hashlib.sha256(packages.pck1.read_bytes()).hexdigest()}")
    texts = despool_log(lab, "P00")
    assert f"~Signature check failed for instruction coming from site ZZZ: {problem}" in texts
    assert files(site(lab, "P00").receive / "corrupt") == ["2_001ZZZ.PCK", "2_001ZZZ.SNI",
                                                          "quarantine.log"]


def test_a_stored_pck_is_the_one_checked(lab: Path, packages: Packages) -> None:
    register(lab, "P00", source_version=1)
    deliver(lab, "P00", "2_001ZZZ", packages.pck1)
    assert run(lab).exit_code == ExitCode.IDLE
    stored = site(lab, "P00").smspkg / f"{PKG_ID}.PCK"
    assert stored.read_bytes() == packages.pck1.read_bytes()
    assert f"~Stored Package {PKG_ID}. Stored Package Version = 1" in despool_log(lab, "P00")

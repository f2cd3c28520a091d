"""The instruction's SHA-256 is the transfer root's as it is when the job is activated, even when
the PCK was packed (and its digest remembered) in this process before it changed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sitesrv.components.scheduler import Scheduler
from sitesrv.compression import pack
from sitesrv.formats import sni
from sitesrv.runtime.registry import Registry
from sitesrv.runtime.step import run_until_idle
from sitesrv.testing import inbox
from tests.transport.conftest import content_job

SCHEDULER_ONLY = Registry(primary=(Scheduler,), secondary=(Scheduler,))


def packed_job(tmp_path: Path, lab: Path) -> tuple[Path, Path]:
    content_job(lab, "00000001", b"replaced below")
    source = tmp_path / "src"
    source.mkdir()
    (source / "setup.exe").write_bytes(hashlib.shake_256(b"setup").digest(200_000))
    pck = pack(source, lab / "ZZZ" / "SMSPKG" / "ZZZ00001.PCK", "ZZZ00001", 1).path
    return lab, pck


def activate(lab: Path) -> sni.Instruction:
    report = run_until_idle(lab, components=SCHEDULER_ONLY, sites=["ZZZ"], horizon=0)
    assert report.errors == 0
    return sni.read(inbox(lab, "ZZZ", "schedule.box\\tosend") / "00000001.IPT")


def test_a_packed_pck_is_described_by_its_own_digest(tmp_path: Path, lab: Path) -> None:
    lab, pck = packed_job(tmp_path, lab)
    instruction = activate(lab)
    assert instruction.payload_size == pck.stat().st_size
    assert instruction.payload_sha256 == hashlib.sha256(pck.read_bytes()).hexdigest()


def test_a_pck_damaged_after_packing_is_hashed_again(tmp_path: Path, lab: Path) -> None:
    lab, pck = packed_job(tmp_path, lab)
    data = bytearray(pck.read_bytes())
    data[1000] ^= 0x01
    before = pck.stat().st_mtime_ns
    os.chmod(pck, 0o644)
    with open(pck, "r+b") as f:  # same size, same file: its modification time changes
        f.write(data)
    os.utime(pck, ns=(before + 10**9, before + 10**9))  # whatever the timestamps' resolution
    instruction = activate(lab)
    # The damage travels, so the receiving Despooler's verification finds it (not a signature
    # failure blamed on the network).
    assert instruction.payload_sha256 == hashlib.sha256(bytes(data)).hexdigest()

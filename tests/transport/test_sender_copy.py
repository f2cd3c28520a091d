"""The Standard Sender's copy: big pieces per unit of work without a rate limit, copied file to
file (in the kernel where it can), byte for byte whatever the method."""

from __future__ import annotations

import errno
import hashlib
import os
import random
from pathlib import Path

import pytest

from sitesrv.components.sender import transfer
from sitesrv.files import copying
from sitesrv.files.copying import copy_range
from sitesrv.formats import sni
from sitesrv.runtime.step import run_until_idle
from sitesrv.testing import files, inbox, log_messages
from tests.transport.conftest import SENDING, content_job

MIB = 1024 * 1024
REMOTE = "\\\\MGMT03\\SMS_SITE\\2_001ZZZ.PCK"


def data(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def send(lab: Path, payload: bytes) -> list[str]:
    content_job(lab, "00000001", payload)
    report = run_until_idle(lab, components=SENDING, sites=["ZZZ"])
    assert (report.status, report.errors) == ("idle", 0)
    receive = inbox(lab, "P00", "despoolr.box\\receive")
    assert files(receive) == ["2_001ZZZ.PCK", "2_001ZZZ.SNI"]
    assert (receive / "2_001ZZZ.PCK").read_bytes() == payload
    instruction = sni.read(receive / "2_001ZZZ.SNI")
    assert instruction.payload_sha256 == hashlib.sha256(payload).hexdigest()
    return log_messages(lab, "ZZZ", "sender.log")


def test_an_unlimited_send_copies_a_big_package_in_one_piece(lab: Path) -> None:
    payload = data(10 * MIB + 123)  # the Sender used to write it in three 4 MiB pieces
    sender = send(lab, payload)
    assert [t for t in sender if t.startswith(("~Attempt to write", "~Wrote "))] == [
        f"~Attempt to write {len(payload)} bytes to {REMOTE} at position 0",
        f"~Wrote {len(payload)} bytes to {REMOTE} at position 0",
    ]


def test_an_unlimited_send_bigger_than_a_piece_goes_in_several_units(
        lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transfer, "UNLIMITED_CHUNK", MIB)
    payload = data(2 * MIB + MIB // 2, seed=2)
    sender = send(lab, payload)
    assert [t for t in sender if t.startswith("~Wrote ")] == [
        f"~Wrote {MIB} bytes to {REMOTE} at position 0",
        f"~Wrote {MIB} bytes to {REMOTE} at position {MIB}",
        f"~Wrote {MIB // 2} bytes to {REMOTE} at position {2 * MIB}",
    ]


# --- copying.copy_range, by each of its methods --------------------------------------------------

def _no_copy_file_range(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> int:
        raise OSError(errno.EXDEV, "Invalid cross-device link")
    monkeypatch.setattr(os, "copy_file_range", refuse, raising=False)


def _portable_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "copy_file_range", raising=False)
    monkeypatch.setattr(copying.sys, "platform", "win32")


def _kernel_stops_short(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel copy that copies one piece and then reports 0 before the end, as some FUSE and
    VM-share file systems do."""
    calls = []

    def short(src: int, dst: int, count: int, offset_src: int, offset_dst: int) -> int:
        calls.append(count)
        if len(calls) > 1:
            return 0
        data_ = os.pread(src, min(count, 4096), offset_src)
        return os.pwrite(dst, data_, offset_dst)
    monkeypatch.setattr(os, "copy_file_range", short, raising=False)


METHODS = {"kernel": lambda _m: None, "sendfile": _no_copy_file_range,
           "portable": _portable_only, "kernel-stops-short": _kernel_stops_short}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_copy_range_copies_the_bytes_at_their_offset(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    METHODS[method](monkeypatch)
    source, target = tmp_path / "source", tmp_path / "target"
    payload = data(3 * MIB + 17, seed=3)
    source.write_bytes(payload)
    target.write_bytes(payload[:MIB])  # what earlier chunks wrote
    with open(source, "rb", buffering=0) as s, open(target, "r+b", buffering=0) as t:
        assert copy_range(s, t, MIB, 2 * MIB) == 2 * MIB
        assert copy_range(s, t, 3 * MIB, MIB) == 17  # the source ends first
    assert target.read_bytes() == payload


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("method", sorted(METHODS))
def test_copy_range_reports_a_full_disk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    METHODS[method](monkeypatch)
    source = tmp_path / "source"
    source.write_bytes(data(1000))
    with open(source, "rb", buffering=0) as s, open("/dev/full", "r+b", buffering=0) as t, \
            pytest.raises(OSError) as raised:
        copy_range(s, t, 0, 1000)
    assert raised.value.errno == errno.ENOSPC  # the Sender logs it as Win32 error 112

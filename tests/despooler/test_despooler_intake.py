"""What counts as a ready instruction, and what goes to corrupt\\ (docs/despooler.md)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import ClassVar

import pytest

from sitesrv.components.despooler import Despooler
from sitesrv.runtime.component import Component, Waiting
from sitesrv.runtime.idle import ExitCode
from sitesrv.runtime.registry import Registry
from sitesrv.testing import files, log_lines
from tests.despooler.conftest import (
    RECEIVE,
    Packages,
    deliver,
    despool_log,
    register,
    run,
    site,
)


class SenderAtWork(Component):
    """At ZZZ: writes P00's `2_001ZZZ.PCK` and `.TMP` at once, renames the `.TMP` 3 s later."""

    name = "SMS_TEST_SENDER"
    log_name = "testsend.log"
    held: ClassVar[Path]  # where the test keeps the payload and instruction until then

    def start(self) -> None:
        self.tmp = self.ctx.lab.site("P00").receive / "2_001ZZZ.TMP"
        self.due: float | None = None

    def work(self) -> bool:
        now = self.ctx.clock.now()
        if self.due is None:
            for name in ("2_001ZZZ.PCK", self.tmp.name):  # the .TMP wakes P00's Despooler
                self.ctx.publish(self.tmp.with_name(name), (self.held / name).read_bytes())
            self.due = now + 3
            self.ctx.wake_at(self.due)
        elif now >= self.due and self.tmp.exists():
            self.ctx.publish(self.tmp.with_suffix(".SNI"), self.tmp.read_bytes(),
                             tmp_name=self.tmp.name)
        return False

    def waiting(self) -> list[Waiting]:
        return [Waiting(self.tmp.name, "is still being written")] if self.tmp.exists() else []


def test_an_instruction_still_named_tmp_is_not_ready(
        lab: Path, packages: Packages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register(lab, "P00", source_version=1)
    deliver(lab, "P00", "2_001ZZZ", packages.pck1, ready=False)
    receive = site(lab, "P00").receive
    for name in ("2_001ZZZ.PCK", "2_001ZZZ.TMP"):
        os.replace(receive / name, tmp_path / name)
    monkeypatch.setattr(SenderAtWork, "held", tmp_path, raising=False)
    registry = Registry(primary=(Despooler, SenderAtWork), secondary=())
    report = run(lab, components=registry)
    assert report.exit_code == ExitCode.IDLE and report.errors == 0
    stamped = log_lines(lab, "P00", "despool.log")
    found = [line for line in stamped if line.text.startswith("~Found ready")]
    assert [line.timestamp for line in found] == ["06-04-2007 04:00:03.000"]
    assert files(receive) == []


def test_a_payload_that_fails_the_signature_check_is_quarantined(
        lab: Path, packages: Packages) -> None:
    register(lab, "P00", source_version=1)
    deliver(lab, "P00", "2_001ZZZ", packages.pck1, sha256="0" * 64)
    report = run(lab)
    assert report.exit_code == ExitCode.WAITING  # a quarantine is reported

    layout = site(lab, "P00")
    assert files(layout.receive) == []
    assert files(layout.receive / "corrupt") == ["2_001ZZZ.PCK", "2_001ZZZ.SNI", "quarantine.log"]
    assert files(layout.smspkg) == [] and files(layout.inbox("distmgr.box\\INCOMING")) == []
    actual = hashlib.sha256(packages.pck1.read_bytes()).hexdigest()
    problem = (f"the payload 2_001ZZZ.PCK has SHA-256 {actual}, the instruction says "
               f"{'0' * 64}")
    texts = despool_log(lab, "P00")
    assert texts[4] == f"~Signature check failed for instruction coming from site ZZZ: {problem}"
    assert texts[5:] == [
        f"Moved the corrupt file {RECEIVE}\\2_001ZZZ.PCK to {RECEIVE}\\corrupt\\2_001ZZZ.PCK: "
        f"signature check failed: {problem}",
        f"Moved the corrupt file {RECEIVE}\\2_001ZZZ.SNI to {RECEIVE}\\corrupt\\2_001ZZZ.SNI: "
        f"signature check failed: {problem}",
    ]


def test_a_payload_of_the_wrong_size_is_quarantined(lab: Path, packages: Packages) -> None:
    register(lab, "P00", source_version=1)
    deliver(lab, "P00", "2_001ZZZ", packages.pck1)
    with open(site(lab, "P00").receive / "2_001ZZZ.PCK", "ab") as f:
        f.write(b"x")
    run(lab)
    size = packages.pck1.stat().st_size
    assert (f"~Signature check failed for instruction coming from site ZZZ: the payload "
            f"2_001ZZZ.PCK has {size + 1} bytes, the instruction says {size}"
            ) in despool_log(lab, "P00")
    assert files(site(lab, "P00").receive / "corrupt") == ["2_001ZZZ.PCK", "2_001ZZZ.SNI",
                                                          "quarantine.log"]


def test_an_unreadable_instruction_is_quarantined_with_its_payload(
        lab: Path, packages: Packages) -> None:
    receive = site(lab, "P00").receive
    (receive / "2_001ZZZ.PCK").write_bytes(packages.pck1.read_bytes())
    (receive / "2_001ZZZ.TMP").write_bytes(b"this is not an instruction\n[END]\n")
    os.replace(receive / "2_001ZZZ.TMP", receive / "2_001ZZZ.SNI")
    report = run(lab)
    assert report.exit_code == ExitCode.WAITING  # a quarantine is reported
    assert files(receive) == []
    assert files(receive / "corrupt") == ["2_001ZZZ.PCK", "2_001ZZZ.SNI", "quarantine.log"]
    assert despool_log(lab, "P00")[-1] == (
        f"Moved the corrupt file {RECEIVE}\\2_001ZZZ.SNI to {RECEIVE}\\corrupt\\2_001ZZZ.SNI: "
        "line 1: expected [SECTION] or Key=Value, found 'this is not an instruction'")


def test_a_missing_payload_is_quarantined(lab: Path) -> None:
    register(lab, "P00", source_version=1)
    deliver(lab, "P00", "2_001ZZZ", b"compressed bytes")
    (site(lab, "P00").receive / "2_001ZZZ.PCK").unlink()
    run(lab)
    assert files(site(lab, "P00").receive / "corrupt") == ["2_001ZZZ.SNI", "quarantine.log"]
    assert despool_log(lab, "P00")[-1] == (
        f"Moved the corrupt file {RECEIVE}\\2_001ZZZ.SNI to {RECEIVE}\\corrupt\\2_001ZZZ.SNI: "
        f"its payload 2_001ZZZ.PCK is missing (not in {RECEIVE} and not stored as "
        "F:\\SMSPKG\\ZZZ00001.PCK)")


def test_a_work_payload_without_its_instruction_is_quarantined_at_start(lab: Path) -> None:
    receive = site(lab, "S01").receive
    (receive / "ds_abcde.pkg").write_bytes(b"left behind")
    run(lab)
    assert files(receive) == []
    assert files(receive / "corrupt") == ["ds_abcde.pkg", "quarantine.log"]
    assert despool_log(lab, "S01") == [
        f"Moved the corrupt file {RECEIVE}\\ds_abcde.pkg to {RECEIVE}\\corrupt\\ds_abcde.pkg: "
        "no instruction in receive refers to this payload any more"]

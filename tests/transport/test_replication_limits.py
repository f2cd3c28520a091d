"""Replication Manager keeps every batch within the limits its receiver reads (docs/limits.md):
a backlog larger than one batch may carry goes in several, each delivered."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitesrv.formats import rpl
from sitesrv.runtime.step import run_until_idle
from sitesrv.testing import files, inbox, log_messages
from tests.transport.conftest import EVERYTHING, pkg_object, replication_object


def test_a_backlog_over_the_objects_a_batch_may_carry_goes_in_several_batches(
        lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rpl, "MAX_OBJECTS", 2)  # 10,000 objects would make a slow test
    for n in range(5):
        replication_object(lab, "P00", f"{'ABCDE'[n] * 8}.PKG", pkg_object(str(n)))
    report = run_until_idle(lab, seed=3, components=EVERYTHING)
    assert (report.status, report.errors) == ("idle", 0)
    arrived = inbox(lab, "P00", "distmgr.box\\INCOMING")
    assert sorted((arrived / n).read_bytes() for n in files(arrived)) == sorted(
        pkg_object(str(n)) for n in range(5))
    created = [m.split(": ")[1].split(",")[0] for m in log_messages(lab, "ZZZ", "replmgr.log")
               if m.startswith("Created replication job ")]
    assert created == ["2 object(s)", "2 object(s)", "1 object(s)"]

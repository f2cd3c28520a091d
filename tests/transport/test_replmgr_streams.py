"""Replication Manager's passes list only the streams that may hold objects (those it queued
to, and those a full look found), and look in every `process` folder again every
`timing.full_look_interval` of lab time; a stream held for its pending job is not listed
again until its hold may be over."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sitesrv.components.replmgr import ReplicationManager
from sitesrv.lab.clock import VirtualClock
from sitesrv.runtime.host import FAILED, PROGRESSED, LabRuntime, UnitOutcome
from sitesrv.runtime.registry import Registry
from sitesrv.testing import build_lab, drop, events, files, inbox, log_messages
from tests.transport.conftest import pkg_object, replication_object


def _replication_manager(lab_root: Path, clock: VirtualClock):  # -> ComponentHost
    runtime = LabRuntime(lab_root, clock=clock, seed=0, sites=["ZZZ"],
                         registry=Registry(primary=(ReplicationManager,)))
    (host,) = runtime.hosts
    host.boot()
    return host


def _run(host, clock: VirtualClock, seconds: float = 0.0) -> list[UnitOutcome]:
    """Let lab time pass, wake the component (to list its inboxes: the test drops files as
    another server would) and run it until it has nothing to do; the units' outcomes."""
    clock.advance(seconds)
    host.wake(rescan=True)
    outcomes = []
    for _ in range(100):
        host.fire_timers(clock.now())
        if not host.wanted.is_set():
            return outcomes
        outcomes.append(host.run_unit())
    raise AssertionError("Replication Manager did not settle")


def test_an_object_dropped_into_process_by_hand_goes_at_the_next_full_look(
        tmp_path: Path) -> None:
    lab = build_lab(tmp_path / "lab")
    clock = VirtualClock()
    host = _replication_manager(lab.root, clock)
    rescan = lab.hierarchy.timing.rescan_interval
    _run(host, clock)  # the first pass: a full look, at nothing
    stream = inbox(lab.root, "ZZZ", "replmgr.box\\process") / "P00_2"
    stream.mkdir(parents=True)
    drop(stream, "P00_HANDMADE.PKG", pkg_object("by hand"))
    _run(host, clock, rescan)
    assert events(lab.root, "replication_batch") == []  # not a stream it knows of
    assert files(stream) == ["P00_HANDMADE.PKG"]
    _run(host, clock, lab.hierarchy.timing.full_look_interval)
    [batch] = events(lab.root, "replication_batch")
    assert (batch["to"], batch["objects"]) == ("P00", 1)
    assert files(stream) == []


def test_a_held_stream_goes_once_its_job_completes_and_its_newcomers_with_it(
        tmp_path: Path) -> None:
    lab = build_lab(tmp_path / "lab")
    clock = VirtualClock()
    host = _replication_manager(lab.root, clock)
    replication_object(lab.root, "P00", "AAAAAAAA.PKG", pkg_object("1"))
    _run(host, clock)
    ready = inbox(lab.root, "ZZZ", "replmgr.box\\ready")
    assert files(ready) == ["00000001.RPL"]
    for n, name in ((2, "BBBBBBBB"), (3, "CCCCCCCC")):  # held for job 00000001
        replication_object(lab.root, "P00", f"{name}.PKG", pkg_object(str(n)))
        _run(host, clock, 1.0)
    assert files(ready) == ["00000001.RPL"]
    assert [w.item for w in host.component.waiting()] == ["process\\P00_2"]
    (ready / "00000001.RPL").unlink()  # the Scheduler completed the job
    _run(host, clock, 1.0)
    assert files(ready) == ["00000002.RPL"]
    assert [e["objects"] for e in events(lab.root, "replication_batch")] == [1, 2]


def _denied(monkeypatch, folder: Path, *, lstat: bool = False) -> None:
    """`folder` answers as one with mode 0 does to a user who is not root (the tests may run as
    root, which reads it anyway): listing it, and with `lstat` looking at what is in it, fail."""
    denied = os.fspath(folder)
    real_scandir, real_lstat = os.scandir, os.lstat

    def deny(path: object) -> None:
        text = os.fspath(path)  # type: ignore[arg-type]
        if text == denied or (lstat and text.startswith(denied + os.sep)):
            raise PermissionError(13, "Permission denied", text)

    def scandir(path: object = ".") -> object:
        deny(path)
        return real_scandir(path)  # type: ignore[arg-type]

    def checked_lstat(path: object, *args: object, **kwargs: object) -> object:
        if os.fspath(path) != denied:  # type: ignore[arg-type]
            deny(path)
        return real_lstat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)
    if lstat:
        monkeypatch.setattr(os, "lstat", checked_lstat)


@pytest.mark.parametrize("unreadable", ["the stream folder", "process at a full look",
                                        "process and what is in it"])
def test_a_folder_unreadable_for_a_while_holds_its_objects_only_that_long(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unreadable: str) -> None:
    """Review: a stream that could not be listed once was forgotten until the next full look,
    and an unreadable `process` made every pass a failed unit."""
    lab = build_lab(tmp_path / "lab")
    clock = VirtualClock()
    host = _replication_manager(lab.root, clock)
    rescan = lab.hierarchy.timing.rescan_interval
    _run(host, clock)  # the first pass: a full look, at nothing
    process = inbox(lab.root, "ZZZ", "replmgr.box\\process")
    replication_object(lab.root, "P00", "AAAAAAAA.PKG", pkg_object("1"))
    host.wake(rescan=True)
    assert host.run_unit().did == PROGRESSED  # queued into process\P00_2, not yet batched
    if unreadable == "process at a full look":
        clock.advance(lab.hierarchy.timing.full_look_interval)
    with monkeypatch.context() as m:
        _denied(m, process / "P00_2" if unreadable == "the stream folder" else process,
                lstat=unreadable == "process and what is in it")
        outcomes = _run(host, clock, 1.0)
    assert FAILED not in [o.did for o in outcomes]
    assert any(m.startswith("Cannot list ") for m in log_messages(lab.root, "ZZZ", "replmgr.log"))
    # A full look that cannot list `process` keeps the streams it knew: this one goes at once.
    went = len(events(lab.root, "replication_batch"))
    assert went == (1 if unreadable == "process at a full look" else 0)
    _run(host, clock, rescan)  # readable again: the next pass
    assert [e["objects"] for e in events(lab.root, "replication_batch")] == [1]

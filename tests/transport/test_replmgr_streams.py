"""Replication Manager's passes list only the streams that may hold objects (those it queued
to, and those a full look found), and look in every `process` folder again every
FULL_LOOK_RESCANS rescan intervals of lab time; a stream held for its pending job is not listed
again until its hold may be over."""

from __future__ import annotations

from pathlib import Path

from sitesrv.components.replmgr import FULL_LOOK_RESCANS, ReplicationManager
from sitesrv.lab.clock import VirtualClock
from sitesrv.runtime.host import LabRuntime
from sitesrv.runtime.registry import Registry
from sitesrv.testing import build_lab, drop, events, files, inbox
from tests.transport.conftest import pkg_object, replication_object


def _replication_manager(lab_root: Path, clock: VirtualClock):  # -> ComponentHost
    runtime = LabRuntime(lab_root, clock=clock, seed=0, sites=["ZZZ"],
                         registry=Registry(primary=(ReplicationManager,)))
    (host,) = runtime.hosts
    host.boot()
    return host


def _run(host, clock: VirtualClock, seconds: float = 0.0) -> None:
    """Let lab time pass, wake the component (to list its inboxes: the test drops files as
    another server would) and run it until it has nothing to do."""
    clock.advance(seconds)
    host.wake(rescan=True)
    for _ in range(100):
        host.fire_timers(clock.now())
        if not host.wanted.is_set():
            return
        host.run_unit()
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
    _run(host, clock, FULL_LOOK_RESCANS * rescan)
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

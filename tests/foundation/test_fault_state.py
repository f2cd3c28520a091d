"""The fault state files a person's `sitesrv fault` writes and the site servers read
(`slow_links.json`, `disk_quota.json`, `file_locks.json`): any bytes read without an error
(what cannot be read sets no fault), and what is written reads back the same."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitesrv.admin.lab import Lab
from sitesrv.admin.pauses import set_slow
from sitesrv.components.addresses import SlowLink, read_slow, slow_file
from sitesrv.files.atomic import Durability
from sitesrv.files.drive import (
    DiskFull,
    SharingViolation,
    check_space,
    check_unlocked,
    register,
    unregister,
)
from sitesrv.lab import drivefaults
from sitesrv.lab.drivefaults import (
    REMEASURE_EVERY,
    LabDrives,
    Lock,
    Quota,
    locks_file,
    quota_file,
    read_locks,
    read_quota,
    used_bytes,
    write_locks,
    write_quota,
)
from sitesrv.lab.layout import SiteLayout

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)
# The lab is only read and its fault files overwritten: one lab for every example.
ONE_LAB = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@ONE_LAB
@given(data=st.binary(max_size=200) | JSONISH.map(lambda v: repr(v).encode()))
def test_any_bytes_in_a_fault_file_read_without_an_error(lab: Lab, data: bytes) -> None:
    site = lab.site("P00")
    for path in (slow_file(site), quota_file(site), locks_file(site)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert isinstance(read_slow(site), dict)
    assert read_quota(site) is None or isinstance(read_quota(site), Quota)
    assert isinstance(read_locks(site), tuple)


@ONE_LAB
@given(structured=st.dictionaries(st.sampled_from(["slow", "free", "used", "locks"]), JSONISH,
                                  max_size=4))
def test_any_json_in_a_fault_file_reads_without_an_error(lab: Lab,
                                                         structured: dict[str, object]) -> None:
    site = lab.site("P00")
    for path in (slow_file(site), quota_file(site), locks_file(site)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(structured))
    read_slow(site), read_quota(site), read_locks(site)


@ONE_LAB
@given(rate=st.integers(1, 10**9), latency=st.none() | st.floats(0, 86_400),
       until=st.none() | st.floats(0, 4e9))
def test_a_slowed_link_reads_back_as_written(lab: Lab, rate: int, latency: float | None,
                                             until: float | None) -> None:
    slow = SlowLink(rate, latency, until)
    set_slow(lab.layout, "ZZZ", "P00", slow)
    assert read_slow(lab.site("ZZZ")) == {"P00": slow}
    set_slow(lab.layout, "ZZZ", "P00", None)
    assert read_slow(lab.site("ZZZ")) == {}


@pytest.mark.parametrize("entry", [
    {"rate_limit": "1" + "0" * 400},  # an int past every float: the Sender's jitter overflows
    {"rate_limit": 10**13},
    {"rate_limit": 1000, "latency": 86_401},
    {"rate_limit": 1000, "latency": "inf"},
    {"rate_limit": 1000, "until": "nan"},
    {"rate_limit": 1000, "until": float("inf")},
])
def test_a_hand_edited_slowed_link_out_of_bounds_slows_nothing(lab: Lab,
                                                              entry: dict[str, object]) -> None:
    path = slow_file(lab.site("ZZZ"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"slow": {"P00": entry}}))
    assert read_slow(lab.site("ZZZ")) == {}


@ONE_LAB
@given(free=st.integers(0, 2**62), used=st.integers(0, 2**62),
       locks=st.lists(st.builds(Lock, st.sampled_from(["schedule.box", "distmgr.box"]),
                                st.text(min_size=1, max_size=8)), max_size=3))
def test_a_quota_and_locks_read_back_as_written(lab: Lab, free: int, used: int,
                                                locks: list[Lock]) -> None:
    site = lab.site("P00")
    write_quota(site, Quota(free, used), Durability.NONE)
    assert read_quota(site) == Quota(free, used)
    write_locks(site, tuple(locks), Durability.NONE)
    assert read_locks(site) == tuple(locks)
    write_quota(site, None, Durability.NONE)
    write_locks(site, (), Durability.NONE)
    assert (read_quota(site), read_locks(site)) == (None, ())


def test_the_drives_refuse_only_what_the_faults_say(lab: Lab) -> None:
    site = lab.site("P00")
    register(lab.root, LabDrives(lab.layout))
    try:
        check_space(site.smspkg / "X.PCK", 10**12)  # no quota: anything fits
        write_quota(site, Quota(100, 0), Durability.NONE)
        check_space(site.smspkg / "X.PCK", 100)
        with pytest.raises(DiskFull) as full:
            check_space(site.smspkg / "X.PCK", 101)
        assert (full.value.winerror, str(full.value)) == (112, "Win32 Error = 112")
        check_space(site.inbox("distmgr.box") / "X.PKN", 10**12)  # not counted
        check_space(lab.site("ZZZ").smspkg / "X.PCK", 10**12)  # another site's drive
        write_locks(site, (Lock("schedule.box", "*.JOB"),), Durability.NONE)
        with pytest.raises(SharingViolation):
            check_unlocked(site.inbox("schedule.box\\UID") / "00000001.job")
        check_unlocked(site.inbox("schedule.box") / "X.SRQ")
        check_unlocked(site.inbox("distmgr.box") / "A.JOB")
    finally:
        unregister(lab.root)
    check_space(site.smspkg / "X.PCK", 10**12)  # no run: no policy


def test_nothing_is_refused_outside_a_registered_lab(tmp_path: Path) -> None:
    check_space(tmp_path / "X", 10**15)
    check_unlocked(tmp_path / "X")


def test_a_quota_changed_within_one_timestamp_step_is_read_again(lab: Lab) -> None:
    site = lab.site("P00")
    drives = LabDrives(lab.layout)
    write_quota(site, Quota(100, 0), Durability.NONE)
    assert not drives.fits(os.fspath(site.smspkg / "X.PCK"), 150)
    before = quota_file(site).stat()
    write_quota(site, Quota(200, 0), Durability.NONE)  # the same size, renamed into place
    os.utime(quota_file(site), ns=(before.st_atime_ns, before.st_mtime_ns))
    assert drives.fits(os.fspath(site.smspkg / "X.PCK"), 150)


def test_a_quota_does_not_walk_the_drive_on_every_write(lab: Lab,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    site = lab.site("P00")
    walks: list[int] = []

    def counting(layout: SiteLayout) -> int:
        walks.append(1)
        return used_bytes(layout)

    monkeypatch.setattr(drivefaults, "used_bytes", counting)
    drives = LabDrives(lab.layout)
    write_quota(site, Quota(10_000, used_bytes(site)), Durability.NONE)
    folder = site.root / "dp" / "SMSPKGF$" / "ZZZ00001"
    folder.mkdir(parents=True)
    for n in range(1000):
        path = folder / f"F{n}"
        path.write_bytes(b"x" * 10)
        assert drives.fits(os.fspath(path), 0), n  # a file written, then checked: 10 000 bytes fit
    assert len(walks) <= 1000 // REMEASURE_EVERY + 1
    extra = folder / "EXTRA"
    extra.write_bytes(b"x")
    assert not drives.fits(os.fspath(extra), 0)  # the drive is full: measured, not guessed
    extra.unlink()
    for path in list(folder.iterdir())[:5]:
        path.unlink()  # 50 bytes freed, by a deletion the drive did not see
    assert drives.fits(os.fspath(folder / "NEW"), 50)  # a refusal would measure first: it fits
    (folder / "NEW").write_bytes(b"x" * 50)
    assert not drives.fits(os.fspath(folder / "NEWER"), 1)


def test_a_fault_file_another_process_writes_is_seen_within_a_tenth_of_a_second(
        lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """A running server looks at the fault files at most every LOOK_EVERY seconds, and at once
    after this process set a fault (docs/faults.md)."""
    now = [1000.0]
    monkeypatch.setattr(drivefaults.time, "monotonic", lambda: now[0])
    site = lab.site("P00")
    drives = LabDrives(lab.layout)
    target = os.fspath(site.smspkg / "X.PCK")
    assert drives.fits(target, 150)
    quota_file(site).write_text(json.dumps({"free": 100, "used": 0}))  # as `sitesrv fault` does
    now[0] += drivefaults.LOOK_EVERY / 2
    assert drives.fits(target, 150), "not looked at again yet"
    now[0] += drivefaults.LOOK_EVERY
    assert not drives.fits(target, 150), "looked at within LOOK_EVERY"
    write_quota(site, Quota(200, 0), Durability.NONE)  # this process: seen at the next check
    assert drives.fits(target, 150)

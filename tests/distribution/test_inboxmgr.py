"""Inbox Manager mirrors pkginfo.box and offerinf.box to the site's CAP (step mode, whole lab)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitesrv.admin import console
from sitesrv.admin.lab import Lab
from sitesrv.components import inboxmgr
from sitesrv.components.inboxmgr import LOCK_TOKEN, InboxManager
from sitesrv.files.drive import SharingViolation
from sitesrv.lab.clock import VirtualClock
from sitesrv.runtime import context as context_module
from sitesrv.runtime.context import ComponentContext
from sitesrv.runtime.host import ComponentHost, LabRuntime
from sitesrv.runtime.registry import Registry
from sitesrv.testing import (
    LabFactory,
    assert_in_order,
    events,
    log_messages,
    running,
    wait_for,
    write_source,
)

SITES = ("ZZZ", "P00", "S01")
ALL_DPS = ["ZZZ:MGMT01", "P00:REMOTE_DP", "S01:SEC01"]
LEFT = ["ZZZ00001.ICO", "ZZZ00001.NAL", "ZZZ00001.PKG"]  # docs/sources.md#smsutils


def names(folder: Path) -> list[str]:
    """Files and folders (a package's `.ICO` is a folder)."""
    return sorted(p.name for p in folder.iterdir())


def cap(lab: Lab, site: str, box: str = "pkginfo.box") -> Path:
    return lab.site(site).cap / box


def created(lab: Lab, tmp_path: Path, dps: list[str] = ALL_DPS) -> str:
    pkg_id = console.create_package(lab, "ZZZ", name="Demo", source=write_source(tmp_path / "src"),
                                    dps=dps)
    assert lab.run_until_idle(seed=4).status == "idle"
    return pkg_id


def test_every_site_cap_mirrors_the_files_a_deployed_package_leaves(lab: Lab,
                                                                    tmp_path: Path) -> None:
    created(lab, tmp_path)
    for site in SITES:
        assert names(lab.site(site).inbox("pkginfo.box")) == LEFT
        assert names(cap(lab, site)) == LEFT, site
        assert (cap(lab, site) / "ZZZ00001.ICO").is_dir()
        for name in ("ZZZ00001.PKG", "ZZZ00001.NAL"):
            assert (cap(lab, site) / name).read_bytes() == \
                (lab.site(site).inbox("pkginfo.box") / name).read_bytes()
        assert (lab.site(site).inbox("colleval.box") / "ZZZ00001.CLF").is_file()
        assert not (cap(lab, site) / LOCK_TOKEN).exists(), "the lock file goes after the update"
    assert_in_order(log_messages(lab, "P00", "inboxmgr.log"), [
        "Updating \\\\MGMT03\\CAP_P00\\pkginfo.box from E:\\SMS\\inboxes\\pkginfo.box",
        "Copied E:\\SMS\\inboxes\\pkginfo.box\\ZZZ00001.NAL to "
        "\\\\MGMT03\\CAP_P00\\pkginfo.box\\ZZZ00001.NAL",
        "Mirrored E:\\SMS\\inboxes\\pkginfo.box to \\\\MGMT03\\CAP_P00\\pkginfo.box: "
        "2 file(s) copied, 0 deleted",
    ])


def test_a_file_deleted_from_pkginfo_box_disappears_from_the_cap(lab: Lab, tmp_path: Path) -> None:
    created(lab, tmp_path)
    (lab.site("ZZZ").inbox("pkginfo.box") / "ZZZ00001.NAL").unlink()
    assert lab.run_until_idle(seed=5).status == "idle"
    assert names(cap(lab, "ZZZ")) == ["ZZZ00001.ICO", "ZZZ00001.PKG"]
    assert "Deleted \\\\MGMT01\\CAP_ZZZ\\pkginfo.box\\ZZZ00001.NAL, which is no longer in " \
           "E:\\SMS\\inboxes\\pkginfo.box" in log_messages(lab, "ZZZ", "inboxmgr.log")
    assert names(cap(lab, "P00")) == LEFT, "another site's CAP is its own business"


def test_a_changed_cap_file_is_copied_again_and_strangers_are_deleted(lab: Lab,
                                                                      tmp_path: Path) -> None:
    created(lab, tmp_path)
    (cap(lab, "S01") / "ZZZ00001.PKG").write_bytes(b"damaged")
    (cap(lab, "S01") / "STRAY.TXT").write_bytes(b"x")
    assert lab.run_until_idle(seed=6).status == "idle"
    assert names(cap(lab, "S01")) == LEFT
    assert (cap(lab, "S01") / "ZZZ00001.PKG").read_bytes() == \
        (lab.site("S01").inbox("pkginfo.box") / "ZZZ00001.PKG").read_bytes()


def test_a_lock_file_that_cannot_be_deleted_is_tried_ten_times_and_stays(
        lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    remove = ComponentContext.remove

    def refuse_token(self: ComponentContext, path: Path) -> bool:
        if path.name == LOCK_TOKEN:
            raise PermissionError(13, "Access is denied", str(path))
        return remove(self, path)

    monkeypatch.setattr(ComponentContext, "remove", refuse_token)
    created(lab, tmp_path, dps=["ZZZ:MGMT01"])
    token = cap(lab, "ZZZ") / LOCK_TOKEN
    assert token.is_file()
    messages = log_messages(lab, "ZZZ", "inboxmgr.log")
    attempts = [m for m in messages if m.startswith("Failed to delete the inbox lock file "
                                                    "\\\\MGMT01\\CAP_ZZZ\\pkginfo.box\\Inboxlck.tok")]
    assert len(attempts) == 10
    assert attempts[-1].startswith("Failed to delete the inbox lock file "
                                   "\\\\MGMT01\\CAP_ZZZ\\pkginfo.box\\Inboxlck.tok "
                                   "(attempt 10 of 10): ")
    assert "Could not delete the inbox lock file \\\\MGMT01\\CAP_ZZZ\\pkginfo.box\\Inboxlck.tok " \
           "after 10 attempts; it is tried again at the next update" in messages
    assert events(lab, "cap_lock_left", site="ZZZ")
    monkeypatch.undo()
    assert lab.run_until_idle(seed=7).status == "idle"
    assert not token.exists(), "the next start deletes what an update left"


def test_deleting_a_package_removes_its_files_from_every_cap(lab: Lab, tmp_path: Path) -> None:
    pkg_id = created(lab, tmp_path)
    console.delete_package(lab, pkg_id)
    assert lab.run_until_idle(seed=8).status == "idle"
    for site in SITES:
        assert names(lab.site(site).inbox("pkginfo.box")) == []
        assert names(lab.site(site).inbox("colleval.box")) == []
        assert names(cap(lab, site)) == [], site


def test_a_deletion_held_up_by_a_file_held_open_still_reaches_the_cap(
        lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The package's `.NAL` is held open once when Distribution Manager deletes its pkginfo
    files: the `.ICO` before it is gone already, the rest goes at the retry, in the same run.
    Each deletion is named to Inbox Manager as it happens, so the CAP loses the `.ICO` too
    (named only at the end, it was never mirrored: the retry no longer sees it)."""
    pkg_id = created(lab, tmp_path, dps=["ZZZ:MGMT01"])
    assert names(cap(lab, "ZZZ")) == LEFT
    held = [f"{pkg_id}.NAL"]
    real = context_module.remove_tree

    def scanner_holds_it_once(path: Path) -> None:
        if held and Path(path).name == held[0]:
            raise SharingViolation(held.pop())
        real(path)

    monkeypatch.setattr(context_module, "remove_tree", scanner_holds_it_once)
    console.delete_package(lab, pkg_id)
    assert lab.run_until_idle(seed=8).status == "idle"
    assert held == [], "the .NAL was held open once"
    assert names(lab.site("ZZZ").inbox("pkginfo.box")) == []
    assert names(cap(lab, "ZZZ")) == []


def test_a_small_file_rewritten_with_the_same_size_and_times_is_copied_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A file system with coarse time stamps: a rewrite within one step keeps mtime and ctime,
    # and a rewrite by temp-and-rename may get the inode number back (ext4).
    monkeypatch.setattr(inboxmgr, "_signature",
                        lambda a, b: (a.st_ino, a.st_mtime_ns, 0, b.st_ino, b.st_mtime_ns, 0))
    source, dest = tmp_path / "offerinf.box", tmp_path / "CAP_ZZZ" / "offerinf.box"
    source.mkdir()
    dest.mkdir(parents=True)
    offer = source / "ZZZ20000.OFR"
    offer.write_bytes(b"[Offer]\r\nAdvertID=ZZZ20000\r\n")
    mirror = inboxmgr.BoxMirror(source, dest)
    for _ in range(2):  # the first pass copies, the second finds the pair equal
        for src, target in mirror.plan().copies:
            target.write_bytes(src.read_bytes())
    times = offer.stat()
    with open(offer, "r+b") as f:  # the same size, the same inode
        f.write(b"[OFFER]")
    os.utime(offer, ns=(times.st_atime_ns, times.st_mtime_ns))
    for names in (None, {"ZZZ20000.OFR"}):  # a full pass, and one of the changed name only
        plan = mirror.plan(names)
        assert plan.copies == ((offer, dest / offer.name),), "the CAP gets the new bytes"


# --- passes of what changed: Inbox Manager alone at ZZZ, one unit at a time, in step mode ---

@contextlib.contextmanager
def inbox_manager(lab: Lab) -> Iterator[tuple[LabRuntime, ComponentHost]]:
    """ZZZ's Inbox Manager, started (its start-up pass is its first unit) on a virtual clock."""
    runtime = LabRuntime(lab.root, clock=VirtualClock(), seed=0, sites=["ZZZ"],
                         registry=Registry(primary=(InboxManager,)))
    runtime.lock()
    try:
        runtime.boot()
        yield runtime, runtime.hosts[0]
    finally:
        runtime.unlock()


def unit(runtime: LabRuntime, host: ComponentHost) -> list[str]:
    """The unit the host was woken for; its log lines."""
    host.fire_timers(runtime.clock.now())
    assert host.wanted.is_set(), "Inbox Manager runs when something woke it"
    before = len(log_messages(runtime.root, "ZZZ", "inboxmgr.log"))
    host.run_unit()
    return log_messages(runtime.root, "ZZZ", "inboxmgr.log")[before:]


def box_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def same_size_rewrite(path: Path, data: bytes) -> None:
    """New bytes of the same length, the same inode and modification time."""
    times = path.stat()
    assert len(data) == times.st_size
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(times.st_atime_ns, times.st_mtime_ns))


PKG = b"[Package Definition]\nPackageID=ZZZ00001\nName=One\n"
NAL = b"MSWNET:[\"SMS_SITE=ZZZ\"]\\\\MGMT01\\SMSPKGE$\\ZZZ00001\\\n"


def test_a_pass_copies_what_changed_and_a_same_size_rewrite_is_a_change(lab: Lab) -> None:
    box = lab.site("ZZZ").inbox("pkginfo.box")
    (box / "ZZZ00001.PKG").write_bytes(PKG)
    (box / "ZZZ00001.NAL").write_bytes(NAL)
    with inbox_manager(lab) as (runtime, host):
        assert unit(runtime, host)[-1].endswith(": 2 file(s) copied, 0 deleted")
        same_size_rewrite(box / "ZZZ00001.PKG", PKG.replace(b"One", b"Two"))
        runtime.notify(box, "ZZZ00001.PKG")  # as Distribution Manager's publish announces it
        assert unit(runtime, host) == [
            "Updating \\\\MGMT01\\CAP_ZZZ\\pkginfo.box from E:\\SMS\\inboxes\\pkginfo.box",
            "Copied E:\\SMS\\inboxes\\pkginfo.box\\ZZZ00001.PKG to "
            "\\\\MGMT01\\CAP_ZZZ\\pkginfo.box\\ZZZ00001.PKG",
            "Mirrored E:\\SMS\\inboxes\\pkginfo.box to \\\\MGMT01\\CAP_ZZZ\\pkginfo.box: "
            "1 file(s) copied, 0 deleted"]
        assert box_files(cap(lab, "ZZZ")) == box_files(box)
        assert not (cap(lab, "ZZZ") / LOCK_TOKEN).exists()
        assert [e["copied"] for e in events(lab, "cap_updated", site="ZZZ")] == [2, 1]


def test_a_persons_change_while_the_servers_run_is_mirrored_by_the_next_full_pass(
        lab: Lab) -> None:
    # A person's change announces itself to nobody in step mode (live, the watcher's hint
    # does for a new file, and the periodic rescan for the rest): a pass of what changed
    # leaves it, the first pass 60 rescan intervals after the last full one mirrors it.
    box = lab.site("ZZZ").inbox("pkginfo.box")
    (box / "ZZZ00001.PKG").write_bytes(PKG)
    (box / "ZZZ00001.NAL").write_bytes(NAL)
    with inbox_manager(lab) as (runtime, host):
        unit(runtime, host)
        same_size_rewrite(box / "ZZZ00001.PKG", PKG.replace(b"One", b"Two"))
        (box / "ZZZ00001.NAL").unlink()
        (box / "ZZZ00002.PKG").write_bytes(PKG.replace(b"1", b"2"))
        (box / "ZZZ00003.PKG").write_bytes(PKG.replace(b"1", b"3"))
        runtime.notify(box, "ZZZ00003.PKG")  # a component's publish, at once
        assert unit(runtime, host)[-1].endswith(": 1 file(s) copied, 0 deleted")
        runtime.clock.advance(lab.hierarchy.timing.full_look_interval)
        (box / "ZZZ00004.PKG").write_bytes(PKG.replace(b"1", b"4"))
        runtime.notify(box, "ZZZ00004.PKG")
        messages = unit(runtime, host)
        assert "Deleted \\\\MGMT01\\CAP_ZZZ\\pkginfo.box\\ZZZ00001.NAL, which is no longer in " \
               "E:\\SMS\\inboxes\\pkginfo.box" in messages
        assert messages[-1].endswith(": 3 file(s) copied, 1 deleted")
        assert box_files(cap(lab, "ZZZ")) == box_files(box)


def test_a_change_in_a_packages_ico_folder_is_mirrored(lab: Lab) -> None:
    box = lab.site("ZZZ").inbox("pkginfo.box")
    ico = box / "ZZZ00001.ICO"
    ico.mkdir()
    with inbox_manager(lab) as (runtime, host):
        unit(runtime, host)
        assert (cap(lab, "ZZZ") / "ZZZ00001.ICO").is_dir()
        (ico / "ZZZ00001.ICO").write_bytes(b"\x00\x00\x01\x00icon")
        runtime.hint(str(ico / "ZZZ00001.ICO"))  # live, the watcher's hint of a person's file
        assert unit(runtime, host)[-1].endswith(": 1 file(s) copied, 0 deleted")
        same_size_rewrite(ico / "ZZZ00001.ICO", b"\x00\x00\x01\x00ICON")
        runtime.notify(ico, "ZZZ00001.ICO")  # a publish into the folder
        assert unit(runtime, host)[-1].endswith(": 1 file(s) copied, 0 deleted")
        assert box_files(cap(lab, "ZZZ")) == box_files(box)
        shutil.rmtree(ico)
        host.wake(rescan=True)  # live: the periodic rescan; a deletion sends no hint
        assert unit(runtime, host)[-1].endswith(": 0 file(s) copied, 1 deleted")
        assert names(cap(lab, "ZZZ")) == []


def test_what_a_person_changed_while_the_servers_were_stopped_is_mirrored_at_start(
        lab: Lab, tmp_path: Path) -> None:
    created(lab, tmp_path, dps=["ZZZ:MGMT01"])
    box = lab.site("ZZZ").inbox("pkginfo.box")
    pkg = (box / "ZZZ00001.PKG").read_bytes()
    same_size_rewrite(box / "ZZZ00001.PKG", pkg.replace(b"Demo", b"DEMO"))
    (box / "ZZZ00001.ICO" / "ZZZ00001.ICO").write_bytes(b"icon")
    (box / "ZZZ00001.NAL").unlink()
    assert lab.run_until_idle(seed=9).status == "idle"
    assert box_files(cap(lab, "ZZZ")) == box_files(box)
    assert (cap(lab, "ZZZ") / "ZZZ00001.PKG").read_bytes() == pkg.replace(b"Demo", b"DEMO")


@pytest.mark.live_fs
def test_live_a_persons_new_file_comes_on_the_hint_and_a_deletion_with_the_rescan(
        sitesrv_lab_factory: LabFactory, default_hierarchy_text: str) -> None:
    # No periodic rescan within the test (an hour), so the new file can only come on the
    # watcher's hint; the deletion, which sends none, comes with the rescan asked for here.
    lab = sitesrv_lab_factory(default_hierarchy_text.replace(
        "\ntiming:\n", "\ntiming:\n  rescan_interval: 1h\n"))
    assert lab.hierarchy.timing.rescan_interval == 3600
    box = lab.site("ZZZ").inbox("pkginfo.box")
    (box / "ZZZ00001.NAL").write_bytes(NAL)
    with running(lab, components=Registry(primary=(InboxManager,)), sites=["ZZZ"]) as driver:
        assert names(cap(lab, "ZZZ")) == ["ZZZ00001.NAL"]
        (box / "ZZZ00001.PKG").write_bytes(PKG)
        wait_for(lambda: box_files(cap(lab, "ZZZ")) == box_files(box), what="the new file")
        (box / "ZZZ00001.NAL").unlink()
        driver.rescan_all()  # what the live driver does every rescan_interval
        wait_for(lambda: names(cap(lab, "ZZZ")) == ["ZZZ00001.PKG"], what="the deletion")


def test_a_name_no_windows_file_system_holds_goes_to_corrupt_shown_escaped(lab: Lab) -> None:
    # Such a name failed the unit on its log line (surrogates cannot be written), with the lock
    # file left in the CAP; in the CAP inbox, it is a stranger like any other.
    box = lab.site("ZZZ").inbox("pkginfo.box")
    (box / "ZZZ00001.NAL").write_bytes(NAL)
    (box / os.fsdecode(b"B\xff.NAL")).write_bytes(b"not UTF-8")
    (box / "C\x01<.NAL").write_bytes(b"a control character")
    (cap(lab, "ZZZ") / os.fsdecode(b"D\x02\xfe.NAL")).write_bytes(b"a stranger")
    with inbox_manager(lab) as (runtime, host):
        messages = unit(runtime, host)
    assert_in_order(messages, [
        "Moved the corrupt file E:\\SMS\\inboxes\\pkginfo.box\\B\\xff.NAL to "
        "E:\\SMS\\inboxes\\pkginfo.box\\corrupt\\B%FF.NAL: its name holds \\xff, which no "
        "Windows file name can: SMS never sees such a file",
        "Moved the corrupt file E:\\SMS\\inboxes\\pkginfo.box\\C\\x01\\x3c.NAL to "
        "E:\\SMS\\inboxes\\pkginfo.box\\corrupt\\C%01%3C.NAL: its name holds \\x01, \\x3c, "
        "which no Windows file name can: SMS never sees such a file",
        "Deleted \\\\MGMT01\\CAP_ZZZ\\pkginfo.box\\D\\x02\\xfe.NAL, which is no longer in "
        "E:\\SMS\\inboxes\\pkginfo.box",
        "Mirrored E:\\SMS\\inboxes\\pkginfo.box to \\\\MGMT01\\CAP_ZZZ\\pkginfo.box: "
        "1 file(s) copied, 1 deleted"])
    assert names(box) == ["ZZZ00001.NAL", "corrupt"]
    assert sorted(os.listdir(box / "corrupt")) == ["B%FF.NAL", "C%01%3C.NAL", "quarantine.log"]
    assert (box / "corrupt" / "B%FF.NAL").read_bytes() == b"not UTF-8"
    assert names(cap(lab, "ZZZ")) == ["ZZZ00001.NAL"], "no lock file left, no stranger"
    written = lab.site("ZZZ").log("inboxmgr.log").read_bytes().decode("utf-8")  # strictly
    assert not any(ord(c) < 32 and c not in "\r\n" for c in written)


def test_a_failed_update_leaves_no_lock_file_and_the_next_pass_mirrors_everything(
        lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    box = lab.site("ZZZ").inbox("pkginfo.box")
    (box / "ZZZ00001.NAL").write_bytes(NAL)

    def denied(self: ComponentContext, src: Path, dest: Path) -> Path:
        raise PermissionError(13, "Access is denied", str(dest))

    monkeypatch.setattr(ComponentContext, "publish_copy", denied)
    with inbox_manager(lab) as (runtime, host):
        messages = unit(runtime, host)
        assert messages[-1].startswith("Unexpected error: ")
        assert names(cap(lab, "ZZZ")) == [], "the lock file went with the failed unit"
        monkeypatch.undo()
        runtime.clock.advance(lab.hierarchy.timing.rescan_interval)  # the failed unit's retry
        assert unit(runtime, host)[-1].endswith(": 1 file(s) copied, 0 deleted")
        assert box_files(cap(lab, "ZZZ")) == box_files(box)

"""Inbox Manager mirrors pkginfo.box and offerinf.box to the site's CAP (step mode, whole lab)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sitesrv.admin import console
from sitesrv.admin.lab import Lab
from sitesrv.components import inboxmgr
from sitesrv.components.inboxmgr import LOCK_TOKEN
from sitesrv.runtime.context import ComponentContext
from sitesrv.testing import assert_in_order, events, log_messages, write_source

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
    verified: dict[str, inboxmgr.Signature] = {}
    for _ in range(2):  # the first pass copies, the second finds the pair equal
        plan = inboxmgr._plan(source, dest, verified, still := {})
        for src, target in plan.copies:
            target.write_bytes(src.read_bytes())
        verified = still
    times = offer.stat()
    with open(offer, "r+b") as f:  # the same size, the same inode
        f.write(b"[OFFER]")
    os.utime(offer, ns=(times.st_atime_ns, times.st_mtime_ns))
    plan = inboxmgr._plan(source, dest, verified, {})
    assert plan.copies == ((offer, dest / offer.name),), "the CAP gets the new bytes"

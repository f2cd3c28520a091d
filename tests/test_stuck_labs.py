"""Starting a test from a field report's stuck state: stuck_lab, snapshot/restore and the
`sitesrv_stuck_lab` fixture (sitesrv.testing, the pytest plugin)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from sitesrv.admin import console
from sitesrv.admin.lab import Lab
from sitesrv.db.sitedb import SiteDatabase
from sitesrv.errors import UserError
from sitesrv.testing import (
    StuckLabFactory,
    build_lab,
    create_package,
    query,
    restore,
    snapshot,
    stuck_lab,
    tree_digest,
    write_source,
)

STUCK_ROW = ("SELECT Status, SourceVersion FROM PkgStatus WHERE Type = 1 AND SiteCode = 'P00'")


def repair(lab: Lab) -> None:
    """The delta-stuck report's repair, as a user's tool would make it."""
    with SiteDatabase.open(lab.site("ZZZ").database) as db:
        db.execute_user_sql("UPDATE PkgStatus SET Status = 2, SourceVersion = 0 WHERE "
                            "(ID = 'ZZZ00001') AND (Type = 1) AND (PkgServer = 'MGMT03')")
    console.refresh_dp(lab, "ZZZ00001", "P00:REMOTE_DP")
    assert lab.run_until_idle(seed=1).status == "idle"


def test_the_fixture_gives_the_stuck_lab_and_a_repair_heals_it(
        sitesrv_stuck_lab: StuckLabFactory, tmp_path: Path) -> None:
    lab = sitesrv_stuck_lab("delta-stuck")
    assert lab.root == tmp_path / "delta-stuck"
    assert query(lab, "ZZZ", STUCK_ROW) == [(1, 2)], "stuck: SENT, version 2"
    repair(lab)
    (source,) = query(lab, "ZZZ", "SELECT Source FROM SMSPackages")[0]
    assert source == "\\\\MGMT01\\Sources\\delta-stuck-sources\\ZZZ00001"
    folder = lab.layout.sources.folder_of(source)
    assert folder == (tmp_path / "delta-stuck-sources" / "ZZZ00001").resolve(), "its own copy"
    dp = lab.root / "P00" / "dp" / "REMOTE_DP" / "smsapps" / "SMSPKG" / "ZZZ00001"
    assert tree_digest(dp) == tree_digest(folder)


def test_a_restored_lab_never_changes_its_snapshot(tmp_path: Path) -> None:
    lab = stuck_lab("delta-stuck", tmp_path / "played")
    saved = snapshot(lab, tmp_path / "snapshot")
    first = restore(saved, tmp_path / "first")
    repair(first)
    (source,) = query(first, "ZZZ", "SELECT Source FROM SMSPackages")[0]
    folder = first.layout.sources.folder_of(source)
    assert folder is not None
    (folder / "NEW.TXT").write_text("x")
    console.update_package(first, "ZZZ00001")
    assert first.run_until_idle(seed=1).status == "idle"
    assert (first.site("ZZZ").smspkg / "ZZZ00001.DLT.3").is_file(), "the PCK's folder, moved"
    second = restore(saved, tmp_path / "second")
    assert query(second, "ZZZ", STUCK_ROW) == [(1, 2)], "still stuck"
    assert not (tmp_path / "second-sources" / "ZZZ00001" / "NEW.TXT").exists()
    assert query(second, "ZZZ", "SELECT SourceVersion FROM SMSPackages") == [(2,)]


def test_snapshot_and_restore_refuse_to_overwrite(tmp_path: Path) -> None:
    lab = stuck_lab("child-lost-its-pck", tmp_path / "played")
    saved = snapshot(lab, tmp_path / "snapshot")
    with pytest.raises(UserError, match="already exists"):
        snapshot(lab, saved)
    with pytest.raises(UserError, match="already exists"):
        restore(saved, lab.root)
    with pytest.raises(UserError, match="is not a lab snapshot"):
        restore(tmp_path / "played", tmp_path / "elsewhere")


def test_a_seed_that_does_not_get_stuck_says_which_do(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--seeds 1-20"):
        stuck_lab("kb936465", tmp_path / "race", seed=1)  # seed 1 loses no race


def test_a_story_never_writes_over_a_users_folder(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    (mine / "lab").mkdir(parents=True)
    (mine / "hierarchy.yaml").write_text("my own")
    with pytest.raises(UserError, match="is not empty"):
        stuck_lab("delta-stuck", mine)
    assert (mine / "hierarchy.yaml").read_text() == "my own"


def test_a_source_inside_the_lab_follows_it(tmp_path: Path) -> None:
    lab = build_lab(tmp_path / "lab")
    source = write_source(lab.root / "demo-source")
    create_package(lab, "ZZZ", name="Inside", source=source, dps=["ZZZ:MGMT01"])
    restored = restore(snapshot(lab, tmp_path / "snap"), tmp_path / "copy")
    assert query(restored, "ZZZ", "SELECT Source FROM SMSPackages") == [
        ("\\\\MGMT01\\PkgSource\\demo-source",)]
    assert not (tmp_path / "copy-sources").exists()


def test_a_running_lab_is_refused_and_no_lock_is_copied(tmp_path: Path) -> None:
    lab = build_lab(tmp_path / "lab")
    lock = lab.site("P00").state_dir / "server.lock"
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                "started": "2026-12-06T12:00:00Z", "token": "t"}))
    with pytest.raises(UserError, match="Site P00's server is already running"):
        snapshot(lab, tmp_path / "snap")
    assert not (tmp_path / "snap" / "lab").exists()
    lock.unlink()
    (lab.site("S01").state_dir / ".server.lock.1-x.tmp").write_text("{}")
    saved = snapshot(lab, tmp_path / "snap2")
    assert not list((saved / "lab").rglob("*server.lock*"))


def test_packages_that_shared_a_source_get_a_copy_each_when_restored(tmp_path: Path) -> None:
    """Bug hunt: both pointed at the last package's copy, so changing one package's copy
    changed the other's next version."""
    lab = build_lab(tmp_path / "lab")
    source = write_source(tmp_path / "src")
    first = create_package(lab, "ZZZ", name="One", source=source, dps=["ZZZ:MGMT01"])
    second = create_package(lab, "ZZZ", name="Two", source=source, dps=["ZZZ:MGMT01"])
    assert lab.run_until_idle(seed=1).status == "idle"
    restored = restore(snapshot(lab, tmp_path / "snap"), tmp_path / "r")
    assert query(restored, "ZZZ", "SELECT PkgID, Source FROM SMSPackages ORDER BY PkgID") == [
        (first, f"\\\\MGMT01\\Sources\\r-sources\\{first}"),
        (second, f"\\\\MGMT01\\Sources\\r-sources\\{second}")]

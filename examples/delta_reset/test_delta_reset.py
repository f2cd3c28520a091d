"""delta_reset's tests, built on sitesrv's pytest plugin as a user's own tests would be."""

from __future__ import annotations

from pathlib import Path

import pytest
from delta_reset import main

from sitesrv import Lab
from sitesrv.testing import (
    StuckLabFactory,
    create_package,
    log_messages,
    query,
    refresh_dp,
    tree_digest,
    write_source,
)


def test_it_finds_the_stuck_child_and_repairs_it(sitesrv_stuck_lab: StuckLabFactory,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    lab = sitesrv_stuck_lab("delta-stuck")
    args = ["--lab", str(lab.root), "--parent", "ZZZ", "--child", "P00", "ZZZ00001"]
    assert main(args) == 1, "found, not changed"
    assert "stuck: ZZZ00001 at P00 (MGMT03): Status 1, SourceVersion 2" in capsys.readouterr().out
    assert main([*args, "--apply"]) == 0
    refresh_dp(lab, "ZZZ00001", "P00:REMOTE_DP")  # what the script says to do next
    assert lab.run_until_idle(seed=1).status == "idle"
    source = query(lab, "ZZZ", "SELECT Source FROM SMSPackages")[0][0]  # a Windows path
    folder = lab.layout.sources.folder_of(source)
    assert folder is not None
    dp = lab.root / "P00" / "dp" / "REMOTE_DP" / "smsapps" / "SMSPKG" / "ZZZ00001"
    assert tree_digest(dp) == tree_digest(folder)
    assert "Needs to send the compressed package for package ZZZ00001 to site P00" in \
        log_messages(lab, "ZZZ", "distmgr.log")
    assert main(args) == 0, "nothing left to repair"


def test_a_healthy_lab_is_left_alone(sitesrv_lab: Lab, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    lab = sitesrv_lab
    create_package(lab, "ZZZ", name="Healthy", source=write_source(tmp_path / "source"),
                   dps=["ZZZ:MGMT01", "P00:REMOTE_DP"])
    assert lab.run_until_idle(seed=1).status == "idle"
    before = query(lab, "ZZZ", "SELECT * FROM PkgStatus ORDER BY ID, Type, SiteCode")
    assert main(["--lab", str(lab.root), "--parent", "ZZZ", "--child", "P00", "ZZZ00001",
                 "--apply"]) == 0
    assert capsys.readouterr().out == "ZZZ00001 is not stuck at P00.\n"
    assert query(lab, "ZZZ", "SELECT * FROM PkgStatus ORDER BY ID, Type, SiteCode") == before

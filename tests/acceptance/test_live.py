"""Acceptance 8: the demo converges in live mode, with watchers, and --until-idle exits 0, with
every site in one process and with a process per site."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sitesrv.admin.lab import Lab
from sitesrv.testing import events, query, tree_digest, write_source
from tests.acceptance.conftest import create, dp_folder


@pytest.mark.live_fs
@pytest.mark.parametrize("processes", ["one", "per-site"])
def test_live_lab_converges_and_exits_0(lab: Lab, tmp_path: Path, processes: str) -> None:
    source = write_source(tmp_path / "source")
    pkg_id = create(lab, source)
    proc = subprocess.run(
        [sys.executable, "-c", "from sitesrv.cli.main import main; main()", "run", "--lab",
         str(lab.root), "--until-idle", "--timeout", "120", "--processes", processes],
        capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "nothing waits" in proc.stdout + proc.stderr
    for site in ("ZZZ", "P00", "S01"):
        assert tree_digest(dp_folder(lab, site, pkg_id)) == tree_digest(source), site
        # The flowcharts' last box: Inbox Manager copied the package's files to the CAP.
        assert sorted(p.name for p in (lab.site(site).cap / "pkginfo.box").iterdir()) == [
            f"{pkg_id}.ICO", f"{pkg_id}.NAL", f"{pkg_id}.PKG"], site
    assert query(lab, "ZZZ", "SELECT COUNT(*) FROM SMS_PackageStatusDistPointsSummarizer "
                             "WHERE State != 0") == [(0,)]
    # One time line per lab: the live run went on from the lab's time (a new lab's, 2007), not
    # the wall clock's, and a step run after it goes on from where it ended.
    live = [e["time"] for e in events(lab)]
    assert live and all(t.startswith("2007-06-04T") for t in live), live[-1]
    create(lab, write_source(tmp_path / "second"), dps=["ZZZ:MGMT01"])
    assert lab.run_until_idle(seed=1).status == "idle"
    after = [e["time"] for e in events(lab)][len(live):]
    assert after and min(after) >= max(live), "lab time never goes backwards"

"""`sitesrv fault kill SITE`: a live site server process killed in the middle of a transfer,
and the next run's start-up recovery (live: real processes, waits with deadlines)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitesrv.admin.lab import Lab
from sitesrv.cli.main import cli
from sitesrv.testing import events, files, log_messages, slow_link, tree_digest, wait_for
from tests.acceptance.conftest import create, dp_folder, sample
from tests.conftest import REPO

pytestmark = [pytest.mark.live_fs, pytest.mark.slow]


def half_sent(receive: Path) -> bool:
    return any(p.stat().st_size > 0 for p in receive.glob("*.PCK.TMP"))


def test_a_sender_killed_mid_transfer_sends_again_after_a_restart(
        lab: Lab, tmp_path: Path) -> None:
    source = sample(tmp_path)
    slow_link(lab, "ZZZ", "P00", rate=500_000)  # the 4 MB package takes about 8 s to go
    pkg_id = create(lab, source, dps=["ZZZ:MGMT01", "P00:REMOTE_DP"])
    command = [sys.executable, "-m", "sitesrv.cli.run", "--lab", str(lab.root),
               "--processes", "per-site"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    receive = lab.site("P00").receive
    run = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: half_sent(receive), 120, "the package half sent to P00")
        killed = CliRunner().invoke(cli, ["fault", "kill", "ZZZ", "--lab", str(lab.root)])
        assert killed.exit_code == 0, killed.output
        assert killed.output.startswith("Killed the server process of site ZZZ (pid ")
        _, stderr = run.communicate(timeout=180)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 1 and "The site server process of ZZZ stopped unexpectedly" in \
        stderr, stderr
    assert [e["fault"] for e in events(lab, "fault")] == ["slow link", "kill"]
    assert half_sent(receive), "the transfer stopped half way"
    assert not dp_folder(lab, "P00", pkg_id).exists()

    final = subprocess.run([*command, "--until-idle", "--timeout", "180"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert tree_digest(dp_folder(lab, "P00", pkg_id)) == tree_digest(source)
    # Start-up recovery: ZZZ's lock, left by the killed process, is taken over; the Sender's
    # claimed request goes back to its outbox and is sent again from byte 0; P00 deletes the
    # half-written package file, or the new send writes over it.
    assert [e["site"] for e in events(lab, "server_lock_taken_over")] == ["ZZZ"]
    assert any(str(e["file"]).endswith("\\schedule.box\\outboxes\\LAN\\2_001ZZZ.srq")
               for e in events(lab, "returned_to_inbox", site="ZZZ"))
    sender = log_messages(lab, "ZZZ", "sender.log")
    assert sender.count("Found send request.  ID: 2_001ZZZ, Dest Site: P00~") == 2
    assert sum(m.startswith("~Attempt to write ") and m.endswith(
        " bytes to \\\\MGMT03\\SMS_SITE\\2_001ZZZ.PCK at position 0") for m in sender) == 2, \
        ("from byte 0 again", [m for m in sender if "2_001ZZZ" in m and "~Wrote" not in m])
    assert files(receive) == []

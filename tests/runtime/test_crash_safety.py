"""Kill a live lab with SIGKILL at random moments, restart it, and lose or duplicate nothing.

The toy pipeline runs in a real `sitesrv run` process. Each of 20 rounds starts it, drops a
burst of instructions into CEN's outbox, and kills it at a random moment: before start-up is
done, during recovery, in the middle of the burst, or when idle. A last run until idle must
then have installed every item exactly once (a duplicated output would show as a second `.NAL`
for an item), with nothing left in any inbox or work folder.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sitesrv.testing import LabFactory, drop, events, inbox
from tests.conftest import REPO
from tests.runtime.conftest import two_sites
from tests.runtime.toy import INCOMING, INSTALLED, OUTBOX, RECEIVE, installed_items, instruction

pytestmark = [pytest.mark.live_fs, pytest.mark.slow]

ROUNDS = 20
BURST = 60


def in_pipeline(lab: Path) -> list[Path]:
    """Instructions not yet installed: in an inbox, or claimed in its work folder."""
    found: list[Path] = []
    for site, folder in (("CEN", OUTBOX), ("SEC", RECEIVE), ("SEC", INCOMING)):
        box = inbox(lab, site, folder)
        found += [p for p in box.iterdir() if p.is_file() and not p.name.startswith(".")
                  and not p.name.upper().endswith(".TMP")]
        if (box / ".work").is_dir():  # made by the first start-up recovery
            found += list((box / ".work").iterdir())
    return found


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
        sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(two_sites("  rescan_interval: 0.5s\n")).root
    command = [sys.executable, "-m", "sitesrv.cli.run", "--lab", str(lab),
               "--components", "tests.runtime.toy:REGISTRY"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = random.Random(20070604)
    items: list[str] = []
    interrupted = 0
    for round_ in range(ROUNDS):
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        for n in range(BURST):
            item = f"R{round_:02d}N{n:03d}"
            drop(inbox(lab, "CEN", OUTBOX), f"{item}.SRQ", instruction(item))
            items.append(item)
        time.sleep(rng.uniform(0.05, 1.0))  # the random moment of the kill, not a wait
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        interrupted += bool(in_pipeline(lab))
    final = subprocess.run([*command, "--until-idle", "--timeout", "60"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert installed_items(inbox(lab, "SEC", INSTALLED)) == sorted(items)
    assert in_pipeline(lab) == []
    # The kills did land in the middle of work, and start-up recovery had claimed files to return.
    returned = events(lab, "returned_to_inbox")
    print(f"{interrupted} of {ROUNDS} kills left work in the pipeline; "
          f"{len(returned)} claimed files returned at start-up")
    assert interrupted > 0

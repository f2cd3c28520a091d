"""A step run of some sites while another process runs the others live (`sitesrv run --step
--site P00` beside `sitesrv run --site ZZZ`): the live Sender's file in flight in P00's receive
is not the leftover of a dead writer, so P00's start-up keeps it; an old one it deletes."""

from __future__ import annotations

import os
import time

from sitesrv.admin.lab import Lab
from sitesrv.runtime.lock import SiteLock
from sitesrv.testing import log_messages

IN_FLIGHT = "2_001ZZZ.PCK.TMP"


def test_a_live_senders_file_in_flight_survives_a_step_runs_start_up(sitesrv_lab: Lab) -> None:
    live = SiteLock(sitesrv_lab.site("ZZZ"))  # as `sitesrv run --site ZZZ` holds it
    live.acquire()
    try:
        in_flight_and_then_old(sitesrv_lab)
    finally:
        live.release()


def in_flight_and_then_old(sitesrv_lab: Lab) -> None:
    receive = sitesrv_lab.site("P00").receive
    tmp = receive / IN_FLIGHT
    tmp.write_bytes(b"the first bytes of a PCK")

    assert sitesrv_lab.run_until_idle(sites=["P00"]).status == "idle"
    assert tmp.read_bytes() == b"the first bytes of a PCK"

    old = time.time() - sitesrv_lab.hierarchy.timing.stale_tmp_age / \
        sitesrv_lab.hierarchy.clock_rate - 60
    os.utime(tmp, (old, old))  # its Sender stopped writing long ago
    assert sitesrv_lab.run_until_idle(sites=["P00"]).status == "idle"
    assert not tmp.exists()
    assert ("Deleted the stale temporary file E:\\SMS\\inboxes\\despoolr.box\\receive\\"
            f"{IN_FLIGHT}") in log_messages(sitesrv_lab, "P00", "despool.log")


def test_with_no_other_server_running_every_temp_file_is_a_dead_writers(
        sitesrv_lab: Lab) -> None:
    tmp = sitesrv_lab.site("P00").receive / IN_FLIGHT
    tmp.write_bytes(b"the first bytes of a PCK")
    assert sitesrv_lab.run_until_idle(sites=["P00"]).status == "idle"
    assert not tmp.exists()

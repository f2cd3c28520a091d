"""The rate limit holds in real time: the live driver runs the same Sender on the real clock."""

from __future__ import annotations

import random

import pytest

from sitesrv.runtime.live import LiveDriver
from sitesrv.testing import LabFactory, events, files, inbox
from tests.transport.conftest import SENDING, content_job, event_time, two_children

pytestmark = pytest.mark.live_fs

RATE = 128 * 1024
SIZE = 256 * 1024


def test_the_rate_limit_holds_in_real_time(sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(two_children(p00=f", rate_limit: {RATE}")).root
    content_job(lab, "00000001", random.Random(1).randbytes(SIZE))
    report = LiveDriver(lab, components=SENDING, sites=["ZZZ"]).run(until_idle=True, timeout=60)
    assert report is not None and (report.status, report.errors) == ("idle", 0)
    assert files(inbox(lab, "P00", "despoolr.box\\receive")) == ["2_001ZZZ.PCK", "2_001ZZZ.SNI"]
    (started,) = events(lab, "send_started", request="2_001ZZZ")
    (finished,) = events(lab, "send_finished", request="2_001ZZZ")
    measured = event_time(finished) - event_time(started)  # lab time is real time at rate 1
    # The lower bound is what the limit means: a send never goes faster than the rate, but for
    # its last chunk, which is written at once when its time comes (so 0.8, not 1). The
    # upper bound is loose on purpose: under `pytest -n 2` another worker's disk writes can
    # stall the final unit of the send, which is lateness of the machine, not of the limit.
    assert 0.8 <= measured / (SIZE / RATE) <= 2.0, measured


"""Standard Sender: schedule windows by priority, pauses, rate limit and latency in lab time,
concurrency caps, no preemption, retries and the busy list."""

from __future__ import annotations

import json
import random
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from sitesrv.admin.hierarchyview import render_hierarchy
from sitesrv.admin.lab import Lab
from sitesrv.admin.pauses import with_pauses
from sitesrv.cli.address import address_group
from sitesrv.components.scheduler import Scheduler
from sitesrv.errors import UserError
from sitesrv.formats import srq
from sitesrv.runtime.registry import Registry
from sitesrv.runtime.step import run_until_idle
from sitesrv.testing import LabFactory, assert_in_order, drop, events, files, inbox, log_messages
from tests.transport.conftest import SENDING, START, content_job, event_time, two_children

SCHEDULER_ONLY = Registry(primary=(Scheduler,))
KIB = 1024
MIB = 1024 * KIB


def data(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def span(lab: Path, request: str) -> tuple[float, float]:
    """When the Sender took a request and when it published its `.srs`."""
    (started,) = events(lab, "send_started", request=request)
    (finished,) = events(lab, "send_finished", request=request)
    return event_time(started), event_time(finished)


def test_the_rate_limit_makes_a_send_take_lab_time(sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(two_children(p00=", rate_limit: 65536")).root
    content_job(lab, "00000001", data(MIB))
    report = run_until_idle(lab, components=SENDING, sites=["ZZZ"])
    assert (report.status, report.errors) == ("idle", 0)
    started, finished = span(lab, "2_001ZZZ")
    assert started == START
    assert abs(finished - started - 16.0) <= 0.25  # 1 MiB at 64 KiB/s, within one chunk
    writes = [t for t in log_messages(lab, "ZZZ", "sender.log") if t.startswith("~Wrote ")]
    assert len(writes) == 64 and writes[0].startswith("~Wrote 16384 bytes to ")


def test_latency_delays_the_first_byte(sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(two_children(p00=", rate_limit: 131072, latency: 2.5s")).root
    content_job(lab, "00000001", data(256 * KIB))
    run_until_idle(lab, components=SENDING, sites=["ZZZ"])
    started, finished = span(lab, "2_001ZZZ")
    assert abs(finished - started - 4.5) <= 0.25


def test_jitter_varies_each_send_within_its_bounds_and_by_seed(
        sitesrv_lab_factory: LabFactory) -> None:
    """1 MiB at 64 KiB/s takes 16 s; with jitter 0.25 each send takes 16 s / (1 +- 0.25) give
    or take a chunk, and two seeds give two different times."""
    spans = []
    for seed in (1, 2):
        lab = sitesrv_lab_factory(two_children(p00=", rate_limit: 65536, jitter: 0.25"),
                                  name=f"lab{seed}").root
        content_job(lab, "00000001", data(MIB))
        run_until_idle(lab, components=SENDING, sites=["ZZZ"], seed=seed)
        started, finished = span(lab, "2_001ZZZ")
        spans.append(finished - started)
        assert 16.0 / 1.25 - 0.25 <= spans[-1] <= 16.0 / 0.75 + 0.25
    assert abs(spans[0] - spans[1]) > 0.25, "the seed decides the rate"


WINDOW = ', schedule: [{days: all, hours: "00:00-06:00", availability: high_only}]'


def test_a_high_only_window_holds_medium_traffic_until_it_opens(
        sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(two_children(p00=WINDOW)).root
    content_job(lab, "00000001", data(1000), priority=2)
    content_job(lab, "00000002", data(1000, 2), priority=1, package_id="ZZZ00002")
    report = run_until_idle(lab, components=SENDING, sites=["ZZZ"], horizon=3 * 3600)
    assert (report.status, report.errors) == ("idle", 0)
    # Lab time starts on Monday 09:00 UTC, 04:00 at ZZZ (bias 300): high only until 06:00.
    assert span(lab, "1_002ZZZ")[0] == START
    assert span(lab, "2_001ZZZ")[0] == START + 2 * 3600
    assert "Send request 2_001ZZZ waits for the address to P00 to open for priority 2." in \
        log_messages(lab, "ZZZ", "sender.log")
    assert files(inbox(lab, "P00", "despoolr.box\\receive")) == [
        "1_002ZZZ.PCK", "1_002ZZZ.SNI", "2_001ZZZ.PCK", "2_001ZZZ.SNI"]


def test_a_held_request_is_reported_while_the_lab_waits(sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(two_children(p00=WINDOW)).root
    content_job(lab, "00000001", data(1000), priority=3)
    report = run_until_idle(lab, components=SENDING, sites=["ZZZ"], horizon=60)
    assert report.status == "waiting"
    assert report.lines() == [
        "ZZZ SMS_LAN_SENDER: outboxes\\LAN\\3_001ZZZ.srq waits for the address to P00 to open "
        "for priority 3",
        "ZZZ SMS_SCHEDULER: 00000001.job waits for send request 3_001ZZZ"]


def test_pause_and_resume_close_and_open_an_address(lab: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(address_group, ["pause", "zzz", "P00", "--lab", str(lab)])
    assert result.exit_code == 0 and result.output == "The address from ZZZ to P00 is paused.\n"
    assert (lab / "ZZZ/SMS/state/paused_addresses.json").read_text() == \
        '{\n  "paused": [\n    "P00"\n  ]\n}\n'
    opened = Lab.open(lab)
    shown = render_hierarchy(with_pauses(opened.hierarchy, opened.layout))
    assert "ZZZ -> P00  LAN  priority 1  unlimited  latency 0s  schedule: PAUSED (closed)" in shown
    assert "P00 -> ZZZ  LAN  priority 1  unlimited  latency 0s  schedule: open 24x7" in shown

    content_job(lab, "00000001", data(1000), priority=1)
    report = run_until_idle(lab, components=SENDING, sites=["ZZZ"], horizon=30)
    assert report.status == "waiting"
    assert report.lines()[0] == (
        "ZZZ SMS_LAN_SENDER: outboxes\\LAN\\1_001ZZZ.srq waits for the paused address to P00 to "
        "be resumed ('sitesrv address resume ZZZ P00')")

    result = runner.invoke(address_group, ["resume", "ZZZ", "P00", "--lab", str(lab)])
    assert result.output == "The address from ZZZ to P00 is open (as its schedule says).\n"
    report = run_until_idle(lab, components=SENDING, sites=["ZZZ"])
    assert (report.status, report.errors) == ("idle", 0)
    assert files(inbox(lab, "P00", "despoolr.box\\receive")) == ["1_001ZZZ.PCK", "1_001ZZZ.SNI"]
    again = runner.invoke(address_group, ["resume", "ZZZ", "P00", "--lab", str(lab)])
    assert again.output == "The address from ZZZ to P00 is already open (as its schedule says).\n"
    missing = runner.invoke(address_group, ["pause", "ZZZ", "S01", "--lab", str(lab)])
    assert isinstance(missing.exception, UserError)
    assert "There is no address from site ZZZ to site S01" in str(missing.exception)


def in_flight_peaks(lab: Path) -> tuple[int, dict[str, int]]:
    """The most sends in flight at once, in all and per destination, from the event stream."""
    flying: dict[str, str] = {}
    total, per_site = 0, {}
    for event in events(lab):
        if event["event"] == "send_started":
            flying[event["request"]] = event["to"]
        elif event["event"] == "send_finished":
            flying.pop(event["request"])
        total = max(total, len(flying))
        for site in set(flying.values()):
            per_site[site] = max(per_site.get(site, 0), list(flying.values()).count(site))
    return total, per_site


def test_the_concurrency_caps_hold(sitesrv_lab_factory: LabFactory) -> None:
    rate = ", rate_limit: 65536"
    lab = sitesrv_lab_factory(two_children(p00=rate, p01=rate, total=3, per_site=2)).root
    for n in range(8):
        content_job(lab, f"{n + 1:08X}", data(128 * KIB, n), dest="P00" if n < 4 else "P01",
                    package_id=f"ZZZ0000{n + 1}")
    report = run_until_idle(lab, components=SENDING, sites=["ZZZ"])
    assert (report.status, report.errors) == ("idle", 0)
    total, per_site = in_flight_peaks(lab)
    assert total == 3 and per_site == {"P00": 2, "P01": 2}
    sender = log_messages(lab, "ZZZ", "sender.log")
    assert "Checking for site-specific sending capacity.  Used 1 out of 2.~" in sender
    assert not [t for t in sender if "Used 2 out of 2" in t]
    assert len(files(inbox(lab, "P00", "despoolr.box\\receive"))) == 8
    assert len(files(inbox(lab, "P01", "despoolr.box\\receive"))) == 8


def test_a_send_in_progress_is_not_preempted_and_high_priority_goes_next(
        sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(two_children(p00=", rate_limit: 65536", total=1)).root
    content_job(lab, "00000001", data(MIB), priority=3)
    content_job(lab, "00000002", data(64 * KIB, 2), priority=3, package_id="ZZZ00002")
    content_job(lab, "00000003", data(64 * KIB, 3), priority=1, package_id="ZZZ00003")
    run_until_idle(lab, components=SCHEDULER_ONLY, sites=["ZZZ"], horizon=0)
    # The high-priority request may go from 2 s on, while the first low one is being sent.
    outbox = inbox(lab, "ZZZ", "schedule.box\\outboxes\\LAN")
    high = srq.read(outbox / "1_003ZZZ.srq")
    drop(outbox, "1_003ZZZ.srq", srq.encode(attrs.evolve(high, restart_at=START + 2)))
    report = run_until_idle(lab, components=SENDING, sites=["ZZZ"])
    assert (report.status, report.errors) == ("idle", 0)
    first, high_span, second = span(lab, "3_001ZZZ"), span(lab, "1_003ZZZ"), span(lab, "3_002ZZZ")
    assert first[0] == START and abs(first[1] - START - 16) <= 0.25
    assert first[1] <= high_span[0] <= high_span[1] <= second[0]


def test_past_counter_46655_requests_still_go_first_in_first_out(
        sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(two_children(p00=", rate_limit: 65536", total=1)).root
    uid = inbox(lab, "ZZZ", "schedule.box\\UID")
    (token,) = uid.glob("*.req")
    token.rename(uid / f"{46655:08X}.req")
    content_job(lab, "00000001", data(64 * KIB))
    content_job(lab, "00000002", data(64 * KIB, 2), package_id="ZZZ00002")
    run_until_idle(lab, components=SCHEDULER_ONLY, sites=["ZZZ"], horizon=0)
    outbox = inbox(lab, "ZZZ", "schedule.box\\outboxes\\LAN")
    # Counter 46655 is the last `_` + 3 digits; 46656 is the first 4-digit one, and sorts first.
    assert files(outbox) == ["21000ZZZ.srq", "2_ZZZZZZ.srq"]
    assert srq.read(outbox / "2_ZZZZZZ.srq").job_id == "00000001"
    report = run_until_idle(lab, components=SENDING, sites=["ZZZ"])
    assert (report.status, report.errors) == ("idle", 0)
    older, newer = span(lab, "2_ZZZZZZ"), span(lab, "21000ZZZ")
    assert older[0] == START and older[1] <= newer[0]  # one at a time, the older one first


FLAKY = """\
sites:
  - {code: ZZZ, server: MGMT01, drive: E, package_drive: F, time_zone_bias: 300}
  - {code: P00, server: MGMT03, parent: ZZZ, drive: E, package_drive: F, time_zone_bias: 300}
addresses:
  - {from: ZZZ, to: P00, priority: 1}
  - {from: ZZZ, to: P00, priority: 2}
timing: {profile: lab, file_notice: 0, instruction_cost: 0}  # testing.free_files
"""


def test_an_unreachable_site_is_retried_then_put_on_the_busy_list(lab: Path) -> None:
    receive = inbox(lab, "P00", "despoolr.box\\receive")
    receive.rmdir()
    receive.write_text("not a share\n")  # the SMS_SITE share cannot be reached
    content_job(lab, "00000001", data(1000))
    report = run_until_idle(lab, components=SENDING, sites=["ZZZ"], max_steps=40)
    assert report.status == "timeout"
    sender = log_messages(lab, "ZZZ", "sender.log")
    failure = ["Error during WNetAddConnection2 to \\\\MGMT03\\SMS_SITE (67).",
               "There is no existing connection, Win32 error = 0",
               "Operation is retryable."]
    assert_in_order(sender, [
        "Found send request.  ID: 2_001ZZZ, Dest Site: P00~",
        "~Trying the No. 1 address (out of 1)",
        *failure,
        "Will retry send request 2_001ZZZ at 06-04-2007 04:00:02.000+300 (retry 1 of 2).",
        "~Trying the No. 1 address (out of 1)",
        *failure,
        "Will retry send request 2_001ZZZ at 06-04-2007 04:00:04.000+300 (retry 2 of 2).",
        "~Trying the No. 1 address (out of 1)",
        *failure,
        "Cannot connect to server \\\\MGMT03 at remote site P00, won't try send requests going "
        "to site P00 for an hour or until there are no active send requests.",
        "Could not establish connection.",
        "Attempt to connect failed.",
        "There is no existing connection, Win32 error = 0",
        "No need to disconnect",
        "Restart time = 6/4/2007 4:00:34 AM Eastern Standard Time",
        "Send request 2_001ZZZ waits: site P00 is on the busy list until "
        "06-04-2007 04:00:34.000+300.",
    ])
    assert_in_order(log_messages(lab, "ZZZ", "sched.log"), [
        "Checking send request 2_001ZZZ~",
        "Send request 2_001ZZZ ended with SREQ_STATUS_ERROR and ACTION CODE 1; it is pending "
        "again and will be retried at 06-04-2007 04:00:06.000+300.~",
    ])
    (failed,) = events(lab, "send_finished", request="2_001ZZZ", action=1)[:1]
    assert failed["status"] == "SREQ_STATUS_ERROR" and event_time(failed) == START + 4

    receive.unlink()
    receive.mkdir()
    report = run_until_idle(lab, components=SENDING, sites=["ZZZ"])
    assert (report.status, report.errors) == ("idle", 0)
    assert files(receive) == ["2_001ZZZ.PCK", "2_001ZZZ.SNI"]


def test_the_busy_list_outlives_a_restart(lab: Path) -> None:
    receive = inbox(lab, "P00", "despoolr.box\\receive")
    receive.rmdir()
    receive.write_text("not a share\n")
    content_job(lab, "00000001", data(1000))
    # Three failed attempts (at 0, 2 and 4 s) put P00 on the busy list until 34 s; the run
    # ends there, as nothing can change within a 10 s horizon.
    first = run_until_idle(lab, components=SENDING, sites=["ZZZ"], horizon=10)
    assert first.status == "waiting" and first.lab_time < START + 34
    busy_file = lab / "ZZZ" / "SMS" / "state" / "sender-busy.json"
    assert json.loads(busy_file.read_text()) == {"busy": {"P00": START + 34}}

    # The next run is a restart: the share is back and a second request to P00 arrives, but
    # P00 stays on the busy list until its time is up.
    receive.unlink()
    receive.mkdir()
    content_job(lab, "00000002", data(500), package_id="ZZZ00002")
    second = run_until_idle(lab, components=SENDING, sites=["ZZZ"], horizon=10)
    assert second.status == "waiting" and files(receive) == []
    assert "Send request 2_002ZZZ waits: site P00 is on the busy list until 06-04-2007 " \
           "04:00:34.000+300." in log_messages(lab, "ZZZ", "sender.log")

    third = run_until_idle(lab, components=SENDING, sites=["ZZZ"])
    assert (third.status, third.errors) == ("idle", 0)
    assert files(receive) == ["2_001ZZZ.PCK", "2_001ZZZ.SNI", "2_002ZZZ.PCK", "2_002ZZZ.SNI"]
    (sent,) = events(lab, "send_started", request="2_002ZZZ")
    assert event_time(sent) == START + 34
    assert json.loads(busy_file.read_text()) == {"busy": {}}
    assert [p.name for p in busy_file.parent.iterdir() if p.name.startswith(".sender")] == []


def test_an_unreadable_busy_list_is_an_empty_one(lab: Path) -> None:
    busy_file = lab / "ZZZ" / "SMS" / "state" / "sender-busy.json"
    busy_file.write_text("{not json\n")
    content_job(lab, "00000001", data(1000))
    report = run_until_idle(lab, components=SENDING, sites=["ZZZ"])
    assert (report.status, report.errors) == ("idle", 0)
    assert files(inbox(lab, "P00", "despoolr.box\\receive")) == ["2_001ZZZ.PCK", "2_001ZZZ.SNI"]
    assert any(line.startswith("Cannot read the busy list E:\\SMS\\state\\sender-busy.json (")
               and line.endswith("); starting with no busy sites.")
               for line in log_messages(lab, "ZZZ", "sender.log"))


def test_a_failing_address_is_followed_by_the_next_one_at_once_then_a_retry(
        sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(FLAKY).root
    content_job(lab, "00000001", data(1000))
    receive = inbox(lab, "P00", "despoolr.box\\receive")
    receive.rmdir()
    receive.write_text("down\n")  # both addresses lead to this share
    report = run_until_idle(lab, components=SENDING, sites=["ZZZ"], max_steps=12)
    assert report.status == "timeout"  # it keeps trying; the test looks at the first round
    sender = log_messages(lab, "ZZZ", "sender.log")
    assert_in_order(sender, ["~Trying the No. 1 address (out of 2)",
                             "Operation is retryable.",
                             "~Trying the No. 2 address (out of 2)",
                             "Operation is retryable.",
                             "Will retry send request 2_001ZZZ at 06-04-2007 04:00:02.000+300 "
                             "(retry 1 of 2).",
                             "~Trying the No. 1 address (out of 2)"])


def test_a_request_to_a_site_without_address_waits_on_the_busy_list(lab: Path) -> None:
    content_job(lab, "00000001", data(1000))
    run_until_idle(lab, components=SCHEDULER_ONLY, sites=["ZZZ"])
    outbox = inbox(lab, "ZZZ", "schedule.box\\outboxes\\LAN")
    request = srq.read(outbox / "2_001ZZZ.srq")
    (outbox / "2_001ZZZ.srq").unlink()
    drop(outbox, "2_001ZZZ.srq", srq.encode(attrs.evolve(request, dest_site="S01")))
    report = run_until_idle(lab, components=Registry(primary=(SENDING.primary[1],)),
                            sites=["ZZZ"], horizon=10)
    assert report.status == "waiting"
    assert_in_order(log_messages(lab, "ZZZ", "sender.log"), [
        "Found send request.  ID: 2_001ZZZ, Dest Site: S01~",
        "There is no longer an address to destination site S01",
        "Returning send request to pending because address cannot not be found.",
        "Site S01 added to list of busy sites because there is no available address.",
    ])


@pytest.mark.parametrize(("bias", "opens"), [(300, START + 3600), (-60, START)])
def test_windows_follow_the_sending_sites_local_time(sitesrv_lab_factory: LabFactory, bias: int,
                                                     opens: float) -> None:
    closed = ', schedule: [{days: [mon], hours: "03:00-05:00", availability: closed}]'
    text = two_children(p00=closed).replace(
        "time_zone_bias: 300}\n  - {code: P00", f"time_zone_bias: {bias}}}\n  - {{code: P00")
    lab = sitesrv_lab_factory(text).root
    content_job(lab, "00000001", data(1000), priority=1)
    run_until_idle(lab, components=SENDING, sites=["ZZZ"], horizon=3 * 3600)
    # Monday 09:00 UTC is 04:00 at ZZZ with bias 300 (closed until 05:00), 10:00 with bias -60.
    assert span(lab, "1_001ZZZ")[0] == opens

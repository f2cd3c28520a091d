"""Two `sitesrv courier` commands at one site at the same moment: two `create` never take one
parcel number, and two `receive` of one parcel deliver it once. Real processes on a real lab,
then the moment each check can lose, played deterministically."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from sitesrv.admin import courierreceive, coursend, parcelnumbers
from sitesrv.admin.courierreceive import receive
from sitesrv.admin.lab import Lab
from sitesrv.errors import UserError
from sitesrv.formats import parcel, sni, srq
from sitesrv.lab.hierarchy import Site
from sitesrv.lab.identifiers import request_id
from sitesrv.testing import log_messages
from tests.courier.test_courier_folders import waiting_lab

REPO = Path(__file__).resolve().parents[2]
PER_PROCESS = 12
# One command run: `create` a parcel of each request named, or `receive` each parcel file at
# P00, one after another; the results as one JSON line. It says `ready`, then waits for a line
# on stdin, so both processes start together without a sleep.
WORKER = """
import json, sys
from pathlib import Path
from sitesrv.admin import coursend
from sitesrv.admin.courierreceive import receive
from sitesrv.admin.lab import Lab
from sitesrv.errors import UserError
root, what, *items = sys.argv[1:]
print("ready", flush=True)
sys.stdin.readline()
results = []
for item in items:
    try:
        if what == "create":
            record, _ = coursend.create(Lab.open(root), "ZZZ", request_ids=(item,))
            results.append(record.packing_list.parcel_id)
        else:
            receive(Lab.open(root), "P00", Path(item))
            results.append("received")
    except UserError as e:
        results.append(str(e))
print(json.dumps(results), flush=True)
"""


def at_once(lab: Lab, what: str, *shares: list[str]) -> list[list[str]]:
    """Run one worker per share of the items, all started together; each one's results."""
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(lab.root), what, *share],
                                cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True) for share in shares]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=240)[0] for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    assert [worker.returncode for worker in workers] == [0] * len(workers), outputs
    return [json.loads(output) for output in outputs]


def many_requests(lab: Lab, count: int) -> list[str]:
    """The courier outbox's one request, copied as `count` requests of other IDs (the same
    instruction and package file), as a day of packages for P00 leaves them."""
    zzz = lab.hierarchy.site("ZZZ")
    (waiting,) = coursend.pending(lab, zzz)
    assert waiting.request is not None
    waiting.path.unlink()
    ids = []
    for n in range(100, 100 + count):
        request = attrs.evolve(waiting.request, request_id=request_id(2, n, "ZZZ"))
        (waiting.path.parent / srq.file_name(request)).write_bytes(srq.encode(request))
        ids.append(request.request_id)
    return ids


def assert_delivered_intact(lab: Lab, requests: list[str]) -> None:
    """Each request's package file and instruction in P00's despoolr.box\\receive, whole."""
    package = next((lab.root / "ZZZ/SMSPKG").glob("*.PCK")).read_bytes()
    receive_box = lab.site("P00").receive
    for rid in requests:
        assert (receive_box / sni.payload_file_name(rid)).read_bytes() == package
        instruction = sni.read(receive_box / sni.sni_file_name(rid))
        assert (instruction.request_id, instruction.sending_site) == (rid, "ZZZ")


def test_two_creates_at_once_give_every_parcel_its_own_number_and_each_is_received(tmp_path):
    """Two processes each make a parcel of each waiting request, one after another, in the
    same order: each request goes in one parcel (the other command finds it no longer waits),
    each parcel has its own number, and each is received whole."""
    lab, _, _ = waiting_lab(tmp_path)
    zzz = lab.hierarchy.site("ZZZ")
    requests = many_requests(lab, PER_PROCESS)
    first, second = at_once(lab, "create", requests, requests)

    made = []
    for results in zip(first, second, strict=True):
        refused, parcel_id = sorted(results)  # `No send request 2_02SZZZ waits at site ZZZ`,
        assert refused.startswith("No send request "), results  # or none waits (the last)
        made.append(parcel_id)
    assert len(set(made)) == len(requests), made
    carried = {}
    for record in coursend.records(lab, zzz):
        (entry,) = record.packing_list.requests
        carried[record.packing_list.parcel_id] = entry.request_id
    assert sorted(carried) == sorted(made)
    assert sorted(carried.values()) == sorted(requests)
    assert sorted(p.name for p in parcelnumbers.claims_folder(lab, zzz).iterdir()) == sorted(made)
    for parcel_id, rid in carried.items():
        packing = receive(lab, "P00", lab.layout.media / parcel.file_name(parcel_id))
        assert [r.request_id for r in packing.requests] == [rid]
    assert_delivered_intact(lab, requests)


def test_two_receives_of_the_same_parcels_at_once_deliver_each_once(tmp_path):
    lab, _, _ = waiting_lab(tmp_path)
    requests = many_requests(lab, PER_PROCESS)
    disc = tmp_path / "disc"
    disc.mkdir()
    parcels = []
    for rid in requests:
        _, made = coursend.create(lab, "ZZZ", request_ids=(rid,))
        parcels.append(str(shutil.copy(made, disc / made.name)))

    first, second = at_once(lab, "receive", parcels, parcels)

    for one, other in zip(first, second, strict=True):
        assert sorted([one, other])[1] == "received", (one, other)
        assert "was received at site P00 already" in sorted([one, other])[0]
    received = [m for m in log_messages(lab, "P00", "coursend.log")
                if m.endswith("was received with a success status.")]
    assert len(received) == len(parcels)
    assert_delivered_intact(lab, requests)


def test_a_number_claimed_by_another_command_after_the_listing_is_skipped(tmp_path,
                                                                           monkeypatch):
    """The competitor claims ZZZ-0002 between this command's listing and its claim: this
    command finds the claim made and takes ZZZ-0003; ZZZ-0002 stays the competitor's."""
    lab, _, _ = waiting_lab(tmp_path)
    zzz = lab.hierarchy.site("ZZZ")
    requests = many_requests(lab, 2)
    coursend.create(lab, "ZZZ", request_ids=(requests[0],))
    listing = parcelnumbers.given

    def listed_then_claimed(lab: Lab, site: Site) -> list[int]:
        numbers = listing(lab, site)
        (parcelnumbers.claims_folder(lab, site) / "ZZZ-0002").write_bytes(b"")
        return numbers

    monkeypatch.setattr(parcelnumbers, "given", listed_then_claimed)
    record, made = coursend.create(lab, "ZZZ", request_ids=(requests[1],))

    assert (record.packing_list.parcel_id, made.name) == ("ZZZ-0003", "ZZZ-0003.parcel")
    assert not (lab.layout.media / "ZZZ-0002.parcel").exists()
    assert sorted(p.name for p in parcelnumbers.claims_folder(lab, zzz).iterdir()) == [
        "ZZZ-0001", "ZZZ-0002", "ZZZ-0003"]


def test_a_parcel_received_by_another_command_while_this_one_read_it_is_refused(tmp_path,
                                                                               monkeypatch):
    """The competitor receives the parcel after this receive read its packing list, before
    this one takes the site's lock: this one then finds the record, and delivers nothing."""
    lab, _, _ = waiting_lab(tmp_path)
    _, made = coursend.create(lab, "ZZZ")
    lock = courierreceive.one_manager
    competitor: list[str] = []

    def received_first(lab: Lab, site: Site):
        if not competitor:
            competitor.append("receiving")
            receive(lab, "P00", made)
            (rid,) = [p.name for p in lab.site("P00").receive.glob("*.SNI")]
            competitor.append(rid)
            (lab.site("P00").receive / rid).unlink()  # the Despooler took the delivery
        return lock(lab, site)

    monkeypatch.setattr(courierreceive, "one_manager", received_first)
    with pytest.raises(UserError, match="was received at site P00 already"):
        receive(lab, "P00", made)
    assert list(lab.site("P00").receive.glob("*.SNI")) == []
    assert [m for m in log_messages(lab, "P00", "coursend.log")
            if m.endswith("was received with a success status.")] == [
        "Parcel ZZZ-0001 (Parcel ZZZ-0001) from site ZZZ was received with a success status."]


def test_a_request_put_in_a_parcel_by_another_command_meanwhile_is_not_carried_twice(
        tmp_path, monkeypatch):
    """The competitor makes a parcel of the waiting request after this `create` looked at the
    outbox, before it takes the site's lock: this one then finds nothing waiting."""
    lab, _, _ = waiting_lab(tmp_path)
    lock = coursend.one_manager
    competitor: list[str] = []

    def made_first(lab: Lab, site: Site):
        if not competitor:
            competitor.append("making")
            coursend.create(lab, "ZZZ")
        return lock(lab, site)

    monkeypatch.setattr(coursend, "one_manager", made_first)
    with pytest.raises(UserError, match="No send request waits in"):
        coursend.create(lab, "ZZZ")
    assert [r.packing_list.parcel_id for r in coursend.records(lab, lab.hierarchy.site("ZZZ"))
            ] == ["ZZZ-0001"]
    assert [p.name for p in lab.layout.media.iterdir()] == ["ZZZ-0001.parcel"]

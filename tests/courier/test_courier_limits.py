"""What Courier Sender does not do: check a parcel (Q206835), carry package information to a
grandchild whose only address is a Courier one (Q282494), or copy a package per destination
(Q264740, fixed in SMS 2.0 SP3)."""

from __future__ import annotations

import pytest

from sitesrv.admin import coursend
from sitesrv.admin.courierreceive import receive
from sitesrv.testing import assert_in_order, files, log_messages
from tests.courier.conftest import (
    GRANDCHILD,
    P00_DP,
    S01_DP,
    carry,
    courier_lab,
    courier_package,
)

RECEIVE = "SMS/inboxes/despoolr.box/receive"


@pytest.mark.parametrize("damage", ["truncated", "modified"])
def test_a_damaged_parcel_is_received_with_success_and_the_despooler_quarantines_it(
        tmp_path, damage):
    lab = courier_lab(tmp_path)
    pkg_id, _ = courier_package(lab, tmp_path, ["P00:REMOTE_DP"])
    lab.run_until_idle(seed=2)
    _, path = coursend.create(lab, "ZZZ")
    disc = carry(path, lab)
    data = disc.read_bytes()
    if damage == "truncated":
        disc.write_bytes(data[:-1000])
    else:
        disc.write_bytes(data[:-1000] + bytes([data[-1000] ^ 0xFF]) + data[-999:])
    receive(lab, "P00", disc)  # no UserError: received
    assert any("was received with a success status" in m
               for m in log_messages(lab, "P00", "coursend.log"))
    report = lab.run_until_idle(seed=2)
    assert report.status == "waiting"  # a quarantined file is a problem of the run
    despool = log_messages(lab, "P00", "despool.log")
    assert any(m.startswith("~Signature check failed for instruction coming from site ZZZ")
               for m in despool)
    corrupt = files(lab.root / "P00" / RECEIVE / "corrupt")
    assert any(n.endswith(".SNI") for n in corrupt) and any(n.endswith(".PCK") for n in corrupt)
    assert not (lab.root / P00_DP / pkg_id).exists()


def test_one_parcel_holds_one_copy_of_the_package_for_two_sites(tmp_path):
    lab = courier_lab(tmp_path, GRANDCHILD, nearest=False)
    courier_package(lab, tmp_path, ["P00:REMOTE_DP", "S01:SEC01"])
    lab.run_until_idle(seed=4)
    record, path = coursend.create(lab, "ZZZ")
    packing = record.packing_list
    assert packing.destinations == ("P00", "S01")
    package_files = {r.package_file for r in packing.requests}
    assert len(package_files) == 1
    size = (lab.root / "ZZZ/SMSPKG" / package_files.pop()).stat().st_size
    assert size < path.stat().st_size < 2 * size


def test_a_grandchild_with_only_a_courier_address_gets_the_package_without_its_dp_information(
        tmp_path):
    lab = courier_lab(tmp_path, GRANDCHILD, nearest=False)
    pkg_id, source = courier_package(lab, tmp_path, ["P00:REMOTE_DP", "S01:SEC01"])
    lab.run_until_idle(seed=4)
    sched = log_messages(lab, "ZZZ", "sched.log")
    stranded = next(m.split()[-1].rstrip(".") for m in sched
                    if m.startswith("Scheduling send request"))
    assert_in_order(sched, [
        f"There is direct address to site S01, no need for routing for send request {stranded}.",
        f"Scheduling send request {stranded}.",
        "No addresses available for site S01.",
        "No backup addresses available for site S01."])
    _, path = coursend.create(lab, "ZZZ")
    for site in ("P00", "S01"):
        receive(lab, site, carry(path, lab))
    report = lab.run_until_idle(seed=4)
    assert report.status == "waiting"
    assert (lab.root / P00_DP / pkg_id).is_dir()
    assert not (lab.root / S01_DP / pkg_id).exists()
    assert any(f"This package[{pkg_id}]'s information hasn't arrived yet" in m
               for m in log_messages(lab, "S01", "despool.log"))
    assert any("waits for an address to site S01" in w for w in report.lines())


def test_a_parcel_addressed_elsewhere_is_refused_and_nothing_is_written(tmp_path):
    lab = courier_lab(tmp_path)
    courier_package(lab, tmp_path, ["P00:REMOTE_DP"])
    lab.run_until_idle(seed=2)
    _, path = coursend.create(lab, "ZZZ")
    disc = carry(path, lab)
    disc.write_bytes(disc.read_bytes().replace(b"DeliverTo=\\\\MGMT03\\SMS_SITE",
                                               b"DeliverTo=\\\\MGMT01\\SMS_SITE", 1))
    with pytest.raises(coursend.UserError, match=r"not P00's \\\\MGMT03\\SMS_SITE"):
        receive(lab, "P00", disc)
    assert files(lab.root / "P00" / RECEIVE) == []
    assert files(lab.root / "ZZZ" / RECEIVE) == []
    assert any(m.startswith("Cannot receive the parcel") for m in
               log_messages(lab, "P00", "coursend.log"))

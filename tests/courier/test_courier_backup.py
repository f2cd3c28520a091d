"""A preferred sender is a preference: a site with no Courier address to the next site sends a
package that prefers the Courier over its LAN address, with the Scheduler's "No addresses
available" for the preferred sender and no status 3400 (Q282494's lines; docs/transport.md)."""

from __future__ import annotations

from sitesrv.admin import coursend
from sitesrv.admin.courierreceive import receive
from sitesrv.testing import assert_in_order, files, log_messages, query, tree_digest
from tests.courier.conftest import P00_DP, S01_DP, carry, courier_lab, courier_package

P00_COURIER = "P00/SMS/inboxes/schedule.box/outboxes/COURIER"


def _backup_lines(sched: list[str]) -> list[str]:
    request = next(m.split()[-1].rstrip("~") for m in sched[sched.index(
        "Destination site:  S01, Preferred Address: COURIER, Priority: 2"):]
        if m.startswith("Created new send request ID:"))
    return [f"There is direct address to site S01, no need for routing for send request "
            f"{request}.",
            "No addresses available for site S01.",
            f"The preferred sender COURIER has no address to site S01; send request {request} "
            "uses the backup addresses of the Standard Sender."]


def test_a_child_primary_without_a_courier_address_forwards_the_parcels_package_over_its_lan(
        tmp_path):
    lab = courier_lab(tmp_path)  # ZZZ -> P00 by Courier (and LAN); P00 -> S01 by LAN only
    pkg_id, source = courier_package(lab, tmp_path, ["P00:REMOTE_DP", "S01:SEC01"])
    assert lab.run_until_idle(seed=5).status == "waiting"
    _, path = coursend.create(lab, "ZZZ")
    receive(lab, "P00", carry(path, lab))
    assert lab.run_until_idle(seed=5).status == "idle"

    sched = log_messages(lab, "P00", "sched.log")
    assert_in_order(sched, ["Destination site:  S01, Preferred Address: COURIER, Priority: 2",
                            *_backup_lines(sched)])
    assert not any(m.startswith("There is no address defined for site") for m in sched)
    assert query(lab, "P00", "SELECT COUNT(*) FROM StatusMessages WHERE MessageID = 3400"
                 ) == [(0,)]
    assert files(lab.root / P00_COURIER) == []
    assert any(m.startswith("Found send request.") and "Dest Site: S01" in m
               for m in log_messages(lab, "P00", "sender.log"))
    assert tree_digest(lab.root / S01_DP / pkg_id) == tree_digest(source)
    assert tree_digest(lab.root / P00_DP / pkg_id) == tree_digest(source)


def test_a_routed_courier_package_keeps_its_preference_at_the_hop_and_goes_on_by_lan(tmp_path):
    """No address from ZZZ to S01: the package's files for S01 go through P00 by LAN (a Courier
    address never routes) while P00's own copy waits for a parcel; P00's job that relays them
    still says COURIER, and P00, with no Courier address to S01, sends them over its LAN."""
    lab = courier_lab(tmp_path, nearest=False)
    pkg_id, source = courier_package(lab, tmp_path, ["P00:REMOTE_DP", "S01:SEC01"])
    assert lab.run_until_idle(seed=6).status == "waiting"
    assert tree_digest(lab.root / S01_DP / pkg_id) == tree_digest(source)
    assert not (lab.root / P00_DP / pkg_id).exists()
    (waiting,) = coursend.pending(lab, lab.hierarchy.site("ZZZ"))
    assert waiting.request.dest_site == "P00"

    central = log_messages(lab, "ZZZ", "sched.log")
    assert any(m.startswith("There is no direct address to site S01, routing send request")
               for m in central)
    assert "No addresses available for site S01." in central
    sched = log_messages(lab, "P00", "sched.log")
    assert_in_order(sched, ["Destination site:  S01, Preferred Address: COURIER, Priority: 2",
                            *_backup_lines(sched)])

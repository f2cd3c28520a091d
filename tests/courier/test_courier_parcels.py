"""A package that prefers the Courier Sender travels in a parcel, made, carried and received by
hand (Courier Sender "does not send parcels automatically"), and ends byte-identical."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sitesrv.admin import coursend
from sitesrv.admin.courierreceive import receive
from sitesrv.formats import parcel
from sitesrv.formats.parcel import ParcelStatus
from sitesrv.testing import files, log_messages, query, tree_digest
from tests.courier.conftest import ADDRESSES, P00_DP, S01_DP, carry, courier_lab, courier_package

OUTBOX = "ZZZ/SMS/inboxes/schedule.box/outboxes/COURIER"


def move(parcel_file: Path, disc: Path) -> Path:
    """The parcel file moved off the site server onto "media" (another folder)."""
    disc.mkdir()
    return Path(shutil.move(parcel_file, disc / parcel_file.name))


def test_a_parcel_carries_a_package_to_p00_and_its_dp_ends_byte_identical(tmp_path):
    lab = courier_lab(tmp_path)
    pkg_id, source = courier_package(lab, tmp_path, ["P00:REMOTE_DP"])
    report = lab.run_until_idle(seed=3)
    assert report.status == "waiting"  # the job waits for its send request, in the outbox
    assert any("waits in the Courier outbox for a parcel (sitesrv courier create ZZZ)" in line
               for line in report.lines())
    (waiting,) = coursend.pending(lab, lab.hierarchy.site("ZZZ"))
    assert waiting.request.dest_site == "P00"
    assert "Destination site:  P00, Preferred Address: COURIER, Priority: 2" in log_messages(
        lab, "ZZZ", "sched.log")
    assert files(lab.root / P00_DP) == []
    assert files(lab.root / "P00/SMS/inboxes/despoolr.box/receive") == []

    record, path = coursend.create(lab, "ZZZ", name="June CD")
    assert path.parent == lab.root / "media"
    assert record.status is ParcelStatus.CREATED
    assert files(lab.root / OUTBOX, "*.srq") == []
    assert lab.run_until_idle(seed=3).status == "waiting"  # the parcel is not received yet
    assert "Send request has successfully completed.~" in log_messages(lab, "ZZZ", "sched.log")

    coursend.set_status(lab, record.packing_list.parcel_id, ParcelStatus.SENT,
                        tracking_number="1Z999", sent_by="Courier")
    packing = receive(lab, "P00", carry(path, lab))
    assert [r.dest_site for r in packing.requests] == ["P00"]
    assert lab.run_until_idle(seed=3).status == "idle"
    assert tree_digest(lab.root / P00_DP / pkg_id) == tree_digest(source)
    assert query(lab, "ZZZ", "SELECT State FROM SMS_PackageStatusDistPointsSummarizer "
                             f"WHERE PackageID = '{pkg_id}'") == [(0,)]
    assert any("was received with a success status" in m
               for m in log_messages(lab, "P00", "coursend.log"))


def test_parcel_status_only_moves_forward(tmp_path):
    lab = courier_lab(tmp_path)
    courier_package(lab, tmp_path, ["P00:REMOTE_DP"])
    lab.run_until_idle(seed=1)
    record, _ = coursend.create(lab, "ZZZ")
    parcel_id = record.packing_list.parcel_id
    sent = coursend.set_status(lab, parcel_id, ParcelStatus.SENT, tracking_number="T-1",
                               sent_by="Mail")
    assert (sent.status, sent.tracking_number, sent.sent_by) == (ParcelStatus.SENT, "T-1", "Mail")
    for back in (ParcelStatus.CREATED, ParcelStatus.SENT):
        with pytest.raises(coursend.UserError, match="only moves forward"):
            coursend.set_status(lab, parcel_id, back)
    confirmed = coursend.set_status(lab, parcel_id, ParcelStatus.CONFIRMED)
    assert confirmed.tracking_number == "T-1" and confirmed.confirmed_at is not None
    kept = parcel.read_record(lab.root / "ZZZ/SMS/inboxes/coursend.box/outgoing"
                              / parcel.file_name(parcel_id))
    assert kept == confirmed
    with pytest.raises(coursend.UserError, match="only moves forward"):
        coursend.set_status(lab, parcel_id, ParcelStatus.CONFIRMED)


def test_no_courier_address_gives_q198746s_message(tmp_path):
    lab = courier_lab(tmp_path)
    with pytest.raises(coursend.UserError) as raised:
        coursend.create(lab, "P00")
    assert str(raised.value) == (
        "The SMS registry indicates no outbox for the sender to scan. Be sure that you are "
        "running this application on an SMS Site Server and that at least one site is defined "
        "to use the Courier Sender.")


def test_parcels_carry_a_package_from_the_central_site_to_a_secondary(tmp_path):
    """ZZZ's parcel to P00, then P00's own parcel on to S01 (the child primary forwards the
    compressed files by the package's preferred sender too): S01's DP ends byte-identical."""
    lab = courier_lab(tmp_path, ADDRESSES + "  - {from: P00, to: S01, type: COURIER, "
                                            "priority: 2}\n")
    pkg_id, source = courier_package(lab, tmp_path, ["P00:REMOTE_DP", "S01:SEC01"])
    assert lab.run_until_idle(seed=3).status == "waiting"
    first, path = coursend.create(lab, "ZZZ", name="To the child")
    assert files(lab.root / "media") == [path.name]
    receive(lab, "P00", move(path, tmp_path / "disc1"))
    assert files(lab.root / "media") == []
    assert lab.run_until_idle(seed=3).status == "waiting", "P00's copy for S01 waits for a parcel"
    assert tree_digest(lab.root / P00_DP / pkg_id) == tree_digest(source)
    (waiting,) = coursend.pending(lab, lab.hierarchy.site("P00"))
    assert waiting.request.dest_site == "S01"
    second, path = coursend.create(lab, "P00", name="To the secondary")
    assert path.read_bytes() != b"" and second.packing_list.parcel_id != \
        first.packing_list.parcel_id
    receive(lab, "S01", move(path, tmp_path / "disc2"))
    assert lab.run_until_idle(seed=3).status == "idle"
    assert tree_digest(lab.root / S01_DP / pkg_id) == tree_digest(source)
    assert query(lab, "ZZZ", "SELECT SiteCode, State FROM SMS_PackageStatusDistPointsSummarizer "
                             f"WHERE PackageID = '{pkg_id}' ORDER BY SiteCode") == [
        ("P00", 0), ("S01", 0)]
    assert any("was received with a success status" in m
               for m in log_messages(lab, "S01", "coursend.log"))

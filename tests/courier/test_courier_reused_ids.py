"""A send request ID a Courier parcel still carries is never given again after `sitesrv init`
puts the UID token back, and a parcel is never delivered over another send of one of its IDs
that waits at the destination."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sitesrv.admin import coursend
from sitesrv.admin.courierreceive import receive
from sitesrv.admin.demo import write_sample_source
from sitesrv.errors import UserError
from sitesrv.formats import parcel
from sitesrv.formats.parcel import ParcelStatus
from sitesrv.testing import files, log_messages, query, tree_digest
from tests.courier.conftest import P00_DP, carry, courier_lab
from tests.courier.test_courier_cli import sitesrv

UID = "ZZZ/SMS/inboxes/schedule.box/UID"
RECEIVE = "P00/SMS/inboxes/despoolr.box/receive"


def digest(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def source_b_of(tmp_path: Path) -> Path:
    """Package B's source: the sample and a file of its own, so its bytes differ from A's."""
    source = write_sample_source(tmp_path / "srcB")
    (source / "B.TXT").write_bytes(b"package B\r\n")
    return source


def restore_tokens(lab_root: Path, hierarchy: Path) -> None:
    """The UID tokens lost and put back by `sitesrv init`: they count from 1 again."""
    for token in (lab_root / UID).iterdir():
        token.unlink()
    sitesrv(lab_root, "init", "--hierarchy", str(hierarchy))


def test_a_send_after_init_never_reuses_an_id_a_parcel_carries(tmp_path):
    """The reviewer's repro, step by step: package A goes in parcel ZZZ-0001 as 2_001ZZZ, the
    tokens are restored, package B goes by LAN; both end on P00's DP byte-identical."""
    lab = courier_lab(tmp_path)
    source_a = write_sample_source(tmp_path / "srcA")
    source_b = source_b_of(tmp_path)
    pkg_a = sitesrv(lab.root, "package", "create", "ZZZ", "--name", "A", "--source",
                    str(source_a), "--dp", "P00:REMOTE_DP", "--preferred-sender",
                    "courier").strip()
    waits = sitesrv(lab.root, "run", "--step", "--site", "ZZZ", code=3)  # 3: something waits
    assert "waits for send request 2_001ZZZ, which waits in the Courier outbox" in waits
    made = sitesrv(lab.root, "courier", "create", "ZZZ")
    parcel_file = Path(made.split(": ", 1)[1].splitlines()[0])
    (carried,) = parcel.read_record(lab.root / "ZZZ/SMS/inboxes/coursend.box/outgoing"
                                    / "ZZZ-0001.parcel").packing_list.requests
    assert carried.request_id == "2_001ZZZ"
    sitesrv(lab.root, "run", "--step", "--site", "ZZZ")  # the job completes: its .srs is gone

    restore_tokens(lab.root, tmp_path / "hierarchy.yaml")
    pkg_b = sitesrv(lab.root, "package", "create", "ZZZ", "--name", "B", "--source",
                    str(source_b), "--dp", "P00:REMOTE_DP").strip()
    sitesrv(lab.root, "run", "--step", "--site", "ZZZ")
    waiting = {name: digest(lab.root / RECEIVE / name) for name in files(lab.root / RECEIVE)}
    assert waiting and "2_001ZZZ.SNI" not in waiting

    sitesrv(lab.root, "courier", "sent", "ZZZ-0001")
    sitesrv(lab.root, "courier", "receive", "P00", str(carry(parcel_file, lab)))
    assert all(digest(lab.root / RECEIVE / name) == md5 for name, md5 in waiting.items())
    sitesrv(lab.root, "run", "--step")
    assert tree_digest(lab.root / P00_DP / pkg_a) == tree_digest(source_a)
    assert tree_digest(lab.root / P00_DP / pkg_b) == tree_digest(source_b)
    assert query(lab, "ZZZ", "SELECT PackageID, State FROM SMS_PackageStatusDistPointsSummarizer"
                             " ORDER BY PackageID") == [(pkg_a, 0), (pkg_b, 0)]


def test_a_confirmed_parcel_frees_its_ids(lab_with_parcel):
    """Once Confirmed, the parcel's files are at the destination: its ID may be given again
    when nothing of it waits there any more."""
    lab, tmp_path, _ = lab_with_parcel
    coursend.set_status(lab, "ZZZ-0001", ParcelStatus.CONFIRMED)
    restore_tokens(lab.root, tmp_path / "hierarchy.yaml")
    sitesrv(lab.root, "package", "create", "ZZZ", "--name", "B", "--source",
            str(source_b_of(tmp_path)), "--dp", "P00:REMOTE_DP")
    lab.run_until_idle(seed=1, sites=["ZZZ"])
    assert (lab.root / RECEIVE / "2_001ZZZ.SNI").exists()


def test_an_unreadable_record_holds_the_ids_it_still_names(lab_with_parcel):
    lab, tmp_path, _ = lab_with_parcel
    record = lab.root / "ZZZ/SMS/inboxes/coursend.box/outgoing/ZZZ-0001.parcel"
    record.write_text(record.read_text().replace("Status=Created", "Status=Lost"))
    assert "cannot read" in sitesrv(lab.root, "courier", "list", "ZZZ", code=2)
    restore_tokens(lab.root, tmp_path / "hierarchy.yaml")
    sitesrv(lab.root, "package", "create", "ZZZ", "--name", "B", "--source",
            str(source_b_of(tmp_path)), "--dp", "P00:REMOTE_DP")
    lab.run_until_idle(seed=1, sites=["ZZZ"])
    assert not (lab.root / RECEIVE / "2_001ZZZ.SNI").exists()
    assert files(lab.root / RECEIVE, "*.SNI")


@pytest.fixture
def lab_with_parcel(tmp_path):
    """Package A's request 2_001ZZZ in parcel ZZZ-0001 (Created), its job completed."""
    lab = courier_lab(tmp_path)
    sitesrv(lab.root, "package", "create", "ZZZ", "--name", "A", "--source",
            str(write_sample_source(tmp_path / "srcA")), "--dp", "P00:REMOTE_DP",
            "--preferred-sender", "courier")
    lab.run_until_idle(seed=1, sites=["ZZZ"])
    _, path = coursend.create(lab, "ZZZ")
    lab.run_until_idle(seed=1, sites=["ZZZ"])
    return lab, tmp_path, path


def test_receive_refuses_to_deliver_over_another_send_of_the_same_id(lab_with_parcel):
    """Whatever the sending site did, what waits at P00 under one of the parcel's IDs is never
    written over: a user error names the request and the file, nothing is written, and the
    parcel is received once the file is gone."""
    lab, _, path = lab_with_parcel
    receive_box = lab.root / RECEIVE
    receive_box.mkdir(parents=True, exist_ok=True)
    other = receive_box / "2_001ZZZ.SNI"
    other.write_bytes(b"another send's instruction")
    before = {p: p.read_bytes() for p in receive_box.rglob("*") if p.is_file()}
    carried = carry(path, lab)
    with pytest.raises(UserError, match=r"send request 2_001ZZZ of parcel ZZZ-0001 cannot be "
                                        r"delivered to site P00: another send of that ID "
                                        r"\(E:\\SMS\\inboxes\\despoolr\.box\\receive\\"
                                        r"2_001ZZZ\.SNI\) waits"):
        receive(lab, "P00", carried)
    assert {p: p.read_bytes() for p in receive_box.rglob("*") if p.is_file()} == before
    assert files(lab.root / "P00/SMS/inboxes/coursend.box/received") == []
    assert any("Cannot receive the parcel ZZZ-0001.parcel: send request 2_001ZZZ" in m
               for m in log_messages(lab, "P00", "coursend.log"))

    claimed = receive_box / ".work" / "2_001ZZZ.SNI"
    claimed.parent.mkdir(exist_ok=True)
    other.rename(claimed)
    with pytest.raises(UserError, match=r"is being processed by its Despooler"):
        receive(lab, "P00", carried)
    claimed.unlink()
    assert receive(lab, "P00", carried).parcel_id == "ZZZ-0001"
    assert (receive_box / "2_001ZZZ.SNI").exists()


def test_receive_redoes_its_own_delivery_cut_short(lab_with_parcel):
    """The files a receive cut short by a crash left are the parcel's own bytes: delivered
    over, as before."""
    lab, _, path = lab_with_parcel
    carried = carry(path, lab)
    receive(lab, "P00", carried)
    record = lab.root / "P00/SMS/inboxes/coursend.box/received/ZZZ-0001.parcel"
    record.unlink()  # as if the receive had stopped before its record
    assert receive(lab, "P00", carried).parcel_id == "ZZZ-0001"
    assert record.exists()

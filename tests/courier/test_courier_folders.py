"""What `sitesrv courier` writes into, and what it cannot read: a damaged send request goes to
the outbox's corrupt\\ instead of blocking its job, no file is written through a link planted
under a folder's name, a missing folder is made before anything is delivered, and a parcel is
recorded as received only when it was delivered (bug hunt: F3, F4, F5)."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitesrv.admin import courierreceive, coursend
from sitesrv.admin.courierreceive import receive
from sitesrv.cli.main import cli
from sitesrv.errors import UserError
from sitesrv.testing import files, log_messages, tree_digest
from tests.courier.conftest import P00_DP, carry, courier_lab, courier_package
from tests.courier.test_courier_cli import sitesrv

COURIER = "ZZZ/SMS/inboxes/schedule.box/outboxes/COURIER"
RECEIVE = "P00/SMS/inboxes/despoolr.box/receive"
RECEIVED = "P00/SMS/inboxes/coursend.box/received"
OUTGOING = "ZZZ/SMS/inboxes/coursend.box/outgoing"


def waiting_lab(tmp_path: Path):
    lab = courier_lab(tmp_path)
    pkg_id, source = courier_package(lab, tmp_path, ["P00:REMOTE_DP"])
    lab.run_until_idle(seed=4)
    return lab, pkg_id, source


def test_a_damaged_send_request_goes_to_corrupt_and_its_job_gets_a_new_one(tmp_path):
    lab, pkg_id, source = waiting_lab(tmp_path)
    outbox = lab.root / COURIER
    (request,) = files(outbox, "*.srq")
    (outbox / request).write_bytes((outbox / request).read_bytes()[:100])

    output = sitesrv(lab.root, "courier", "create", "ZZZ", code=2)
    assert f"Moved the send request {request}, which cannot be read, to " in output
    assert f"Send requests that could not be read are in {outbox / 'corrupt'} ({request};" in output
    assert files(outbox, "*.srq") == []
    assert files(outbox / "corrupt") == [request, "quarantine.log"]
    line = (f"Moved the corrupt file E:\\SMS\\inboxes\\schedule.box\\outboxes\\COURIER\\{request} "
            f"to E:\\SMS\\inboxes\\schedule.box\\outboxes\\COURIER\\corrupt\\{request}: no [END] "
            "record")
    assert any(m.startswith(line) for m in log_messages(lab, "ZZZ", "coursend.log"))
    assert line in (outbox / "corrupt/quarantine.log").read_text()

    # The Scheduler writes the job's missing request again, and it goes by parcel.
    lab.run_until_idle(seed=4)
    assert files(outbox, "*.srq") == [request]
    _, path = coursend.create(lab, "ZZZ")
    receive(lab, "P00", carry(path, lab))
    assert lab.run_until_idle(seed=4).status == "idle"
    assert tree_digest(lab.root / P00_DP / pkg_id) == tree_digest(source)


def test_courier_list_names_an_unreadable_request_once_and_exits_2(tmp_path):
    lab, _, _ = waiting_lab(tmp_path)
    outbox = lab.root / COURIER
    (request,) = files(outbox, "*.srq")
    (outbox / request).write_bytes(b"[Send Request]\n")
    result = CliRunner().invoke(cli, ["courier", "list", "ZZZ", "--lab", str(lab.root)])
    assert result.exit_code == 2
    assert result.stdout.startswith(f"ZZZ cannot read {outbox / request}: no [END] record")
    assert result.stdout.count(str(outbox / request)) == 1
    assert result.stderr == (f"sitesrv: 1 file(s) could not be read: {outbox / request} (the "
                             "reason is printed with each). 'sitesrv courier create' moves a "
                             "send request that cannot be read to corrupt\\ beside it, and the "
                             "Scheduler writes it again.\n")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_courier_list_shows_each_unreadable_record_in_its_place_and_exits_2(tmp_path):
    """A damaged record, a FIFO and a link under a record's name are each shown, never skipped
    (bug hunt: a record that did not read was left out, exit status 0); the readable one is
    listed; nothing is moved or logged, as a listing changes nothing."""
    lab, _, _ = waiting_lab(tmp_path)
    coursend.create(lab, "ZZZ")
    outgoing = lab.root / OUTGOING
    (outgoing / "ZZZ-0002.parcel").write_bytes(b"junk\n")
    os.mkfifo(outgoing / "ZZZ-0003.parcel")
    secret = tmp_path / "secret.parcel"
    secret.write_bytes((outgoing / "ZZZ-0001.parcel").read_bytes())
    os.symlink(secret, outgoing / "ZZZ-0004.parcel")
    before = sorted(p.name for p in lab.root.rglob("*"))
    log_before = log_messages(lab, "ZZZ", "coursend.log")

    result = CliRunner().invoke(cli, ["courier", "list", "ZZZ", "--lab", str(lab.root)])

    assert result.exit_code == 2
    shown = [outgoing / f"ZZZ-000{n}.parcel" for n in (2, 3, 4)]
    assert result.stdout.splitlines()[0].startswith("ZZZ parcel ZZZ-0001 | Created | to P00 |")
    assert result.stdout.splitlines()[1:] == [
        f"ZZZ cannot read {shown[0]}: no [END] record: the file is truncated or still being "
        "written",
        f"ZZZ cannot read {shown[1]}: it is a FIFO, not a file a parcel record is read from",
        f"ZZZ cannot read {shown[2]}: it is a symbolic link, not a file a parcel record is read "
        "from"]
    assert result.stderr == (
        f"sitesrv: 3 file(s) could not be read: {', '.join(map(str, shown))} (the reason is "
        "printed with each). A parcel's record is its only status: restore it from a backup, or "
        "delete it (the parcel is then no longer listed; its number is never given again). "
        "While it cannot be read, 'sitesrv courier create' makes no parcel of the send requests "
        "that wait at its site: the parcel may carry them.\n")
    assert sorted(p.name for p in lab.root.rglob("*")) == before
    assert log_messages(lab, "ZZZ", "coursend.log") == log_before


def plant_link(lab_root: Path, folder: str, outside: Path) -> Path:
    """Replace a folder of the lab by a symbolic link to a folder outside it."""
    path = lab_root / folder
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(outside, target_is_directory=True)
    return path


@pytest.mark.parametrize("folder", [RECEIVE, RECEIVED, "P00/SMS/inboxes/coursend.box"])
def test_receive_never_writes_through_a_link_and_delivers_into_the_real_folder(tmp_path, folder):
    lab, pkg_id, source = waiting_lab(tmp_path)
    _, path = coursend.create(lab, "ZZZ")
    outside = tmp_path / "outside"
    outside.mkdir()
    link = plant_link(lab.root, folder, outside)

    receive(lab, "P00", carry(path, lab))
    assert list(outside.iterdir()) == []
    assert not link.is_symlink() and link.is_dir()
    assert (link.parent / f".{link.name}.refused").is_symlink()
    windows = "E:\\SMS\\inboxes\\" + folder.split("inboxes/")[1].replace("/", "\\")
    assert f"Moved {windows} aside to " in "\n".join(log_messages(lab, "P00", "coursend.log"))
    assert files(lab.root / RECEIVED) == ["ZZZ-0001.parcel"]
    assert lab.run_until_idle(seed=4).status == "idle"
    assert tree_digest(lab.root / P00_DP / pkg_id) == tree_digest(source)


@pytest.mark.parametrize("folder", [OUTGOING, COURIER, "media"])
def test_create_never_writes_through_a_link(tmp_path, folder):
    lab, _, _ = waiting_lab(tmp_path)
    outside = tmp_path / "outside"
    if folder == COURIER:  # the waiting request is in the folder the link points to
        shutil.copytree(lab.root / folder, outside, ignore=shutil.ignore_patterns(".work"))
    else:
        outside.mkdir()
    before = sorted(p.name for p in outside.iterdir())
    plant_link(lab.root, folder, outside)

    try:
        coursend.create(lab, "ZZZ")
    except UserError as e:  # the planted outbox is moved aside: its request never waited
        assert folder == COURIER and "No send request waits" in str(e)
    assert sorted(p.name for p in outside.iterdir()) == before
    assert not (lab.root / folder).is_symlink()


def test_receive_makes_a_missing_coursend_box_before_it_delivers(tmp_path):
    lab, pkg_id, source = waiting_lab(tmp_path)
    shutil.rmtree(lab.root / "ZZZ/SMS/inboxes/coursend.box")
    made = sitesrv(lab.root, "courier", "create", "ZZZ")
    assert "ZZZ-0001" in made and files(lab.root / OUTGOING) == ["ZZZ-0001.parcel"]
    shutil.rmtree(lab.root / "P00/SMS/inboxes/coursend.box")
    disc = carry(lab.layout.media / "ZZZ-0001.parcel", lab)

    sitesrv(lab.root, "courier", "receive", "P00", str(disc))
    assert files(lab.root / RECEIVED) == ["ZZZ-0001.parcel"]
    sitesrv(lab.root, "courier", "receive", "P00", str(disc), code=2)
    assert lab.run_until_idle(seed=4).status == "idle"
    assert tree_digest(lab.root / P00_DP / pkg_id) == tree_digest(source)


def test_a_parcel_whose_record_cannot_be_written_is_not_delivered(tmp_path, monkeypatch):
    lab, _, _ = waiting_lab(tmp_path)
    _, path = coursend.create(lab, "ZZZ")
    disc = carry(path, lab)
    real_write = courierreceive.write_temp

    def disk_full(tmp, *args, **kwargs):
        if tmp.parent == lab.root / RECEIVED:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
        real_write(tmp, *args, **kwargs)

    monkeypatch.setattr(courierreceive, "write_temp", disk_full)
    with pytest.raises(UserError, match="was not received: No space left on device"):
        receive(lab, "P00", disc)
    assert files(lab.root / RECEIVE) == [] and files(lab.root / RECEIVED) == []
    monkeypatch.undo()
    receive(lab, "P00", disc)
    assert files(lab.root / RECEIVED) == ["ZZZ-0001.parcel"]

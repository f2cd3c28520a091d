"""A parcel record in `coursend.box\\outgoing` that cannot be read is never passed over in
silence: `sitesrv trace` and `sitesrv status` name it (`<SITE> cannot read <file>: <problem>`,
as `courier list` does) and exit 2, and `courier create` makes no parcel of the send requests
that wait while such a record may carry them: a `create` cut short after writing its record
leaves them waiting, and put in a second parcel they would be sent twice."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from sitesrv.admin import coursend
from sitesrv.cli.main import cli
from sitesrv.testing import files
from tests.courier.test_courier_folders import COURIER, OUTGOING, waiting_lab

STRANGER = "ZZZ-0002\udcff.parcel"  # a name no Windows file system holds: shown escaped
STRANGER_SHOWN = "ZZZ-0002\\xff.parcel"


def invoke(lab_root: Path, *args: str):
    result = CliRunner().invoke(cli, [*args, "--lab", str(lab_root)])
    assert "Traceback" not in result.output, result.output
    return result


def made_and_damaged(tmp_path: Path):
    """A parcel made, its record damaged, and a record under a stranger's name beside it."""
    lab, pkg_id, _ = waiting_lab(tmp_path)
    coursend.create(lab, "ZZZ")
    outgoing = lab.root / OUTGOING
    record = outgoing / "ZZZ-0001.parcel"
    record.write_bytes(record.read_bytes()[:40])
    (outgoing / STRANGER).write_bytes(b"not a record\n")
    return lab, pkg_id, record


def assert_named(result, lab, record: Path) -> None:
    assert result.exit_code == 2
    stranger = record.with_name(STRANGER_SHOWN)
    lines = result.stderr.splitlines()
    assert [line.split(": ")[0] for line in lines[:2]] == [
        f"ZZZ cannot read {record}", f"ZZZ cannot read {stranger}"]
    assert lines[2].startswith(f"sitesrv: 2 file(s) could not be read: {record}, {stranger} "
                               "(the reason is printed with each). A parcel's record is its only "
                               "status: restore it from a backup, or delete it")
    assert "\udcff" not in result.stderr


def test_trace_names_each_parcel_record_it_cannot_read_and_exits_2(tmp_path):
    lab, pkg_id, record = made_and_damaged(tmp_path)

    result = invoke(lab.root, "trace", pkg_id)

    assert_named(result, lab, record)
    assert "parcel_created" not in result.stdout  # its steps cannot be shown
    assert "SMS_DISTRIBUTION_MANAGER" in result.stdout  # the rest of the journey is shown


def test_status_names_each_parcel_record_it_cannot_read_and_exits_2(tmp_path):
    lab, pkg_id, record = made_and_damaged(tmp_path)

    result = invoke(lab.root, "status", "--json")

    assert_named(result, lab, record)
    assert '"distribution_points"' in result.stdout  # the tables, whole, on stdout


def test_trace_and_status_exit_0_when_every_record_reads(tmp_path):
    lab, pkg_id, _ = waiting_lab(tmp_path)
    coursend.create(lab, "ZZZ")
    for args in (("trace", pkg_id), ("status",)):
        result = invoke(lab.root, *args)
        assert result.exit_code == 0 and result.stderr == "", result.output
    assert "parcel_created" in invoke(lab.root, "trace", pkg_id).stdout


def cut_short(tmp_path: Path):
    """A `create` cut short after it wrote its record, before it ended the request (its `.srq`
    still waits), and then the record damaged; returns the lab, the record and its backup."""
    lab, _, _ = waiting_lab(tmp_path)
    outbox = lab.root / COURIER
    (request,) = files(outbox, "*.srq")
    kept = (outbox / request).read_bytes()
    coursend.create(lab, "ZZZ")
    for srs in files(outbox, "*.srs"):
        (outbox / srs).unlink()
    (outbox / request).write_bytes(kept)
    record = lab.root / OUTGOING / "ZZZ-0001.parcel"
    backup = tmp_path / "backup.parcel"
    shutil.copy(record, backup)
    record.write_bytes(b"[damaged]\n")
    return lab, request, record, backup


def test_create_makes_no_second_parcel_of_a_request_an_unreadable_record_may_carry(tmp_path):
    lab, request, record, backup = cut_short(tmp_path)
    request_id = request.removesuffix(".srq")

    result = invoke(lab.root, "courier", "create", "ZZZ")

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(
        f"sitesrv: No parcel was made: the parcel record(s) {record} cannot be read, and may "
        f"carry it ({request_id} wait at site ZZZ).")
    assert "Restore the record from a backup" in result.stderr
    assert "'sitesrv courier list ZZZ' shows why each record cannot be read." in result.stderr
    assert files(lab.layout.media) == ["ZZZ-0001.parcel"]  # no second parcel
    assert files(lab.root / COURIER, "*.srq") == [request]  # it waits, not set aside
    listed = invoke(lab.root, "courier", "list", "ZZZ")
    assert listed.exit_code == 2
    assert (f"ZZZ waiting {request_id} to P00 " in listed.stdout
            and f"(held: the parcel record(s) {record} cannot be read, and may carry it)"
            in listed.stdout)
    assert "'sitesrv courier create' makes no parcel of the send requests" in listed.stderr

    # Restored, the record's parcel finishes the request: it is never sent twice.
    shutil.copy(backup, record)
    result = invoke(lab.root, "courier", "create", "ZZZ")
    assert result.exit_code == 2 and "No send request waits" in result.stderr
    assert files(lab.root / COURIER, "*.srq") == []
    assert files(lab.layout.media) == ["ZZZ-0001.parcel"]


def test_a_deleted_unreadable_record_lets_the_request_go_in_a_new_parcel(tmp_path):
    lab, request, record, _ = cut_short(tmp_path)
    record.unlink()

    result = invoke(lab.root, "courier", "create", "ZZZ")

    assert result.exit_code == 0, result.output
    assert files(lab.layout.media) == ["ZZZ-0001.parcel", "ZZZ-0002.parcel"]

"""`sitesrv courier ...` and `sitesrv package ... --preferred-sender`: the whole trip by
command, and user errors as one paragraph with exit status 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sitesrv.admin.demo import write_sample_source
from sitesrv.admin.lab import Lab
from sitesrv.cli.main import cli
from sitesrv.testing import log_messages, query, tree_digest
from tests.courier.conftest import ADDRESSES, P00_DP, carry, courier_lab


def sitesrv(lab_root: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, [*args, "--lab", str(lab_root)])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


def courier_package_by_command(tmp_path: Path) -> tuple[Lab, str, Path]:
    """A courier lab and a package for P00's DP that prefers the Courier, made by command."""
    lab = courier_lab(tmp_path)
    source = write_sample_source(tmp_path / "source")
    pkg_id = sitesrv(lab.root, "package", "create", "ZZZ", "--name", "CD", "--source",
                     str(source), "--dp", "P00:REMOTE_DP", "--preferred-sender",
                     "courier").strip()
    return lab, pkg_id, source


def test_the_whole_trip_by_command(tmp_path):
    lab, pkg_id, source = courier_package_by_command(tmp_path)
    assert query(lab, "ZZZ", f"SELECT PreferredAddress FROM SMSPackages WHERE PkgID = "
                             f"'{pkg_id}'") == [("COURIER",)]
    lab.run_until_idle(seed=7)
    listed = sitesrv(lab.root, "courier", "list", "ZZZ")
    assert " waiting " in listed and " to P00 " in listed
    made = sitesrv(lab.root, "courier", "create", "ZZZ", "--name", "June CD")
    parcel_file = Path(made.split(": ", 1)[1].splitlines()[0])
    sitesrv(lab.root, "courier", "sent", "ZZZ-0001", "--tracking-number", "1Z9",
            "--sent-by", "Courier")
    assert "ZZZ-0001 | Sent | to P00" in sitesrv(lab.root, "courier", "list")
    sitesrv(lab.root, "courier", "receive", "P00", str(carry(parcel_file, lab)))
    sitesrv(lab.root, "courier", "confirm", "ZZZ-0001")
    assert lab.run_until_idle(seed=7).status == "idle"
    assert tree_digest(lab.root / P00_DP / pkg_id) == tree_digest(source)


def test_set_preferred_sender_changes_the_row(tmp_path):
    lab = courier_lab(tmp_path)
    source = write_sample_source(tmp_path / "source")
    pkg_id = sitesrv(lab.root, "package", "create", "ZZZ", "--name", "N", "--source",
                     str(source)).strip()
    sitesrv(lab.root, "package", "set-preferred-sender", pkg_id, "courier")
    assert query(lab, "ZZZ", "SELECT PreferredAddress FROM SMSPackages") == [("COURIER",)]
    sitesrv(lab.root, "package", "set-preferred-sender", pkg_id, "any")
    assert query(lab, "ZZZ", "SELECT PreferredAddress FROM SMSPackages") == [("",)]


@pytest.mark.parametrize("args, message", [
    (["courier", "create", "P00"], "The SMS registry indicates no outbox for the sender to scan."),
    (["courier", "create", "ZZZ"], "No send request waits in"),
    (["courier", "sent", "ZZZ-0009"], "Site ZZZ made no parcel ZZZ-0009"),
    (["courier", "sent", "nonsense"], "is not a parcel ID"),
    (["courier", "confirm", "QQQ-0001"], "QQQ"),
    (["courier", "receive", "P00", "missing.parcel"], "was not received"),
    (["package", "set-preferred-sender", "ZZZ00009", "courier"], "ZZZ00009"),
    (["courier", "sent", "ZZZ-0001", "--sent-by", "a\nb"], "--sent-by must be one line"),
])
def test_user_errors_exit_2_with_one_paragraph(tmp_path, args, message):
    lab = courier_lab(tmp_path)
    output = sitesrv(lab.root, *args, code=2)
    assert message in output
    assert output.startswith("sitesrv: ") and output.count("\n") == 1


def test_a_file_that_is_no_parcel_is_refused_and_logged(tmp_path):
    lab = courier_lab(tmp_path)
    bogus = tmp_path / "bogus.parcel"
    bogus.write_bytes(b"PK\x03\x04 not a parcel")
    output = sitesrv(lab.root, "courier", "receive", "P00", str(bogus), code=2)
    assert "not a sitesrv parcel" in output
    log = (lab.root / "P00/SMS/Logs/coursend.log").read_text()
    assert "Cannot receive the parcel" in log and "not a sitesrv parcel" in log


def test_a_parcel_received_twice_is_refused_the_second_time_and_processed_once(tmp_path):
    lab, pkg_id, source = courier_package_by_command(tmp_path)
    lab.run_until_idle(seed=8)
    made = sitesrv(lab.root, "courier", "create", "ZZZ")
    disc = carry(Path(made.split(": ", 1)[1].splitlines()[0]), lab)
    sitesrv(lab.root, "courier", "receive", "P00", str(disc))
    assert lab.run_until_idle(seed=8).status == "idle"
    installs = query(lab, "P00", "SELECT COUNT(*) FROM StatusMessages WHERE MessageID = 2330")
    assert installs[0][0] >= 1

    output = sitesrv(lab.root, "courier", "receive", "P00", str(disc), code=2)
    assert output.startswith("sitesrv: ") and output.count("\n") == 1
    assert ("parcel ZZZ-0001 from site ZZZ was received at site P00 already "
            "(E:\\SMS\\inboxes\\coursend.box\\received\\ZZZ-0001.parcel)") in output
    receive = lab.root / "P00/SMS/inboxes/despoolr.box/receive"
    assert sorted(p.name for p in receive.iterdir() if p.is_file()) == []
    log = (lab.root / "P00/SMS/Logs/coursend.log").read_text()
    assert f"Cannot receive the parcel {disc.name}: parcel ZZZ-0001 from site ZZZ was received" in log
    assert log.count("was received with a success status.") == 1
    assert lab.run_until_idle(seed=8).status == "idle"
    assert query(lab, "P00", "SELECT COUNT(*) FROM StatusMessages WHERE MessageID = 2330"
                 ) == installs
    assert tree_digest(lab.root / P00_DP / pkg_id) == tree_digest(source)


def test_trace_finds_a_receipt_rolled_over_to_coursend_lo_(tmp_path):
    # SMS renames a log that reaches its maximum size to .lo_; the receipt is still kept there.
    lab = courier_lab(tmp_path, ADDRESSES + "logs: {max_size: 1024}\n")
    source = write_sample_source(tmp_path / "source")
    pkg_id = sitesrv(lab.root, "package", "create", "ZZZ", "--name", "CD", "--source",
                     str(source), "--dp", "P00:REMOTE_DP", "--preferred-sender",
                     "courier").strip()
    lab.run_until_idle(seed=7)
    made = sitesrv(lab.root, "courier", "create", "ZZZ")
    sitesrv(lab.root, "courier", "receive", "P00",
            str(carry(Path(made.split(": ", 1)[1].splitlines()[0]), lab)))
    logs = lab.root / "P00/SMS/Logs"
    bogus = tmp_path / "bogus.parcel"
    bogus.write_bytes(b"not a parcel")
    for _ in range(20):  # refused parcels fill P00's coursend.log until the receipt rolls over
        if "Received send request" not in (logs / "coursend.log").read_text():
            break
        sitesrv(lab.root, "courier", "receive", "P00", str(bogus), code=2)
    assert "Received send request" in (logs / "coursend.lo_").read_text()
    assert "Received send request" not in (logs / "coursend.log").read_text()
    journey = [line.split()[1:5] for line in sitesrv(lab.root, "trace", pkg_id).splitlines()]
    assert ["P00", "SMS_COURIER_SENDER", "parcel_received", "parcel=ZZZ-0001"] in journey


@pytest.mark.parametrize("planted", ["ZZZ-9999.parcel", "zzz-9999.PARCEL"])
def test_after_the_last_parcel_number_create_is_a_user_error(tmp_path, planted):
    """A traceback (`'ZZZ-10000': not a parcel ID`) before: a bug hunt found it."""
    lab, _, _ = courier_package_by_command(tmp_path)
    lab.run_until_idle(seed=7)
    lab.layout.media.mkdir(parents=True, exist_ok=True)
    (lab.layout.media / planted).write_bytes(b"")
    output = sitesrv(lab.root, "courier", "create", "ZZZ", code=2)
    assert "Site ZZZ has used the last parcel number, ZZZ-9999" in output


def test_a_file_named_like_a_parcel_but_longer_is_not_counted(tmp_path):
    lab, _, _ = courier_package_by_command(tmp_path)
    lab.run_until_idle(seed=7)
    lab.layout.media.mkdir(parents=True, exist_ok=True)
    (lab.layout.media / "ZZZ-9999-copy.parcel").write_bytes(b"")
    made = sitesrv(lab.root, "courier", "create", "ZZZ")
    assert "ZZZ-0001" in made


def test_a_parcel_number_is_never_given_twice(tmp_path):
    """ZZZ-0001 again, after its record and parcel were deleted, was refused at P00 as
    received already, and its package never installed (bug hunt)."""
    lab, pkg_id, source = courier_package_by_command(tmp_path)
    lab.run_until_idle(seed=9)
    sitesrv(lab.root, "courier", "create", "ZZZ")
    sitesrv(lab.root, "courier", "receive", "P00", str(carry(lab.layout.media / "ZZZ-0001.parcel", lab)))
    assert lab.run_until_idle(seed=9).status == "idle"
    (lab.root / "ZZZ/SMS/inboxes/coursend.box/outgoing/ZZZ-0001.parcel").unlink()
    (lab.layout.media / "ZZZ-0001.parcel").unlink()

    (source / "added.txt").write_text("version 2\n")
    sitesrv(lab.root, "package", "update", pkg_id)
    lab.run_until_idle(seed=9)
    made = sitesrv(lab.root, "courier", "create", "ZZZ")
    assert made.startswith("Parcel ZZZ-0002 ")
    assert sorted(p.name for p in (lab.root / "ZZZ/SMS/state/courier-parcels").iterdir()) == [
        "ZZZ-0001", "ZZZ-0002"]
    sitesrv(lab.root, "courier", "receive", "P00", str(carry(lab.layout.media / "ZZZ-0002.parcel", lab)))
    assert lab.run_until_idle(seed=9).status == "idle"
    assert tree_digest(lab.root / P00_DP / pkg_id) == tree_digest(source)


def test_an_unreadable_parcel_counter_is_a_user_error_naming_it(tmp_path):
    lab, _, _ = courier_package_by_command(tmp_path)
    lab.run_until_idle(seed=9)
    (lab.root / "ZZZ/SMS/state/courier-parcels.json").write_text("{}")
    output = sitesrv(lab.root, "courier", "create", "ZZZ", code=2)
    assert "courier-parcels.json cannot be read" in output and '{"last": N}' in output
    assert list(lab.layout.media.glob("*.parcel")) == []


def test_a_request_whose_package_file_is_gone_names_the_file(tmp_path):
    lab, pkg_id, _ = courier_package_by_command(tmp_path)
    lab.run_until_idle(seed=9)
    (lab.root / "ZZZ/SMSPKG" / f"{pkg_id}.PCK").unlink()
    output = sitesrv(lab.root, "courier", "create", "ZZZ", code=2)
    line = f"cannot read F:\\SMSPKG\\{pkg_id}.PCK (Win32 Error = 2)"
    assert line in output
    assert any(m.startswith("Cannot put send request ") and m.endswith(line)
               for m in log_messages(lab, "ZZZ", "coursend.log"))

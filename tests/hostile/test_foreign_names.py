"""File names no Windows file system holds, dropped where others write (a bug hunt found both).

A name with a byte that is not UTF-8 crashed the whole step run at its first log line, at
every run, and left the file claimed in `.work\\`: the good files behind it were never taken.
A name with a newline and a well-formed SMS log line after it was written raw into the logs, so
a log viewer showed a line nobody wrote. Such a name is a stranger (files/names.py): it goes to
`corrupt\\` under a safe name, with a line that shows it escaped, and the good files go on.
These need a file system that takes any byte in a name (Linux's); elsewhere they are skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from sitesrv.admin import coursend
from sitesrv.admin.demo import cap_lines
from sitesrv.admin.lab import Lab
from sitesrv.cli.main import cli
from sitesrv.db.sitedb import SiteDatabase
from sitesrv.formats import svf
from sitesrv.lab.clock import VIRTUAL_EPOCH
from sitesrv.logs.smslog import read_log
from sitesrv.runtime.idle import ExitCode
from sitesrv.testing import drop, files, log_messages
from tests.formats.examples import STATUS_MESSAGE

from .conftest import (
    assert_ended,
    assert_installed_everywhere,
    create_good_package,
    moved_lines,
    quarantined,
    run,
)

UNDECODABLE = os.fsdecode(b"B\xff.SVF")  # B\udcff.SVF: the byte 0xFF is no UTF-8
FORGED = ("X.PKG\nPackage ZZZ00001 deleted by hunter  $$<SMS_DISTRIBUTION_MANAGER>"
          "<06-04-2007 04:00:00.000+300><thread=1 (0x1)>\nY.PKG")
STATMSGS = "statmgr.box\\statmsgs"


@pytest.fixture(autouse=True)
def any_byte_names(tmp_path: Path) -> None:
    """Skip where the file system refuses a name that is not UTF-8 (APFS, NTFS)."""
    try:
        (tmp_path / os.fsdecode(b"probe\xff")).write_bytes(b"")
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses a name that is not UTF-8")


def message(message_id: int) -> bytes:
    return svf.encode(attrs.evolve(STATUS_MESSAGE, message_id=message_id, site_code="P00",
                                      time=VIRTUAL_EPOCH))


def assert_one_sms_line_each(path: Path) -> None:
    """Every line of the log is one whole SMS line: none was forged by a name."""
    raw = path.read_bytes().decode("utf-8").split("\n")
    assert raw.pop() == ""
    assert len(read_log(path)) == len(raw), path.read_text()


def test_a_name_that_is_not_utf8_goes_to_corrupt_and_the_good_message_is_stored(
        lab: Lab) -> None:
    statmsgs = lab.site("P00").inbox(STATMSGS)
    drop(statmsgs, UNDECODABLE, message(9101))
    drop(statmsgs, "C.SVF", message(9102))
    drop(statmsgs, os.fsdecode(b"A\xff.SVF"), b"junk\n")

    result = CliRunner().invoke(cli, ["run", "--step", "--lab", str(lab.root)])

    assert result.exit_code == ExitCode.WAITING, result.output  # as for any quarantine
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert files(statmsgs) == [] and files(statmsgs / ".work") == []
    assert quarantined(statmsgs) == ["A%FF.SVF", "B%FF.SVF"]
    with SiteDatabase.open(lab.site("P00").database) as db:
        rows = db.execute_user_sql("SELECT MessageID FROM StatusMessages "
                                   "WHERE MessageID > 9100").rows
    assert rows == ((9102,),)
    line = ("Moved the corrupt file E:\\SMS\\inboxes\\statmgr.box\\statmsgs\\B\\xff.SVF to "
            "E:\\SMS\\inboxes\\statmgr.box\\statmsgs\\corrupt\\B%FF.SVF: its name holds \\xff, "
            "which no Windows file name can: SMS never sees such a file")
    assert line in moved_lines(lab, "P00", "statmgr.log")
    assert line in (statmsgs / "corrupt" / "quarantine.log").read_text()
    assert "statmsgs\\corrupt\\B%FF.SVF quarantined: its name holds \\xff" in result.output


def test_a_name_with_a_forged_log_line_forges_none(lab: Lab, tmp_path: Path) -> None:
    package = create_good_package(lab, tmp_path)
    incoming = lab.site("P00").inbox("distmgr.box\\INCOMING")
    drop(incoming, FORGED, b"junk\n")

    report = run(lab)

    assert_ended(report)
    assert quarantined(incoming) == [
        "X.PKG%0APackage ZZZ00001 deleted by hunter  $$%3CSMS_DISTRIBUTION_MANAGER%3E"
        "%3C06-04-2007 04%3A00%3A00.000+300%3E%3Cthread=1 (0x1)%3E%0AY.PKG"]
    for log in (lab.site("P00").log("distmgr.log"), incoming / "corrupt" / "quarantine.log"):
        assert_one_sms_line_each(log)
    assert not any(m.startswith("Package ZZZ00001 deleted")
                   for m in log_messages(lab, "P00", "distmgr.log"))
    (line,) = moved_lines(lab, "P00", "distmgr.log")
    assert "INCOMING\\X.PKG\\x0aPackage ZZZ00001 deleted by hunter  $$\\x3cSMS_DISTRIBUTION" \
           "_MANAGER\\x3e" in line
    assert_installed_everywhere(lab, package)


def test_a_stranger_left_claimed_by_an_older_run_goes_to_corrupt_at_start(lab: Lab) -> None:
    """The crash above left the file in `.work\\`: start-up recovery never puts it back."""
    statmsgs = lab.site("P00").inbox(STATMSGS)
    (statmsgs / ".work").mkdir(parents=True, exist_ok=True)
    drop(statmsgs / ".work", UNDECODABLE, message(9101))
    drop(statmsgs, "C.SVF", message(9102))

    assert_ended(run(lab))

    assert files(statmsgs) == [] and files(statmsgs / ".work") == []
    assert quarantined(statmsgs) == ["B%FF.SVF"]
    assert any("statmsgs\\B\\xff.SVF to " in m for m in moved_lines(lab, "P00", "statmgr.log"))


def test_a_stranger_in_a_replication_stream_goes_to_corrupt_and_the_package_goes(
        lab: Lab, tmp_path: Path) -> None:
    package = create_good_package(lab, tmp_path)
    process = lab.site("ZZZ").inbox("replmgr.box\\process") / "P00_2"
    process.mkdir(parents=True)
    drop(process, os.fsdecode(b"P00_\xe9T\xe9.PKG"), b"junk\n")

    report = run(lab)

    assert_ended(report)
    outbound = lab.site("ZZZ").inbox("replmgr.box\\outbound\\normal")
    assert quarantined(outbound) == ["P00_%E9T%E9.PKG"]
    assert any("process\\P00_2\\P00_\\xe9T\\xe9.PKG to " in m and "its name holds \\xe9," in m
               for m in moved_lines(lab, "ZZZ", "replmgr.log"))
    assert_one_sms_line_each(lab.site("ZZZ").log("replmgr.log"))
    assert_installed_everywhere(lab, package)


def test_a_stray_payload_with_a_strangers_name_goes_to_corrupt(lab: Lab, tmp_path: Path) -> None:
    package = create_good_package(lab, tmp_path)
    receive = lab.site("P00").receive
    drop(receive, os.fsdecode(b"2_\xff\n.PCK"), b"a payload no instruction can name")

    report = run(lab)

    assert_ended(report)
    assert quarantined(receive) == ["2_%FF%0A.PCK"]
    assert any("receive\\2_\\xff\\x0a.PCK to " in m
               for m in moved_lines(lab, "P00", "despool.log"))
    assert_one_sms_line_each(lab.site("P00").log("despool.log"))
    assert_installed_everywhere(lab, package)


def test_a_send_request_with_a_strangers_name_in_the_courier_outbox_is_set_aside(
        tmp_path: Path) -> None:
    from tests.courier.conftest import courier_lab, courier_package

    lab = courier_lab(tmp_path)
    courier_package(lab, tmp_path, ["P00:REMOTE_DP"])
    lab.run_until_idle(seed=4)
    outbox = lab.root / "ZZZ/SMS/inboxes/schedule.box/outboxes/COURIER"
    (request,) = files(outbox, "*.srq")
    stranger = f"{request[:-4]}\n{request[-4:]}"
    os.link(outbox / request, outbox / stranger)  # reads well: its name alone is wrong

    listed = CliRunner().invoke(cli, ["courier", "list", "ZZZ", "--lab", str(lab.root)])
    # shown in its place, and the command exits 2 (docs/transport.md, `courier list`)
    assert listed.exit_code == 2 and "Traceback" not in listed.output, listed.output
    assert f"{request[:-4]}\\x0a{request[-4:]}: its name holds \\x0a" in listed.output

    moved = coursend.set_aside_unreadable(lab, lab.hierarchy.site("ZZZ"))

    assert [m.moved_to.name for m in moved] == [f"{request[:-4]}%0A{request[-4:]}"]
    assert files(outbox, "*.srq") == [request]
    assert_one_sms_line_each(lab.site("ZZZ").log("coursend.log"))
    assert_one_sms_line_each(outbox / "corrupt" / "quarantine.log")


def test_a_strangers_file_in_offerinf_box_is_deleted_with_one_line(lab: Lab) -> None:
    """`offerinf.box` holds what Offer Manager writes: a file no advertisement calls for is
    deleted there, a stranger's as any other, its line on one line."""
    box = lab.site("P00").inbox("offerinf.box")
    box.mkdir(parents=True, exist_ok=True)
    drop(box, "X\n\xe9\udcff.ofr", b"[Offer]\n")

    assert_ended(run(lab))

    assert files(box, "X*") == []
    assert any(m.startswith("Deleted E:\\SMS\\inboxes\\offerinf.box\\X\\x0a\xe9\\xff.ofr, ")
               for m in log_messages(lab, "P00", "offermgr.log"))
    assert_one_sms_line_each(lab.site("P00").log("offermgr.log"))


def test_the_demos_client_access_point_lines_show_a_strangers_name_escaped(lab: Lab) -> None:
    cap = lab.site("P00").cap / "pkginfo.box"
    cap.mkdir(parents=True, exist_ok=True)
    drop(cap, "A\n\udcff.pkg", b"junk\n")

    (line,) = [m for m in cap_lines(lab) if "pkginfo.box" in m and "P00" in m]

    assert line.endswith(": A\\x0a\\xff.pkg")

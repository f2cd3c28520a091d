"""dumpsend: a waiting send request of a real lab, printed as DumpSend prints it; the user's
mistakes; files that vanish or change while they are read; and that reading disturbs nothing.

The labs run in step mode. `held` pauses the address ZZZ -> P00 and creates a package for P00's
DP, so ZZZ's three send requests wait in ZZZ's LAN outbox: the package (2_001ZZZ), its definition
for P00 (2_002ZZZ) and its definition for S01, routed through P00 (2_003ZZZ).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import os
import pkgutil
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from dumpsend import report
from dumpsend.cli import dumpsend
from dumpsend.records import FIELDS, KNOWN_KEYS, dumpsend_records, when
from dumpsend.requestfile import RequestFile, scan_records
from sitesrv.admin import console
from sitesrv.admin.lab import Lab
from sitesrv.cli.main import cli as sitesrv_cli
from sitesrv.components.sender import Sender
from sitesrv.formats import srq
from sitesrv.formats.sections import INSTRUCTION_LIMITS
from sitesrv.runtime.registry import Registry
from sitesrv.testing import log_messages, write_source
from tests.conftest import REPO
from tests.formats.examples import SEND_REQUEST
from tests.formats.strategies import send_requests
from tests.test_layers import imports

OUTBOX = Path("lab/ZZZ/SMS/inboxes/schedule.box/outboxes/LAN")
HELD = OUTBOX / "2_001ZZZ.srq"
QUEUED = ["2_001ZZZ.srq", "2_002ZZZ.srq", "2_003ZZZ.srq"]
SENDER_ONLY = Registry(primary=(Sender,))


def run(*args: object) -> Result:
    return CliRunner().invoke(dumpsend, [str(a) for a in args])


def sitesrv(*args: str) -> None:
    result = CliRunner().invoke(sitesrv_cli, [*args, "--lab", "lab"])
    assert result.exit_code == 0, result.output


@pytest.fixture
def held(sitesrv_lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lab:
    """Three send requests waiting at ZZZ for the paused address to P00. The working folder is
    the lab's parent, so the lab is `lab` and its paths print as `lab/...`."""
    monkeypatch.chdir(tmp_path)
    sitesrv("address", "pause", "ZZZ", "P00")
    console.create_package(sitesrv_lab, "ZZZ", name="Held", dps=["P00:REMOTE_DP"],
                           source=write_source(tmp_path / "source"))
    assert sitesrv_lab.run_until_idle(horizon=600).status == "waiting"
    assert sorted(p.name for p in OUTBOX.iterdir() if p.is_file()) == QUEUED
    return sitesrv_lab


HELD_OUTPUT = r"""Send request file: lab/ZZZ/SMS/inboxes/schedule.box/outboxes/LAN/2_001ZZZ.srq

SEND REQUEST DATA RECORD
Length: 175
Priority: 2
Dest Site: P00
Job: 00000001
Job request: 2_001ZZZ
Outbox: \\MGMT01\SMS_ZZZ\inboxes\schedule.box\outboxes\LAN
Preferred Address *
Ignore Schedule: 0

Sender/scheduler RECORD
Length: 252
Sender status: SREQ_STATUS_NONE
First sender started at: (not set)
Sender started at: (not set)
Sender ended at: (not set)
Sender gate heartbeat at: (not set)
Scheduler to restart at: (not set)
Total bytes to send: 0
Bytes left to send: 0
Sync point is: 0
File type is: 0
Number of connects: 0
Sender ID: (none)

CANCEL RECORD
Length: 28
Mode: Not cancelled

ACTION CODE RECORD
Length: 28
Code: 0

ADDRESS RECORD
Length: 53
Address: {}{\\MGMT03\SMS_SITE <no password>}
Address Type: LAN (not parsed by DumpSend)

PACKAGE FILE RECORD
Length: 52
File: \\MGMT01\SMS_CPSF$\ZZZ00001.PCK

INSTRUCTION FILE RECORD
Length: 82
File: \\MGMT01\SMS_ZZZ\inboxes\schedule.box\tosend\00000001.IPT

ROUTING RECORD
Length: 93
Routing Master Request ID: (none)
Job Originating Site: ZZZ
Job Final Destination Site: P00

CONFIRMATION RECORD
Length: 37
Confirmation Needed: 0

END RECORD
Length: 6
Not parsed by DumpSend: sitesrv's end-of-file mark; a file without it is cut short or still being written.

WHY IT WAITS (sitesrv's reading of the records above; DumpSend has no such record)
Where: schedule.box\outboxes\LAN; .SRQ: not yet processed by a sender
Status: SREQ_STATUS_NONE, ACTION CODE 0 (do nothing)
State: Waiting for the Sender, which has not taken it yet.
Next: The Sender holds a request while every address to P00 is paused or closed to priority 2 by its schedule, or while P00 is on its busy list after failed connections, and logs why in lab/ZZZ/SMS/Logs/sender.log (search for 'Send request 2_001ZZZ waits'); with no such line, all its sending slots are in use.
Retry: none: no attempt has been made
Progress: nothing sent (the Sender fills in the sizes when an attempt ends)
Sends: package \\MGMT01\SMS_CPSF$\ZZZ00001.PCK and instruction \\MGMT01\SMS_ZZZ\inboxes\schedule.box\tosend\00000001.IPT to P00 through \\MGMT03\SMS_SITE (LAN)
"""


# --- a waiting request -------------------------------------------------------------------------

def test_a_held_request_is_printed_record_by_record(held: Lab) -> None:
    result = run(HELD)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == HELD_OUTPUT
    lines = result.stdout.splitlines()
    for line in ("Job request: 2_001ZZZ", "Dest Site: P00", "Sender status: SREQ_STATUS_NONE",
                 "File: \\\\MGMT01\\SMS_CPSF$\\ZZZ00001.PCK"):  # the package's stored PCK
        assert line in lines


def test_the_log_it_points_to_says_why_it_waits(held: Lab) -> None:
    assert "Send request 2_001ZZZ waits for the paused address to P00 to be resumed ('sitesrv " \
           "address resume ZZZ P00')." in log_messages(held, "ZZZ", "sender.log")


def test_the_documented_example_is_the_real_output(held: Lab) -> None:
    docs = (REPO / "docs" / "dumpsend.md").read_text(encoding="utf-8")
    assert f"```\n$ dumpsend {HELD.as_posix()}\n{HELD_OUTPUT}```" in docs


def test_a_site_lists_every_request_sorted_by_name(held: Lab) -> None:
    result = run("--lab", "lab", "--site", "zzz")
    assert result.exit_code == 0
    files = [line for line in result.stdout.splitlines() if line.startswith("Send request file")]
    assert files == [f"Send request file: {OUTBOX / name}" for name in QUEUED]
    assert result.stdout.startswith("Site ZZZ holds 3 send request file(s).\n"
                                    "For P00: 2_001ZZZ.srq, 2_002ZZZ.srq, 2_003ZZZ.srq (on to "
                                    "S01)\n")
    assert HELD_OUTPUT in result.stdout
    assert "File: E:\\SMS\\inboxes\\replmgr.box\\ready\\00000002.RPL\n" in result.stdout


def test_a_site_with_no_requests_says_so(held: Lab) -> None:
    result = run("--lab", "lab", "--site", "S01")
    assert (result.exit_code, result.stdout) == (
        0, "Site S01 holds no send requests: nothing waits to be sent.\n")


def test_the_installed_script_prints_json(held: Lab) -> None:
    script = Path(sys.executable).with_name("dumpsend")
    done = subprocess.run([str(script), "--json", "--lab", "lab", "--site", "ZZZ"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    listing = json.loads(done.stdout)
    assert (listing["lab"], listing["site"]) == ("lab", "ZZZ")
    assert listing["by_destination"] == {"P00": QUEUED}
    first = listing["requests"][0]
    assert (first["file"], first["outcome"]) == (str(HELD), "dumped")
    assert first["request"]["dest_site"] == "P00"
    assert first["request"]["priority"] == 2
    assert first["request"]["status"] == "SREQ_STATUS_NONE"
    assert first["request"]["addresses"] == [{"address": "\\\\MGMT03\\SMS_SITE", "type": "LAN"}]
    address = next(r for r in first["records"] if r["title"] == "ADDRESS")
    assert address["fields"] == [
        {"label": "Address", "value": "{}{\\\\MGMT03\\SMS_SITE <no password>}", "parsed": True},
        {"label": "Address Type", "value": "LAN", "parsed": False}]
    assert first["why_it_waits"]["State"] == "Waiting for the Sender, which has not taken it yet."


def test_a_failed_attempt_shows_its_codes_and_retry(held: Lab) -> None:
    sitesrv("address", "resume", "ZZZ", "P00")
    shutil.rmtree("lab/P00/SMS/inboxes/despoolr.box/receive")  # P00's SMS_SITE share is gone
    assert held.run_until_idle(components=SENDER_ONLY, sites=["ZZZ"]).status == "idle"
    result = run(OUTBOX / "2_001ZZZ.srs")
    assert result.exit_code == 0
    size = srq.read(OUTBOX / "2_001ZZZ.srs").total_bytes  # the PCK's, which varies a little
    assert size > 0
    for line in ("Sender status: SREQ_STATUS_ERROR",
                 "First sender started at: 2007-06-04 09:10:03.514 UTC",
                 "Scheduler to restart at: 2007-06-04 09:10:37.844 UTC",
                 f"Bytes left to send: {size}",
                 "Number of connects: 3",
                 "Sender ID: SMS_LAN_SENDER",
                 "Code: 1",
                 "Where: schedule.box\\outboxes\\LAN; .SRS: processed by a sender but not completed",
                 "Status: SREQ_STATUS_ERROR, ACTION CODE 1 (retry)",
                 "State: The last attempt failed (SREQ_STATUS_ERROR, ACTION CODE 1).",
                 "Retry: Scheduler to restart at 2007-06-04 09:10:37.844 UTC; 3 connection "
                 "attempt(s) so far",
                 f"Progress: 0 of {size} bytes sent (0%), sync point 0"):
        assert line in result.stdout.splitlines()


def test_a_request_the_sender_has_taken_is_listed_as_claimed(held: Lab) -> None:
    sitesrv("address", "resume", "ZZZ", "P00")
    held.run_until_idle(components=SENDER_ONLY, sites=["ZZZ"], max_steps=1)  # stopped mid-send
    assert (OUTBOX / ".work" / "2_001ZZZ.srq").is_file()
    result = run("--lab", "lab", "--site", "ZZZ")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert f"Send request file: {OUTBOX / '.work' / '2_001ZZZ.srq'}" in lines
    assert ("Where: schedule.box\\outboxes\\LAN, claimed (in .work: a component has taken it); "
            ".SRQ: not yet processed by a sender") in lines
    assert ("State: Taken by the Sender: being sent, or waiting between the retries of an "
            "attempt.") in lines


# --- the user's mistakes -----------------------------------------------------------------------

def assert_user_error(result: Result, *parts: str) -> None:
    """Exit status 2, one paragraph on stderr naming the problem, no traceback."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert result.stderr.startswith("dumpsend: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    for part in parts:
        assert part in result.stderr


def test_nothing_to_dump(held: Lab) -> None:
    assert_user_error(run(), "Say what to dump")
    assert_user_error(run(HELD, "--site", "ZZZ"), "Pass either FILE or --site, not both")


def test_a_missing_file_names_where_the_request_went(held: Lab) -> None:
    assert_user_error(run(OUTBOX / "2_009ZZZ.srq"), "There is no file",
                      "dumpsend --lab LAB --site SITE")
    os.replace(HELD, HELD.with_suffix(".srs"))  # as the Sender does when an attempt ends
    assert_user_error(run(HELD), f"It is now {HELD.with_suffix('.srs')}: dump that.")


def test_what_is_not_a_send_request_is_refused(held: Lab) -> None:
    assert_user_error(run("lab/hierarchy.yaml"), "is not a send request file",
                      "end in .srq or .srs")
    assert_user_error(run(OUTBOX), "it is a folder")


@pytest.mark.parametrize(("change", "problem"), [
    (lambda t: t.replace("Dest Site=P00", "Dest Site=p0"),
     "line 3: [SEND REQUEST DATA] Dest Site='p0': not a site code"),
    (lambda t: t.replace("[END]\n", ""),
     "no [END] record: the file is truncated or still being written"),
    (lambda t: t.replace("Code=0", "Code=7"), "[ACTION CODE] Action Code='7': expected one of"),
    (lambda t: t.replace("[ADDRESS]\nAddress=\\\\MGMT03\\SMS_SITE\nAddress Type=LAN\n", ""),
     "missing [ADDRESS] section: at least 1 required"),
])
def test_a_malformed_file_is_refused_with_the_line_at_fault(held: Lab, change, problem) -> None:
    HELD.write_text(change(HELD.read_text(encoding="utf-8")), encoding="utf-8")
    assert_user_error(run(HELD), f"{HELD}: it is not a valid send request: ", problem,
                      "docs/formats.md")


def test_a_file_over_the_size_limit_is_refused_unread(held: Lab) -> None:
    big = OUTBOX / "2_00AZZZ.srq"
    big.write_bytes(b"x" * (INSTRUCTION_LIMITS.file_bytes + 1))
    assert_user_error(run(big), "2097153 bytes, more than the 2097152 bytes (2 MiB) a send "
                                "request may have")


def test_a_malformed_file_in_a_listing_is_reported_and_the_rest_dumped(held: Lab) -> None:
    (OUTBOX / "2_00BZZZ.srq").write_text("[SEND REQUEST DATA]\n", encoding="utf-8")
    result = run("--lab", "lab", "--site", "ZZZ")
    assert result.exit_code == 2
    assert HELD_OUTPUT in result.stdout
    assert (f"Send request file: {OUTBOX / '2_00BZZZ.srq'}\nit is not a valid send request: no "
            "[END] record") in result.stdout
    assert result.stderr.startswith("dumpsend: 1 of 4 send request file(s) could not be read: ")


def test_a_link_is_never_followed(held: Lab, tmp_path: Path) -> None:
    """A request file that is a link, even to a valid request, is reported unread; a linked
    outbox folder is not entered: either may lead out of the lab."""
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(HELD, outside / "2_00CZZZ.srq")
    (OUTBOX / "2_00CZZZ.srq").symlink_to(outside / "2_00CZZZ.srq")
    OUTBOX.parent.joinpath("EVIL").symlink_to(outside, target_is_directory=True)
    assert_user_error(run(OUTBOX / "2_00CZZZ.srq"), "it is a symbolic link, which dumpsend "
                                                    "does not follow")
    result = run("--lab", "lab", "--site", "ZZZ")
    assert result.exit_code == 2
    assert (f"Send request file: {OUTBOX / '2_00CZZZ.srq'}\nit is a symbolic link"
            in result.stdout)
    assert "EVIL" not in result.stdout
    assert HELD_OUTPUT in result.stdout


def test_a_huge_file_and_a_fifo_in_a_listing_are_reported_unread(held: Lab) -> None:
    with (OUTBOX / "2_00DZZZ.srq").open("wb") as huge:
        huge.truncate(1 << 40)  # a sparse terabyte: refused by its size, never read
    os.mkfifo(OUTBOX / "2_00EZZZ.srq")  # would block a reader that waits for a writer
    result = run("--lab", "lab", "--site", "ZZZ")
    assert result.exit_code == 2
    assert (f"Send request file: {OUTBOX / '2_00DZZZ.srq'}\nit is not a valid send request: "
            "1099511627776 bytes, more than the 2097152 bytes (2 MiB)") in result.stdout
    assert (f"Send request file: {OUTBOX / '2_00EZZZ.srq'}\nit is not a regular file"
            in result.stdout)
    assert HELD_OUTPUT in result.stdout
    assert result.stderr.startswith("dumpsend: 2 of 5 send request file(s) could not be read: ")


SITES = "Its sites are P00, S01, ZZZ; pass one with --site."


@pytest.mark.parametrize(("args", "problems"), [
    (("--lab", "nolab", "--site", "ZZZ"), ("There is no lab at nolab", "'sitesrv init --lab nolab'",
                                          "'dumpsend FILE'")),
    (("--lab", "lab", "--site", "QQQ"), ("Lab lab has no site QQQ", SITES)),
    (("--lab", "lab", "--site", "Q"), ("'Q' is not a site code", SITES)),
])
def test_a_missing_lab_or_site_is_a_user_error(held: Lab, args, problems) -> None:
    assert_user_error(run(*args), *problems)


def test_a_half_built_lab_is_a_user_error(held: Lab) -> None:
    (held.root / ".building").touch()  # what a stopped 'sitesrv init' leaves
    assert_user_error(run("--lab", "lab", "--site", "ZZZ"), "The lab at lab is half built",
                      "'sitesrv init --lab lab'", "'dumpsend FILE'")


def test_help_says_what_dumpsend_is_and_shows(held: Lab) -> None:
    result = run("--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for part in ("as the SMS toolkit's DumpSend does", "WHY IT WAITS", "not parsed by DumpSend",
                 "Exit status: 0", "2 for a user error"):
        assert part in text


# --- a live outbox: files that vanish or change, and reading that changes nothing --------------

def test_a_file_that_vanishes_after_listing_is_gone(held: Lab,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    real = report.read_request_file

    def sender_renames_first(path: Path) -> RequestFile:
        if path.name == "2_001ZZZ.srq":
            os.replace(path, path.with_suffix(".srs"))
        return real(path)

    monkeypatch.setattr(report, "read_request_file", sender_renames_first)
    result = run("--lab", "lab", "--site", "ZZZ")
    assert result.exit_code == 0
    assert (f"Send request file: {HELD}\ngone: it was renamed or removed after it was listed"
            in result.stdout)
    assert "Job request: 2_002ZZZ" in result.stdout  # and it went on


def test_a_file_replaced_after_listing_is_read_whole(held: Lab,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    real = report.read_request_file
    started = attrs.evolve(srq.read(HELD), status=srq.SenderStatus.STARTED)

    def replaced_first(path: Path) -> RequestFile:
        if path == HELD:
            tmp = path.with_name(".2_001ZZZ.srq.tmp")
            tmp.write_bytes(srq.encode(started))
            os.replace(tmp, path)  # as every component publishes a file
        return real(path)

    monkeypatch.setattr(report, "read_request_file", replaced_first)
    result = run("--lab", "lab", "--site", "ZZZ")
    assert result.exit_code == 0
    assert "Sender status: SREQ_STATUS_STARTED" in result.stdout


def test_dumping_changes_no_file(held: Lab) -> None:
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in OUTBOX.iterdir() if p.is_file()}
    assert run(HELD).exit_code == 0
    assert run("--json", HELD).exit_code == 0
    assert run("--lab", "lab", "--site", "ZZZ").exit_code == 0
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in OUTBOX.iterdir()
            if p.is_file()} == before


def test_a_sender_renaming_requests_meanwhile_never_breaks_a_dump(held: Lab) -> None:
    """A thread renames the requests .srq -> .srs -> .srq as fast as it can while dumpsend
    lists and reads them: each file is dumped whole or reported gone, never anything else."""
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            for path in list(OUTBOX.glob("*.sr?")):
                other = path.with_suffix(".srs" if path.suffix == ".srq" else ".srq")
                with contextlib.suppress(FileNotFoundError):
                    os.replace(path, other)

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        for _ in range(30):
            result = run("--json", "--lab", "lab", "--site", "ZZZ")
            assert result.exit_code == 0, result.output
            for entry in json.loads(result.stdout)["requests"]:
                assert entry["outcome"] in ("dumped", "gone")
    finally:
        stop.set()
        flipper.join()


# --- the records -------------------------------------------------------------------------------

def test_every_sitesrv_record_and_key_has_its_dumpsend_field() -> None:
    assert list(FIELDS) == [s.name for s in srq.LAYOUT.every_section()]
    data = srq.encode(SEND_REQUEST)
    records = dumpsend_records(RequestFile(Path("x.srq"), SEND_REQUEST,
                                           tuple(scan_records(data))))
    assert [r.title for r in records] == [
        "SEND REQUEST DATA", "Sender/scheduler", "CANCEL", "ACTION CODE", "ADDRESS",
        "PACKAGE FILE", "INSTRUCTION FILE", "ROUTING", "CONFIRMATION", "END"]
    for record, section in zip(records, srq.LAYOUT.every_section(), strict=False):
        assert len(record.fields) == len(KNOWN_KEYS[section.name])


def test_sections_and_keys_the_reader_ignores_are_not_parsed(held: Lab) -> None:
    text = HELD.read_text(encoding="utf-8").replace(
        "Job Final Destination Site=P00\n", "Job Final Destination Site=P00\nHop Count=2\n")
    HELD.write_text(text.replace("[END]", "[TRANSMISSION STATUS]\nBytes=5\n\n[END]"),
                    encoding="utf-8")
    result = run(HELD)
    assert result.exit_code == 0
    assert "Job Final Destination Site: P00\nHop Count: 2 (not parsed by DumpSend)\n" \
        in result.stdout
    assert ("TRANSMISSION STATUS RECORD\nLength: 31\nNot parsed by DumpSend.\n\nEND RECORD"
            in result.stdout)


PUBLIC = ("sitesrv", "sitesrv.errors", "sitesrv.formats", "sitesrv.compression")


def test_the_tool_uses_only_sitesrvs_public_surface() -> None:
    """Every module of the installed package, imported, and its imports read with ast: from
    sitesrv only `sitesrv` itself (Lab), errors, formats and compression."""
    package = importlib.import_module("dumpsend")
    names = [info.name for info in pkgutil.iter_modules(package.__path__, "dumpsend.")]
    assert "dumpsend.cli" in names
    for name in ["dumpsend", *names]:
        path = Path(inspect.getfile(importlib.import_module(name)))
        for line, imported in imports(path):
            assert ".".join(imported.split(".")[:2]) in PUBLIC, \
                f"{path.name}:{line} imports {imported}"


@st.composite
def request_files(draw: st.DrawFn) -> bytes:
    """A send request as people and editors leave it: CRLF or LF, a BOM, blank and indented
    lines, and sections and keys the reader ignores."""
    lines = srq.dumps(draw(send_requests())).split("\n")[:-1]
    out = ["" for _ in range(draw(st.integers(0, 2)))]
    for number, line in enumerate(lines):
        if line.startswith("[") and draw(st.integers(0, 4)) == 0:
            out += ["[TRANSMISSION STATUS]", "Bytes Sent=1"]  # a section it does not know
        out.append(draw(st.sampled_from(["", "  ", "\t"])) + line)
        if line != "[END]" and draw(st.integers(0, 4)) == 0:
            out.append(draw(st.sampled_from(["", "   ", f"Hop {number}=x=y"])))  # unknown key
    text = draw(st.sampled_from(["\n", "\r\n"])).join(out) + draw(st.sampled_from(["", "\n"]))
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text.encode("utf-8")


@given(request_files())
def test_the_records_found_are_the_files_sections_to_the_byte(data: bytes) -> None:
    request = srq.decode(data)
    records = scan_records(data)
    assert [r.name for r in records if r.name in FIELDS] == [
        s.name for s in srq.LAYOUT.every_section()
        for _ in (request.addresses if s.name == "ADDRESS" else (None,))]
    assert records[-1].name == "END"
    lead = len(data) - sum(r.length for r in records)  # blank lines (and a BOM) before the first
    offset = lead
    for record in records:
        chunk = data[offset:offset + record.length].decode("utf-8").removeprefix("\ufeff")
        assert chunk.strip().startswith("[")
        header = data.split(b"\n")[record.line - 1].decode("utf-8").removeprefix("\ufeff")
        assert header.strip().startswith("[")
        offset += record.length
    assert data[:lead].strip(b" \t\r\n\xef\xbb\xbf") == b""
    shown = "\n".join(line for r in dumpsend_records(RequestFile(Path("x.srq"), request,
                                                                 tuple(records)))
                      for line in r.lines())
    assert f"Job request: {request.request_id}" in shown
    assert f"Scheduler to restart at: {when(request.restart_at)}" in shown

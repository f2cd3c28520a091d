"""Symbolic links planted in the lab, pointing at files outside it.

Whoever can write to a share can leave a link under a name a component is about to write (a
Sender's `<reqid>.PCK.TMP`), or under a name a component takes as work. A link is never written
through and never followed: temp files are created new, and a link in an inbox goes to
`corrupt\\` as the link it is.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from sitesrv.admin.lab import Lab
from sitesrv.compression import pack
from sitesrv.formats import job as jobfile
from sitesrv.formats import pkg, sni, srq
from sitesrv.formats.values import Payload
from sitesrv.lab.clock import VIRTUAL_EPOCH
from sitesrv.testing import events, write_source

from .conftest import (
    REQUEST_ID,
    Outside,
    assert_ended,
    assert_installed_everywhere,
    assert_quarantined,
    carried_package,
    create_good_package,
    instruction,
    lab_files_holding,
    nothing_on_any_dp,
    once_registry,
    run,
)

SITES = ("ZZZ", "P00", "S01")
MARKER = b"HOSTILE-LINK-TARGET-5b1e"

# --- links under the names components write -----------------------------------------------------


def _request_ids() -> list[str]:
    """Every send request ID the lab's three sites hand out in their first few jobs."""
    return [srq.request_id(priority, counter, code)
            for priority in (1, 2, 3) for counter in range(1, 10) for code in SITES]


def _sender_package_temps(lab: Path) -> list[Path]:
    return [lab / code / "SMS" / "inboxes" / "despoolr.box" / "receive" / f"{r}.PCK.TMP"
            for code in SITES for r in _request_ids()]


def _sender_instruction_temps(lab: Path) -> list[Path]:
    return [lab / code / "SMS" / "inboxes" / "despoolr.box" / "receive" / sni.tmp_file_name(r)
            for code in SITES for r in _request_ids()]


def _scheduler_rewrite_temps(lab: Path) -> list[Path]:
    return [lab / code / "SMS" / "inboxes" / "schedule.box"
            / f".{jobfile.job_file_name(f'{n:08X}')}.SMS_SCHEDULER.rewrite.tmp"
            for code in SITES for n in range(1, 10)]


TEMP_NAMES: dict[str, Callable[[Path], list[Path]]] = {
    "the Sender's <reqid>.PCK.TMP in despoolr.box receive": _sender_package_temps,
    "the Sender's <reqid>.TMP in despoolr.box receive": _sender_instruction_temps,
    "the Scheduler's job rewrite temp in schedule.box": _scheduler_rewrite_temps,
}


@pytest.mark.parametrize("temp_names", TEMP_NAMES.values(), ids=TEMP_NAMES.keys())
def test_a_link_planted_under_a_temp_name_is_never_written_through(
        lab: Lab, outside: Outside, tmp_path: Path,
        temp_names: Callable[[Path], list[Path]]) -> None:
    """Links to a sentinel wait under every temp name a normal package send will write, planted
    after the site servers' start-up recovery (which would delete them) and before any send."""
    package = create_good_package(lab, tmp_path)
    target = outside.add("link-target.txt")
    planted: list[Path] = []
    activated_before: list[dict[str, object]] = []

    def plant(root: Path) -> None:
        activated_before.extend(events(root, "job_activated"))
        for link in temp_names(root):
            os.symlink(target, link)
            planted.append(link)

    outside.seal()

    report = run(lab, components=once_registry(plant))

    assert planted, "the links were not planted"
    assert activated_before == [], "the links were planted after the first job was activated"
    assert_ended(report)
    outside.assert_untouched()
    assert_installed_everywhere(lab, package)


# --- links under names that are work -----------------------------------------------------------

def _package_definition(name: str) -> bytes:
    return pkg.encode(pkg.PackageReplication(
        package_id="ZZZ0000F", name=name, source_site="ZZZ", source_version=1,
        last_refresh_time=VIRTUAL_EPOCH, action=pkg.PackageAction.UPDATE, issuing_site="ZZZ",
        content_site="ZZZ", servers=(pkg.PackageServer(
            site_code="P00", server="REMOTE_DP", share="smsapps\\SMSPKG",
            nal_path='MSWNET:["SMS_SITE=P00"]\\\\REMOTE_DP\\smsapps\\SMSPKG\\',
            action=pkg.PackageAction.ADD),)))


def _routed_instruction(description: str) -> bytes:
    return sni.encode(instruction(None, kind=Payload.NONE, final="S01", description=description))


@pytest.mark.parametrize(("site", "box", "name", "content"), [
    ("ZZZ", "replmgr.box\\outbound\\normal", "P00_ABCDEFGH.PKG",
     _package_definition(MARKER.decode())),
    ("P00", "distmgr.box\\INCOMING", "ABCDEFGH.PKG", _package_definition(MARKER.decode())),
    ("P00", "despoolr.box\\receive", f"{REQUEST_ID}.SNI", _routed_instruction(MARKER.decode())),
], ids=["in Replication Manager's outbound", "in Distribution Manager's INCOMING",
        "as an instruction in the Despooler's receive"])
def test_a_link_dropped_as_work_is_quarantined_as_a_link_and_never_followed(
        lab: Lab, outside: Outside, site: str, box: str, name: str, content: bytes) -> None:
    """A link to a valid file outside the lab, under a name the inbox's component takes: had it
    been followed, the outside file's text would be replicated, registered or routed on."""
    target = outside.add("link-target", content)
    inbox = lab.site(site).inbox(box)
    os.symlink(target, inbox / name)
    outside.seal()

    report = run(lab)

    assert_ended(report)
    assert_quarantined(lab, site, box, name, _log_of(box))
    assert os.path.islink(inbox / "corrupt" / name), "the quarantined file is no longer a link"
    outside.assert_untouched()
    assert lab_files_holding(lab, MARKER) == []


def test_a_link_delivered_as_a_payload_is_quarantined_with_its_instruction_and_never_installed(
        lab: Lab, outside: Outside, tmp_path: Path) -> None:
    """A Sender-like delivery to P00 whose `<reqid>.PCK` is a link to a real PCK outside the
    lab, with a valid `.SNI` that describes exactly that PCK."""
    data = pack(write_source(tmp_path / "source"), tmp_path / "ZZZ00001.PCK", "ZZZ00001",
                1).path.read_bytes()
    target = outside.add("ZZZ00001.PCK", data)
    receive = lab.site("P00").receive
    servers = (pkg.PackageServer(
        site_code="P00", server="REMOTE_DP", share="smsapps\\SMSPKG",
        nal_path='MSWNET:["SMS_SITE=P00"]\\\\REMOTE_DP\\smsapps\\SMSPKG\\',
        action=pkg.PackageAction.ADD),)
    record = instruction(data, package=carried_package(1, servers=servers))
    os.symlink(target, receive / sni.payload_file_name(REQUEST_ID))
    (receive / sni.sni_file_name(REQUEST_ID)).write_bytes(sni.encode(record))
    outside.seal()

    report = run(lab)

    assert_ended(report)
    payload = sni.payload_file_name(REQUEST_ID)
    assert os.path.islink(receive / "corrupt" / payload), "the payload link was not quarantined"
    assert sni.sni_file_name(REQUEST_ID) in os.listdir(receive / "corrupt")
    outside.assert_untouched()
    assert not (lab.site("P00").smspkg / "ZZZ00001.PCK").exists()
    assert nothing_on_any_dp(lab) == []


def _log_of(box: str) -> str:
    return {"replmgr.box": "replmgr.log", "distmgr.box": "distmgr.log",
            "despoolr.box": "despool.log"}[box.split("\\")[0]]

"""Paths read from inbox files that lead out of the lab, or to files that are not the site's to
send or delete.

Anyone who can write to an inbox can write any path into a send request, a job or a finished
send request. sitesrv resolves such a path only below the share or drive it names, and only to
the folders the file's kind may name; anything else is quarantined (`<inbox>\\corrupt\\` and a
`Moved the corrupt file ...` line), and nothing outside the lab is read, written or deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sitesrv.admin.lab import Lab
from sitesrv.formats import job as jobfile
from sitesrv.formats import sni, srq
from sitesrv.formats.srq import ActionCode, SenderStatus
from sitesrv.formats.values import Payload
from sitesrv.testing import drop, events

from .conftest import (
    JOB_ID,
    REQUEST_ID,
    SECRET,
    Outside,
    assert_ended,
    assert_quarantined,
    climb,
    instruction,
    instruction_file,
    lab_files_holding,
    nothing_arrived,
    run,
    scheduler_job,
    send_request,
    stored_pck,
)

OUTBOX = "schedule.box\\outboxes\\LAN"
SRQ = f"{REQUEST_ID}.srq"

# --- send requests: the Sender ----------------------------------------------------------------

# Each takes the lab and the outside folder and returns the send request's fields to change.
SendRequestAttack = Callable[[Lab, Outside], dict[str, object]]


def _address_climbing_out(lab: Lab, outside: Outside) -> dict[str, object]:
    walk = climb(lab.site("P00").receive, outside.root)
    return {"addresses": (srq.SenderAddress(address=f"\\\\MGMT03\\SMS_SITE\\{walk}",
                                            type="LAN"),)}


def _address(text: str) -> SendRequestAttack:
    """An ADDRESS that is no `\\\\<server>\\SMS_SITE` share: each failed to connect and
    was retried for ever, filling the site's sends (a bug hunt found them)."""
    def attack(lab: Lab, outside: Outside) -> dict[str, object]:
        return {"addresses": (srq.SenderAddress(address=text, type="LAN"),)}
    return attack


def _package_file_climbing_out(lab: Lab, outside: Outside) -> dict[str, object]:
    return {"package_file": "F:\\" + climb(lab.site("ZZZ").root, outside.secret)}


def _package_file_climbing_out_of_its_share(lab: Lab, outside: Outside) -> dict[str, object]:
    walk = climb(lab.site("ZZZ").smspkg, outside.secret)
    return {"package_file": f"\\\\MGMT01\\SMS_CPSF$\\{walk}"}


def _package_file_absolute_posix(lab: Lab, outside: Outside) -> dict[str, object]:
    return {"package_file": f"F:\\/{outside.secret.as_posix().lstrip('/')}"}


def _instruction_file_climbing_out(lab: Lab, outside: Outside) -> dict[str, object]:
    evil = outside.add("evil.IPT", sni.encode(instruction(
        None, kind=Payload.NONE, description="EVIL-OUTSIDE-INSTRUCTION")))
    return {"instruction_file": "\\\\MGMT01\\SMS_ZZZ\\" + climb(lab.site("ZZZ").sms, evil)}


SEND_REQUEST_ATTACKS = {
    "an ADDRESS climbing out of SMS_SITE": _address_climbing_out,
    "an ADDRESS that is a drive path": _address("C:\\Windows"),
    "an ADDRESS that is a drive path to SMS_SITE": _address("D:\\SMS_SITE"),
    "an ADDRESS with a slash": _address("\\\\MGMT03\\SMS_SITE/.."),
    "a PACKAGE FILE climbing out of drive F": _package_file_climbing_out,
    "a PACKAGE FILE climbing out of SMS_CPSF$": _package_file_climbing_out_of_its_share,
    "a PACKAGE FILE that is an absolute POSIX path": _package_file_absolute_posix,
    "an INSTRUCTION FILE climbing out of SMS_ZZZ": _instruction_file_climbing_out,
}


@pytest.mark.parametrize("attack", SEND_REQUEST_ATTACKS.values(), ids=SEND_REQUEST_ATTACKS.keys())
def test_a_send_request_whose_paths_leave_the_lab_is_quarantined_by_the_sender(
        lab: Lab, outside: Outside, tmp_path: Path, attack: SendRequestAttack) -> None:
    """A `.srq` dropped in ZZZ's LAN outbox names a file or share outside the lab: the Sender
    would read a secret and send it to P00, or write the package into the outside folder."""
    pck = stored_pck(lab, tmp_path)
    instruction_file(lab, payload=pck.read_bytes())
    request = send_request(lab, **attack(lab, outside))
    drop(lab.site("ZZZ").inbox(OUTBOX), SRQ, srq.encode(request))
    outside.seal()

    report = run(lab)

    assert_ended(report)
    assert_quarantined(lab, "ZZZ", OUTBOX, SRQ, "sender.log")
    outside.assert_untouched()
    assert sorted(p.name for p in lab.root.rglob("*") if p.suffix.upper() == ".SNI") == []
    assert nothing_arrived(lab, "P00") == []
    assert lab_files_holding(lab, SECRET) == []


# --- finished send requests: the Scheduler's clean-up -----------------------------------------

def _p00_file(lab: Lab, box: str, name: str) -> Path:
    path = lab.site("P00").inbox(box) / name
    path.write_bytes(P00_FILE)
    return path


P00_FILE = b"P00's own file; ZZZ's Scheduler has no business deleting it\n"
# Each returns the `.srs` fields to set, and the files of site P00 it names (the outside files
# it names are sentinels): all must survive.
SrsFields = tuple[dict[str, object], list[Path]]
FinishedRequestAttack = Callable[[Lab, Outside], SrsFields]


def _srs_instruction_out_of_sms_share(lab: Lab, outside: Outside) -> SrsFields:
    victim = outside.add("victim.IPT")
    return {"instruction_file": "\\\\MGMT01\\SMS_ZZZ\\" + climb(lab.site("ZZZ").sms, victim)}, []


def _srs_instruction_out_of_drive_e(lab: Lab, outside: Outside) -> SrsFields:
    victim = outside.add("victim.IPT")
    return {"instruction_file": "E:\\SMS\\" + climb(lab.site("ZZZ").sms, victim)}, []


def _srs_instruction_of_another_site(lab: Lab, outside: Outside) -> SrsFields:
    victim = _p00_file(lab, "schedule.box\\tosend", "0000CAFE.IPT")
    return {"instruction_file": lab.site("P00").unc(victim)}, [victim]


def _srs_package_of_another_site(lab: Lab, outside: Outside) -> SrsFields:
    victim = _p00_file(lab, "replmgr.box\\ready", "0000CAFE.RPL")
    return {"package_file": lab.site("P00").unc(victim)}, [victim]


def _srs_package_out_of_drive_f(lab: Lab, outside: Outside) -> SrsFields:
    victim = outside.add("victim.RPL")
    return {"package_file": "F:\\" + climb(lab.site("ZZZ").root, victim)}, []


FINISHED_REQUEST_ATTACKS: dict[str, FinishedRequestAttack] = {
    "an INSTRUCTION FILE climbing out of SMS_ZZZ": _srs_instruction_out_of_sms_share,
    "an INSTRUCTION FILE climbing out of drive E": _srs_instruction_out_of_drive_e,
    "an INSTRUCTION FILE of site P00": _srs_instruction_of_another_site,
    "a PACKAGE FILE of site P00": _srs_package_of_another_site,
    "a PACKAGE FILE climbing out of drive F": _srs_package_out_of_drive_f,
}


@pytest.mark.parametrize("attack", FINISHED_REQUEST_ATTACKS.values(),
                         ids=FINISHED_REQUEST_ATTACKS.keys())
def test_a_finished_send_request_of_an_unknown_job_deletes_nothing_outside_or_of_another_site(
        lab: Lab, outside: Outside, attack: FinishedRequestAttack) -> None:
    """A `.srs` with SREQ_STATUS_OK and ACTION CODE 0 for a job nobody knows: the Scheduler's
    clean-up deletes the instruction file and the transfer root a finished request names."""
    fields, p00_files = attack(lab, outside)
    finished = send_request(lab, status=SenderStatus.OK, action_code=ActionCode.NOTHING,
                            **fields)
    drop(lab.site("ZZZ").inbox(OUTBOX), f"{REQUEST_ID}.srs", srq.encode(finished))
    outside.seal()

    report = run(lab)

    assert_ended(report)
    outside.assert_untouched()
    for path in p00_files:
        assert path.is_file() and path.read_bytes() == P00_FILE, f"{path} was deleted or changed"


# --- jobs: the Scheduler ----------------------------------------------------------------------

TransferRoot = Callable[[Lab, Outside], str]


def _root_out_of_drive_f(lab: Lab, outside: Outside) -> str:
    return "F:\\" + climb(lab.site("ZZZ").root, outside.secret)


def _root_out_of_smspkg_share(lab: Lab, outside: Outside) -> str:
    return "\\\\MGMT01\\SMS_CPSF$\\" + climb(lab.site("ZZZ").smspkg, outside.secret)


def _root_absolute_posix(lab: Lab, outside: Outside) -> str:
    return f"F:\\/{outside.secret.as_posix().lstrip('/')}"


def _root_site_database(lab: Lab, outside: Outside) -> str:
    return "E:\\SMS\\site.db"


def _root_uid_token(lab: Lab, outside: Outside) -> str:
    return "E:\\SMS\\inboxes\\schedule.box\\UID\\00000001.req"


def _root_dp_file(lab: Lab, outside: Outside) -> str:
    dp = lab.site("ZZZ").dp_package(lab.site("ZZZ").site.dp("MGMT01"), "ZZZ00009")
    dp.mkdir(parents=True)
    (dp / "SETUP.INI").write_bytes(b"[Setup]\r\n")
    return "\\\\MGMT01\\SMSPKGC$\\ZZZ00009\\SETUP.INI"


TRANSFER_ROOTS: dict[str, TransferRoot] = {
    "climbing out of drive F": _root_out_of_drive_f,
    "climbing out of SMS_CPSF$": _root_out_of_smspkg_share,
    "an absolute POSIX path": _root_absolute_posix,
    "this site's database": _root_site_database,
    "this site's schedule.box UID token": _root_uid_token,
    "a file on this site's DP": _root_dp_file,
}


@pytest.mark.parametrize("root", TRANSFER_ROOTS.values(), ids=TRANSFER_ROOTS.keys())
def test_a_job_whose_transfer_root_is_not_a_file_to_send_is_quarantined_and_nothing_is_sent(
        lab: Lab, outside: Outside, root: TransferRoot) -> None:
    """A `.job` in ZZZ's schedule.box whose transfer root leaves the lab, or names a file of
    ZZZ outside SMSPKG, replmgr.box\\ready and schedule.box\\tosend: the Scheduler would hash
    it and the Sender would copy it to P00."""
    job = scheduler_job(transfer_root=root(lab, outside))
    drop(lab.site("ZZZ").inbox("schedule.box"), jobfile.job_file_name(JOB_ID), jobfile.encode(job))
    outside.seal()

    report = run(lab)

    assert_ended(report)
    assert_quarantined(lab, "ZZZ", "schedule.box", f"{JOB_ID}.job", "sched.log")
    outside.assert_untouched()
    assert nothing_arrived(lab, "P00") == []
    assert events(lab, "send_started") == []


@pytest.mark.parametrize("name", ["00000099.job", "evil.job"])
def test_a_job_not_named_after_its_job_id_is_quarantined(
        lab: Lab, outside: Outside, tmp_path: Path, name: str) -> None:
    """A valid `.job` for job 0000BEEF saved as another name: its send request's status would
    name a job file that does not exist, so it would be sent again and again."""
    stored_pck(lab, tmp_path)
    drop(lab.site("ZZZ").inbox("schedule.box"), name, jobfile.encode(scheduler_job()))
    outside.seal()

    report = run(lab)

    assert_ended(report)
    assert_quarantined(lab, "ZZZ", "schedule.box", name, "sched.log")
    assert nothing_arrived(lab, "P00") == []
    outside.assert_untouched()

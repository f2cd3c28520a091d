"""FIFOs and the longest file names, planted in the lab.

Opening a FIFO blocks until a writer (or reader) comes, so a reader that opens one would hang the
whole site server: every reader opens files through `files.regular` and refuses a FIFO. A link
with a 255-character name is legal; the name of its quarantined copy must still fit, and one
entry that cannot be moved never stops an inbox's listing, nor a component's start, nor a run.
Each hang test runs the lab in a thread with a deadline, far longer than the run needs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from sitesrv.admin.lab import Lab
from sitesrv.formats import job as jobfile
from sitesrv.runtime.idle import IdleReport
from sitesrv.testing import drop, log_messages

from .conftest import (
    JOB_ID,
    assert_ended,
    assert_installed_everywhere,
    assert_quarantined,
    create_good_package,
    quarantined,
    run,
    scheduler_job,
)

DEADLINE = 300  # seconds: a hung run never ends; a run that works ends in a few
needs_fifos = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


def run_with_deadline(action: Callable[[], IdleReport]) -> IdleReport:
    """`action()` in a thread; fails the test if it has not returned by the deadline."""
    result: list[IdleReport] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(action())
        except BaseException as e:  # re-raised in the test's thread
            errors.append(e)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(DEADLINE)
    assert not thread.is_alive(), f"the run hung (not done after {DEADLINE} s)"
    if errors:
        raise errors[0]
    return result[0]


@needs_fifos
def test_a_fifo_named_as_a_jobs_transfer_root_fails_the_job_and_hangs_nothing(lab: Lab) -> None:
    os.mkfifo(lab.site("ZZZ").smspkg / "ZZZ00001.PCK")
    drop(lab.site("ZZZ").inbox("schedule.box"), jobfile.job_file_name(JOB_ID),
         jobfile.encode(scheduler_job()))

    report = run_with_deadline(lambda: run(lab))

    assert_ended(report)
    assert any("FIFO" in m and "ZZZ00001.PCK" in m
               for m in log_messages(lab, "ZZZ", "sched.log")), "no line names the FIFO"


@needs_fifos
def test_a_fifo_planted_as_quarantine_log_is_moved_aside_and_the_quarantine_logged(
        lab: Lab) -> None:
    inbox = lab.site("P00").inbox("distmgr.box\\INCOMING")
    (inbox / "corrupt").mkdir(exist_ok=True)
    os.mkfifo(inbox / "corrupt" / "quarantine.log")
    (inbox / "JUNK0001.PKG").write_bytes(b"junk\n")

    report = run_with_deadline(lambda: run(lab))

    assert_ended(report)
    assert_quarantined(lab, "P00", "distmgr.box\\INCOMING", "JUNK0001.PKG", "distmgr.log")
    kept = (inbox / "corrupt" / "quarantine.log").read_text(encoding="utf-8")
    assert "JUNK0001.PKG" in kept and "was a FIFO" in kept


@needs_fifos
def test_a_fifo_claimed_as_work_is_quarantined_unopened(lab: Lab, tmp_path: Path) -> None:
    """A FIFO under a work name in the inbox, and one claimed when the last run stopped."""
    package = create_good_package(lab, tmp_path)
    inbox = lab.site("P00").inbox("distmgr.box\\INCOMING")
    inbox.mkdir(parents=True, exist_ok=True)
    os.mkfifo(inbox / "FIFO0001.PKG")
    claimed = lab.site("P00").inbox("distmgr.box\\INCOMING") / ".work" / "FIFO0002.PKG"
    claimed.parent.mkdir(exist_ok=True)
    os.mkfifo(claimed)  # as if claimed when the last run stopped

    report = run_with_deadline(lambda: run(lab))

    assert_ended(report)
    for name in ("FIFO0001.PKG", "FIFO0002.PKG"):
        assert os.path.lexists(inbox / "corrupt" / name)
        assert [m for m in log_messages(lab, "P00", "distmgr.log")
                if m.startswith("Moved the corrupt file ") and name in m and "a FIFO" in m]
    assert_installed_everywhere(lab, package)


@pytest.mark.parametrize(("box", "name", "log"), [
    ("despoolr.box\\receive", "2_0FFZZZ.SNI", "despool.log"),
    ("distmgr.box\\INCOMING", "ABCDEF01.PKG", "distmgr.log"),
    ("replmgr.box\\incoming", "2_0FFZZZ.RPL", "replmgr.log"),
])
@pytest.mark.parametrize("kind", ["a FIFO", "a folder"])
def test_a_fifo_or_a_folder_named_as_work_is_quarantined_with_a_line(
        lab: Lab, tmp_path: Path, box: str, name: str, log: str, kind: str) -> None:
    """They were left where they were, with no line (a bug hunt found it): docs/limits.md
    says they go to corrupt\\. The good package beside them still goes everywhere."""
    if kind == "a FIFO" and not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    package = create_good_package(lab, tmp_path)
    inbox = lab.site("P00").inbox(box)
    inbox.mkdir(parents=True, exist_ok=True)
    if kind == "a FIFO":
        os.mkfifo(inbox / name)
    else:
        (inbox / name).mkdir()
        (inbox / name / "inside.txt").write_text("kept as it was")

    report = run_with_deadline(lambda: run(lab))

    assert_ended(report)
    assert_quarantined(lab, "P00", box, name, log)
    assert [m for m in log_messages(lab, "P00", log) if name in m and kind in m]
    if kind == "a folder":
        assert (inbox / "corrupt" / name / "inside.txt").read_text() == "kept as it was"
    assert_installed_everywhere(lab, package)


LONG_NAME = "A" * 251  # with a 4-character extension: 255 characters, the longest legal name


@pytest.mark.parametrize(("site", "box", "extension"), [
    ("P00", "distmgr.box\\INCOMING", ".PKG"), ("P00", "despoolr.box\\receive", ".SNI")],
    ids=["in Distribution Manager's INCOMING", "in receive, which the Despooler lists as it starts"])
def test_a_link_with_the_longest_name_never_blocks_an_inbox_nor_the_run(
        lab: Lab, tmp_path: Path, site: str, box: str, extension: str) -> None:
    """`corrupt\\<name>` is taken already, so its quarantine needs `<name>.1` (257 characters):
    the name is cut to fit, the link goes, and the good package in the inbox is processed."""
    package = create_good_package(lab, tmp_path)
    inbox = lab.site(site).inbox(box)
    name = LONG_NAME + extension
    (inbox / "corrupt").mkdir(exist_ok=True)
    (inbox / "corrupt" / name).write_bytes(b"an earlier quarantine\n")
    os.symlink(tmp_path / "nowhere", inbox / name)

    report = run(lab)

    assert_ended(report)
    assert not os.path.lexists(inbox / name)
    kept = [p for p in (inbox / "corrupt").iterdir() if p.is_symlink()]
    assert len(kept) == 1 and len(kept[0].name.encode()) <= 255
    assert_installed_everywhere(lab, package)


@needs_fifos
@pytest.mark.parametrize("where", ["top", "icon folder"])
def test_a_fifo_in_a_box_inbox_manager_mirrors_is_quarantined_and_its_cap_copy_deleted(
        lab: Lab, where: str) -> None:
    """A FIFO under a name the CAP has a copy of was passed over without a word and the copy
    stayed: it goes to the box's corrupt\\ (moved by a rename, never opened), with a line naming
    it and its problem, and the CAP's copy is deleted as for any file the box no longer has.
    (`offerinf.box` is mirrored by the same code; Offer Manager deletes a stranger there.)"""
    layout = lab.site("S01")
    box, cap = layout.inbox("pkginfo.box"), layout.cap / "pkginfo.box"
    folder = box if where == "top" else box / "ZZZ00001.ICO"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "GOOD.LKP").write_bytes(b"good\n")
    (folder / "PIPE.LKP").write_bytes(b"mirrored once\n")
    assert_ended(run(lab))
    mirrored = cap / folder.relative_to(box)
    assert (mirrored / "PIPE.LKP").read_bytes() == b"mirrored once\n"
    (folder / "PIPE.LKP").unlink()
    os.mkfifo(folder / "PIPE.LKP")

    report = run_with_deadline(lambda: run(lab))

    assert_ended(report)
    assert quarantined(box) == ["PIPE.LKP"] and (box / "corrupt" / "PIPE.LKP").is_fifo()
    assert not os.path.lexists(folder / "PIPE.LKP")
    assert os.listdir(mirrored) == ["GOOD.LKP"]
    said = log_messages(lab, "S01", "inboxmgr.log")
    corrupt = box / "corrupt"
    assert (f"Moved the corrupt file {layout.windows(folder / 'PIPE.LKP')} to "
            f"{layout.windows(corrupt / 'PIPE.LKP')}: it is a FIFO, not a file, and sitesrv "
            "never opens one in an inbox") in said
    assert (f"Deleted {layout.unc(mirrored / 'PIPE.LKP')}, which is no longer in "
            f"{layout.windows(box)}") in said

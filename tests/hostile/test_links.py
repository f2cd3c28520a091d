"""Symbolic links planted in the lab, pointing at files outside it.

Whoever can write to a share can leave a link under a name a component is about to write (a
Sender's `<reqid>.PCK.TMP`), or under a name a component takes as work. A link is never written
through and never followed: temp files are created new, and a link in an inbox goes to
`corrupt\\` as the link it is.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from sitesrv.admin import console
from sitesrv.admin.lab import Lab
from sitesrv.components.registry import SMS_COMPONENTS
from sitesrv.compression import pack
from sitesrv.formats import job as jobfile
from sitesrv.formats import pkg, sni, srq
from sitesrv.formats.values import Payload
from sitesrv.lab.clock import VIRTUAL_EPOCH
from sitesrv.runtime.component import Component
from sitesrv.runtime.registry import Registry
from sitesrv.testing import build_lab, events, log_messages, write_source
from tests.conftest import REPO

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
    # A writer that met a link removed it (and renamed its own file away): at least one was met.
    assert [p for p in planted if not os.path.islink(p)], "no component met a planted link"
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


def test_the_payload_of_an_instruction_refused_as_a_link_is_kept_beside_it(
        lab: Lab, tmp_path: Path) -> None:
    """`<reqid>.SNI` is a link (to a valid instruction kept elsewhere in the lab), its payload
    an ordinary file: the link goes to corrupt\\, and the payload, which no instruction in
    receive explains any more, joins it there. It was deleted as a stray payload (a bug hunt
    found it), and everything refused is kept."""
    data = pack(write_source(tmp_path / "source"), tmp_path / "ZZZ00001.PCK", "ZZZ00001",
                1).path.read_bytes()
    receive = lab.site("P00").receive
    kept = lab.site("P00").state_dir / "elsewhere.SNI"
    kept.write_bytes(sni.encode(instruction(data, package=carried_package(1))))
    (receive / sni.payload_file_name(REQUEST_ID)).write_bytes(data)
    os.symlink(kept, receive / sni.sni_file_name(REQUEST_ID))

    report = run(lab)

    assert_ended(report)
    corrupt = receive / "corrupt"
    assert os.path.islink(corrupt / sni.sni_file_name(REQUEST_ID))
    assert (corrupt / sni.payload_file_name(REQUEST_ID)).read_bytes() == data
    assert [m for m in log_messages(lab, "P00", "despool.log")
            if m.startswith("Moved the corrupt file ") and sni.payload_file_name(REQUEST_ID) in m
            and "was refused" in m]
    assert not (lab.site("P00").smspkg / "ZZZ00001.PCK").exists()


def deliver_planted_payload(lab: Lab, outside: Outside, tmp_path: Path,
                            plant: Callable[[Path, Path], None]) -> Path:
    """A Sender-like delivery to P00 with a valid `.SNI` that describes exactly a real PCK kept
    outside the lab, whose `<reqid>.PCK` `plant(target, name)` puts in receive; the outside
    PCK, sealed."""
    data = pack(write_source(tmp_path / "source"), tmp_path / "ZZZ00001.PCK", "ZZZ00001",
                1).path.read_bytes()
    target = outside.add("ZZZ00001.PCK", data)
    receive = lab.site("P00").receive
    servers = (pkg.PackageServer(
        site_code="P00", server="REMOTE_DP", share="smsapps\\SMSPKG",
        nal_path='MSWNET:["SMS_SITE=P00"]\\\\REMOTE_DP\\smsapps\\SMSPKG\\',
        action=pkg.PackageAction.ADD),)
    record = instruction(data, package=carried_package(1, servers=servers))
    plant(target, receive / sni.payload_file_name(REQUEST_ID))
    (receive / sni.sni_file_name(REQUEST_ID)).write_bytes(sni.encode(record))
    outside.seal()
    return target


def test_a_link_delivered_as_a_payload_is_quarantined_with_its_instruction_and_never_installed(
        lab: Lab, outside: Outside, tmp_path: Path) -> None:
    """`<reqid>.PCK` is a symbolic link to the PCK outside."""
    deliver_planted_payload(lab, outside, tmp_path, os.symlink)

    report = run(lab)

    assert_ended(report)
    receive = lab.site("P00").receive
    payload = sni.payload_file_name(REQUEST_ID)
    assert os.path.islink(receive / "corrupt" / payload), "the payload link was not quarantined"
    assert sni.sni_file_name(REQUEST_ID) in os.listdir(receive / "corrupt")
    outside.assert_untouched()
    assert not (lab.site("P00").smspkg / "ZZZ00001.PCK").exists()
    assert nothing_on_any_dp(lab) == []


def test_a_hard_link_delivered_as_a_payload_is_quarantined_and_its_file_never_changed(
        lab: Lab, outside: Outside, tmp_path: Path) -> None:
    """`<reqid>.PCK` is a hard link to the PCK outside: stored, it was made read-only, and so
    was the outside file, its other name (a bug hunt found it)."""
    target = deliver_planted_payload(lab, outside, tmp_path, os.link)
    mode = target.stat().st_mode

    report = run(lab)

    assert_ended(report)
    receive = lab.site("P00").receive
    assert {sni.payload_file_name(REQUEST_ID), sni.sni_file_name(REQUEST_ID)} <= set(
        os.listdir(receive / "corrupt"))
    assert "(a hard link), and sitesrv never writes through one" in (
        lab.site("P00").logs / "despool.log").read_text()
    outside.assert_untouched()
    assert target.stat().st_mode == mode
    assert not (lab.site("P00").smspkg / "ZZZ00001.PCK").exists()
    assert nothing_on_any_dp(lab) == []


def _log_of(box: str) -> str:
    return {"replmgr.box": "replmgr.log", "distmgr.box": "distmgr.log",
            "despoolr.box": "despool.log"}[box.split("\\")[0]]


# --- links planted as an inbox's own folders, and hard links ----------------------------------

@pytest.mark.parametrize("folder", ["corrupt", ".work"])
def test_an_inbox_folder_planted_as_a_link_is_moved_aside_and_nothing_lands_outside(
        lab: Lab, outside: Outside, tmp_path: Path, folder: str) -> None:
    """`corrupt\\` or `.work\\` of P00's INCOMING replaced by a link to a folder outside the lab
    (which holds a file of the very name that arrives), then a junk `.PKG` and a good package."""
    package = create_good_package(lab, tmp_path)
    away = outside.root / "folder"
    outside.add("folder/JUNK0001.PKG")
    inbox = lab.site("P00").inbox("distmgr.box\\INCOMING")
    if (inbox / folder).is_dir():
        (inbox / folder).rmdir()
    os.symlink(away, inbox / folder)
    (inbox / "JUNK0001.PKG").write_bytes(b"junk\n")
    outside.seal()

    report = run(lab)

    assert_ended(report)
    outside.assert_untouched()
    assert (inbox / folder).is_dir() and not (inbox / folder).is_symlink()
    assert_quarantined(lab, "P00", "distmgr.box\\INCOMING", "JUNK0001.PKG", "distmgr.log")
    shown = lab.site("P00").windows(inbox / folder)
    assert [m for m in log_messages(lab, "P00", "distmgr.log")
            if m.startswith(f"Moved {shown} aside to ") and "symbolic link" in m]
    assert_installed_everywhere(lab, package)


@pytest.mark.parametrize(("box", "log", "planted"), [
    ("distmgr.box\\INCOMING", "distmgr.log", "a file"),
    ("despoolr.box\\receive", "despool.log", "a symbolic link"),
])
def test_an_inbox_planted_as_a_file_or_a_link_is_moved_aside_and_the_lab_goes_on(
        lab: Lab, outside: Outside, tmp_path: Path, box: str, log: str, planted: str) -> None:
    """P00's inbox itself replaced: a file under its name gave a traceback (a bug hunt found
    it); a link would be listed and written through."""
    package = create_good_package(lab, tmp_path)
    inbox = lab.site("P00").inbox(box)
    shutil.rmtree(inbox)
    if planted == "a file":
        inbox.write_bytes(b"not a folder\n")
    else:
        os.symlink(outside.root, inbox)
    outside.seal()

    report = run(lab)

    assert_ended(report)
    outside.assert_untouched()
    assert inbox.is_dir() and not inbox.is_symlink()
    shown = lab.site("P00").windows(inbox)
    assert [m for m in log_messages(lab, "P00", log)
            if m.startswith(f"Moved {shown} aside to ") and f"it was {planted}, not a folder" in m]
    assert_installed_everywhere(lab, package)


def test_a_hard_link_planted_as_quarantine_log_is_moved_aside_never_written_through(
        lab: Lab, outside: Outside) -> None:
    victim = outside.add("victim.log")
    corrupt = lab.site("P00").inbox("distmgr.box\\INCOMING") / "corrupt"
    corrupt.mkdir(exist_ok=True)
    os.link(victim, corrupt / "quarantine.log")
    (corrupt.parent / "JUNK0001.PKG").write_bytes(b"junk\n")
    outside.seal()

    report = run(lab)

    assert_ended(report)
    outside.assert_untouched()
    kept = (corrupt / "quarantine.log").read_text(encoding="utf-8")
    assert "JUNK0001.PKG" in kept and "hard link" in kept, kept
    assert "hard link" in "\n".join(log_messages(lab, "P00", "distmgr.log"))


SLOW_LINK = "{from: ZZZ, to: P00, type: LAN, priority: 1}"


def _slow_lab(tmp_path: Path) -> Lab:
    """The default lab, its ZZZ -> P00 link slow enough that a send spans many units."""
    text = (REPO / "hierarchy.yaml").read_text(encoding="utf-8")
    assert SLOW_LINK in text
    return build_lab(tmp_path / "lab", text.replace(
        SLOW_LINK, "{from: ZZZ, to: P00, type: LAN, priority: 1, rate_limit: 2000, latency: 30}"))


def _every_second(action: Callable[[Path], None]) -> Registry:
    """SMS's components plus one that calls `action(lab_root)` every second of lab time."""
    class Swapper(Component):
        name = "TEST_SWAPPER"
        log_name = "test-swapper.log"
        inboxes = ()

        def work(self) -> bool:
            action(self.ctx.lab.root)
            self.ctx.wake_at(self.ctx.clock.now() + 1)
            return False

    return Registry(primary=(*SMS_COMPONENTS.primary, Swapper),
                    secondary=SMS_COMPONENTS.secondary)


def test_a_hard_link_swapped_in_under_the_senders_temp_mid_send_is_never_written(
        tmp_path: Path) -> None:
    lab = _slow_lab(tmp_path)
    package = create_good_package(lab, tmp_path)
    victim = tmp_path / "outside" / "victim.bin"
    victim.parent.mkdir()
    victim.write_bytes(b"V" * (1 << 20))
    swapped: list[Path] = []

    def swap(root: Path) -> None:
        # The first send caught in flight only: a second swapped payload (the package
        # information, once status traffic makes its send span units too) fails its
        # signature check and is quarantined, so the package could never install.
        for tmp in sorted((root / "P00/SMS/inboxes/despoolr.box/receive").glob("*.PCK.TMP")):
            if not swapped:
                tmp.unlink()
                os.link(victim, tmp)
                swapped.append(tmp)

    report = run(lab, components=_every_second(swap))

    assert swapped, "no send was caught in flight"
    assert victim.read_bytes() == b"V" * (1 << 20), "the Sender wrote into a file outside the lab"
    assert any("never writes through" in m for m in log_messages(lab, "ZZZ", "sender.log"))
    assert_ended(report)
    assert_installed_everywhere(lab, package)


def test_a_link_swapped_in_for_the_package_being_sent_is_never_read(tmp_path: Path) -> None:
    lab = _slow_lab(tmp_path)
    package = create_good_package(lab, tmp_path)
    secret = tmp_path / "outside" / "secret.bin"
    secret.parent.mkdir()
    secret.write_bytes(b"OUTSIDE-SECRET-" * 100_000)
    swapped: list[Path] = []

    def swap(root: Path) -> None:
        pck = root / "ZZZ" / "SMSPKG" / f"{package.package_id}.PCK"
        sending = list((root / "P00/SMS/inboxes/despoolr.box/receive").glob("*.PCK.TMP"))
        if sending and not swapped and pck.is_file() and not pck.is_symlink():
            os.chmod(pck, 0o644)
            pck.unlink()
            os.symlink(secret, pck)
            swapped.append(pck)

    run(lab, components=_every_second(swap))

    assert swapped, "no send was caught in flight"
    assert lab_files_holding(lab, b"OUTSIDE-SECRET-") == []
    assert any("Cannot read" in m for m in log_messages(lab, "ZZZ", "sender.log"))


@pytest.mark.parametrize("planted", ["an .ICO folder", "the CAP inbox", "the CAP"])
def test_a_link_planted_in_a_client_access_point_is_never_written_through(
        lab: Lab, outside: Outside, tmp_path: Path, planted: str) -> None:
    """Inbox Manager mirrored through a link in CAP_<SITE> into the folder it named, deleting
    what was there (a bug hunt found it): the link is moved aside and the CAP mirrored anew."""
    package = create_good_package(lab, tmp_path)
    assert_ended(run(lab))
    layout = lab.site("S01")
    box = layout.inbox("pkginfo.box")
    icon = box / f"{package.package_id}.ICO"
    icon.mkdir(exist_ok=True)
    (icon / "app.ico").write_bytes(b"\x00\x00\x01\x00icon")
    victim = outside.add("victim.txt", b"not the lab's")
    outside.add("pkginfo.box/victim.txt", b"not the lab's either")  # a box behind a linked CAP
    link = {"an .ICO folder": layout.cap / "pkginfo.box" / icon.name,
            "the CAP inbox": layout.cap / "pkginfo.box",
            "the CAP": layout.cap}[planted]
    if link.exists():
        shutil.rmtree(link)
    os.symlink(victim.parent, link)
    outside.seal()

    assert_ended(run(lab))

    outside.assert_untouched()
    assert not os.path.islink(link) and link.is_dir()
    assert (layout.cap / "pkginfo.box" / icon.name / "app.ico").read_bytes() == \
        b"\x00\x00\x01\x00icon"
    said = log_messages(lab, "S01", "inboxmgr.log")
    if planted == "an .ICO folder":  # a stranger in the mirror: deleted, as the link it is
        assert [m for m in said if m.startswith("Deleted ") and "was in the way" in m]
    else:  # the mirror's own folders: kept aside, as an inbox's corrupt\ and .work\ are
        assert os.path.islink(link.with_name(f".{link.name}.refused"))
        assert [m for m in said
                if m.startswith("Moved ") and "it was a symbolic link, not a folder" in m]


@pytest.mark.parametrize("box", ["pkginfo.box", "offerinf.box"])
def test_a_link_in_a_client_access_point_box_is_deleted_itself_never_followed(
        lab: Lab, outside: Outside, box: str) -> None:
    """A link in a CAP box was never deleted, so clients were served what it pointed to (a bug
    hunt found it): each goes as the stranger it is, whatever it points to, and even under a
    name the box has, or in a package's `.ICO` folder."""
    layout = lab.site("S01")
    source, cap = layout.inbox(box), layout.cap / box
    (source / "ZZZ00001.ICO").mkdir()
    (source / "ZZZ00001.NAL").write_bytes(b"the box's own")
    assert_ended(run(lab))
    folder = outside.add("folder/victim.txt").parent
    links = {"STRANGER": folder, "ZZZ00009.NAL": outside.secret, "GONE.NAL": outside.root / "no",
             "ZZZ00001.ICO/app.ico": outside.secret, "ZZZ00001.NAL": outside.secret}
    (cap / "ZZZ00001.NAL").unlink()
    for name, target in links.items():
        os.symlink(target, cap / name)
    (cap / "PLAIN.NAL").write_bytes(b"a stranger")
    outside.seal()

    assert_ended(run(lab))

    outside.assert_untouched()
    assert sorted(os.listdir(cap)) == ["ZZZ00001.ICO", "ZZZ00001.NAL"]
    assert os.listdir(cap / "ZZZ00001.ICO") == []
    assert not os.path.islink(cap / "ZZZ00001.NAL")
    assert (cap / "ZZZ00001.NAL").read_bytes() == b"the box's own"
    said = log_messages(lab, "S01", "inboxmgr.log")
    for name in ("STRANGER", "ZZZ00009.NAL", "GONE.NAL", "ZZZ00001.ICO/app.ico", "PLAIN.NAL"):
        assert f"Deleted {layout.unc(cap / name)}, which is no longer in " \
               f"{layout.windows(source)}" in said, name
    assert f"Deleted {layout.unc(cap / 'ZZZ00001.NAL')}, which was in the way: not the kind " \
           f"of entry {layout.windows(source)} has there" in said


def test_a_link_in_offerinf_box_is_deleted_itself_by_offer_manager(
        lab: Lab, outside: Outside) -> None:
    """Offer Manager deleted a file no advertisement calls for, but not a link to a folder (nor
    a dangling one): it stayed for good. Each goes now, never what it points to."""
    layout = lab.site("ZZZ")
    box = layout.inbox("offerinf.box")
    links = {"ZZZ29999.ofr": outside.add("folder/victim.txt").parent,
             "ZZZ29998.ins": outside.root / "no", "ZZZ29997.lkp": outside.secret}
    for name, target in links.items():
        os.symlink(target, box / name)
    outside.seal()

    assert_ended(run(lab))

    outside.assert_untouched()
    assert os.listdir(box) == []
    said = log_messages(lab, "ZZZ", "offermgr.log")
    for name in links:
        assert f"Deleted {layout.windows(box / name)}, which no advertisement calls for here " \
               "now" in said


@pytest.mark.parametrize("folder", ["SMS/inboxes/offerinf.box", "SMS/inboxes/pkginfo.box",
                                    "SMS/inboxes/despoolr.box", "SMSPKG"])
def test_a_folder_the_site_writes_into_planted_as_a_link_is_moved_aside(
        lab: Lab, outside: Outside, tmp_path: Path, folder: str) -> None:
    """Folders that are no component's inbox (offerinf.box, pkginfo.box, SMSPKG), and an
    inbox's parent (despoolr.box above receive): a link to a folder outside the lab was
    written, listed and deleted through (a review found it)."""
    package = create_good_package(lab, tmp_path)
    path = lab.site("P00").root / folder
    shutil.rmtree(path)
    away = outside.root / "away"
    away.mkdir()
    os.symlink(away, path)
    outside.seal()

    report = run(lab)

    assert_ended(report)
    outside.assert_untouched()
    assert list(away.iterdir()) == []
    assert path.is_dir() and not path.is_symlink()
    assert os.path.islink(path.with_name(f".{path.name}.refused"))
    assert_installed_everywhere(lab, package)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_delivered_as_a_payload_is_quarantined_with_its_instruction(
        lab: Lab, outside: Outside, tmp_path: Path) -> None:
    """It was reported missing, and the FIFO stayed in receive (a review found it)."""
    deliver_planted_payload(lab, outside, tmp_path, lambda target, path: os.mkfifo(path))

    assert_ended(run(lab))

    receive = lab.site("P00").receive
    corrupt = receive / "corrupt"
    assert {sni.payload_file_name(REQUEST_ID), sni.sni_file_name(REQUEST_ID)} <= set(
        os.listdir(corrupt))
    assert stat.S_ISFIFO(os.lstat(corrupt / sni.payload_file_name(REQUEST_ID)).st_mode)
    assert "is a FIFO, not a file" in (lab.site("P00").logs / "despool.log").read_text()
    assert nothing_on_any_dp(lab) == []


@pytest.mark.parametrize("planted", ["dp", "dp/REMOTE_DP/smsapps/SMSPKG"])
def test_a_dp_share_reached_through_a_link_is_moved_aside_never_installed_into(
        lab: Lab, outside: Outside, tmp_path: Path, planted: str) -> None:
    """Bug hunt: `P00\\dp` (or the share folder) as a link to a folder outside the lab: the
    package was installed there, and a removal deleted it there."""
    package = create_good_package(lab, tmp_path)
    site = lab.site("P00").root
    shutil.rmtree(site / planted)
    outside.add(f"share/{package.package_id}/KEEP.TXT")
    os.symlink(outside.root / "share", site / planted)
    outside.seal()

    assert_ended(run(lab))

    outside.assert_untouched()
    assert (site / planted).is_dir() and not (site / planted).is_symlink()
    assert any(m.startswith(f"Moved {lab.site('P00').windows(site / planted)} aside to ")
               and "symbolic link" in m for m in log_messages(lab, "P00", "distmgr.log"))
    assert_installed_everywhere(lab, package)


def test_a_dp_share_turned_into_a_link_after_the_install_loses_nothing_outside_on_removal(
        lab: Lab, outside: Outside, tmp_path: Path) -> None:
    package = create_good_package(lab, tmp_path)
    assert_ended(run(lab))
    share = lab.site("P00").root / "dp" / "REMOTE_DP" / "smsapps" / "SMSPKG"
    shutil.rmtree(share)
    outside.add(f"share/{package.package_id}/KEEP.TXT")
    os.symlink(outside.root / "share", share)
    outside.seal()
    console.remove_dp(lab, package.package_id, "P00:REMOTE_DP")

    assert_ended(run(lab))

    outside.assert_untouched()
    assert share.is_dir() and not share.is_symlink()

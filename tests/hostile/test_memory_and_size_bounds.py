"""Memory and size bounds: small files that would make a site server or a tool swell.

The heavy cases run in a child process whose peak resident memory is read from
`getrusage(RUSAGE_CHILDREN)` by a small launcher (so the peak is the child's own, not this
test process's), on Linux, and are marked slow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from sitesrv.admin.lab import Lab
from sitesrv.components import inboxmgr
from sitesrv.components.inboxmgr import MAX_FILE_BYTES, MAX_FOLDER_ENTRIES
from sitesrv.compression.manifest import MAX_MANIFEST_BYTES
from sitesrv.db.pkgstore import open_store
from sitesrv.db.sitedb import Package, SiteDatabase
from sitesrv.files.atomic import Durability
from sitesrv.formats import pkg
from sitesrv.lab.clock import VIRTUAL_EPOCH
from sitesrv.testing import drop, log_messages, query

from .conftest import (
    PKG_ID,
    REMOTE_DP,
    REQUEST_ID,
    assert_ended,
    assert_quarantined,
    carried_package,
    craft_pck,
    deliver,
    instruction,
    manifest_sized_pck,
    many_folders_pck,
    quarantined,
    run,
    zeros_pck,
)

MiB = 1 << 20
GiB = 1 << 30
PEAK_LIMIT = 200 * MiB
linux_only = pytest.mark.skipif(sys.platform != "linux", reason="reads ru_maxrss in KiB (Linux)")

# Runs the command in its arguments and prints its exit status and peak RSS (KiB). This
# launcher is small when it starts the child, so the peak a child inherits at exec is small too.
LAUNCHER = textwrap.dedent("""
    import resource, subprocess, sys
    child = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
    sys.stderr.write(child.stderr)
    print(child.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
""")
SITESRV = "import sys; from sitesrv.cli.main import main; sys.argv[0] = 'sitesrv'; main()"


@attrs.frozen
class Finished:
    status: int
    peak: int  # bytes
    stderr: str


def measured(*args: str, timeout: float = 900) -> Finished:
    """Run `python -c ...` with `args` in a child process; its exit status and peak memory."""
    done = subprocess.run([sys.executable, "-c", LAUNCHER, sys.executable, "-c", *args],
                          capture_output=True, text=True, timeout=timeout, check=True)
    status, peak_kib = done.stdout.split()
    return Finished(int(status), int(peak_kib) * 1024, done.stderr)


def sitesrv(*args: str, timeout: float = 900) -> Finished:
    return measured(SITESRV, *args, timeout=timeout)


@pytest.fixture
def removed_afterwards() -> Iterator[list[Path]]:
    """Folders to delete when the test ends: a failed bound can leave millions of folders or
    gigabytes behind, which pytest would otherwise delete at the start of a later session."""
    folders: list[Path] = []
    yield folders
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


# --- a .PKG of a million sections -----------------------------------------------------------------

def _million_sections() -> bytes:
    """A valid `.PKG` with a million unknown (empty) sections between its own: 8 MB."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    names = (a + b + c + d for a in alphabet for b in alphabet for c in alphabet for d in alphabet)
    padding = "".join(f"[S{next(names)}]\n" for _ in range(1_000_000))
    text = pkg.dumps(pkg.PackageReplication(
        package_id="ZZZ0000A", name="Bloated", source_site="ZZZ", source_version=1,
        last_refresh_time=VIRTUAL_EPOCH, action=pkg.PackageAction.UPDATE, issuing_site="ZZZ"))
    head, end = text.rsplit("[END]", 1)
    return (head + padding + "[END]" + end).encode()


@pytest.mark.slow
@linux_only
def test_a_pkg_of_a_million_sections_is_quarantined_within_200_mb(lab: Lab) -> None:
    """8 MB of `[Sxxxx]` lines in a `.PKG` dropped in P00's distmgr.box\\INCOMING: a reader
    that keeps every section as an object needs hundreds of megabytes."""
    data = _million_sections()
    assert 8_000_000 <= len(data) < 8_100_000
    drop(lab.site("P00").inbox("distmgr.box\\INCOMING"), "BLOATED1.PKG", data)

    done = sitesrv("run", "--step", "--lab", str(lab.root), "--seed", "1", "--max-steps", "3000")

    assert done.status in (0, 3), done.stderr  # idle or waiting, not a timeout or a crash
    assert done.peak < PEAK_LIMIT, f"the site servers peaked at {done.peak / MiB:.0f} MiB"
    assert_quarantined(lab, "P00", "distmgr.box\\INCOMING", "BLOATED1.PKG", "distmgr.log")


# --- containers that expand too far -----------------------------------------------------------

INSTALL = textwrap.dedent("""
    import sys
    from sitesrv.compression import install
    from sitesrv.errors import FormatError
    try:
        install(sys.argv[1], sys.argv[2], sys.argv[3])
    except FormatError as e:
        print(e, file=sys.stderr)
        sys.exit(2)
""")


@pytest.mark.slow
@linux_only
def test_a_pck_of_three_million_entries_is_refused_before_anything_is_written_to_a_dp(
        tmp_path: Path, removed_afterwards: list[Path]) -> None:
    """A valid 11 MB PCK of 3,000,000 empty folders (1.5 GB of tar headers, a 99 MB manifest),
    installed on a DP share."""
    pck = many_folders_pck(tmp_path / f"{PKG_ID}.PCK", 3_000_000)
    share = tmp_path / "dp" / "REMOTE_DP" / "smsapps" / "SMSPKG"
    share.mkdir(parents=True)
    removed_afterwards.append(tmp_path / "dp")
    before = share.stat().st_mtime_ns

    done = measured(INSTALL, str(pck), str(share), PKG_ID)

    assert done.status == 2, f"the install was not refused (exit {done.status}): {done.stderr}"
    assert "Traceback" not in done.stderr
    assert list(share.iterdir()) == [], "something was written to the DP share"
    assert share.stat().st_mtime_ns == before, "something was written to the DP share, then removed"




def _deliver_to_p00(lab: Lab, pck: Path) -> Path:
    """`pck` sent to P00 as ZZZ's Sender sends content for REMOTE_DP, with P00 knowing the
    package (as its Distribution Manager registers it from ZZZ's `.PKG`). Returns the DP's
    share folder."""
    layout = lab.site("P00")
    with SiteDatabase.open(layout.database) as db:
        open_store(layout, db, Durability.NONE).put_package(Package(
            PkgID=PKG_ID, SourceSite="ZZZ", Name="Demo", SourceVersion=1, StoredPkgVersion=0,
            LastRefresh=VIRTUAL_EPOCH))
    data = pck.read_bytes()
    deliver(lab, "P00", REQUEST_ID, data,
            instruction(data, package=carried_package(1, servers=(REMOTE_DP,))))
    return layout.dp_root(layout.site.dp("REMOTE_DP"))


def _installed_on_remote_dp(lab: Lab) -> list[tuple[object, ...]]:
    return query(lab, "P00", "SELECT PkgServer FROM PkgStatus WHERE ID = ? AND Type = 2 AND "
                 "Status = 3", (PKG_ID,))


def test_a_small_package_delivered_to_p00_installs_on_its_dp(lab: Lab, tmp_path: Path) -> None:
    """The delivery the next test makes, with a small package: it installs (so a refusal there
    is the size limit's, not the delivery's)."""
    share = _deliver_to_p00(lab, craft_pck(tmp_path / f"{PKG_ID}.PCK", {"setup.exe": b"MZ"}))

    report = run(lab)

    assert_ended(report)
    assert (share / PKG_ID / "setup.exe").read_bytes() == b"MZ"
    assert _installed_on_remote_dp(lab) != []


@pytest.mark.slow
def test_a_small_pck_that_expands_to_4_gib_is_refused_before_it_is_written_to_a_dp(
        lab: Lab, tmp_path: Path, removed_afterwards: list[Path]) -> None:
    """A valid 4 KB PCK of one 4 GiB file of zeros delivered to P00 for REMOTE_DP; the lab's
    limit on a package's expanded size (`limits: package_size`) is 2 GiB by default."""
    pck = zeros_pck(tmp_path / f"{PKG_ID}.PCK", 4 * GiB)
    assert pck.stat().st_size < MiB
    share = _deliver_to_p00(lab, pck)
    removed_afterwards.append(lab.root)
    before = share.stat().st_mtime_ns

    report = run(lab)

    assert_ended(report)
    assert [p for p in share.rglob("*")] == [], "something was written to the DP share"
    assert share.stat().st_mtime_ns == before, "something was written to the DP share, then removed"
    assert _installed_on_remote_dp(lab) == []


@pytest.mark.slow
@linux_only
def test_listing_a_pck_whose_manifest_is_just_under_the_cap_stays_within_200_mb(
        tmp_path: Path) -> None:
    """A PCK whose manifest is just under the container's manifest cap (about 1.9 million
    empty-file entries): `sitesrv pck list` reads only that manifest."""
    pck = manifest_sized_pck(tmp_path / f"{PKG_ID}.PCK", MAX_MANIFEST_BYTES - 1)
    assert os.path.getsize(pck) < MAX_MANIFEST_BYTES // 10

    done = sitesrv("pck", "list", str(pck))

    assert done.status in (0, 2), done.stderr
    assert "Traceback" not in done.stderr
    assert done.peak < PEAK_LIMIT, f"'sitesrv pck list' peaked at {done.peak / MiB:.0f} MiB"


def test_a_file_over_the_limit_in_a_box_inbox_manager_mirrors_goes_to_corrupt_uncopied(
        lab: Lab) -> None:
    """A sparse 50 MiB file in pkginfo.box became 50 MiB of disk in the CAP (300 MB went the
    same way): a file over 2 MiB goes to the box's corrupt\\ now, and what the CAP had of it
    goes; one of exactly 2 MiB is mirrored."""
    layout = lab.site("S01")
    box, cap = layout.inbox("pkginfo.box"), layout.cap / "pkginfo.box"
    (box / "HUGE.NAL").write_bytes(b"small at first")
    (box / "ZZZ00001.ICO").mkdir()
    assert_ended(run(lab))
    assert (cap / "HUGE.NAL").read_bytes() == b"small at first"
    os.truncate(box / "HUGE.NAL", 50 * MiB)
    with open(box / "ZZZ00001.ICO" / "app.ico", "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)
    with open(box / "EXACT.PKG", "wb") as f:
        f.truncate(MAX_FILE_BYTES)

    assert_ended(run(lab))

    assert quarantined(box) == ["HUGE.NAL", "app.ico"]
    assert (box / "corrupt" / "HUGE.NAL").stat().st_size == 50 * MiB
    assert sorted(os.listdir(cap)) == ["EXACT.PKG", "ZZZ00001.ICO"]
    assert os.listdir(cap / "ZZZ00001.ICO") == []
    assert (cap / "EXACT.PKG").stat().st_size == MAX_FILE_BYTES
    said = log_messages(lab, "S01", "inboxmgr.log")
    for path, size in ((box / "HUGE.NAL", 50 * MiB), (box / "ZZZ00001.ICO" / "app.ico",
                                                      MAX_FILE_BYTES + 1)):
        assert f"Moved the corrupt file {layout.windows(path)} to " \
               f"{layout.windows(box / 'corrupt' / path.name)}: {size} bytes, more than the " \
               "2097152 bytes (2 MiB) a client access point file may have (docs/limits.md)" \
               in said
    assert f"Deleted {layout.unc(cap / 'HUGE.NAL')}, which is no longer in " \
           f"{layout.windows(box)}" in said


def icon_folder(lab: Lab, count: int) -> tuple[Path, Path, Path]:
    """S01's pkginfo.box with a package's icon folder of `count` empty icons, mirrored once
    with one icon; the box, the folder and the CAP's copy of it."""
    layout = lab.site("S01")
    box, cap = layout.inbox("pkginfo.box"), layout.cap / "pkginfo.box"
    icons = box / "ZZZ00001.ICO"
    icons.mkdir(parents=True)
    (icons / "app.ico").write_bytes(b"icon\n")
    assert_ended(run(lab))
    assert os.listdir(cap / icons.name) == ["app.ico"]
    for n in range(1, count):
        (icons / f"{n:05}.ico").write_bytes(b"")
    return box, icons, cap / icons.name


def test_an_icon_folder_of_more_entries_than_the_limit_goes_to_corrupt_whole(lab: Lab) -> None:
    """Nothing bounded the files of a package's .ICO folder: a folder of a million empty files
    became a million copies in the CAP. One over MAX_FOLDER_ENTRIES goes to the box's corrupt\\
    whole, with one line, before a file of it is copied, and the CAP's copy of it is deleted."""
    box, icons, mirrored = icon_folder(lab, MAX_FOLDER_ENTRIES + 1)

    assert_ended(run(lab))

    assert quarantined(box) == ["ZZZ00001.ICO"]
    assert len(os.listdir(box / "corrupt" / icons.name)) == MAX_FOLDER_ENTRIES + 1
    assert not os.path.lexists(mirrored)
    layout = lab.site("S01")
    said = log_messages(lab, "S01", "inboxmgr.log")
    assert (f"Moved the corrupt file {layout.windows(icons)} to "
            f"{layout.windows(box / 'corrupt' / icons.name)}: more than 16384 files and "
            "folders, the most a folder of a client access point inbox (a package's icon "
            "folder) may have (docs/limits.md)") in said
    assert f"Deleted {layout.unc(mirrored)}, which is no longer in {layout.windows(box)}" in said


def test_an_icon_folder_at_the_limit_is_mirrored(lab: Lab, monkeypatch) -> None:
    """At the limit (lowered here, so the test copies a few files, not 16,384) it is
    mirrored whole."""
    monkeypatch.setattr(inboxmgr, "MAX_FOLDER_ENTRIES", 3)
    box, icons, mirrored = icon_folder(lab, 3)

    assert_ended(run(lab))

    assert quarantined(box) == []
    assert sorted(os.listdir(mirrored)) == ["00001.ico", "00002.ico", "app.ico"]

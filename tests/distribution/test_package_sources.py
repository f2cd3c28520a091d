"""Package sources in the Windows form the site servers read them by (docs/hierarchy.md,
package_sources): in SMSPackages.Source, in distmgr.log, and back to the local folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from sitesrv.admin import console
from sitesrv.admin.lab import Lab
from sitesrv.cli.main import cli
from sitesrv.db.sitedb import SiteDatabase
from sitesrv.lab.hierarchy import SourceMapping
from sitesrv.lab.loader import HierarchyError, parse_hierarchy, source_path_problem
from sitesrv.lab.sources import SHARES_FILE, SourceFolders
from sitesrv.testing import LabFactory, log_messages, query, tree_digest, write_source
from tests.conftest import at_once
from tests.distribution.test_distmgr_source import DEFAULT_HIERARCHY, LOCAL

DP = "ZZZ\\dp\\MGMT01\\SMSPKGC$"


def _compressed_from(lab: Lab) -> str:
    line = next(m for m in log_messages(lab, "ZZZ", "distmgr.log")
                if m.startswith("Starting to compress "))
    return line.removeprefix("Starting to compress ").partition(" to F:\\_S ")[0]


def test_a_declared_folder_is_named_as_declared(tmp_path: Path,
                                                sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(DEFAULT_HIERARCHY.read_text() + (
        "\npackage_sources:\n  - {folder: packages, path: 'C:\\packages'}\n"))
    source = write_source(tmp_path / "packages" / "offxp")  # below the folder holding the lab
    pkg_id = console.create_package(lab, "ZZZ", name="Office", source=source,
                                    dps=["ZZZ:MGMT01"])
    assert lab.run_until_idle(seed=1, components=LOCAL).status == "idle"
    assert query(lab, "ZZZ", "SELECT Source, StoredPkgSource FROM SMSPackages") == [
        ("C:\\packages\\offxp", "C:\\packages\\offxp")]
    assert _compressed_from(lab) == "C:\\packages\\offxp", "as Q328651's line names it"
    assert tree_digest(lab.root.joinpath(*DP.split("\\"), pkg_id)) == tree_digest(source)


def test_folders_in_and_beside_the_lab_need_no_declaration(sitesrv_lab: Lab, tmp_path: Path) -> None:
    """The folder that holds the lab is \\\\MGMT01\\Sources; the lab's own, \\\\MGMT01\\PkgSource."""
    source = write_source(tmp_path / "src")
    console.create_package(sitesrv_lab, "ZZZ", name="Demo", source=source, dps=["ZZZ:MGMT01"])
    sitesrv_lab.run_until_idle(seed=1, components=LOCAL)
    assert _compressed_from(sitesrv_lab) == "\\\\MGMT01\\Sources\\src"
    inside = write_source(sitesrv_lab.root / "demo-source")
    console.create_package(sitesrv_lab, "ZZZ", name="In", source=inside, dps=[])
    assert query(sitesrv_lab, "ZZZ", "SELECT Source FROM SMSPackages ORDER BY PkgID") == [
        ("\\\\MGMT01\\Sources\\src",), ("\\\\MGMT01\\PkgSource\\demo-source",)]
    assert not (sitesrv_lab.root / SHARES_FILE).exists(), "no share made"


def test_other_folders_are_shared_on_the_central_site_server(
        sitesrv_lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each by its own name, a second of the same name with `_2`; kept in the lab."""
    first = write_source(tmp_path_factory.mktemp("one") / "Office 2003")
    second = write_source(tmp_path_factory.mktemp("two") / "Office 2003")
    console.create_package(sitesrv_lab, "ZZZ", name="A", source=first, dps=["ZZZ:MGMT01"])
    console.create_package(sitesrv_lab, "ZZZ", name="B", source=second, dps=[])
    assert query(sitesrv_lab, "ZZZ", "SELECT Source FROM SMSPackages ORDER BY PkgID") == [
        ("\\\\MGMT01\\Office_2003",), ("\\\\MGMT01\\Office_2003_2",)]
    shares = json.loads((sitesrv_lab.root / SHARES_FILE).read_text())["shares"]
    assert [s["folder"] for s in shares] == [str(first.resolve()), str(second.resolve())]
    assert sitesrv_lab.run_until_idle(seed=1, components=LOCAL).status == "idle"
    dp = sitesrv_lab.root.joinpath(*DP.split("\\"), "ZZZ00001")
    assert tree_digest(dp) == tree_digest(first)
    console.create_package(sitesrv_lab, "ZZZ", name="C", source=first / "DATA", dps=[])
    assert query(sitesrv_lab, "ZZZ", "SELECT Source FROM SMSPackages WHERE PkgID = "
                                     "'ZZZ00003'") == [("\\\\MGMT01\\Office_2003\\DATA",)]


def test_a_windows_path_is_taken_as_given(sitesrv_lab: Lab, tmp_path: Path) -> None:
    source = write_source(tmp_path / "src")
    pkg_id = console.create_package(sitesrv_lab, "ZZZ", name="D", source=source,
                                    dps=["ZZZ:MGMT01"])
    sitesrv_lab.run_until_idle(seed=1, components=LOCAL)
    write_source(tmp_path / "v2", {"NEW.TXT": b"2"})
    assert console.set_source(sitesrv_lab, pkg_id, "\\\\MGMT01\\Sources\\v2") == \
        "\\\\MGMT01\\Sources\\v2"
    sitesrv_lab.run_until_idle(seed=1, components=LOCAL)
    dp = sitesrv_lab.root.joinpath(*DP.split("\\"), pkg_id)
    assert sorted(p.name for p in dp.iterdir()) == ["NEW.TXT"]
    console.set_source(sitesrv_lab, pkg_id, "\\\\NOSUCH\\share\\x")
    sitesrv_lab.run_until_idle(seed=1, components=LOCAL)
    assert "~The source directory \\\\NOSUCH\\share\\x doesn't exist or the SMS service cannot " \
        "access it, Win32 last error = 3" in log_messages(sitesrv_lab, "ZZZ", "distmgr.log")


@pytest.mark.parametrize(("path", "problem"), [
    ("/srv/packages", "it has a '/', and Windows separates the parts of a path with '\\'"),
    ("C:", "the drive C: must be followed by '\\' (C:\\...)"),
    ("packages", "it starts with neither a drive letter nor \\\\SERVER\\SHARE"),
    ("\\\\MGMT01", "it names a server but no share"),
    ("\\\\MGMT 01\\x", "'MGMT 01' is not a server name"),
    ("C:\\a\\..\\b", "it has a '..' part; name the folder without '.' or '..' parts"),
    ("\\\\MGMT01\\share\\.\\x", "it has a '.' part"),
    ("C:\\a\\\\b", "it has an empty part (two '\\' in a row)"),
    ("C:\\a\\b?c", "its part 'b?c' has ?, which Windows does not allow in a name"),
])
def test_a_path_that_is_not_a_windows_folder_is_refused_naming_why(path: str, problem: str) -> None:
    text = DEFAULT_HIERARCHY.read_text() + (
        f"\npackage_sources:\n  - folder: packages\n    path: '{path}'\n")
    with pytest.raises(HierarchyError) as e:
        parse_hierarchy(text)
    # The path as written in the file: one backslash each, not repr's two.
    assert str(e.value).startswith(f"hierarchy.yaml: package_sources[0].path: '{path}' is not a "
                                   f"Windows path to a folder: {problem}")


@pytest.mark.parametrize(("written", "problem"), [
    ('"C:\\\\src\\x01\\nline2"', "its part 'src\\x01\\nline2' has \\x01 \\x0a, which Windows "
     "does not allow in a name (none of :*?\"<>|, nor a control character)"),
    ('"\\\\\\\\MGMT\\t01\\\\x"', "'MGMT\\t01' is not a server name (1 to 15 characters, none of "
     "them a space, a control character or"),
])
def test_a_control_character_in_a_source_path_is_refused_shown_escaped(
        written: str, problem: str) -> None:
    """A bug hunt found one taken: distmgr.log then split a line at the newline."""
    text = DEFAULT_HIERARCHY.read_text() + (
        f"\npackage_sources:\n  - folder: packages\n    path: {written}\n")
    with pytest.raises(HierarchyError) as e:
        parse_hierarchy(text)
    assert problem in str(e.value)
    assert not any(ord(c) < 32 for c in str(e.value))


PATH_PIECES = st.lists(st.sampled_from(["C:", "\\", "\\\\", "/", ".", "..", "a", "MGMT01", " ",
                                        "?", "x:", "1234567890123456"]), max_size=8).map("".join)
OLD_RULE = re.compile(r"(?:[A-Za-z]:(?=\\)|\\\\[^\\/:*?\"<>| \x00-\x1f]{1,15}"
                      r"\\[^\\/:*?\"<>|\x00-\x1f]+)(?:\\[^\\/:*?\"<>|\x00-\x1f]+)*\\?")


@given(path=PATH_PIECES | st.text(max_size=12))
def test_a_source_path_is_refused_with_a_reason_exactly_when_it_is_no_windows_folder(
        path: str) -> None:
    """The reasons are a complete account of the rule the loader has always applied: a drive or
    share path whose parts are plain names (no control character either), no '.' or '..'."""
    accepted = bool(OLD_RULE.fullmatch(path)) and not any(
        p in (".", "..") for p in path.split("\\"))
    assert (source_path_problem(path) is None) == accepted


NAME = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=12)


@given(parts=st.lists(NAME, max_size=4), share=NAME)
def test_a_folder_and_its_windows_path_name_each_other(parts: list[str], share: str) -> None:
    root = Path("/srv/lab-parent")
    folders = SourceFolders((SourceMapping(folder="/srv/packages", path=f"\\\\SRV\\{share}"),
                             SourceMapping(folder=str(root), path="\\\\MGMT01\\PkgSource")),
                            "MGMT01")
    for base, prefix in ((Path("/srv/packages"), f"\\\\SRV\\{share}"),
                         (root, "\\\\MGMT01\\PkgSource")):
        folder = base.joinpath(*parts)
        windows = folders.windows(folder)
        assert windows is not None and "/" not in windows and windows.startswith(prefix)
        assert folders.local(windows) == folder
        assert folders.local(prefix.lower() + windows[len(prefix):]) == folder, \
            "a share's name compares without case, as Windows compares it"
    assert folders.local(f"\\\\SRV\\{share}\\..\\etc") is None


def test_package_show_gives_both_forms_of_the_source(sitesrv_lab: Lab, tmp_path: Path) -> None:
    source = write_source(tmp_path / "src")
    pkg_id = console.create_package(sitesrv_lab, "ZZZ", name="Demo", source=source, dps=[])
    result = CliRunner().invoke(cli, ["package", "show", pkg_id, "--lab", str(sitesrv_lab.root)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:3] == [
        f"Package {pkg_id}  Demo  (source site ZZZ)",
        "  Source            \\\\MGMT01\\Sources\\src",
        f"  Local folder      {source.resolve()}"]
    missing = CliRunner().invoke(cli, ["package", "show", "ZZZ00099", "--lab",
                                       str(sitesrv_lab.root)])
    assert missing.exit_code == 2 and "is not known" in missing.output


def test_a_local_path_an_older_sitesrv_wrote_is_read_and_logged_in_windows_form(
        sitesrv_lab: Lab, tmp_path: Path) -> None:
    source = write_source(tmp_path / "src")
    pkg_id = console.create_package(sitesrv_lab, "ZZZ", name="Old", source=source, dps=[])
    sitesrv_lab.run_until_idle(seed=1, components=LOCAL)
    with SiteDatabase.open(sitesrv_lab.site("ZZZ").database) as db:
        db.execute_user_sql(f"UPDATE SMSPackages SET Source = '{source}'")
    console.update_package(sitesrv_lab, pkg_id)
    sitesrv_lab.run_until_idle(seed=1, components=LOCAL)
    compressed = [m for m in log_messages(sitesrv_lab, "ZZZ", "distmgr.log")
                  if m.startswith("Starting to compress ")]
    assert [m.partition(" to F:")[0] for m in compressed] == [
        "Starting to compress \\\\MGMT01\\Sources\\src"] * 2
    assert query(sitesrv_lab, "ZZZ", "SELECT SourceVersion FROM SMSPackages") == [(2,)]


def test_two_consoles_sharing_folders_at_once_keep_every_share(
        sitesrv_lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Read, add, replace under the shares file's lock: no share is lost, none is named twice,
    and no writer finds its temp file gone."""
    outside = tmp_path_factory.mktemp("sources")  # not beside the lab: shared one by one
    folders = [[outside / f"{who}{n}" / "Src" for n in range(25)] for who in ("a", "b")]
    for folder in (f for mine in folders for f in mine):
        folder.mkdir(parents=True)

    def share_all(mine: list[Path]) -> None:
        for folder in mine:  # each as a console does: the mappings as it found them
            SourceFolders.of(sitesrv_lab.root, sitesrv_lab.hierarchy).share(
                sitesrv_lab.root, folder, sitesrv_lab.hierarchy.durability)

    at_once(share_all, [(mine,) for mine in folders])
    shares = json.loads((sitesrv_lab.root / SHARES_FILE).read_text())["shares"]
    assert sorted(s["folder"] for s in shares) == sorted(
        str(f.resolve()) for mine in folders for f in mine)
    assert len({s["path"].upper() for s in shares}) == 50

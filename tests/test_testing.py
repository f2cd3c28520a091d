"""sitesrv.testing and the pytest plugin, as a lab engineer's own tests use them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sitesrv import testing
from sitesrv.admin.lab import Lab
from sitesrv.errors import UserError
from sitesrv.lab.loader import HierarchyError
from sitesrv.testing import (
    LabFactory,
    assert_in_order,
    build_lab,
    drop,
    events,
    files,
    inbox,
    log_lines,
    log_messages,
    query,
    running,
    tree_digest,
    wait_for,
    write_source,
)
from tests.conftest import DEFAULT_HIERARCHY, REPO

ONE_SITE = {"sites": [{"code": "AAA", "server": "SRV1", "drive": "E", "package_drive": "F"}]}
ONE_SITE_TEXT = "sites:\n  - {code: AAA, server: SRV1, drive: E, package_drive: F}\n"


def test_every_helper_is_listed_where_the_docs_list_the_modules() -> None:
    row = next(line for line in (REPO / "docs" / "architecture.md").read_text().splitlines()
               if line.startswith("| `testing.py` |"))
    assert [name for name in testing.__all__ if f"`{name}`" not in row] == []


# --- building labs ----------------------------------------------------------------------------


def test_the_default_lab_is_the_packaged_hierarchy(tmp_path: Path) -> None:
    lab = build_lab(tmp_path / "lab")
    assert [s.code for s in lab.hierarchy.sites] == ["ZZZ", "P00", "S01"]
    assert (lab.root / "hierarchy.yaml").read_text() == DEFAULT_HIERARCHY.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab"]  # nothing written beside it


@pytest.mark.parametrize("form", ["text", "dict", "file"])
def test_a_lab_from_text_a_dict_or_a_file(tmp_path: Path, form: str) -> None:
    source = tmp_path / "mine.yaml"
    source.write_text(ONE_SITE_TEXT)
    hierarchy = {"text": ONE_SITE_TEXT, "dict": ONE_SITE, "file": source}[form]
    lab = build_lab(tmp_path / "lab", hierarchy)
    assert [s.code for s in lab.hierarchy.sites] == ["AAA"]
    assert (lab.root / "AAA" / "SMS" / "site.db").is_file()
    assert Lab.open(lab.root).hierarchy.sites == lab.hierarchy.sites
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == (["lab", "mine.yaml"] if form == "file" else
                       ["lab", "lab-hierarchy.yaml", "mine.yaml"])


def test_a_refused_hierarchy_names_the_file_it_was_saved_as(tmp_path: Path) -> None:
    with pytest.raises(HierarchyError, match="parnet") as refused:
        build_lab(tmp_path / "lab", "sites:\n  - {code: AAA, server: SRV1, parnet: X}\n")
    assert refused.value.file == str(tmp_path / "lab-hierarchy.yaml")
    assert "parnet" in (tmp_path / "lab-hierarchy.yaml").read_text()


def test_a_lab_is_never_built_over_an_existing_folder(tmp_path: Path) -> None:
    build_lab(tmp_path / "lab")
    with pytest.raises(FileExistsError, match="build_lab makes a new lab"):
        build_lab(tmp_path / "lab", ONE_SITE_TEXT)
    assert Lab.open(tmp_path / "lab").hierarchy.sites[0].code == "ZZZ"  # untouched
    (tmp_path / "empty").mkdir()
    assert build_lab(tmp_path / "empty").root == tmp_path / "empty"


def test_a_file_name_given_as_a_string_is_that_file(tmp_path: Path) -> None:
    source = tmp_path / "mine.yaml"
    source.write_text(ONE_SITE_TEXT)
    assert build_lab(tmp_path / "lab", str(source)).hierarchy.sites[0].code == "AAA"
    assert not (tmp_path / "lab-hierarchy.yaml").exists()  # used where it is


def test_a_string_that_is_no_file_and_no_yaml_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="neither a hierarchy file nor YAML"):
        build_lab(tmp_path / "lab", "no-such-hierarchy.yaml")
    assert not (tmp_path / "lab").exists()


def test_a_source_folder_holds_the_same_bytes_every_time(tmp_path: Path) -> None:
    a, b = write_source(tmp_path / "a"), write_source(tmp_path / "b")
    assert sorted(tree_digest(a)) == ["DATA/PAYLOAD.BIN", "SETUP.INI"]
    assert tree_digest(a) == tree_digest(b)
    assert (a / "DATA" / "PAYLOAD.BIN").stat().st_size == 200_000
    write_source(b, {"SETUP.INI": b"v2", "NEW/X.TXT": b"x"})
    assert (b / "SETUP.INI").read_bytes() == b"v2" and (b / "NEW" / "X.TXT").read_bytes() == b"x"
    assert tree_digest(a) != tree_digest(b)


# --- the plugin's fixtures --------------------------------------------------------------------


def test_the_factory_builds_labs_by_name_below_the_test_folder(
        tmp_path: Path, sitesrv_lab_factory: LabFactory) -> None:
    default = sitesrv_lab_factory()
    other = sitesrv_lab_factory(ONE_SITE, name="other")
    assert (default.root, other.root) == (tmp_path / "lab", tmp_path / "other")
    assert [s.code for s in other.hierarchy.sites] == ["AAA"]
    with pytest.raises(FileExistsError):
        sitesrv_lab_factory(name="other")


def test_a_users_conftest_picks_the_hierarchy(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(f"""
        import pytest

        @pytest.fixture
        def sitesrv_hierarchy():
            return {ONE_SITE!r}
    """)
    pytester.makepyfile(textwrap.dedent("""
        from sitesrv.testing import drop, inbox, log_messages

        def test_my_tool(sitesrv_lab, tmp_path):
            assert sitesrv_lab.root == tmp_path / "lab"
            assert [s.code for s in sitesrv_lab.hierarchy.sites] == ["AAA"]
            box = inbox(sitesrv_lab, "AAA", "distmgr.box\\\\INCOMING")
            assert drop(box, "X.PKG", b"x").read_bytes() == b"x"
            assert log_messages(sitesrv_lab, "AAA", "distmgr.log") == []

        def test_more_labs(sitesrv_lab_factory):
            assert [s.code for s in sitesrv_lab_factory().hierarchy.sites] == ["AAA"]
            built = sitesrv_lab_factory("sites:\\n  - {code: BBB, server: SRV2}\\n", name="b")
            assert [s.code for s in built.hierarchy.sites] == ["BBB"]
    """))
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(passed=2)


# --- putting files in and reading them back ---------------------------------------------------


def test_a_dropped_file_appears_whole_and_leaves_no_temp(lab: Lab) -> None:
    box = inbox(lab, "P00", "distmgr.box\\INCOMING")
    assert box == lab.root / "P00" / "SMS" / "inboxes" / "distmgr.box" / "INCOMING"
    assert inbox(lab.root, "P00", "distmgr.box\\INCOMING") == box  # the lab's folder will do
    assert drop(box, "A.PKG", b"package") == box / "A.PKG"
    assert files(box) == ["A.PKG"] and (box / "A.PKG").read_bytes() == b"package"
    with pytest.raises(FileNotFoundError):
        drop(box / "no such folder", "B.PKG", b"")
    with pytest.raises(UserError, match="QQQ"):
        inbox(lab, "QQQ", "distmgr.box")


@pytest.mark.parametrize(("spelt", "folder"), [
    ("DISTMGR.BOX\\incoming", "distmgr.box/INCOMING"),
    ("schedule.box/outboxes/lan", "schedule.box/outboxes/LAN"),
    ("\\Schedule.Box\\uid\\", "schedule.box/UID"),
    ("SITECTRL.BOX\\INCOMING", "sitectrl.box/incoming"),  # only on disk, as the template has it
    ("COURSEND.BOX\\Outgoing", "coursend.box/outgoing"),  # made when first needed
])
def test_an_inbox_named_in_any_case_is_its_real_folder(lab: Lab, spelt: str, folder: str) -> None:
    # As Windows finds `DISTMGR.BOX\INCOMING`: the folder of the lab, never one that is not there.
    box = inbox(lab, "P00", spelt)
    assert box == lab.root.joinpath("P00", "SMS", "inboxes", *folder.split("/"))
    assert box.is_dir() or folder == "coursend.box/outgoing"
    drop(box.parent, ".probe", b"")  # the parent exists in every case


def test_an_inbox_the_site_has_not_is_refused_naming_those_it_has(lab: Lab) -> None:
    (lab.root / "P00" / "SMS" / "inboxes" / "toy.box").mkdir()  # a folder a person made counts
    assert inbox(lab, "P00", "TOY.BOX") == lab.root / "P00" / "SMS" / "inboxes" / "toy.box"
    with pytest.raises(UserError) as refused:
        inbox(lab, "P00", "distmgr.box\\INCOMIN")
    message = str(refused.value)
    assert 'Site P00 has no inbox "distmgr.box\\INCOMIN"' in message
    assert "distmgr.box\\INCOMING, " in message and "toy.box" in message
    assert ".work" not in message and "corrupt" not in message


def test_files_shows_leftovers_but_not_placeholders_or_folders(tmp_path: Path) -> None:
    for name in (".keep", ".A.PKG.P00-X.000001.tmp", "B.TMP", "C.PKG"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / ".work").mkdir()
    (tmp_path / "corrupt").mkdir()
    assert files(tmp_path) == [".A.PKG.P00-X.000001.tmp", "B.TMP", "C.PKG"]
    assert files(tmp_path, "*.PKG") == ["C.PKG"]
    assert files(tmp_path / "missing") == []


def write_log(lab: Lab, text: str) -> None:
    lab.site("ZZZ").log("toy.log").write_text(text, encoding="utf-8")


TRAILER = "$$<SMS_TOY><06-04-2007 04:00:0{n}.000+300><thread=4660 (0x1234)>"


def test_log_lines_are_parsed_and_multi_line_messages_kept_whole(lab: Lab) -> None:
    assert log_lines(lab, "ZZZ", "toy.log") == []  # not written yet
    write_log(lab, f"first  {TRAILER.format(n=1)}\nsecond, line 1\nline 2  {TRAILER.format(n=2)}\n")
    lines = log_lines(lab, "ZZZ", "toy.log")
    assert [(x.text, x.component, x.timestamp, x.thread) for x in lines] == [
        ("first", "SMS_TOY", "06-04-2007 04:00:01.000", 0x1234),
        ("second, line 1\nline 2", "SMS_TOY", "06-04-2007 04:00:02.000", 0x1234)]
    assert log_messages(lab.root, "ZZZ", "toy.log") == ["first", "second, line 1\nline 2"]


def test_a_log_ending_in_a_torn_line_is_refused(lab: Lab) -> None:
    write_log(lab, f"first  {TRAILER.format(n=1)}\nsecond, cut off  $$<SMS_TO")
    with pytest.raises(ValueError, match=r"toy.log ends in text that is not an SMS log line: "
                                         r"'second, cut off  \$\$<SMS_TO'"):
        log_lines(lab, "ZZZ", "toy.log")


def test_assert_in_order_passes_over_lines_between() -> None:
    assert_in_order(["a", "x", "b", "y", "c"], ["a", "b", "c"])
    assert_in_order(["a"], [])


def test_a_line_out_of_order_fails_with_the_nearest_lines() -> None:
    log = ["Start adding package ZZZ00001...", "Compressing", "Sent package ZZZ00001 to P00",
           "Stored package ZZZ00001"]
    with pytest.raises(AssertionError) as failed:
        assert_in_order(log, ["Sent package ZZZ00001 to P00", "Start adding package ZZZ00001...",
                              "Stored package ZZZ00001"])
    assert str(failed.value).splitlines() == [
        "missing (after 1 expected message(s) found in order, searching from line 4 of 4): "
        "'Start adding package ZZZ00001...'",
        "  it is line 1, before the previous expected one",
        "  most similar after that point:",
        "    line 4: 'Stored package ZZZ00001'",
        "  the lines from that point:",
        "    line 4: 'Stored package ZZZ00001'",
    ]


def test_a_misspelt_line_fails_with_the_most_similar_ones() -> None:
    with pytest.raises(AssertionError) as failed:
        assert_in_order(["~Stored Package ZZZ00001. Stored Package Version = 1", "done"],
                        ["~Stored Package ZZZ00001. Stored Package Version = 2"])
    assert "  most similar after that point:\n    line 1: '~Stored Package ZZZ00001. " \
           "Stored Package Version = 1'" in str(failed.value)


def test_events_are_filtered_by_name_and_fields(lab: Lab) -> None:
    lab.layout.events.write_text(
        '{"time": "2007-06-04T09:00:00.000Z", "event": "sent", "site": "ZZZ", '
        '"component": "SMS_X", "to": "P00"}\n'
        '{"time": "2007-06-04T09:00:01.000Z", "event": "sent", "site": "ZZZ", '
        '"component": "SMS_X", "to": "S01"}\n'
        '{"time": "2007-06-04T09:00:02.000Z", "event": "stored", "site": "P00", '
        '"component": "SMS_Y"}\n')
    assert [e["event"] for e in events(lab)] == ["sent", "sent", "stored"]
    assert [e["to"] for e in events(lab.root, "sent")] == ["P00", "S01"]
    assert [e["time"] for e in events(lab, "sent", to="S01")] == ["2007-06-04T09:00:01.000Z"]
    assert events(lab, "sent", to="ZZZ") == []
    with pytest.raises(UserError, match="There is no lab at"):
        events(lab.root / "ZZZ")


def test_query_reads_a_primary_and_explains_a_secondary(lab: Lab) -> None:
    assert query(lab, "ZZZ", "SELECT SiteCode FROM Sites ORDER BY SiteCode") == [
        ("P00",), ("S01",), ("ZZZ",)]
    assert query(lab, "P00", "SELECT SiteServer FROM Sites WHERE SiteCode = ?", ("S01",)) == [
        ("SEC01",)]
    with pytest.raises(UserError, match="secondary sites keep no database"):
        query(lab, "S01", "SELECT 1")


def test_wait_for_returns_when_the_condition_holds_and_fails_naming_it() -> None:
    polls = iter([False, False, True])
    wait_for(lambda: next(polls), what="the third poll")
    with pytest.raises(AssertionError, match="timed out after 0.05 s waiting for the file"):
        wait_for(lambda: False, timeout=0.05, what="the file")


def test_a_rebuilt_lab_is_read_with_its_new_hierarchy(tmp_path: Path) -> None:
    # Readers remember an opened lab; a lab rebuilt in the same folder must not read as the old.
    lab = build_lab(tmp_path / "lab")
    assert inbox(lab.root, "ZZZ", "pkginfo.box").is_dir()
    (tmp_path / "one.yaml").write_text(ONE_SITE_TEXT)
    Lab.init(lab.root, tmp_path / "one.yaml", force=True)
    assert inbox(lab.root, "AAA", "pkginfo.box").is_dir()
    with pytest.raises(UserError):
        inbox(lab.root, "ZZZ", "pkginfo.box")


def test_a_half_built_lab_is_refused_with_the_way_to_finish_it(lab: Lab) -> None:
    assert events(lab.root) == []
    (lab.root / ".building").touch()  # as a 'sitesrv init' stopped half way leaves it
    with pytest.raises(UserError, match="half built"):
        events(lab.root)


@pytest.mark.live_fs
def test_a_running_lab_finds_dropped_files_and_stops_with_the_block(lab: Lab) -> None:
    with running(lab):
        assert sorted(e["site"] for e in events(lab, "server_started")) == ["P00", "S01", "ZZZ"]
        box = inbox(lab, "ZZZ", "distmgr.box")
        drop(box, "ZZZ00042.PKN", b"")  # no [END] record: Distribution Manager refuses it
        wait_for(lambda: files(box / "corrupt") == ["ZZZ00042.PKN", "quarantine.log"], what="the quarantine")
    assert files(box) == []
    assert sorted(e["site"] for e in events(lab, "server_stopped")) == ["P00", "S01", "ZZZ"]
    assert not list(lab.root.glob("*/SMS/state/server.lock")), "every lock was given back"


@pytest.mark.live_fs
def test_a_lab_running_elsewhere_is_refused_and_nothing_stays_running(lab: Lab) -> None:
    with running(lab, sites=["S01"]):
        with pytest.raises(UserError, match="Site S01's server is already running"), \
                running(lab):
            pass  # never reached
        assert [p.parts[-4] for p in lab.root.glob("*/SMS/state/server.lock")] == ["S01"]

"""`sitesrv init`, `hierarchy` and `sql` as a lab engineer meets them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitesrv.admin.lab import Lab
from sitesrv.cli.main import cli
from sitesrv.testing import drop
from tests.conftest import DEFAULT_HIERARCHY

EXPECTED_SITE_TREE = [
    "SMS/inboxes/distmgr.box/INCOMING",
    "SMS/inboxes/replmgr.box/outbound/high",
    "SMS/inboxes/replmgr.box/outbound/normal",
    "SMS/inboxes/replmgr.box/outbound/low",
    "SMS/inboxes/replmgr.box/incoming",
    "SMS/inboxes/replmgr.box/process",
    "SMS/inboxes/replmgr.box/ready",
    "SMS/inboxes/replmgr.box/history",
    "SMS/inboxes/schedule.box/UID",
    "SMS/inboxes/schedule.box/tosend",
    "SMS/inboxes/schedule.box/requests",
    "SMS/inboxes/schedule.box/outboxes/LAN",
    "SMS/inboxes/schedule.box/outboxes/COURIER",
    "SMS/inboxes/despoolr.box/receive",
    "SMS/inboxes/pkginfo.box",
    "SMS/inboxes/offerinf.box",
    "SMS/inboxes/offermgr.box/INCOMING",
    "SMS/inboxes/colleval.box",
    "SMS/inboxes/statmgr.box/statmsgs",
    "SMS/inboxes/coursend.box",
    "SMS/Logs",
    "SMS/state",
    "SMSPKG",
]


def run(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def init_lab(tmp_path: Path) -> Path:
    lab = tmp_path / "lab"
    code, out, _ = run("init", "--lab", str(lab), "--hierarchy", str(DEFAULT_HIERARCHY))
    assert code == 0, out
    return lab


def test_init_builds_the_documented_tree(tmp_path: Path) -> None:
    lab = init_lab(tmp_path)
    assert (lab / "hierarchy.yaml").read_text() == DEFAULT_HIERARCHY.read_text()
    assert (lab / "events.jsonl").is_file() and (lab / "media").is_dir()
    for site in ("ZZZ", "P00", "S01"):
        for rel in EXPECTED_SITE_TREE:
            assert (lab / site / rel).is_dir(), f"{site}/{rel}"
        assert (lab / site / f"CAP_{site}" / "pkginfo.box").is_dir()
        assert (lab / site / f"CAP_{site}" / "offerinf.box").is_dir()
        uid = sorted(p.name for p in (lab / site / "SMS/inboxes/schedule.box/UID").iterdir())
        assert uid == ["00000001.job", "00000001.req"]
        assert not list((lab / site).rglob(".keep"))
    assert (lab / "ZZZ/dp/MGMT01/SMSPKGC$").is_dir()
    assert (lab / "P00/dp/REMOTE_DP/smsapps/SMSPKG").is_dir()
    assert (lab / "S01/dp/SEC01/SMSPKGC$").is_dir()
    assert (lab / "ZZZ/SMS/site.db").is_file() and (lab / "P00/SMS/site.db").is_file()
    assert not (lab / "S01/SMS/site.db").exists()


def test_init_again_keeps_data_and_says_so(tmp_path: Path) -> None:
    lab = init_lab(tmp_path)
    marker = lab / "P00/SMS/inboxes/distmgr.box/INCOMING/Z3AWAX9I.PKG"
    marker.write_text("keep me")
    code, out, _ = run("init", "--lab", str(lab), "--hierarchy", str(DEFAULT_HIERARCHY))
    assert code == 0
    assert "already exists; kept its data" in out
    assert marker.read_text() == "keep me"


def test_init_force_rebuilds(tmp_path: Path) -> None:
    lab = init_lab(tmp_path)
    marker = lab / "P00/SMS/inboxes/distmgr.box/INCOMING/Z3AWAX9I.PKG"
    marker.write_text("gone")
    code, out, _ = run("init", "--lab", str(lab), "--hierarchy", str(DEFAULT_HIERARCHY),
                       "--force")
    assert code == 0 and "Built lab" in out
    assert not marker.exists()


def test_init_force_refuses_a_lab_whose_server_runs(tmp_path: Path) -> None:
    from sitesrv.runtime.lock import SiteLock

    lab = init_lab(tmp_path)
    marker = lab / "P00/SMS/inboxes/distmgr.box/INCOMING/Z3AWAX9I.PKG"
    marker.write_text("kept")
    lock = SiteLock(Lab.open(lab).site("P00"))  # held by this very process, which runs
    lock.acquire()
    try:
        code, _, err = run("init", "--lab", str(lab), "--hierarchy", str(DEFAULT_HIERARCHY),
                           "--force")
    finally:
        lock.release()
    assert code == 2
    assert "Site P00's server is running in the lab" in err and "Nothing was deleted" in err
    assert marker.read_text() == "kept"
    code, _, _ = run("init", "--lab", str(lab), "--hierarchy", str(DEFAULT_HIERARCHY), "--force")
    assert code == 0 and not marker.exists()  # once it stopped


@pytest.mark.parametrize("where", [".", "ZZZ/SMS"])
def test_init_force_refuses_to_delete_the_folder_it_runs_in(
        tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = init_lab(tmp_path)
    monkeypatch.chdir(lab / where)
    code, _, err = run("init", "--lab", str(lab), "--hierarchy", str(DEFAULT_HIERARCHY),
                       "--force")
    assert code == 2 and "would delete the folder it runs in" in err
    assert (lab / "hierarchy.yaml").is_file() and (lab / "ZZZ/SMS/site.db").is_file()


def test_init_notes_a_changed_hierarchy(tmp_path: Path) -> None:
    lab = init_lab(tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text(DEFAULT_HIERARCHY.read_text().replace("profile: lab", "profile: sms2003"))
    code, out, _ = run("init", "--lab", str(lab), "--hierarchy", str(other))
    assert code == 0 and "differs from the lab's own hierarchy.yaml" in out


def test_init_again_without_a_hierarchy_file_keeps_the_labs_own_and_notes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(DEFAULT_HIERARCHY.read_text().replace("profile: lab", "profile: sms2003"))
    lab = tmp_path / "lab"
    assert run("init", "--lab", str(lab), "--hierarchy", str(other))[0] == 0
    monkeypatch.chdir(tmp_path)  # no ./hierarchy.yaml: not sitesrv's default, the lab's own
    code, out, _ = run("init", "--lab", str(lab))
    assert code == 0 and "kept its data" in out and "Note:" not in out


def test_init_notes_an_edited_hierarchy_yaml_in_the_folder_it_runs_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # ./hierarchy.yaml is the documented input: an edit to it is news even when not named.
    monkeypatch.chdir(tmp_path)
    here = tmp_path / "hierarchy.yaml"
    here.write_text(DEFAULT_HIERARCHY.read_text())
    code, out, _ = run("init", "--lab", "lab")
    assert code == 0 and out == "Built lab lab from hierarchy.yaml with sites ZZZ, P00, S01.\n"
    here.write_text(DEFAULT_HIERARCHY.read_text().replace("profile: lab", "profile: sms2003"))
    code, out, _ = run("init", "--lab", "lab")
    assert code == 0 and out.splitlines() == [
        "Lab lab already exists; kept its data and its own hierarchy.yaml (sites ZZZ, P00, S01).",
        "Note: hierarchy.yaml differs from the lab's own hierarchy.yaml; the lab still uses its "
        "own. Rebuild with --force to use the new one.",
    ]
    code, out, _ = run("init", "--lab", "lab", "--force")
    assert code == 0 and out.startswith("Built lab lab from hierarchy.yaml ")
    assert (tmp_path / "lab/hierarchy.yaml").read_text() == here.read_text()


def test_init_force_without_a_hierarchy_file_rebuilds_from_the_labs_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # docs/hierarchy.md tells users to edit LAB/hierarchy.yaml; --force must not drop that.
    lab = init_lab(tmp_path)
    edited = (lab / "hierarchy.yaml").read_text().replace("profile: lab", "profile: sms2003")
    assert edited != DEFAULT_HIERARCHY.read_text()
    (lab / "hierarchy.yaml").write_text(edited)
    marker = lab / "P00/SMS/inboxes/distmgr.box/INCOMING/Z3AWAX9I.PKG"
    marker.write_text("gone")
    monkeypatch.chdir(tmp_path)  # no ./hierarchy.yaml
    code, out, _ = run("init", "--lab", "lab", "--force")
    assert code == 0
    assert out == "Built lab lab from its own lab/hierarchy.yaml with sites ZZZ, P00, S01.\n"
    assert (lab / "hierarchy.yaml").read_text() == edited and not marker.exists()


def test_init_force_refuses_a_labs_own_hierarchy_it_cannot_read_and_deletes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = init_lab(tmp_path)
    (lab / "hierarchy.yaml").write_text("sites: [\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = run("init", "--lab", "lab", "--force")
    assert code == 2 and err.startswith("sitesrv: lab/hierarchy.yaml: ")
    assert "Or pass --hierarchy FILE to rebuild the lab from another file; nothing was " \
        "deleted." in err
    assert (lab / "ZZZ/SMS/site.db").is_file()


def test_init_names_sitesrvs_default_when_it_builds_from_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sitesrv.admin.lab import default_hierarchy_file

    monkeypatch.chdir(tmp_path)
    code, out, _ = run("init", "--lab", "lab")
    assert code == 0 and out == (f"Built lab lab from sitesrv's default hierarchy "
                                 f"({default_hierarchy_file()}) with sites ZZZ, P00, S01.\n")


def test_init_refuses_a_folder_that_is_not_a_lab(tmp_path: Path) -> None:
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "precious.txt").write_text("x")
    code, _, err = run("init", "--lab", str(tmp_path / "stuff"), "--hierarchy",
                       str(DEFAULT_HIERARCHY), "--force")
    assert code == 2
    assert "is not empty and is not a lab" in err
    assert (tmp_path / "stuff" / "precious.txt").exists()


def test_init_after_one_killed_while_writing_the_hierarchy_builds_the_lab(tmp_path: Path) -> None:
    # The copy is written under a temp name and renamed: a killed init leaves only the temp,
    # never a half-written hierarchy.yaml, and the next init takes the folder as its own.
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / ".hierarchy.yaml.tmp").write_text("sites:\n  - {code: ZZ")
    code, out, err = run("init", "--lab", str(lab), "--hierarchy", str(DEFAULT_HIERARCHY))
    assert code == 0, err
    assert "Built lab" in out
    assert (lab / "hierarchy.yaml").read_text() == DEFAULT_HIERARCHY.read_text()
    assert not (lab / ".hierarchy.yaml.tmp").exists()


def stopped_init(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while `sitesrv init` builds the first site database."""
    def interrupted(self: Lab, site: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(Lab, "_create_database", interrupted)
        with pytest.raises(KeyboardInterrupt):
            Lab.init(lab, DEFAULT_HIERARCHY)


def test_a_lab_whose_init_was_stopped_is_refused_until_init_finishes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = tmp_path / "lab"
    stopped_init(lab, monkeypatch)
    assert (lab / "hierarchy.yaml").is_file() and not (lab / "ZZZ/SMS/site.db").exists()
    code, _, err = run("status", "--lab", str(lab))
    assert code == 2
    assert err == (f"sitesrv: The lab at {lab} is half built: the 'sitesrv init' that built it "
                   f"was stopped before it finished. Run 'sitesrv init --lab {lab}' again; it "
                   "keeps what is there and builds the rest.\n")
    code, out, _ = run("init", "--lab", str(lab), "--hierarchy", str(DEFAULT_HIERARCHY))
    assert code == 0
    assert out == (f"Finished building lab {lab}: its first build was stopped (sites ZZZ, P00, "
                   "S01).\n")
    assert (lab / "ZZZ/SMS/site.db").is_file() and (lab / "P00/SMS/site.db").is_file()
    assert Lab.open(lab).hierarchy.central.code == "ZZZ"
    assert not (lab / ".building").exists()


def test_demo_finishes_a_lab_whose_first_build_was_stopped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = tmp_path / "lab"
    stopped_init(lab, monkeypatch)
    code, out, err = run("demo", "--lab", str(lab))
    assert code == 0, err
    assert out.startswith(f"Finished building lab {lab}: its first build was stopped.\n")
    assert "Idle after" in out and not (lab / ".building").exists()


def test_hierarchy_prints_sites_servers_dps_and_addresses(tmp_path: Path) -> None:
    lab = init_lab(tmp_path)
    code, out, _ = run("hierarchy", "--lab", str(lab))
    assert code == 0
    lines = out.splitlines()
    assert any(line.startswith("ZZZ  Central Site  [primary]  server MGMT01") for line in lines)
    assert any("└── P00  Child Primary  [primary]  server MGMT03" in line for line in lines)
    assert any("└── S01  Secondary Site  [secondary]  server SEC01" in line for line in lines)
    assert any("DP \\\\REMOTE_DP\\smsapps\\SMSPKG" in line for line in lines)
    assert "  ZZZ -> P00  LAN  priority 1  unlimited  latency 0s  schedule: open 24x7" in lines
    assert "Software distribution: send from nearest site on, 100 retries, DP update mode delete" in lines


@pytest.mark.parametrize(("package", "message"), [
    ("ZZZ00099", "There is no package ZZZ00099 in this lab: site ZZZ"),
    ("BAD", "'BAD' is not a package ID"),
    ("XXX00001", "XXX is not one of its sites"),
])
def test_status_of_a_package_that_does_not_exist_is_a_user_error(
        tmp_path: Path, package: str, message: str) -> None:
    lab = init_lab(tmp_path)
    code, _, err = run("status", package, "--lab", str(lab))
    assert code == 2 and message in err


def test_status_of_a_deleted_package_says_it_was_deleted(tmp_path: Path) -> None:
    """Bug hunt: it said the site had never created it."""
    lab = init_lab(tmp_path)
    assert run("package", "create", "ZZZ", "--name", "p", "--lab", str(lab))[0] == 0
    assert run("run", "--step", "--lab", str(lab))[0] == 0
    assert run("package", "delete", "ZZZ00001", "--lab", str(lab))[0] == 0
    assert run("run", "--step", "--lab", str(lab))[0] == 0
    code, _, err = run("status", "ZZZ00001", "--lab", str(lab))
    assert code == 2 and "Package ZZZ00001 was deleted: site ZZZ, which created it" in err
    assert "'sitesrv trace ZZZ00001'" in err


def test_status_of_a_package_without_dps_shows_empty_tables(tmp_path: Path) -> None:
    lab = init_lab(tmp_path)
    code, out, _ = run("package", "create", "ZZZ", "--name", "p", "--lab", str(lab))
    assert code == 0 and out.strip() == "ZZZ00001"
    code, out, _ = run("status", "zzz00001", "--lab", str(lab))
    assert code == 0 and out.count("(none)") == 2


def test_missing_lab_is_a_user_error(tmp_path: Path) -> None:
    code, _, err = run("hierarchy", "--lab", str(tmp_path / "nowhere"))
    assert code == 2
    assert "There is no lab at" in err and "sitesrv init" in err


def test_bad_hierarchy_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "hierarchy.yaml"
    bad.write_text("sites:\n  - {code: ZZZ, server: MGMT01, parnet: X}\n")
    proc = subprocess.run(
        [sys.executable, "-c", "from sitesrv.cli.main import main; main()", "init", "--lab",
         str(tmp_path / "lab"), "--hierarchy", str(bad)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "sites[0] (ZZZ).parnet: unknown key 'parnet' (did you mean 'parent'?)" in proc.stderr


def test_sql_query_change_and_secondary(tmp_path: Path) -> None:
    lab = init_lab(tmp_path)
    code, out, _ = run("sql", "ZZZ", "SELECT SiteCode, SiteServer FROM Sites ORDER BY SiteCode",
                       "--lab", str(lab))
    assert code == 0
    assert [line.split() for line in out.splitlines() if line.strip()][-3:] == [
        ["P00", "MGMT03"], ["S01", "SEC01"], ["ZZZ", "MGMT01"]]
    code, out, _ = run("sql", "P00", "UPDATE Sites SET SiteName = 'x' WHERE SiteCode = 'S01'",
                       "--lab", str(lab))
    assert code == 0 and "1 row" in out
    code, out, _ = run("sql", "P00", "SELECT SiteName FROM Sites WHERE SiteCode = 'S01'",
                       "--lab", str(lab), "--json")
    assert code == 0 and '"SiteName": "x"' in out
    code, _, err = run("sql", "S01", "SELECT 1", "--lab", str(lab))
    assert code == 2 and "secondary site and has no database" in err and "sitesrv sql P00" in err
    code, _, err = run("sql", "Q99", "SELECT 1", "--lab", str(lab))
    assert code == 2 and "There is no site 'Q99'" in err


@pytest.mark.parametrize("statement", ["SELEC nonsense", "SELECT * FROM NoSuchTable"])
def test_sql_errors_are_user_errors(tmp_path: Path, statement: str) -> None:
    lab = init_lab(tmp_path)
    code, _, err = run("sql", "ZZZ", statement, "--lab", str(lab))
    assert code == 2 and err.startswith("sitesrv: ")


def test_address_pause_and_resume_show_in_the_hierarchy(tmp_path: Path) -> None:
    lab = init_lab(tmp_path)
    code, out, _ = run("address", "pause", "ZZZ", "P00", "--lab", str(lab))
    assert code == 0
    code, out, _ = run("hierarchy", "--lab", str(lab))
    assert "  ZZZ -> P00  LAN  priority 1  unlimited  latency 0s  schedule: PAUSED (closed)" in \
        out.splitlines()
    code, out, _ = run("address", "resume", "ZZZ", "P00", "--lab", str(lab))
    code, out, _ = run("hierarchy", "--lab", str(lab))
    assert "  ZZZ -> P00  LAN  priority 1  unlimited  latency 0s  schedule: open 24x7" in \
        out.splitlines()
    code, _, err = run("address", "pause", "ZZZ", "S01", "--lab", str(lab))
    assert code == 2 and "There is no address from site ZZZ to site S01" in err


def test_hierarchy_that_is_not_utf8_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "hierarchy.yaml"
    bad.write_bytes(b"sites:\n  - {code: ZZZ, server: MGMT01, name: Z\xfcrich}\n")
    code, _, err = run("init", "--lab", str(tmp_path / "lab"), "--hierarchy", str(bad))
    assert code == 2
    assert err.startswith(f"sitesrv: {bad}: not UTF-8 text (byte 0xfc on line 2")
    assert not (tmp_path / "lab").exists()


def test_init_again_keeps_moved_on_uid_tokens(tmp_path: Path) -> None:
    lab = init_lab(tmp_path)
    uid = lab / "P00/SMS/inboxes/schedule.box/UID"
    (uid / "00000001.job").rename(uid / "00000005.job")
    (uid / "00000001.req").rename(uid / "0000000C.REQ")
    code, _, _ = run("init", "--lab", str(lab), "--hierarchy", str(DEFAULT_HIERARCHY))
    assert code == 0
    assert sorted(p.name for p in uid.iterdir()) == ["00000005.job", "0000000C.REQ"]
    # A site whose token of one kind is missing gets only that one back.
    zzz_uid = lab / "ZZZ/SMS/inboxes/schedule.box/UID"
    (zzz_uid / "00000001.job").rename(zzz_uid / "00000002.job")
    (zzz_uid / "00000001.req").unlink()
    run("init", "--lab", str(lab), "--hierarchy", str(DEFAULT_HIERARCHY))
    assert sorted(p.name for p in zzz_uid.iterdir()) == ["00000001.req", "00000002.job"]


def test_init_again_keeps_the_users_sites_rows(tmp_path: Path) -> None:
    lab = init_lab(tmp_path)
    # Reproducing the Q319189 orphan: the child's Sites row is deleted by hand.
    code, out, _ = run("sql", "ZZZ", "DELETE FROM Sites WHERE SiteCode = 'S01'", "--lab", str(lab))
    assert code == 0 and "1 row" in out
    run("sql", "ZZZ", "UPDATE Sites SET SiteName = 'edited' WHERE SiteCode = 'P00'",
        "--lab", str(lab))
    code, out, _ = run("init", "--lab", str(lab), "--hierarchy", str(DEFAULT_HIERARCHY))
    assert code == 0 and "kept its data" in out
    code, out, _ = run("sql", "ZZZ", "SELECT SiteCode, SiteName FROM Sites ORDER BY SiteCode",
                       "--lab", str(lab), "--json")
    assert code == 0
    assert '"SiteCode": "S01"' not in out
    assert '"SiteName": "edited"' in out
    assert not list((lab / "ZZZ/SMS").glob("site.db.new*"))


@pytest.mark.parametrize("command", ["create", "add-dp"])
def test_a_dp_at_a_site_missing_from_the_sites_table_is_a_user_error(
        tmp_path: Path, command: str) -> None:
    lab = init_lab(tmp_path)
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("hi")
    if command == "add-dp":
        code, out, _ = run("package", "create", "ZZZ", "--name", "p", "--source", str(source),
                           "--dp", "P00:REMOTE_DP", "--lab", str(lab))
        assert code == 0 and "ZZZ00001" in out
    run("sql", "ZZZ", "DELETE FROM Sites WHERE SiteCode = 'S01'", "--lab", str(lab))
    args = (["create", "ZZZ", "--name", "q", "--source", str(source)] if command == "create"
            else ["add-dp", "ZZZ00001"])
    code, _, err = run("package", *args, *(["--dp"] if command == "create" else []),
                       "S01:SEC01", "--lab", str(lab))
    assert code == 2
    assert ("This SiteCode (S01) does not exist in the parent table, Sites." in err
            and "Nothing was changed" in err and "Traceback" not in err)
    # The INSERT the message suggests puts the row back, and the command then works.
    insert = err.split("(sitesrv sql ZZZ \"", 1)[1].split("\")", 1)[0]
    assert run("sql", "ZZZ", insert, "--lab", str(lab))[0] == 0
    code, _, err = run("package", *args, *(["--dp"] if command == "create" else []),
                       "S01:SEC01", "--lab", str(lab))
    assert code == 0, err


def test_init_after_a_lost_database_builds_it_with_its_sites(tmp_path: Path) -> None:
    lab = init_lab(tmp_path)
    for f in (lab / "P00/SMS").glob("site.db*"):
        f.unlink()
    (lab / "P00/SMS/site.db.new").write_bytes(b"half-built by a killed init")
    code, _, _ = run("init", "--lab", str(lab), "--hierarchy", str(DEFAULT_HIERARCHY))
    assert code == 0
    code, out, _ = run("sql", "P00", "SELECT SiteCode FROM Sites ORDER BY SiteCode",
                       "--lab", str(lab), "--json")
    assert code == 0 and '"P00"' in out and '"S01"' in out
    assert not (lab / "P00/SMS/site.db.new").exists()


@pytest.mark.parametrize("under", ["sub", "sub/deeper"])
def test_init_through_a_file_is_a_user_error(tmp_path: Path, under: str) -> None:
    afile = tmp_path / "somefile"
    afile.write_text("not a folder")
    target = afile / under
    code, _, err = run("init", "--lab", str(target), "--hierarchy", str(DEFAULT_HIERARCHY))
    assert code == 2
    assert err.startswith(f"sitesrv: Cannot build a lab at {target}: Not a directory")
    assert "Pass --lab with a folder you can create and write to." in err
    assert afile.read_text() == "not a folder"


def test_lab_init_on_a_file_is_a_user_error(tmp_path: Path) -> None:
    from sitesrv import Lab
    from sitesrv.errors import UserError

    afile = tmp_path / "somefile"
    afile.write_text("not a folder")
    with pytest.raises(UserError, match=f"Cannot build a lab at {afile}: Not a directory"):
        Lab.init(afile, DEFAULT_HIERARCHY)
    assert afile.read_text() == "not a folder"


def test_lab_is_exported_from_the_package() -> None:
    import sitesrv
    from sitesrv.admin.lab import Lab

    assert sitesrv.Lab is Lab


def test_the_lab_option_is_defined_once() -> None:
    """Every command's --lab comes from sitesrv/cli/options.py, so help and default agree."""
    import click

    from sitesrv.cli.options import LAB_OPTION
    from tests.conftest import REPO

    defining = {str(p.relative_to(REPO)) for p in (REPO / "sitesrv").rglob("*.py")
                if '"--lab"' in p.read_text(encoding="utf-8")}
    assert defining == {"sitesrv/cli/options.py"}

    @LAB_OPTION
    def probe(lab_dir: Path) -> None: ...

    [shared] = click.command()(probe).params
    for name, group in cli.commands.items():
        commands = group.commands if isinstance(group, click.Group) else {name: group}
        for command in commands.values():
            for param in command.params:
                if param.name == "lab_dir" and name != "run":
                    assert (param.opts, param.default, param.help) == (
                        shared.opts, shared.default, shared.help), command.name


def test_status_names_are_the_database_enums() -> None:
    from sitesrv.admin.status import STATUSES
    from sitesrv.db.sitedb import PackageStatus

    assert [STATUSES[s] for s in PackageStatus] == [s.name for s in PackageStatus]
    assert len(STATUSES) == len(PackageStatus)


def test_concurrent_pauses_of_one_sites_addresses_are_all_kept(tmp_path: Path) -> None:
    """Two `sitesrv address pause` at once, each for another address of P00: neither is lost."""
    import threading

    from sitesrv.admin.lab import Lab
    from sitesrv.admin.pauses import set_paused
    from sitesrv.components.addresses import read_paused

    lab = Lab.open(init_lab(tmp_path))
    rounds = 150
    barrier = threading.Barrier(3)  # the two writers and the checker, in step
    failures: list[BaseException] = []

    def toggle(to_site: str) -> None:
        try:
            for _ in range(rounds):
                barrier.wait()
                set_paused(lab.layout, "P00", to_site, True)
                barrier.wait()
                barrier.wait()  # the checker reads between these two
                set_paused(lab.layout, "P00", to_site, False)
                barrier.wait()
        except BaseException as e:
            failures.append(e)
            barrier.abort()

    threads = [threading.Thread(target=toggle, args=(code,)) for code in ("ZZZ", "S01")]
    for t in threads:
        t.start()
    seen: list[frozenset[str]] = []
    try:
        for _ in range(rounds):
            barrier.wait()
            barrier.wait()
            seen.append(read_paused(lab.site("P00")))
            barrier.wait()
            barrier.wait()
            seen.append(read_paused(lab.site("P00")))
    except threading.BrokenBarrierError:
        pass
    for t in threads:
        t.join()
    assert failures == []
    assert seen == [frozenset({"ZZZ", "S01"}), frozenset()] * rounds


def test_the_command_line_imports_what_a_command_needs_only_when_it_runs() -> None:
    """`sitesrv --help` loads the command modules, not the libraries behind the commands: those
    load when a command runs (docs/performance.md, bench/startup.py)."""
    heavy = ("watchdog", "zstandard", "rich", "structlog", "yaml", "sqlite3", "attrs",
             "sitesrv.admin.lab", "sitesrv.runtime.live", "sitesrv.components")
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, sitesrv.cli.main; print(*sorted(sys.modules))"],
        capture_output=True, text=True, check=True)
    loaded = set(proc.stdout.split())
    assert [name for name in heavy if name in loaded] == []


def test_demo_prints_the_runs_problems_and_exits_as_run_does(tmp_path: Path) -> None:
    # A file the demo's run quarantines is a problem of the run: `sitesrv run --step` exits 3.
    lab = init_lab(tmp_path)
    drop(lab / "S01/SMS/inboxes/offermgr.box/INCOMING", "DAMAGED1.OFR",
         b"[ACTION]\nAction=ADD\nAdvertisementID=ZZZ20000\n[END]\n")
    code, out, err = run("demo", "--lab", str(lab))
    assert code == 3, out
    lines = out.splitlines()
    assert any(re.fullmatch(r"Idle after \d+ steps at lab time \S+; nothing waits, "
                            r"1 problem\(s\)\.", line) for line in lines), out
    assert any(line.startswith("  S01 SMS_OFFER_MANAGER: INCOMING\\corrupt\\DAMAGED1.OFR "
                               "quarantined: ") for line in lines), out
    assert "sitesrv demo: the run ended waiting (exit status 3)" in err
    assert "ZZZ00001.PKG" in out, "the rest of the demo is shown all the same"

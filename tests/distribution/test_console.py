"""`sitesrv package ...` refusals as the administrator meets them: exit 2, one paragraph."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sitesrv.admin.lab import Lab
from sitesrv.cli.main import cli
from sitesrv.db.sitedb import PackageAction, SiteDatabase
from sitesrv.errors import UserError
from sitesrv.testing import write_source


@pytest.fixture
def lab_dir(sitesrv_lab: Lab) -> Path:
    return sitesrv_lab.root


def sitesrv(lab_dir: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [*args, "--lab", str(lab_dir)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def refused(lab_dir: Path, *args: str) -> str:
    """The one-paragraph message of a refused command (exit status 2, nothing on stdout)."""
    code, out, err = sitesrv(lab_dir, *args)
    assert (code, out) == (2, ""), (code, out, err)
    assert err.startswith("sitesrv: ") and err.endswith("\n") and err.count("\n") == 1, err
    return err[len("sitesrv: "):-1]


def create(lab_dir: Path, site: str = "ZZZ", *dps: str) -> str:
    source = write_source(lab_dir.parent / "source")
    args = ["package", "create", site, "--name", "Demo", "--source", str(source)]
    for dp in dps:
        args += ["--dp", dp]
    code, out, err = sitesrv(lab_dir, *args)
    assert code == 0, err
    return out.strip()


@pytest.mark.parametrize("command", [
    ["update"], ["set-source", "."], ["delete"], ["refresh", "P00:REMOTE_DP"],
    ["add-dp", "P00:REMOTE_DP"], ["remove-dp", "P00:REMOTE_DP"],
])
def test_a_bad_package_id_is_reported_before_anything_else(lab_dir: Path,
                                                           command: list[str]) -> None:
    message = refused(lab_dir, "package", command[0], "BOGUS", *command[1:])
    assert message == ("'BOGUS' is not a package ID: a package ID is a 3-character site code "
                       "followed by 5 hex digits, for example ZZZ0000A. 'sitesrv status' lists "
                       "the packages.")


def test_a_package_id_of_no_site_is_an_unknown_package(lab_dir: Path) -> None:
    message = refused(lab_dir, "package", "update", "QQQ00001")
    assert message == ("There is no package QQQ00001 in this lab: a package ID starts with the "
                       "code of the site that created it, and QQQ is not one of its sites (ZZZ, "
                       "P00, S01). 'sitesrv status' lists the packages.")


def test_a_valid_id_unknown_at_its_site_says_so(lab_dir: Path) -> None:
    message = refused(lab_dir, "package", "update", "ZZZ00042")
    assert message.startswith("Package ZZZ00042 is not known at site ZZZ. ")


def test_a_dp_above_the_console_site_points_at_its_own_site_or_an_ancestor(
        lab_dir: Path) -> None:
    pkg_id = create(lab_dir)
    message = refused(lab_dir, "package", "add-dp", pkg_id, "ZZZ:MGMT01", "--at", "P00")
    assert message == ("Site P00 cannot target a DP at site ZZZ: a site manages DPs at itself "
                       "and at the sites below it. Use --at ZZZ or one of its ancestors.")


def test_creating_with_a_dp_above_names_where_to_create_it(lab_dir: Path) -> None:
    message = refused(lab_dir, "package", "create", "P00", "--name", "Demo", "--source",
                      str(write_source(lab_dir.parent / "source")), "--dp", "ZZZ:MGMT01")
    assert message == ("Site P00 cannot target a DP at site ZZZ: a site manages DPs at itself "
                       "and at the sites below it. Create the package at ZZZ or one of its "
                       "ancestors.")


@pytest.mark.parametrize("command", [
    ["update"], ["set-source", "."], ["delete"], ["refresh", "P00:REMOTE_DP"],
    ["add-dp", "S01:SEC01"], ["remove-dp", "P00:REMOTE_DP"],
])
def test_a_package_being_deleted_takes_no_other_action(lab_dir: Path,
                                                        command: list[str]) -> None:
    pkg_id = create(lab_dir, "ZZZ", "P00:REMOTE_DP")
    code, _, err = sitesrv(lab_dir, "package", "delete", pkg_id)
    assert code == 0, err

    message = refused(lab_dir, "package", command[0], pkg_id, *command[1:])
    assert message == (f"Package {pkg_id} is being deleted; no other change can be made to it. "
                       "Its site servers delete it at every site when they run ('sitesrv "
                       "run'); to distribute these files again, create a new package.")
    with SiteDatabase.open(Lab.open(lab_dir).site("ZZZ").database) as db:
        package = db.get_package(pkg_id)
    assert package is not None and package.Action == PackageAction.DELETE


def test_set_source_takes_any_path_but_an_empty_one(lab_dir: Path) -> None:
    """As SMS's console: Distribution Manager, not the console, finds a folder missing."""
    pkg_id = create(lab_dir, "ZZZ", "P00:REMOTE_DP")
    missing = lab_dir.parent / "not-there"
    assert sitesrv(lab_dir, "package", "set-source", pkg_id, str(missing)) == (
        0, f"Package {pkg_id} now uses \\\\MGMT01\\Sources\\not-there (the folder "
        f"{missing}).\n", "")
    assert refused(lab_dir, "package", "set-source", pkg_id, "") == (
        "No source folder was given. Pass the folder that holds the package's files; it need "
        "not exist yet, as Distribution Manager reads it only when it processes the change.")


@pytest.mark.parametrize(("pkg_id", "lab", "expected"), [
    ("ZZZ00042", "lab", "Package ZZZ00042 is not known at site ZZZ. List the packages with "
                        "'sitesrv sql ZZZ \"SELECT PkgID, Name FROM SMSPackages\"'; a package "
                        "created elsewhere reaches a child site only after its site servers "
                        "have run."),
    ("QQQ00001", "lab", "There is no package QQQ00001 in this lab: a package ID starts with the "
                        "code of the site that created it, and QQQ is not one of its sites (ZZZ, "
                        "P00, S01). 'sitesrv status' lists the packages."),
    ("S0100001", "lab", "Site S01 is a secondary site: it has no SMS Administrator console or "
                        "database, so changing a package must be done at a primary site (its "
                        "parent is P00)."),
    ("ZZZ00001", "no-lab", "There is no lab at {lab} (no hierarchy.yaml in it). Build one with "
                           "'sitesrv init --lab {lab}', or pass --lab with the folder of an "
                           "existing lab."),
], ids=["unknown-package", "unknown-site", "secondary-site", "missing-lab"])
def test_set_source_refusals(lab_dir: Path, pkg_id: str, lab: str, expected: str) -> None:
    """Repair A's user errors: exit 2, one paragraph, no traceback, the database unchanged."""
    target = lab_dir if lab == "lab" else lab_dir.parent / "no-lab"
    message = refused(target, "package", "set-source", pkg_id, str(lab_dir.parent / "src"))
    assert message == expected.format(lab=target)
    with SiteDatabase.open(Lab.open(lab_dir).site("ZZZ").database) as db:
        assert db.package_ids() == []


def test_a_name_the_files_cannot_keep_is_refused_before_anything_is_made(lab_dir: Path) -> None:
    """Bug hunt: `--name "Office XP "` was taken, and every unit that wrote the package failed
    (exit 3, its .PKN quarantined); from Python a line break got through as well."""
    from sitesrv.admin import advertisements, console

    source = write_source(lab_dir.parent / "source")
    assert "--name must not start or end with white space" in refused(
        lab_dir, "package", "create", "ZZZ", "--name", "Office XP ", "--source", str(source))
    lab = Lab.open(lab_dir)
    for name in ("Bad\rName", "Office\u2028XP", " lead"):
        with pytest.raises(UserError, match="The package name"):
            console.create_package(lab, "ZZZ", name=name, source=source, dps=[])
    with pytest.raises(UserError, match="'High' is not a priority; use one of high, medium"):
        console.create_package(lab, "ZZZ", name="x", source=source, dps=[], priority="High")
    with pytest.raises(UserError, match="'COURIER' is not a sender; use one of any, lan"):
        console.create_package(lab, "ZZZ", name="x", source=source, dps=[],
                               preferred_sender="COURIER")
    with pytest.raises(UserError, match="The collection name"):
        advertisements.create_collection(lab, "ZZZ", name="All\tSystems")
    with SiteDatabase.open(Lab.open(lab_dir).site("ZZZ").database) as db:
        assert db.query("SELECT PkgID FROM SMSPackages") == []
        assert db.query("SELECT CollectionID FROM Collections") == []

"""The smsutils report's DP whose Administrators had rights on the share root only: SMS could
create a package's folder there but not the sub-folders of a package that has them. Distribution
Manager fails the copy with Win32 error 5 and status message 2328, the DP retries (State 2) and
then fails (State 3) up to the central site; a package without sub-folders installs; giving the
share full permissions and re-pushing the package heals the DP."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from sitesrv.admin import console
from sitesrv.admin.lab import Lab
from sitesrv.cli.main import cli
from sitesrv.testing import assert_in_order, log_messages, query, tree_digest, write_source
from tests.acceptance.conftest import DP_FOLDERS, create, dp_folder, lab_from
from tests.conftest import DEFAULT_HIERARCHY

DP = "P00:REMOTE_DP"
NAL = 'MSWNET:["SMS_SITE=P00"]\\\\REMOTE_DP\\smsapps\\SMSPKG\\'
UNC = "\\\\REMOTE_DP\\smsapps\\SMSPKG"
STUCK = ("SELECT PackageID, ServerNALPath, SiteCode, State FROM "
         "SMS_PackageStatusDistPointsSummarizer WHERE State != 0")
# In the package's order: A.TXT is copied into the package folder, SUB cannot be created.
NESTED = {"A.TXT": b"first\r\n", "SUB/B.TXT": b"nested\r\n", "Z.TXT": b"last\r\n"}


def share_root_only_lab(tmp_path: Path) -> Lab:
    text = DEFAULT_HIERARCHY.read_text(encoding="utf-8")
    text = text.replace("        share: smsapps\\SMSPKG\n",
                        "        share: smsapps\\SMSPKG\n        permissions: share-root-only\n")
    assert "permissions: share-root-only" in text
    return lab_from(tmp_path / "perm", text.replace("  retries: 100", "  retries: 2"))


def cli_ok(lab: Lab, *args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--lab", str(lab.root)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def failed_copy(messages: list[str], pkg_id: str) -> list[str]:
    """The lines of the first failed copy of `pkg_id`, from Decompressing to its 2328."""
    start = messages.index(next(m for m in messages
                                if m.startswith(f"Decompressing package F:\\SMSPKG\\{pkg_id}.PCK")))
    end = messages.index(next(m for m in messages[start:] if m.startswith("STATMSG: ID=2328")))
    return messages[start:end + 1]


def test_a_package_with_a_sub_folder_fails_on_a_share_root_only_dp(tmp_path: Path) -> None:
    lab = share_root_only_lab(tmp_path)
    source = write_source(tmp_path / "nested", NESTED)
    pkg_id = create(lab, source, dps=[DP])
    assert lab.run_until_idle(seed=7, horizon=10).status == "waiting"

    copy = failed_copy(log_messages(lab, "P00", "distmgr.log"), pkg_id)
    temp = copy[0].rsplit(" to ", 1)[1]
    assert temp.startswith("F:\\_S ") and temp.endswith(".TMP")
    assert copy[:-1] == [
        f"Decompressing package F:\\SMSPKG\\{pkg_id}.PCK to {temp}",
        f"Attempting to create subdirectory {pkg_id} under the export.",
        f"Successsfully created the package directory SMSPKG\\{pkg_id}\\ under the export.",
        f"Successfully created sub directory {pkg_id} off {NAL}{pkg_id}\\",
        f"Copying {temp}\\A.TXT to {UNC}\\{pkg_id}\\A.TXT, OK",
        f"Failed to create the directory {UNC}\\{pkg_id}\\SUB, Win32 Error = 5",
        f"Failed to copy package {pkg_id} to {NAL}: Win32 Error = 5",
    ]
    assert copy[-1].startswith('STATMSG: ID=2328 SEV=E LEV=M SOURCE="SMS Server" '
                               'COMP="SMS_DISTRIBUTION_MANAGER" SYS=MGMT03 SITE=P00 ')
    assert f'ISTR0="{pkg_id}"' in copy[-1] and f'AVAL0="{pkg_id}"' in copy[-1]
    share = lab.root / DP_FOLDERS["P00"]
    assert os.listdir(share) == [], "nothing of the failed copy is left on the DP"
    assert query(lab, "P00", "SELECT Status FROM PkgStatus WHERE Type = 2") == [(4,)]
    for site in ("P00", "ZZZ"):
        assert query(lab, site, STUCK) == [(pkg_id, NAL, "P00", 2)], site

    assert lab.run_until_idle(seed=7).status == "idle"  # the retries are used up
    messages = log_messages(lab, "P00", "distmgr.log")
    failures = [m for m in messages if m.endswith("SUB, Win32 Error = 5")]
    assert len(failures) >= 3, "the first copy and the retries"
    assert sum(m.startswith("STATMSG: ID=2328 SEV=E") for m in messages) == len(failures)
    assert sum(m.startswith("STATMSG: ID=2302 SEV=E") for m in messages) == 1
    for site in ("P00", "ZZZ"):
        assert query(lab, site, STUCK) == [(pkg_id, NAL, "P00", 3)], site
    assert os.listdir(share) == []


def test_a_package_without_sub_folders_installs_on_that_dp(tmp_path: Path) -> None:
    lab = share_root_only_lab(tmp_path)
    source = write_source(tmp_path / "flat", {"SETUP.INI": b"[Setup]\r\n", "A.TXT": b"a"})
    pkg_id = create(lab, source, dps=[DP])
    assert lab.run_until_idle(seed=7).status == "idle"
    assert tree_digest(dp_folder(lab, "P00", pkg_id)) == tree_digest(source)
    assert query(lab, "ZZZ", STUCK) == []
    assert not [m for m in log_messages(lab, "P00", "distmgr.log") if "Win32 Error" in m]


def test_full_permissions_and_a_re_push_heal_the_dp(tmp_path: Path) -> None:
    lab = share_root_only_lab(tmp_path)
    source = write_source(tmp_path / "nested", NESTED)
    pkg_id = create(lab, source, dps=[DP, "ZZZ:MGMT01"])
    assert lab.run_until_idle(seed=7).status == "idle"
    assert query(lab, "ZZZ", STUCK) == [(pkg_id, NAL, "P00", 3)]

    # A re-push alone fails again the same way.
    before = len(log_messages(lab, "P00", "distmgr.log"))
    console.refresh_dp(lab, pkg_id, DP)
    assert lab.run_until_idle(seed=7, horizon=10).status == "waiting"
    again = failed_copy(log_messages(lab, "P00", "distmgr.log")[before:], pkg_id)
    assert again[-3:-1] == [
        f"Failed to create the directory {UNC}\\{pkg_id}\\SUB, Win32 Error = 5",
        f"Failed to copy package {pkg_id} to {NAL}: Win32 Error = 5"]
    assert query(lab, "ZZZ", STUCK) == [(pkg_id, NAL, "P00", 2)]

    # The fix: full permissions on the share, then a re-push.
    assert "DP \\\\REMOTE_DP\\smsapps\\SMSPKG  permissions share-root-only" in cli_ok(
        lab, "hierarchy")
    assert cli_ok(lab, "dp", "permissions", DP) == "P00:REMOTE_DP has share-root-only permissions.\n"
    assert cli_ok(lab, "dp", "permissions", DP, "full") == (
        "P00:REMOTE_DP now has full permissions; Distribution Manager uses them from its next "
        "copy to it.\n")
    assert "permissions share-root-only" not in cli_ok(lab, "hierarchy")
    cli_ok(lab, "package", "refresh", pkg_id, DP)
    assert lab.run_until_idle(seed=7).status == "idle"

    healed = log_messages(lab, "P00", "distmgr.log")
    temp = next(m for m in reversed(healed) if m.startswith("Decompressing package ")
                ).rsplit(" to ", 1)[1]
    assert_in_order(healed, [
        f"Copying {temp}\\SUB\\B.TXT to {UNC}\\{pkg_id}\\SUB\\B.TXT, OK",
        f"Successfully copied package {pkg_id} from {temp}\\ to {NAL}{pkg_id}\\"])
    for site in ("P00", "ZZZ"):
        assert query(lab, site, STUCK) == [], site
    assert query(lab, "ZZZ", "SELECT SiteCode, State FROM SMS_PackageStatusDistPointsSummarizer "
                             "ORDER BY SiteCode") == [("P00", 0), ("ZZZ", 0)]
    share = lab.root / DP_FOLDERS["P00"]
    assert os.listdir(share) == [pkg_id], "no leftover beside the package folder"
    assert tree_digest(share / pkg_id) == tree_digest(source)
    assert not list(lab.site("P00").root.glob("_S *.TMP"))


def test_a_bad_permissions_value_stops_init_with_exit_status_2(tmp_path: Path) -> None:
    bad = tmp_path / "hierarchy.yaml"
    bad.write_text(DEFAULT_HIERARCHY.read_text(encoding="utf-8").replace(
        "        share: smsapps\\SMSPKG\n",
        "        share: smsapps\\SMSPKG\n        permissions: root-only\n"))
    result = CliRunner().invoke(cli, ["init", "--lab", str(tmp_path / "lab"), "--hierarchy",
                                      str(bad)], catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr == (
        f"sitesrv: {bad}: sites[1] (P00).distribution_points[0].permissions: 'root-only' is not "
        "one of full, share-root-only. Fix hierarchy.yaml and run the command again.\n")
    assert not (tmp_path / "lab").exists()


def test_the_permissions_command_refuses_mistakes_with_exit_status_2(tmp_path: Path) -> None:
    lab = share_root_only_lab(tmp_path)
    cases = {
        ("P00", "full"): "sitesrv: 'P00' does not name a distribution point; write SITE:SERVER",
        ("P00:NOPE", "full"): "sitesrv: Site P00 has no distribution point on server NOPE",
        ("Q99:REMOTE_DP", "full"): "sitesrv: There is no site 'Q99' in this lab",
        (DP, "root-only"): "'root-only' is not one of 'full', 'share-root-only'",
    }
    for args, message in cases.items():
        result = CliRunner().invoke(cli, ["dp", "permissions", *args, "--lab", str(lab.root)],
                                    catch_exceptions=False)
        assert result.exit_code == 2, args
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not lab.site("P00").dp_permissions(lab.hierarchy.site("P00").distribution_points[0]
                                              ).exists(), "no mistake changed anything"

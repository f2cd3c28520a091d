"""A package over the lab's `limits:` fails its DP install like any other install error, says
which limit and how to raise it, writes nothing on the DP, and installs once raised."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from sitesrv.admin import console
from sitesrv.admin.lab import Lab
from sitesrv.cli.main import cli
from sitesrv.components.distmgr import DistributionManager
from sitesrv.components.sqlmon import SqlMonitor
from sitesrv.components.statmgr import StatusManager
from sitesrv.lab.layout import HIERARCHY_COPY
from sitesrv.runtime.registry import Registry
from sitesrv.testing import LabFactory, log_messages, query, write_source
from tests.conftest import DEFAULT_HIERARCHY

# Status Manager stores the messages Distribution Manager raises.
LOCAL = Registry(primary=(SqlMonitor, DistributionManager, StatusManager))


def _hierarchy(limits: str) -> str:
    text = DEFAULT_HIERARCHY.read_text().replace("  retries: 100", "  retries: 1")
    return f"{text}\nlimits: {limits}\n"


def test_a_package_over_the_size_limit_fails_its_dp_install_until_the_limit_is_raised(
        tmp_path: Path, sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(_hierarchy("{package_size: 100KiB}"))
    source = write_source(tmp_path / "src")  # 200,009 bytes
    console.create_package(lab, "ZZZ", name="Demo", source=source, dps=["ZZZ:MGMT01"])
    share = lab.site("ZZZ").root / "dp" / "MGMT01" / "SMSPKGC$"
    lab.run_until_idle(seed=1, components=LOCAL)
    messages = log_messages(lab, "ZZZ", "distmgr.log")
    failed = [m for m in messages if m.startswith("Failed to copy package ZZZ00001 to ")]
    assert len(failed) == 2  # the first try and one retry
    assert failed[0] == (
        'Failed to copy package ZZZ00001 to MSWNET:["SMS_SITE=ZZZ"]\\\\MGMT01\\SMSPKGC$\\: '
        "F:\\SMSPKG\\ZZZ00001.PCK: package ZZZ00001 version 1 expands to "
        "200009 bytes (195.3 KiB), more than the package_size limit of 102400 bytes (100 KiB); "
        "to install it, raise limits.package_size in hierarchy.yaml (docs/limits.md)")
    assert sum(m.startswith("STATMSG: ID=2328 SEV=E") for m in messages) == 2
    assert list(share.iterdir()) == [], "nothing was written on the DP"
    assert query(lab, "ZZZ", "SELECT State FROM SMS_PackageStatusDistPointsSummarizer") == [(3,)]

    copy = lab.root / HIERARCHY_COPY
    copy.write_text(copy.read_text().replace("package_size: 100KiB", "package_size: 1MiB"))
    lab = Lab.open(lab.root)
    console.refresh_dp(lab, "ZZZ00001", "ZZZ:MGMT01")
    lab.run_until_idle(seed=1, components=LOCAL)
    assert (share / "ZZZ00001" / "DATA" / "PAYLOAD.BIN").stat().st_size == 200_000
    assert query(lab, "ZZZ", "SELECT State FROM SMS_PackageStatusDistPointsSummarizer") == [(0,)]


def test_a_package_over_the_files_limit_says_how_to_raise_it(
        tmp_path: Path, sitesrv_lab_factory: LabFactory) -> None:
    lab = sitesrv_lab_factory(_hierarchy("{package_files: 1}"))
    source = write_source(tmp_path / "src")  # SETUP.INI and DATA/PAYLOAD.BIN
    console.create_package(lab, "ZZZ", name="Demo", source=source, dps=["ZZZ:MGMT01"])
    lab.run_until_idle(seed=1, components=LOCAL)
    failed = next(m for m in log_messages(lab, "ZZZ", "distmgr.log")
                  if m.startswith("Failed to copy package ZZZ00001 to "))
    assert failed.endswith(": package ZZZ00001 version 1 has 2 files, more than the "
                           "package_files limit of 1; to install it, raise "
                           "limits.package_files in hierarchy.yaml (docs/limits.md)")


def test_bad_limits_stop_init_with_exit_status_2(tmp_path: Path) -> None:
    bad = tmp_path / "hierarchy.yaml"
    bad.write_text(_hierarchy("{package_size: 2GB}"))
    result = CliRunner().invoke(cli, ["init", "--lab", str(tmp_path / "lab"), "--hierarchy",
                                      str(bad)], catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr == (
        f"sitesrv: {bad}: limits.package_size: expected a number of bytes, or one with a unit "
        "(B, KiB, MiB, GiB, TiB), such as 2GiB or 512 MiB; got '2GB'. Fix hierarchy.yaml and "
        "run the command again.\n")

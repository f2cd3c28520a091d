"""Links planted at the state the admin commands keep: a site's `SMS\\state` folder (where
`sitesrv address pause`, `sitesrv fault slow-link` and `sitesrv dp permissions` keep their
files and their lock) and the file names of `paused_addresses.json`, `slow_links.json` and the
lab's `source-shares.json`.

As the courier commands do with the folders they write into, a link under the folder's name is
moved aside to `.state.refused`, the command says so and works in a real folder; a link (or a
FIFO) under a state file's own name stops the command with exit status 2 naming it, since read
as no state and replaced, what it held would be dropped without a word. Nothing outside the lab
is created or changed either way.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitesrv.admin.demo import write_sample_source
from sitesrv.admin.lab import Lab
from sitesrv.cli.main import cli
from sitesrv.components.addresses import paused_file, read_paused, slow_file
from sitesrv.lab.sources import SHARES_FILE
from tests.courier.conftest import courier_lab

from .conftest import Outside

needs_links = pytest.mark.skipif(os.name == "nt", reason="symbolic links need a privilege")

PAUSE = ["address", "pause", "ZZZ", "P00"]
SLOW = ["fault", "slow-link", "ZZZ", "P00", "--rate", "1000"]
PERMISSIONS = ["dp", "permissions", "ZZZ:MGMT01", "share-root-only"]


def sitesrv(lab: Lab, args: list[str]):
    result = CliRunner().invoke(cli, [*args, "--lab", str(lab.root)])
    assert "Traceback" not in result.output, result.output
    return result


def assert_refused(result, path: Path, kind: str) -> None:
    """The command stopped (exit status 2), naming the state file and what it is."""
    assert result.exit_code == 2
    assert result.output == (
        f"sitesrv: {path} is {kind}, not a regular file, and sitesrv never reads or writes its "
        "state through one (that could change a file outside the lab, or lose what it holds "
        f"without a word). Remove {path}, then try again.\n")


def planted(tmp_path: Path) -> tuple[Lab, Outside]:
    lab = courier_lab(tmp_path)
    outside = Outside(tmp_path, lab.root, tmp_path / "outside")
    outside.add("secret.txt")
    return lab, outside


@needs_links
@pytest.mark.parametrize("args", [PAUSE, SLOW, PERMISSIONS],
                         ids=["address pause", "fault slow-link", "dp permissions"])
def test_a_state_folder_planted_as_a_link_is_moved_aside_and_the_command_works(tmp_path, args):
    lab, outside = planted(tmp_path)
    state = lab.site("ZZZ").state_dir
    for path in state.iterdir():  # what the folder held goes with it, outside
        os.replace(path, outside.root / path.name)
    state.rmdir()
    state.symlink_to(outside.root, target_is_directory=True)
    outside.seal()

    result = sitesrv(lab, args)

    assert result.exit_code == 0, result.output
    aside = state.with_name(".state.refused")
    assert result.stderr == (f"sitesrv: Moved {state} aside to {aside}: it was a symbolic link, "
                             "not a folder, and sitesrv never writes through one\n")
    outside.assert_untouched()
    assert aside.is_symlink() and state.is_dir() and not state.is_symlink()
    site = lab.site("ZZZ")
    written = {id(PAUSE): paused_file(site), id(SLOW): slow_file(site),
               id(PERMISSIONS): site.dp_permissions(site.site.dp("MGMT01"))}[id(args)]
    assert written.is_file() and not written.is_symlink()


@needs_links
@pytest.mark.parametrize("args", [PAUSE, SLOW], ids=["address pause", "fault slow-link"])
@pytest.mark.parametrize("name", ["paused", "slow"])
def test_a_state_file_planted_as_a_link_stops_the_command_naming_it(tmp_path, args, name):
    lab, outside = planted(tmp_path)
    site = lab.site("ZZZ")
    target = paused_file(site) if name == "paused" else slow_file(site)
    held = outside.add("held.json", json.dumps({"paused": ["S01"]}).encode())
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(held)
    outside.seal()

    result = sitesrv(lab, args)

    assert_refused(result, target, "a symbolic link")
    outside.assert_untouched()
    assert target.is_symlink()
    other = slow_file(site) if name == "paused" else paused_file(site)
    assert not other.exists()

    target.unlink()
    assert sitesrv(lab, args).exit_code == 0
    assert read_paused(site) == (frozenset({"P00"}) if args == PAUSE else frozenset())
    outside.assert_untouched()


@needs_links
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("plant", ["link", "FIFO"])
def test_a_source_shares_file_planted_as_a_link_or_fifo_stops_the_share(tmp_path,
                                                                         tmp_path_factory, plant):
    lab, outside = planted(tmp_path)
    source = write_sample_source(tmp_path_factory.mktemp("elsewhere") / "source")
    shares = lab.root / SHARES_FILE
    held = outside.add("shares.json", json.dumps({"shares": []}).encode())
    if plant == "link":
        shares.symlink_to(held)
    else:
        os.mkfifo(shares)
    outside.seal()
    args = ["package", "create", "ZZZ", "--name", "N", "--source", str(source)]

    result = sitesrv(lab, args)

    assert_refused(result, shares, "a symbolic link" if plant == "link" else "a FIFO")
    outside.assert_untouched()
    assert shares.is_symlink() if plant == "link" else not shares.is_file()

    shares.unlink()
    assert sitesrv(lab, args).exit_code == 0
    assert shares.is_file() and not shares.is_symlink()
    outside.assert_untouched()

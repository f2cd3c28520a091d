"""Links and FIFOs planted under the names of the lock files commands take turns on.

A site's `SMS\\state` and the lab folder are shares anyone may write into. A symbolic link put
under a lock's name, opened through, would create or open a file outside the lab; a FIFO would
be opened as a lock. Each is refused: the command stops with exit status 2, a message naming the
lock and saying to remove it, and nothing outside the lab is created or written. Once it is
removed, the command runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitesrv.admin.courierboxes import MANAGER_LOCK
from sitesrv.admin.demo import write_sample_source
from sitesrv.admin.lab import Lab
from sitesrv.admin.pauses import LOCK_FILE as PAUSES_LOCK
from sitesrv.cli.main import cli
from sitesrv.components.addresses import paused_file
from sitesrv.errors import UserError
from sitesrv.files import regular
from sitesrv.files.oslock import file_locked
from sitesrv.lab.sources import SHARES_LOCK
from tests.courier.conftest import courier_lab

from .conftest import SECRET, Outside

needs_fifos = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
needs_links = pytest.mark.skipif(os.name == "nt", reason="symbolic links need a privilege")


def _courier(lab: Lab, elsewhere: Path) -> tuple[Path, list[str]]:
    return lab.site("ZZZ").state_dir / MANAGER_LOCK, ["courier", "create", "ZZZ"]


def _pauses(lab: Lab, elsewhere: Path) -> tuple[Path, list[str]]:
    return paused_file(lab.site("ZZZ")).with_name(PAUSES_LOCK), ["address", "pause", "ZZZ", "P00"]


def _shares(lab: Lab, elsewhere: Path) -> tuple[Path, list[str]]:
    """A source in no mapped folder (the lab's and the one beside it are): it gets a share."""
    source = write_sample_source(elsewhere / "source")
    return lab.root / SHARES_LOCK, ["package", "create", "ZZZ", "--name", "N", "--source",
                                    str(source)]


LOCKS: dict[str, Callable[[Lab, Path], tuple[Path, list[str]]]] = {
    "the site's Courier Sender Manager lock": _courier,
    "the site's pause lock": _pauses,
    "the lab's source share lock": _shares,
}


def _link_to_a_file(lock: Path, outside: Outside) -> None:
    os.symlink(outside.add("planted.lock"), lock)


def _dangling_link(lock: Path, outside: Outside) -> None:
    os.symlink(outside.root / "created-through-the-link.lock", lock)


def _fifo(lock: Path, outside: Outside) -> None:
    os.mkfifo(lock)


PLANTS = {
    "a link to a file outside the lab": (_link_to_a_file, "a symbolic link"),
    "a link to nothing, outside the lab": (_dangling_link, "a symbolic link"),
    "a FIFO": (_fifo, "a FIFO"),
}


def sitesrv(lab: Lab, args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*args, "--lab", str(lab.root)])
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


@needs_links
@needs_fifos
@pytest.mark.parametrize("plant", PLANTS, ids=list(PLANTS))
@pytest.mark.parametrize("which", LOCKS, ids=list(LOCKS))
def test_a_link_or_fifo_under_a_lock_name_stops_the_command(tmp_path, tmp_path_factory, which,
                                                            plant):
    lab = courier_lab(tmp_path)
    outside = Outside(tmp_path, lab.root, tmp_path / "outside")
    lock, args = LOCKS[which](lab, tmp_path_factory.mktemp("elsewhere"))
    lock.parent.mkdir(parents=True, exist_ok=True)
    make, kind = PLANTS[plant]
    make(lock, outside)
    outside.seal()

    code, output = sitesrv(lab, args)

    assert code == 2, output
    assert output == (f"sitesrv: Could not lock {lock} {_purpose(which)}: it is {kind}, not a "
                      "regular file, and sitesrv never opens a lock file through a link or as a "
                      "FIFO (that could write outside the lab, or wait for ever). Remove "
                      f"{lock}, then try again.\n")
    outside.assert_untouched()
    assert os.path.lexists(lock)  # left for a person to look at
    if which == "the site's pause lock":
        assert not paused_file(lab.site("ZZZ")).exists()

    os.unlink(lock)
    code, output = sitesrv(lab, args)
    assert "Could not lock" not in output
    assert lock.is_file() and not lock.is_symlink()
    outside.assert_untouched()


def _purpose(which: str) -> str:
    return {"the site's Courier Sender Manager lock": "to work on the parcels of site ZZZ",
            "the site's pause lock": "to change the paused addresses",
            "the lab's source share lock": "to add a package source share"}[which]


# --- without O_NOFOLLOW (Windows) ------------------------------------------------------------
# There the path is looked at before the open and compared with what was opened after it; on
# POSIX the flag does it, so these tests take the flag away to show the checks alone suffice.

@needs_links
def test_without_nofollow_a_link_is_refused_before_it_is_opened_through(tmp_path, monkeypatch):
    monkeypatch.setattr(regular, "_NOFOLLOW", 0)
    lock = tmp_path / "state" / ".x.lock"
    lock.parent.mkdir()
    target = tmp_path / "outside" / "created.lock"
    target.parent.mkdir()
    os.symlink(target, lock)
    with pytest.raises(UserError, match="it is a symbolic link, not a regular file"), \
            file_locked(lock, "to test", "hint"):
        pass
    assert not target.exists()


@needs_links
def test_without_nofollow_a_link_put_there_after_the_look_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(regular, "_NOFOLLOW", 0)
    lock = tmp_path / ".x.lock"
    lock.write_bytes(b"")
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    real_open = os.open

    def swapped_then_opened(path, flags, mode=0o777):  # the swap between lstat and open
        if Path(path) == lock:
            os.replace(lock, tmp_path / "moved.lock")
            os.symlink(secret, lock)
        return real_open(path, flags, mode)

    monkeypatch.setattr(regular.os, "open", swapped_then_opened)
    with pytest.raises(UserError, match="it is a symbolic link, not a regular file"), \
            file_locked(lock, "to test", "hint"):
        pass
    assert secret.read_bytes() == SECRET

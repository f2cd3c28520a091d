"""The live view of `sitesrv run`: what waits, what is being sent, what is installed."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from sitesrv.admin.lab import Lab
from sitesrv.admin.liveview import Watcher, render
from sitesrv.cli.main import cli
from sitesrv.testing import create_package, events, log_messages, write_source


def text(lab: Lab) -> str:
    console = Console(record=True, width=160)
    console.print(render(Watcher(lab).view()))
    return console.export_text()


def test_waiting_work_and_installed_dps_per_site(sitesrv_lab: Lab, tmp_path: Path) -> None:
    lab = sitesrv_lab
    CliRunner().invoke(cli, ["fault", "link-down", "ZZZ", "P00", "--lab", str(lab.root)])
    create_package(lab, "ZZZ", name="View", source=write_source(tmp_path / "source"),
                   dps=["ZZZ:MGMT01", "P00:REMOTE_DP"])
    assert lab.run_until_idle(seed=1).status == "waiting"
    view = Watcher(lab).view()
    zzz = {site.site: site for site in view.sites}["ZZZ"]
    assert zzz.waiting["outboxes"] >= 1, "the send requests wait behind the link that is down"
    assert (view.installed, view.targeted) == (1, 2)
    assert "1 of 2 DP(s) installed" in text(lab)


def test_a_send_shows_how_far_it_has_got(sitesrv_lab: Lab) -> None:
    lab = sitesrv_lab
    started = {"time": "2007-06-04T09:00:01.000Z", "event": "send_started", "site": "ZZZ",
               "component": "SMS_LAN_SENDER", "request": "2_001ZZZ", "to": "P00",
               "bytes": 1000}
    events = lab.layout.events
    events.write_text(json.dumps(started) + "\n" + '{"time": "2007-06-04T09:00:02')  # torn
    (lab.site("P00").receive / "2_001ZZZ.PCK").write_bytes(b"x" * 250)
    watcher = Watcher(lab)
    (zzz,) = [s for s in watcher.view().sites if s.site == "ZZZ"]
    assert [(s.request, s.destination, s.written, s.size) for s in zzz.sends] == [
        ("2_001ZZZ", "P00", 250, 1000)]
    assert "2_001ZZZ to P00: 25 % of 1,000 bytes" in text(lab)
    with events.open("a") as fh:  # the torn line completes: the send finished
        fh.write('.000Z", "event": "send_finished", "site": "ZZZ", "component": '
                 '"SMS_LAN_SENDER", "request": "2_001ZZZ", "to": "P00"}\n')
    (zzz,) = [s for s in watcher.view().sites if s.site == "ZZZ"]
    assert zzz.sends == ()


def test_a_compression_shows_the_bytes_it_has_written(sitesrv_lab: Lab, tmp_path: Path) -> None:
    lab = sitesrv_lab
    create_package(lab, "ZZZ", name="View", source=write_source(tmp_path / "source"),
                   dps=["ZZZ:MGMT01"])
    assert lab.run_until_idle(seed=1).status == "idle"
    (started,) = events(lab, "compression_started")
    temp = started["file"]
    assert (started["site"], started["package"], started["version"]) == ("ZZZ", "ZZZ00001", 1)
    assert any(m.startswith("Starting to compress ") and m.endswith(
        f" to {temp} for package ZZZ00001") for m in log_messages(lab, "ZZZ", "distmgr.log"))
    # The same compression seen half way: its event read, the package_compressed not yet.
    events_file = lab.layout.events
    lines = events_file.read_text().splitlines(keepends=True)
    done = next(i for i, line in enumerate(lines) if '"package_compressed"' in line)
    events_file.write_text("".join(lines[:done]))
    (lab.site("ZZZ").root / temp.rsplit("\\", 1)[-1]).write_bytes(b"x" * 3000)
    watcher = Watcher(lab)
    (zzz,) = [s for s in watcher.view().sites if s.site == "ZZZ"]
    assert [(p.action, p.package, p.written) for p in zzz.packing] == [
        ("compress", "ZZZ00001", 3000)]
    assert "ZZZ00001 compressing: 3,000 bytes written" in text(lab)
    with events_file.open("a") as fh:
        fh.writelines(lines[done:])
    (zzz,) = [s for s in watcher.view().sites if s.site == "ZZZ"]
    assert zzz.packing == ()


def test_an_extraction_onto_a_dp_shows_how_far_it_has_got(sitesrv_lab: Lab,
                                                          tmp_path: Path) -> None:
    lab = sitesrv_lab
    source = write_source(tmp_path / "source", {"SETUP.EXE": b"s" * 3000, "DATA/A.BIN": b"a" * 1000})
    create_package(lab, "ZZZ", name="View", source=source, dps=["ZZZ:MGMT01"])
    assert lab.run_until_idle(seed=1).status == "idle"
    # An extraction half way: the staging folder beside the DP folder holds 1000 of 4000 bytes.
    staging = lab.root / "ZZZ/dp/MGMT01/SMSPKGC$/ZZZ00001.sitesrv-new"
    (staging / "DATA").mkdir(parents=True)
    (staging / "DATA" / "A.BIN").write_bytes(b"a" * 1000)
    (zzz,) = [s for s in Watcher(lab).view().sites if s.site == "ZZZ"]
    assert [(p.action, p.package, p.where, p.written, p.size) for p in zzz.packing] == [
        ("extract", "ZZZ00001", "MGMT01", 1000, 4000)]
    assert "ZZZ00001 to MGMT01: 25 % of 4,000 bytes" in text(lab)


@pytest.mark.live_fs
def test_a_live_run_with_the_view_draws_it(sitesrv_lab: Lab, tmp_path: Path) -> None:
    lab = sitesrv_lab
    create_package(lab, "ZZZ", name="View", source=write_source(tmp_path / "source"),
                   dps=["ZZZ:MGMT01"])
    result = CliRunner().invoke(cli, ["run", "--lab", str(lab.root), "--until-idle",
                                      "--timeout", "60", "--view"])
    assert result.exit_code == 0, result.output
    assert "sitesrv run: 1 of 1 DP(s) installed" in result.stderr


def test_the_view_keeps_the_sizes_of_the_packages_it_shows_only(sitesrv_lab: Lab,
                                                                 tmp_path: Path) -> None:
    lab = sitesrv_lab
    create_package(lab, "ZZZ", name="View", source=write_source(tmp_path / "source"),
                   dps=["ZZZ:MGMT01"])
    assert lab.run_until_idle(seed=1).status == "idle"
    staging = lab.root / "ZZZ/dp/MGMT01/SMSPKGC$/ZZZ00001.sitesrv-new"
    staging.mkdir(parents=True)
    pck = lab.site("ZZZ").smspkg / "ZZZ00001.PCK"
    watcher = Watcher(lab)
    for n in range(5):  # a new version of the PCK each time, as a long run makes them
        os.utime(pck, ns=(n, n))
        watcher.view()
        assert len(watcher._sizes) == 1
    staging.rmdir()
    watcher.view()
    assert watcher._sizes == {}


@pytest.mark.usefixtures("short_busy_timeout")
def test_the_view_draws_while_another_program_holds_the_central_database(
        sitesrv_lab: Lab) -> None:
    """A backup or a sqlite3 session holds ZZZ's database exclusively: the view still draws,
    without the DP count, and never ends the run with a traceback."""
    holder = sqlite3.connect(sitesrv_lab.site("ZZZ").database, isolation_level=None, timeout=0)
    try:
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("COMMIT")  # the exclusive lock stays until the connection closes
        assert "0 of 0 DP(s) installed" in text(sitesrv_lab)
    finally:
        holder.close()

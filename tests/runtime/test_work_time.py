"""Work takes lab time in step mode, and a lab's runs never draw the same random names again.

Each unit's work moves the step run's clock on by its modelled cost (runtime/worktime.py:
compression and expansion by bytes, DP copies and LAN sends by size, a file taken), so the logs
show a time line; every step run of a lab draws its random names from a stream of its own
(lab/clock.py `next_run`). Both stay deterministic: the same seed on a fresh lab gives the same
bytes. The assertions are on lab-time stamps in the logs, never on wall-clock time.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pytest

from sitesrv.admin import console
from sitesrv.admin.lab import Lab
from sitesrv.lab.clock import RUNS_FILE, RealClock, VirtualClock
from sitesrv.lab.timing import PROFILES
from sitesrv.logs.smslog import LogLine
from sitesrv.runtime.worktime import WorkTime
from sitesrv.testing import LabFactory, events, log_lines, query, write_source

PAYLOAD = 2 * 1024 * 1024
SITES = ("ZZZ", "P00", "S01")
DPS = ["ZZZ:MGMT01", "P00:REMOTE_DP", "S01:SEC01"]
JITTER = PROFILES["lab"].work_jitter
# Names a component draws at random: SMS's compression folder, and the 8 characters of an
# instruction dropped into INCOMING or handed to Replication Manager.
RANDOM_NAMES = re.compile(r"_S [A-Za-z0-9]{5}\.TMP|INCOMING\\[A-Z0-9]{8}\.[A-Z]{3}"
                          r"|outbound\\[a-z]+\\[A-Z0-9]{3}_[A-Z0-9]{8}\.[A-Z]{3}")


def sample(folder: Path) -> Path:
    return write_source(folder, {"SETUP.INI": b"[Setup]\r\n",
                                 "DATA/PAYLOAD.BIN": random.Random(14).randbytes(PAYLOAD)})


def sent_lab(factory: LabFactory, hierarchy: str, name: str = "lab", seed: int = 0) -> Lab:
    lab = factory(hierarchy, name=name)
    console.create_package(lab, "ZZZ", name="Timed", source=sample(lab.root / "source"),
                           dps=DPS)
    assert lab.run_until_idle(seed=seed).status == "idle"
    return lab


@pytest.fixture
def lab(sitesrv_lab_factory: LabFactory, default_hierarchy_text: str) -> Lab:
    return sent_lab(sitesrv_lab_factory, default_hierarchy_text)


def line(lines: list[LogLine], start: str) -> int:
    return next(i for i, x in enumerate(lines) if x.text.startswith(start))


def took(lines: list[LogLine], start: str) -> float:
    """Lab seconds from the line that starts with `start` to the line after it."""
    i = line(lines, start)
    return lines[i + 1].lab_time - lines[i].lab_time


def about(seconds: float, cost: float) -> bool:
    """Within the profile's jitter of the modelled cost (and a millisecond of rounding)."""
    return cost * (1 - JITTER) - 0.001 <= seconds <= cost * (1 + JITTER) + 0.001


def test_compression_expansion_and_dp_copies_take_lab_time_by_size(lab: Lab) -> None:
    timing = lab.hierarchy.timing
    distmgr = log_lines(lab, "ZZZ", "distmgr.log")
    source_bytes = PAYLOAD + len(b"[Setup]\r\n")
    assert about(took(distmgr, "Starting to compress "), source_bytes / timing.compress_rate)
    pck_bytes = (lab.site("ZZZ").smspkg / "ZZZ00001.PCK").stat().st_size
    assert about(took(distmgr, "Decompressing package "), pck_bytes / timing.decompress_rate)
    copy = line(distmgr, "Copying F:\\_S ")
    assert distmgr[copy].text.endswith("\\DATA\\PAYLOAD.BIN, OK")
    assert about(distmgr[copy].lab_time - distmgr[copy - 1].lab_time,
                 PAYLOAD / timing.dp_copy_rate)


def test_a_send_over_a_lan_takes_its_bytes_at_the_lan_rate(lab: Lab) -> None:
    sender = log_lines(lab, "ZZZ", "sender.log")
    first = line(sender, "~Attempt to write ")
    count = int(sender[first].text.split()[3])
    assert sender[first + 1].text.startswith(f"~Wrote {count} bytes")
    assert about(sender[first + 1].lab_time - sender[first].lab_time,
                 count / lab.hierarchy.timing.network_rate)


def test_a_component_takes_a_file_some_time_after_it_arrives(lab: Lab) -> None:
    """SQL Monitor drops the `.PKN`; Distribution Manager's first line about it comes once it
    has noticed and read it."""
    timing = lab.hierarchy.timing
    (dropped,) = events(lab, "notification", site="ZZZ")
    noticed = log_lines(lab, "ZZZ", "distmgr.log")[line(log_lines(lab, "ZZZ", "distmgr.log"),
                                                        "Start adding package ")].lab_time
    assert noticed - lab_seconds(dropped["time"]) >= (
        (timing.file_notice + timing.instruction_cost) * (1 - JITTER))


def test_every_log_and_the_event_stream_keep_one_time_line(lab: Lab) -> None:
    """Lines never go backwards within a log; events, written in the order the units ran at
    every site, never go backwards either, so the order of lines across sites follows their
    times. The package's journey takes lab time: its last DP is installed seconds after the
    first."""
    for site in SITES:
        for log in sorted((lab.root / site / "SMS" / "Logs").glob("*.log")):
            times = [x.lab_time for x in log_lines(lab, site, log.name)]
            assert times == sorted(times), log
    times = [lab_seconds(e["time"]) for e in events(lab)]
    assert times == sorted(times)
    installed = [lab_seconds(e["time"]) for e in events(lab, "dp_installed")]
    assert len(installed) == 3 and installed[-1] - installed[0] > 5


def test_the_same_seed_on_a_fresh_lab_gives_the_same_bytes(
        sitesrv_lab_factory: LabFactory, default_hierarchy_text: str) -> None:
    a, b = (sent_lab(sitesrv_lab_factory, default_hierarchy_text, name, seed=3)
            for name in ("a", "b"))
    assert sitesrv_files(a) == sitesrv_files(b)
    other = sent_lab(sitesrv_lab_factory, default_hierarchy_text, "c", seed=4)
    assert sitesrv_files(other) != sitesrv_files(a), "another seed, other stamps and names"


def test_no_random_name_comes_again_in_a_later_run_of_the_lab(lab: Lab) -> None:
    first = logs_text(lab)
    drawn_first = names_in(first.values())
    (before,) = query(lab, "ZZZ", "SELECT SourceDate FROM SMSPackages")
    console.update_package(lab, "ZZZ00001")  # a new version: compressed and installed again
    assert lab.run_until_idle(seed=0).status == "idle"
    drawn_next = names_in(text[len(first.get(log, "")):] for log, text in logs_text(lab).items())
    assert drawn_first and drawn_next and not drawn_first & drawn_next
    for site in SITES:  # the second run had the next number in the stream
        assert (lab.site(site).state_dir / RUNS_FILE).read_text() == "2\n"
    (after,) = query(lab, "ZZZ", "SELECT SourceDate FROM SMSPackages")
    assert after > before, "the second version is dated later, on the lab's one time line"


def test_work_time_is_the_cost_varied_by_the_jitter_and_spent_on_the_drivers_clock() -> None:
    clock, rng = VirtualClock(), random.Random(1)
    start = clock.now()
    work = WorkTime(clock, rng, PROFILES["sms2003"])
    work.compressed(4 * 1024 * 1024)  # 2 s at 2 MiB/s, give or take 20 %
    assert 1.6 <= clock.now() - start <= 2.4
    state, now = rng.getstate(), clock.now()
    work.spend(0)  # no work: no time, and no draw from the rng
    assert (rng.getstate(), clock.now()) == (state, now)
    live = RealClock(start=start, since=time.time() + 3600)  # a live clock an hour from now
    WorkTime(live, rng, PROFILES["sms2003"]).compressed(1024**3)
    assert live.now() < start, "live, the work took its real time: nothing is added"


def lab_seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def logs_text(lab: Lab) -> dict[Path, str]:
    """Every log of the lab (none rolls over in these tests), by path."""
    return {p: p.read_text() for p in sorted(lab.root.glob("*/SMS/Logs/*.log"))}


def names_in(texts: Iterable[str]) -> set[str]:
    found: list[str] = []
    for text in texts:
        found += RANDOM_NAMES.findall(text)
    return {name.rsplit("\\", 1)[-1] for name in found}


def sitesrv_files(lab: Lab) -> dict[str, bytes]:
    """Every log, the event stream and the lab clock's files, with the lab's folder written as
    `<LAB>` (the labs of one test live in different folders)."""
    paths = [lab.root / "events.jsonl", *sorted(lab.root.glob("*/SMS/Logs/*.log")),
             *sorted(lab.root.glob("*/SMS/state/lab-*"))]
    return {str(p.relative_to(lab.root)): p.read_bytes().replace(str(lab.root).encode(), b"<LAB>")
            for p in paths}

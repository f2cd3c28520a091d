"""`sitesrv run` as a script sees it: exit statuses, printed waits, option errors."""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from sitesrv.cli.run import run_command
from sitesrv.errors import UserError
from sitesrv.runtime.idle import ExitCode
from sitesrv.testing import LabFactory, drop, inbox, tree_digest
from tests.conftest import REPO
from tests.runtime.toy import INSTALLED, OUTBOX, installed_items, instruction

TOY = ["--components", "tests.runtime.toy:REGISTRY"]


def run(lab: Path, *args: str) -> Result:
    return CliRunner().invoke(run_command, ["--lab", str(lab), *TOY, *args])


def test_step_mode_exits_0_when_idle_with_nothing_waiting(lab: Path) -> None:
    drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
    result = run(lab, "--step", "--seed", "4")
    assert result.exit_code == ExitCode.IDLE, result.output
    assert result.stdout == ""
    assert "Idle after " in result.stderr and "nothing waits." in result.stderr
    assert installed_items(inbox(lab, "SEC", INSTALLED)) == ["A"]


def test_step_mode_exits_3_and_prints_one_line_per_waiting_item(lab: Path) -> None:
    drop(inbox(lab, "CEN", OUTBOX), "W.SRQ", instruction("W", needs="V2"))
    drop(inbox(lab, "CEN", OUTBOX), "X.SRQ", instruction("X", needs="V3"))
    result = run(lab, "--step", "--horizon", "1m")
    assert result.exit_code == ExitCode.WAITING
    assert result.stdout.splitlines() == [
        "SEC SMS_TOY_DESPOOLER: receive\\W.SNI waits for V2",
        "SEC SMS_TOY_DESPOOLER: receive\\X.SNI waits for V3",
    ]
    assert "2 item(s) wait." in result.stderr


def test_step_mode_exits_4_when_max_steps_run_out_and_a_second_run_goes_on(lab: Path) -> None:
    drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
    result = run(lab, "--step", "--max-steps", "2")
    assert result.exit_code == ExitCode.TIMEOUT
    assert "Timed out after 2 counted steps (4 in all)" in result.stderr
    assert ("if it was still making progress, pass a larger --max-steps, or run it again to go "
            "on from here.") in result.stderr
    assert installed_items(inbox(lab, "SEC", INSTALLED)) == []
    again = run(lab, "--step")
    assert again.exit_code == ExitCode.IDLE, again.output
    assert installed_items(inbox(lab, "SEC", INSTALLED)) == ["A"]


def test_a_recorded_run_replays_to_the_same_tree(tmp_path: Path,
                                                 sitesrv_lab_factory: LabFactory) -> None:
    labs = [sitesrv_lab_factory(name=name).root for name in ("a", "b")]
    for lab in labs:
        for item in ("A", "B", "C"):
            drop(inbox(lab, "CEN", OUTBOX), f"{item}.SRQ", instruction(item))
    schedule = tmp_path / "schedule.jsonl"
    assert run(labs[0], "--step", "--seed", "8", "--record", str(schedule)).exit_code == 0
    assert run(labs[1], "--step", "--replay", str(schedule)).exit_code == 0
    assert tree_digest(labs[0]) == tree_digest(labs[1])


def test_a_replay_with_another_seed_than_recorded_is_a_user_error(lab: Path,
                                                                  tmp_path: Path) -> None:
    schedule = tmp_path / "schedule.jsonl"
    assert run(lab, "--step", "--seed", "5", "--record", str(schedule)).exit_code == 0
    result = run(lab, "--step", "--seed", "6", "--replay", str(schedule))
    assert isinstance(result.exception, UserError)
    assert "was recorded with seed 5; replaying it with seed 6" in str(result.exception)


@pytest.mark.parametrize("seconds", ["-1", "0"])
def test_a_timeout_that_is_not_positive_is_refused(lab: Path, seconds: str) -> None:
    result = run(lab, "--until-idle", "--timeout", seconds)
    assert result.exit_code == 2
    assert "Invalid value for '--timeout'" in result.output


def test_a_schedule_that_cannot_be_written_is_a_user_error_and_costs_no_run(
        lab: Path, tmp_path: Path) -> None:
    runs = lab / "CEN/SMS/state/lab-runs"
    before = runs.read_text() if runs.exists() else None
    result = run(lab, "--step", "--record", str(tmp_path / "missing" / "s.jsonl"))
    assert isinstance(result.exception, UserError)
    assert "Cannot write the schedule to" in str(result.exception)
    assert "Pass --record with a file in a folder that exists" in str(result.exception)
    assert (runs.read_text() if runs.exists() else None) == before


@pytest.mark.parametrize(("args", "message"), [
    (["--seed", "1"], "--seed needs --step."),
    (["--record", "a", "--max-steps", "3"], "--max-steps, --record need --step."),
    (["--step", "--watcher", "polling"], "--watcher needs a live run"),
    (["--timeout", "5"], "--timeout needs --until-idle"),
    (["--step", "--horizon", "soon"], "--horizon: 'soon' is not a duration"),
    (["--step", "--record", "a", "--replay", "b"], "not both"),
])
def test_option_mistakes_are_user_errors(lab: Path, args: list[str], message: str) -> None:
    result = run(lab, *args)
    assert isinstance(result.exception, UserError)
    assert message in str(result.exception)


@pytest.mark.parametrize("option", [["--workers", "2"], ["--processes", "per-site"],
                                    ["--processes", "2"]])
def test_workers_and_processes_are_live_options(lab: Path, option: list[str]) -> None:
    result = subprocess.run([sys.executable, "-c", "from sitesrv.cli.main import main; main()", "run",
                             "--lab", str(lab), "--step", *option],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"{option[0]} needs a live run" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.live_fs
def test_processes_2_runs_the_sites_in_two_processes(lab: Path) -> None:
    drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
    result = subprocess.run([sys.executable, "-c", "from sitesrv.cli.main import main; main()",
                             "run", "--lab", str(lab), "--processes", "2", "--until-idle",
                             "--timeout", "60", "--components", "tests.runtime.toy:REGISTRY"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Running site servers CEN, SEC in 2 processes" in result.stderr
    assert "Idle at lab time" in result.stderr
    assert installed_items(inbox(lab, "SEC", INSTALLED)) == ["A"]


@pytest.mark.parametrize("value", ["0", "-1", "two", "2.5"])
def test_processes_is_one_per_site_or_a_whole_number(lab: Path, value: str) -> None:
    result = CliRunner().invoke(run_command, ["--lab", str(lab), "--processes", value])
    assert result.exit_code == 2
    assert f"'{value}' is not one, per-site or a whole number of processes" in result.output


def test_an_unknown_registry_is_a_user_error(lab: Path) -> None:
    result = CliRunner().invoke(run_command, ["--lab", str(lab), "--step", "--components",
                                              "tests.runtime.toy:NOPE"])
    assert isinstance(result.exception, UserError)
    assert "tests.runtime.toy:NOPE is not a sitesrv.runtime.registry.Registry" in str(
        result.exception)


def test_the_module_entry_point_prints_user_errors_and_exits_2(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "sitesrv.cli.run", "--lab",
                           str(tmp_path / "none"), "--step"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"sitesrv: There is no lab at {tmp_path / 'none'}")


@pytest.mark.parametrize("debug", [False, True])
def test_failing_units_exit_3_with_one_line_each_and_no_traceback_unless_debug(
        lab: Path, debug: bool) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sitesrv.cli.run", "--lab", str(lab), "--step",
         "--components", "tests.runtime.toy:BROKEN", *(["--debug"] if debug else [])],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == ExitCode.WAITING, done.stderr
    assert done.stdout == ("CEN SMS_TOY_BROKEN: 1 unit(s) failed (RuntimeError: no such table: "
                           "PkgNotification); see toybroken.log\n")
    assert done.stderr.endswith("; nothing waits, 1 problem(s).\n")
    failed = "CEN SMS_TOY_BROKEN: a unit failed: RuntimeError: no such table: PkgNotification"
    if debug:
        assert failed in done.stderr and "Traceback (most recent call last)" in done.stderr
    else:
        assert done.stderr.splitlines()[0] == failed and len(done.stderr.splitlines()) == 2


@pytest.mark.live_fs
def test_live_until_idle_exits_3_and_prints_what_waits(lab: Path) -> None:
    drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
    drop(inbox(lab, "CEN", OUTBOX), "W.SRQ", instruction("W", needs="V2"))
    result = run(lab, "--until-idle", "--timeout", "30", "--horizon", "1s")
    assert result.exit_code == ExitCode.WAITING, result.output
    assert result.stdout == "SEC SMS_TOY_DESPOOLER: receive\\W.SNI waits for V2\n"
    assert installed_items(inbox(lab, "SEC", INSTALLED)) == ["A"]


def test_a_watched_step_run_shows_its_steps_and_lab_time_then_its_report(
        lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal (the default there, or --view) a step run redraws one line while it goes;
    the line is erased at the end and the report follows."""
    monkeypatch.setattr("sitesrv.admin.stepview.REDRAW_SECONDS", 0.0)
    # stderr is CliRunner's, not a terminal: rich is told it is one, as on a person's screen.
    monkeypatch.setattr("rich.console.Console", functools.partial(Console, force_terminal=True))
    drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
    watched = run(lab, "--step", "--view")
    assert watched.exit_code == ExitCode.IDLE, watched.output
    assert watched.stderr.startswith("\x1b[?25lStep run: starting the site servers\r")
    drawn = re.findall(r"Step run: (\d+) steps? in \d+\.\d s, lab time (2007-06-04T\S+Z)",
                       watched.stderr)
    steps = int(watched.stderr.split("Idle after ")[1].split()[0])
    assert [int(n) for n, _ in drawn] == list(range(1, steps + 1)) + [steps]  # + the last draw
    # The line is erased (cursor up, clear line) before the report is written.
    assert watched.stderr.rstrip().endswith("nothing waits.")
    assert "\x1b[2K" in watched.stderr.split("Idle after ")[0][-40:]


def test_a_step_run_with_view_into_a_file_logs_plain_lines(
        lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With --view and standard error in a file or a pipe, a plain line every few seconds (here
    every step), no control codes; without --view there, only the report."""
    monkeypatch.setattr("sitesrv.admin.stepview.PLAIN_SECONDS", 0.0)
    drop(inbox(lab, "CEN", OUTBOX), "A.SRQ", instruction("A"))
    viewed = run(lab, "--step", "--view")
    assert viewed.exit_code == ExitCode.IDLE, viewed.output
    lines = viewed.stderr.splitlines()
    steps = int(lines[-1].split("Idle after ")[1].split()[0])
    assert [int(re.fullmatch(r"Step run: (\d+) steps? in \d+\.\d s, lab time "
                             r"2007-06-04T\S+Z", text)[1]) for text in lines[:-1]] == list(
        range(1, steps + 1))
    assert "\x1b" not in viewed.stderr
    drop(inbox(lab, "CEN", OUTBOX), "B.SRQ", instruction("B"))
    unwatched = run(lab, "--step")
    assert unwatched.exit_code == ExitCode.IDLE and "Step run" not in unwatched.stderr


def test_debug_records_go_above_the_step_view_line_not_into_it(
        lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--debug prints failing units' records on stderr while the view draws: each on its own
    line above the view's, as the view is redrawn under it."""
    monkeypatch.setattr("sitesrv.admin.stepview.REDRAW_SECONDS", 0.0)
    monkeypatch.setattr("rich.console.Console", functools.partial(Console, force_terminal=True))
    done = CliRunner().invoke(run_command, ["--lab", str(lab), "--step", "--view", "--debug",
                                            "--components", "tests.runtime.toy:BROKEN"])
    assert done.exit_code == ExitCode.WAITING, done.output
    failed = "CEN SMS_TOY_BROKEN: a unit failed: RuntimeError: no such table: PkgNotification"
    before = done.stderr.split(failed)[0]
    # Written above the view: the view's line is cleared first, the record starts a line.
    assert before.endswith("\x1b[2K") or before.endswith("\n"), repr(before[-80:])
    assert not re.search(r"(servers|Z)(WARNING|ERROR|CEN SMS_TOY_BROKEN)", done.stderr)

"""A field report as a story a lab plays: break the lab as the report describes, find the
symptom the report quotes, run its diagnosis, apply its repair, and check that the lab recovered.

A scenario only uses what a user has: the console's actions, SQL at a site, the logs, the files
on the DPs. Every stage is a verdict with the lines that prove it, so a person reading the output
sees the report's own words come out of the lab.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

import attrs

from sitesrv.admin import console
from sitesrv.admin.demo import write_sample_source
from sitesrv.admin.lab import Lab
from sitesrv.db.sitedb import ChangeResult, SiteDatabase
from sitesrv.errors import UserError
from sitesrv.files.digest import tree_digest
from sitesrv.logs.smslog import read_log_history

SUMMARIZER_QUERY = "SELECT * FROM SMS_PackageStatusDistPointsSummarizer WHERE State != 0"


@attrs.frozen
class Stage:
    """One step of the story and whether it went as the report says."""

    name: str  # symptom, diagnosis, repair, recovered
    passed: bool
    lines: tuple[str, ...] = ()


@attrs.frozen
class Step:
    """One step of a printed repair: a command for a POSIX shell (sh, bash, zsh; on Windows,
    Git Bash or WSL), every path in it quoted, and why, printed as a `#` comment, so that the
    steps pasted into a shell are the repair (docs/scenarios.md)."""

    command: str
    why: str = ""

    def line(self, lab: Path | None = None) -> str:
        """The step as printed: a `sitesrv` command given the kept `lab`, then the comment."""
        command = self.command
        if lab is not None and command.startswith("sitesrv "):
            command += f" --lab {quoted(lab)}"
        return f"{command}  # {self.why}" if self.why else command


@attrs.define
class Play:
    """A story being played: the lab, the seed and the package it is about."""

    lab: Lab
    seed: int
    hotfix: bool
    source: Path
    package_id: str = ""
    dps: tuple[str, ...] = ()

    def run(self) -> str:
        """Run the lab's site servers in step mode until idle; the run's status."""
        return self.lab.run_until_idle(seed=self.seed).status

    def log(self, site: str, name: str) -> list[str]:
        """The messages of a site's log, its rolled-over `.lo_` first."""
        return [line.text for line in read_log_history(self.lab.site(site).log(name))]

    def query(self, site: str, sql: str) -> list[tuple[object, ...]]:
        with SiteDatabase.open(self.lab.site(site).database) as db:
            return db.query(sql)

    def execute(self, site: str, sql: str) -> int:
        """An SQL change at `site`, as `sitesrv sql` makes it; the rows it changed."""
        with SiteDatabase.open(self.lab.site(site).database) as db:
            result = db.execute_user_sql(sql)
        return result.rowcount if isinstance(result, ChangeResult) else 0

    def dp_folder(self, spec: str) -> Path:
        site, dp = console.parse_dp(self.lab, spec)
        return self.lab.site(site.code).dp_package(dp, self.package_id)

    def create(self, dps: tuple[str, ...], name: str = "Sample Package") -> str:
        """The sample package at the central site, targeted to `dps`."""
        self.dps = dps
        self.package_id = console.create_package(
            self.lab, self.lab.hierarchy.central.code, name=name, source=self.source,
            dps=list(dps))
        return self.package_id


@attrs.frozen
class Scenario:
    """A field report: how to break a lab, what shows it, how to diagnose and repair it.

    `breaks` plays the story up to the symptom and returns the symptom stage (its lines are the
    report's lines found in the logs; passed when the symptom is what the report predicts,
    which with the hotfix is no symptom at all). `diagnose` and `repair` may be None for a
    story with nothing to repair (the demo)."""

    name: str
    report: str  # where a reader finds the report: a docs/sources.md anchor or a KB article
    summary: str
    hierarchy: Callable[[Path, bool], str]  # (default hierarchy file, hotfix) -> YAML text
    breaks: Callable[[Play], Stage]
    diagnose: Callable[[Play], Stage] | None = None
    repair: Callable[[Play], Stage] | None = None
    repair_steps: Callable[[Play], tuple[Step, ...]] = lambda play: ()
    # (hotfix) -> whether the report predicts the symptom; None for a race, which may go
    # either way, seed by seed
    symptom_expected: Callable[[bool], bool | None] = lambda hotfix: True
    # why the story ends well where the report predicts no symptom, as a kept lab's note says
    ends_well: str = "the report's workaround"


@attrs.frozen
class Outcome:
    """How one play of a scenario went."""

    scenario: str
    seed: int
    hotfix: bool
    stages: tuple[Stage, ...]
    showed_symptom: bool
    lab: Path | None = None  # the lab left in place with --keep
    repair_steps: tuple[Step, ...] = ()
    can_get_stuck: bool = True  # False for a story the report says ends well (a workaround)
    ends_well: str = ""  # why, when it cannot get stuck (Scenario.ends_well)

    @property
    def passed(self) -> bool:
        return all(stage.passed for stage in self.stages)

    @property
    def recovered(self) -> bool:
        return any(s.name == "recovered" and s.passed for s in self.stages)


def play(scenario: Scenario, folder: Path, default_hierarchy: Path, *, seed: int,
         hotfix: bool = False, keep: bool = False) -> Outcome:
    """Build a lab in `folder` and play `scenario` on it; with `keep`, stop at the symptom and
    leave the lab there for the user's own repair."""
    _new_folder(folder)
    hierarchy_file = folder / "hierarchy.yaml"
    hierarchy_file.write_text(scenario.hierarchy(default_hierarchy, hotfix), encoding="utf-8")
    lab = Lab.init(folder / "lab", hierarchy_file).lab
    story = Play(lab=lab, seed=seed, hotfix=hotfix,
                 source=write_sample_source(folder / "source"))
    symptom = scenario.breaks(story)
    showed = bool(symptom.lines) and symptom.name == "symptom"
    expected = scenario.symptom_expected(hotfix)
    stages = [attrs.evolve(symptom, passed=expected is None or showed == expected)]
    outcome = {"scenario": scenario.name, "seed": seed, "hotfix": hotfix,
               "showed_symptom": showed, "can_get_stuck": expected is not False,
               "ends_well": scenario.ends_well if expected is False else ""}
    if keep:
        return Outcome(stages=tuple(stages), lab=lab.root,
                       repair_steps=scenario.repair_steps(story) if showed else (), **outcome)
    if showed and scenario.diagnose is not None:
        stages.append(scenario.diagnose(story))
    if showed and scenario.repair is not None:
        stages.append(scenario.repair(story))
    stages.append(recovered(story))
    return Outcome(stages=tuple(stages), **outcome)


def _new_folder(folder: Path) -> None:
    """`folder` made, or found empty: a scenario never writes over someone's files."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        empty = not any(folder.iterdir())
    except OSError as e:
        raise UserError(f"Cannot use {folder} for a scenario's lab: {e.strerror or e}. Give a "
                        "new or empty folder.") from None
    if not empty:
        raise UserError(f"{folder} is not empty; a scenario builds its lab in a new or empty "
                        "folder, so that it never writes over files of yours.")


def recovered(story: Play) -> Stage:
    """Every targeted DP byte-identical to the source, and the summarizer clean at the central
    site (the smsutils report's query returns no rows)."""
    status = story.run()
    source = tree_digest(story.source)
    lines = [f"sitesrv run --step: {status}"]
    passed = status == "idle"
    for spec in story.dps:
        same = tree_digest(story.dp_folder(spec)) == source
        passed &= same
        lines.append(f"{spec.upper()}: {'byte-identical to the source' if same else 'DIFFERS'}")
    central = story.lab.hierarchy.central.code
    rows = story.query(central, SUMMARIZER_QUERY)
    passed &= not rows
    lines.append(f"{central}: {SUMMARIZER_QUERY}: {len(rows)} row(s)")
    return Stage("recovered", passed, tuple(lines))


def quoted(path: Path) -> str:
    """A path in a printed repair step, quoted for a shell: the step is pasted as printed."""
    return shlex.quote(str(path))


def run_step(play: Play) -> Step:
    """The repair's last step, the run with the story's seed: pasted, it gives the same bytes as
    the whole story played by `sitesrv scenario run`."""
    return Step(f"sitesrv run --step --seed {play.seed}",
                "the lab run as the whole story runs it: the same seed, the same bytes")


def lines(steps: tuple[Step, ...]) -> tuple[str, ...]:
    """Steps as a repair stage's lines, as the kept lab's repair prints them without --lab."""
    return tuple(step.line() for step in steps)


def found(name: str, messages: list[str], match: Callable[[str], bool]) -> Stage:
    """A stage whose lines are the distinct `messages` that `match`, in first-seen order."""
    lines = tuple(dict.fromkeys(m for m in messages if match(m)))
    return Stage(name, bool(lines), lines)


def stuck(status: str, *evidence: Stage) -> Stage:
    """The symptom stage: the reports' lines, found in a lab whose run did not end idle (a
    line that shows once on the way to a clean install is not the report's symptom)."""
    lines = tuple(line for stage in evidence for line in stage.lines)
    showed = status == "waiting" and all(stage.passed for stage in evidence)
    return Stage("symptom", showed, lines if showed else ())

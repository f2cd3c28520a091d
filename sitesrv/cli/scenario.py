"""`sitesrv scenario list|run`: each field report as one command (docs/scenarios.md)."""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sitesrv.errors import UserError

if TYPE_CHECKING:
    from sitesrv.admin.scenarios import Outcome

MAX_SEEDS = 1000


@click.group("scenario")
def scenario_group() -> None:
    """Play a field report end to end: break a lab as the report says, find its symptom and
    diagnosis, apply its repair, and check that every DP recovered."""


@scenario_group.command("list")
def list_scenarios() -> None:
    """Name each scenario, its field report and what it shows."""
    from sitesrv.admin.scenarios import SCENARIOS

    for item in SCENARIOS.values():
        click.echo(f"{item.name}\n  report: {item.report}\n  {item.summary}")


@scenario_group.command("run")
@click.argument("name")
@click.option("--seed", type=click.IntRange(0), help="The step-mode seed (default 1).")
@click.option("--seeds", "seed_range", metavar="A-B",
              help="Play once per seed from A to B and print how many showed the symptom and "
                   "how many recovered.")
@click.option("--hotfix", is_flag=True, help="Apply the KB936465 hotfix at every site.")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path),
              help="Build the lab in this folder (new or empty), stop at the symptom, leave "
                   "the lab there and print the report's repair, to try your own on it.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per play.")
def run_scenario(name: str, seed: int | None, seed_range: str | None, hotfix: bool, keep: Path | None,
                 as_json: bool) -> None:
    """Play scenario NAME in a fresh lab (a temporary folder unless --keep).

    Prints a verdict for each stage: the symptom (the report's log lines, as the lab wrote
    them), the diagnosis (the report's query and the rows it finds), the repair, and the
    recovery (every DP byte-identical to the source, the summarizer clean). Exit status 0 when
    the story played out as the report says, 1 when it did not, 2 for a usage error.
    """
    from sitesrv.admin.lab import default_hierarchy_file
    from sitesrv.admin.scenarios import play, scenario

    story = scenario(name)
    if seed is not None and seed_range:
        raise UserError("Give --seed or --seeds, not both.")
    seeds = _seeds(seed_range) if seed_range else [1 if seed is None else seed]
    if keep is not None and len(seeds) > 1:
        raise UserError("--keep leaves one lab: give --seed, not --seeds.")
    outcomes = []
    for number in seeds:
        if keep is not None:
            outcome = play(story, keep, default_hierarchy_file(), seed=number, hotfix=hotfix,
                           keep=True)
        else:
            with tempfile.TemporaryDirectory(prefix="sitesrv-scenario-") as folder:
                outcome = play(story, Path(folder), default_hierarchy_file(), seed=number,
                               hotfix=hotfix)
        outcomes.append(outcome)
        if as_json:
            click.echo(json.dumps(_as_dict(outcome)))
        elif len(seeds) == 1:
            _show(outcome)
        else:
            click.echo(f"seed {number}: symptom {'yes' if outcome.showed_symptom else 'no'}, "
                       f"recovered {'yes' if outcome.recovered else 'no'}, "
                       f"{'as the report says' if outcome.passed else 'NOT as the report says'}")
    if len(seeds) > 1 and not as_json:
        showed = sum(o.showed_symptom for o in outcomes)
        click.echo(f"{story.name}{' with the hotfix' if hotfix else ''}, seeds {seeds[0]}-"
                   f"{seeds[-1]}: symptom in {showed} of {len(seeds)} "
                   f"({100 * showed / len(seeds):.0f} %), recovered in "
                   f"{sum(o.recovered for o in outcomes)}, as the report says in "
                   f"{sum(o.passed for o in outcomes)}")
    sys.exit(0 if all(o.passed for o in outcomes) else 1)


def _seeds(text: str) -> list[int]:
    match = re.fullmatch(r"(\d+)-(\d+)", text.strip())
    if not match or int(match[1]) > int(match[2]):
        raise UserError(f"--seeds {text!r} is not a range: write A-B with A <= B, e.g. 1-20.")
    first, last = int(match[1]), int(match[2])
    if last - first + 1 > MAX_SEEDS:
        raise UserError(f"--seeds {text} plays {last - first + 1} labs; at most {MAX_SEEDS}.")
    return list(range(first, last + 1))


def _show(outcome: Outcome) -> None:
    click.echo(f"{outcome.scenario} (seed {outcome.seed}"
               f"{', KB936465 hotfix' if outcome.hotfix else ''})")
    for stage in outcome.stages:
        click.echo(f"  {stage.name:<11} {'ok' if stage.passed else 'FAILED'}")
        for line in stage.lines or (("none",) if stage.name == "symptom" else ()):
            click.echo(f"      {line}")
    if outcome.lab is not None:
        click.echo(f"The lab is left at {outcome.lab}.")
        if not outcome.can_get_stuck and not outcome.showed_symptom:
            click.echo(f"This story ends well ({outcome.ends_well}): the lab is not stuck.")
        elif not outcome.showed_symptom:
            click.echo(f"The lab is not stuck: the symptom did not show for seed "
                       f"{outcome.seed} ('--seeds 1-20' shows which seeds it shows for).")
        if outcome.repair_steps:
            click.echo("The report's repair:")
            for step in outcome.repair_steps:
                click.echo(f"  {step.line(outcome.lab)}")
    click.echo("verdict: " + ("as the report says" if outcome.passed
                              else "NOT as the report says"))


def _as_dict(outcome: Outcome) -> dict[str, object]:
    return {"scenario": outcome.scenario, "seed": outcome.seed, "hotfix": outcome.hotfix,
            "passed": outcome.passed, "showed_symptom": outcome.showed_symptom,
            "recovered": outcome.recovered,
            "lab": str(outcome.lab) if outcome.lab else None,
            "repair_steps": [step.line(outcome.lab) for step in outcome.repair_steps],
            "stages": [{"name": s.name, "passed": s.passed, "lines": list(s.lines)}
                       for s in outcome.stages]}

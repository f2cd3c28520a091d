"""`sitesrv run`: the site servers of a lab, live or in step mode.

Exit statuses (ExitCode in idle.py): 0 idle and nothing waits, 1 a site server process could
not start or died (--processes per-site or N), 3 idle but something waits, or
units failed, or files were quarantined (one line per waiting item and per problem on stdout),
4 timeout (live --timeout, step --max-steps, which counts the steps that did something), 130
a live --until-idle run stopped by Ctrl-C or SIGTERM before it was idle. A plain live run stopped by
Ctrl-C or SIGTERM exits 0 after every unit in progress has finished.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TextIO

import click

from sitesrv.cli.options import LAB_OPTION
from sitesrv.errors import UserError
from sitesrv.runtime.defaults import DEFAULT_MAX_STEPS, DEFAULT_WORKERS, INOTIFY, WATCHERS

if TYPE_CHECKING:
    from sitesrv.runtime.idle import IdleReport
    from sitesrv.runtime.registry import Registry

STEP_ONLY = ("--seed", "--record", "--replay", "--max-steps")
LIVE_ONLY = ("--watcher", "--timeout", "--workers", "--processes")
ONE, PER_SITE = "one", "per-site"


class Processes(click.ParamType):
    """`one`, `per-site`, or a whole number of processes to spread the sites over (1: one)."""

    name = "one|per-site|N"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> str | int:
        text = str(value).strip().lower()
        if text in (ONE, PER_SITE):
            return text
        try:
            count = int(text)
        except ValueError:
            count = 0
        if count < 1:
            self.fail(f"{value!r} is not one, per-site or a whole number of processes (1 or "
                      "more)", param, ctx)
        return ONE if count == 1 else count


@click.command("run")
@LAB_OPTION
@click.option("--site", "sites", multiple=True, metavar="CODE",
              help="Run only this site's server (repeat for several); default: every site.")
@click.option("--until-idle", is_flag=True,
              help="Stop once the lab is idle; print what still waits.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="With --until-idle: give up after this many real seconds (exit 4).")
@click.option("--watcher", type=click.Choice(WATCHERS),
              help="How to notice new files: inotify (default) or polling (network file "
                   "systems, VM shares).")
@click.option("--workers", type=click.IntRange(min=1), metavar="N",
              help=f"Live mode: how many worker threads run the components' units "
                   f"(default {DEFAULT_WORKERS}; a component runs on one worker at a time).")
@click.option("--processes", type=Processes(), metavar="[one|per-site|N]",
              help="Live mode: run every site in this process (one, the default), each site's "
                   "server in a process of its own (per-site), as SMS runs a server per site, "
                   "or the sites spread over N processes (a site kept with the sites below it "
                   "where the split allows; many sites on few cores). The processes use more "
                   "than one core. --until-idle then waits until the whole lab is idle.")
@click.option("--step", is_flag=True,
              help="Step mode: one thread, a seeded scheduler and a virtual clock; runs until "
                   "idle.")
@click.option("--seed", type=int,
              help="Step mode: the scheduler's seed (default 0; with --replay, the seed the "
                   "schedule was recorded with).")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Step mode: write the schedule, one JSON line per step.")
@click.option("--replay", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Step mode: follow a recorded schedule.")
@click.option("--max-steps", type=click.IntRange(min=1), metavar="N",
              help=f"Step mode: give up after N steps (exit 4; default {DEFAULT_MAX_STEPS}); "
                   "a periodic timer that finds nothing does not count.")
@click.option("--horizon", metavar="DURATION",
              help="Idle once nothing has progressed for this much lab time though something "
                   "waits (e.g. 20m; default twice the longest delay of the timing profile).")
@click.option("--components", "components_spec", metavar="MODULE:NAME",
              help="Run this component registry instead of sitesrv's (tests, extensions).")
@click.option("--view/--no-view", default=None,
              help="Show the run as it goes (default: when standard error is a terminal). "
                   "Live: a table of each site's waiting work, sends under way and DPs "
                   "installed. Step mode: the steps run so far and the lab time reached (into "
                   "a file or a pipe: a plain line every 5 s).")
@click.option("--debug", is_flag=True,
              help="Print the traceback of every failing unit on stderr (normally one line "
                   "each; the component's log has the error either way).")
@click.pass_context
def run_command(ctx: click.Context, lab_dir: Path, sites: tuple[str, ...], until_idle: bool,
                timeout: float | None, watcher: str | None, step: bool, seed: int | None,
                record: Path | None, replay: Path | None, max_steps: int | None,
                horizon: str | None, components_spec: str | None, view: bool | None,
                debug: bool, workers: int | None, processes: str | int | None) -> None:
    """Run the lab's site servers: every component of every site (or of --site) at once.

    Live (the default) runs the components on a few worker threads, wakes a component when a
    file lands in its inbox, and runs on real time scaled by the lab's clock_rate, until Ctrl-C
    (with --processes per-site, a process per site; with a number, that many). Step mode
    (--step) runs one component's unit of work at a time in an order chosen by --seed, on a
    virtual clock, until the lab is idle: the same seed gives the same result every time.
    """
    from sitesrv.lab.timing import parse_duration
    from sitesrv.runtime.idle import ExitCode

    given = {name for name, value in (("--seed", seed), ("--record", record),
                                      ("--replay", replay), ("--max-steps", max_steps),
                                      ("--watcher", watcher), ("--timeout", timeout),
                                      ("--workers", workers), ("--processes", processes))
             if value is not None}
    if not step and (wrong := sorted(given & set(STEP_ONLY))):
        raise UserError(f"{', '.join(wrong)} {_need(wrong)} --step.")
    if step and (wrong := sorted(given & set(LIVE_ONLY))):
        raise UserError(f"{', '.join(wrong)} {_need(wrong)} a live run: leave out --step "
                        "(--max-steps bounds a step run).")
    if timeout is not None and not until_idle:
        raise UserError("--timeout needs --until-idle.")
    try:
        horizon_seconds = None if horizon is None else parse_duration(horizon)
    except ValueError as e:
        raise UserError(f"--horizon: {e}") from None
    watching = view if view is not None else sys.stderr.isatty()
    with _debug_logging() if debug else contextlib.nullcontext(), \
            _live_view(lab_dir) if watching and not step else contextlib.nullcontext():
        if step:
            from sitesrv.runtime.step import run_until_idle

            with _step_view() if watching else contextlib.nullcontext() as progress:
                report = run_until_idle(lab_dir, seed=seed, record=record, replay=replay,
                                        horizon=horizon_seconds,
                                        components=_registry(components_spec),
                                        max_steps=max_steps or DEFAULT_MAX_STEPS,
                                        sites=list(sites) or None, progress=progress)
        elif processes is not None and processes != ONE:
            report = _run_per_site(lab_dir, components_spec, sites,
                                   watcher or INOTIFY, until_idle, timeout, horizon_seconds,
                                   workers or DEFAULT_WORKERS, debug,
                                   None if processes == PER_SITE else int(processes))
        else:
            report = _run_live(lab_dir, _registry(components_spec), sites, watcher or INOTIFY, until_idle,
                               timeout, horizon_seconds, workers or DEFAULT_WORKERS)
    if report is None:
        ctx.exit(ExitCode.STOPPED if until_idle else ExitCode.IDLE)
    _print_report(report, step)
    ctx.exit(int(report.exit_code))


def _registry(components_spec: str | None) -> Registry:
    """The components to run: sitesrv's, or those of --components."""
    from sitesrv.components.registry import SMS_COMPONENTS
    from sitesrv.runtime.registry import load_registry

    return load_registry(components_spec) if components_spec else SMS_COMPONENTS


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each record to `sys.stderr` as it is then: while the live or the step view draws,
    rich redirects it, so a record goes above the view instead of into its line."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        """StreamHandler sets it once; the property keeps following `sys.stderr`."""


@contextlib.contextmanager
def _debug_logging() -> Iterator[None]:
    """sitesrv's own log records at DEBUG on stderr, failing units with their tracebacks."""
    log = logging.getLogger("sitesrv")
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


@contextlib.contextmanager
def _live_view(lab_dir: Path) -> Iterator[None]:
    """The live view on standard error while the run goes (admin/liveview.py)."""
    from rich.console import Console

    from sitesrv.admin.lab import Lab
    from sitesrv.admin.liveview import shown

    with shown(Lab.open(lab_dir), Console(stderr=True)):
        yield


@contextlib.contextmanager
def _step_view() -> Iterator[Callable[[int, float], None]]:
    """The step run's progress line on standard error while it runs (admin/stepview.py)."""
    from rich.console import Console

    from sitesrv.admin.stepview import shown

    with shown(Console(stderr=True)) as progress:
        yield progress


def _need(options: list[str]) -> str:
    return "need" if len(options) > 1 else "needs"


def _run_live(lab_dir: Path, registry: Registry, sites: tuple[str, ...], watcher: str,
              until_idle: bool, timeout: float | None,
              horizon: float | None, workers: int) -> IdleReport | None:
    from sitesrv.runtime.live import LiveDriver

    driver = LiveDriver(lab_dir, components=registry, sites=list(sites) or None,
                        watcher=watcher, horizon=horizon, workers=workers)
    def say_started(running: LiveDriver) -> None:
        names = ", ".join(s.site.code for s in running.runtime.sites)
        click.echo(f"Running site servers {names} ({len(running.hosts)} components on "
                   f"{running.workers} worker threads, {running.watcher.kind} watcher); "
                   "Ctrl-C stops.", err=True)

    with _stop_on_signals() as stop:
        return driver.run(until_idle=until_idle, timeout=timeout, stop=stop,
                          on_started=say_started)


def _run_per_site(lab_dir: Path, components_spec: str | None, sites: tuple[str, ...],
                  watcher: str, until_idle: bool, timeout: float | None, horizon: float | None,
                  workers: int, debug: bool, processes: int | None) -> IdleReport | None:
    from sitesrv.components.registry import SMS_COMPONENTS_SPEC
    from sitesrv.runtime.siteprocs import ServerProcessError, SiteProcesses

    supervisor = SiteProcesses(lab_dir, sites=list(sites) or None,
                               components=components_spec or SMS_COMPONENTS_SPEC,
                               watcher=watcher, horizon=horizon, workers=workers, debug=debug,
                               processes=processes)

    def say_started(running: SiteProcesses) -> None:
        count = len(running.children)
        where = ("in a process each" if processes is None
                 else f"in {count} process{'' if count == 1 else 'es'}")
        click.echo(f"Running site servers {', '.join(sorted(running.sites))} {where} "
                   f"({running.components} components on {running.workers} worker "
                   f"threads per process, {running.watcher_kind} watcher); Ctrl-C stops.",
                   err=True)

    with _stop_on_signals() as stop:
        try:
            return supervisor.run(until_idle=until_idle, timeout=timeout, stop=stop,
                                  on_started=say_started)
        except ServerProcessError as e:
            click.echo(f"sitesrv: {e}", err=True)
            sys.exit(e.exit_code)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event that Ctrl-C or SIGTERM sets (a second one kills at once)."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()
        signal.signal(signum, signal.SIG_DFL)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _print_report(report: IdleReport, step: bool) -> None:
    click.echo(report_head(report, step) + ".", err=True)
    for line in report.lines():
        click.echo(line)


def report_head(report: IdleReport, step: bool) -> str:
    """How the run ended, in one line: idle or timed out, when, and how much waits or failed
    (`sitesrv demo` says it too)."""
    from sitesrv.lab.clock import lab_time_text
    from sitesrv.runtime.idle import TIMEOUT

    done = f"after {report.steps} steps " if step else ""
    when = lab_time_text(report.lab_time)
    counts = [f"{len(report.waits)} item(s) wait" if report.waits else "nothing waits"]
    if report.problems:
        counts.append(f"{len(report.problems)} problem(s)")
    if report.status == TIMEOUT:
        if step:  # --max-steps counts only some steps (step.counts_against_budget)
            done = f"after {report.counted} counted steps ({report.steps} in all) "
            counts.append("if it was still making progress, pass a larger --max-steps, or run "
                          "it again to go on from here")
        return f"Timed out {done}at lab time {when}, still busy; {', '.join(counts)}"
    return f"Idle {done}at lab time {when}; {', '.join(counts)}"


def main() -> None:
    """`python -m sitesrv.cli.run`: the run command on its own, as `sitesrv run`."""
    try:
        run_command.main(prog_name="sitesrv run")
    except UserError as e:
        click.echo(f"sitesrv: {e}", err=True)
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()

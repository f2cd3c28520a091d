"""Benchmark: how long the `sitesrv` command takes from start to exit.

Run `python bench/startup.py` (or `make bench`). It builds a lab from the repository's
hierarchy.yaml under bench/out/startup-lab and a small package source (3 files of 1 KiB), then
times, as child processes started from this one, in rounds that take every command in turn:

* `sitesrv --help`;
* `sitesrv sql ZZZ "SELECT count(*) FROM SMSPackages"` (a query of the central site's
  database);
* `sitesrv package create ZZZ --source SRC --dp ...` of the small package with a DP at each of
  the three sites (each round creates one more package);
* the baselines, in the same rounds: `python -c pass` (Python's own start), `python -S -c pass`
  (without site-packages) and `python -c "import click"` (a click program's floor).

`sitesrv` is the console script next to this interpreter (`.venv/bin/sitesrv`). Wall time is
from just before the child is started to its exit; the median of the rounds counts. Ratios are
to `python -c pass` in the same run. Targets (issue 15): `--help` at most 0.15 s, `package
create` at most 0.2 s. Each line also gives the CPU seconds the rest of the machine used
meanwhile (per run, median), since the machine may be shared. Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from distribution import (
    HIERARCHY,
    OUT,
    busy_cpu,
    fresh,
    median,
    print_header,
    rounds_meeting,
    sitesrv_version,
    use_bytecode_cache,
)

TARGETS = {"sitesrv --help": 0.15, "sitesrv package create": 0.2}
BASELINE = "python -c pass"


def console_script() -> list[str]:
    """`sitesrv` as installed next to this interpreter."""
    script = Path(sys.executable).with_name("sitesrv")
    if not script.is_file():
        raise SystemExit(f"no console script {script}: install sitesrv (pip install -e .) in "
                         "this interpreter's environment")
    return [str(script)]


def commands(lab: Path, source: Path) -> dict[str, list[str]]:
    """What is timed, by the name it is reported under."""
    sitesrv = console_script()
    python = [sys.executable]
    dps = ["--dp", "ZZZ:MGMT01", "--dp", "P00:REMOTE_DP", "--dp", "S01:SEC01"]
    return {
        BASELINE: [*python, "-c", "pass"],
        "python -S -c pass": [*python, "-S", "-c", "pass"],
        "python -c 'import click'": [*python, "-c", "import click"],
        "sitesrv --help": [*sitesrv, "--help"],
        "sitesrv sql": [*sitesrv, "sql", "ZZZ", "SELECT count(*) FROM SMSPackages", "--lab",
                        str(lab)],
        "sitesrv package create": [*sitesrv, "package", "create", "ZZZ", "--name",
                                   "Startup bench", "--source", str(source), *dps, "--lab",
                                   str(lab)],
    }


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds of one run of `cmd`, and the CPU seconds other processes used meanwhile."""
    busy = busy_cpu()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read() if proc.stderr else b""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{stderr.decode(errors='replace')}")
    cpu = usage.ru_utime + usage.ru_stime
    return wall, max(0.0, busy_cpu() - busy - cpu)


def prepare() -> tuple[Path, Path]:
    """A fresh lab and a package source of 3 files of 1 KiB."""
    subprocess.run([*console_script(), "init", "--lab", str(fresh(OUT / "startup-lab")),
                    "--hierarchy", str(HIERARCHY)], check=True, stdout=subprocess.DEVNULL)
    source = fresh(OUT / "startup-source")
    source.mkdir(parents=True)
    for i in range(3):
        (source / f"FILE{i}.TXT").write_bytes(bytes(range(256)) * 4)
    return OUT / "startup-lab", source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="rounds (default 20)")
    args = parser.parse_args()
    use_bytecode_cache()
    version = sitesrv_version()
    lab, source = prepare()
    cmds = commands(lab, source)
    walls: dict[str, list[float]] = {name: [] for name in cmds}
    others: dict[str, list[float]] = {name: [] for name in cmds}
    for rnd in range(args.runs):
        order = list(cmds) if rnd % 2 == 0 else list(reversed(cmds))
        for name in order:
            wall, other = timed(cmds[name])
            walls[name].append(wall)
            others[name].append(other)
    print_header(f"start to exit of each command, median of {args.runs} rounds (every command "
                 "once per round, alternating order)", version)
    base = median(walls[BASELINE])
    for name in cmds:
        wall = median(walls[name])
        line = f"  {name:<26} {wall * 1000:7.1f} ms  ratio to {BASELINE}: {wall / base:5.1f}"
        if name in TARGETS:
            verdict = "meets" if wall <= TARGETS[name] else "MISSES"
            met = rounds_meeting(walls[name], lambda w, limit=TARGETS[name]: w <= limit,
                                 digits=None)
            line += f"  ({verdict} the target <= {TARGETS[name]:.2f} s; {met})"
        line += f"  [others' CPU {median(others[name]):.3f} s per run]"
        print(line)
    print("rounds:    " + json.dumps({k: [round(x, 4) for x in v] for k, v in walls.items()}))


if __name__ == "__main__":
    main()

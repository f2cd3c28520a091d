"""Benchmark: CPU time per package of the components alone, in step mode.

Run `python bench/stepcpu.py` (or `make bench`). Each round builds a fresh lab from the
repository's hierarchy.yaml, creates 100 one-file packages at ZZZ (16 KiB each, the sources of
bench/packages.py), each targeted to a DP at every site (ZZZ:MGMT01, P00:REMOTE_DP, S01:SEC01),
and runs `sitesrv run --step` as a child process: one thread, a virtual clock, no watcher, so
its CPU time is the components' own work. In the same round, the same command on the same lab
with no package (start-up, idle checks), and the per-package CLI pipeline of bench/packages.py
for the same packages (`tar | zstd -3`, 2 x `cp`, 3 x `zstd -d | tar -x`; bash with its
children). CPU per package = (CPU of the step run - CPU of the empty run) / packages; target
(issue 15) at most 20 ms. Every DP is checked byte for byte and the summarizer must show State 0
for every package and DP. The labs go to /dev/shm if it exists (the file system's costs out of
the way, as in the issue's figure), else bench/out; --out chooses.

With --mode live (or both), the same round also runs `sitesrv run --until-idle --timeout
--processes one` (--processes) as a child process on its own fresh copy of the same lab and on
an empty lab, and reports live CPU per package the same way (issue 15: live at most 1.5 times
step). The live run's CPU includes its idle check at the end, as the empty run's does.

Beside them, the floor (bench/flowfloor.py): before the rounds, one more step run of the same
lab, and one of the empty lab, each in a child process, record the file operations an audit hook
sees and every SQL statement; each round then does those operations again in this process with
nothing around them (`os` calls on files of the recorded sizes, the statements on copies of the
databases). Floor per package = (floor of the run - floor of the empty run) / packages: what
the flow, as sitesrv makes it, asks of the file system and SQLite, without the logic around the
calls. Fewer operations would lower it too. --no-floor leaves it out.

With --profile FILE, one more step run of the same lab runs in this process under cProfile
and writes its statistics to FILE (`python -m pstats FILE`), and prints the top functions.
Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import flowfloor
from distribution import (
    DPS,
    OUT,
    dp_folders,
    fresh,
    median,
    need_tools,
    new_lab,
    print_header,
    rounds_meeting,
    run_shell,
    run_until_idle,
    sitesrv_version,
    summarizer,
    use_bytecode_cache,
)
from packages import make_sources, pipeline_script

TARGET_MS = 20.0
TARGET_LIVE_RATIO = 1.5  # live CPU per package at most this times step's (issue 15)
STEP, LIVE = "step", "live"
MODES = {"step": (STEP,), "live": (LIVE,), "both": (STEP, LIVE)}
LIVE_TIMEOUT = 600.0  # real seconds a live run may take
SHM = Path("/dev/shm")


def pipeline_cpu(sources: Path, out: Path) -> tuple[float, float]:
    """CPU seconds (with children) of the per-package CLI pipeline, and others' CPU."""
    work = fresh(out / "stepcpu-baseline")
    _, cpu, others = run_shell(pipeline_script(sources, work))
    fresh(work)
    return cpu, others


def lab_with_packages(folders: list[Path], out: Path):  # -> sitesrv.admin.lab.Lab
    from sitesrv.admin import console

    lab = new_lab(out / "stepcpu-lab", {})
    ids = [console.create_package(lab, "ZZZ", name=f"Bench {f.name}", source=f, dps=list(DPS))
           for f in folders]
    return lab, ids


def check(lab, ids: list[str], folders: list[Path]) -> None:  # lab: sitesrv.admin.lab.Lab
    for pkg_id, folder in zip(ids, folders, strict=True):
        src = next(folder.iterdir())
        for spec, dp_folder in dp_folders(lab, pkg_id).items():
            target = dp_folder / src.name
            if not target.is_file() or target.read_bytes() != src.read_bytes():
                raise SystemExit(f"DP {spec} does not hold {pkg_id}'s {src.name}")
    total, bad = summarizer(lab)
    if total != len(ids) * len(DPS) or bad:
        raise SystemExit(f"the central summarizer has {total} rows, State != 0: {bad[:5]}")


def keys(mode: str) -> dict[str, str]:
    """The keys of a mode's figures in the rounds' record (step mode's as they always were)."""
    if mode == STEP:
        return {"cpu": "step", "empty": "empty", "per_pkg": "per_pkg_ms",
                "others": "others_step", "others_empty": "others_empty"}
    return {"cpu": mode, "empty": f"{mode}_empty", "per_pkg": f"{mode}_per_pkg_ms",
            "others": f"others_{mode}", "others_empty": f"others_{mode}_empty"}


def lab_cpu(lab_root: Path, mode: str, processes: str = "one") -> tuple[float, float]:
    """CPU seconds of `sitesrv run` in `mode` (step, live) on the lab, and others' CPU."""
    run = run_until_idle(lab_root, step=mode == STEP, timeout=LIVE_TIMEOUT, processes=processes)
    return run.cpu, run.others


def mode_cpu(folders: list[Path], out: Path, mode: str,
             processes: str = "one") -> tuple[float, float, float, float]:
    """One mode's run on a fresh lab with the packages, checked, and on an empty lab: (CPU,
    others' CPU, empty CPU, others' CPU during the empty run)."""
    lab, ids = lab_with_packages(folders, out)
    cpu, others = lab_cpu(lab.root, mode, processes)
    check(lab, ids, folders)
    fresh(lab.root)
    empty_lab = new_lab(out / "stepcpu-empty", {})
    empty, others_empty = lab_cpu(empty_lab.root, mode, processes)
    fresh(empty_lab.root)
    return cpu, others, empty, others_empty


def floor_recordings(folders: list[Path],
                     out: Path) -> tuple[flowfloor.Recording, flowfloor.Recording]:
    """What a step run of the packages' lab and of an empty lab ask of the file system and
    SQLite (bench/flowfloor.py), each recorded in a child process; the packages' lab is
    checked."""
    lab, ids = lab_with_packages(folders, out)
    full = flowfloor.record_in_child(lab.root, out / "stepcpu-floor-db")
    check(lab, ids, folders)
    fresh(lab.root)
    empty_lab = new_lab(out / "stepcpu-empty", {})
    empty = flowfloor.record_in_child(empty_lab.root, out / "stepcpu-floor-db-empty")
    fresh(empty_lab.root)
    return full, empty


def profile(folders: list[Path], out: Path, stats_file: Path) -> None:
    import cProfile
    import pstats

    from sitesrv.components.registry import SMS_COMPONENTS
    from sitesrv.runtime.step import run_until_idle

    lab, ids = lab_with_packages(folders, out)
    profiler = cProfile.Profile()
    profiler.enable()
    run_until_idle(lab.root, components=SMS_COMPONENTS)
    profiler.disable()
    check(lab, ids, folders)
    profiler.dump_stats(stats_file)
    stats = pstats.Stats(str(stats_file))
    print(f"profile:   {stats_file} ({stats.total_tt:.2f} s under the profiler, "
          f"{stats.total_tt / len(ids) * 1000:.1f} ms per package); the top by own time:")
    stats.sort_stats("tottime").print_stats(25)
    fresh(lab.root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=100)
    parser.add_argument("--file-kib", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=SHM if SHM.is_dir() else OUT, metavar="DIR",
                        help="where the labs and the baseline go (default /dev/shm if it "
                             "exists, else bench/out)")
    parser.add_argument("--profile", type=Path, metavar="FILE",
                        help="also profile one step run in this process; statistics to FILE")
    parser.add_argument("--mode", choices=tuple(MODES), default="step",
                        help="step (default), live (`sitesrv run --until-idle`), or both in "
                             "each round, alternating which goes first")
    parser.add_argument("--processes", choices=("one", "per-site"), default="one",
                        help="the live runs' `sitesrv run --processes` (default one)")
    parser.add_argument("--no-floor", action="store_true",
                        help="leave out the floor (the run's file operations and SQL "
                             "statements done bare, bench/flowfloor.py)")
    args = parser.parse_args()
    use_bytecode_cache()
    need_tools("tar", "zstd", "bash", "cp")
    version = sitesrv_version()
    out = args.out / "sitesrv-bench"
    out.mkdir(parents=True, exist_ok=True)
    n = args.packages
    sources = OUT / f"pkgs-sources-{n}x{args.file_kib}"
    folders = make_sources(sources, n, args.file_kib)
    modes = MODES[args.mode]
    rows: dict[str, list[float]] = {k: [] for m in modes for k in keys(m).values()}
    rows.update({k: [] for k in ("pipe", "pipe_ms", "others_pipe")})
    recordings = None if args.no_floor else floor_recordings(folders, out)
    if recordings is not None:
        rows["floor_ms"] = []
        full_counts, empty_counts = (r.counts() for r in recordings)
        print("floor:     a step run of the lab asks for " + ", ".join(
            f"{(value - empty_counts[name]) / n:.0f} {name}"
            for name, value in full_counts.items()) + " per package (less the empty lab's)")
    for rnd in range(args.repeat):
        said = []
        for m in modes if rnd % 2 == 0 else reversed(modes):
            cpu, others, empty, others_empty = mode_cpu(folders, out, m, args.processes)
            k = keys(m)
            for key, value in ((k["cpu"], cpu), (k["empty"], empty),
                               (k["per_pkg"], (cpu - empty) / n * 1000), (k["others"], others),
                               (k["others_empty"], others_empty)):
                rows[key].append(value)
            said.append(f"{m} run CPU {cpu:.2f} s, empty lab {empty:.2f} s -> "
                        f"{rows[k['per_pkg']][-1]:.1f} ms per package")
        if recordings is not None:
            full, empty = (flowfloor.replay(r, out / "stepcpu-floor").cpu for r in recordings)
            rows["floor_ms"].append((full - empty) / n * 1000)
            said.append(f"floor {rows['floor_ms'][-1]:.1f} ms per package")
        pipe, others_pipe = pipeline_cpu(sources, out)
        for key, value in (("pipe", pipe), ("pipe_ms", pipe / n * 1000),
                           ("others_pipe", others_pipe)):
            rows[key].append(value)
        others = ", ".join(f"{m} {rows[keys(m)['others']][-1]:.1f}, "
                           f"{'' if m == STEP else m + ' '}empty "
                           f"{rows[keys(m)['others_empty']][-1]:.1f}" for m in modes)
        print(f"round {rnd + 1}: {'; '.join(said)}; pipeline {rows['pipe_ms'][-1]:.1f} ms per "
              f"package; CPU-s of other processes meanwhile: {others}, pipeline "
              f"{others_pipe:.1f}", flush=True)
    commands = {STEP: "`sitesrv run --step`",
                LIVE: f"`sitesrv run --until-idle --processes {args.processes}`"}
    print_header(f"{n} one-file packages ({args.file_kib} KiB) at ZZZ with a DP at each of the "
                 f"3 sites, {' and '.join(commands[m] for m in modes)}, in {args.out}; median "
                 f"of {args.repeat}", version)
    per_pkg = {m: median(rows[keys(m)["per_pkg"]]) for m in modes}
    for m in modes:
        verdict = "meets" if per_pkg[m] <= TARGET_MS else "MISSES"
        met = rounds_meeting(rows[keys(m)["per_pkg"]], lambda ms: ms <= TARGET_MS, digits=1)
        target = f" ({verdict} the target <= {TARGET_MS:.0f} ms; {met})" if m == STEP else ""
        print(f"{m + ':':<10} CPU {median(rows[keys(m)['cpu']]):.2f} s, empty lab "
              f"{median(rows[keys(m)['empty']]):.2f} s -> {per_pkg[m]:.1f} ms per package"
              + target)
    if len(modes) == 2:
        ratio = per_pkg[LIVE] / per_pkg[STEP]
        rounds = [lv / st for lv, st in zip(rows[keys(LIVE)["per_pkg"]],
                                            rows[keys(STEP)["per_pkg"]], strict=True)]
        verdict = "meets" if ratio <= TARGET_LIVE_RATIO else "MISSES"
        print(f"live/step: {ratio:.2f} ({verdict} the target <= {TARGET_LIVE_RATIO}); "
              f"{rounds_meeting(rounds, lambda r: r <= TARGET_LIVE_RATIO)}")
    first = per_pkg[modes[0]]
    print(f"baseline:  per-package CLI pipeline, CPU {median(rows['pipe_ms']):.1f} ms per package"
          f" -> ratio {first / median(rows['pipe_ms']):.2f}" + (f" ({modes[0]})" if len(modes) > 1
                                                             else ""))
    if recordings is not None:
        floor = median(rows["floor_ms"])
        print(f"floor:     the same file operations and SQL statements done bare, CPU "
              f"{floor:.1f} ms per package -> {modes[0]} is {first / floor:.2f} times the floor;"
              f" the target is {TARGET_MS / floor:.2f} times it")
    print("every DP held its file byte for byte and the summarizer showed State 0, every round")
    print("rounds:    " + json.dumps({k: [round(x, 3) for x in v] for k, v in rows.items()}))
    if args.profile:
        profile(folders, out, args.profile)


if __name__ == "__main__":
    main()

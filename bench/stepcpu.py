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

With --profile FILE, one more step run of the same lab runs in this process under cProfile
and writes its statistics to FILE (`python -m pstats FILE`), and prints the top functions.
Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from distribution import (
    DPS,
    OUT,
    dp_folders,
    fresh,
    median,
    need_tools,
    new_lab,
    print_header,
    run_shell,
    run_until_idle,
    sitesrv_version,
    summarizer,
)
from packages import make_sources, pipeline_script

TARGET_MS = 20.0
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


def step_cpu(lab_root: Path) -> tuple[float, float]:
    run = run_until_idle(lab_root, step=True, timeout=0, processes="one")
    return run.cpu, run.others


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
    args = parser.parse_args()
    need_tools("tar", "zstd", "bash", "cp")
    version = sitesrv_version()
    out = args.out / "sitesrv-bench"
    out.mkdir(parents=True, exist_ok=True)
    n = args.packages
    sources = OUT / f"pkgs-sources-{n}x{args.file_kib}"
    folders = make_sources(sources, n, args.file_kib)
    rows: dict[str, list[float]] = {k: [] for k in ("step", "empty", "pipe", "per_pkg_ms",
                                                    "pipe_ms", "others_step", "others_empty",
                                                    "others_pipe")}
    for rnd in range(args.repeat):
        lab, ids = lab_with_packages(folders, out)
        cpu, others = step_cpu(lab.root)
        check(lab, ids, folders)
        fresh(lab.root)
        empty_lab = new_lab(out / "stepcpu-empty", {})
        empty, others_empty = step_cpu(empty_lab.root)
        fresh(empty_lab.root)
        pipe, others_pipe = pipeline_cpu(sources, out)
        for key, value in (("step", cpu), ("empty", empty), ("pipe", pipe),
                           ("per_pkg_ms", (cpu - empty) / n * 1000), ("pipe_ms", pipe / n * 1000),
                           ("others_step", others), ("others_empty", others_empty),
                           ("others_pipe", others_pipe)):
            rows[key].append(value)
        print(f"round {rnd + 1}: step run CPU {cpu:.2f} s, empty lab {empty:.2f} s -> "
              f"{rows['per_pkg_ms'][-1]:.1f} ms per package; pipeline "
              f"{rows['pipe_ms'][-1]:.1f} ms per package; CPU-s of other processes meanwhile: "
              f"step {others:.1f}, empty {others_empty:.1f}, pipeline {others_pipe:.1f}",
              flush=True)
    print_header(f"{n} one-file packages ({args.file_kib} KiB) at ZZZ with a DP at each of the "
                 f"3 sites, `sitesrv run --step`, in {args.out}; median of {args.repeat}",
                 version)
    per_pkg = median(rows["per_pkg_ms"])
    verdict = "meets" if per_pkg <= TARGET_MS else "MISSES"
    print(f"step:      CPU {median(rows['step']):.2f} s, empty lab {median(rows['empty']):.2f} s"
          f" -> {per_pkg:.1f} ms per package ({verdict} the target <= {TARGET_MS:.0f} ms)")
    print(f"baseline:  per-package CLI pipeline, CPU {median(rows['pipe_ms']):.1f} ms per package"
          f" -> ratio {per_pkg / median(rows['pipe_ms']):.2f}")
    print("every DP held its file byte for byte and the summarizer showed State 0, every round")
    print("rounds:    " + json.dumps({k: [round(x, 3) for x in v] for k, v in rows.items()}))
    if args.profile:
        profile(folders, out, args.profile)


if __name__ == "__main__":
    main()

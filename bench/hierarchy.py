"""Benchmark: one package to a DP at every site of a generated hierarchy of 10, 100 or 300 sites.

Run `python bench/hierarchy.py` (or `make bench`). For each size (--sites, default 10 and 100)
it generates a hierarchy: a central site `CEN`, child primaries `P01`, `P02`, ... under it, and
secondaries `S01`, `S02`, ... spread evenly under the primaries (100 sites: 9 primaries with 10
secondaries each; 10 sites: 1 primary with 8; 300 sites: 27 primaries with 10 or 11 each), each
site its own DP, a LAN address each way on every link, the lab timing profile. One package (a
corpus like bench/compression.py's: 16 files, 4 MiB, half random, half text) is created at
`CEN` with a DP at every site (not timed). Then, in each round, for each size in turn (so that
a machine that slows down or speeds up during the run weighs on every size alike, and each
round's growth compares runs minutes apart at most), alternating:

* the baseline, the CLI pipeline for the same fan-out, in one bash process: `tar | zstd -3 -T0`
  once at CEN, one `cp` of the archive per link (parent to child, top down), and one `zstd -d |
  tar -x` per DP;
* `sitesrv run --until-idle` (live, --processes one unless said), a child process timed from
  its start to its exit;
* `sitesrv run --step` the same way, unless --no-step;
* the floor (bench/flowfloor.py), unless --no-floor: the file operations and SQL statements of
  one step run of the same lab, recorded once per size in a child process before the rounds,
  done again bare on the same file system; its wall time is what the flow, as sitesrv makes it,
  costs this disk and this machine with none of sitesrv's logic around the calls.

Every DP folder (and every baseline folder) is checked file by file against the corpus, and the
central site's summarizer must show one row per site, all State 0. It prints, per size, the
medians, the ratio to the baseline (target at 100 sites: at most 3; the floor's ratio says how much
of it the file system and SQLite take), and how each grows from
one size to the next against the number of sites (target: no worse than linear), with each
round's own growth and how many rounds are no worse than linear. Each line
gives the CPU seconds the rest of the machine used meanwhile. Labs and the baseline's folders go
to bench/out (on disk) unless --out names another folder (/dev/shm: tmpfs). Not part of the test
run.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
from pathlib import Path

import flowfloor
import yaml
from distribution import (
    OUT,
    check_tree,
    fresh,
    median,
    need_tools,
    print_header,
    rounds_meeting,
    run_shell,
    run_until_idle,
    sitesrv_version,
    tree_digest,
    use_bytecode_cache,
    warn_if_short_of_memory,
)

TARGET_RATIO = 3.0  # at 100 sites
SECONDARIES_PER_PRIMARY = 10
_SEED = 2003


def base36(n: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return digits[n // 36] + digits[n % 36]


def shape(sites: int) -> list[tuple[str, str | None]]:
    """(code, parent) of each site, parents first: CEN, the primaries, the secondaries."""
    if sites < 3:
        raise SystemExit("--sites: at least 3 (a central site, a primary and a secondary)")
    primaries = max(1, round((sites - 1) / (SECONDARIES_PER_PRIMARY + 1)))
    secondaries = sites - 1 - primaries
    if primaries > 36 * 36 - 1 or secondaries > 36 * 36 - 1:
        raise SystemExit("--sites: at most about 2,500")
    out: list[tuple[str, str | None]] = [("CEN", None)]
    out += [(f"P{base36(i + 1)}", "CEN") for i in range(primaries)]
    out += [(f"S{base36(i + 1)}", f"P{base36(i % primaries + 1)}") for i in range(secondaries)]
    return out


def hierarchy_yaml(sites: int) -> str:
    tree = shape(sites)
    doc = {
        "sites": [{"code": code, "name": f"Site {code}", "server": f"{code}SRV",
                   "type": "primary" if parent in (None, "CEN") else "secondary",
                   **({"parent": parent} if parent else {}),
                   "distribution_points": [{"server": f"{code}SRV"}]}
                  for code, parent in tree],
        "addresses": [a for code, parent in tree if parent
                      for a in ({"from": parent, "to": code, "type": "LAN", "priority": 1},
                                {"from": code, "to": parent, "type": "LAN", "priority": 1})],
        "durability": "none",
        "timing": {"profile": "lab"},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def make_corpus(root: Path, mib: int, files: int) -> Path:
    """`files` files of `mib` MiB in all, in 4 folders; even ones random, odd ones word soup."""
    marker = root.with_name(root.name + ".complete")
    if marker.exists() and marker.read_text() == f"{mib} {files}":
        return root
    fresh(root)
    rng = random.Random(_SEED)
    words = [bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 10)))
             for _ in range(2000)]
    size = (mib << 20) // files
    for i in range(files):
        folder = root / f"DIR{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(size) if i % 2 == 0 else \
            b" ".join(rng.choices(words, k=size // 5))[:size].ljust(size)
        (folder / f"FILE{i:02d}.BIN").write_bytes(data)
    marker.write_text(f"{mib} {files}")
    return root


def baseline(corpus: Path, tree: list[tuple[str, str | None]], expected: dict[str, str],
             level: int, out: Path) -> tuple[float, float]:
    work = fresh(out / "hier-baseline")
    for code, _ in tree:
        (work / code / "dp").mkdir(parents=True)
    lines = [f"tar -cf - -C {corpus} . | zstd -{level} -T0 -q -f -o {work}/CEN/pkg.tar.zst"]
    lines += [f"cp {work}/{parent}/pkg.tar.zst {work}/{code}/pkg.tar.zst"
              for code, parent in tree if parent]
    lines += [f"zstd -d -c -q {work}/{code}/pkg.tar.zst | tar -xf - -C {work}/{code}/dp"
              for code, _ in tree]
    wall, _, others = run_shell("\n".join(lines))
    for code, _ in tree:
        check_tree(expected, work / code / "dp", f"baseline folder {code}")
    fresh(work)
    return wall, others


def new_lab(sites: int, out: Path = OUT):  # -> sitesrv.admin.lab.Lab
    from sitesrv.admin.lab import Lab

    out.mkdir(parents=True, exist_ok=True)
    root = fresh(out / "hier-lab")
    spec = out / f"hier-{sites}.yaml"
    spec.write_text(hierarchy_yaml(sites))
    return Lab.init(root, spec).lab


def run_sitesrv(corpus: Path, sites: int, expected: dict[str, str], step: bool,
                timeout: float, processes: str, out: Path) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, others' CPU seconds) of one run; every DP checked."""
    from sitesrv.admin import console
    from sitesrv.db.sitedb import SiteDatabase

    lab = new_lab(sites, out)
    dps = [f"{s.code}:{dp.server}" for s in lab.hierarchy.sites for dp in s.distribution_points]
    pkg_id = console.create_package(lab, "CEN", name="Bench hierarchy", source=corpus, dps=dps)
    run = run_until_idle(lab.root, step, timeout, processes, f"{sites} sites, ")
    mode = "step" if step else "live"
    for site in lab.hierarchy.sites:
        for dp in site.distribution_points:
            check_tree(expected, lab.site(site.code).dp_package(dp, pkg_id),
                       f"{sites} sites, {mode}: DP {site.code}:{dp.server}")
    with SiteDatabase.open(lab.site("CEN").database) as db:
        total = db.query("SELECT count(*) FROM SMS_PackageStatusDistPointsSummarizer")[0][0]
        bad = db.query("SELECT SiteCode, State FROM SMS_PackageStatusDistPointsSummarizer "
                       "WHERE State != 0")
    if total != len(dps) or bad:
        raise SystemExit(f"{sites} sites, {mode}: the summarizer has {total} rows of "
                         f"{len(dps)}, State != 0: {[tuple(r) for r in bad][:5]}")
    fresh(lab.root)
    return run.wall, run.cpu, run.others


def floor_recording(corpus: Path, sites: int, out: Path) -> flowfloor.Recording:
    """What a step run of the lab asks of the file system and SQLite (bench/flowfloor.py)."""
    from sitesrv.admin import console

    lab = new_lab(sites, out)
    dps = [f"{s.code}:{dp.server}" for s in lab.hierarchy.sites for dp in s.distribution_points]
    console.create_package(lab, "CEN", name="Bench hierarchy", source=corpus, dps=dps)
    # A folder per size: every size's recording is made before the rounds, and each replays
    # onto copies of its own lab's databases.
    recording = flowfloor.record_in_child(lab.root, out / f"hier-floor-db-{sites}")
    fresh(lab.root)
    return recording


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, nargs="+", default=[10, 100],
                        help="hierarchy sizes, in sites (default 10 100; the issue's third "
                             "size is 300)")
    parser.add_argument("--size-mib", type=int, default=4)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--level", type=int, default=3, help="the baseline's zstd level")
    parser.add_argument("--timeout", type=float, default=900, help="live run limit, seconds")
    parser.add_argument("--no-step", action="store_true", help="skip step mode")
    parser.add_argument("--no-live", action="store_true", help="skip live mode")
    parser.add_argument("--no-floor", action="store_true",
                        help="skip the floor (the step run's file operations and SQL statements "
                             "done bare, bench/flowfloor.py)")
    parser.add_argument("--processes", default="one",
                        help="the live run's sitesrv run --processes: one (default), per-site "
                             "or a number of processes")
    parser.add_argument("--out", type=Path, default=OUT, metavar="DIR",
                        help="where the labs and the baseline's folders go (default bench/out, "
                             "on disk; /dev/shm/... puts the file system's costs out of the way)")
    args = parser.parse_args()
    use_bytecode_cache()
    need_tools("tar", "zstd", "bash", "cp")
    version = sitesrv_version()
    corpus = make_corpus(OUT / f"hier-corpus-{args.size_mib}", args.size_mib, args.files)
    expected = tree_digest(corpus)
    modes = [m for m, skip in (("live", args.no_live), ("step", args.no_step)) if not skip]
    # A run's lab holds about 1.7 times the package per site (a 100-site run of 4 MiB: 680 MB),
    # rounded up to 2.
    warn_if_short_of_memory(args.out, 2 * max(args.sites) * args.size_mib * 2**20)
    times: dict[int, dict[str, list[float]]] = {
        sites: collections.defaultdict(list) for sites in args.sites}
    recordings = {sites: None if args.no_floor else floor_recording(corpus, sites, args.out)
                  for sites in args.sites}
    for rnd in range(args.repeat):
        for sites in args.sites:
            tree = shape(sites)
            t = times[sites]
            recording = recordings[sites]
            wall, others = baseline(corpus, tree, expected, args.level, args.out)
            t["base"].append(wall)
            t["base_others"].append(others)
            if recording is not None:
                cost = flowfloor.replay(recording, args.out / "hier-floor")
                t["floor"].append(cost.wall)
                t["floor_cpu"].append(cost.cpu)
            for mode in modes if rnd % 2 == 0 else list(reversed(modes)):
                wall, cpu, others = run_sitesrv(corpus, sites, expected, mode == "step",
                                                args.timeout, args.processes, args.out)
                t[mode].append(wall)
                t[mode + "_cpu"].append(cpu)
                t[mode + "_others"].append(others)
            line = ", ".join(f"{m} {t[m][-1]:.2f} s (others' CPU {t[m + '_others'][-1]:.1f} s)"
                             for m in ("base", *modes))
            if recording is not None:
                line += f", floor {t['floor'][-1]:.2f} s"
            print(f"{sites} sites, round {rnd + 1}: {line}", flush=True)
    print_header(f"one package of {args.files} files, {args.size_mib} MiB, created at CEN with "
                 f"a DP at every site; live runs --processes {args.processes}; labs in "
                 f"{args.out}; median of {args.repeat}", version)
    previous: int | None = None
    for sites in args.sites:
        t = times[sites]
        tree = shape(sites)
        primaries = sum(1 for _, p in tree if p == "CEN")
        base = median(t["base"])
        print(f"{sites} sites (1 central, {primaries} primaries, {sites - 1 - primaries} "
              f"secondaries): baseline {base:.2f} s (others' CPU {median(t['base_others']):.1f} s)")
        if t["floor"]:
            floor = median(t["floor"])
            print(f"  floor: {floor:.2f} s (CPU {median(t['floor_cpu']):.2f} s) -> ratio "
                  f"{floor / base:.2f}: the step run's file operations and SQL statements, bare")
        for mode in modes:
            wall = median(t[mode])
            ratio = wall / base
            note = ""
            if sites == 100:
                met = rounds_meeting([w / b for w, b in zip(t[mode], t["base"], strict=True)],
                                     lambda r: r <= TARGET_RATIO)
                note = f", {'meets' if ratio <= TARGET_RATIO else 'MISSES'} the target <= " \
                       f"{TARGET_RATIO:.0f} ({met})"
            growth = ""
            if previous is not None:
                growth = "; " + _growth(wall / median(times[previous][mode]), sites, previous,
                                        base / median(times[previous]["base"]),
                                        t["floor"], times[previous]["floor"])
                each = [w / v for w, v in zip(t[mode], times[previous][mode], strict=True)]
                linear = sites / previous
                growth += "; each round's growth: " + rounds_meeting(
                    each, lambda g, linear=linear: g <= linear)
            print(f"  {mode}: {wall:.2f} s (CPU {median(t[mode + '_cpu']):.2f} s, others' CPU "
                  f"{median(t[mode + '_others']):.1f} s) -> ratio {ratio:.2f}{note}{growth}")
        previous = sites
    print("every DP held the corpus byte for byte and the summarizer showed State 0 for every "
          "DP, in every round")
    print("rounds:    " + json.dumps({s: {k: [round(x, 3) for x in v] for k, v in t.items()}
                                      for s, t in times.items()}))


def _growth(grew: float, sites: int, previous: int, base_grew: float, floor: list[float],
            previous_floor: list[float]) -> str:
    """How a mode's time grew from the previous size, against the sites' growth (the target:
    no worse than linear), the baseline's and, when both sizes have one, the floor's (what the
    step run asks of the file system and SQLite grows with the sites' polls too)."""
    linear = sites / previous
    verdict = "no worse than linear" if grew <= linear else "WORSE than linear"
    floor_grew = (f", floor x{median(floor) / median(previous_floor):.2f}"
                  if floor and previous_floor else "")
    return (f"x{grew:.2f} from {previous} sites, {verdict} (sites x{linear:.1f}, baseline "
            f"x{base_grew:.2f}{floor_grew})")


if __name__ == "__main__":
    main()

"""Benchmark: one 256 MiB package from the central site to a DP at each of the three tiers.

Run `python bench/distribution.py` (or `make bench`). It uses the corpus of
bench/compression.py (bench/out/corpus: 64 files, half random bytes, half text, 256 MiB), and
in each round, alternating:

* the baseline, the CLI pipeline for the same bytes, in one bash process: `tar -cf - | zstd -3
  -T0` once at ZZZ, `cp` of the archive to P00 and from there to S01 (the path the package
  takes), and `zstd -d | tar -x` into each of the three DP folders;
* sitesrv live: a fresh lab built from the repository's hierarchy.yaml, the package created at
  ZZZ with ZZZ:MGMT01, P00:REMOTE_DP and S01:SEC01 (not timed), then `sitesrv run --until-idle`
  as a child process, timed from its start to its exit (so it includes starting Python, and the
  lab's idle check after the last DP is installed);
* sitesrv step mode (`sitesrv run --step`, one thread, virtual clock: no timer is ever waited
  for), the same way, unless --no-step.

`sync` runs before each timed step. Every DP folder (and every baseline folder) is checked
file by file against the corpus, and the central site's summarizer must show State 0 for the
three DPs; otherwise the run stops with an error. It prints the medians, the ratios to the
baseline (target for live: <= 1.5), the lab process's peak RSS (VmHWM of the child), and where
the live run's time went (from LAB/events.jsonl). Not part of the test run.
"""

from __future__ import annotations

import argparse
import collections
import compileall
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"
HIERARCHY = REPO / "hierarchy.yaml"
DPS = ("ZZZ:MGMT01", "P00:REMOTE_DP", "S01:SEC01")
TARGET_RATIO = 1.25  # docs/performance.md (1.5 until 2026-12-06)

# The lab process: `sitesrv ...` run in this interpreter, reporting its peak RSS when it exits.
# VmHWM, not ru_maxrss: a child started by vfork inherits the parent's ru_maxrss on Linux.
_LAB_CHILD = """
import atexit, os, sys
def _peak():
    with open(os.environ["SITESRV_BENCH_PEAK"], "w") as f:
        f.write(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")))
atexit.register(_peak)
from sitesrv.cli.main import main
sys.argv = ["sitesrv", *sys.argv[1:]]
main()
"""


# --- helpers shared with bench/packages.py ------------------------------------------------------

def busy_cpu() -> float:
    """CPU seconds the whole machine has been busy since boot (/proc/stat), or 0."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class LabRun:
    """One `sitesrv` child process: wall and CPU seconds, exit code, peak RSS in bytes, and
    the CPU seconds other processes of the machine used meanwhile."""

    def __init__(self, wall: float, cpu: float, code: int, peak: int, output: str,
                 others: float) -> None:
        self.wall, self.cpu, self.code, self.peak, self.output = wall, cpu, code, peak, output
        self.others = others


class LabProcess:
    """`sitesrv ARGS` as a child process whose output goes to a file (no pipe to fill up)."""

    def __init__(self, args: list[str]) -> None:
        self._peak = tempfile.NamedTemporaryFile(prefix="sitesrv-peak-")  # noqa: SIM115
        self._output = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        env = dict(os.environ, SITESRV_BENCH_PEAK=self._peak.name)
        os.sync()
        self.start = time.perf_counter()
        self.busy = busy_cpu()
        self.proc = subprocess.Popen([sys.executable, "-c", _LAB_CHILD, *args], env=env,
                                     stdout=self._output, stderr=subprocess.STDOUT, text=True)
        self.result: LabRun | None = None

    def poll(self, block: bool = False) -> LabRun | None:
        """The run once it has exited (waiting for it with `block`), else None."""
        if self.result is None:
            pid, status, usage = os.wait4(self.proc.pid, 0 if block else os.WNOHANG)
            if pid == 0:
                return None
            wall = time.perf_counter() - self.start
            self.proc.returncode = code = os.waitstatus_to_exitcode(status)
            try:
                peak = int(Path(self._peak.name).read_text()) << 10
            except (OSError, ValueError):
                peak = 0
            self._output.seek(0)
            cpu = usage.ru_utime + usage.ru_stime
            self.result = LabRun(wall, cpu, code, peak, self._output.read(),
                                 max(0.0, busy_cpu() - self.busy - cpu))
            self._peak.close()
            self._output.close()
        return self.result

    def wait(self) -> LabRun:
        run = self.poll(block=True)
        assert run is not None
        return run


def run_lab(args: list[str]) -> LabRun:
    return LabProcess(args).wait()


def run_until_idle(lab_root: Path, step: bool, timeout: float, processes: str,
                   what: str = "") -> LabRun:
    """`sitesrv run --step`, or `--until-idle` live, as a child process; exit status 0 or a
    SystemExit naming `what` ran."""
    args = ["run", "--lab", str(lab_root)]
    args += ["--step"] if step else ["--until-idle", "--timeout", str(timeout), "--processes",
                                     processes]
    run = run_lab(args)
    if run.code != 0:
        raise SystemExit(f"{what}sitesrv {'step' if step else 'live'} run exited {run.code}:\n"
                         f"{run.output[-3000:]}")
    return run


def run_shell(script: str) -> tuple[float, float, float]:
    """Wall and CPU seconds (with its children) of one bash process, and the CPU seconds other
    processes used meanwhile; sync first."""
    os.sync()
    start, busy = time.perf_counter(), busy_cpu()
    proc = subprocess.Popen(["bash", "-e", "-o", "pipefail", "-c", script])
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"baseline failed (status {status}):\n{script[:2000]}")
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, max(0.0, busy_cpu() - busy - cpu)


def lab_hierarchy(dest: Path, timing: dict[str, str]) -> Path:
    """The repository's hierarchy.yaml, with any timing overrides (--timing KEY=VALUE)."""
    text = HIERARCHY.read_text()
    if timing:
        data = yaml.safe_load(text)
        data.setdefault("timing", {}).update(timing)
        text = yaml.safe_dump(data, sort_keys=False)
    dest.write_text(text)
    return dest


def fresh(path: Path) -> Path:
    if path.exists():
        subprocess.run(["chmod", "-R", "u+w", str(path)], check=True)
        shutil.rmtree(path)
    return path


def new_lab(root: Path, timing: dict[str, str]):  # -> sitesrv.admin.lab.Lab
    from sitesrv.admin.lab import Lab

    fresh(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    return Lab.init(root, lab_hierarchy(root.parent / f"{root.name}.yaml", timing)).lab


def dp_folders(lab, pkg_id: str) -> dict[str, Path]:  # lab: sitesrv.admin.lab.Lab
    from sitesrv.admin.console import parse_dp

    out = {}
    for spec in DPS:
        site, dp = parse_dp(lab, spec)
        out[spec] = lab.site(site.code).dp_package(dp, pkg_id)
    return out


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under `root`."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        out[path.relative_to(root).as_posix()] = h.hexdigest()
    return out


def check_tree(expected: dict[str, str], root: Path, what: str) -> None:
    got = tree_digest(root) if root.is_dir() else {}
    if got != expected:
        missing = sorted(set(expected) - set(got))
        wrong = sorted(k for k in expected.keys() & got.keys() if expected[k] != got[k])
        extra = sorted(set(got) - set(expected))
        raise SystemExit(f"{what} ({root}) does not hold the package's bytes: {len(missing)} "
                         f"missing, {len(wrong)} different, {len(extra)} extra files "
                         f"(e.g. {(missing + wrong + extra)[:3]})")


def summarizer(lab) -> tuple[int, list[tuple]]:  # lab: sitesrv.admin.lab.Lab
    """(rows, rows with State != 0) of the central site's DP summarizer: the field report's
    health query."""
    from sitesrv.db.sitedb import SiteDatabase

    with SiteDatabase.open(lab.site(lab.hierarchy.central.code).database) as db:
        total = db.query("SELECT count(*) FROM SMS_PackageStatusDistPointsSummarizer")[0][0]
        bad = db.query("SELECT PackageID, SiteCode, ServerNALPath, State FROM "
                       "SMS_PackageStatusDistPointsSummarizer WHERE State != 0")
    return total, [tuple(r) for r in bad]


def events(lab_root: Path) -> list[dict]:
    from sitesrv.logs.events import read_events

    return read_events(lab_root / "events.jsonl")


def event_time(e: dict) -> float:
    return datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def first_line(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True).stdout.splitlines()[0].strip()
    except (OSError, IndexError):
        return f"{args[0]}: not found"


def use_bytecode_cache() -> None:
    """Let the child processes run sitesrv from compiled bytecode, as an installed copy runs.

    Some shells and CI images set PYTHONDONTWRITEBYTECODE, and then every child compiled
    sitesrv's modules from source again: 0.13 s of each `sitesrv run` on the machine of
    docs/performance.md. The bytecode is written once here, into the checkout's
    `__pycache__` folders (ignored by git)."""
    import sitesrv

    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    compileall.compile_dir(Path(sitesrv.__file__).parent, quiet=1)


def sitesrv_version() -> str:
    """Where the sitesrv under test comes from, and its git commit (+dirty)."""
    import sitesrv

    where = Path(sitesrv.__file__).resolve().parent.parent
    def git(*a: str) -> str:
        return subprocess.run(["git", "-C", str(where), *a], capture_output=True,
                              text=True).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "no git"
    dirty = " + uncommitted changes" if git("status", "--porcelain", "--", "sitesrv") else ""
    return f"sitesrv at {where} ({commit}{dirty})"


def meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes (Linux; empty elsewhere)."""
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return {}
    return {k: int(v.split()[0]) * 1024 for k, _, v in (line.partition(":") for line in lines)
            if v.strip().endswith("kB")}


def on_tmpfs(path: Path) -> bool:
    """Whether `path` (or the folder it will be made in) is on a tmpfs (Linux)."""
    path = path.resolve()
    while not path.exists():
        path = path.parent
    best, kind = "", ""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    for line in mounts:  # the last of two mounts on one point is the one in use
        fields = line.split()
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[1])  # \040: " "
        if (str(path) == point or str(path).startswith(point.rstrip("/") + "/")) \
                and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind == "tmpfs"


def warn_if_short_of_memory(out: Path, need: int) -> None:
    """A lab on tmpfs lives in memory: with too little available, every page the run writes is
    taken back from the page cache first, and the run measures that. A 300-site run of
    bench/hierarchy.py writes 2 GB; with 2 GB of memory free (stale labs in /dev/shm), its DP
    writes and copies took 2.4 s of wall time in a profiled run instead of 0.9 s, 3.4 times as
    long per byte as at 100 sites (bench/HISTORY.md)."""
    available = meminfo().get("MemAvailable")
    if available is not None and on_tmpfs(out) and available < 2 * need:
        print(f"warning: the labs in {out} (tmpfs, memory) need about {need / 2**30:.1f} GiB and "
              f"only {available / 2**30:.1f} GiB of memory is available: the runs will measure "
              "the kernel reclaiming memory. Delete what other runs left on that file system, "
              "or give --out a folder on disk.", file=sys.stderr, flush=True)


def print_header(what: str, version_at_start: str) -> None:
    import zstandard

    print(f"date:      {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"machine:   {os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} "
          f"{platform.release()}")
    libzstd = ".".join(map(str, zstandard.ZSTD_VERSION))
    print(f"versions:  Python {platform.python_version()}, python-zstandard "
          f"{zstandard.__version__} (libzstd {libzstd}); {first_line(['zstd', '--version'])}; "
          f"{first_line(['tar', '--version'])}")
    print(f"           {version_at_start}")
    if (now := sitesrv_version()) != version_at_start:
        print(f"           (changed during the run; now {now})")
    info = meminfo()
    if "MemAvailable" in info and "MemTotal" in info:  # MemAvailable: Linux 3.14 and later
        shm = shutil.disk_usage("/dev/shm") if Path("/dev/shm").is_dir() else None
        held = f"; /dev/shm holds {shm.used / 2**30:.1f} GiB" if shm else ""
        print(f"memory:    {info['MemAvailable'] / 2**30:.1f} GiB available of "
              f"{info['MemTotal'] / 2**30:.1f} GiB when the report was printed{held}")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load:      {load} (1, 5, 15 min) when the report was printed; the machine may be "
          "shared")
    print(f"bench:     {what}")


def parse_timing(items: Iterable[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--timing {item!r}: write KEY=VALUE, e.g. despooler_retry_delay=0.1")
        out[key.strip()] = value.strip()
    return out


def need_tools(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            raise SystemExit(f"the benchmark needs {tool} on PATH")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def rounds_meeting(rounds: Sequence[float], met: Callable[[float], bool],
                   digits: int | None = 2) -> str:
    """Each round's figure and how many meet the target, `rounds 2.50, 3.10: 1 of 2 meet`, or
    with `digits` None only `1 of 2 rounds meet`: issue 15 counts a target met when at least 3
    of 5 rounds meet it."""
    count = f"{sum(1 for r in rounds if met(r))} of {len(rounds)}"
    if digits is None:
        return f"{count} rounds meet"
    return f"rounds {', '.join(f'{r:.{digits}f}' for r in rounds)}: {count} meet"


# --- the 256 MiB package ----------------------------------------------------------------------

def baseline_script(corpus: Path, work: Path, level: int) -> str:
    z, p, s = (work / c for c in ("ZZZ", "P00", "S01"))
    lines = [f"tar -cf - -C {corpus} . | zstd -{level} -T0 -q -f -o {z}/pkg.tar.zst",
             f"cp {z}/pkg.tar.zst {p}/pkg.tar.zst",
             f"cp {p}/pkg.tar.zst {s}/pkg.tar.zst"]
    lines += [f"zstd -d -c -q {d}/pkg.tar.zst | tar -xf - -C {d}/dp" for d in (z, p, s)]
    return "\n".join(lines)


def run_baseline(corpus: Path, expected: dict[str, str],
                 level: int) -> tuple[float, float, float]:
    work = fresh(OUT / "dist-baseline")
    for code in ("ZZZ", "P00", "S01"):
        (work / code / "dp").mkdir(parents=True)
    wall, cpu, others = run_shell(baseline_script(corpus, work, level))
    for code in ("ZZZ", "P00", "S01"):
        check_tree(expected, work / code / "dp", f"baseline folder {code}")
    fresh(work)
    return wall, cpu, others


def run_sitesrv(corpus: Path, expected: dict[str, str], step: bool, timeout: float,
                timing: dict[str, str], processes: str = "one") -> tuple[LabRun, list[dict]]:
    from sitesrv.admin import console

    lab = new_lab(OUT / "dist-lab", timing)
    pkg_id = console.create_package(lab, "ZZZ", name="Bench 256 MiB", source=corpus,
                                    dps=list(DPS))
    run = run_until_idle(lab.root, step, timeout, processes)
    mode = "step" if step else "live"
    for spec, folder in dp_folders(lab, pkg_id).items():
        check_tree(expected, folder, f"{mode}: DP {spec}")
    total, bad = summarizer(lab)
    if total != len(DPS) or bad:
        raise SystemExit(f"{mode}: the central summarizer has {total} rows, State != 0: {bad}")
    evs = events(lab.root)
    fresh(lab.root)
    return run, evs


TIMELINE = ("package_compressed", "dp_installed", "send_finished", "instruction_retry",
            "package_stored", "content_parked", "server_stopped")


def timeline(evs: list[dict]) -> list[str]:
    """The live run's milestones, in seconds after the servers started."""
    start = next(event_time(e) for e in evs if e["event"] == "server_started")
    lines = []
    sends: dict[str, int] = collections.Counter()
    for e in evs:
        name = e["event"]
        if name not in TIMELINE:
            continue
        if name == "send_finished":
            sends[e.get("site", "")] += 1
            what = f"a send from {e.get('site')} finished (#{sends[e.get('site', '')]})"
        else:
            what = f"{e.get('site')} {name} {e.get('file', '')}".rstrip()
        if name == "instruction_retry":
            what += f" ({e.get('reason', '')})"
        lines.append(f"  {event_time(e) - start:7.3f} s  {what}")
    return lines


def retry_wait(evs: list[dict]) -> float:
    """Seconds content sat in a despooler waiting for its package information (error 12)."""
    waited = 0.0
    pending: dict[tuple[str, str], float] = {}
    for e in evs:
        key = (e.get("site", ""), e.get("package", ""))
        if e["event"] == "instruction_retry":
            pending.setdefault(key, event_time(e))
        elif e["event"] in ("package_stored", "content_parked") and key in pending:
            waited += event_time(e) - pending.pop(key)
    return waited


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--files", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--level", type=int, default=3, help="the baseline's zstd level")
    parser.add_argument("--timeout", type=float, default=300, help="live run limit, seconds")
    parser.add_argument("--no-step", action="store_true", help="skip step mode")
    parser.add_argument("--processes", choices=("one", "per-site"), default="one",
                        help="the live run's sitesrv run --processes (default one)")
    parser.add_argument("--timing", action="append", default=[], metavar="KEY=VALUE",
                        help="override a timing key of the lab (diagnosis; the figures of "
                             "record use the repository's hierarchy.yaml unchanged)")
    args = parser.parse_args()
    use_bytecode_cache()
    need_tools("tar", "zstd", "bash", "cp")
    timing = parse_timing(args.timing)
    version = sitesrv_version()

    from compression import make_corpus

    corpus = OUT / "corpus"
    size = make_corpus(corpus, args.size_mib, args.files)
    expected = tree_digest(corpus)
    times: dict[str, list[float]] = collections.defaultdict(list)
    peaks: dict[str, int] = collections.defaultdict(int)
    last_timeline: list[str] = []
    for rnd in range(args.repeat):
        wall, cpu, others = run_baseline(corpus, expected, args.level)
        times["base"].append(wall)
        times["base_cpu"].append(cpu)
        times["base_others"].append(others)
        modes = ("live",) if args.no_step else ("live", "step")
        for mode in modes if rnd % 2 == 0 else reversed(modes):
            run, evs = run_sitesrv(corpus, expected, mode == "step", args.timeout, timing,
                                   args.processes)
            times[mode].append(run.wall)
            times[mode + "_cpu"].append(run.cpu)
            times[mode + "_others"].append(run.others)
            peaks[mode] = max(peaks[mode], run.peak)
            if mode == "live":
                start = next(event_time(e) for e in evs if e["event"] == "server_started")
                installed = [event_time(e) for e in evs if e["event"] == "dp_installed"]
                times["live_to_last_dp"].append(max(installed) - start)
                times["live_retry_wait"].append(retry_wait(evs))
                last_timeline = timeline(evs)
        line = ", ".join(f"{m} {times[m][-1]:.2f} s" for m in ("base", "live", "step") if times[m])
        line += f" (live: despooler waited {times['live_retry_wait'][-1]:.2f} s); CPU-s of " \
            "other processes (and kernel threads) meanwhile: " + ", ".join(
                f"{m} {times[m + '_others'][-1]:.1f}" for m in ("base", "live", "step")
                if times[m])
        print(f"round {rnd + 1}: {line}", flush=True)

    med = {k: median(v) for k, v in times.items()}
    print_header(f"one package of {args.files} files, {size / (1 << 20):.0f} MiB (half random, "
                 f"half text), ZZZ -> P00 -> S01 with a DP at each; median of {args.repeat}"
                 + (f"; timing overrides {timing}" if timing else ""), version)
    base = med["base"]
    print(f"baseline:  tar|zstd -{args.level} -T0, 2 x cp, 3 x zstd -d|tar -x: {base:.2f} s "
          f"(CPU {med['base_cpu']:.2f} s)")
    verdict = "meets" if med["live"] / base <= TARGET_RATIO else "MISSES"
    print(f"live:      sitesrv run --until-idle --processes {args.processes} {med['live']:.2f} s (CPU {med['live_cpu']:.2f} s) "
          f"-> ratio {med['live'] / base:.2f}, {verdict} the target <= {TARGET_RATIO}; "
          f"peak RSS {peaks['live'] / (1 << 20):.1f} MiB")
    per_round = [live / b for live, b in zip(times["live"], times["base"], strict=True)]
    print(f"           {rounds_meeting(per_round, lambda r: r <= TARGET_RATIO)} (median "
          f"{median(per_round):.2f})")
    print(f"           start of the servers to the last DP installed: "
          f"{med['live_to_last_dp']:.2f} s -> ratio {med['live_to_last_dp'] / base:.2f}")
    waits = times["live_retry_wait"]
    print(f"           content waited for its package information (despooler error 12, "
          f"retried when it was recorded) in {sum(w > 0 for w in waits)} of "
          f"{len(waits)} rounds: {', '.join(f'{w:.2f}' for w in waits)} s")
    if times["step"]:
        print(f"step:      sitesrv run --step {med['step']:.2f} s (CPU {med['step_cpu']:.2f} s) "
              f"-> ratio {med['step'] / base:.2f}; peak RSS {peaks['step'] / (1 << 20):.1f} MiB")
    print("last live run, seconds after the servers started:")
    print("\n".join(last_timeline))
    print("every DP held the corpus byte for byte, and the central summarizer showed State 0 "
          "for all three DPs, in every round")
    print("rounds:    " + json.dumps({k: [round(x, 3) for x in v] for k, v in times.items()}))


if __name__ == "__main__":
    main()

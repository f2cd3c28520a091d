"""Benchmark: our PCK pack/install against `tar | zstd -3 -T0` and `zstd -d | tar -x`.

Run `python bench/compression.py` (or `make bench`). It builds a mixed corpus under
bench/out/ (64 files, half random bytes, half text; 256 MiB by default), then times each side
in fresh child processes, alternating, and prints the median ratios (ours / baseline, both
measured as whole processes, so ours includes starting Python) and our peak RSS (the
child's VmHWM, so Linux only).
Targets: both ratios <= 1.3, peak RSS < 100 MiB. Not part of the test run.
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import zstandard

OUT = Path(__file__).resolve().parent / "out"
PKG = "BEN00001"
_SEED = 2003

_OUR_CHILD = f"""
import sys, time
from sitesrv.compression import install, pack
op, src, dest, level = sys.argv[1:]
start = time.perf_counter()
if op == "pack":
    pack(src, dest, "{PKG}", 1, level=int(level))
else:
    install(src, dest, "{PKG}")
elapsed = time.perf_counter() - start
# VmHWM, not ru_maxrss: a child started by vfork inherits the parent's ru_maxrss on Linux.
peak_kib = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(elapsed, peak_kib)
"""


def make_corpus(root: Path, total_mib: int, files: int) -> int:
    """Half the files random bytes (incompressible), half word soup (about 3:1); returns bytes."""
    size = (total_mib << 20) // files
    marker = root.with_name(root.name + ".complete")
    if not (marker.exists() and marker.read_text() == f"{total_mib} {files}"):
        shutil.rmtree(root, ignore_errors=True)
        rng = random.Random(_SEED)
        letters = b"abcdefghijklmnopqrstuvwxyz"
        words = [bytes(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(20000)]
        for i in range(files):
            folder = root / f"dir{i % 8}"
            folder.mkdir(parents=True, exist_ok=True)
            if i % 2:
                data, ext = os.urandom(size), "bin"
            else:
                data, ext = b" ".join(rng.choices(words, k=size // 5))[:size].ljust(size), "txt"
            (folder / f"file{i:02d}.{ext}").write_bytes(data)
        marker.write_text(f"{total_mib} {files}")
    return size * files


def run_child(args: list[str]) -> tuple[float, float, str]:
    """Wall time, CPU time (user + system, with its children) and stdout of one child process.

    Dirty pages of the previous step are flushed first, so no step pays for another's writes.
    """
    os.sync()
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    output = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{args} failed: status {status}")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime, output


def fresh(path: Path) -> Path:
    if path.exists():
        subprocess.run(["chmod", "-R", "u+w", str(path)], check=True)
        shutil.rmtree(path)
    return path


def measure(corpus: Path, level: int, repeat: int) -> tuple[dict[str, list[float]], int]:
    baseline, ours = OUT / "baseline.tar.zst", OUT / f"{PKG}.PCK"
    python = sys.executable
    times: dict[str, list[float]] = collections.defaultdict(list)
    peak = 0

    def baseline_run(key: str, command: str) -> None:
        wall, cpu, _ = run_child(["bash", "-o", "pipefail", "-c", command])
        times[key].append(wall)
        times[key + "_cpu"].append(cpu)

    def ours_run(key: str, *args: str) -> None:
        nonlocal peak
        wall, cpu, out = run_child([python, "-c", _OUR_CHILD, *args])
        call, peak_kib = out.split()
        times[key].append(wall)
        times[key + "_call"].append(float(call))
        times[key + "_cpu"].append(cpu)
        peak = max(peak, int(peak_kib) << 10)

    for _ in range(repeat):
        pack_cmd = (
            f"tar -cf - -C {corpus.parent} {corpus.name} | zstd -{level} -T0 -q -f -o {baseline}"
        )
        baseline_run("base_pack", pack_cmd)
        if ours.exists():
            os.chmod(ours, 0o644)
        ours_run("our_pack", "pack", str(corpus), str(ours), str(level))

        target = fresh(OUT / "base_extract")
        target.mkdir()
        inst_cmd = f"zstd -d -c -q {baseline} | tar -xf - -C {target}"
        baseline_run("base_inst", inst_cmd)
        ours_run("our_inst", "install", str(ours), str(fresh(OUT / "share")), "0")
    return times, peak


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def first_line(args: list[str]) -> str:
    return subprocess.run(args, capture_output=True, text=True).stdout.splitlines()[0].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--files", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--level", type=int, default=3)
    args = parser.parse_args()
    for tool in ("tar", "zstd", "bash"):
        if shutil.which(tool) is None:
            raise SystemExit(f"the benchmark needs {tool} on PATH")

    corpus = OUT / "corpus"
    source_bytes = make_corpus(corpus, args.size_mib, args.files)
    times, peak = measure(corpus, args.level, args.repeat)

    med = {k: statistics.median(v) for k, v in times.items()}
    mib = source_bytes / (1 << 20)
    libzstd = ".".join(map(str, zstandard.ZSTD_VERSION))
    print(f"date:      {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(
        f"machine:   {os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} {platform.release()}"
    )
    print(
        f"versions:  Python {platform.python_version()}, python-zstandard {zstandard.__version__} (libzstd {libzstd})"
    )
    print(f"           {first_line(['zstd', '--version'])}; {first_line(['tar', '--version'])}")
    print(
        f"corpus:    {args.files} files, {mib:.0f} MiB (half random, half text), level {args.level}, median of {args.repeat}"
    )
    sizes = [(OUT / n).stat().st_size / (1 << 20) for n in (f"{PKG}.PCK", "baseline.tar.zst")]
    print(f"sizes:     ours {sizes[0]:.1f} MiB, tar|zstd {sizes[1]:.1f} MiB")
    for label, ours, base, tool in (
        ("pack", "our_pack", "base_pack", "tar|zstd -T0"),
        ("install", "our_inst", "base_inst", "zstd -d|tar -x"),
    ):
        print(
            f"{label + ':':10} ours {med[ours]:.3f} s ({mib / med[ours]:.0f} MiB/s; the call alone "
            f"{med[ours + '_call']:.3f} s), {tool} {med[base]:.3f} s "
            f"-> ratio {med[ours] / med[base]:.2f} (target <= 1.3); CPU seconds ours "
            f"{med[ours + '_cpu']:.2f}, {tool} {med[base + '_cpu']:.2f}"
        )
    print(f"peak RSS:  {peak / (1 << 20):.1f} MiB (target < 100 MiB)")


if __name__ == "__main__":
    main()

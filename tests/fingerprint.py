"""Fingerprints of whole labs, to show that a change of structure changes no behaviour.

`python -m tests.fingerprint OUT` runs the demo twice in one lab and every step-mode acceptance
test, and writes one JSON file per lab into OUT: each file of the lab with the SHA-256 of its
bytes (a site database as its SQL dump) and its permission bits, with the test's temporary
folder written as `<TMP>` wherever it appears. Package sources outside a lab's site folders
get one fixed modification time before each run (`freeze_sources`), as the compressed files
record them. Run it before and after a change and compare:

    python -m tests.fingerprint /tmp/before     # on the old commit
    python -m tests.fingerprint /tmp/after      # on the new one
    python -m tests.fingerprint --compare /tmp/before /tmp/after

The acceptance tests write their fingerprint through the `fingerprint_lab` fixture
(tests/acceptance/conftest.py) when FINGERPRINT_DIR is set; live tests are left out, as their schedules
depend on the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SKIPPED_SUFFIXES = ("-wal", "-shm", "-journal")
# Package sources are written while a test runs, so their modification times (which go into
# the compressed files) are frozen at this instant before every run of a lab.
FROZEN_MTIME_NS = 1_180_947_600 * 10**9

ENV = "FINGERPRINT_DIR"


def digest_tree(root: Path, tmp: Path) -> dict[str, str]:
    """`relative path -> "<mode> <sha256>"` for every file below `root`."""
    marker = str(tmp).encode()
    out = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink() or path.name.endswith(SKIPPED_SUFFIXES):
            continue
        if path.name == "server.lock":
            continue  # a live lock names its process
        data = _sql_dump(path) if path.suffix == ".db" else path.read_bytes()
        data = data.replace(marker, b"<TMP>")
        mode = stat.S_IMODE(path.stat().st_mode)
        out[path.relative_to(root).as_posix()] = f"{mode:o} {hashlib.sha256(data).hexdigest()}"
    return out


def freeze_sources(tmp: Path) -> None:
    """Give every file below `tmp` that is not part of a lab's sites one fixed mtime."""
    labs = {p.parent for p in tmp.rglob("hierarchy.yaml") if (p.parent / "events.jsonl").exists()}
    for path in sorted(tmp.rglob("*")):
        inside = next((lab for lab in labs if lab in path.parents), None)
        if inside is not None and path.relative_to(inside).parts[0] != "demo-source":
            continue
        if path.is_file() and not path.is_symlink():
            os.utime(path, ns=(FROZEN_MTIME_NS, FROZEN_MTIME_NS))


def _sql_dump(path: Path) -> bytes:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "\n".join(connection.iterdump()).encode()
    finally:
        connection.close()


def write(out: Path, name: str, root: Path, tmp: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    (out / f"{safe}.json").write_text(json.dumps(digest_tree(root, tmp), indent=1,
                                                 sort_keys=True) + "\n")


def run(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for _ in range(2):
            subprocess.run([sys.executable, "-m", "tests.fingerprint", "--demo", str(tmp)],
                           check=True, capture_output=True, cwd=REPO)
        write(out, "demo", tmp, tmp)
    env = {**os.environ, ENV: str(out)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-m", "not live_fs", "tests/acceptance"], cwd=REPO, env=env).returncode


def frozen_runs(lab_class: type, tmp: Path) -> None:
    """Make every `run_until_idle` of labs below `tmp` freeze the sources first."""
    original = lab_class.run_until_idle

    def run_until_idle(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        freeze_sources(tmp)
        return original(self, *args, **kwargs)

    lab_class.run_until_idle = run_until_idle


def demo(tmp: Path) -> None:
    """`sitesrv demo` in this process, with frozen sources."""
    from sitesrv import Lab
    from sitesrv.cli.main import cli

    frozen_runs(Lab, tmp)
    cli.main(["demo", "--lab", str(tmp / "lab"), "--hierarchy", str(REPO / "hierarchy.yaml")],
             prog_name="sitesrv", standalone_mode=False)


def compare(before: Path, after: Path) -> int:
    names = sorted({p.name for p in before.glob("*.json")} | {p.name for p in after.glob("*.json")})
    differ = 0
    for name in names:
        a, b = (json.loads(p.read_text()) if p.exists() else None
                for p in (before / name, after / name))
        if a == b:
            continue
        differ += 1
        print(f"{name}:")
        if a is None or b is None:
            print("  only in", "after" if a is None else "before")
            continue
        for path in sorted(set(a) | set(b)):
            if a.get(path) != b.get(path):
                print(f"  {path}: {a.get(path)} -> {b.get(path)}")
    print(f"{len(names)} labs, {differ} differ")
    return 1 if differ else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    parser.add_argument("--demo", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("out", nargs="?", type=Path)
    args = parser.parse_args()
    if args.demo:
        demo(args.demo)
        return
    if args.compare:
        sys.exit(compare(*args.compare))
    if args.out is None:
        parser.error("give OUT, or --compare BEFORE AFTER")
    sys.exit(run(args.out))


if __name__ == "__main__":
    main()

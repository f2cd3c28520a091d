"""delta_reset: the delta-stuck report's repair as a script, the kind of tool sitesrv is for.

A child site that lost the previous version of a package waits for ever for a delta it cannot
merge. The unsupported repair that works (docs/sources.md#delta-stuck): at the parent, set the
child's Type 1 PkgStatus row to Status 2, SourceVersion 0, then refresh the package's DPs at the
child, so that the parent sends the whole compressed package. This script finds the stuck rows
with the report's diagnosis query and, with --apply, makes the change; it uses nothing but the
lab's site database, as it would use SQL Server at a real site.

    python delta_reset.py --lab lab --parent ZZZ --child P00 ZZZ00001 [--apply]

Exit status: 0 repaired (or, without --apply, nothing to repair), 1 a stuck row was found and
not changed (run again with --apply), 2 a usage error.
"""

from __future__ import annotations

import argparse
import shlex
import sqlite3
import sys
from pathlib import Path

DIAGNOSIS = ("SELECT SiteCode, PkgServer, Status, SourceVersion FROM PkgStatus "
             "WHERE (Type = 1) AND (ID = ?) AND (SiteCode = ?)")
REPAIR = ("UPDATE PkgStatus SET Status = 2, SourceVersion = 0 "
          "WHERE (ID = ?) AND (Type = 1) AND (SiteCode = ?) AND (Status <> 2) "
          "AND (SourceVersion > 0)")
RECEIVED = 2


def stuck_rows(database: Path, package_id: str, child: str) -> list[tuple[object, ...]]:
    """The child's Type 1 rows at the parent that say a version was sent and never received
    (the report: "Status<>0 and SourceVersion>0 for a long time"; 2, received, is healthy)."""
    with sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True) as connection:
        rows = connection.execute(DIAGNOSIS, (package_id, child)).fetchall()
    return [row for row in rows if row[2] not in (0, RECEIVED) and row[3] > 0]


def reset(database: Path, package_id: str, child: str) -> int:
    """The repair, in one transaction; the number of rows changed."""
    connection = sqlite3.connect(database, timeout=10, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        changed = connection.execute(REPAIR, (package_id, child)).rowcount
        connection.execute("COMMIT")
        return changed
    finally:
        connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab", type=Path, default=Path("lab"))
    parser.add_argument("--parent", required=True, help="the site that sends the package")
    parser.add_argument("--child", required=True, help="the stuck site")
    parser.add_argument("package_id")
    parser.add_argument("--apply", action="store_true", help="make the change")
    args = parser.parse_args(argv)
    database = args.lab / args.parent.upper() / "SMS" / "site.db"
    if not database.is_file():
        print(f"delta_reset: no site database at {database}: is {args.parent} a primary site "
              "of that lab?", file=sys.stderr)
        return 2
    package_id, child = args.package_id.upper(), args.child.upper()
    rows = stuck_rows(database, package_id, child)
    for row in rows:
        print(f"stuck: {package_id} at {row[0]} ({row[1]}): Status {row[2]}, "
              f"SourceVersion {row[3]}")
    if not rows:
        print(f"{package_id} is not stuck at {child}.")
        return 0
    if not args.apply:
        return 1
    print(f"reset {reset(database, package_id, child)} row(s); now refresh the package's DPs "
          f"at {child}: sitesrv package refresh {package_id} {child}:<DP> --lab "
          f"{shlex.quote(str(args.lab))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

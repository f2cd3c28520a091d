"""What `sitesrv status` and `sitesrv trace` show: the central site's view, and a journey.

Status reads the central site's database, as an administrator at the top of the hierarchy
would: the DP summarizer (one row per package and DP, with its State) and the Type 1 rows (one
per package and site). Trace reads `LAB/events.jsonl` and lists one package's steps in order.
"""

from __future__ import annotations

import json
from typing import Any

from sitesrv.admin.lab import Lab
from sitesrv.db.sitedb import PackageStatus, SiteDatabase
from sitesrv.errors import UserError
from sitesrv.logs.events import read_events

# SMS_PackageStatusDistPointsSummarizer.State (SDK). The database computes it in a view
# (schema.sql) and has no enum for it, so its names live here, once.
STATES = {0: "INSTALLED", 1: "INSTALL_PENDING", 2: "INSTALL_RETRYING", 3: "INSTALL_FAILED",
          4: "REMOVAL_PENDING", 5: "REMOVAL_RETRYING", 6: "REMOVAL_FAILED"}
# PkgStatus.Status: the names of the database's own enum.
STATUSES = {int(s): s.name for s in PackageStatus}


def status_rows(lab: Lab, package_id: str | None) -> dict[str, list[dict[str, Any]]]:
    central = lab.hierarchy.central
    where = " WHERE PackageID = ?" if package_id else ""
    params = (package_id,) if package_id else ()
    with SiteDatabase.open(lab.site(central.code).database) as db:
        dps = db.query(
            "SELECT PackageID, SiteCode, ServerNALPath, State, SourceVersion, SummaryDate "
            f"FROM SMS_PackageStatusDistPointsSummarizer{where} "
            "ORDER BY PackageID, SiteCode, ServerNALPath", params)
        sites = db.query(
            "SELECT ID, SiteCode, PkgServer, Status, SourceVersion, UpdateTime FROM PkgStatus "
            "WHERE Type = 1" + (" AND ID = ?" if package_id else "") +
            " ORDER BY ID, SiteCode", params)
    return {
        "distribution_points": [
            {"PackageID": r[0], "SiteCode": r[1], "ServerNALPath": r[2], "State": r[3],
             "StateName": STATES.get(r[3], "?"), "SourceVersion": r[4], "SummaryDate": r[5]}
            for r in dps],
        "sites": [
            {"PackageID": r[0], "SiteCode": r[1], "PkgServer": r[2], "Status": r[3],
             "StatusName": STATUSES.get(r[3], "?"), "SourceVersion": r[4], "UpdateTime": r[5]}
            for r in sites],
    }


def check_package(lab: Lab, package_id: str) -> None:
    """A package `status` is asked about must exist: a well-formed ID of one of the lab's
    sites, known to the site that created it (a UserError otherwise: empty tables would look
    like a package with no DP)."""
    from sitesrv.admin.console import source_code

    code = source_code(lab, package_id)
    source = lab.site(code)
    if source.site.is_primary and source.database.exists():
        with SiteDatabase.open(source.database) as db:
            if db.get_package(package_id) is not None:
                return
    raise UserError(f"There is no package {package_id.upper()} in this lab: site {code}, whose "
                    "code it starts with, has not created it. 'sitesrv status' without a "
                    "PackageID lists the packages.")


def render_status(rows: dict[str, list[dict[str, Any]]], as_json: bool) -> str:
    if as_json:
        return json.dumps(rows, indent=2) + "\n"
    lines = ["Distribution points (SMS_PackageStatusDistPointsSummarizer at the central site)"]
    lines += _table(["PackageID", "Site", "DP", "State", "SourceVersion", "Last change"],
                    [[r["PackageID"], r["SiteCode"], r["ServerNALPath"],
                      f"{r['State']} {r['StateName']}", r["SourceVersion"], r["SummaryDate"]]
                     for r in rows["distribution_points"]])
    lines += ["", "Sites (PkgStatus Type 1: the compressed copy at each site)"]
    lines += _table(["PackageID", "Site", "Server", "Status", "SourceVersion", "Last change"],
                    [[r["PackageID"], r["SiteCode"], r["PkgServer"],
                      f"{r['Status']} {r['StatusName']}", r["SourceVersion"], r["UpdateTime"]]
                     for r in rows["sites"]])
    return "\n".join(lines) + "\n"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return ["  (none)"]
    text = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(r[i]) for r in text) for i in range(len(header))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in text]


def trace_lines(lab: Lab, package_id: str) -> list[str]:
    """One line per step of the package's journey, in lab-time order."""
    wanted = package_id.upper()
    events = [e for e in read_events(lab.layout.events)
              if str(e.get("package", "")).upper() == wanted
              or (e.get("event") == "fault" and "package" not in e)]  # a link, for every one
    events.sort(key=lambda e: str(e.get("time", "")))  # a hand-made line may have any time
    out = []
    for e in events:
        details = [str(e["file"])] if e.get("file") else []
        details += [f"{k}={e[k]}" for k in ("fault", "to", "version", "reason") if k in e]
        out.append(f"{e.get('time', '')}  {e.get('site', ''):<3}  {e.get('component', ''):<26}"
                   f"  {e.get('event', ''):<18}  {'  '.join(details)}".rstrip())
    return out


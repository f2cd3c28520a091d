"""What `sitesrv status` and `sitesrv trace` show: the central site's view, and a journey.

Status reads the central site's database, as an administrator at the top of the hierarchy
would: the DP summarizer (one row per package and DP, with its State) and the Type 1 rows (one
per package and site). Trace reads `LAB/events.jsonl` and lists one package's steps in order,
with the Courier Sender parcels Courier Sender Manager keeps (records, and coursend.log with
its `.lo_`: every log is read as SMS keeps it, the `.lo_` first).
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path, PureWindowsPath
from typing import Any

from sitesrv.admin.lab import Lab
from sitesrv.components.deletions import record_of
from sitesrv.db.sitedb import PackageStatus, SiteDatabase
from sitesrv.errors import UserError
from sitesrv.lab.clock import lab_time_text
from sitesrv.logs.events import read_events
from sitesrv.logs.smslog import LogLine, log_history, read_log

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
    if record_of(source.state_dir, package_id).is_file():
        raise UserError(f"Package {package_id.upper()} was deleted: site {code}, which created "
                        f"it, has no row of it any more. 'sitesrv trace {package_id.upper()}' "
                        "shows its journey, its deletion included.")
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
    """One line per step of the package's journey, in lab-time order: the events that name it,
    the waits of its files, and its Courier Sender parcels."""
    wanted = package_id.upper()
    every = read_events(lab.layout.events)
    named = [e for e in every if str(e.get("package", "")).upper() == wanted]
    events = [e for e in every if str(e.get("package", "")).upper() == wanted
              or (e.get("event") == "fault" and "package" not in e)]  # a link, for every one
    events += [*_waits(every, named, wanted), *_parcels(lab, wanted)]
    events.sort(key=lambda e: str(e.get("time", "")))  # a hand-made line may have any time
    out = []
    for e in events:
        details = [str(e["file"])] if e.get("file") else []
        details += [f"{k}={e[k]}" for k in ("fault", "parcel", "to", "version", "tracking",
                                             "reason") if k in e]
        if e.get("event") == "deferred" and isinstance(e.get("times"), int) and e["times"] > 1:
            details += [f"times={e['times']}", f"last={e.get('last', '')}"]
        out.append(f"{e.get('time', '')}  {e.get('site', ''):<3}  {e.get('component', ''):<26}"
                   f"  {e.get('event', ''):<18}  {'  '.join(details)}".rstrip())
    return out


def _waits(events: list[dict[str, Any]], named: list[dict[str, Any]],
           wanted: str) -> list[dict[str, Any]]:
    """The package's `deferred` events, one per file, component and reason, with how many times
    it waited and when it last did: the stuck part of a story, which repeats every retry pass.

    The runtime's event names the file and the component's reason, not the package. A wait is
    the package's when its reason names the package ID (Distribution Manager's `waits for
    version 1 of ZZZ00001`, the Despooler's `waits for the package information of ZZZ00001
    version 1`), when its file is one that an event of the package names at that site, or when
    it is the Scheduler's job file of a job of the package (`schedule.box\\00000001.job`). An
    event of the package that already says it (the Despooler's `instruction_retry`) is not
    repeated."""
    in_reason = re.compile(rf"(?<![0-9A-Z]){re.escape(wanted)}(?![0-9A-Z])", re.IGNORECASE)
    files = {(e.get("site"), str(e["file"]).upper()) for e in named if e.get("file")}
    jobs = {(e.get("site"), f"{e['job']}.JOB".upper()) for e in named if e.get("job")}
    said = {(e.get("time"), e.get("site"), e.get("file"), e.get("reason")) for e in named}
    waits: dict[tuple[Any, ...], dict[str, Any]] = {}
    for e in events:
        file, site, reason = str(e.get("file", "")), e.get("site"), str(e.get("reason", ""))
        if e.get("event") != "deferred" or (e.get("time"), site, e.get("file"), e.get("reason")) \
                in said or not (in_reason.search(reason) or (site, file.upper()) in files
                                or (site, PureWindowsPath(file).name.upper()) in jobs):
            continue
        key = (site, e.get("component"), file.upper(), reason)
        first = waits.setdefault(key, {**e, "times": 0})
        first["times"] += 1
        first["last"] = e.get("time", "")
    return [{k: v for k, v in e.items() if k != "until"} for e in waits.values()]


# Courier Sender Manager's line for each send request a site received from a parcel; the time it
# was received is written nowhere else.
RECEIVED = re.compile(r"Received send request \S+ \(job \S+, package "
                      r"(?P<package>\S+)\) from site \S+ in parcel (?P<parcel>\S+)")


def _parcels(lab: Lab, wanted: str) -> list[dict[str, Any]]:
    """The package's Courier Sender parcels, as steps, from what Courier Sender Manager keeps:
    the sending site's records (`coursend.box\\outgoing`: made, Sent, Confirmed, with their
    times) and the receiving site's coursend.log and its rolled-over coursend.lo_ (received)."""
    from sitesrv.admin import coursend

    # In the order an administrator takes the steps, which may all be at one lab time (between
    # two step runs): made and Sent at the source, received at the destination, then Confirmed.
    steps: list[dict[str, Any]] = []
    received: list[dict[str, Any]] = []
    confirmed: list[dict[str, Any]] = []
    for site in lab.hierarchy.sites:
        step = {"site": site.code, "component": coursend.COMPONENT}
        for record in coursend.records(lab, site):
            packing = record.packing_list
            to = [r.dest_site for r in packing.requests if r.package_id.upper() == wanted]
            if not to:
                continue
            made = {**step, "parcel": packing.parcel_id}
            steps.append({**made, "time": lab_time_text(packing.created),
                          "event": "parcel_created", "to": ", ".join(dict.fromkeys(to))})
            if record.sent_at is not None:
                tracking = {"tracking": record.tracking_number} if record.tracking_number else {}
                steps.append({**made, "time": lab_time_text(record.sent_at),
                              "event": "parcel_sent", **tracking})
            if record.confirmed_at is not None:
                confirmed.append({**made, "time": lab_time_text(record.confirmed_at),
                                  "event": "parcel_confirmed"})
        for line in _log_lines(lab.site(site.code).log(coursend.LOG)):
            match = RECEIVED.fullmatch(line.text)
            if match and match["package"].upper() == wanted:
                received.append({**step, "time": lab_time_text(line.lab_time),
                                 "event": "parcel_received", "parcel": match["parcel"]})
    return steps + received + confirmed


def _log_lines(log: Path) -> list[LogLine]:
    """A log's lines with those of its `.lo_` before them (a log at its maximum size rolls
    over); a torn or unreadable file's lines are not shown."""
    lines: list[LogLine] = []
    for path in log_history(log):
        with contextlib.suppress(OSError, ValueError):
            lines += read_log(path)
    return lines

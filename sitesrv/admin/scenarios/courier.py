"""A Courier Sender parcel from the central site to a secondary (docs/sources.md#courier-sender).

The package prefers the Courier Sender. Its files wait in the central site's courier outbox,
for Courier Sender "does not send parcels automatically"; the administrator makes the parcel in
Courier Sender Manager, sets it Sent, carries it to the secondary and receives it there, and the
secondary's DP installs. The central site has a LAN address to the secondary too, slow, for
the package's information and status, which Courier Sender cannot carry: with a Courier address
alone the package would reach the secondary without its DP information (Q282494).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from sitesrv.admin import console, coursend
from sitesrv.admin.courierreceive import receive
from sitesrv.admin.scenarios.reports import default_document
from sitesrv.admin.scenarios.story import (
    Play,
    Scenario,
    Stage,
    Step,
    found,
    quoted,
    run_step,
    stuck,
)
from sitesrv.formats import parcel
from sitesrv.formats.parcel import ParcelStatus

DPS = ("ZZZ:MGMT01", "S01:SEC01")
WAN = 64 * 1024  # bytes/s of the LAN address from ZZZ to S01: too slow for the package
TRACKING = "1Z999AA10123456784"
PARCEL = "ZZZ-0001"


def courier_hierarchy(hierarchy: Path, hotfix: bool) -> str:
    """The default lab, and from ZZZ to S01 a slow LAN address and a Courier address."""
    document = default_document(hierarchy, hotfix)
    document["addresses"] += [
        {"from": "ZZZ", "to": "S01", "type": "LAN", "priority": 1, "rate_limit": WAN},
        {"from": "ZZZ", "to": "S01", "type": "COURIER", "priority": 2}]
    return yaml.safe_dump(document, sort_keys=False)


def _breaks(play: Play) -> Stage:
    play.dps = DPS
    play.package_id = console.create_package(
        play.lab, "ZZZ", name="Sample Package", source=play.source, dps=list(DPS),
        preferred_sender="courier")
    report = play.lab.run_until_idle(seed=play.seed)
    return stuck(report.status,
                 found("symptom", play.log("ZZZ", "sched.log"), lambda m: m ==
                       "Destination site:  S01, Preferred Address: COURIER, Priority: 2"),
                 found("symptom", report.lines(), lambda m: "waits in the Courier outbox" in m))


def _diagnose(play: Play) -> Stage:
    waiting = [item.request for item in coursend.pending(play.lab, play.lab.hierarchy.site("ZZZ"))
               if item.request is not None]
    lines = [f"ZZZ waiting {r.request_id} to {r.dest_site} job {r.job_id} {r.package_file}"
             for r in waiting]
    return Stage("diagnosis", any(r.dest_site == "S01" and play.package_id in r.package_file
                                  for r in waiting), ("sitesrv courier list ZZZ", *lines))


def _media(play: Play) -> Path:
    """Where the parcel is carried: a folder beside the lab, as a disc away from the server."""
    return play.lab.root.parent / "courier-media"


def _steps(play: Play) -> tuple[Step, ...]:
    """The repair by hand; a scenario's lab has made no parcel before, so it is PARCEL."""
    made = quoted(play.lab.layout.media / parcel.file_name(PARCEL))
    media = quoted(_media(play))
    carried = quoted(_media(play) / parcel.file_name(PARCEL))
    return (Step("sitesrv courier create ZZZ --name 'Sample Package for S01'",
                 "Courier Sender Manager at ZZZ: the parcel made"),
            Step(f"sitesrv courier sent {PARCEL} --tracking-number {TRACKING} --sent-by Courier",
                 "and set Sent"),
            Step(f"mkdir -p {media}", "the media (on Windows, mkdir)"),
            Step(f"mv {made} {carried}",
                 "the parcel taken off ZZZ to S01 (on Windows, move)"),
            Step(f"sitesrv courier receive S01 {carried}",
                 "Courier Sender Manager at S01: the parcel received"),
            Step(f"sitesrv courier confirm {PARCEL}", "its delivery confirmed at ZZZ"),
            run_step(play))


def _repair(play: Play) -> Stage:
    """Courier Sender Manager at both ends: the parcel made, Sent, moved, received."""
    record, made = coursend.create(play.lab, "ZZZ", name="Sample Package for S01")
    parcel_id = record.packing_list.parcel_id
    coursend.set_status(play.lab, parcel_id, ParcelStatus.SENT, tracking_number=TRACKING,
                        sent_by="Courier")
    media = _media(play)
    media.mkdir(exist_ok=True)
    carried = Path(shutil.move(made, media / made.name))
    packing = receive(play.lab, "S01", carried)
    coursend.set_status(play.lab, parcel_id, ParcelStatus.CONFIRMED)
    lines = (f"sitesrv courier create ZZZ: {parcel_id}, {len(record.packing_list.requests)} "
             f"send request(s) for {', '.join(record.packing_list.destinations)}: {made}",
             f"sitesrv courier sent {parcel_id} --tracking-number {TRACKING} --sent-by Courier",
             f"moved to {carried}",
             f"sitesrv courier receive S01 {carried}: "
             + ", ".join(r.request_id for r in packing.requests),
             f"sitesrv courier confirm {parcel_id}")
    return Stage("repair", [r.dest_site for r in packing.requests] == ["S01"], lines)


COURIER = Scenario(
    name="courier", report="docs/sources.md#courier-sender",
    summary="A package that prefers the Courier Sender waits in the central site's courier "
            "outbox; a parcel made there, set Sent, carried and received at the secondary "
            "installs its DP.",
    hierarchy=courier_hierarchy, breaks=_breaks, diagnose=_diagnose, repair=_repair,
    repair_steps=_steps)

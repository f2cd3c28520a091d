"""KB936465: a secondary's DP added at the child primary never installs (docs/sources.md#kb936465).

The child primary forwards its compressed copy with an instruction stamped at its own time; the
source site stamps a later LastRefreshTime on the definition it sends for the new DP, which
overtakes the slow copy; the secondary then discards the copy's instruction as older, and waits
for ever. The lab: a second of latency between the tiers and a slow link from P00 to S01. The
article's first two workarounds ("send package from the nearest site" off, the DP added at the
central site) are scenarios of their own, in which the symptom must not appear; its third, a
refresh from the child primary, is this scenario's repair.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from sitesrv.admin import console
from sitesrv.admin.scenarios.reports import default_document
from sitesrv.admin.scenarios.story import Play, Scenario, Stage, Step, found, lines, run_step, stuck

# The copy from P00 to S01 and the definition from ZZZ take about the same lab time (the
# definition goes from P00 up to ZZZ and back down through a dozen hand-offs, each taking its
# lab time), and every address varies its latency and rate by up to JITTER per transfer, so
# whether the definition overtakes the copy depends on the seed, as a race does.
SLOW_LINK = 352 * 1024  # bytes/s from P00 to S01: the 4 MB sample takes about 12 s
JITTER = 0.3


def race_hierarchy(hierarchy: Path, hotfix: bool, *, nearest_site: bool = True) -> str:
    """The default lab over a WAN: a second of latency, varied by JITTER, on every address,
    and a slower link from P00 to S01."""
    document = default_document(hierarchy, hotfix)
    for address in document["addresses"]:
        address.update(latency="1s", jitter=JITTER)
        if (address["from"], address["to"]) == ("P00", "S01"):
            address["rate_limit"] = SLOW_LINK
    document["software_distribution"]["send_from_nearest_site"] = nearest_site
    return yaml.safe_dump(document, sort_keys=False)


def _race(play: Play, added_at: str) -> Stage:
    pkg = play.create(("ZZZ:MGMT01", "P00:REMOTE_DP"))
    play.run()
    console.add_dp(play.lab, pkg, "S01:SEC01", at=added_at)
    play.dps = (*play.dps, "S01:SEC01")
    status = play.run()
    waits = (f"Package {pkg} requires a newer version (1) of source files and the new "
             "compressed files haven't arrived yet, current version is 0, skip ")
    return stuck(status, found("symptom", play.log("S01", "distmgr.log"),
                               lambda m: m.startswith(waits)))


def _diagnose(play: Play) -> Stage:
    sql = ("SELECT SiteCode, State FROM SMS_PackageStatusDistPointsSummarizer "
           f"WHERE PackageID = '{play.package_id}' AND SiteCode = 'S01'")
    rows = play.query("ZZZ", sql)
    return Stage("diagnosis", rows == [("S01", 1)], (f"ZZZ: {sql}", *map(str, rows)))


def _steps(play: Play) -> tuple[Step, ...]:
    return (Step(f"sitesrv package refresh {play.package_id} S01:SEC01 --at P00",
                 "the DP refreshed from the child primary"),
            run_step(play))


def _repair(play: Play) -> Stage:
    console.refresh_dp(play.lab, play.package_id, "S01:SEC01", at="P00")
    return Stage("repair", True, lines(_steps(play)[:1]))


KB936465 = Scenario(
    name="kb936465", report="docs/sources.md#kb936465",
    summary="A race: for some seeds the secondary's DP, added at the child primary, waits for "
            "ever; with --hotfix it never does. Repair: refresh the DP from the child primary.",
    hierarchy=race_hierarchy, breaks=lambda play: _race(play, "P00"), diagnose=_diagnose,
    repair=_repair, repair_steps=_steps,
    symptom_expected=lambda hotfix: False if hotfix else None, ends_well="the KB936465 hotfix")

NOT_FROM_THE_NEAREST_SITE = Scenario(
    name="kb936465-not-from-the-nearest-site", report="docs/sources.md#kb936465 (workaround)",
    summary="The same race with \"send package from the nearest site in the hierarchy\" off: "
            "the central site sends the files itself, with its later definition, and the "
            "secondary installs.",
    hierarchy=lambda h, hotfix: race_hierarchy(h, hotfix, nearest_site=False),
    breaks=lambda play: _race(play, "P00"), symptom_expected=lambda hotfix: False)

DP_ADDED_AT_THE_CENTRAL_SITE = Scenario(
    name="kb936465-dp-added-at-the-central-site", report="docs/sources.md#kb936465 (workaround)",
    summary="The same race with the secondary's DP added at the central site: the secondary "
            "installs.",
    hierarchy=race_hierarchy, breaks=lambda play: _race(play, "ZZZ"),
    symptom_expected=lambda hotfix: False)

"""The demo and the field reports of a child that lost its compressed package.

child-lost-its-pck: docs/sources.md#child-lost-its-pck (a refresh does not help; SourceVersion 0
in the parent's Type 1 row and a refresh does). delta-stuck: docs/sources.md#delta-stuck (a delta
on a missing base; Status 2, SourceVersion 0 and a refresh). smsutils: docs/sources.md#smsutils
(the same stuck child found by the summarizer query; Repair A, a new source path, and Repair B,
the compressed package copied by hand and registered with the Preload Package Tool).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import yaml

from sitesrv.admin import console, faults
from sitesrv.admin.demo import write_files
from sitesrv.admin.scenarios.story import (
    SUMMARIZER_QUERY,
    Play,
    Scenario,
    Stage,
    Step,
    found,
    lines,
    quoted,
    run_step,
    stuck,
)
from sitesrv.lab.boxes import DISTMGR

ALL_DPS = ("ZZZ:MGMT01", "P00:REMOTE_DP", "S01:SEC01")


def default(hierarchy: Path, hotfix: bool) -> str:
    """The default three-site lab (ZZZ, P00, S01), with the KB936465 hotfix if asked."""
    return yaml.safe_dump(default_document(hierarchy, hotfix), sort_keys=False)


def default_document(hierarchy: Path, hotfix: bool) -> dict[str, Any]:
    """The default hierarchy as YAML reads it, the hotfix on every site if asked."""
    document = yaml.safe_load(hierarchy.read_text(encoding="utf-8"))
    if hotfix:
        for site in document["sites"]:
            site["hotfixes"] = ["KB936465"]
    return document


def _installed(play: Play, dps: tuple[str, ...]) -> str:
    play.create(dps)
    status = play.run()
    if status != "idle":
        raise RuntimeError(f"the sample package did not install everywhere ({status})")
    return play.package_id


def _demo_breaks(play: Play) -> Stage:
    """The package created and the lab run, so that a kept lab is the demo's end: nothing to
    repair, and the recovered stage's checks find every DP installed."""
    play.create(ALL_DPS)
    status = play.run()
    return Stage("distributed", status == "idle",
                 (f"package {play.package_id} created at ZZZ for {', '.join(ALL_DPS)}",
                  f"sitesrv run --step: {status}"))


DEMO = Scenario(
    name="demo", report="README (make demo)",
    summary="The sample package from the central site to a DP at every site.",
    hierarchy=default, breaks=_demo_breaks, symptom_expected=lambda hotfix: False,
    ends_well="the demo: the sample package is on every DP")


def _child_pck_breaks(play: Play) -> Stage:
    pkg = _installed(play, ALL_DPS[:2])
    faults.delete_compressed(play.lab, "P00", pkg)
    folder = play.dp_folder("P00:REMOTE_DP")
    for path in sorted(folder.rglob("*"), reverse=True):
        path.chmod(0o755 if path.is_dir() else 0o644)
        path.rmdir() if path.is_dir() else path.unlink()
    console.refresh_dp(play.lab, pkg, "P00:REMOTE_DP")
    status = play.run()
    line = f"The compressed files for package {pkg} hasn't arrived from site ZZZ yet, will retry later."
    return stuck(status, found("symptom", play.log("P00", "distmgr.log"), lambda m: m == line))


def _child_pck_sql(play: Play) -> str:
    return (f"WHERE (ID = '{play.package_id}') AND (SiteCode = 'P00') AND "
            "(PkgServer = 'MGMT03')")


def _sql_then_refresh(update: Callable[[Play], str]) -> tuple[
        Callable[[Play], tuple[Step, ...]], Callable[[Play], Stage]]:
    """The reports' repair: one UPDATE at the central site, then a refresh of P00's DP."""

    def steps(play: Play) -> tuple[Step, ...]:
        return (Step(f'sitesrv sql ZZZ "{update(play)}"', "the parent's Type 1 row of site P00 (its site server, not a DP)"),
                Step(f"sitesrv package refresh {play.package_id} P00:REMOTE_DP", "then a refresh"),
                run_step(play))

    def repair(play: Play) -> Stage:
        changed = play.execute("ZZZ", update(play))
        console.refresh_dp(play.lab, play.package_id, "P00:REMOTE_DP")
        return Stage("repair", changed == 1, lines(steps(play)[:2]))

    return steps, repair


def _child_pck_diagnose(play: Play) -> Stage:
    sql = ("SELECT ID, SiteCode, PkgServer, Status, SourceVersion FROM PkgStatus "
           + _child_pck_sql(play))
    rows = play.query("ZZZ", sql)
    return Stage("diagnosis", any(r[4] for r in rows), (f"ZZZ: {sql}", *map(str, rows)))


_child_pck_steps, _child_pck_repair = _sql_then_refresh(
    lambda play: "UPDATE PkgStatus SET SourceVersion = 0 " + _child_pck_sql(play))


CHILD_LOST_ITS_PCK = Scenario(
    name="child-lost-its-pck", report="docs/sources.md#child-lost-its-pck",
    summary="P00's PCK and DP folder are deleted; a refresh waits for ever until the parent's "
            "row says SourceVersion 0.",
    hierarchy=default, breaks=_child_pck_breaks, diagnose=_child_pck_diagnose,
    repair=_child_pck_repair, repair_steps=_child_pck_steps)


def _lose_v1_then_update(play: Play) -> tuple[str, str, str]:
    """P00 loses its v1 PCK ("deleted to free disk space"), then the package changes: the
    package, the run's status, and the line P00's distmgr.log then repeats."""
    pkg = _installed(play, ALL_DPS)
    faults.delete_compressed(play.lab, "P00", pkg)
    write_files(play.source, {"SETUP.INI": b"[Setup]\r\nProgram=SETUP.EXE /q /v2\r\n"})
    console.update_package(play.lab, pkg)
    waits = (f"Package {pkg} requires a newer version (2) of source files and the new "
             "compressed files haven't arrived yet, current version is 1, skip "
             "E:\\SMS\\inboxes\\distmgr.box\\INCOMING\\")
    return pkg, play.run(), waits


def _delta_breaks(play: Play) -> Stage:
    pkg, status, waits = _lose_v1_then_update(play)
    return stuck(status,
                 found("symptom", play.log("P00", "despool.log"), lambda m: m.startswith(
                     f"CCompress::Open: Failed to open F:\\SMSPKG\\{pkg} (1)")),
                 found("symptom", play.log("P00", "distmgr.log"), lambda m: m.startswith(waits)))


def _delta_sql(play: Play) -> str:
    return f"WHERE (ID = '{play.package_id}') AND (Type = 1) AND (PkgServer = 'MGMT03')"


def _delta_diagnose(play: Play) -> Stage:
    sql = (f"SELECT PkgStatus.* FROM PkgStatus WHERE (Type = 1) AND (ID = '{play.package_id}') "
           "AND (SiteCode = 'P00')")
    rows = play.query("ZZZ", sql)
    columns = [c[1] for c in play.query("ZZZ", "PRAGMA table_info(PkgStatus)")]
    status, version = columns.index("Status"), columns.index("SourceVersion")
    # "Status<>0 and SourceVersion>0 for a long time": a version sent and never received
    # (Status 2 is received, the healthy state)
    waiting = [r for r in rows if r[status] not in (0, 2) and r[version] > 0]
    return Stage("diagnosis", bool(waiting), (f"ZZZ: {sql}", *map(str, rows)))


_delta_steps, _delta_repair = _sql_then_refresh(
    lambda play: "UPDATE PkgStatus SET Status = 2, SourceVersion = 0 " + _delta_sql(play))


DELTA_STUCK = Scenario(
    name="delta-stuck", report="docs/sources.md#delta-stuck",
    summary="P00 deleted its v1 PCK; the v2 delta cannot merge and P00 waits for ever until "
            "the parent's row says Status 2, SourceVersion 0.",
    hierarchy=default, breaks=_delta_breaks, diagnose=_delta_diagnose, repair=_delta_repair,
    repair_steps=_delta_steps)


def _smsutils_breaks(play: Play) -> Stage:
    _, status, waits = _lose_v1_then_update(play)
    return stuck(status, found("symptom", play.log("P00", "distmgr.log"),
                               lambda m: m.startswith(waits)))


def _smsutils_diagnose(play: Play) -> Stage:
    rows = play.query("ZZZ", "SELECT SiteCode, ServerNALPath, State FROM "
                             "SMS_PackageStatusDistPointsSummarizer WHERE State != 0")
    return Stage("diagnosis", any(site == "P00" for site, _, _ in rows),
                 (f"ZZZ: {SUMMARIZER_QUERY}", *map(str, rows)))


def _moved(play: Play) -> Path:
    return play.source.with_name("source-moved")


def _smsutils_steps(play: Play) -> tuple[Step, ...]:
    source, moved = quoted(play.source), quoted(_moved(play))
    return (Step(f"cp -Rp {source} {moved}",
                 "the source copied to a new folder, its files' times kept, as the compressed "
                 "package records them (on Windows, robocopy /E keeps them too)"),
            Step(f"sitesrv package set-source {play.package_id} {moved}",
                 "the new source path: a whole new version for every DP"),
            run_step(play))


def _smsutils_repair(play: Play) -> Stage:
    """Repair A: a new source path, which makes a whole new version for every DP."""
    steps = lines(_smsutils_steps(play)[:2])
    shutil.copytree(play.source, _moved(play))
    console.set_source(play.lab, play.package_id, _moved(play))
    play.source = _moved(play)
    return Stage("repair", True, steps)


SMSUTILS = Scenario(
    name="smsutils", report="docs/sources.md#smsutils",
    summary="About 50 package/DP pairs never deploy: the summarizer query finds them, and "
            "Repair A (a new source path) sends a whole new version to every DP.",
    hierarchy=default, breaks=_smsutils_breaks, diagnose=_smsutils_diagnose,
    repair=_smsutils_repair, repair_steps=_smsutils_steps)


def _preload_steps(play: Play) -> tuple[Step, ...]:
    pkg, lab = play.package_id, play.lab
    child = lab.site("P00")
    pck, copy = lab.site("ZZZ").smspkg / f"{pkg}.PCK", quoted(child.smspkg / f"{pkg}.PCK")
    info = quoted(child.inbox(DISTMGR) / f"{pkg}.PKG")
    return (Step(f"cp {quoted(pck)} {copy}", "ZZZ's compressed package copied by hand to "
                 "P00's SMSPKG (on Windows, copy)"),
            Step(f"chmod 444 {copy}", "the copy made read-only (on Windows, attrib +R)"),
            Step(f"rm -f {info}", "P00's package information file of version 1 deleted (on "
                 "Windows, del)"),
            Step(f"preloadpkgonsite --lab {quoted(lab.root)} --site P00 {pkg}",
                 "the copy registered with the Preload Package Tool"),
            Step(f"sitesrv package refresh {pkg} P00:REMOTE_DP", "the DP re-pushed"),
            run_step(play))


def _preload_repair(play: Play) -> Stage:
    """Repair B: ZZZ's PCK copied by hand into P00's SMSPKG, registered with the Preload
    Package Tool (docs/tools.md), and the DP re-pushed."""
    # The tool ships in sitesrv's wheel as the top-level package `preloadpkgonsite`, and is
    # imported only here, when this repair runs: it is built on sitesrv, not sitesrv on it.
    from preloadpkgonsite.arguments import parse
    from preloadpkgonsite.preload import Refused, Site, preload

    pkg, child = play.package_id, play.lab.site("P00")
    copy = child.smspkg / f"{pkg}.PCK"
    shutil.copyfile(play.lab.site("ZZZ").smspkg / f"{pkg}.PCK", copy)
    copy.chmod(0o444)
    (child.inbox(DISTMGR) / f"{pkg}.PKG").unlink(missing_ok=True)
    steps = lines(_preload_steps(play))
    try:
        printed = tuple(preload(Site(play.lab, "P00"), parse((pkg,))))
    except Refused as e:
        return Stage("repair", False, (*steps[:4], *e.lines))
    console.refresh_dp(play.lab, pkg, "P00:REMOTE_DP")
    return Stage("repair", True, (*steps[:4], *(f"    {line}" for line in printed), steps[4]))


# The same story and diagnosis, the other repair.
SMSUTILS_PRELOAD = attrs.evolve(
    SMSUTILS, name="smsutils-preload", report="docs/sources.md#smsutils (Repair B)",
    summary="The smsutils report's stuck child repaired by Repair B: the compressed package "
            "copied by hand to P00, registered with preloadpkgonsite, and the DP re-pushed.",
    repair=_preload_repair, repair_steps=_preload_steps)

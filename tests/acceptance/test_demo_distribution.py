"""Acceptance 1 and 2: the demo package reaches all three DPs, with SMS's files and lines."""

from __future__ import annotations

from pathlib import Path

from sitesrv.admin.lab import Lab
from sitesrv.testing import (
    LabFactory,
    assert_in_order,
    events,
    log_lines,
    log_messages,
    query,
    tree_digest,
)
from tests.acceptance.conftest import create, dp_folder, sample


def test_demo_package_is_byte_identical_on_every_dp(lab: Lab, tmp_path: Path) -> None:
    source = sample(tmp_path)
    pkg_id = create(lab, source)
    report = lab.run_until_idle(seed=7)
    assert report.status == "idle", report
    expected = tree_digest(source)
    for site in ("ZZZ", "P00", "S01"):
        assert tree_digest(dp_folder(lab, site, pkg_id)) == expected, site
    assert query(lab, "ZZZ", "SELECT SiteCode, PkgServer, Status, SourceVersion FROM PkgStatus "
                             "WHERE Type = 1 ORDER BY SiteCode") == [
        ("P00", "MGMT03", 2, 1), ("S01", "SEC01", 2, 1), ("ZZZ", "MGMT01", 2, 1)]
    assert query(lab, "ZZZ", "SELECT SiteCode, Status, SourceVersion FROM PkgStatus "
                             "WHERE Type = 2 ORDER BY SiteCode") == [
        ("P00", 3, 1), ("S01", 3, 1), ("ZZZ", 3, 1)]
    assert query(lab, "ZZZ", "SELECT * FROM SMS_PackageStatusDistPointsSummarizer "
                             "WHERE State != 0") == []
    assert [r[0] for r in query(lab, "ZZZ", "SELECT State FROM "
                                "SMS_PackageStatusDistPointsSummarizer")] == [0, 0, 0]


def test_the_twelve_first_behaviours_in_order(lab: Lab, tmp_path: Path) -> None:
    """The first behaviours of docs/coverage.md along the demo's path, in the order they happen."""
    pkg_id = create(lab, sample(tmp_path))
    lab.run_until_idle(seed=7)
    # 1. SQL Monitor -> .PKN -> Distribution Manager, 2300 then 2301.
    assert_in_order(log_messages(lab, "ZZZ", "smsdbmon.log"), [
        f"Received notification: Table=PKGNOTIFICATION, Type=INSERT, KeyName={pkg_id}.",
        f"Created notification file E:\\SMS\\inboxes\\distmgr.box\\{pkg_id}.PKN"])
    distmgr = log_messages(lab, "ZZZ", "distmgr.log")
    assert [m.split(" ")[1] for m in distmgr if m.startswith("STATMSG: ID=23")][:1] == [
        "ID=2300"]
    assert sum(m.startswith("STATMSG: ID=2301 ") for m in distmgr) == 1
    # 2. Compression to SMSPKG through _S xxxxx.TMP; pkginfo files.
    assert_in_order(distmgr, [
        f"Start adding package {pkg_id}...",
        f"Package {pkg_id} doesn't have a compressed copy of the source directory, starting "
        "the compression."])
    assert any(m.startswith("Starting to compress ") and "to F:\\_S " in m for m in distmgr)
    assert (lab.site("ZZZ").inbox("pkginfo.box") / f"{pkg_id}.NAL").is_file()
    # 3. Minijob -> job -> send request, 2339 for the package information.
    assert any(m.startswith("STATMSG: ID=2339 ") and 'ISTR1="P00"' in m for m in distmgr)
    sched = log_messages(lab, "ZZZ", "sched.log")
    assert_in_order(sched, [
        "<Activating JOB 00000001>[Software Distribution for Sample Package, Package ID = "
        f"{pkg_id}]~",
        "Destination site:  P00, Preferred Address: *, Priority: 2",
        "Creating instruction file: \\\\MGMT01\\SMS_ZZZ\\inboxes\\schedule.box\\tosend\\"
        "00000001.IPT~",
        f"Transfer root:  \\\\MGMT01\\SMS_CPSF$\\{pkg_id}.PCK~",
        "Created new send request ID:  2_001ZZZ~",
    ])
    # 4. Sender: PCK, then TMP renamed SNI; Scheduler completes and deletes the job.
    assert_in_order(log_messages(lab, "ZZZ", "sender.log"), [
        "Found send request.  ID: 2_001ZZZ, Dest Site: P00~",
        "~Attempt to create/open the remote file \\\\MGMT03\\SMS_SITE\\2_001ZZZ.PCK",
        f"~Sending Started [F:\\SMSPKG\\{pkg_id}.PCK]",
        f"~Finished sending SWD package {pkg_id} version 1 to site P00",
        "~Renaming remote file \\\\MGMT03\\SMS_SITE\\2_001ZZZ.TMP to "
        "\\\\MGMT03\\SMS_SITE\\2_001ZZZ.SNI",
        "~Sending completed successfully"])
    assert_in_order(sched, ["Checking send request 2_001ZZZ~",
                            "Send request has successfully completed.~",
                            "<JOB STATUS - COMPLETE>~",
                            "Deleting send request with ID: 2_001ZZZ.~",
                            "Deleted job 00000001.~"])
    assert not list(lab.site("ZZZ").inbox("schedule.box").glob("*.job"))
    # 5 and 6. Despooler: only .SNI, retry with error 12, then stored with 4400.
    despool = log_messages(lab, "P00", "despool.log")
    assert_in_order(despool, [
        "~Found ready instruction 2_001zzz.sni",
        f"~This package[{pkg_id}]'s information hasn't arrived yet for this version [1]. "
        "Retry later ...",
        "Despooler failed to execute the instruction, error code = 12",
        "~Found ready instruction 2_001zzz.sni",
        f"~Stored Package {pkg_id}. Stored Package Version = 1",
        "~Despooler successfully executed one instruction."])
    assert any(m.startswith("STATMSG: ID=4400 ") for m in despool)
    assert any(m.startswith("~Instruction E:\\SMS\\inboxes\\despoolr.box\\receive\\2_001ZZZ.SNI "
                            "won't be processed till ") for m in despool)
    # ...but it is stored as soon as Distribution Manager records the package information
    # (its signal), not at the promised time (docs/differences.md).
    lines = log_lines(lab, "P00", "despool.log")
    failed = next(x for x in lines if x.text.endswith("error code = 12"))
    stored = next(x for x in lines if x.text.startswith(f"~Stored Package {pkg_id}."))
    assert _seconds(stored.timestamp) - _seconds(failed.timestamp) < \
        lab.hierarchy.timing.despooler_retry_delay
    # Across components, the milestones in the order they happen (docs/distribution.md).
    order = [e["event"] for e in events(lab)
             if e["event"] in ("notification", "package_compressed", "job_activated",
                               "send_started", "package_stored")]
    firsts = sorted(set(order), key=order.index)
    assert firsts == ["notification", "package_compressed", "job_activated", "send_started",
                      "package_stored"]


def test_same_seed_gives_identical_trees_and_logs(tmp_path: Path,
                                                 sitesrv_lab_factory: LabFactory) -> None:
    source = sample(tmp_path)
    results = []
    for n in (1, 2):
        lab = sitesrv_lab_factory(name=f"{n}/lab")
        create(lab, source)
        lab.run_until_idle(seed=11)
        results.append({k: v for k, v in tree_digest(lab.root).items()
                        if "site.db" not in k})
    assert results[0] == results[1]
    assert any(k.endswith("distmgr.log") for k in results[0])


def _seconds(timestamp: str) -> float:
    """Seconds of the day of a log timestamp `MM-DD-YYYY HH:MM:SS.mmm`."""
    h, m, sec = timestamp.split(" ")[1].split(":")
    return int(h) * 3600 + int(m) * 60 + float(sec)

"""Offer Manager's pass at a secondary: a full look at every package's state file, then looks at
the packages known to hold advertisements, and a full look again every
`timing.full_look_interval` of lab time."""

from __future__ import annotations

from pathlib import Path

from sitesrv.components.offermgr import OfferManager
from sitesrv.db.pkgstore import FileStore
from sitesrv.db.sitedb import Package
from sitesrv.lab.clock import VirtualClock
from sitesrv.runtime.host import FAILED, NOTHING, LabRuntime
from sitesrv.runtime.registry import Registry
from sitesrv.testing import build_lab


def test_a_full_look_that_fails_is_looked_again_at_the_next_pass(tmp_path: Path) -> None:
    """Review: the next full look was planned before the look ran, so a package file damaged
    since the last one failed one pass, and the passes after it looked only at the known
    packages, in silence, until the next full look was due."""
    lab = build_lab(tmp_path / "lab")
    clock = VirtualClock()
    runtime = LabRuntime(lab.root, clock=clock, seed=0, sites=["S01"],
                         registry=Registry(secondary=(OfferManager,)), open_database=None)
    (host,) = runtime.hosts
    host.boot()
    packages = lab.site("S01").state_dir / "packages"
    FileStore(packages).put_package(Package(PkgID="ZZZ00001", SourceSite="ZZZ"))
    assert host.run_unit().did == NOTHING  # the first pass: a full look, which reads it
    (packages / "ZZZ00002.json").write_text("{not json")  # a file damaged since
    clock.advance(lab.hierarchy.timing.full_look_interval)
    outcomes = []
    for _ in range(2):
        clock.advance(lab.hierarchy.timing.rescan_interval)
        host.wake()
        outcomes.append(host.run_unit())
    assert [o.did for o in outcomes] == [FAILED, FAILED]
    assert all("ZZZ00002.json: cannot read package state" in o.detail for o in outcomes)

"""End-to-end labs for the software-distribution acceptance tests (step mode unless marked)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitesrv.admin import console
from sitesrv.admin.demo import write_sample_source
from sitesrv.admin.lab import Lab
from sitesrv.testing import build_lab, log_messages, query
from tests import fingerprint

ALL_DPS = ["ZZZ:MGMT01", "P00:REMOTE_DP", "S01:SEC01"]
DP_FOLDERS = {
    "ZZZ": "ZZZ/dp/MGMT01/SMSPKGC$",
    "P00": "P00/dp/REMOTE_DP/smsapps/SMSPKG",
    "S01": "S01/dp/SEC01/SMSPKGC$",
}


def lab_from(folder: Path, text: str) -> Lab:
    """A lab at `folder/lab` built from hierarchy `text`, kept as `folder/hierarchy.yaml`: the
    files the fingerprints of these tests were recorded with (tests/fingerprint.py)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hierarchy.yaml").write_text(text)
    return build_lab(folder / "lab", folder / "hierarchy.yaml")


@pytest.fixture(autouse=True)
def fingerprint_lab(request: pytest.FixtureRequest,
                    monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """With FINGERPRINT_DIR set, record the test's labs when it ends (tests/fingerprint.py)."""
    out = os.environ.get(fingerprint.ENV)
    tmp = request.getfixturevalue("tmp_path") if out else None
    if tmp is not None:
        monkeypatch.setattr(Lab, "run_until_idle", Lab.run_until_idle)  # undone after the test
        fingerprint.frozen_runs(Lab, tmp)
    yield
    if out and tmp is not None:
        fingerprint.write(Path(out), request.node.nodeid, tmp, tmp)


def dp_folder(lab: Lab, site: str, pkg_id: str) -> Path:
    return lab.root / DP_FOLDERS[site] / pkg_id


def assert_dp_gone(lab: Lab, pkg_id: str, site: str) -> None:
    """`site`'s DP no longer holds the package, and the primaries above have no row of it."""
    assert not dp_folder(lab, site, pkg_id).exists()
    for above in ("ZZZ", "P00"):
        assert query(lab, above, "SELECT COUNT(*) FROM PkgServers WHERE SiteCode = ?",
                     (site,)) == [(0,)], above
        assert query(lab, above, "SELECT COUNT(*) FROM PkgStatus WHERE Type = 2 AND "
                                 "SiteCode = ?", (site,)) == [(0,)], above


def create(lab: Lab, source: Path, dps: list[str] = ALL_DPS) -> str:
    return console.create_package(lab, "ZZZ", name="Sample Package", source=source, dps=dps)


def sample(tmp_path: Path) -> Path:
    return write_sample_source(tmp_path / "source")


def installs(lab: Lab, site: str) -> int:
    """How many times `site`'s Distribution Manager copied a package to a DP."""
    return sum(m.startswith("Successfully copied package") for m in
               log_messages(lab, site, "distmgr.log"))


def request_tokens(lab: Lab) -> dict[str, str]:
    """Each site's next send-request token: unchanged means no send request was made."""
    return {s.site.code: sorted(p.name for p in s.inbox("schedule.box\\UID").glob("*.req"))[0]
            for s in lab.layout.sites()}


def installed(lab: Lab, tmp_path: Path, seed: int) -> tuple[str, Path]:
    """The demo's sample package, created at ZZZ for every DP and run until installed."""
    source = sample(tmp_path)
    pkg_id = create(lab, source)
    assert lab.run_until_idle(seed=seed).status == "idle"
    return pkg_id, source

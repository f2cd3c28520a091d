"""End-to-end labs for the software-distribution acceptance tests (step mode unless marked)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitesrv.admin import console
from sitesrv.admin.demo import write_sample_source
from sitesrv.admin.lab import Lab
from sitesrv.db.sitedb import SiteDatabase
from tests import fingerprint
from tests.conftest import DEFAULT_HIERARCHY

ALL_DPS = ["ZZZ:MGMT01", "P00:REMOTE_DP", "S01:SEC01"]
DP_FOLDERS = {
    "ZZZ": "ZZZ/dp/MGMT01/SMSPKGC$",
    "P00": "P00/dp/REMOTE_DP/smsapps/SMSPKG",
    "S01": "S01/dp/SEC01/SMSPKGC$",
}


def lab_from(tmp_path: Path, text: str | None = None) -> Lab:
    path = DEFAULT_HIERARCHY
    if text is not None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        path = tmp_path / "hierarchy.yaml"
        path.write_text(text)
    return Lab.init(tmp_path / "lab", path).lab


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return lab_from(tmp_path)


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


def tree_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def dp_folder(lab: Lab, site: str, pkg_id: str) -> Path:
    return lab.root / DP_FOLDERS[site] / pkg_id


def create(lab: Lab, source: Path, dps: list[str] = ALL_DPS) -> str:
    return console.create_package(lab, "ZZZ", name="Sample Package", source=source, dps=dps)


def sample(tmp_path: Path) -> Path:
    return write_sample_source(tmp_path / "source")


def query(lab: Lab, site: str, sql: str) -> list[tuple]:
    with SiteDatabase.open(lab.site(site).database) as db:
        return db.query(sql)


def messages(lab: Lab, site: str, log: str) -> list[str]:
    from tests.distribution.conftest import log_messages

    return log_messages(lab, site, log)


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

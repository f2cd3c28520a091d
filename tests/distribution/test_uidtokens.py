"""Job and request IDs come from the UID token files, never twice."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from sitesrv.admin.lab import Lab
from sitesrv.components.uidtokens import MissingToken, take_job_id, take_request_counter
from tests.conftest import DEFAULT_HIERARCHY


@pytest.fixture
def site(tmp_path: Path):
    return Lab.init(tmp_path / "lab", DEFAULT_HIERARCHY).lab.site("ZZZ")


def test_ids_advance_and_tokens_follow(site) -> None:
    assert [take_job_id(site) for _ in range(3)] == ["00000001", "00000002", "00000003"]
    assert take_request_counter(site) == 1
    uid = site.inbox("schedule.box\\UID")
    assert sorted(p.name for p in uid.iterdir()) == ["00000002.req", "00000004.job"]


def test_concurrent_takers_never_share_an_id(site) -> None:
    got: list[str] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(50):
            job = take_job_id(site)
            with lock:
                got.append(job)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 200 and len(set(got)) == 200


def test_missing_token_is_reported(site) -> None:
    for p in site.inbox("schedule.box\\UID").iterdir():
        p.unlink()
    with pytest.raises(MissingToken, match=r"no \.job token"):
        take_job_id(site)

"""The same trip with the site servers running live: watchers find the send request in the
courier outbox, and the received parcel's files in the Despooler's inbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitesrv.admin import coursend
from sitesrv.admin.courierreceive import receive
from sitesrv.errors import UserError
from sitesrv.formats.parcel import ParcelStatus
from sitesrv.testing import log_messages, running, tree_digest, wait_for
from tests.courier.conftest import P00_DP, carry, courier_lab, courier_package


@pytest.mark.live_fs
def test_a_parcel_received_while_the_servers_run_installs_the_package(tmp_path):
    lab = courier_lab(tmp_path)
    pkg_id, source = courier_package(lab, tmp_path, ["P00:REMOTE_DP"])
    zzz = lab.hierarchy.site("ZZZ")
    with running(lab):
        wait_for(lambda: coursend.pending(lab, zzz), 60, "a send request in the courier outbox")
        record, path = coursend.create(lab, "ZZZ")
        coursend.set_status(lab, record.packing_list.parcel_id, ParcelStatus.SENT,
                            tracking_number="1Z9", sent_by="Courier")
        disc = carry(path, lab)
        receive(lab, "P00", disc)
        dp = lab.root / P00_DP / pkg_id
        wait_for(lambda: _same(dp, source), 60, "the package on P00's DP")
        with pytest.raises(UserError, match="was received at site P00 already"):
            receive(lab, "P00", disc)
    log = log_messages(lab, "P00", "coursend.log")
    parcel_id = record.packing_list.parcel_id
    received = log.index(f"Parcel {parcel_id} ({record.packing_list.name}) from site ZZZ was "
                         "received with a success status.")
    assert any(m.startswith(f"Cannot receive the parcel {disc.name}: parcel {parcel_id} from site "
                            "ZZZ was received at site P00 already") for m in log[received:])

def _same(dp: Path, source: Path) -> bool:
    """Whether the DP holds the source now (a copy under way may move files as it is read)."""
    try:
        return dp.is_dir() and tree_digest(dp) == tree_digest(source)
    except OSError:
        return False

"""A DP's share permissions in an existing lab: hierarchy.yaml's, until a change is kept in the
site's state folder; a change file that cannot be read never makes a copy fail."""

from __future__ import annotations

import pytest

from sitesrv.admin.lab import Lab
from sitesrv.files.atomic import Durability
from sitesrv.lab.hierarchy import SharePermissions
from sitesrv.lab.sharepermissions import current_permissions, set_permissions


def test_a_change_wins_over_hierarchy_yaml_and_is_kept_in_the_state_folder(lab: Lab) -> None:
    site = lab.site("P00")
    dp = lab.hierarchy.site("P00").distribution_points[0]
    assert current_permissions(site, dp) is SharePermissions.FULL
    assert set_permissions(site, dp, SharePermissions.FULL, Durability.NONE) is False
    assert not site.dp_permissions(dp).exists(), "nothing to keep"

    assert set_permissions(site, dp, SharePermissions.SHARE_ROOT_ONLY, Durability.NONE) is True
    assert site.dp_permissions(dp) == site.state_dir / "dp_permissions" / "REMOTE_DP.json"
    assert site.dp_permissions(dp).read_text() == '{"permissions": "share-root-only"}\n'
    assert current_permissions(Lab.open(lab.root).site("P00"), dp) is (
        SharePermissions.SHARE_ROOT_ONLY)
    assert sorted(p.name for p in site.dp_permissions(dp).parent.iterdir()) == ["REMOTE_DP.json"]


@pytest.mark.parametrize("text", ["", "{", "[]", '{"permissions": "none"}', '{"rights": "full"}'])
def test_a_change_file_that_cannot_be_read_counts_as_no_change(lab: Lab, text: str) -> None:
    site = lab.site("P00")
    dp = lab.hierarchy.site("P00").distribution_points[0]
    site.dp_permissions(dp).parent.mkdir(parents=True)
    site.dp_permissions(dp).write_text(text)
    assert current_permissions(site, dp) is SharePermissions.FULL

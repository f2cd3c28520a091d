"""A DP's share permissions as they are now: hierarchy.yaml's `permissions:`, or a later change.

`sitesrv dp permissions SITE:SERVER full|share-root-only` changes them in an existing lab, as an
administrator changes a share's rights, without rebuilding the lab. The change is kept in
`<SITE>\\SMS\\state\\dp_permissions\\<SERVER>.json` (`{"permissions": "full"}`) and wins over
hierarchy.yaml. Distribution Manager reads it at every copy to the DP, so it counts from the next
copy on, whether or not the site servers run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import attrs

from sitesrv.files.atomic import Durability, replace_file
from sitesrv.files.folders import made_real, on_stderr
from sitesrv.files.regular import STATE_FILE_BYTES, check_state_file, read_limited
from sitesrv.lab.hierarchy import DistributionPoint, Hierarchy, SharePermissions
from sitesrv.lab.layout import LabLayout, SiteLayout


@attrs.frozen
class PermissionsChange:
    """What `<SERVER>.json` holds: the permissions the DP's share was given last."""

    permissions: SharePermissions

    def to_json(self) -> bytes:
        return (json.dumps({"permissions": str(self.permissions)}) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> PermissionsChange:
        """Raises ValueError for anything else than what `to_json` writes."""
        try:
            return cls(SharePermissions(json.loads(data)["permissions"]))
        except (KeyError, TypeError) as e:
            raise ValueError(f"not a permissions change: {e}") from None


def current_permissions(site: SiteLayout, dp: DistributionPoint) -> SharePermissions:
    """The DP's permissions now: the last change, else hierarchy.yaml's.

    A change file that cannot be read counts as no change: only `set_permissions` writes one,
    whole or not at all, and a copy must not fail on it. It is read only as a regular file,
    never through a link.
    """
    try:
        data = read_limited(site.dp_permissions(dp), STATE_FILE_BYTES)
        return PermissionsChange.from_json(data).permissions
    except (OSError, ValueError):
        return dp.permissions


def set_permissions(site: SiteLayout, dp: DistributionPoint, permissions: SharePermissions,
                    durability: Durability, *, say: Callable[[str], None] = on_stderr) -> bool:
    """Give the DP's share `permissions`; False if it had them already. A link on the way in
    `SMS\\state` is moved aside first (`say` is given a line for each), and a change file that
    is not a regular file is a UserError: nothing is written through either."""
    path = site.dp_permissions(dp)
    for line in made_real(path.parent, site.root, str):
        say(line)
    check_state_file(path)
    if current_permissions(site, dp) is permissions:
        return False
    replace_file(path, PermissionsChange(permissions).to_json(), durability,
                 tmp=path.with_name(f".{path.name}.{os.getpid()}.tmp"))
    return True


def with_current_permissions(lab: LabLayout) -> Hierarchy:
    """The lab's hierarchy with every DP's permissions as they are now (`sitesrv hierarchy`)."""
    sites = tuple(attrs.evolve(s, distribution_points=tuple(
        attrs.evolve(dp, permissions=current_permissions(lab.site(s.code), dp))
        for dp in s.distribution_points)) for s in lab.hierarchy.sites)
    return attrs.evolve(lab.hierarchy, sites=sites)

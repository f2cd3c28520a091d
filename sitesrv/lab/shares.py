"""A DP's share: its default name, and what Distribution Manager may create on it. (A module
of its own, importing nothing: `sitesrv dp permissions --help` lists the permissions.)"""

from __future__ import annotations

import enum

DEFAULT_SHARE = "SMSPKGC$"


class SharePermissions(enum.StrEnum):
    """What Distribution Manager may create on a DP's share (`permissions:` of a DP).

    `share-root-only` is the smsutils report's DP, whose Administrators had rights on the share
    root only: the package folder `<share>\\<PkgID>` can be made, no folder below it.
    """

    FULL = "full"
    SHARE_ROOT_ONLY = "share-root-only"

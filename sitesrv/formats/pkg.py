"""`distmgr.box\\INCOMING\\<random8>.PKG`: a replicated package definition and what to do with it.

A parent (or the package's source site) sends this to a child site's Distribution Manager
(KB936465). Its LastRefreshTime decides the KB936465 race: a receiver discards a `.PKG`
whose LastRefreshTime is older than the last one it processed for the package. The `[ACTION]`
says who issued the instruction, which site will send the compressed files, and whether the
receiver must forward them to its own children ("send from the nearest site"), and whether
the compressed files of SourceVersion came with this very instruction (`Content=1`, a content
instruction; docs/distribution.md says why that matters for KB936465). `PkgSourceFlag=1` is a
package without source files: the receiver writes its client files without waiting for content. The
`[PACKAGE SERVER]` sections list the package's DPs at the receiver and the sites below it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import attrs

from sitesrv.formats.sections import INTEGER, ISO_TIME, ZERO_ONE, Key, Layout, enum, many, one
from sitesrv.formats.values import (
    FLAG,
    NAL_PATH,
    NONEMPTY_TEXT,
    OPTIONAL_SITE_CODE,
    PACKAGE_ID,
    PREFERRED_ADDRESS,
    PRIORITY,
    SERVER,
    SHARE,
    SITE_CODE,
    TEXT,
    TIMESTAMP,
    VERSION,
    member,
    number,
    to_member,
    to_millis,
)

# The name is 8 random characters and this (runtime.ids.Ids.random_name(folder, EXTENSION)).
EXTENSION = ".PKG"


class PackageAction(StrEnum):
    """What the receiver does with the package, or with one of its DPs."""

    NONE = "NONE"
    UPDATE = "UPDATE"
    ADD = "ADD"
    DELETE = "DELETE"
    REFRESH = "REFRESH"


@attrs.frozen(kw_only=True)
class PackageServer:
    """A DP of the package at the receiving site or below it, and the action for it."""

    site_code: str = attrs.field(validator=SITE_CODE)
    server: str = attrs.field(validator=SERVER)
    share: str = attrs.field(validator=SHARE)
    nal_path: str = attrs.field(validator=NAL_PATH)
    action: PackageAction = attrs.field(converter=to_member(PackageAction),
                                        validator=member(PackageAction))


@attrs.frozen(kw_only=True)
class PackageReplication:
    """One replication `.PKG`: the package definition, the action, the package servers."""

    package_id: str = attrs.field(validator=PACKAGE_ID)
    name: str = attrs.field(validator=NONEMPTY_TEXT)
    version: str = attrs.field(default="", validator=TEXT)
    source_site: str = attrs.field(validator=SITE_CODE)
    source_version: int = attrs.field(validator=VERSION)
    last_refresh_time: float = attrs.field(converter=to_millis, validator=TIMESTAMP)
    priority: int = attrs.field(default=2, validator=PRIORITY)
    pkg_flags: int = attrs.field(default=0, validator=number(0, 2**32 - 1))
    share_name: str = attrs.field(default="", validator=TEXT)
    share_type: int = attrs.field(default=1, validator=number(1, 2, "1 (common) or 2 (specific)"))
    # SMS_Package.PkgSourceFlag: 1 no source files, 2 direct, 3 compressed copy, 4 local.
    source_flag: int = attrs.field(default=2, validator=number(1, 4, "1, 2, 3 or 4 (PkgSourceFlag)"))
    preferred_address: str = attrs.field(default="*", validator=PREFERRED_ADDRESS)
    ignore_schedule: bool = attrs.field(default=False, validator=FLAG)
    action: PackageAction = attrs.field(converter=to_member(PackageAction),
                                        validator=member(PackageAction))
    issuing_site: str = attrs.field(validator=SITE_CODE)
    content_site: str = attrs.field(default="", validator=OPTIONAL_SITE_CODE)
    forward: bool = attrs.field(default=False, validator=FLAG)
    content: bool = attrs.field(default=False, validator=FLAG)
    servers: tuple[PackageServer, ...] = attrs.field(
        default=(), converter=tuple,
        validator=attrs.validators.deep_iterable(attrs.validators.instance_of(PackageServer)))


LAYOUT = Layout(PackageReplication, "package replication file", (
    one("PACKAGE DEFINITION",
        Key("PackageID", "package_id"),
        Key("Name", "name"),
        Key("Version", "version"),
        Key("SourceSite", "source_site"),
        Key("SourceVersion", "source_version", INTEGER),
        Key("LastRefreshTime", "last_refresh_time", ISO_TIME),
        Key("Priority", "priority", INTEGER),
        Key("PkgFlags", "pkg_flags", INTEGER),
        Key("ShareName", "share_name"),
        Key("ShareType", "share_type", INTEGER),
        Key("PkgSourceFlag", "source_flag", INTEGER, optional=True),
        Key("PreferredAddress", "preferred_address"),
        Key("IgnoreSchedule", "ignore_schedule", ZERO_ONE)),
    one("ACTION",
        Key("Action", "action", enum(PackageAction)),
        Key("IssuingSite", "issuing_site"),
        Key("ContentSite", "content_site"),
        Key("Forward", "forward", ZERO_ONE),
        Key("Content", "content", ZERO_ONE)),
    many("PACKAGE SERVER", "servers", PackageServer,
         Key("SiteCode", "site_code"),
         Key("Server", "server"),
         Key("Share", "share"),
         Key("NALPath", "nal_path"),
         Key("Action", "action", enum(PackageAction))),
))
dumps = LAYOUT.dumps
encode = LAYOUT.encode
parse = LAYOUT.parse
decode = LAYOUT.decode
read = LAYOUT.read


def carried_field() -> Any:
    """The attrs field of a file that may carry a `.PKG` (a job, an instruction)."""
    return attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.instance_of(PackageReplication)))


def check_carried(carried: PackageReplication | None, package_id: str) -> None:
    """A carried `.PKG` must be for the package the carrying file names."""
    if carried is not None and carried.package_id != package_id:
        raise ValueError(f"the carried .PKG is for package {carried.package_id}, "
                         f"not {package_id or 'none'}")

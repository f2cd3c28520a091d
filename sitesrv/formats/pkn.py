"""`distmgr.box\\<PkgID>.PKN`: SQL Monitor's wake-up call to Distribution Manager (KB834123).

A notification says only which package changed; Distribution Manager re-reads the database, so
several notifications for one package collapse into one pass (KB834123).
"""

from __future__ import annotations

from enum import StrEnum

import attrs

from sitesrv.formats.sections import Key, Layout, enum, one
from sitesrv.formats.values import PACKAGE_ID, member, pattern, to_member

EXTENSION = ".PKN"


class Change(StrEnum):
    """The database change behind the notification."""

    INSERT = "INSERT"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


@attrs.frozen(kw_only=True)
class PackageNotification:
    """One `.PKN` file: a row change in `table` for package `package_id`."""

    package_id: str = attrs.field(validator=PACKAGE_ID)
    change: Change = attrs.field(converter=to_member(Change), validator=member(Change))
    table: str = attrs.field(default="PKGNOTIFICATION",
                             validator=pattern(r"[A-Za-z_][A-Za-z0-9_]*", "a table name"))


LAYOUT = Layout(PackageNotification, "package notification", (
    one("NOTIFICATION",
        Key("Table", "table"),
        Key("Type", "change", enum(Change)),
        Key("KeyName", "package_id")),
))
dumps = LAYOUT.dumps
encode = LAYOUT.encode
parse = LAYOUT.parse
decode = LAYOUT.decode
read = LAYOUT.read


def pkn_name(package_id: str) -> str:
    """`<PkgID>.PKN`, the name SQL Monitor gives the notification in distmgr.box."""
    PACKAGE_ID.verify(package_id)
    return f"{package_id}{EXTENSION}"

"""`<PkgID>.PKG` stored package information: the version of a package's compressed copy a site holds.

Each site that registers a compressed copy (`SMSPKG\\<PkgID>.PCK`, StoredPkgVersion and
StoredPkgPath) keeps one in `distmgr.box`; PreloadPkgOnSite refuses to run where it is
("The compressed package path ... is already set"), which is why deleting it lets the tool run
(docs/sources.md#smsutils). PreloadPkgOnSite `/Compress` writes one beside the PCK in `SMSPKG`,
to travel with the copy to a child site, where the tool takes the version from it (docs/tools.md).
"""

from __future__ import annotations

import attrs

from sitesrv.formats.sections import INTEGER, Key, Layout, one
from sitesrv.formats.values import PACKAGE_ID, TEXT, VERSION

EXTENSION = ".PKG"


@attrs.frozen(kw_only=True)
class StoredPackage:
    """Which version of the package the compressed copy at `path` (a UNC path) holds."""

    package_id: str = attrs.field(validator=PACKAGE_ID)
    version: int = attrs.field(validator=VERSION)
    path: str = attrs.field(default="", validator=TEXT)


LAYOUT = Layout(StoredPackage, "stored package information file", (
    one("STORED PACKAGE INFORMATION",
        Key("PackageID", "package_id"),
        Key("StoredPkgVersion", "version", INTEGER),
        Key("StoredPkgPath", "path")),
))
dumps = LAYOUT.dumps
encode = LAYOUT.encode
parse = LAYOUT.parse
decode = LAYOUT.decode
read = LAYOUT.read


def file_name(package_id: str) -> str:
    """`<PkgID>.PKG`, in distmgr.box (the site's own) or SMSPKG (the one that travels)."""
    PACKAGE_ID.verify(package_id)
    return f"{package_id}{EXTENSION}"

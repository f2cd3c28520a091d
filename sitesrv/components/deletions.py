"""The packages a site has deleted, and the LastRefreshTime of the deletion:
`<SITE>\\SMS\\state\\deleted\\<PkgID>`, one small file each.

SMS discards a replication file older (LastRefreshTime) than the last one it processed for the
package (docs/sources.md#kb936465). Once a deletion removed the package's row, the row no longer says
what was processed last, and an older `.PKG` (kept back waiting for its files, or one that a
paused address or a carried parcel brings after the deletion) would make the package again: a
package deleted "at every site" would come back below. The deletion is remembered here instead,
and Distribution Manager and the Despooler discard what is not newer (docs/differences.md).
Package IDs are never given out twice, so the file is never in the way of a new package.
"""

from __future__ import annotations

import os
from pathlib import Path

from sitesrv.files.regular import read_limited
from sitesrv.formats.sections import parse_timestamp
from sitesrv.lab.clock import lab_time_text
from sitesrv.runtime.context import ComponentContext

FOLDER = "deleted"
FILE_BYTES = 64  # one time stamp; anything larger is not the lab's


def remember(ctx: ComponentContext, pkg_id: str, last_refresh: float) -> None:
    """Record that the site deleted `pkg_id`, whose last replication was stamped
    `last_refresh`; a later deletion of the same ID only moves the stamp forward."""
    earlier = deleted_at(ctx, pkg_id)
    stamp = last_refresh if earlier is None else max(earlier, last_refresh)
    path = _path(ctx, pkg_id)
    ctx.make_dirs(path.parent)  # never written through a link
    ctx.replace(path, f"{lab_time_text(stamp)}\n".encode())


def deleted_at(ctx: ComponentContext, pkg_id: str) -> float | None:
    """The LastRefreshTime of the site's deletion of `pkg_id`, or None if it never deleted it
    (or the record cannot be read: then nothing is discarded, as before the record existed)."""
    # Joined as text: the Despooler asks at every retry of content whose package information
    # has not arrived, and the path only goes to an open.
    path = _record_text(ctx.layout.state_dir, pkg_id)
    try:
        return parse_timestamp(read_limited(path, FILE_BYTES).decode().strip())
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def superseded(ctx: ComponentContext, pkg_id: str, last_refresh: float) -> bool:
    """Whether a replication of `pkg_id` stamped `last_refresh` is older than, or as old as,
    the site's deletion of it."""
    gone = deleted_at(ctx, pkg_id)
    return gone is not None and last_refresh <= gone


def _path(ctx: ComponentContext, pkg_id: str) -> Path:
    return record_of(ctx.layout.state_dir, pkg_id)


def record_of(state_dir: Path, pkg_id: str) -> Path:
    """Where a site whose state folder is `state_dir` records its deletion of `pkg_id`."""
    return Path(_record_text(state_dir, pkg_id))


def _record_text(state_dir: Path, pkg_id: str) -> str:
    return os.path.join(state_dir, FOLDER, pkg_id.upper())

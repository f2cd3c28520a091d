"""What a killed run left in a component's own folders that are nobody's inbox.

Start-up recovery deletes stale temp files in inboxes; those in the other folders a component
writes (`schedule.box\\tosend`, `replmgr.box\\history`) are its own to clean in `start()`,
by the same rule (`ctx.is_stale`, docs/runtime.md, "Start-up recovery"), with the same line.
"""

from __future__ import annotations

import os
from pathlib import Path

from sitesrv.lab.boxes import is_removable_temp
from sitesrv.runtime.context import ComponentContext


def remove_stale_temps(ctx: ComponentContext, folder: Path) -> None:
    """Delete the stale `*.tmp` files directly in `folder` (never a link, never what is in a
    sub-folder); a folder that is missing or cannot be listed has none to delete."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return
    for name in names:
        path = folder / name
        if is_removable_temp(name) and path.is_file() and not path.is_symlink() \
                and ctx.is_stale(path):
            ctx.remove(path)
            ctx.log.write(f"Deleted the stale temporary file {ctx.windows(path)}")

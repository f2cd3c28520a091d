"""Putting a package on a distribution point, and taking it off, with SMS's log lines.

The lines follow the child site's distmgr.log of docs/sources.md#child-lost-its-pck. The
decompression folder they name (`F:\\_S Mt0ir.TMP`) is notional: sitesrv extracts next to the DP
folder and swaps it in, so a half-copied package is never visible (docs/differences.md). A
package over the lab's `limits:` fails its install before anything is written (docs/limits.md).
On a DP whose share permissions are `share-root-only` (the smsutils report's DP), a package with
sub-folders fails at its first sub-folder with Win32 error 5; the DP keeps what it had.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path

from sitesrv.compression import (
    FolderAccessDenied,
    PackageLimitError,
    PckError,
    UpdateMode,
    install,
)
from sitesrv.errors import SitesrvError
from sitesrv.lab.hierarchy import DistributionPoint
from sitesrv.lab.sharepermissions import current_permissions
from sitesrv.logs.win32 import INVALID_DATA
from sitesrv.runtime.context import ComponentContext

UPDATE_MODES = {"delete": UpdateMode.DELETE_AND_RECREATE, "overwrite": UpdateMode.OVERWRITE}
TEMP_ALPHABET = string.ascii_letters + string.digits


class DecompressFailed(SitesrvError):
    """The compressed file could not be read while it was copied to the DP (Q267977: status
    2321); `detail` is sitesrv's own account, for events, never for SMS's log."""

    WIN32_ERROR = INVALID_DATA  # `Failed to write to the output file, Win32 Error = 13`

    def __init__(self, pck: str, temp: str, detail: str) -> None:
        super().__init__(f"Win32 Error = {self.WIN32_ERROR}")
        self.pck = pck
        self.temp = temp
        self.detail = detail


def compression_temp(ctx: ComponentContext) -> Path:
    """`<package drive>:\\_S xxxxx.TMP`: SMS's compression temp name (a space, 5 characters)."""
    return ctx.layout.root / f"_S {ctx.ids.random_chars(5, TEMP_ALPHABET)}.TMP"


def install_on_dp(ctx: ComponentContext, pck: Path, dp: DistributionPoint, package_id: str,
                  version: int) -> None:
    """Install version `version` of the package from `pck` on `dp`; raises on failure."""
    site = ctx.site.code
    layout = ctx.layout
    win = ctx.windows
    temp = win(compression_temp(ctx))
    share_root = layout.dp_root(dp)
    target = layout.dp_package(dp, package_id)
    export_folder = "\\".join([*dp.share_parts[1:], package_id]) + "\\"
    nal_folder = f"{dp.nal_path(site)}{package_id}\\"
    ctx.log.write(f"Validating the compressed file {win(pck)} for package {package_id}")
    ctx.log.write(f"Decompressing package {win(pck)} to {temp}")
    ctx.work.expanded(_size(pck))
    ctx.log.write(f"Attempting to create subdirectory {package_id} under the export.")

    def log_copy(copied: Iterable[tuple[str, int]]) -> None:
        """The package folder made, and the files copied into it (of a failed copy too) with
        their sizes, each line once the copy's lab time is spent."""
        ctx.log.write(f"Successsfully created the package directory {export_folder} under the "
                      "export.")
        ctx.log.write(f"Successfully created sub directory {package_id} off {nal_folder}")
        for relpath, size in copied:
            name = relpath.replace("/", "\\")
            ctx.work.copied_to_dp(size)
            ctx.log.write(f"Copying {temp}\\{name} to {win(target)}\\{name}, OK")

    ctx.make_dirs(share_root, whole=True)  # a link on the way to the share is never followed
    try:
        manifest = install(
            pck, share_root, package_id, version=version,
            mode=UPDATE_MODES[ctx.hierarchy.software_distribution.dp_update_mode],
            durable=ctx.durability.syncs_files, limits=ctx.hierarchy.limits,
            permissions=current_permissions(layout, dp))
    except PackageLimitError as e:
        raise PackageLimitError(win(pck), e.limit, f"{e.problem}; to install it, raise "
                                f"limits.{e.limit} in hierarchy.yaml (docs/limits.md)") from None
    except FolderAccessDenied as e:
        # The DP folder keeps what it had: the sizes are those of its files of these names.
        log_copy((relpath, _size(target / relpath)) for relpath in e.copied)
        ctx.log.write(f"Failed to create the directory {win(target)}\\{e.folder}, "
                      f"Win32 Error = {e.WIN32_ERROR}")
        raise
    except PckError as e:
        ctx.log.write(f"Failed to write to the output file, Win32 Error = "
                      f"{DecompressFailed.WIN32_ERROR}")
        ctx.log.write(f"Cannot decompress package {win(pck)} to {temp}, CTool return code = 4")
        raise DecompressFailed(win(pck), temp, e.problem) from None
    log_copy((f.path, f.size) for f in manifest.files)  # sizes checked as they were written
    ctx.log.write(f"Successfully copied package {package_id} from {temp}\\ to {nal_folder}")
    ctx.emit("dp_installed", package=package_id, file=win(target), version=version)


def _size(path: Path) -> int:
    """A file's size, for what its copy costs; 0 if it is gone (a failed copy's file)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def remove_from_dp(ctx: ComponentContext, dp: DistributionPoint, package_id: str) -> bool:
    """Delete the package folder from the DP; False if it was not there."""
    target = ctx.layout.dp_package(dp, package_id)
    ctx.make_dirs(target.parent, whole=True)  # nothing is removed through a link
    if not ctx.remove_tree(target):
        return False
    ctx.log.write(f"Removed package {package_id} from {dp.nal_path(ctx.site.code)}{package_id}\\")
    ctx.emit("dp_removed", package=package_id, file=ctx.windows(target))
    return True

"""`sitesrv dp permissions SITE:SERVER [full|share-root-only]`: a DP's share permissions.

With `share-root-only`, Distribution Manager may create a package's folder on the share but no
folder below it, as on the smsutils report's DP: packages with sub-folders fail to copy there
(Win32 error 5, status message 2328) and are retried. The change is kept in
`<SITE>/SMS/state/dp_permissions/<SERVER>.json` and wins over hierarchy.yaml's `permissions:`;
it counts from Distribution Manager's next copy to the DP (a retry, or `sitesrv package refresh`).
"""

from __future__ import annotations

from pathlib import Path

import click

from sitesrv.cli.options import LAB_OPTION, open_lab
from sitesrv.lab.shares import SharePermissions


@click.group("dp")
def dp_group() -> None:
    """Change distribution points as their administrator would."""


@dp_group.command("permissions")
@click.argument("dp", metavar="SITE:SERVER")
@click.argument("permissions", required=False,
                type=click.Choice([str(p) for p in SharePermissions]))
@LAB_OPTION
def permissions(dp: str, permissions: str | None, lab_dir: Path) -> None:
    """Show or set the permissions Distribution Manager has on the DP's share.

    `full` (the default) lets it create any folder; `share-root-only` only the package's own
    folder, so a package with sub-folders fails to copy there with Win32 error 5 and is
    retried. Without a value, print the DP's current ones. After a change, `sitesrv
    package refresh PKG SITE:SERVER` copies a failed package again.
    """
    from sitesrv.admin.console import parse_dp
    from sitesrv.lab.sharepermissions import current_permissions, set_permissions

    lab = open_lab(lab_dir)
    site, found = parse_dp(lab, dp)
    layout = lab.site(site.code)
    name = f"{site.code}:{found.server}"
    if permissions is None:
        click.echo(f"{name} has {current_permissions(layout, found)} permissions.")
        return
    wanted = SharePermissions(permissions)
    if set_permissions(layout, found, wanted, lab.hierarchy.durability):
        click.echo(f"{name} now has {wanted} permissions; Distribution Manager uses them from "
                   "its next copy to it.")
    else:
        click.echo(f"{name} already has {wanted} permissions.")

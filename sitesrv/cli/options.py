"""Options shared by the `sitesrv` commands (a module of its own: main.py imports the command
groups, so they cannot import from it)."""

from __future__ import annotations

from pathlib import Path

import click

LAB_OPTION = click.option(
    "--lab", "lab_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("lab"),
    show_default=True, help="The lab folder.",
)

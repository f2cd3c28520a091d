"""Options shared by the `sitesrv` commands (a module of its own: main.py imports the command
groups, so they cannot import from it).

The command modules import click and this module only; what a command needs is imported when
it runs, so `sitesrv --help` and a quick command do not pay for the whole product
(docs/performance.md, `bench/startup.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sitesrv.admin.lab import Lab

LAB_OPTION = click.option(
    "--lab", "lab_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("lab"),
    show_default=True, help="The lab folder.",
)


def open_lab(lab_dir: Path) -> Lab:
    """The lab at `lab_dir` (`Lab.open`)."""
    from sitesrv.admin.lab import Lab

    return Lab.open(lab_dir)


def one_line(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A name the site servers write into one-line records and log lines: no line break, tab
    or other control character (a package named across two lines could never be sent)."""
    from sitesrv.errors import UserError

    if value is not None and any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise UserError(f"{param.opts[0]} must be one line of text, without line breaks, tabs "
                        f"or other control characters: {value!r} has some. Pass it again "
                        "without them.")
    return value

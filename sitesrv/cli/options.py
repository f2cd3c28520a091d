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
    """A name the site servers write into one-line records and log lines (admin/choices.py)."""
    from sitesrv.admin.choices import text_problem
    from sitesrv.errors import UserError

    if value is not None and (problem := text_problem(value)) is not None:
        raise UserError(f"{param.opts[0]} {problem}: {value!r}. Pass it again without them.")
    return value

"""What a person watching a long step run sees: one line, redrawn, with the steps run so far and
the lab time reached; it goes when the run ends, and the run's report line follows.

The step driver hands over its count and its clock (`progress` of runtime/step.py, every
`PROGRESS_STEPS` steps); nothing here reads the lab, and the line is redrawn at most every
REDRAW_SECONDS of real time, so a long run pays almost nothing for it (a 300-site lab runs
some 78,000 steps in about 12 s).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.live import Live
from rich.text import Text

from sitesrv.lab.clock import lab_time_text

REDRAW_SECONDS = 0.25


def line(steps: int, lab_time: float, seconds: float) -> Text:
    """`Step run: 12,544 steps in 3.1 s, lab time 2007-06-04T09:23:10.000Z`."""
    return Text(f"Step run: {steps:,} step{'' if steps == 1 else 's'} in {seconds:.1f} s, lab "
                f"time {lab_time_text(lab_time)}")


@contextlib.contextmanager
def shown(console: Console) -> Iterator[Callable[[int, float], None]]:
    """A `progress` for `run_until_idle` that redraws the line on `console` while the block
    runs."""
    start = time.monotonic()
    drawn = start
    with Live(Text("Step run: starting the site servers"), console=console, auto_refresh=False,
              transient=True) as live:

        def progress(steps: int, lab_time: float) -> None:
            nonlocal drawn
            now = time.monotonic()
            if now - drawn >= REDRAW_SECONDS:
                drawn = now
                live.update(line(steps, lab_time, now - start), refresh=True)

        yield progress

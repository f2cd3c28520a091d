"""What a person watching a long step run sees: the steps run so far and the lab time reached.

On a terminal, one line, redrawn at most every REDRAW_SECONDS and erased when the run ends, before
its report line; until the first step (the start-up of every site) it says the site servers are
starting. Elsewhere (`--view` with standard error in a file or a pipe), a plain line every
PLAIN_SECONDS, with no control codes, for a log that shows a long run going on.

The step driver hands over its count and its clock after every step (`progress` of
runtime/step.py); nothing here reads the lab, and all but a few calls a second return at once,
so a run pays a clock read per step for being watched (a 300-site lab runs some 78,000 steps in
about 12 s).
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
PLAIN_SECONDS = 5.0


def line(steps: int, lab_time: float, seconds: float) -> Text:
    """`Step run: 12544 steps in 3.1 s, lab time 2007-06-04T09:23:10.000Z`: the count and the
    time as the report line writes them (`Idle after 78534 steps at lab time ...`)."""
    return Text(f"Step run: {steps} step{'' if steps == 1 else 's'} in {seconds:.1f} s, lab "
                f"time {lab_time_text(lab_time)}")


@contextlib.contextmanager
def shown(console: Console) -> Iterator[Callable[[int, float], None]]:
    """A `progress` for `run_until_idle` that shows the run on `console` while the block runs."""
    start = time.monotonic()
    if not console.is_terminal:
        yield _throttled(PLAIN_SECONDS, start, lambda text: console.print(text, soft_wrap=True))
        return
    with Live(Text("Step run: starting the site servers"), console=console, auto_refresh=False,
              transient=True) as live:
        yield _throttled(REDRAW_SECONDS, start, lambda text: live.update(text, refresh=True))


def _throttled(seconds: float, start: float,
               show: Callable[[Text], None]) -> Callable[[int, float], None]:
    """A `progress` that shows the line at most every `seconds` of real time."""
    shown_at = start

    def progress(steps: int, lab_time: float) -> None:
        nonlocal shown_at
        now = time.monotonic()
        if now - shown_at >= seconds:
            shown_at = now
            show(line(steps, lab_time, now - start))

    return progress

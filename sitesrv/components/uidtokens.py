"""Job and send-request IDs from the token files in `schedule.box\\UID` (reference §11.9).

The folder holds two empty files whose names are the next counters: `<8 hex>.job` and
`<8 hex>.req`. Taking an ID renames the token to the next number, so two components of one site
(or a person's tool) can never get the same ID: the loser of a rename race finds its token gone
and tries again. A missing token is SMS's "Could not retrieve the request ID".
"""

from __future__ import annotations

import os
from pathlib import Path

from sitesrv.errors import SitesrvError
from sitesrv.lab.layout import SiteLayout

JOB = ".job"
REQ = ".req"
UID_FOLDER = "schedule.box\\UID"


class MissingToken(SitesrvError):
    """The UID token is gone; SMS then skips the minijob."""


def _take(folder: Path, suffix: str) -> int:
    for _ in range(1000):
        tokens = sorted(
            (int(p.stem, 16), p) for p in folder.glob("*")
            if p.suffix.lower() == suffix and len(p.stem) == 8
            and all(c in "0123456789abcdefABCDEF" for c in p.stem)
        )
        if not tokens:
            raise MissingToken(f"no {suffix} token in {folder}")
        number, token = tokens[-1]
        try:
            os.replace(token, folder / f"{number + 1:08X}{token.suffix}")
        except FileNotFoundError:
            continue  # another taker renamed it first
        return number
    raise MissingToken(f"could not take the {suffix} token in {folder}: it keeps changing")


def take_job_id(site: SiteLayout) -> str:
    """The next job ID, 8 upper-case hex digits (`00000029`)."""
    return f"{_take(site.inbox(UID_FOLDER), JOB):08X}"


def take_request_counter(site: SiteLayout) -> int:
    """The next send-request counter (formats.srq.request_id turns it into `2_001ZZZ`)."""
    return _take(site.inbox(UID_FOLDER), REQ)

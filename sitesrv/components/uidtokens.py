"""Job and send-request IDs from the token files in `schedule.box\\UID`, as SMS takes them.

The folder holds two empty files whose names are the next counters: `<8 hex>.job` and
`<8 hex>.req`. Taking an ID renames the token to the next number, so two components of one site
(or a person's tool) can never get the same ID: the loser of a rename race finds its token gone
and tries again. A missing token is SMS's "Could not retrieve the request ID": the one who
needed the ID waits and tries again later (`waits_for`), as no component may make a counter up
(a new one could hand out IDs the site has used); `sitesrv init` restores the tokens, from 1,
so a job ID still in use by a job of the site is skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

from sitesrv.errors import SitesrvError
from sitesrv.formats import job as jobfile
from sitesrv.formats import rpl, sni
from sitesrv.lab.boxes import (
    REPLMGR_READY,
    SCHEDULE,
    SCHEDULE_FAILED,
    SCHEDULE_TOSEND,
    SCHEDULE_UID,
    WORK_DIR,
)
from sitesrv.runtime.context import ComponentContext

JOB = ".job"
REQ = ".req"
# Q266195's line when a token is missing: the minijob waits (docs/sources.md#q266195-and-q320638).
SKIPPING_MINIJOB = ("Error. Could not give send request to scheduler. Possibly could not reach "
                    "the schedule box on the site server. Skipping minijob.")


class MissingToken(SitesrvError):
    """The UID token is gone; SMS then skips the minijob."""


def _take(ctx: ComponentContext, suffix: str) -> int:
    folder = ctx.layout.inbox(SCHEDULE_UID)
    for _ in range(1000):
        tokens = sorted((int(p.stem, 16), p) for p in _tokens(folder, suffix))
        if not tokens:
            raise MissingToken(f"no {suffix} token in {ctx.windows(folder)}")
        number, token = tokens[-1]
        try:
            ctx.rename(token, folder / f"{number + 1:08X}{token.suffix}")
        except FileNotFoundError:
            continue  # another taker renamed it first
        return number
    raise MissingToken(f"could not take the {suffix} token in {ctx.windows(folder)}: it keeps "
                       "changing")


def _tokens(folder: Path, suffix: str) -> list[Path]:
    """The tokens of that kind in `schedule.box\\UID`: `<8 hex digits><suffix>`."""
    return [p for p in sorted(folder.glob("*")) if p.suffix.lower() == suffix
            and len(p.stem) == 8 and all(c in "0123456789abcdefABCDEF" for c in p.stem)]


def has_job_token(ctx: ComponentContext) -> bool:
    """Whether `schedule.box\\UID` holds a `.job` token `take_job_id` would take: work that may
    need job IDs looks before it does anything it would do again (send information, stamp a
    refresh)."""
    return bool(_tokens(ctx.layout.inbox(SCHEDULE_UID), JOB))


def waits_for(what: str) -> str:
    """The wait line of work that needs `what` (a job ID, a send request ID) while a token is
    missing: it names the folder and who can put the token back."""
    return (f"waits for {what}: a {SCHEDULE_UID} token is missing (sitesrv init --lab LAB "
            "restores it)")


def take_job_id(ctx: ComponentContext) -> str:
    """The next job ID, 8 upper-case hex digits (`00000029`), never one a job of this site still
    goes by: a token `sitesrv init` put back counts from 1 again, and a job, its ready batch or
    its instruction of that ID would be overwritten."""
    while True:
        job_id = f"{_take(ctx, JOB):08X}"
        if not _job_in_use(ctx, job_id):
            return job_id


def _job_in_use(ctx: ComponentContext, job_id: str) -> bool:
    job = jobfile.job_file_name(job_id)
    box = ctx.layout.inbox(SCHEDULE)
    return any(os.path.lexists(path) for path in (
        box / job, box / WORK_DIR / job, ctx.layout.inbox(SCHEDULE_FAILED) / job,
        ctx.layout.inbox(REPLMGR_READY) / rpl.batch_file_name(job_id),
        ctx.layout.inbox(SCHEDULE_TOSEND) / sni.instruction_file_name(job_id)))


def take_request_counter(ctx: ComponentContext) -> int:
    """The next send-request counter (lab.identifiers.request_id turns it into `2_001ZZZ`)."""
    return _take(ctx, REQ)

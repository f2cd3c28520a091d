"""Job and send-request IDs from the token files in `schedule.box\\UID`, as SMS takes them.

The folder holds two empty files whose names are the next counters: `<8 hex>.job` and
`<8 hex>.req`. Taking an ID renames the token to the next number, so two components of one site
(or a person's tool) can never get the same ID: the loser of a rename race finds its token gone
and tries again. A missing token is SMS's "Could not retrieve the request ID": the one who
needed the ID waits and tries again later (`waits_for`), as no component may make a counter up
(a new one could hand out IDs the site has used); `sitesrv init` restores the tokens, from 1,
so an ID whose files are still there is skipped: a job ID a job of the site still goes by, a
send request ID whose request is still at this site, whose files still wait at the site it
was sent to, or whose files travel in a Courier parcel not yet Confirmed.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import attrs

from sitesrv.components import routing
from sitesrv.errors import FormatError, SitesrvError
from sitesrv.files.folders import lexists
from sitesrv.formats import job as jobfile
from sitesrv.formats import parcel, rpl, sni, srq
from sitesrv.formats.parcel import ParcelStatus
from sitesrv.formats.sections import INSTRUCTION_LIMITS
from sitesrv.lab.boxes import (
    COURSEND_OUTGOING,
    REPLMGR_INCOMING,
    REPLMGR_READY,
    SCHEDULE,
    SCHEDULE_FAILED,
    SCHEDULE_REQUESTS,
    SCHEDULE_TOSEND,
    SCHEDULE_UID,
    WORK_DIR,
)
from sitesrv.lab.layout import SiteLayout
from sitesrv.runtime.context import ComponentContext

JOB = ".job"
REQ = ".req"
# Distribution Manager's line when the .job token is missing (Q266195); the Scheduler's, when the
# .req token is, are Q320638's (scheduler.py). docs/sources.md#q266195-and-q320638
SKIPPING_MINIJOB = ("Error. Could not give send request to scheduler. Possibly could not reach "
                    "the schedule box on the site server. Skipping minijob.")


class MissingToken(SitesrvError):
    """The UID token is gone; SMS then skips the minijob."""


def _take(ctx: ComponentContext, suffix: str) -> int:
    folder = ctx.layout.inbox(SCHEDULE_UID)
    here = f"{folder}{os.sep}"  # the token's names as text: only renamed and journalled
    for _ in range(1000):
        tokens = _tokens(folder, suffix)
        if not tokens:
            raise MissingToken(f"no {suffix} token in {ctx.windows(folder)}")
        number, name = tokens[-1]
        try:
            ctx.rename(here + name, f"{here}{number + 1:08X}{name[_DIGITS:]}")
        except FileNotFoundError:
            continue  # another taker renamed it first
        return number
    raise MissingToken(f"could not take the {suffix} token in {ctx.windows(folder)}: it keeps "
                       "changing")


_DIGITS = 8
_HEX = frozenset("0123456789abcdefABCDEF")
# A folder that is not there (or is no folder, or cannot be listed) holds no token.
_NO_FOLDER = frozenset((errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP, errno.EACCES,
                        errno.EPERM))


def _tokens(folder: Path, suffix: str) -> list[tuple[int, str]]:
    """The tokens of that kind in `schedule.box\\UID`, `<8 hex digits><suffix>` (the suffix in
    any case), as (number, name), in that order. Names, not paths: Distribution Manager looks
    at every kept `.PKG` that sends content on, and most folders hold two tokens."""
    try:
        names = sorted(os.listdir(folder))  # the rule for listings (docs/runtime.md)
    except OSError as e:
        if e.errno in _NO_FOLDER:
            return []
        raise
    return sorted((int(name[:_DIGITS], 16), name) for name in names
                  if name.rfind(".") == _DIGITS and name[_DIGITS:].lower() == suffix
                  and all(c in _HEX for c in name[:_DIGITS]))


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
    join = os.path.join
    return any(map(lexists, (
        join(box, job), join(box, WORK_DIR, job), join(ctx.layout.inbox(SCHEDULE_FAILED), job),
        join(ctx.layout.inbox(REPLMGR_READY), rpl.batch_file_name(job_id)),
        join(ctx.layout.inbox(SCHEDULE_TOSEND), sni.instruction_file_name(job_id)))))


def take_request_id(ctx: ComponentContext, priority: int, hop: str) -> str:
    """The next send request ID (`2_001ZZZ`) for a request to the site `hop`, never one whose
    files are still there: a token `sitesrv init` put back counts from 1 again, and a request of
    this site, what an earlier send of that ID left at `hop`, or one a parcel carries to its
    destination, would be overwritten or taken for the new one's."""
    in_parcels = _in_parcels(ctx)
    while True:
        request_id = srq.request_id(priority, _take(ctx, REQ), ctx.site.code)
        if request_id not in in_parcels and not request_exists(ctx, request_id) and not any(
                map(lexists, _received_paths(ctx.lab.site(hop), request_id))):
            return request_id


def request_exists(ctx: ComponentContext, request_id: str) -> bool:
    """Whether this site still keeps the send request `request_id` (`request_paths`); a link or
    anything else under its name counts: the name is taken."""
    return any(map(lexists, request_paths(ctx, request_id)))


@attrs.frozen
class _Held:
    """What one parcel record holds in transit, for the record's file as it was (`identity`)."""

    identity: tuple[int, int, int]
    request_ids: frozenset[str]


# Per `coursend.box\outgoing` folder, each record's last reading: a record is read again only
# when its inode, size or mtime changed (Courier Sender Manager replaces a record whole, by
# rename). A stale reading can only be an older status, and a status only moves forward, so it
# never frees an ID a parcel still holds.
_READINGS: dict[Path, dict[str, _Held]] = {}
_REQUEST_ID_LINE = re.compile(r"^[ \t]*RequestID[ \t]*=[ \t]*(\S+)[ \t]*\r?$",
                              re.IGNORECASE | re.MULTILINE)


def _in_parcels(ctx: ComponentContext) -> frozenset[str]:
    """The send request IDs in this site's parcels not yet Confirmed: the `.srs` of each is gone
    (the Scheduler completed its job) while its files travel to the destination's `receive`.

    One listing of `coursend.box\\outgoing` per ID wanted, an `lstat` per record, and a read only
    of a record that changed since it was last read (docs/transport.md, "Missing job IDs")."""
    folder = ctx.layout.inbox(COURSEND_OUTGOING)
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:  # none (a site without Courier parcels), or it cannot be listed
        return frozenset()
    before, now = _READINGS.get(folder, {}), {}
    for entry in entries:
        if not entry.name.lower().endswith(parcel.EXTENSION):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue  # replaced or deleted meanwhile: the new one is listed next time
        identity = (info.st_ino, info.st_size, info.st_mtime_ns)
        held = before.get(entry.name)
        if held is None or held.identity != identity:
            held = _Held(identity, _held_by(Path(entry.path)))
        now[entry.name] = held
    _READINGS[folder] = now
    return frozenset().union(*(held.request_ids for held in now.values()))


def _held_by(record: Path) -> frozenset[str]:
    """The IDs a record holds in transit: none once it is Confirmed. A record that cannot be
    read has no known status, so it holds what its `RequestID=` lines still say (a damaged one
    keeps most), and nothing if it cannot be read at all (a link, a FIFO, over the limit):
    `sitesrv courier list` names it, and `courier receive` refuses to deliver over a request
    that waits at the destination, so a reused ID is never silent."""
    try:
        kept = parcel.read_record(record)
    except (FormatError, OSError):
        try:
            data = INSTRUCTION_LIMITS.read(record, "parcel record")
        except (FormatError, OSError):
            return frozenset()
        return frozenset(m.upper() for m in _REQUEST_ID_LINE.findall(
            data.decode("utf-8", "replace")))
    if kept.status is ParcelStatus.CONFIRMED:
        return frozenset()
    return frozenset(r.request_id for r in kept.packing_list.requests)


def request_paths(ctx: ComponentContext, request_id: str) -> list[str]:
    """Where this site keeps the send request `request_id`: its `.srq` or `.srs` in an outbox
    or in `requests`, each claimed or not (joined as strings: asked at every request ID)."""
    names = [f"{os.sep}{request_id}{extension}" for extension in (srq.SRQ, srq.SRS)]
    paths = []
    for box in (*routing.OUTBOXES.values(), SCHEDULE_REQUESTS):
        folder = os.fspath(ctx.layout.inbox(box))
        for where in (folder, f"{folder}{os.sep}{WORK_DIR}"):
            paths += [where + name for name in names]
    return paths


def _received_paths(site: SiteLayout, request_id: str) -> list[str]:
    """What a send of `request_id` left at `site`, the one whose SMS_SITE share the Sender (or
    a Courier parcel) delivers it to: its payload and instruction in `despoolr.box\\receive`
    (the `.SNI` claimed, or back there to wait: `delivered_paths`), and what that site's
    Despooler hands on under the request's name (despooler/route.py). Not the Sender's temp
    names: a send writes over its own at every attempt. Joined as strings: asked at every
    request ID, only to be looked at."""
    join = os.path.join
    incoming = os.fspath(site.inbox(REPLMGR_INCOMING))
    batch = request_id + rpl.EXTENSION
    return [*_delivered(site, request_id), join(incoming, batch), join(incoming, WORK_DIR, batch),
            join(site.inbox(SCHEDULE_TOSEND), sni.payload_file_name(request_id))]


def delivered_paths(site: SiteLayout, request_id: str) -> list[Path]:
    """A delivery of `request_id` that waits in `site`'s `despoolr.box\\receive`: its payload
    and instruction, the `.SNI` claimed by the Despooler or not."""
    return [Path(p) for p in _delivered(site, request_id)]


def _delivered(site: SiteLayout, request_id: str) -> list[str]:
    receive, instruction = os.fspath(site.receive), sni.sni_file_name(request_id)
    join = os.path.join
    return [join(receive, sni.payload_file_name(request_id)), join(receive, instruction),
            join(receive, WORK_DIR, instruction)]

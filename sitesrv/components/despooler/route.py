"""Instructions the Despooler passes on: to this site's Scheduler, or into a local inbox.

An instruction whose final destination is another site came through this site because its
origin had no direct address there (docs/distribution.md): its payload moves to
`schedule.box\\tosend\\<reqid>.PCK` and a new job takes it on. A replication batch (`RPL`)
moves to `replmgr.box\\incoming` for Replication Manager (Q323614); a lone `.PKG` or `.STA`
moves to `distmgr.box\\INCOMING`.

Each move is one rename, so a redo after a crash finds the payload at its destination, or, if
its owner has taken it since (Replication Manager unpacked the batch, the job sent it on), the
note the hand-over left (receive.py). The job ID comes from the UID tokens and cannot be derived
from the input, so a redo looks for a job that already sends that payload before it makes one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sitesrv.components.despooler.receive import Received
from sitesrv.components.uidtokens import MissingToken, take_job_id, waits_for
from sitesrv.errors import FormatError
from sitesrv.formats import job as jobfile
from sitesrv.formats import pkg, sni, sta
from sitesrv.formats.values import Payload
from sitesrv.lab.boxes import (
    DISTMGR_INCOMING,
    REPLMGR_INCOMING,
    SCHEDULE,
    SCHEDULE_TOSEND,
    WORK_DIR,
)
from sitesrv.logs.win32 import error_text
from sitesrv.runtime.context import ComponentContext

# Payload kind -> (inbox, file name from the request ID) for what this site keeps.
LOCAL_DELIVERIES: dict[Payload, tuple[str, Callable[[ComponentContext, str], str]]] = {
    Payload.RPL: (REPLMGR_INCOMING, lambda ctx, rid: f"{rid}.RPL"),
    Payload.PKG: (DISTMGR_INCOMING, lambda ctx, rid: ctx.ids.name_for(rid, pkg.EXTENSION)),
    Payload.STA: (DISTMGR_INCOMING, lambda ctx, rid: ctx.ids.name_for(rid, sta.EXTENSION)),
}


def deliver_here(received: Received, payload: Path | None) -> None:
    """Move a replication batch, `.PKG` or `.STA` into the inbox of the component it is for."""
    ctx = received.ctx
    folder, naming = LOCAL_DELIVERIES[received.ins.payload]
    rid = received.request_id
    dest = ctx.layout.inbox(folder) / naming(ctx, rid)
    if payload is not None:
        received.hand_over(dest)
    elif not dest.exists() and not received.handed_over(dest):
        received.missing_payload(f"at {ctx.windows(dest)}")
        return
    ctx.log.write(f"~Moved the {received.ins.payload} file {ctx.windows(received.work_payload)} to "
                  f"{ctx.windows(dest)}")
    ctx.emit("payload_delivered", file=ctx.windows(dest), payload=str(received.ins.payload))
    ctx.log.write("~Despooler successfully executed one instruction.")
    received.finish()


def hand_on(received: Received, payload: Path | None) -> None:
    """A job for this site's Scheduler that sends the instruction on to its final destination."""
    ctx = received.ctx
    ins = received.ins
    root = ""
    if ins.payload is not Payload.NONE:
        # Made if it is missing (a site whose inboxes were deleted), as the Scheduler does.
        tosend = ctx.make_dirs(ctx.layout.inbox(SCHEDULE_TOSEND)) / f"{received.request_id}{sni.PCK}"
        root = ctx.layout.unc(tosend)
        if payload is not None:
            received.hand_over(tosend)
        elif not tosend.exists():
            if received.handed_over(tosend):  # only its job's end deletes it
                _handed_on(received, None)
            else:
                received.missing_payload(f"at {ctx.windows(tosend)}")
            return
        elif (job_id := _job_sending(ctx, root)) is not None:
            _handed_on(received, job_id)
            return
    try:
        job_id = take_job_id(ctx)
    except MissingToken as e:
        ctx.log.write(f"~Cannot create a job to send the instruction on to site "
                      f"{ins.final_destination_site}: {error_text(e)}")
        received.retry(ctx.clock.now() + ctx.timing.despooler_retry_delay, waits_for("a job ID"))
        return
    job = jobfile.SchedulerJob(
        job_id=job_id, description=ins.description, destination_site=ins.final_destination_site,
        preferred_address=_preferred_address(ins), priority=ins.priority,
        instruction_type=ins.instruction_type, transfer_root=root,
        payload=ins.payload, package_id=ins.package_id, package_version=ins.package_version,
        originating_site=ins.originating_site, created=ctx.clock.now(), package=ins.package)
    ctx.publish(ctx.layout.inbox(SCHEDULE) / jobfile.job_file_name(job_id),
                jobfile.encode(job))
    ctx.emit("instruction_routed", to=ins.final_destination_site, job=job_id,
             package=ins.package_id, file=root)
    _handed_on(received, job_id)


def _preferred_address(ins: sni.Instruction) -> str:
    """The package's preferred sender for its compressed files, which keep it at every hop;
    anything else goes by any sender (`*`), as where it was sent from."""
    if ins.package is not None and ins.payload in (Payload.PCK, Payload.DLT):
        return ins.package.preferred_address
    return "*"


def _handed_on(received: Received, job_id: str | None) -> None:
    """The instruction is with job `job_id`, or None: with a job that has finished already."""
    ins = received.ins
    if job_id is None:
        received.ctx.log.write(f"~The final destination of this instruction is site "
                               f"{ins.final_destination_site}, the job created before the "
                               "Despooler stopped has already finished with it.")
    else:
        received.ctx.log.write(f"~The final destination of this instruction is site "
                               f"{ins.final_destination_site}, created job {job_id} to send it "
                               "on.")
    received.ctx.log.write("~Despooler successfully executed one instruction.")
    received.finish()


def _job_sending(ctx: ComponentContext, root: str) -> str | None:
    """The job of this site that already sends `root` (a redo after a crash), if any."""
    box = ctx.layout.inbox(SCHEDULE)
    for folder in (box, box / WORK_DIR):
        for path in sorted(folder.glob(f"*{jobfile.EXTENSION}")):
            try:
                found = jobfile.read(path)
            except (OSError, FormatError):
                continue
            if found.transfer_root.upper() == root.upper():
                return found.job_id
    return None

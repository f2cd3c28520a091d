"""Scheduler: turns jobs into instructions and send requests, and acts on how they ended.

The model and the log lines: docs/sources.md#package-actions, docs/transport.md.

A PENDING `schedule.box\\<jobid>.job` is activated: its instruction goes to
`schedule.box\\tosend\\<jobid>.IPT`, a send request ID comes from the `UID` token, and the
request goes to `schedule.box\\outboxes\\LAN\\<id>.srq` when this site has an address to the
destination, else through `schedule.box\\requests\\` with a ROUTING record to the next site on
the tree path. The job is rewritten ACTIVE with its request ID and stays in `schedule.box`,
deferred, until its request ends.

The Sender publishes `outboxes\\<sender>\\<id>.srs` when it is done with a request. SREQ_STATUS_OK
completes the job: the instruction file, the job's own transfer root (a ready `.RPL`, a routed
payload in `tosend`; never a package's `SMSPKG` file), the send request and the job are deleted.
ACTION CODE 1 makes the request pending again after `sender_retry_delay`; ACTION CODE 2 fails
the job. A failed job is kept for people to see in `schedule.box\\failed\\<jobid>.job`.

Every step is safe to redo: the job is rewritten ACTIVE (with its request ID) before the
request is written, and COMPLETE before anything is deleted, so after a restart an ACTIVE job
whose request is gone gets the same request again (SMS rebuilds deleted send requests, Q123221)
and a COMPLETE one finishes its clean-up.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from sitesrv.components import routing
from sitesrv.components.leftovers import remove_stale_temps
from sitesrv.components.uidtokens import (
    MissingToken,
    request_exists,
    take_request_id,
    waits_for,
)
from sitesrv.compression.known import file_sha256
from sitesrv.errors import FormatError, UserError
from sitesrv.formats import job as jobfile
from sitesrv.formats import sni, srq
from sitesrv.formats.job import JobState, SchedulerJob
from sitesrv.formats.srq import ActionCode, SenderStatus, SendRequest
from sitesrv.formats.values import AddressType, Payload
from sitesrv.lab.boxes import (
    REPLMGR_READY,
    SCHEDULE,
    SCHEDULE_FAILED,
    SCHEDULE_REQUESTS,
    SCHEDULE_TOSEND,
)
from sitesrv.lab.layout import PathRefused
from sitesrv.lab.sitetime import log_timestamp
from sitesrv.logs.win32 import error_text
from sitesrv.runtime.component import Component
from sitesrv.runtime.inbox import InboxSpec, WorkItem

OWNED_ROOTS = (REPLMGR_READY, SCHEDULE_TOSEND)  # transfer roots a job owns and deletes
NO_ADDRESS = 3400
# sched.log's own lines when the UID token for send request IDs is missing (Q320638): the job
# waits, never fails (docs/sources.md#q266195-and-q320638).
NO_REQUEST_ID = ("Need to generate send request for minijob.~",
                 "Skipping minijob. Could not retrieve the request ID")


class Scheduler(Component):
    name = "SMS_SCHEDULER"
    log_name = "sched.log"
    # Finished requests first: they free what waiting jobs wait for.
    inboxes = (InboxSpec(routing.OUTBOXES[AddressType.LAN], ("*.srs",)),
               InboxSpec(routing.OUTBOXES[AddressType.COURIER], ("*.srs",)),
               InboxSpec(SCHEDULE_REQUESTS, ("*.srq",)),
               InboxSpec(SCHEDULE, ("*.job",)))

    def start(self) -> None:
        # `tosend` is nobody's inbox: this component makes it (a site whose inboxes were
        # deleted), and deletes the temp files of instructions a killed run was writing.
        remove_stale_temps(self.ctx, self.ctx.make_dirs(self.ctx.layout.inbox(SCHEDULE_TOSEND)))

    def work(self) -> bool:
        item = self.ctx.claim_next()
        if item is None:
            return False
        folder = item.inbox.spec.folder
        if folder == SCHEDULE:
            self._examine_job(item)
        elif folder == SCHEDULE_REQUESTS:
            self._schedule_routed(item)
        else:
            self._check_status(item)
        return True

    # --- jobs ---------------------------------------------------------------------------------

    def _examine_job(self, item: WorkItem) -> None:
        job = jobfile.read(item.path)  # unreadable: the runtime quarantines it
        if item.name != jobfile.job_file_name(job.job_id):
            # Its send request's status would name another job: it would be sent for ever.
            item.quarantine(f"a job file is named after its job ID, "
                            f"{jobfile.job_file_name(job.job_id)}")
            return
        if job.state is JobState.PENDING:
            self._activate(item, job)
        elif job.state is JobState.ACTIVE:
            if request_exists(self.ctx, job.send_request_id):
                self._wait_for_request(item, job)
            else:
                self.ctx.log.write(f"Send request {job.send_request_id} of job {job.job_id} is "
                                   "missing; creating it again.~")
                self._activate(item, job)
        elif job.state is JobState.COMPLETE:
            self._complete(item, job)
        else:
            self._keep_failed(item, job)

    def _activate(self, item: WorkItem, job: SchedulerJob) -> None:
        """Instruction, send request ID, send request; the job becomes ACTIVE."""
        ctx = self.ctx
        route = self._route(item, job)
        if route is None:
            return
        # Made if it is missing (a site whose inboxes were deleted): the job never fails for it.
        ipt = ctx.make_dirs(ctx.layout.inbox(SCHEDULE_TOSEND)) / sni.instruction_file_name(
            job.job_id)
        ctx.log.write("========  Processing Jobs  ========")
        ctx.log.write(f"<Activating JOB {job.job_id}>[{job.description}]~")
        ctx.log.write(f"Destination site:  {job.destination_site}, Preferred Address: "
                      f"{job.preferred_address}, Priority: {job.priority}")
        ctx.log.write(f"Instruction type:  {job.instruction_type}~")
        ctx.log.write(f"Creating instruction file: {ctx.layout.unc(ipt)}~")
        if job.payload is not Payload.NONE:
            ctx.log.write(f"Transfer root:  {job.transfer_root}~")
        try:
            size, digest = self._digest(job)
        except PathRefused as e:
            item.quarantine(str(e))
            return
        except (OSError, UserError) as e:
            self._fail(item, job, f"its transfer root {job.transfer_root} cannot be read "
                              f"({error_text(e)})")
            return
        if not job.send_request_id:
            activated = self._take_request_id(item, job, route.hop)
            if activated is None:
                return
            job = activated
        ctx.publish(ipt, sni.encode(sni.Instruction(
            instruction_type=job.instruction_type, job_id=job.job_id,
            originating_site=job.originating_site, sending_site=ctx.site.code,
            final_destination_site=job.destination_site, package_id=job.package_id,
            package_version=job.package_version, payload=job.payload, payload_size=size,
            payload_sha256=digest, priority=job.priority, description=job.description,
            package=job.package)))
        ctx.log.write(f"Created new send request ID:  {job.send_request_id}~")
        ctx.log.write("====== Updating Send Request List =======")  # CM12's, exactly
        self._publish_request(job, route, ipt)
        ctx.emit("job_activated", job=job.job_id, request=job.send_request_id,
                 to=job.destination_site, hop=route.hop, package=job.package_id or None)
        self._wait_for_request(item, job)

    def _route(self, item: WorkItem, job: SchedulerJob) -> routing.Route | None:
        """The way to the job's destination; None if there is none now (the job is failed or
        deferred then)."""
        ctx = self.ctx
        if job.destination_site == ctx.site.code:
            self._fail(item, job, "its destination is this very site")
            return None
        try:
            route = routing.route(ctx.hierarchy, ctx.site.code, job.destination_site,
                                  job.preferred_address)
        except (UserError, ValueError):
            route = None  # the destination is not (or no longer) in the hierarchy
        if route is None or not route.addresses:
            self._no_address(item, job, route.hop if route else job.destination_site,
                             ctx.clock.now())
            return None
        return route

    def _take_request_id(self, item: WorkItem, job: SchedulerJob,
                         hop: str) -> SchedulerJob | None:
        """The job, ACTIVE with a new send request ID for a request to `hop` and rewritten so;
        None (and the job deferred) if the UID token is missing."""
        ctx = self.ctx
        try:
            request_id = take_request_id(ctx, job.priority, hop)
        except MissingToken:
            for line in NO_REQUEST_ID:
                ctx.log.write(line)
            item.defer(ctx.clock.now() + ctx.timing.rescan_interval,
                       waits_for("a send request ID"))
            return None
        job = attrs.evolve(job, state=JobState.ACTIVE, send_request_id=request_id)
        item.rewrite(jobfile.encode(job))
        return job

    def _publish_request(self, job: SchedulerJob, route: routing.Route, ipt: Path) -> None:
        """The send request, in the sender's outbox, or in `requests` to be routed."""
        ctx = self.ctx
        request_id = job.send_request_id
        outbox = ctx.layout.inbox(routing.OUTBOXES[route.sender])
        request = SendRequest(
            priority=job.priority, dest_site=route.hop, job_id=job.job_id,
            request_id=request_id, outbox=ctx.layout.unc(outbox),
            preferred_address=job.preferred_address,
            ignore_schedule=job.package.ignore_schedule if job.package else False,
            addresses=[srq.SenderAddress(address=routing.share(ctx.hierarchy, route.hop),
                                         type=a.type) for a in route.addresses],
            package_file=job.transfer_root, instruction_file=ctx.layout.unc(ipt),
            routing_master_request_id="" if route.direct else request_id,
            originating_site=job.originating_site, final_destination_site=job.destination_site)
        if route.direct:
            ctx.log.write(f"There is direct address to site {route.hop}, no need for routing "
                          f"for send request {request_id}.")
            # Only a Courier address: the request waits in `requests` for one (Q282494).
            folder = ctx.layout.inbox(SCHEDULE_REQUESTS) if route.courier_only else outbox
        else:
            ctx.log.write(f"There is no direct address to site {job.destination_site}, routing "
                          f"send request {request_id} through site {route.hop}.")
            folder = ctx.layout.inbox(SCHEDULE_REQUESTS)
        if route.backup:
            # The preferred sender's addresses first, then the backup ones (Q282494's lines).
            ctx.log.write(f"No addresses available for site {job.destination_site}.")
            ctx.log.write(f"The preferred sender {job.preferred_address} has no address to site "
                          f"{job.destination_site}; send request {request_id} uses the backup "
                          f"addresses of the Standard Sender.")
        ctx.publish(folder / srq.file_name(request), srq.encode(request))

    def _no_address(self, item: WorkItem, job: SchedulerJob, site: str, now: float) -> None:
        """No address to the next hop: status 3400, retried, given up after the retention."""
        ctx = self.ctx
        # A report, and a wait or its end after the retention: no progress, so a site that
        # has no address, and reports that again and again, ends a run `waiting`.
        ctx.retrying()
        ctx.log.write(f"There is no address defined for site {site}")
        ctx.status.report(NO_ADDRESS, site, ctx.site.code, severity="E")
        retention = ctx.timing.scheduler_deleted_site_retention
        if now - job.created >= retention:
            self._fail(item, job, f"no address to site {site} for {retention:g} seconds")
            return
        item.defer(min(now + ctx.timing.sender_busy_hold, job.created + retention),
                   f"waits for an address to site {site}")

    def _wait_for_request(self, item: WorkItem, job: SchedulerJob) -> None:
        # Its request's .srs wakes it; the deferral only re-checks now and then that it exists.
        reason = f"waits for send request {job.send_request_id}"
        courier = self.ctx.layout.inbox(routing.OUTBOXES[AddressType.COURIER])
        if (courier / (job.send_request_id + srq.SRQ)).exists():
            # Courier Sender never sends by itself: say who must act.
            reason += (", which waits in the Courier outbox for a parcel (sitesrv courier "
                       f"create {self.ctx.site.code})")
        item.defer(self.ctx.clock.now() + self.ctx.timing.scheduler_deleted_site_retention,
                   reason)

    def _digest(self, job: SchedulerJob) -> tuple[int, str]:
        """Size and SHA-256 of the transfer root: streamed, unless this process wrote or read
        the unchanged file whole already (packed, merged or checked it: compression.known)."""
        if job.payload is Payload.NONE:
            return 0, ""
        root = self._resolve(job.transfer_root)
        if root.parent not in self.ctx.layout.transfer_folders:
            raise PathRefused(f"its transfer root {job.transfer_root} is not a file of this "
                              "site's SMSPKG, replmgr.box\\ready or schedule.box\\tosend")
        return file_sha256(root)

    # --- routed requests ----------------------------------------------------------------------

    def _schedule_routed(self, item: WorkItem) -> None:
        """A request in `requests\\` goes to its sender's outbox once its hop has an address."""
        ctx = self.ctx
        request = routing.read_request(ctx.hierarchy, item.path)  # bad: quarantined
        # A routed request goes by the Standard Sender, whatever it prefers (a Courier address
        # never routes); a direct one in `requests` has only a Courier address (Q282494).
        sender = AddressType.LAN
        if not routing.addresses(ctx.hierarchy, ctx.site.code, request.dest_site, sender):
            if not request.routing_master_request_id:
                self._stranded(item, request)
                return
            ctx.log.write(f"No addresses available for site {request.dest_site}.")
            ctx.log.write(f"No backup addresses available for site {request.dest_site}.")
            ctx.log.write("Cannot create the routing instruction.")
            item.defer(ctx.clock.now() + ctx.timing.sender_busy_hold,
                       f"waits for an address to site {request.dest_site}")
            return
        ctx.log.write(f"Scheduling send request {request.request_id}.")
        item.forward(ctx.layout.inbox(routing.OUTBOXES[sender]) / srq.file_name(request))

    def _stranded(self, item: WorkItem, request: SendRequest) -> None:
        """A direct request whose only address is a Courier one, which carries packages only:
        Q282494's lines, and it waits (the grandchild gets no package information)."""
        ctx = self.ctx
        ctx.log.write(f"Scheduling send request {request.request_id}.")
        ctx.log.write(f"No addresses available for site {request.dest_site}.")
        ctx.log.write(f"No backup addresses available for site {request.dest_site}.")
        item.defer(ctx.clock.now() + ctx.timing.sender_busy_hold,
                   f"waits for an address to site {request.dest_site} (it has only a Courier "
                   "address from here, and the Courier Sender carries packages only)")

    # --- finished requests --------------------------------------------------------------------

    def _check_status(self, item: WorkItem) -> None:
        ctx = self.ctx
        request = srq.read(item.path)  # unreadable: the runtime quarantines it
        ctx.log.write("======  Checking Status of All Send Requests  ======")
        ctx.log.write(f"~====  Checking send requests for outbox {ctx.layout.unc(item.inbox.path)}.~~")
        ctx.log.write(f"Checking send request {request.request_id}~")
        job_item = ctx.inbox(SCHEDULE).claim(jobfile.job_file_name(request.job_id))
        job = self._read_job(job_item)
        if request.status is SenderStatus.OK and request.action_code is ActionCode.NOTHING:
            seconds = max((request.ended_at or 0.0) - (request.started_at or 0.0), 0.001)
            ctx.log.write(f"Sending completed ({int(request.total_bytes / seconds)} bytes/sec).~")
            ctx.log.write("Send request has successfully completed.~")
            self._complete(job_item, job, item, request)
        elif request.action_code is ActionCode.DELETE:
            self._fail(job_item, job, f"send request {request.request_id} ended with "
                       f"{request.status.value} and ACTION CODE 2 (delete)", item, request)
        else:
            self._retry(item, request)
            if job_item is not None and job is not None:
                self._wait_for_request(job_item, job)
            elif job_item is not None:
                job_item.quarantine("it cannot be read")

    def _retry(self, item: WorkItem, request: SendRequest) -> None:
        ctx = self.ctx
        ctx.retrying()
        restart = ctx.clock.now() + ctx.timing.sender_retry_delay
        ctx.log.write(f"Send request {request.request_id} ended with {request.status.value} and "
                      f"ACTION CODE {int(request.action_code)}; it is pending again and will be "
                      f"retried at {log_timestamp(restart, ctx.site.time_zone_bias)}.~")
        again = attrs.evolve(request, status=SenderStatus.NONE, action_code=ActionCode.NOTHING,
                             restart_at=restart)
        ctx.publish(item.inbox.path / srq.file_name(again), srq.encode(again))
        item.done()

    def _complete(self, job_item: WorkItem | None, job: SchedulerJob | None,
                  srs_item: WorkItem | None = None, request: SendRequest | None = None) -> None:
        ctx = self.ctx
        ctx.log.write("<JOB STATUS - COMPLETE>~")
        if job_item is not None and job is not None and job.state is not JobState.COMPLETE:
            job = attrs.evolve(job, state=JobState.COMPLETE)
            job_item.rewrite(jobfile.encode(job))
        self._clean_up(job, request)
        request_id = request.request_id if request else job.send_request_id if job else ""
        if srs_item is not None:
            ctx.log.write(f"Deleting send request with ID: {request_id}.~")
            srs_item.done()
        if job_item is not None:
            job_item.done()
            ctx.log.write(f"Deleted job {job_item.name.rsplit('.', 1)[0]}.~")
        ctx.emit("job_complete", job=job.job_id if job else None, request=request_id or None,
                 to=job.destination_site if job else None,
                 package=(job.package_id or None) if job else None)

    def _fail(self, job_item: WorkItem | None, job: SchedulerJob | None, reason: str,
              srs_item: WorkItem | None = None, request: SendRequest | None = None) -> None:
        ctx = self.ctx
        ctx.log.write("<JOB STATUS - FAILED>~")
        self._clean_up(job, request)
        if srs_item is not None and request is not None:
            ctx.log.write(f"Deleting send request with ID: {request.request_id}.~")
            srs_item.done()
        if job_item is not None and job is not None:
            job_item.rewrite(jobfile.encode(attrs.evolve(job, state=JobState.FAILED)))
            self._keep_failed(job_item, job, reason)
        elif job_item is not None:
            job_item.quarantine(f"it cannot be read, and its send request failed: {reason}")

    def _keep_failed(self, item: WorkItem, job: SchedulerJob, reason: str = "") -> None:
        folder = self.ctx.make_dirs(self.ctx.layout.inbox(SCHEDULE_FAILED))
        dest = folder / item.name
        item.forward(dest)
        self.ctx.log.write(f"Job {job.job_id} failed{': ' + reason if reason else ''}. The job "
                           f"file is kept as {self.ctx.windows(dest)}.")
        self.ctx.emit("job_failed", job=job.job_id, to=job.destination_site, reason=reason,
                      package=job.package_id or None)

    def _clean_up(self, job: SchedulerJob | None, request: SendRequest | None) -> None:
        """Delete the instruction file and a transfer root the job owns."""
        ctx = self.ctx
        if job is not None:
            instruction, root = sni.instruction_file_name(job.job_id), job.transfer_root
            instruction_path: Path | None = ctx.layout.inbox(SCHEDULE_TOSEND) / instruction
        elif request is not None:
            instruction_path, root = self._resolve_or_none(request.instruction_file), \
                request.package_file
        else:
            return
        if instruction_path is not None and instruction_path.parent != ctx.layout.inbox(
                SCHEDULE_TOSEND):
            instruction_path = None  # not an instruction of this site's: not ours to delete
        if instruction_path is not None and instruction_path.exists():
            ctx.log.write(f"Deleting instruction file {ctx.layout.unc(instruction_path)}.~")
            ctx.remove(instruction_path)
        path = self._resolve_or_none(root) if root else None
        if path is not None and path.exists() and any(
                path.parent == ctx.layout.inbox(folder) for folder in OWNED_ROOTS):
            ctx.log.write(f"Deleting job package source [{root}].~")
            ctx.remove(path)
            ctx.changed(path.parent)  # Replication Manager's next batch may go now

    # --- helpers ------------------------------------------------------------------------------

    def _read_job(self, item: WorkItem | None) -> SchedulerJob | None:
        if item is None:
            return None
        try:
            return jobfile.read(item.path)
        except FormatError:
            return None

    def _resolve(self, windows_path: str) -> Path:
        return self.ctx.lab.resolve(windows_path, at=self.ctx.site.code)

    def _resolve_or_none(self, windows_path: str) -> Path | None:
        try:
            return self._resolve(windows_path)
        except UserError:
            return None



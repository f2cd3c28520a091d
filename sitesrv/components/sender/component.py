"""Standard Sender: sends what a send request names to the destination's SMS_SITE share.

The model and the log lines: docs/sources.md#package-actions, Q235753, Q261874 and Q278357.

It takes `schedule.box\\outboxes\\LAN\\<id>.srq` in priority order, highest first, and within a
priority first in, first out by the request's counter (`2_ZZZZZZ`, counter 46655, before
`21000ZZZ`, 46656, which sorts first by name), and never preempts a send in progress. A
request waits while every address to its destination is closed for its priority by the
address's schedule (in the site's local time) or paused, while its site is on the busy list,
or until its `Scheduler To Restart At`; and while `sender.max_concurrent` sends run in all, or
`sender.max_per_site` to its destination.

At the destination's `despoolr.box\\receive` it writes the package file as `<id>.PCK.TMP`, renamed
`<id>.PCK` when complete, then the instruction as `<id>.TMP`, renamed `<id>.SNI`: the Despooler
acts on the `.SNI` alone, so it never sees a partial package. The package goes in chunks over
several units of work, at the address's rate limit after its latency, so a send takes lab time
in both drivers; several sends interleave.

An I/O error at the destination is retried after `sender_retry_delay`, on the next address
first if there is one, up to `sender.retries` times; then the site goes on the busy list for
`sender_busy_hold` and the request ends with ACTION CODE 1 (retry). The busy list is kept in
`<SITE>\\SMS\\state\\sender-busy.json`, so a restart does not try a busy site again before its
time. A request whose own files cannot be read ends with ACTION CODE 2 (delete). Either way,
and on success, the Sender publishes `outboxes\\LAN\\<id>.srs` with its STATUS record filled
in, then removes the `.srq`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
from pathlib import Path

import attrs

from sitesrv.components import routing
from sitesrv.components.addresses import PauseWatch, allows, next_change
from sitesrv.components.sender.transfer import (
    CONNECT,
    FINISH,
    PACKAGE,
    RemoteError,
    Transfer,
)
from sitesrv.compression import PckError, known, read_manifest
from sitesrv.errors import FormatError, UserError
from sitesrv.files.copying import WrittenRange
from sitesrv.files.regular import (
    STATE_FILE_BYTES,
    NotRegularFile,
    open_regular,
    read_limited,
)
from sitesrv.formats import sni, srq
from sitesrv.formats.srq import ActionCode, FileType, SenderStatus, SendRequest
from sitesrv.formats.values import PRIORITY_NAMES, AddressType, Payload
from sitesrv.lab.boxes import SCHEDULE_TOSEND
from sitesrv.lab.hierarchy import Address
from sitesrv.lab.layout import PathRefused
from sitesrv.lab.sitetime import log_timestamp, windows_time_text
from sitesrv.logs.win32 import error_text, sms_error, win32_error
from sitesrv.runtime.component import Component, Waiting
from sitesrv.runtime.inbox import InboxSpec, WorkItem

OUTBOX = routing.OUTBOXES[AddressType.LAN]
NO_CONNECTION = "There is no existing connection, Win32 error = 0"
BAD_NET_NAME = 67  # Win32: the network name cannot be found
# What an ADDRESS may be: `\\<server>\SMS_SITE`, the server a plain name (not a drive path).
SMS_SITE_SHARE = re.compile(r"\\\\[^\\/:*?\"<>|\x00-\x1f. ][^\\/:*?\"<>|\x00-\x1f]*\\SMS_SITE\\?",
                            re.IGNORECASE)
NEVER_OPENS_RECHECK = 7 * 86400.0  # a schedule that never opens for a priority: look weekly
BUSY_FILE = "sender-busy.json"  # in <SITE>\SMS\state: {"busy": {"P00": <lab time it ends>}}
QUEUE_ORDERS = 4096  # request file names whose place in the queue is remembered


@attrs.frozen
class Hold:
    """Why a request cannot start now, and when that may change (None: only a person changes it)."""

    reason: str
    until: float | None


@functools.lru_cache(maxsize=QUEUE_ORDERS)
def queue_order(name: str) -> tuple[int, int, str]:
    """Where a waiting request file stands in the queue: priority, then its counter (the order
    the Scheduler created the requests in; past counter 46655 the IDs no longer sort by name),
    then the name. A name that is no request ID comes last.

    Remembered by name (it depends on nothing else): the outbox is sorted at every look, and
    its waiting requests are the same names look after look."""
    try:
        parts = srq.parse_request_id(name.rsplit(".", 1)[0])
    except ValueError:
        return (max(PRIORITY_NAMES) + 1, 0, name)
    return (parts.priority, parts.counter, name)


class Sender(Component):
    name = "SMS_LAN_SENDER"
    log_name = "sender.log"
    inboxes = (InboxSpec(OUTBOX, ("*.srq",)),)

    def start(self) -> None:
        self.outbox = self.ctx.inbox(OUTBOX)
        self.transfers: dict[str, Transfer] = {}
        self.busy: dict[str, float] = self._load_busy()  # site -> lab time it leaves the list
        self.holds: dict[str, Hold] = {}
        self.told: dict[str, str] = {}  # the hold reason last logged per request file
        self.parsed: dict[str, tuple[tuple[int, int, int], SendRequest]] = {}
        self.pauses = PauseWatch(self.ctx.layout)
        # Every site's `SMS_SITE` folder, the only place an address may lead: made once, not
        # for each request (a walk of every site).
        self.receives = frozenset(site.receive for site in self.ctx.lab.sites())
        self.wakes: set[float] = set()

    def work(self) -> bool:
        now = self.ctx.clock.now()
        due = sorted((transfer.due, transfer.request_id)
                     for transfer in self.transfers.values() if transfer.due <= now)
        if due:
            self._advance(self.transfers[due[0][1]], now)
            return True
        if self._start_next(now):
            return True
        self._set_timers(now)
        return False

    def waiting(self) -> list[Waiting]:
        out = []
        for transfer in self.transfers.values():
            what = (f"is being sent to site {transfer.destination} ({transfer.offset} of "
                    f"{transfer.package_size} bytes)" if transfer.started <= self.ctx.clock.now()
                    else f"waits to retry sending to site {transfer.destination} at "
                         f"{self._local(transfer.started)}")
            out.append(Waiting(self._display(transfer.item.name), what))
        out += [Waiting(self._display(name), hold.reason) for name, hold in self.holds.items()]
        return out

    # --- choosing the next request ------------------------------------------------------------

    def _start_next(self, now: float) -> bool:
        """Start the highest-priority request that may go; True if one did (or was refused)."""
        self.holds = {}
        if len(self.transfers) >= self.ctx.hierarchy.sender.max_concurrent:
            return False
        listing = self.outbox.listing()
        self.parsed = {n: self.parsed[n] for n in listing if n in self.parsed}
        self.told = {n: self.told[n] for n in listing if n in self.told}
        for name in sorted(listing, key=queue_order):
            try:
                request = self._read(name)
            except FileNotFoundError:
                continue
            except FormatError as e:
                item = self.outbox.claim(name)
                if item is not None:
                    item.quarantine(e.problem)
                    return True
                continue
            hold = self._hold(request, now)
            if hold is not None:
                self.holds[name] = hold
                if self.told.get(name) != hold.reason:
                    self.told[name] = hold.reason
                    self.ctx.log.write(f"Send request {request.request_id} {hold.reason}.")
                continue
            used = sum(1 for transfer in self.transfers.values()
                       if transfer.destination == request.dest_site)
            if used >= self.ctx.hierarchy.sender.max_per_site:
                continue
            item = self.outbox.claim(name)
            if item is None:
                continue
            item.keep()
            self.told.pop(name, None)
            self._begin(item, used, now)
            return True
        return False

    def _read(self, name: str) -> SendRequest:
        """A waiting request, parsed again only when its file changed (outboxes can be long)."""
        path = self.outbox.path / name
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        cached = self.parsed.get(name)
        if cached is None or cached[0] != stamp:
            cached = (stamp, routing.read_request(self.ctx.hierarchy, path))
            self.parsed[name] = cached
        return cached[1]

    def _hold(self, request: SendRequest, now: float) -> Hold | None:
        dest = request.dest_site
        if request.restart_at is not None and request.restart_at > now:
            return Hold(f"waits until {self._local(request.restart_at)} to be retried",
                        request.restart_at)
        if self.busy.get(dest, 0.0) > now:
            return Hold(f"waits: site {dest} is on the busy list until "
                        f"{self._local(self.busy[dest])}", self.busy[dest])
        found = self._addresses(dest)
        if not found:
            self.ctx.log.write(f"Found send request.  ID: {request.request_id}, Dest Site: {dest}~")
            self.ctx.log.write(f"There is no longer an address to destination site {dest}")
            self.ctx.log.write("Returning send request to pending because address cannot not be "
                               "found.")
            self.ctx.log.write(f"Site {dest} added to list of busy sites because there is no "
                               "available address.")
            self._set_busy(dest, now + self.ctx.timing.sender_busy_hold)
            return Hold(f"waits for an address to site {dest}", self.busy[dest])
        if self._usable(found, request, now):
            return None
        if all(a.paused for a in found):
            here = self.ctx.site.code
            return Hold(f"waits for the paused address to {dest} to be resumed ('sitesrv "
                        f"address resume {here} {dest}')", None)
        change = next_change(found, request.priority, now, self.ctx.site.time_zone_bias)
        if change is None:  # no schedule block changes it: only a resume can, or nothing
            change = (now + self.ctx.timing.rescan_interval if any(a.paused for a in found)
                      else now + NEVER_OPENS_RECHECK)
        return Hold(f"waits for the address to {dest} to open for priority {request.priority}",
                    change)

    def _addresses(self, dest: str) -> tuple[Address, ...]:
        """This site's LAN addresses to `dest`, best first, with pauses applied."""
        found = routing.addresses(self.ctx.hierarchy, self.ctx.site.code, dest, AddressType.LAN)
        return self.pauses.apply(found, self.ctx.clock.now())

    def _usable(self, found: tuple[Address, ...], request: SendRequest, now: float) -> list[int]:
        """The indexes of the addresses that let this request through now."""
        bias = self.ctx.site.time_zone_bias
        return [i for i, a in enumerate(found)
                if not a.paused and (request.ignore_schedule
                                     or allows(a, request.priority, now, bias))]

    # --- one send -----------------------------------------------------------------------------

    def _begin(self, item: WorkItem, used: int, now: float) -> None:
        ctx = self.ctx
        request = srq.read(item.path)
        try:
            package, instruction_path = self._check_paths(request)
        except PathRefused as e:
            item.quarantine(str(e))
            return
        dest = request.dest_site
        ctx.log.write(f"Found send request.  ID: {request.request_id}, Dest Site: {dest}~")
        ctx.log.write(f"Checking for site-specific sending capacity.  Used {used} out of "
                      f"{ctx.hierarchy.sender.max_per_site}.~")
        thread = ctx.log.thread_for(request.request_id)
        ctx.log.write(f"~Created sending thread (Thread ID = {thread})")
        found = self._addresses(dest)
        index = self._usable(found, request, now)[0]
        try:
            identity = _identity(package) if package is not None else None
            size = identity[2] if identity is not None else 0
            instruction = sni.read(instruction_path)
        except (UserError, OSError, FormatError) as e:
            ctx.log.write(f"~Cannot send request {request.request_id}: one of its files cannot "
                          f"be read ({error_text(e)})")
            self._publish_status(item, request, now, SenderStatus.INVALID, ActionCode.DELETE)
            return
        if package is not None and (replaced := _replaced(package, size, instruction)):
            ctx.log.write(f"~Cannot send request {request.request_id}: its package file "
                          f"{self._name(package, request.package_file)} {replaced}; a newer "
                          "version replaced it, and its own send request carries it.")
            self._publish_status(item, request, now, SenderStatus.INVALID, ActionCode.DELETE)
            return
        transfer = Transfer(
            item=item, request=request, address_no=index, address=found[index], receive=None,
            share="", package=package, package_identity=identity, package_size=size,
            instruction=instruction_path,
            first_started=request.first_started_at or now, started=now, due=now,
            connects=request.connects + 1, package_id=instruction.package_id,
            instruction_bytes=sni.encode(attrs.evolve(
                instruction, request_id=request.request_id, sending_site=ctx.site.code)))
        if request.connects:  # sent before and failed: taking it up again is a retry
            ctx.retrying()
        self._use_address(transfer, index, now)
        self.transfers[request.request_id] = transfer
        ctx.emit("send_started", request=request.request_id, to=dest, job=request.job_id,
                 bytes=size, package=instruction.package_id or None)

    def _check_paths(self, request: SendRequest) -> tuple[Path | None, Path]:
        """Refuse a request whose files are not this site's to send, or whose ADDRESS is not a
        site's SMS_SITE share (PathRefused). A share no server of the lab has is let through:
        the connection to it fails, as to a server that is gone.

        Returns the package file (None if the request has none) and the instruction file as
        this look found them, for the send to open: resolved once per send."""
        layout = self.ctx.layout
        files = []
        for path, allowed, what in (
                (request.package_file, layout.transfer_folders, "PACKAGE FILE"),
                (request.instruction_file, (layout.inbox(SCHEDULE_TOSEND),), "INSTRUCTION FILE")):
            found = self._resolve_refusing(path) if path else None
            if path and (found is None or found.parent not in allowed):
                raise PathRefused(f"its {what} {path} is not one of this site's files to send")
            files.append(found)
        package, instruction = files
        assert instruction is not None  # a request always names one (srq: NONEMPTY_TEXT)
        for record in request.addresses:
            if not SMS_SITE_SHARE.fullmatch(record.address):
                raise PathRefused(f"its ADDRESS {record.address} is not a site's SMS_SITE "
                                  "share (\\\\<server>\\SMS_SITE)")
            share = self._resolve_refusing(record.address, at=None)
            if share is not None and share not in self.receives:
                raise PathRefused(f"its ADDRESS {record.address} is not a site's SMS_SITE "
                                  "share")
        return package, instruction

    def _resolve_refusing(self, windows_path: str, at: str | None = "") -> Path | None:
        """The lab path; None for a path that names nothing of this lab (UserError), but
        PathRefused for one that would leave its share."""
        try:
            return self.ctx.lab.resolve(windows_path,
                                        at=self.ctx.site.code if at == "" else at)
        except PathRefused:
            raise
        except UserError:
            return None

    def _use_address(self, transfer: Transfer, index: int, when: float) -> None:
        """Connect (again) through the address `index`, starting at `when`."""
        found = self._addresses(transfer.destination)
        records = transfer.request.addresses
        transfer.address_no = index
        transfer.connect(found[index], self.ctx.rng.uniform)
        transfer.share = records[min(index, len(records) - 1)].address
        try:
            transfer.receive = self.ctx.lab.resolve(transfer.share)
        except UserError:
            transfer.receive = None
        transfer.phase, transfer.offset, transfer.started = CONNECT, 0, when
        transfer.due = when + transfer.latency
        self.ctx.log.write(f"~Trying the No. {index + 1} address (out of {len(records)})")
        self._wake(transfer.due)

    def _advance(self, transfer: Transfer, now: float) -> None:
        try:
            if transfer.phase == CONNECT:
                if transfer.connects > 1:  # a connection tried again is no progress yet
                    self.ctx.retrying()
                self._connect(transfer, now)
            elif transfer.phase == PACKAGE:
                self._write_chunk(transfer, now)
            else:
                self._finish(transfer, now)
        except RemoteError as e:
            self._attempt_failed(transfer, e.lines, now)
        except OSError as e:  # the package file here changed or vanished
            self.ctx.log.write(f"~Cannot read {self._package_name(transfer)}: "
                               f"{sms_error(e)}")
            self._end(transfer, now, SenderStatus.INVALID, ActionCode.DELETE)

    def _connect(self, transfer: Transfer, now: float) -> None:
        ctx = self.ctx
        if transfer.receive is None or not transfer.receive.is_dir():
            raise RemoteError([f"Error during WNetAddConnection2 to {transfer.share} "
                               f"({BAD_NET_NAME}).", NO_CONNECTION])
        ctx.log.write("~Passed the xmit file test, use the existing connection")
        if transfer.package is not None:
            ctx.log.write(f"~Package file = {self._package_name(transfer)}")
        shown = self._name(transfer.instruction, transfer.request.instruction_file)
        ctx.log.write(f"~Instruction file = {shown}")
        r = transfer.request_id
        for name in (sni.payload_file_name(r), sni.sni_file_name(r), sni.tmp_file_name(r)):
            ctx.log.write(f"~Checking for remote file {transfer.remote(name)}")
        if transfer.package is None:
            transfer.phase, transfer.due = FINISH, now
            return
        remote = transfer.remote(sni.payload_file_name(r))
        ctx.log.write(f"~Attempt to create/open the remote file {remote}")
        try:
            self.ctx.create_empty(transfer.temp_path)
        except OSError as e:
            raise RemoteError([f"Cannot create/open the remote file {remote}, Win32 error = "
                               f"{win32_error(e)}."]) from None
        ctx.log.write(f"~Created/opened the remote file {remote}")
        ctx.log.write(f"~Sending Started [{self._package_name(transfer)}]")
        transfer.source_identity = transfer.copy_identity = None  # a new, empty copy
        transfer.vouching = True
        transfer.phase = PACKAGE if transfer.package_size else FINISH
        transfer.due = transfer.data_due(0)
        transfer.heartbeat = now
        self._wake(transfer.due)

    def _write_chunk(self, transfer: Transfer, now: float) -> None:
        """One chunk, copied file to file (in the kernel where it can: files.copying.copy_range)."""
        assert transfer.package is not None and transfer.package_identity is not None
        count = min(transfer.chunk, transfer.package_size - transfer.offset)
        remote = transfer.remote(sni.payload_file_name(transfer.request_id))
        # Opened again for each chunk (a transfer spans units), so only if it is still the very
        # file the send began with: a link, a FIFO or another file swapped in is `Cannot read`.
        with open_regular(transfer.package, buffering=0) as source:
            found = os.fstat(source.fileno())
            if (found.st_dev, found.st_ino) != transfer.package_identity[:2]:
                raise OSError("it is not the file the send began with any more")
            if found.st_size < transfer.offset + count:
                raise OSError(f"it is shorter than the {transfer.package_size} bytes it had")
            self.ctx.log.write(f"~Attempt to write {count} bytes to {remote} at position "
                               f"{transfer.offset}")
            try:
                written = self.ctx.write_range(transfer.temp_path, source, transfer.offset, count,
                                               last=transfer.offset + count == transfer.package_size)
            except OSError as e:
                refused = ([f"The remote file {remote} is refused: {e.strerror}, which the "
                            "Sender never writes through"] if isinstance(e, NotRegularFile) else [])
                raise RemoteError([f"Cannot create/open the remote file {remote}, Win32 error = "
                                   f"{win32_error(e)}.", *refused]) from None
            _follow_copy(transfer, found, os.fstat(source.fileno()), written)
        copied = written.copied
        if copied != count:  # it shrank while it was copied
            raise OSError(f"it is shorter than the {transfer.package_size} bytes it had")
        if transfer.rate is None:  # a rate limit spaces the chunks in lab time already
            self.ctx.work.sent(count)
        self.ctx.log.write(f"~Wrote {count} bytes to {remote} at position {transfer.offset}")
        transfer.offset += count
        transfer.heartbeat = now
        if transfer.offset >= transfer.package_size:
            transfer.phase = FINISH
        transfer.due = transfer.data_due(transfer.offset)
        self._wake(transfer.due)

    def _finish(self, transfer: Transfer, now: float) -> None:
        ctx = self.ctx
        r = transfer.request_id
        if transfer.package is not None:
            try:  # its instruction, published next, is what wakes the Despooler
                ctx.publish_file(transfer.temp_path, transfer.payload_path, wake=False)
            except OSError as e:
                raise RemoteError([f"Cannot create/open the remote file "
                                   f"{transfer.remote(sni.payload_file_name(r))}, Win32 error = "
                                   f"{win32_error(e)}."]) from None
            ctx.log.write(f"~Sending completed [{self._package_name(transfer)}]")
            instruction = sni.decode(transfer.instruction_bytes)
            _vouch_for_copy(transfer, instruction)
            if instruction.payload in (Payload.PCK, Payload.DLT) and instruction.package_id:
                ctx.log.write(f"~Finished sending SWD package {instruction.package_id} version "
                              f"{instruction.package_version} to site {transfer.destination}")
        shown = self._name(transfer.instruction, transfer.request.instruction_file)
        ctx.log.write(f"~Sending Started [{shown}]")
        try:
            ctx.publish(transfer.receive / sni.sni_file_name(r), transfer.instruction_bytes,
                        tmp_name=sni.tmp_file_name(r))
        except OSError as e:
            raise RemoteError([f"Cannot create/open the remote file "
                               f"{transfer.remote(sni.tmp_file_name(r))}, Win32 error = "
                               f"{win32_error(e)}."]) from None
        ctx.log.write(f"~Sending completed [{shown}]")
        ctx.log.write(f"~Renaming remote file {transfer.remote(sni.tmp_file_name(r))} to "
                      f"{transfer.remote(sni.sni_file_name(r))}")
        ctx.log.write(f"~Rename completed [{transfer.remote(sni.tmp_file_name(r))}]")
        ctx.log.write("~Sending completed successfully")
        self._end(transfer, now, SenderStatus.OK, ActionCode.NOTHING)

    def _attempt_failed(self, transfer: Transfer, lines: list[str], now: float) -> None:
        ctx = self.ctx
        ctx.retrying()
        for line in lines:
            ctx.log.write(line)
        ctx.log.write("Operation is retryable.")
        if transfer.receive is not None:
            with contextlib.suppress(OSError):
                ctx.remove(transfer.temp_path)
        usable = self._usable(self._addresses(transfer.destination), transfer.request, now)
        later = [i for i in usable if i > transfer.address_no]
        if later:
            transfer.connects += 1
            self._use_address(transfer, later[0], now)
            return
        retries = ctx.hierarchy.sender.retries
        if transfer.retries < retries and usable:
            transfer.retries += 1
            transfer.connects += 1
            when = now + ctx.timing.sender_retry_delay
            ctx.log.write(f"Will retry send request {transfer.request_id} at {self._local(when)} "
                          f"(retry {transfer.retries} of {retries}).")
            self._use_address(transfer, usable[0], when)
            return
        dest = transfer.destination
        self._set_busy(dest, now + ctx.timing.sender_busy_hold)
        server = transfer.share.split("\\SMS_SITE")[0] if transfer.share else f"\\\\{dest}"
        ctx.log.write(f"Cannot connect to server {server} at remote site {dest}, won't try send "
                      f"requests going to site {dest} for an hour or until there are no active "
                      "send requests.")
        ctx.log.write("Could not establish connection.")
        ctx.log.write("Attempt to connect failed.")
        ctx.log.write(NO_CONNECTION)
        ctx.log.write("No need to disconnect")
        restart = windows_time_text(self.busy[dest], ctx.site.time_zone_bias)
        ctx.log.write(f"Restart time = {restart}")
        self._end(transfer, now, SenderStatus.ERROR, ActionCode.RETRY, restart_at=self.busy[dest])

    def _end(self, transfer: Transfer, now: float, status: SenderStatus, action: ActionCode,
             restart_at: float | None = None) -> None:
        """Publish the `.srs` for a send, remove its `.srq`, forget it."""
        total = transfer.package_size + len(transfer.instruction_bytes)
        sent = total if status is SenderStatus.OK else transfer.offset
        self.transfers.pop(transfer.request_id, None)
        self._publish_status(
            transfer.item, transfer.request, now, status, action, restart_at=restart_at,
            first_started_at=transfer.first_started, started_at=transfer.started,
            heartbeat_at=transfer.heartbeat,
            total_bytes=total, bytes_left=total - sent, sync_point=sent, connects=transfer.connects,
            file_type=(FileType.PACKAGE if transfer.phase == PACKAGE else FileType.INSTRUCTION),
            package=transfer.package_id)

    def _publish_status(self, item: WorkItem, request: SendRequest, now: float,
                        status: SenderStatus, action: ActionCode, package: str = "",
                        **fields: object) -> None:
        done = attrs.evolve(request, status=status, action_code=action, ended_at=now,
                            sender_id=self.name, **fields)
        self.ctx.publish(self.outbox.path / srq.file_name(done, srq.SRS), srq.encode(done))
        item.done()
        self.ctx.emit("send_finished", request=request.request_id, to=request.dest_site,
                      job=request.job_id, status=status.value, action=int(action),
                      bytes=done.total_bytes - done.bytes_left, package=package or None)

    # --- helpers ------------------------------------------------------------------------------

    def _set_timers(self, now: float) -> None:
        self.wakes = {w for w in self.wakes if w > now}
        for hold in self.holds.values():
            self._wake(hold.until if hold.until is not None
                       else now + self.ctx.timing.rescan_interval)
        if any(until <= now for until in self.busy.values()):
            self.busy = {site: until for site, until in self.busy.items() if until > now}
            self._save_busy()

    # --- the busy list ------------------------------------------------------------------------

    def _set_busy(self, site: str, until: float) -> None:
        self.busy[site] = until
        self._save_busy()

    def _busy_file(self) -> Path:
        return self.ctx.layout.state_dir / BUSY_FILE

    def _load_busy(self) -> dict[str, float]:
        """The busy list the last run left, without the sites whose time is up; an unreadable
        file (edited by hand) is an empty list, with a line in the log."""
        path = self._busy_file()
        try:
            raw = json.loads(read_limited(path, STATE_FILE_BYTES).decode("utf-8"))["busy"]
            busy = {str(site).upper(): float(until) for site, until in raw.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            self.ctx.log.write(f"Cannot read the busy list {self.ctx.windows(path)} ("
                               f"{error_text(e)}"
                               "); starting with no busy sites.")
            return {}
        now = self.ctx.clock.now()
        return {site: until for site, until in sorted(busy.items()) if until > now}

    def _save_busy(self) -> None:
        """Replace the busy list's file atomically (a private temp file, then a rename)."""
        path = self._busy_file()
        self.ctx.make_dirs(path.parent)
        data = json.dumps({"busy": dict(sorted(self.busy.items()))}, indent=2) + "\n"
        self.ctx.replace(path, data.encode("utf-8"))

    def _wake(self, when: float) -> None:
        if when not in self.wakes:
            self.wakes.add(when)
            self.ctx.wake_at(when)

    def _package_name(self, transfer: Transfer) -> str:
        return self._name(transfer.package, transfer.request.package_file)

    def _name(self, path: Path | None, written: str) -> str:
        """A local file as this site's logs spell it; as the request wrote it if elsewhere."""
        try:
            return self.ctx.windows(path) if path is not None else written
        except ValueError:
            return written

    def _local(self, when: float) -> str:
        return log_timestamp(when, self.ctx.site.time_zone_bias)

    def _display(self, name: str) -> str:
        return self.outbox.display_name(name)


def _replaced(package: Path, size: int, instruction: sni.Instruction) -> str | None:
    """How the package file is no longer the one the instruction describes, or None: a stored
    PCK is replaced in place by each new version, and a send that waited (a closed address)
    would carry the new bytes under the old instruction, to be quarantined there."""
    if size != instruction.payload_size:
        return f"has {size} bytes now, not the {instruction.payload_size} of its instruction"
    if instruction.payload is Payload.PCK and instruction.package_version >= 1:
        try:
            version = read_manifest(package).version
        except (OSError, PckError):
            return None  # the Despooler's checks say what is wrong with it
        if version != instruction.package_version:
            return (f"holds version {version} now, not version {instruction.package_version} "
                    "of its instruction")
    return None


def _follow_copy(transfer: Transfer, before: os.stat_result, after: os.stat_result,
                 written: WrittenRange) -> None:
    """Keep `transfer.vouching` true only while the package file stays as it was at the first
    range (`before` and `after` this one) and the copy as the last range left it."""
    if not transfer.vouching:
        return
    source = known.identity(before)
    if transfer.source_identity is None:
        transfer.source_identity = source
    elif known.identity(written.before) != transfer.copy_identity:
        transfer.vouching = False
    if source != transfer.source_identity or known.identity(after) != source:
        transfer.vouching = False
    transfer.copy_identity = known.identity(written.after)


def _vouch_for_copy(transfer: Transfer, instruction: sni.Instruction) -> None:
    """Tell `compression.known` what this process knows of the compressed package or delta it
    just sent, for the copy too: its SHA-256, and for a PCK whose compressed body was checked
    or written here, that. The receiving Despooler, if this process runs it, then checks the
    copy's "signature" without reading it again. Nothing is said unless the copy is the package
    file's bytes, whole, with nothing else written to either since the first range
    (`_follow_copy`). Replication files are small: hashed again, they keep the memory for
    the packages."""
    source, copy = transfer.source_identity, transfer.copy_identity
    if (instruction.payload not in (Payload.PCK, Payload.DLT) or not transfer.vouching
            or source is None or copy is None or copy[2] != source[2]):
        return
    sha256 = known.known_sha256(source)
    if sha256 is None or sha256 != instruction.payload_sha256:
        return
    known.remember(copy, sha256)
    package, version = instruction.package_id, instruction.package_version
    if (instruction.payload is Payload.PCK and package
            and known.known_pck(source, package, version) is not None):
        known.remember_body(copy, sha256, package, version)


def _identity(package: Path) -> tuple[int, int, int]:
    """(device, inode, size) of the package file to send, which must be a regular file."""
    with open_regular(package) as f:
        st = os.fstat(f.fileno())
    return st.st_dev, st.st_ino, st.st_size


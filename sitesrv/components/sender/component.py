"""Standard Sender: sends what a send request names to the destination's SMS_SITE share (§4.6).

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
import json
import os
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
    win32_error,
)
from sitesrv.errors import FormatError, UserError
from sitesrv.formats import sni, srq
from sitesrv.formats.srq import ActionCode, FileType, SenderStatus, SendRequest
from sitesrv.formats.values import PRIORITY_NAMES, AddressType, Payload
from sitesrv.lab.hierarchy import Address
from sitesrv.lab.sitetime import log_timestamp, windows_time_text
from sitesrv.logs.smslog import thread_id_for
from sitesrv.runtime.component import Component, Waiting
from sitesrv.runtime.inbox import InboxSpec, WorkItem

OUTBOX = routing.OUTBOXES[AddressType.LAN]
NO_CONNECTION = "There is no existing connection, Win32 error = 0"
BAD_NET_NAME = 67  # Win32: the network name cannot be found
NEVER_OPENS_RECHECK = 7 * 86400.0  # a schedule that never opens for a priority: look weekly
BUSY_FILE = "sender-busy.json"  # in <SITE>\SMS\state: {"busy": {"P00": <lab time it ends>}}


@attrs.frozen
class Hold:
    """Why a request cannot start now, and when that may change (None: only a person changes it)."""

    reason: str
    until: float | None


def queue_order(name: str) -> tuple[int, int, str]:
    """Where a waiting request file stands in the queue: priority, then its counter (the order
    the Scheduler created the requests in; past counter 46655 the IDs no longer sort by name),
    then the name. A name that is no request ID comes last."""
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
        self.wakes: set[float] = set()

    def work(self) -> bool:
        now = self.ctx.clock.now()
        due = sorted((t.due, t.request_id) for t in self.transfers.values() if t.due <= now)
        if due:
            self._advance(self.transfers[due[0][1]], now)
            return True
        if self._start_next(now):
            return True
        self._set_timers(now)
        return False

    def waiting(self) -> list[Waiting]:
        out = []
        for t in self.transfers.values():
            what = (f"is being sent to site {t.destination} ({t.offset} of {t.package_size} "
                    "bytes)" if t.started <= self.ctx.clock.now()
                    else f"waits to retry sending to site {t.destination} at "
                         f"{self._local(t.started)}")
            out.append(Waiting(self._display(t.item.name), what))
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
            used = sum(1 for t in self.transfers.values() if t.destination == request.dest_site)
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
            cached = (stamp, srq.read(path))
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
        return self.pauses.apply(found)

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
        dest = request.dest_site
        ctx.log.write(f"Found send request.  ID: {request.request_id}, Dest Site: {dest}~")
        ctx.log.write(f"Checking for site-specific sending capacity.  Used {used} out of "
                      f"{ctx.hierarchy.sender.max_per_site}.~")
        thread = thread_id_for(ctx.site.code, f"{self.name}/{request.request_id}")
        ctx.log.write(f"~Created sending thread (Thread ID = {thread})")
        found = self._addresses(dest)
        index = self._usable(found, request, now)[0]
        try:
            package = self._resolve(request.package_file) if request.package_file else None
            size = package.stat().st_size if package is not None else 0
            instruction_path = self._resolve(request.instruction_file)
            instruction = sni.read(instruction_path)
        except (UserError, OSError, FormatError) as e:
            ctx.log.write(f"~Cannot send request {request.request_id}: one of its files cannot "
                          f"be read ({e})")
            self._publish_status(item, request, now, SenderStatus.INVALID, ActionCode.DELETE)
            return
        transfer = Transfer(
            item=item, request=request, address_no=index, address=found[index], receive=None,
            share="", package=package, package_size=size, instruction=instruction_path,
            first_started=request.first_started_at or now, started=now, due=now,
            connects=request.connects + 1, package_id=instruction.package_id,
            instruction_bytes=sni.encode(attrs.evolve(
                instruction, request_id=request.request_id, sending_site=ctx.site.code)))
        self._use_address(transfer, index, now)
        self.transfers[request.request_id] = transfer
        ctx.emit("send_started", request=request.request_id, to=dest, job=request.job_id,
                 bytes=size, package=instruction.package_id or None)

    def _use_address(self, t: Transfer, index: int, when: float) -> None:
        """Connect (again) through the address `index`, starting at `when`."""
        found = self._addresses(t.destination)
        records = t.request.addresses
        t.address_no, t.address = index, found[index]
        t.share = records[min(index, len(records) - 1)].address
        try:
            t.receive = self.ctx.lab.resolve(t.share)
        except UserError:
            t.receive = None
        t.phase, t.offset, t.started = CONNECT, 0, when
        t.due = when + t.address.latency
        self.ctx.log.write(f"~Trying the No. {index + 1} address (out of {len(records)})")
        self._wake(t.due)

    def _advance(self, t: Transfer, now: float) -> None:
        try:
            if t.phase == CONNECT:
                self._connect(t, now)
            elif t.phase == PACKAGE:
                self._write_chunk(t, now)
            else:
                self._finish(t, now)
        except RemoteError as e:
            self._attempt_failed(t, e.lines, now)
        except OSError as e:  # the package file here changed or vanished
            self.ctx.log.write(f"~Cannot read {self._name(t.package, t.request.package_file)}: "
                               f"{e}")
            self._end(t, now, SenderStatus.INVALID, ActionCode.DELETE)

    def _connect(self, t: Transfer, now: float) -> None:
        ctx = self.ctx
        if t.receive is None or not t.receive.is_dir():
            raise RemoteError([f"Error during WNetAddConnection2 to {t.share} ({BAD_NET_NAME}).",
                               NO_CONNECTION])
        ctx.log.write("~Passed the xmit file test, use the existing connection")
        if t.package is not None:
            ctx.log.write(f"~Package file = {self._name(t.package, t.request.package_file)}")
        ctx.log.write(f"~Instruction file = {self._name(t.instruction, t.request.instruction_file)}")
        r = t.request_id
        for name in (sni.payload_file_name(r), sni.sni_file_name(r), sni.tmp_file_name(r)):
            ctx.log.write(f"~Checking for remote file {t.remote(name)}")
        if t.package is None:
            t.phase, t.due = FINISH, now
            return
        remote = t.remote(sni.payload_file_name(r))
        ctx.log.write(f"~Attempt to create/open the remote file {remote}")
        try:
            self.ctx.create_empty(t.temp_path)
        except OSError as e:
            raise RemoteError([f"Cannot create/open the remote file {remote}, Win32 error = "
                               f"{win32_error(e)}."]) from None
        ctx.log.write(f"~Created/opened the remote file {remote}")
        ctx.log.write(f"~Sending Started [{self._name(t.package, t.request.package_file)}]")
        t.phase = PACKAGE if t.package_size else FINISH
        t.due = t.data_due(0)
        t.heartbeat = now
        self._wake(t.due)

    def _write_chunk(self, t: Transfer, now: float) -> None:
        """One chunk, copied file to file (in the kernel where it can: files.copying.copy_range)."""
        assert t.package is not None
        count = min(t.chunk, t.package_size - t.offset)
        remote = t.remote(sni.payload_file_name(t.request_id))
        with open(t.package, "rb", buffering=0) as source:  # cannot open: `Cannot read`
            if os.fstat(source.fileno()).st_size < t.offset + count:
                raise OSError(f"it is shorter than the {t.package_size} bytes it had")
            self.ctx.log.write(f"~Attempt to write {count} bytes to {remote} at position "
                               f"{t.offset}")
            try:
                copied = self.ctx.write_range(t.temp_path, source, t.offset, count,
                                              last=t.offset + count == t.package_size)
            except OSError as e:
                raise RemoteError([f"Cannot create/open the remote file {remote}, Win32 error = "
                                   f"{win32_error(e)}."]) from None
        if copied != count:  # it shrank while it was copied
            raise OSError(f"it is shorter than the {t.package_size} bytes it had")
        self.ctx.log.write(f"~Wrote {count} bytes to {remote} at position {t.offset}")
        t.offset += count
        t.heartbeat = now
        if t.offset >= t.package_size:
            t.phase = FINISH
        t.due = t.data_due(t.offset)
        self._wake(t.due)

    def _finish(self, t: Transfer, now: float) -> None:
        ctx = self.ctx
        r = t.request_id
        if t.package is not None:
            try:  # its instruction, published next, is what wakes the Despooler
                ctx.publish_file(t.temp_path, t.payload_path, wake=False)
            except OSError as e:
                raise RemoteError([f"Cannot create/open the remote file "
                                   f"{t.remote(sni.payload_file_name(r))}, Win32 error = "
                                   f"{win32_error(e)}."]) from None
            ctx.log.write(f"~Sending completed [{self._name(t.package, t.request.package_file)}]")
            instruction = sni.decode(t.instruction_bytes)
            if instruction.payload in (Payload.PCK, Payload.DLT) and instruction.package_id:
                ctx.log.write(f"~Finished sending SWD package {instruction.package_id} version "
                              f"{instruction.package_version} to site {t.destination}")
        shown = self._name(t.instruction, t.request.instruction_file)
        ctx.log.write(f"~Sending Started [{shown}]")
        try:
            ctx.publish(t.receive / sni.sni_file_name(r), t.instruction_bytes,
                        tmp_name=sni.tmp_file_name(r))
        except OSError as e:
            raise RemoteError([f"Cannot create/open the remote file "
                               f"{t.remote(sni.tmp_file_name(r))}, Win32 error = "
                               f"{win32_error(e)}."]) from None
        ctx.log.write(f"~Sending completed [{shown}]")
        ctx.log.write(f"~Renaming remote file {t.remote(sni.tmp_file_name(r))} to "
                      f"{t.remote(sni.sni_file_name(r))}")
        ctx.log.write(f"~Rename completed [{t.remote(sni.tmp_file_name(r))}]")
        ctx.log.write("~Sending completed successfully")
        self._end(t, now, SenderStatus.OK, ActionCode.NOTHING)

    def _attempt_failed(self, t: Transfer, lines: list[str], now: float) -> None:
        ctx = self.ctx
        for line in lines:
            ctx.log.write(line)
        ctx.log.write("Operation is retryable.")
        if t.receive is not None:
            with contextlib.suppress(OSError):
                ctx.remove(t.temp_path)
        usable = self._usable(self._addresses(t.destination), t.request, now)
        later = [i for i in usable if i > t.address_no]
        if later:
            t.connects += 1
            self._use_address(t, later[0], now)
            return
        retries = ctx.hierarchy.sender.retries
        if t.retries < retries and usable:
            t.retries += 1
            t.connects += 1
            when = now + ctx.timing.sender_retry_delay
            ctx.log.write(f"Will retry send request {t.request_id} at {self._local(when)} "
                          f"(retry {t.retries} of {retries}).")
            self._use_address(t, usable[0], when)
            return
        dest = t.destination
        self._set_busy(dest, now + ctx.timing.sender_busy_hold)
        server = t.share.split("\\SMS_SITE")[0] if t.share else f"\\\\{dest}"
        ctx.log.write(f"Cannot connect to server {server} at remote site {dest}, won't try send "
                      f"requests going to site {dest} for an hour or until there are no active "
                      "send requests.")
        ctx.log.write("Could not establish connection.")
        ctx.log.write("Attempt to connect failed.")
        ctx.log.write(NO_CONNECTION)
        ctx.log.write("No need to disconnect")
        ctx.log.write(f"Restart time = {windows_time_text(self.busy[dest], ctx.site.time_zone_bias)}")
        self._end(t, now, SenderStatus.ERROR, ActionCode.RETRY, restart_at=self.busy[dest])

    def _end(self, t: Transfer, now: float, status: SenderStatus, action: ActionCode,
             restart_at: float | None = None) -> None:
        """Publish the `.srs` for a send, remove its `.srq`, forget it."""
        total = t.package_size + len(t.instruction_bytes)
        sent = total if status is SenderStatus.OK else t.offset
        self.transfers.pop(t.request_id, None)
        self._publish_status(
            t.item, t.request, now, status, action, restart_at=restart_at,
            first_started_at=t.first_started, started_at=t.started, heartbeat_at=t.heartbeat,
            total_bytes=total, bytes_left=total - sent, sync_point=sent, connects=t.connects,
            file_type=(FileType.PACKAGE if t.phase == PACKAGE else FileType.INSTRUCTION),
            package=t.package_id)

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
            raw = json.loads(path.read_text(encoding="utf-8"))["busy"]
            busy = {str(site).upper(): float(until) for site, until in raw.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            self.ctx.log.write(f"Cannot read the busy list {self.ctx.windows(path)} ({e}); "
                               "starting with no busy sites.")
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

    def _resolve(self, windows_path: str) -> Path:
        return self.ctx.lab.resolve(windows_path, at=self.ctx.site.code)

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

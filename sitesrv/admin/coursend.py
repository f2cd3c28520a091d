"""Courier Sender Manager, sending side: pending send requests, outgoing parcels, their status.

Courier Sender "does not send parcels automatically" (SMS 2003 Courier Sender help): a package
that prefers it leaves its send requests in `schedule.box\\outboxes\\COURIER`, where they wait
until an administrator makes a parcel of them. Making it writes the parcel to `LAB\\media`
(formats/parcel.py), keeps a record in `coursend.box\\outgoing`, and ends each request it
carries with SREQ_STATUS_OK, so the Scheduler completes its job: the files are on the parcel.
The parcel's status is then the administrator's to set, Created, Sent, Confirmed, forward only;
Courier Sender never changes it when it writes (Resource Guide smc_21013).

Order, so that a command killed at any point loses nothing and sends nothing twice: the folders
it writes into made real (courierboxes.py), the parcel number taken, the parcel file, then its
record, then each request's `.srs`, then its `.srq`. A request already in a record is not
offered again; one whose `.srq` is still there is finished by the next `create`. A parcel
number is never given twice, to two commands at once or after its parcel and record are
deleted (parcelnumbers.py). All of it, from the look at the outbox to the last `.srq`, runs
under the site's Courier Sender Manager lock (courierboxes.one_manager): another `create` at
the same moment would put the same requests in a parcel of its own.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import attrs

from sitesrv.admin.console import one_line_name
from sitesrv.admin.courierboxes import (
    SetAside,
    one_manager,
    problem_of,
    real_folders,
    set_aside,
    shown,
)
from sitesrv.admin.lab import Lab
from sitesrv.admin.parcelnumbers import claims_folder, take
from sitesrv.components.routing import OUTBOXES
from sitesrv.errors import FormatError, UserError
from sitesrv.files.atomic import replace_file
from sitesrv.files.names import escaped_name, foreign_name
from sitesrv.formats import job as jobfile
from sitesrv.formats import parcel, sni, srq
from sitesrv.formats.parcel import PackingList, ParcelRecord, ParcelRequest, ParcelStatus
from sitesrv.formats.srq import ActionCode, SenderStatus, SendRequest
from sitesrv.formats.values import AddressType
from sitesrv.lab.boxes import CORRUPT_DIR, COURSEND_OUTGOING, SCHEDULE, SCHEDULE_TOSEND
from sitesrv.lab.clock import VirtualClock
from sitesrv.lab.hierarchy import Site
from sitesrv.logs.smslog import SmsLog
from sitesrv.logs.win32 import error_text

COMPONENT = "SMS_COURIER_SENDER"
LOG = "coursend.log"
# Q198746: Create Outgoing Parcel where no site is defined to use the Courier Sender.
NO_OUTBOX = ("The SMS registry indicates no outbox for the sender to scan. Be sure that you are "
             "running this application on an SMS Site Server and that at least one site is "
             "defined to use the Courier Sender.")


@attrs.frozen
class Pending:
    """A send request waiting in the courier outbox, or why it cannot go."""

    path: Path
    request: SendRequest | None
    problem: str = ""
    # Why a request that reads is not offered: a parcel record that cannot be read may carry it.
    held: str = ""


def log(lab: Lab, site: Site) -> SmsLog:
    """The site's coursend.log, stamped with the lab's time as the console's rows are, rolled
    over to coursend.lo_ at `logs.max_size` as the components' logs are."""
    return SmsLog(lab.site(site.code).log(LOG), COMPONENT, VirtualClock(lab.time()),
                  site=site.code, bias_minutes=site.time_zone_bias,
                  max_bytes=lab.hierarchy.log_max_bytes)


def outbox(lab: Lab, site: Site) -> Path:
    return lab.site(site.code).inbox(OUTBOXES[AddressType.COURIER])


def courier_site(lab: Lab, code: str) -> Site:
    """The site, which must have a Courier address to some site (else Q198746's message)."""
    site = lab.hierarchy.site(code)
    if not any(a.from_site == site.code and a.type == AddressType.COURIER
               for a in lab.hierarchy.addresses) or not outbox(lab, site).is_dir():
        raise UserError(NO_OUTBOX)
    return site


@attrs.frozen
class Outgoing:
    """A parcel's record in `coursend.box\\outgoing`, or why it cannot be read."""

    path: Path
    record: ParcelRecord | None
    problem: str = ""


def outgoing(lab: Lab, site: Site) -> list[Outgoing]:
    """The site's outgoing parcels' records, by ID, each that cannot be read with its problem
    (`courier list` shows it; nothing moves it: the record is the parcel's only status)."""
    folder = lab.site(site.code).inbox(COURSEND_OUTGOING)
    found = []
    for path in sorted(folder.glob(f"*{parcel.EXTENSION}")) if folder.is_dir() else []:
        try:
            found.append(Outgoing(path, parcel.read_record(path)))
        except (FormatError, OSError) as e:
            found.append(Outgoing(path, None, problem_of(e)))
    return found


def records(lab: Lab, site: Site) -> list[ParcelRecord]:
    """The site's outgoing parcels whose records can be read, by ID (`outgoing` names the
    others)."""
    return [item.record for item in outgoing(lab, site) if item.record is not None]


def pending(lab: Lab, site: Site) -> list[Pending]:
    """The courier outbox's send requests that no parcel carries yet, by name. While a parcel
    record cannot be read, each request that reads is `held`: that parcel may carry it (a
    `create` killed after the record was written leaves its requests waiting, and
    `_finish_leftovers` ends them only from a record it can read)."""
    parcels = outgoing(lab, site)
    parcelled = {r.request_id for item in parcels if item.record is not None
                 for r in item.record.packing_list.requests}
    unreadable = [item.path for item in parcels if item.record is None]
    held = (f"the parcel record(s) {', '.join(shown_file(p) for p in unreadable)} cannot be "
            "read, and may carry it" if unreadable else "")
    found = []
    for path in sorted(outbox(lab, site).glob(f"*{srq.SRQ}")):
        if problem := foreign_name(path.name):  # no Scheduler wrote it: never read
            found.append(Pending(path, None, problem))
            continue
        try:
            request = srq.read(path)
        except (FormatError, OSError) as e:
            found.append(Pending(path, None, problem_of(e)))
            continue
        if request.request_id not in parcelled:
            found.append(Pending(path, request, held=held))
    return found


def shown_file(path: Path) -> str:
    """A file as a command prints it: a name no Windows file system holds escaped."""
    return str(path.with_name(escaped_name(path.name)))


def create(lab: Lab, site_code: str, *, name: str = "", request_ids: tuple[str, ...] = ()
           ) -> tuple[ParcelRecord, Path]:
    """An outgoing parcel of the pending requests (all, or those named); returns its record
    and the parcel file. Requests whose files cannot be read stay, with a line in the log."""
    site = courier_site(lab, site_code)
    one_line_name(name, "--name")
    sms = log(lab, site)
    here = lab.site(site.code)
    real_folders(lab, site, sms, outbox(lab, site), here.inbox(COURSEND_OUTGOING),
                 claims_folder(lab, site), lab.layout.media)
    with one_manager(lab, site):
        return _make(lab, site, sms, name, request_ids)


def _make(lab: Lab, site: Site, sms: SmsLog, name: str, request_ids: tuple[str, ...]
          ) -> tuple[ParcelRecord, Path]:
    """The parcel, made while this command is the site's one Courier Sender Manager: no
    other command puts a request of this one's in a parcel of its own."""
    set_aside_unreadable(lab, site)
    _finish_leftovers(lab, site)
    chosen = _choose(lab, site, request_ids)
    now = lab.time()
    entries, files, problems = [], _Files(), []
    for item in chosen:
        assert item.request is not None
        try:
            entries.append(_entry(lab, site, item.request, files))
        except (OSError, UserError, FormatError) as e:
            problems.append(f"{item.request.request_id}: {_why(lab, site, e)}")
            sms.write(f"Cannot put send request {item.request.request_id} in a parcel: "
                      f"{_why(lab, site, e)}")
    if not entries:
        raise UserError(f"No parcel was made: none of the chosen send requests of site "
                        f"{site.code} could be read ({'; '.join(problems)}); they stay in "
                        f"the courier outbox, and {lab.site(site.code).log(LOG)} has the "
                        "same lines.")
    parcel_id = take(lab, site)
    packing = PackingList(parcel_id=parcel_id, name=name or f"Parcel {parcel_id}",
                          sending_site=site.code, created=now, files=files.listed(),
                          requests=tuple(entries))
    path = _write_parcel(lab, packing, files)
    record = ParcelRecord(status=ParcelStatus.CREATED, packing_list=packing)
    _save(lab, site, record)
    for entry in entries:
        _complete(lab, site, entry.request_id, now, files.size_of(entry))
    sms.write(f"Created parcel {parcel_id} ({packing.name}) for site(s) "
              f"{', '.join(packing.destinations)}: {len(entries)} send request(s), "
              f"{sum(f.size for f in packing.files)} bytes, in {path.name}")
    return record, path


def set_aside_unreadable(lab: Lab, site: Site) -> list[SetAside]:
    """Move the courier outbox's send requests that do not read to its `corrupt\\`, each with
    a line in coursend.log: they would wait there for ever, and their jobs with them. The
    Scheduler writes a job's missing request again when it next examines the job (Q123221)."""
    sms = log(lab, site)
    real_folders(lab, site, sms, outbox(lab, site))  # never listed nor read through a link
    moved = [set_aside(lab, site, sms, item.path, item.problem)
             for item in pending(lab, site) if item.request is None]
    return [m for m in moved if m is not None]


def set_status(lab: Lab, parcel_id: str, status: ParcelStatus, *, tracking_number: str = "",
               sent_by: str = "") -> ParcelRecord:
    """Move a parcel's status forward, with how it was sent (smc_21013)."""
    one_line_name(tracking_number, "--tracking-number")
    one_line_name(sent_by, "--sent-by")
    site, _ = find(lab, parcel_id)
    real_folders(lab, site, log(lab, site), lab.site(site.code).state_dir)
    with one_manager(lab, site):  # a `sent` and a `confirm` at once: the second sees the first
        return _set_status(lab, parcel_id, status, tracking_number, sent_by)


def _set_status(lab: Lab, parcel_id: str, status: ParcelStatus, tracking_number: str,
                sent_by: str) -> ParcelRecord:
    site, record = find(lab, parcel_id)
    if status.rank <= record.status.rank:
        raise UserError(f"Parcel {record.packing_list.parcel_id} is {record.status.value}; a "
                        "parcel's status only moves forward (Created, Sent, Confirmed), so it "
                        f"cannot become {status.value}.")
    now = lab.time()
    changes: dict[str, object] = {"status": status}
    if status is ParcelStatus.SENT:
        changes.update(sent_at=now, tracking_number=tracking_number, sent_by=sent_by)
    elif tracking_number or sent_by:
        raise UserError("--tracking-number and --sent-by are recorded when a parcel becomes "
                        "Sent; pass them with 'sent'.")
    else:
        changes["confirmed_at"] = now
    record = attrs.evolve(record, **changes)
    _save(lab, site, record)
    log(lab, site).write(f"Parcel {parcel_id.upper()} is now {status.value}"
                         + (f", tracking number {tracking_number}" if tracking_number else "")
                         + (f", sent by {sent_by}" if sent_by else ""))
    return record


def find(lab: Lab, parcel_id: str) -> tuple[Site, ParcelRecord]:
    """The sending site and record of a parcel, by its ID (its first 3 characters: the site)."""
    parcel_id = parcel_id.upper()
    try:
        parcel.PARCEL_ID.verify(parcel_id)
    except ValueError as e:
        raise UserError(f"{parcel_id!r} is {e}, such as ZZZ-0001; 'sitesrv courier list' "
                        "lists the parcels.") from None
    site = lab.hierarchy.site(parcel_id[:3])
    path = lab.site(site.code).inbox(COURSEND_OUTGOING) / parcel.file_name(parcel_id)
    try:
        return site, parcel.read_record(path)
    except FileNotFoundError:
        raise UserError(f"Site {site.code} made no parcel {parcel_id}; 'sitesrv courier list "
                        f"{site.code}' lists its parcels.") from None
    except (FormatError, OSError) as e:
        raise UserError(f"The record of parcel {parcel_id} cannot be read: {e}") from None


# --- making a parcel ------------------------------------------------------------------------

@attrs.define
class _Files:
    """The parcel's files by name: each package file once, whoever needs it (Q264740 fixed)."""

    paths: dict[str, Path] = attrs.Factory(dict)
    data: dict[str, bytes] = attrs.Factory(dict)
    sizes: dict[str, int] = attrs.Factory(dict)

    def add_path(self, path: Path) -> str:
        for name, known in self.paths.items():
            if known == path:
                return name
        name = path.name if path.name.upper() not in self._upper() else f"{len(self.sizes)}_{path.name}"
        self.paths[name], self.sizes[name] = path, path.stat().st_size
        return name

    def add_data(self, name: str, data: bytes) -> str:
        self.data[name], self.sizes[name] = data, len(data)
        return name

    def _upper(self) -> set[str]:
        return {n.upper() for n in self.sizes}

    def order(self) -> list[str]:
        """Instructions first, package files last: a parcel cut short loses package bytes,
        which the Despooler's signature check finds, before it loses an instruction."""
        return [*self.data, *self.paths]

    def listed(self) -> tuple[parcel.ParcelFile, ...]:
        return tuple(parcel.ParcelFile(name=n, size=self.sizes[n]) for n in self.order())

    def size_of(self, entry: ParcelRequest) -> int:
        return sum(self.sizes[n] for n in (entry.instruction, entry.package_file) if n)

    def open_all(self, stack: ExitStack) -> Iterator[BinaryIO]:
        for name in self.order():
            if name in self.data:
                yield io.BytesIO(self.data[name])
            else:
                yield stack.enter_context(open(self.paths[name], "rb"))  # noqa: SIM115 (closed by the stack)


def _choose(lab: Lab, site: Site, request_ids: tuple[str, ...]) -> list[Pending]:
    waiting = pending(lab, site)
    good = [p for p in waiting if p.request is not None]
    if held := [p for p in good if p.held]:
        ids = ", ".join(p.request.request_id for p in held if p.request is not None)
        raise UserError(f"No parcel was made: {held[0].held} ({ids} wait at site {site.code}). "
                        "A 'courier create' cut short leaves waiting the requests its parcel "
                        "already carries, and put in a parcel again they would be sent twice. "
                        "Restore the record from a backup (the requests its parcel carries "
                        "are then finished, not sent again), or delete it if its parcel was "
                        f"never made or carries none of them; then try again. 'sitesrv courier "
                        f"list {site.code}' shows why each record cannot be read.")
    if not good:
        corrupt = outbox(lab, site) / CORRUPT_DIR
        kept = sorted(p.name for p in corrupt.glob(f"*{srq.SRQ}*")) if corrupt.is_dir() else []
        raise UserError(f"No send request waits in {outbox(lab, site)}: a package whose "
                        "preferred sender is courier puts its send requests there when the "
                        "site servers run ('sitesrv run')."
                        + (f" Send requests that could not be read are in {corrupt} "
                           f"({', '.join(kept)}; {lab.site(site.code).log(LOG)} says why); "
                           "the Scheduler writes a job's missing send request again when the "
                           "site servers run." if kept else ""))
    if not request_ids:
        return good
    by_id = {p.request.request_id.upper(): p for p in good if p.request is not None}
    unknown = [r for r in request_ids if r.upper() not in by_id]
    if unknown:
        raise UserError(f"No send request {', '.join(unknown)} waits at site {site.code}; "
                        f"those that wait: {', '.join(sorted(by_id))}.")
    return [by_id[r.upper()] for r in dict.fromkeys(request_ids)]


def _entry(lab: Lab, site: Site, request: SendRequest, files: _Files) -> ParcelRequest:
    """The request's packing-list entry; its instruction as the destination receives it."""
    here = lab.site(site.code)
    instruction_path = lab.layout.resolve(request.instruction_file, at=site.code)
    if instruction_path.parent != here.inbox(SCHEDULE_TOSEND):
        raise UserError(f"its instruction file {request.instruction_file} is not in "
                        f"{here.windows(here.inbox(SCHEDULE_TOSEND))}")
    instruction = attrs.evolve(sni.read(instruction_path), request_id=request.request_id,
                               sending_site=site.code)
    package_file = ""
    if request.package_file:
        payload = lab.layout.resolve(request.package_file, at=site.code)
        if payload.parent not in here.transfer_folders:
            raise UserError(f"its package file {request.package_file} is not a file of this "
                            "site's SMSPKG, replmgr.box\\ready or schedule.box\\tosend")
        package_file = files.add_path(payload)
    name = files.add_data(sni.sni_file_name(request.request_id), sni.encode(instruction))
    return ParcelRequest(request_id=request.request_id, dest_site=request.dest_site,
                         job_id=request.job_id, package_id=instruction.package_id,
                         instruction=name, package_file=package_file,
                         deliver_to=f"\\\\{lab.hierarchy.site(request.dest_site).server}"
                                    "\\SMS_SITE")


def _write_parcel(lab: Lab, packing: PackingList, files: _Files) -> Path:
    media = lab.layout.media
    path = media / parcel.file_name(packing.parcel_id)

    def content(f: BinaryIO) -> None:
        with ExitStack() as stack:
            parcel.write(f, packing, files.open_all(stack))

    replace_file(path, content, lab.hierarchy.durability,
                 tmp=media / f".{path.name}.{os.getpid()}.tmp")
    return path


def _save(lab: Lab, site: Site, record: ParcelRecord) -> None:
    folder = lab.site(site.code).inbox(COURSEND_OUTGOING)
    real_folders(lab, site, log(lab, site), folder)
    name = parcel.file_name(record.packing_list.parcel_id)
    replace_file(folder / name, parcel.encode_record(record), lab.hierarchy.durability,
                 tmp=folder / f".{name}.{os.getpid()}.tmp")


def _why(lab: Lab, site: Site, e: OSError | UserError | FormatError) -> str:
    """Why a request's files cannot go in a parcel: the file and its problem, with the Win32
    error of an I/O error."""
    if isinstance(e, OSError) and e.filename:
        return f"cannot read {shown(lab, site, Path(os.fsdecode(e.filename)))} ({error_text(e)})"
    if isinstance(e, FormatError):
        return f"{shown(lab, site, Path(e.path))}: {e.problem}"
    return error_text(e)


def _complete(lab: Lab, site: Site, request_id: str, now: float, size: int) -> None:
    """End the request as a sender does: `.srs` with SREQ_STATUS_OK, then no `.srq`."""
    box = outbox(lab, site)
    path = box / f"{request_id}{srq.SRQ}"
    try:
        request = srq.read(path)
    except FileNotFoundError:
        return
    done = attrs.evolve(request, status=SenderStatus.OK, action_code=ActionCode.NOTHING,
                        first_started_at=now, started_at=now, ended_at=now, heartbeat_at=now,
                        total_bytes=size, bytes_left=0, sync_point=size, sender_id=COMPONENT)
    name = srq.file_name(done, srq.SRS)
    replace_file(box / name, srq.encode(done), lab.hierarchy.durability,
                 tmp=box / f".{name}.{os.getpid()}.tmp")
    path.unlink(missing_ok=True)


def _finish_leftovers(lab: Lab, site: Site) -> None:
    """Requests a parcel carries whose `.srq` is still there (a killed `create`): end them,
    unless their job is gone already (the Scheduler took the `.srs`)."""
    jobs = lab.site(site.code).inbox(SCHEDULE)
    for record in records(lab, site):
        for entry in record.packing_list.requests:
            if not (outbox(lab, site) / f"{entry.request_id}{srq.SRQ}").exists():
                continue
            if (jobs / jobfile.job_file_name(entry.job_id)).exists():
                _complete(lab, site, entry.request_id, lab.time(), 0)
            else:
                (outbox(lab, site) / f"{entry.request_id}{srq.SRQ}").unlink(missing_ok=True)

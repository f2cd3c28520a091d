"""Courier Sender Manager, receiving side: Receive Incoming Parcel at the destination site.

An administrator at the destination receives the parcel; its package then flows into normal
processing, and errors go to Coursend.log at the destination (Resource Guide smc_21013). Each
send request for this site is delivered as a sender delivers one, into `despoolr.box\\receive`:
`<reqid>.PCK` first (written as `<reqid>.PCK.TMP`), then the instruction as `<reqid>.TMP`
renamed to `<reqid>.SNI`, so the Despooler never sees half a delivery.

Nothing is verified (Q206835): a truncated or modified parcel is received "with a success
status", a short file is delivered short, and the Despooler's signature check then finds the
damage and quarantines the delivery, as it would a damaged network delivery. What is checked is
only what sitesrv needs to know where to write: the packing list must be readable, and every
request's address must be this site's own SMS_SITE share, or nothing of the parcel is written.
Nor is a parcel this site received already (its packing list is kept): its packages would be
processed twice: the check, the delivery and the record happen under the site's Courier Sender
Manager lock (courierboxes.one_manager), so of two receives of one parcel at the same moment
the second finds the first's record. The folders it writes into are made real folders
before anything is written (courierboxes.py), and the record is written under a temp name
first and renamed into place after the delivery: a parcel is recorded as received only when it
was delivered, and one that cannot be recorded is not delivered.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, NoReturn

from sitesrv.admin.courierboxes import one_manager, problem_of, real_folders
from sitesrv.admin.coursend import log
from sitesrv.admin.lab import Lab
from sitesrv.components.uidtokens import delivered_paths
from sitesrv.errors import FormatError, UserError
from sitesrv.files.atomic import rename_into_place, replace_file, write_temp
from sitesrv.files.names import escaped_name
from sitesrv.files.readonly import remove_file
from sitesrv.files.regular import open_regular
from sitesrv.formats import parcel, sni
from sitesrv.formats.parcel import PackingList, ParcelRequest
from sitesrv.lab.boxes import COURSEND_RECEIVED
from sitesrv.lab.hierarchy import Site
from sitesrv.logs.smslog import SmsLog
from sitesrv.logs.win32 import error_text


def receive(lab: Lab, site_code: str, parcel_file: Path) -> PackingList:
    """Deliver the parcel's send requests for `site_code`; returns its packing list.

    Raises UserError, after a line in the site's coursend.log, for a parcel that cannot be read
    or that holds nothing this site may receive.
    """
    site = lab.hierarchy.site(site_code)
    sms = log(lab, site)
    parcel_file = Path(parcel_file)
    durability = lab.hierarchy.durability
    try:
        with open(parcel_file, "rb") as f:
            packing, start = parcel.read_packing_list(f, parcel_file)
            mine = _for_site(lab, site, packing, parcel_file)
            record = _record(lab, site, packing.parcel_id)
            real_folders(lab, site, sms, lab.site(site.code).receive, record.parent,
                         lab.site(site.code).state_dir)
            with one_manager(lab, site):
                _not_received_yet(lab, site, packing)
                for request in mine:
                    _nothing_waits(lab, site, f, packing, start, request)
                tmp = record.with_name(f".{record.name}.{os.getpid()}.tmp")
                write_temp(tmp, parcel.encode(packing), durability, exclusive=False)
                try:
                    for request in mine:
                        _deliver(lab, site, f, packing.spans(start), request)
                    rename_into_place(tmp, record, durability)
                finally:
                    remove_file(tmp)
    except (FormatError, OSError, UserError) as e:
        _refuse(sms, parcel_file, e)
    for request in mine:
        sms.write(f"Received send request {request.request_id} (job {request.job_id}"
                  + (f", package {request.package_id}" if request.package_id else "")
                  + f") from site {packing.sending_site} in parcel {packing.parcel_id}")
    sms.write(f"Parcel {packing.parcel_id} ({packing.name}) from site {packing.sending_site} "
              f"was received with a success status.")
    return packing


def _refuse(sms: SmsLog, parcel_file: Path, e: FormatError | OSError | UserError) -> NoReturn:
    """coursend.log names the parcel by its file name on the media, with a Win32 error for an
    I/O error; the console's message gives the whole path and the system's words."""
    sms.write(f"Cannot receive the parcel {escaped_name(parcel_file.name)}: {error_text(e)}")
    raise UserError(f"The parcel {parcel_file} was not received: {problem_of(e)}")


def _for_site(lab: Lab, site: Site, packing: PackingList, path: Path) -> list[ParcelRequest]:
    """The requests for this site, each addressed to its SMS_SITE share (checked first)."""
    mine = [r for r in packing.requests if r.dest_site == site.code]
    if not mine:
        raise UserError(f"parcel {packing.parcel_id} holds nothing for site {site.code} (it is "
                        f"for {', '.join(packing.destinations)})")
    receive = lab.site(site.code).receive
    for request in mine:
        if lab.layout.resolve(request.deliver_to) != receive:
            raise UserError(f"send request {request.request_id} is addressed to "
                            f"{request.deliver_to}, which is not {site.code}'s "
                            f"\\\\{site.server}\\SMS_SITE")
    return mine


def _not_received_yet(lab: Lab, site: Site, packing: PackingList) -> None:
    """A parcel received once is not delivered again: its packages would be processed twice.
    The record `receive` writes after the delivery is the proof (a delivery cut short by a crash
    has none, and is redone whole)."""
    record = _record(lab, site, packing.parcel_id)
    if record.exists():
        raise UserError(f"parcel {packing.parcel_id} from site {packing.sending_site} was "
                        f"received at site {site.code} already "
                        f"({lab.site(site.code).windows(record)}), and its packages are not processed "
                        "twice. If its files were lost before they were processed, delete "
                        "that record and receive the parcel again")


def _nothing_waits(lab: Lab, site: Site, f: BinaryIO, packing: PackingList, start: int,
                   request: ParcelRequest) -> None:
    """A delivery never writes over another send of the request's ID that waits in `receive`
    (or that the Despooler is processing): the sending site's UID token may have been put back
    (`sitesrv init`) and given the ID again to a send over the network. What may be written over
    is this parcel's own delivery, cut short: a file of exactly the bytes it would write."""
    here, spans = lab.site(site.code), packing.spans(start)
    payload, instruction, claimed = delivered_paths(here, request.request_id)
    for path, name in ((payload, request.package_file), (instruction, request.instruction),
                       (claimed, "")):
        if not os.path.lexists(path) or (name and _holds(path, f, spans[name.upper()])):
            continue
        doing = ("is being processed by its Despooler" if path == claimed
                 else "waits to be processed")
        raise UserError(
            f"send request {request.request_id} of parcel {packing.parcel_id} "
            f"cannot be delivered to site {site.code}: another send of that ID "
            f"({here.windows(path)}) {doing}, and the delivery would write over it. Nothing of "
            f"the parcel was written. Let site {site.code}'s Despooler finish with it (sitesrv "
            "run), or move it away if it is not wanted, then receive the parcel again")


def _holds(path: Path, source: BinaryIO, span: tuple[int, int]) -> bool:
    """Whether `path` is a regular file of the span's bytes (as many as the parcel has)."""
    offset, size = span
    try:
        with open_regular(path) as held:
            source.seek(offset)
            done = 0
            while done < size:
                chunk = source.read(min(parcel.CHUNK, size - done))
                if not chunk:
                    break
                if held.read(len(chunk)) != chunk:
                    return False
                done += len(chunk)
            return held.read(1) == b""
    except OSError:
        return False


def _record(lab: Lab, site: Site, parcel_id: str) -> Path:
    return lab.site(site.code).inbox(COURSEND_RECEIVED) / parcel.file_name(parcel_id)


def _deliver(lab: Lab, site: Site, f: BinaryIO, spans: dict[str, tuple[int, int]],
             request: ParcelRequest) -> None:
    receive = lab.site(site.code).receive
    durability = lab.hierarchy.durability
    if request.package_file:
        payload = receive / sni.payload_file_name(request.request_id)
        replace_file(payload, _copier(f, spans[request.package_file.upper()]), durability,
                     tmp=payload.with_name(payload.name + sni.TMP))
    replace_file(receive / sni.sni_file_name(request.request_id),
                 _copier(f, spans[request.instruction.upper()]), durability,
                 tmp=receive / sni.tmp_file_name(request.request_id))


def _copier(source: BinaryIO, span: tuple[int, int]) -> Callable[[BinaryIO], None]:
    """Writes the span's bytes, or as many of them as the parcel still has (no check)."""
    offset, size = span

    def write(target: BinaryIO) -> None:
        source.seek(offset)
        parcel.copy_bytes(source, target, size)

    return write


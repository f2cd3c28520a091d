"""Why a send request waits: what its place and its records mean for its next step.

DumpSend left this reading to the administrator. sitesrv's Scheduler and Sender act on a send
request in a few documented ways (docs/transport.md), so the tool can say which applies: where
the file stands (the outbox of a sender, `requests\\` for routing, claimed in `.work\\`), its
suffix (`.srq` not yet processed by a sender, `.srs` processed but not completed, Q123221), its
STATUS and ACTION CODE records, and its retry time. The reading uses the file and its path only,
never the lab's settings, so it names the log that tells the rest.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from dumpsend.records import when
from dumpsend.requestfile import RequestFile
from sitesrv.formats import srq
from sitesrv.formats.values import AddressType

CLAIMED = ".work"  # where a component keeps the files it has claimed (docs/architecture.md)
SUFFIX_MEANINGS = {srq.SRQ: ".SRQ: not yet processed by a sender",
                   srq.SRS: ".SRS: processed by a sender but not completed"}


@attrs.frozen
class Place:
    """Where a request file stands, read from its path."""

    folder: str  # `outboxes\LAN`, `outboxes\COURIER`, `requests`; "" outside a schedule.box
    claimed: bool  # in the folder's `.work\`: a component has taken it
    logs: Path | None  # the site's `SMS\Logs`, if the file is in a site's inboxes

    def log(self, name: str) -> str:
        return str(self.logs / name) if self.logs else f"the site's {name}"


def place_of(path: Path) -> Place:
    """The folder of a site's `SMS/inboxes/schedule.box` a path is in, if it is in one."""
    folder = path.parent
    claimed = folder.name == CLAIMED
    if claimed:
        folder = folder.parent
    if folder.name.lower() == "requests" and folder.parent.name.lower() == "schedule.box":
        name, box = "requests", folder.parent
    elif (folder.parent.name.lower() == "outboxes"
          and folder.parent.parent.name.lower() == "schedule.box"):
        name, box = f"outboxes\\{folder.name}", folder.parent.parent
    else:
        return Place("", False, None)
    inboxes = box.parent
    logs = inboxes.parent / "Logs" if inboxes.name.lower() == "inboxes" else None
    return Place(name, claimed, logs)


def why_it_waits(file: RequestFile, place: Place) -> dict[str, str]:
    """Labelled lines: where it is, its codes, its state, what happens next, retries, progress
    and what it sends."""
    r = file.request
    where = (f"schedule.box\\{place.folder}" if place.folder
             else "not in a site's schedule.box (a copy?): the state is read from the records")
    if place.claimed:
        where += ", claimed (in .work: a component has taken it)"
    state, next_step = _state(file, place)
    sent = r.total_bytes - r.bytes_left
    return {
        "Where": f"{where}; {SUFFIX_MEANINGS[file.suffix]}",
        "Status": f"{r.status.value}, ACTION CODE {int(r.action_code)} "
                  f"({srq.ACTION_MEANINGS[r.action_code]})",
        "State": state,
        "Next": next_step,
        "Retry": (f"Scheduler to restart at {when(r.restart_at)}; {r.connects} connection "
                  f"attempt(s) so far" if r.restart_at is not None or r.connects
                  else "none: no attempt has been made"),
        "Progress": (f"{sent} of {r.total_bytes} bytes sent ({sent * 100 // r.total_bytes}%), "
                     f"sync point {r.sync_point}" if r.total_bytes
                     else "nothing sent (the Sender fills in the sizes when an attempt ends)"),
        "Sends": (f"package {r.package_file or '(none)'} and instruction {r.instruction_file} to "
                  f"{r.dest_site} through "
                  + ", ".join(f"{a.address} ({a.type.value})" for a in r.addresses)),
    }


def _state(file: RequestFile, place: Place) -> tuple[str, str]:
    """What the request's state is and what happens to it next."""
    r = file.request
    code = f"{r.status.value}, ACTION CODE {int(r.action_code)}"
    search = f"search for 'Send request {r.request_id}'"
    if file.suffix == srq.SRS:
        if r.status is srq.SenderStatus.OK and r.action_code is srq.ActionCode.NOTHING:
            return ("Sent: the Sender finished it.",
                    "It waits for nothing: the Scheduler completes its job and deletes this file.")
        if r.action_code is srq.ActionCode.DELETE:
            return (f"Given up by the Sender ({code}).",
                    f"The Scheduler deletes it and fails its job (kept in schedule.box\\failed); "
                    f"{place.log('sender.log')} says why: {search}.")
        return (f"The last attempt failed ({code}).",
                "The Scheduler makes it pending again as a .srq, to be tried after the Sender's "
                "retry delay (Scheduler to restart at).")
    if place.folder == "requests":
        sender = (AddressType.COURIER if r.preferred_address == AddressType.COURIER
                  else AddressType.LAN)
        return (f"Waiting for the Scheduler to route it to site {r.dest_site}.",
                f"The Scheduler moves it to outboxes\\{sender} once this site has an address to "
                f"{r.dest_site}; until then {place.log('sched.log')} says 'No addresses "
                f"available for site {r.dest_site}.'")
    if place.folder == f"outboxes\\{AddressType.COURIER}":
        return ("Waiting for the Courier Sender.",
                "sitesrv has no Courier Sender (docs/coverage.md): nothing takes it while it is "
                "here.")
    if place.claimed:
        return ("Taken by the Sender: being sent, or waiting between the retries of an attempt.",
                f"The Sender fills in its STATUS record as {r.request_id}.srs when the attempt "
                f"ends; {place.log('sender.log')} shows the progress: {search}.")
    if r.restart_at is not None:
        return (f"Pending again after a failed attempt ({r.connects} connection attempt(s)).",
                f"The Sender takes it again no earlier than {when(r.restart_at)} (Scheduler to "
                "restart at); then it waits as a new request would.")
    closed = ("paused" if r.ignore_schedule  # then schedules do not hold it
              else f"paused or closed to priority {r.priority} by its schedule")
    return ("Waiting for the Sender, which has not taken it yet.",
            f"The Sender holds a request while every address to {r.dest_site} is {closed}, or "
            f"while {r.dest_site} is on its busy list after failed connections, and logs why in "
            f"{place.log('sender.log')} (search for 'Send request {r.request_id} waits'); with "
            "no such line, all its sending slots are in use.")

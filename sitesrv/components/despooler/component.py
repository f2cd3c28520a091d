"""Despooler (SMS_DESPOOLER, despool.log): what other sites' senders deliver to this site.

The Sender writes the payload `<reqid>.PCK`, then the instruction `<reqid>.TMP`, and renames it
to `<reqid>.SNI` when both are complete; only `.SNI` files are ready. For each, the Despooler
logs the CM12 sequence (docs/sources.md#package-actions), checks the payload against the size and
SHA-256 the instruction carries (its "signature"), and then:
- hands an instruction for another site to this site's Scheduler (route.py);
- moves a replication batch to Replication Manager (route.py);
- stores or merges compressed files and tells Distribution Manager (content.py).
docs/despooler.md has the files, the log lines and the crash-recovery rules.
"""

from __future__ import annotations

from pathlib import Path

from sitesrv.components.despooler import content
from sitesrv.components.despooler.receive import (
    WORK_HANDED,
    WORK_MERGING,
    WORK_PAYLOAD,
    WORK_PREFIX,
    Received,
    work_name,
)
from sitesrv.components.despooler.route import LOCAL_DELIVERIES, deliver_here, hand_on
from sitesrv.errors import FormatError
from sitesrv.files.folders import is_folder, lexists
from sitesrv.files.names import foreign_name
from sitesrv.files.readonly import TEMP_SUFFIX
from sitesrv.formats import sni
from sitesrv.formats.values import Payload
from sitesrv.lab.boxes import DESPOOLER_RECEIVE
from sitesrv.lab.layout import PathRefused
from sitesrv.runtime.component import Component
from sitesrv.runtime.inbox import InboxSpec

THREADS = 3  # "Used 0 out of 3 despooling threads"; one instruction at a time here


class Despooler(Component):
    name = "SMS_DESPOOLER"
    log_name = "despool.log"
    inboxes = (InboxSpec(DESPOOLER_RECEIVE, ("*.SNI",)),)

    def start(self) -> None:
        # Retries so far of the instructions that wait; the delay grows with them (retry.py).
        self.retries: dict[str, int] = {}
        self.ctx.make_dirs(self.ctx.layout.smspkg)  # where content is stored: never via a link
        self._quarantine_orphans()
        self._remove_finished_notes()
        self._remove_merge_temps()
        self._remove_stray_payloads()

    def work(self) -> bool:
        item = self.ctx.claim_next()
        if item is None:
            return False
        ctx = self.ctx
        log = ctx.log.write
        received = Received.claimed(ctx, item, self.retries)
        log(f"~Found ready instruction {item.name.lower()}")
        log(f"~Used 0 out of {THREADS} despooling threads")
        log(f"~Created a new despooling thread {ctx.rng.randrange(0x100, 0x2000):X}")
        try:
            received.instruction = sni.read(item.path)  # a file over the limits is not read
        except FormatError as e:
            received.quarantine(e.problem)
            return True
        ins = received.ins
        log(f"~Verifying signature for instruction {ctx.windows(received.work_instruction)} of "
            f"type {ins.instruction_type}")
        try:
            payload = received.take_payload() if ins.payload is not Payload.NONE else None
        except PathRefused as e:
            received.quarantine(str(e))
            return True
        if payload is None and ins.payload is not Payload.NONE:
            log(f"~The payload {received.payload_name} is not in receive any more, look for it "
                "where an earlier attempt put it.")
        elif problem := (received.signature_problem(payload) if payload is not None else None):
            log(f"~Signature check failed for instruction coming from site {ins.sending_site}: "
                f"{problem}")
            received.quarantine(f"signature check failed: {problem}")
            return True
        else:
            log(f"~Signature checked out OK for instruction coming from site {ins.sending_site}, "
                "proceed with the instruction execution.")
        log(f"~Executing instruction of type {ins.instruction_type}")
        self._execute(received, payload)
        return True

    def _execute(self, received: Received, payload: Path | None) -> None:
        ins = received.ins
        if ins.final_destination_site != self.ctx.site.code:
            hand_on(received, payload)
        elif ins.payload in (Payload.PCK, Payload.DLT):
            if problem := content.content_problem(received):
                received.quarantine(problem)
            else:
                content.execute(received, payload)
        elif ins.payload in LOCAL_DELIVERIES:
            deliver_here(received, payload)
        else:
            self.ctx.log.write("~Despooler successfully executed one instruction.")
            received.finish()

    def _remove_merge_temps(self) -> None:
        """A merge killed half way leaves `SMSPKG\\<PkgID>.PCK.sitesrv-tmp`, as large as the
        PCK; only this component merges, one unit at a time, so at its start none is in use."""
        for temp in sorted(self.ctx.layout.smspkg.glob(f"*{TEMP_SUFFIX}")):
            self.ctx.remove(temp)
            self.ctx.log.write(f"Deleted the stale temporary file {self.ctx.windows(temp)}")

    def _remove_stray_payloads(self) -> None:
        """`<reqid>.PCK` files no instruction came with: their Sender died between the payload
        and its `.SNI`, and sends both again from the start when it runs again. A payload whose
        instruction is in `corrupt\\` (refused unread: a link, a FIFO) joins it there instead."""
        inbox = self.ctx.inbox(DESPOOLER_RECEIVE)
        ready = {name.rsplit(".", 1)[0].upper() for name in inbox.listing()}
        for path in sorted(p for p in inbox.path.iterdir()  # `.PCK` in any case, as Windows
                           if p.name.upper().endswith(sni.PCK) and not p.name.startswith(".")
                           and not is_folder(p)):
            if problem := foreign_name(path.name):  # no Sender wrote it, no instruction names it
                inbox.quarantine_path(path, path.name, problem)
                continue
            if path.stem.upper() in ready:
                continue
            # By the name as it is (any name may be here: never validated as a request ID).
            kept = (inbox.corrupt_dir / f"{path.stem}{ext}" for ext in (sni.SNI, ".sni"))
            refused = next((k for k in kept if lexists(k)), None)
            if refused is not None:
                inbox.quarantine_path(path, path.name, f"its instruction "
                                      f"{self.ctx.windows(refused)} was refused")
            elif self.ctx.is_stale(path):
                self.ctx.remove(path)
                self.ctx.log.write(f"Deleted the payload {self.ctx.windows(path)}, which no "
                                   "instruction came with")

    def _quarantine_orphans(self) -> None:
        """Work payloads whose instruction is gone (the runtime quarantined it after errors)."""
        inbox = self.ctx.inbox(DESPOOLER_RECEIVE)
        for path in self._orphans(WORK_PAYLOAD, WORK_MERGING):
            inbox.quarantine_path(path, path.name,
                                  "no instruction in receive refers to this payload any more")

    def _remove_finished_notes(self) -> None:
        """Hand-over notes whose instruction is gone: it finished, and the Despooler stopped
        before it removed the note (receive.py)."""
        for path in self._orphans(WORK_HANDED):
            self.ctx.remove(path)
            self.ctx.log.write(f"Deleted the hand-over note {self.ctx.windows(path)}, whose "
                               "instruction is finished")

    def _orphans(self, *suffixes: str) -> list[Path]:
        """The work files with these suffixes in receive that no instruction there refers to."""
        inbox = self.ctx.inbox(DESPOOLER_RECEIVE)
        wanted = {work_name(self.ctx, name.rsplit(".", 1)[0]) for name in inbox.listing()}
        return sorted(path for suffix in suffixes
                      for path in inbox.path.glob(f"{WORK_PREFIX}*{suffix}")
                      if path.stem not in wanted)

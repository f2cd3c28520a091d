"""One instruction the Despooler works on: its work names, its payload, how it ends.

The Sender leaves the payload `<reqid>.PCK` and then `<reqid>.SNI` in `despoolr.box\\receive`
(docs/sources.md#package-actions). The runtime claims the `.SNI` into `receive\\.work`; the payload
is renamed in place to its work name `ds_xxxxx.pkg`, as the CM12 log shows. The five characters
derive from the request ID, not from a random draw: after a restart the returned `.SNI` must find
its payload again under the same work name (docs/despooler.md, "Crash recovery").

The payload always leaves `receive` before its instruction does, so no payload is left behind
without the instruction that explains it. Before it leaves, a note `ds_xxxxx.hnd` naming where it
goes is written beside it, and removed after the instruction: a redo that finds the payload
neither in receive nor at its destination can then tell "handed over, and its owner has taken it
since" from "lost" (docs/despooler.md, "Crash recovery").
"""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path

import attrs

from sitesrv.compression import check
from sitesrv.compression.known import file_sha256
from sitesrv.files.folders import lexists
from sitesrv.files.regular import kind_of, read_limited
from sitesrv.formats import sni
from sitesrv.formats.values import Payload
from sitesrv.lab.layout import PathRefused
from sitesrv.runtime.context import ComponentContext
from sitesrv.runtime.inbox import WorkItem

WORK_PREFIX = "ds_"
WORK_PAYLOAD = ".pkg"
# A delta being merged: the name says the merged PCK in SMSPKG, if whole, is this delta's work.
WORK_MERGING = ".mrg"
WORK_INSTRUCTION = ".ist"
# The payload was handed over (to SMSPKG or another inbox): its owner may have taken it since.
WORK_HANDED = ".hnd"
NOTE_BYTES = 1024  # a note holds one Windows path: more is not one of ours


def work_name(ctx: ComponentContext, request_id: str) -> str:
    """`ds_` and 5 lower-case characters that look random and are the same for every attempt.

    From the request ID as its `.SNI` spells it: Windows cannot hold two instructions whose
    names differ only in case, but this file system can, and each must keep its own work files
    (and its own names wherever it delivers)."""
    return WORK_PREFIX + ctx.ids.name_for(request_id)[:5].lower()


def arrived_names(request_id: str) -> list[str]:
    """The spellings of `<reqid>.PCK` to look for: Windows would see them all as one file."""
    names = [f"{request_id}{sni.PCK}", f"{request_id.upper()}{sni.PCK}",
             f"{request_id.lower()}{sni.PCK.lower()}"]
    return list(dict.fromkeys(names))


@attrs.define
class Received:
    """A claimed `.SNI` and its payload. End it exactly once: finish, retry or quarantine."""

    ctx: ComponentContext
    item: WorkItem
    request_id: str
    work: str
    retries: dict[str, int]  # the Despooler's: retries so far, by instruction file name
    instruction: sni.Instruction | None = None

    @classmethod
    def claimed(cls, ctx: ComponentContext, item: WorkItem,
                retries: dict[str, int]) -> Received:
        request_id = item.name.rsplit(".", 1)[0]
        return cls(ctx, item, request_id, work_name(ctx, request_id), retries)

    @property
    def ins(self) -> sni.Instruction:
        assert self.instruction is not None, "read the instruction first"
        return self.instruction

    @property
    def receive(self) -> Path:
        return self.item.inbox.path

    @functools.cached_property
    def work_payload(self) -> Path:
        """`ds_xxxxx.pkg`, joined once: a unit names it up to four times."""
        return self.receive / f"{self.work}{WORK_PAYLOAD}"

    @property
    def merging_payload(self) -> Path:
        """The payload while its delta is merged (content.py): `ds_xxxxx.mrg`."""
        return self.receive / f"{self.work}{WORK_MERGING}"

    @property
    def work_instruction(self) -> Path:
        """The name the log gives the claimed instruction (it sits in `receive\\.work`)."""
        return self.receive / f"{self.work}{WORK_INSTRUCTION}"

    @property
    def handed_note(self) -> Path:
        """`ds_xxxxx.hnd`: written before the payload is handed over, removed after the
        instruction; its text is where the payload went."""
        return self.receive / f"{self.work}{WORK_HANDED}"

    def handed_over(self, dest: Path) -> bool:
        """Whether an earlier attempt handed the payload over to `dest` (it may be gone from
        there): the note is a regular file, not a link, that names `dest`. Anything else in
        its place (a stale note, another tool's file) proves nothing."""
        try:
            text = read_limited(self.handed_note, NOTE_BYTES)
        except OSError:
            return False
        return text == self._note_text(dest)

    def _note_text(self, dest: Path) -> bytes:
        return f"{self.ctx.windows(dest)}\r\n".encode()

    @property
    def payload_name(self) -> str:
        return f"{self.request_id}{sni.PCK}"

    def take_payload(self) -> Path | None:
        """The payload under its work name, renamed from `<reqid>.PCK` if it just arrived.

        A fresh `<reqid>.PCK` replaces a work file left by an earlier delivery of the same
        request (the `.SNI` now in receive describes the newest one), and so does a work file
        left in either phase: `ds_xxxxx.pkg` before, and `ds_xxxxx.mrg` during a merge.
        """
        receive = str(self.receive)  # looked at by name: Path objects only for what is kept
        work, merging = f"{self.work}{WORK_PAYLOAD}", f"{self.work}{WORK_MERGING}"
        arrived = self._arrived_names()
        files = set()  # the names that are a regular file of one name: this look's lstat
        for name in (work, merging, *arrived):
            try:
                st = os.lstat(os.path.join(receive, name))
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(st.st_mode):
                raise PathRefused(f"its payload {name} is a symbolic link, and sitesrv "
                                  "never follows one in an inbox")
            if not stat.S_ISREG(st.st_mode):  # a FIFO, a folder: never opened
                raise PathRefused(f"its payload {name} is {kind_of(st.st_mode)}, not a "
                                  "file, and sitesrv never opens one in an inbox")
            if st.st_nlink > 1:  # stored read-only, it would change the file's other names
                raise PathRefused(f"its payload {name} is a file with {st.st_nlink} names "
                                  "(a hard link), and sitesrv never writes through one")
            files.add(name)
        fresh = next((name for name in arrived if name in files), None)
        if fresh is not None:
            self.ctx.rename(self.receive / fresh, self.work_payload)
            files.add(work)
        if work in files:
            if merging in files:
                self.ctx.remove(self.merging_payload)
            return self.work_payload
        return self.merging_payload if merging in files else None

    def work_payloads(self) -> tuple[Path, Path]:
        """The payload's work names, in the order of its phases."""
        return self.work_payload, self.merging_payload

    def _arrived(self) -> list[Path]:
        """Its `<reqid>.PCK` in any case (`_arrived_names`), as paths."""
        return [self.receive / name for name in self._arrived_names()]

    def _arrived_names(self) -> list[str]:
        """Its `<reqid>.PCK` in any case, but never the payload of another instruction in
        receive whose name differs from this one's only in case."""
        found = []
        receive = str(self.receive)
        for name in arrived_names(self.request_id):
            stem = name.rsplit(".", 1)[0]
            if stem == self.request_id or (lexists(os.path.join(receive, name))
                                           and not self._instruction_named(stem)):
                found.append(name)
        return found

    def _instruction_named(self, stem: str) -> bool:
        """Whether receive holds an instruction `<stem>.SNI`, its extension in any case, or its
        `<stem>.TMP` (the Sender writes the payload first). Listed only when a payload spelled
        like another's is there, which no Sender does."""
        for name in sorted(os.listdir(self.receive)):
            head, dot, extension = name.rpartition(".")
            if dot and head == stem and f".{extension.upper()}" in (sni.SNI, sni.TMP):
                return True
        return False

    def signature_problem(self, payload: Path) -> str | None:
        """Why the payload is not the one the instruction describes, or None ("signature").

        A PCK this site will store has its container's checksums checked in the same read
        (`compression.check`); the verdict waits, remembered, until the store asks for it, so
        the log and the outcome are as if the signature were checked first and the container
        when it is stored.
        """
        ins = self.ins
        size = payload.stat().st_size
        if size != ins.payload_size:
            return (f"the payload {self.payload_name} has {size} bytes, the instruction says "
                    f"{ins.payload_size}")
        if self.stores_pck():
            digest = check(payload, package_id=ins.package_id,
                           version=ins.package_version).sha256
        else:
            digest = file_sha256(payload)[1]
        if digest != ins.payload_sha256:
            return (f"the payload {self.payload_name} has SHA-256 {digest}, the instruction "
                    f"says {ins.payload_sha256}")
        return None

    def stores_pck(self) -> bool:
        """Whether this instruction's payload is a PCK to be stored at this site."""
        ins = self.ins
        return (ins.payload is Payload.PCK and ins.final_destination_site == self.ctx.site.code
                and bool(ins.package_id) and ins.package_version >= 1)

    # --- moving the payload on ----------------------------------------------------------------

    def hand_over(self, dest: Path, *, readonly: bool = False) -> None:
        """Move the payload to `dest` (SMSPKG or another inbox) by one rename; wake its owner.

        The payload is not claimed first: start-up recovery returns only claims that match the
        inbox's `*.SNI` pattern. `readonly`: as a stored PCK is kept. The note `ds_xxxxx.hnd`
        goes first: once the payload is at `dest`, its owner may take it before this instruction
        finishes.
        """
        self.ctx.replace(self.handed_note, self._note_text(dest))
        self.ctx.publish_file(self.work_payload, dest, readonly=readonly)

    # --- endings ------------------------------------------------------------------------------

    def finish(self) -> None:
        """The instruction is done: drop what is left of the payload (and a payload that came
        with an instruction that has none), then the instruction, then the hand-over note: a
        crash before the instruction is gone must leave the note to the redo."""
        for path in (*self.work_payloads(), *self._arrived()):
            self.ctx.remove(path)
        self.retries.pop(self.item.name, None)
        self.item.done()
        self.ctx.remove(self.handed_note)

    def retry(self, not_before: float, reason: str, signal: str | None = None) -> None:
        """Back into receive until `not_before` (or `signal`); the payload waits under its
        work name."""
        self.item.defer(not_before, reason, signal=signal)

    def quarantine(self, reason: str) -> None:
        """Payload and instruction into `receive\\corrupt`, each with a line naming the problem."""
        inbox = self.item.inbox
        for path in (*self.work_payloads(), *self._arrived()):
            if lexists(path):  # a file, or a link, a FIFO or a folder in its place
                inbox.quarantine_path(path, self.payload_name, reason)
        self.retries.pop(self.item.name, None)
        self.item.quarantine(reason)
        self.ctx.remove(self.handed_note)

    def missing_payload(self, elsewhere: str) -> None:
        """The payload is neither in receive nor where an earlier attempt would have put it."""
        self.quarantine(f"its payload {self.payload_name} is missing (not in "
                        f"{self.ctx.windows(self.receive)} and not {elsewhere})")

"""Test-double components: a toy two-site pipeline shaped like SMS's sender and despooler.

At the primary CEN, SMS_TOY_SENDER takes `<ITEM>.SRQ` from `schedule.box\\outboxes\\LAN` and
sends it to the destination's `despoolr.box\\receive` as `<ITEM>.TMP` renamed to `<ITEM>.SNI`.
At the secondary SEC, SMS_TOY_DESPOOLER turns each `.SNI` into `distmgr.box\\INCOMING\\<random
name>.PKG`, and SMS_TOY_INSTALLER turns each `.PKG` into `pkginfo.box\\<PKG name>.NAL`. The
random names derive from the input, so after any crash every item must end as exactly one
`.NAL`: a second `.NAL` for an item means a redo duplicated its output.

An instruction is `key=value` lines: `dest=SEC`, `item=<ITEM>`, and optionally `needs=<ITEM>`
(wait until that item is installed), `fail=always` or `fail=once`.
"""

from __future__ import annotations

import os
from pathlib import Path

from sitesrv.errors import FormatError
from sitesrv.runtime.component import Component, Waiting
from sitesrv.runtime.inbox import InboxSpec
from sitesrv.runtime.registry import Registry

OUTBOX = "schedule.box\\outboxes\\LAN"
RECEIVE = "despoolr.box\\receive"
INCOMING = "distmgr.box\\INCOMING"
INSTALLED = "pkginfo.box"


def parse(text: str, where: Path) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep or not key:
            raise FormatError(where, f"line {line!r} is not key=value")
        fields[key] = value
    if "item" not in fields:
        raise FormatError(where, "no item= line")
    return fields


def instruction(item: str, dest: str = "SEC", **extra: str) -> bytes:
    lines = [f"dest={dest}", f"item={item}", *(f"{k}={v}" for k, v in extra.items())]
    return ("\n".join(lines) + "\n").encode()


def installed_items(folder: Path) -> list[str]:
    """The item of every `.NAL` in an installed folder, sorted; duplicates stay visible."""
    return sorted(parse(p.read_text(), p)["item"] for p in folder.glob("*.NAL"))


class ToySender(Component):
    name = "SMS_TOY_SENDER"
    log_name = "toysend.log"
    inboxes = (InboxSpec(OUTBOX, ("*.SRQ",)),)

    def work(self) -> bool:
        item = self.ctx.claim_next()
        if item is None:
            return False
        fields = parse(item.read_text(), item.original)
        stem = item.name.rsplit(".", 1)[0]
        receive = self.ctx.lab.site(fields["dest"]).receive
        self.ctx.publish(receive / f"{stem}.SNI", item.read_bytes(), tmp_name=f"{stem}.TMP")
        self.ctx.log.write(f"Sent {stem} to site {fields['dest']}")
        item.done()
        return True


class ToyDespooler(Component):
    name = "SMS_TOY_DESPOOLER"
    log_name = "toydesp.log"
    inboxes = (InboxSpec(RECEIVE, ("*.sni",)),)  # lower case on purpose: matching ignores case

    def start(self) -> None:
        self.failed_once: set[str] = set()

    def work(self) -> bool:
        item = self.ctx.claim_next()
        if item is None:
            return False
        fields = parse(item.read_text(), item.original)
        fail = fields.get("fail")
        if fail == "always" or (fail == "once" and item.name not in self.failed_once):
            self.failed_once.add(item.name)
            raise RuntimeError(f"toy failure on {item.name}")
        needs = fields.get("needs")
        installed = self.ctx.layout.inbox(INSTALLED)
        if needs and needs not in installed_items(installed):
            self.ctx.log.write(f"Instruction {self.ctx.windows(item.original)} waits for {needs}")
            item.defer(self.ctx.clock.now() + self.ctx.timing.despooler_retry_delay,
                       f"waits for {needs}")
            return True
        name = self.ctx.ids.name_for(item.name, ".PKG")
        self.ctx.publish(self.ctx.layout.inbox(INCOMING) / name, item.read_bytes())
        self.ctx.log.write(f"Received {fields['item']} as {name}")
        item.done()
        return True


class ToyInstaller(Component):
    name = "SMS_TOY_INSTALLER"
    log_name = "toyinst.log"
    inboxes = (InboxSpec(INCOMING, ("*.PKG",), recheck_on_arrival=True),)

    def work(self) -> bool:
        item = self.ctx.claim_next()
        if item is None:
            return False
        fields = parse(item.read_text(), item.original)
        stem = item.name.rsplit(".", 1)[0]
        dest = self.ctx.layout.inbox(INSTALLED) / f"{stem}.NAL"
        self.ctx.publish(dest, f"item={fields['item']}\n".encode())
        item.done()
        return True


class ToyTicker(Component):
    """Asks for a timer and reports a wait it never resolves: for idle and horizon tests."""

    name = "SMS_TOY_TICKER"
    log_name = "toytick.log"

    def start(self) -> None:
        self.ticks = 0
        self.ctx.wake_at(self.ctx.clock.now() + self.ctx.timing.distmgr_sleep)

    def work(self) -> bool:
        self.ticks += 1
        self.ctx.log.write(f"Tick {self.ticks}")
        self.ctx.wake_at(self.ctx.clock.now() + self.ctx.timing.distmgr_sleep)
        return False

    def waiting(self) -> list[Waiting]:
        return [Waiting("ticker", "waits for nothing in particular")]


class ToyBroken(Component):
    """Fails every unit with no file claimed, as SQL Monitor does on a database without its
    tables: for the report of failed units."""

    name = "SMS_TOY_BROKEN"
    log_name = "toybroken.log"

    def work(self) -> bool:
        raise RuntimeError("no such table: PkgNotification")


class ToyDying(Component):
    """Ends its whole process at the first `.DIE` file in its inbox, as a crash would: for a
    supervisor that must notice a site server process that vanished."""

    name = "SMS_TOY_DYING"
    log_name = "toydie.log"
    inboxes = (InboxSpec(OUTBOX, ("*.DIE",)),)

    def work(self) -> bool:
        if self.ctx.claim_next() is not None:
            os._exit(DYING_STATUS)
        return False


class ToyLeaky(ToySender):
    """Sends like ToySender, then fails the unit: a failed unit that handed a file on."""

    name = "SMS_TOY_LEAKY"
    log_name = "toyleak.log"

    def work(self) -> bool:
        if super().work():
            raise RuntimeError("failed after sending")
        return False


DYING_STATUS = 7
BROKEN = Registry(primary=(ToyBroken,))
REGISTRY = Registry(primary=(ToySender,), secondary=(ToyDespooler, ToyInstaller))
# The primary's process dies at a `.DIE` in its outbox; the secondary runs as usual.
DYING = Registry(primary=(ToySender, ToyDying), secondary=(ToyDespooler, ToyInstaller))
LEAKY = Registry(primary=(ToyLeaky,), secondary=(ToyDespooler, ToyInstaller))
TICKER = Registry(primary=(ToyTicker,))
